package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Facts is what the PROXY header says about one client connection. Strings are sent as given
// (empty ones are left out); [AppendHeader] checks them against the format and never changes
// them. The zero value describes nothing: it encodes as "PROXY UNKNOWN\r\n" or a v2 LOCAL header.
type Facts struct {
	// Src is the client's address, Dst the local address it connected to. IPv4-mapped IPv6
	// addresses are sent as IPv4 and zones are dropped; see the package doc for mixed families.
	Src, Dst netip.AddrPort

	// TLS says the client connected over TLS. When false the PP2_TYPE_SSL TLV is left out and
	// every field below except SNI is ignored.
	TLS bool

	// Version is the protocol version as OpenSSL names it ([VersionName]: "TLSv1.3"). Required
	// when TLS is set, because §2.2.6 appends PP2_SUBTYPE_SSL_VERSION whenever PP2_CLIENT_SSL is.
	// US-ASCII.
	Version string
	// Cipher is the cipher suite as OpenSSL names it ([CipherName]), sent as
	// PP2_SUBTYPE_SSL_CIPHER. US-ASCII.
	Cipher string
	// SigAlg and KeyAlg describe tlsmux's own certificate, as HAProxy's PP2_SUBTYPE_SSL_SIG_ALG
	// ("ECDSA-SHA256") and PP2_SUBTYPE_SSL_KEY_ALG ("EC256") do for the frontend certificate.
	// US-ASCII.
	SigAlg, KeyAlg string
	// SNI is the server_name the client sent, sent as PP2_TYPE_AUTHORITY (§2.2.2), with or
	// without TLS. UTF-8.
	SNI string
	// ClientCN is the common name of the client certificate's subject, sent as
	// PP2_SUBTYPE_SSL_CN. UTF-8.
	ClientCN string

	// ClientCert says a client certificate belongs to this connection's TLS session: sent in
	// this handshake or, when Resumed, in the handshake that created the session. crypto/tls
	// restores the peer's certificates on resumption, so tlsconn's Attrs.Peer != nil is the
	// right value in both cases. It sets PP2_CLIENT_CERT_SESS, and PP2_CLIENT_CERT_CONN
	// unless Resumed.
	ClientCert bool
	// Resumed says the TLS session was resumed, so no certificate crossed this connection and
	// PP2_CLIENT_CERT_CONN ("provided a certificate over the current connection", §2.2.6) stays
	// clear while PP2_CLIENT_CERT_SESS ("at least once over the TLS session") follows ClientCert.
	Resumed bool

	// ClientCertDER is the DER encoding of the client's leaf certificate, sent as
	// PP2_SUBTYPE_SSL_CLIENT_CERT (0x28) after the other SSL sub-TLVs; nil sends none. It is a
	// sender's option (the spec: "the frontend may choose to omit this TLV depending on
	// configuration"), so the caller sets it only when configured to. Set without ClientCert it
	// is refused (ErrInvalid). A certificate that would take the header past the 16-bit
	// length is refused with ErrClientCertTooLong, so the caller can send the header without it.
	// Binary, sent as given; v1 ignores it.
	ClientCertDER []byte

	// VerifyResult is the pp2_tlv_ssl verify field: 0 if the client presented a certificate and
	// it was verified, non-zero otherwise (§2.2.6; OpenSSL's X509_V_ERR_* codes are the usual
	// values). A zero VerifyResult with ClientCert false is sent as 1 (X509_V_ERR_UNSPECIFIED):
	// the spec reserves 0 for a verified certificate, and receivers test the field alone
	// (go-proxyproto's PP2SSL.Verified does), so a forgotten field must not read as "verified".
	VerifyResult uint32
}

var (
	// ErrTooLong reports a Facts value, or the whole header, that does not fit the 16-bit
	// lengths of PROXY protocol v2 (§2.2).
	ErrTooLong = errors.New("forward: too long for a PROXY v2 header")
	// ErrInvalid reports a Facts value that its TLV cannot carry: text that is not US-ASCII or
	// UTF-8 as §2.2.2 and §2.2.6 require, or a missing Version when TLS is set.
	ErrInvalid = errors.New("forward: invalid value for a PROXY v2 header")
	// ErrClientCertTooLong reports a Facts.ClientCertDER that the header cannot carry: with it,
	// the PP2_TYPE_SSL TLV or the whole header would exceed 65535 bytes, while without it the
	// header fits. It wraps ErrTooLong. Send the header again with ClientCertDER nil.
	ErrClientCertTooLong = fmt.Errorf("%w: the client certificate does not fit", ErrTooLong)
)

// Wire constants, named as in the spec (§2.2).
const (
	v1MaxLen = 107 // §2.1: the longest line, CRLF included

	pp2Signature  = "\r\n\r\n\x00\r\nQUIT\n"
	pp2PrefixLen  = 16 // signature, ver_cmd, fam, len
	pp2MaxLen     = 0xFFFF
	pp2CmdLocal   = 0x20 // version 2, LOCAL
	pp2CmdProxy   = 0x21 // version 2, PROXY
	pp2FamUnspec  = 0x00 // AF_UNSPEC, UNSPEC
	pp2FamTCP4    = 0x11 // AF_INET, STREAM
	pp2FamTCP6    = 0x21 // AF_INET6, STREAM
	pp2AddrLenV4  = 2*4 + 2*2
	pp2AddrLenV6  = 2*16 + 2*2
	pp2TLVHdrLen  = 3 // type, length_hi, length_lo
	pp2SSLHdrLen  = 5 // pp2_tlv_ssl: client, verify
	pp2VerifyFail = 1 // X509_V_ERR_UNSPECIFIED

	pp2TypeAuthority     = 0x02
	pp2TypeSSL           = 0x20
	pp2SubtypeSSLVersion = 0x21
	pp2SubtypeSSLCN      = 0x22
	pp2SubtypeSSLCipher  = 0x23
	pp2SubtypeSSLSigAlg  = 0x24
	pp2SubtypeSSLKeyAlg  = 0x25
	// PP2_SUBTYPE_SSL_CLIENT_CERT, added to the spec in its 2026/01/15 revision (HAProxy commit
	// 6f5def3c: "the raw X.509 client certificate encoded in ASN.1 DER"); go-proxyproto and
	// ghostunnel use the same number. Not in the older include/haproxy/connection-t.h.
	pp2SubtypeSSLClientCert = 0x28

	pp2ClientSSL      = 0x01
	pp2ClientCertConn = 0x02
	pp2ClientCertSess = 0x04
)

// AppendHeader appends the PROXY protocol header for f in format p to dst and returns the
// extended slice. None appends nothing. On error dst is returned unchanged; the error wraps
// [ErrTooLong] or [ErrInvalid] (V2 only: V1 carries no strings and cannot fail), or names p
// when p is not one of None, V1, V2.
//
// It allocates only when dst lacks the capacity, and then once: a v1 header is at most 107
// bytes, a v2 header 16 + 12 or 36 bytes of addresses + the TLVs (3 bytes each plus the value;
// 5 more for the SSL TLV).
func AppendHeader(dst []byte, p ProxyProtocol, f Facts) ([]byte, error) {
	switch p {
	case None:
		return dst, nil
	case V1:
		return appendV1(dst, f), nil
	case V2:
		return appendV2(dst, f)
	}
	return dst, fmt.Errorf("forward: cannot encode %v", p)
}

// family returns the addresses to send and 4 or 6 when both are of that family, 0 when the
// header cannot describe the connection (a side missing, or mixed families after unmapping).
func family(f Facts) (src, dst netip.Addr, fam int) {
	// An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; the core wants the
	// address the phone has, in the form its ACLs and registrations use.
	src = f.Src.Addr().Unmap().WithZone("")
	dst = f.Dst.Addr().Unmap().WithZone("")
	switch {
	case src.Is4() && dst.Is4():
		return src, dst, 4
	case src.Is6() && dst.Is6():
		return src, dst, 6
	}
	return src, dst, 0
}

func appendV1(b []byte, f Facts) []byte {
	src, dst, fam := family(f)
	b = slices.Grow(b, v1MaxLen)
	switch fam {
	case 4:
		b = append(b, "PROXY TCP4 "...)
	case 6:
		b = append(b, "PROXY TCP6 "...)
	default:
		// §2.1: "the rest of the line before the CRLF may be omitted by the sender".
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	// netip prints IPv4 as dotted decimal without leading zeros and IPv6 in RFC 5952 form, both
	// within what §2.1 allows; unmapping above means no dotted quad ever appears in TCP6.
	b = src.AppendTo(b)
	b = append(b, ' ')
	b = dst.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(f.Src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(f.Dst.Port()), 10)
	return append(b, "\r\n"...)
}

// subTLV is one PP2_TYPE_SSL sub-TLV: its type, the Facts field it comes from (for errors), its
// value.
type subTLV struct {
	typ         byte
	name, value string
}

// sslSubTLVs lists the PP2_TYPE_SSL sub-TLVs in the order HAProxy writes them
// (make_proxy_line_v2), so a core sees the same bytes from either proxy.
func sslSubTLVs(f *Facts) [5]subTLV {
	return [5]subTLV{
		{pp2SubtypeSSLVersion, "Version", f.Version},
		{pp2SubtypeSSLCN, "ClientCN", f.ClientCN},
		{pp2SubtypeSSLKeyAlg, "KeyAlg", f.KeyAlg},
		{pp2SubtypeSSLSigAlg, "SigAlg", f.SigAlg},
		{pp2SubtypeSSLCipher, "Cipher", f.Cipher},
	}
}

// v2Lengths validates f and returns the v2 len field (address block and TLVs) and the length of
// the PP2_TYPE_SSL value (0 when not sent).
func v2Lengths(f *Facts, fam int) (total, ssl int, err error) {
	switch fam {
	case 4:
		total = pp2AddrLenV4
	case 6:
		total = pp2AddrLenV6
	}
	if f.SNI != "" {
		if err := checkValue("SNI", f.SNI, true); err != nil {
			return 0, 0, err
		}
		total += pp2TLVHdrLen + len(f.SNI)
	}
	if f.TLS {
		if f.Version == "" {
			return 0, 0, fmt.Errorf("%w: Facts.Version is empty but TLS is set", ErrInvalid)
		}
		ssl = pp2SSLHdrLen
		for _, s := range sslSubTLVs(f) {
			if s.value == "" {
				continue
			}
			if err := checkValue(s.name, s.value, s.typ == pp2SubtypeSSLCN); err != nil {
				return 0, 0, err
			}
			ssl += pp2TLVHdrLen + len(s.value)
		}
		if ssl > pp2MaxLen {
			return 0, 0, fmt.Errorf("%w: the PP2_TYPE_SSL TLV would hold %d bytes, at most %d fit",
				ErrTooLong, ssl, pp2MaxLen)
		}
		total += pp2TLVHdrLen + ssl
	}
	if total > pp2MaxLen {
		return 0, 0, fmt.Errorf("%w: %d bytes would follow the 16-byte prefix, at most %d fit",
			ErrTooLong, total, pp2MaxLen)
	}
	// The certificate last, so that a header that does not fit because of it alone gets its own
	// error and the caller can send the rest.
	if f.TLS && len(f.ClientCertDER) > 0 {
		if !f.ClientCert {
			return 0, 0, fmt.Errorf("%w: Facts.ClientCertDER is set but ClientCert is not", ErrInvalid)
		}
		cert := pp2TLVHdrLen + len(f.ClientCertDER)
		if ssl+cert > pp2MaxLen || total+cert > pp2MaxLen {
			return 0, 0, fmt.Errorf("%w: Facts.ClientCertDER is %d bytes; with it the PP2_TYPE_SSL TLV would hold %d bytes and %d would follow the prefix, at most %d fit",
				ErrClientCertTooLong, len(f.ClientCertDER), ssl+cert, total+cert, pp2MaxLen)
		}
		ssl += cert
		total += cert
	}
	return total, ssl, nil
}

// checkValue enforces the text rules of §2.2.2 and §2.2.6: AUTHORITY and SSL_CN are UTF-8, the
// other SSL sub-TLVs US-ASCII. Receivers check this (go-proxyproto rejects the whole SSL TLV),
// so a value that breaks it would silently drop every TLS fact at the core.
func checkValue(name, v string, utf8OK bool) error {
	if len(v) > pp2MaxLen {
		return fmt.Errorf("%w: Facts.%s is %d bytes, a TLV holds at most %d",
			ErrTooLong, name, len(v), pp2MaxLen)
	}
	if utf8OK {
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: Facts.%s is not valid UTF-8", ErrInvalid, name)
		}
		return nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return fmt.Errorf("%w: Facts.%s is not US-ASCII (byte 0x%02x at %d)", ErrInvalid, name, v[i], i)
		}
	}
	return nil
}

func appendV2(b []byte, f Facts) ([]byte, error) {
	src, dst, fam := family(f)
	total, ssl, err := v2Lengths(&f, fam)
	if err != nil {
		return b, err
	}
	b = slices.Grow(b, pp2PrefixLen+total)
	b = append(b, pp2Signature...)
	switch fam {
	case 4:
		b = append(b, pp2CmdProxy, pp2FamTCP4)
	case 6:
		b = append(b, pp2CmdProxy, pp2FamTCP6)
	default:
		// LOCAL + AF_UNSPEC: "the receiver must accept this connection as valid and must use the
		// real connection endpoints" (§2.2). The TLVs still describe the client's TLS.
		b = append(b, pp2CmdLocal, pp2FamUnspec)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	switch fam {
	case 4:
		s, d := src.As4(), dst.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	case 6:
		s, d := src.As16(), dst.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	if fam != 0 {
		b = binary.BigEndian.AppendUint16(b, f.Src.Port())
		b = binary.BigEndian.AppendUint16(b, f.Dst.Port())
	}
	if f.SNI != "" {
		b = appendTLV(b, pp2TypeAuthority, f.SNI)
	}
	if f.TLS {
		client := byte(pp2ClientSSL)
		if f.ClientCert {
			client |= pp2ClientCertSess
			if !f.Resumed {
				client |= pp2ClientCertConn
			}
		}
		verify := f.VerifyResult
		if !f.ClientCert && verify == 0 {
			verify = pp2VerifyFail
		}
		b = append(b, pp2TypeSSL)
		b = binary.BigEndian.AppendUint16(b, uint16(ssl))
		b = append(b, client)
		b = binary.BigEndian.AppendUint32(b, verify)
		for _, s := range sslSubTLVs(&f) {
			if s.value != "" {
				b = appendTLV(b, s.typ, s.value)
			}
		}
		if len(f.ClientCertDER) > 0 {
			b = append(b, pp2SubtypeSSLClientCert)
			b = binary.BigEndian.AppendUint16(b, uint16(len(f.ClientCertDER)))
			b = append(b, f.ClientCertDER...)
		}
	}
	return b, nil
}

// appendTLV appends one pp2_tlv; v2Lengths has checked that v fits.
func appendTLV(b []byte, typ byte, v string) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
