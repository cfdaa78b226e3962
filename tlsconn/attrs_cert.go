package tlsconn

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// CertInfo is what Attrs keeps of one certificate: the facts Kamailio's $tls_peer_* / $tls_my_*
// variables show, in about 360 bytes of heap for a typical phone certificate (TestCertInfoSize),
// where a parsed *x509.Certificate takes about 3.2 KB besides its DER. Every string lives in one
// buffer; values that appear verbatim inside the subject line share its bytes.
//
// Text is bounded: the subject and issuer lines are cut, at an attribute boundary, to 1023
// bytes (what Kamailio's 1024-byte buffer holds), a component or subject alternative name
// longer than 1023 bytes is left out (Kamailio returns null for it), at most MaxSANs subject
// alternative names are kept, and all the text of one CertInfo fits in MaxCertText bytes.
// Truncated reports whether anything was left out.
//
// A CertInfo is immutable, so one may be shared by many connections and goroutines (Attrs.Local
// is made once per certificate).
type CertInfo struct {
	text                string  // every string below is a slice of it
	der                 []byte  // leaf DER if kept; aliases crypto/tls's copy
	sans                []san   // subject alternative names, in certificate order
	notBefore, notAfter int64   // Unix seconds
	subject, issuer     nameSet // spans into text
	serial              span
	version             uint8
	selfSigned          bool
	truncated           bool
}

// Limits on the text a CertInfo keeps (see CertInfo).
const (
	MaxCertText = 8 << 10 // bytes of text in one CertInfo
	MaxSANs     = 64      // subject alternative names kept, all kinds together
	maxValue    = 1023    // one line, component or name; Kamailio's buffers are 1024 bytes
)

// span is a substring of CertInfo.text; off == noOff means absent. MaxCertText keeps offsets
// within 16 bits.
type span struct{ off, n uint16 }

const noOff = 0xFFFF

var absent = span{off: noOff}

// Name components, in the order of nameSet.comp.
const (
	compCN = iota
	compL
	compC
	compST
	compO
	compOU
	compUID
	numComps
)

// compOIDs are the attribute types of the components (RFC 4519 §2; UID is RFC 4519 §2.39);
// compDER holds their DER content octets, which is what the parser compares.
var compOIDs = [numComps]asn1.ObjectIdentifier{
	compCN:  {2, 5, 4, 3},
	compL:   {2, 5, 4, 7},
	compC:   {2, 5, 4, 6},
	compST:  {2, 5, 4, 8},
	compO:   {2, 5, 4, 10},
	compOU:  {2, 5, 4, 11},
	compUID: {0, 9, 2342, 19200300, 100, 1, 1},
}

var compDER = func() (d [numComps]string) {
	for i, oid := range compOIDs {
		d[i] = oidContent(oid)
	}
	return d
}()

// oidContent returns the content octets of oid's DER encoding.
func oidContent(oid asn1.ObjectIdentifier) string {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	_, content, _, _ := readTLV(b)
	return string(content)
}

type nameSet struct {
	line span
	comp [numComps]span
}

// SANKind is a kind of subject alternative name (RFC 5280 §4.2.1.6) that Kamailio shows.
type SANKind uint8

// Subject alternative name kinds: $tls_peer_san_email, _hostname, _uri and _ip.
const (
	SANEmail SANKind = 1 // rfc822Name
	SANDNS   SANKind = 2 // dNSName
	SANURI   SANKind = 6 // uniformResourceIdentifier
	SANIP    SANKind = 7 // iPAddress, as text (RFC 5952 for IPv6)
)

type san struct {
	kind SANKind
	s    span
}

// NewCertInfo extracts a CertInfo from a parsed certificate. With keepDER, DER returns
// cert.Raw (not copied: it shares crypto/tls's copy of the handshake message). The reactor calls
// it through Attrs for the peer; the profile package calls it once per loaded certificate for
// SetProfile. It returns nil for a nil cert.
func NewCertInfo(cert *x509.Certificate, keepDER bool) *CertInfo {
	if cert == nil {
		return nil
	}
	ci := &CertInfo{
		version:    uint8(min(max(cert.Version, 0), 255)),
		notBefore:  cert.NotBefore.Unix(),
		notAfter:   cert.NotAfter.Unix(),
		selfSigned: isSelfSigned(cert),
	}
	if keepDER {
		ci.der = cert.Raw
	}
	var b textBuilder
	b.buf = make([]byte, 0, min(len(cert.RawSubject)+len(cert.RawIssuer)+64, MaxCertText))
	ci.subject = b.name(cert.RawSubject)
	ci.issuer = b.name(cert.RawIssuer)
	if cert.SerialNumber != nil {
		var tmp [64]byte
		ci.serial = b.add(cert.SerialNumber.Append(tmp[:0], 10))
	} else {
		ci.serial = absent
	}
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidSAN) { // RFC 5280 §4.2.1.6
			ci.sans = b.sans(ext.Value)
			break
		}
	}
	ci.text = string(b.buf)
	ci.truncated = b.truncated
	return ci
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// isSelfSigned is OpenSSL's notion of a self-signed certificate (EXFLAG_SS, which makes
// verification fail with X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, Kamailio's
// $tls_peer_selfsigned): the subject equals the issuer, the authority key identifier, if both
// identifiers are present, equals the subject key identifier, and the signature algorithm suits
// the certificate's own key. The signature is not checked, as OpenSSL does not check it for this
// flag: it would cost an ECDSA verification per handshake.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId) {
		return false
	}
	switch c.SignatureAlgorithm {
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return c.PublicKeyAlgorithm == x509.ECDSA
	case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA:
		return c.PublicKeyAlgorithm == x509.RSA
	case x509.PureEd25519:
		return c.PublicKeyAlgorithm == x509.Ed25519
	case x509.DSAWithSHA1, x509.DSAWithSHA256:
		return c.PublicKeyAlgorithm == x509.DSA
	}
	return false
}

// Version returns the X.509 version as the certificate states it: 3 for a v3 certificate.
// Kamailio's $tls_peer_version prints OpenSSL's X509_get_version, which counts from 0 (2 for v3).
func (ci *CertInfo) Version() int { return int(ci.version) }

// Serial returns the serial number in decimal, as Kamailio's $tls_peer_serial (BN_bn2dec).
func (ci *CertInfo) Serial() string { return ci.str(ci.serial) }

// Subject returns the subject name.
func (ci *CertInfo) Subject() Name { return Name{ci.text, ci.subject} }

// Issuer returns the issuer name.
func (ci *CertInfo) Issuer() Name { return Name{ci.text, ci.issuer} }

// NotBefore returns the start of the validity period, in UTC.
func (ci *CertInfo) NotBefore() time.Time { return time.Unix(ci.notBefore, 0).UTC() }

// NotAfter returns the end of the validity period, in UTC.
func (ci *CertInfo) NotAfter() time.Time { return time.Unix(ci.notAfter, 0).UTC() }

// ExpiredAt reports whether the certificate has expired at now (now is after NotAfter), for a
// listing made long after the handshake; Attrs.PeerExpired is the same test at handshake time.
func (ci *CertInfo) ExpiredAt(now time.Time) bool { return now.Unix() > ci.notAfter }

// SelfSigned reports whether the certificate is self-signed as OpenSSL judges it: subject equal
// to issuer, matching key identifiers, and a signature algorithm that suits its own key. The
// signature itself is not checked (OpenSSL does not either).
func (ci *CertInfo) SelfSigned() bool { return ci.selfSigned }

// DER returns the certificate's DER encoding if it was kept (Options.KeepPeerDER for the peer,
// keepDER for NewCertInfo), else nil. Shared; do not modify.
func (ci *CertInfo) DER() []byte { return ci.der }

// Truncated reports whether the limits of CertInfo left some text out.
func (ci *CertInfo) Truncated() bool { return ci.truncated }

// SANCount returns the number of subject alternative names of kind k kept (Kamailio's
// $tls_peer_san_count(EMAIL|DNS|URI|IP)).
func (ci *CertInfo) SANCount(k SANKind) int {
	n := 0
	for _, s := range ci.sans {
		if s.kind == k {
			n++
		}
	}
	return n
}

// SAN returns the i-th (from 0, in certificate order) subject alternative name of kind k, as
// Kamailio's indexed $(tls_peer_san_uri[i]); ok is false past the last one.
func (ci *CertInfo) SAN(k SANKind, i int) (string, bool) {
	for _, s := range ci.sans {
		if s.kind != k {
			continue
		}
		if i == 0 {
			return ci.str(s.s), true
		}
		i--
	}
	return "", false
}

// SANs returns all the subject alternative names of kind k, in certificate order (a new slice;
// the strings are shared).
func (ci *CertInfo) SANs(k SANKind) []string {
	n := ci.SANCount(k)
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for _, s := range ci.sans {
		if s.kind == k {
			out = append(out, ci.str(s.s))
		}
	}
	return out
}

func (ci *CertInfo) str(s span) string { return spanStr(ci.text, s) }

func spanStr(text string, s span) string {
	if s.off == noOff {
		return ""
	}
	return text[s.off : int(s.off)+int(s.n)]
}

// Name is a subject or issuer name of a CertInfo. The zero Name is empty.
type Name struct {
	text string
	set  nameSet
}

// Oneline returns the whole name in the format of OpenSSL 3's X509_NAME_oneline, which is what
// Kamailio's $tls_peer_subject and $tls_peer_issuer print: each attribute as "/" (or "+" inside
// a multi-valued RDN), OpenSSL's short name of its type (C, ST, L, O, OU, CN, emailAddress, UID,
// DC, serialNumber, ...; the dotted OID for a type not in our table), "=", and the value's
// bytes as encoded, with "/" and "+" escaped by a backslash and any byte outside the printable
// ASCII range written as \xHH (upper-case hex). Attributes come in certificate order (most
// significant first, the reverse of RFC 4514 strings):
//
//	/C=AT/ST=Wien/L=Vienna/O=enum.at/OU=Phones/CN=J\xC3\xBCrgen
//
// The line is cut at an attribute boundary to 1023 bytes, as Kamailio's buffer cuts it.
func (n Name) Oneline() string { return spanStr(n.text, n.set.line) }

// String returns Oneline.
func (n Name) String() string { return n.Oneline() }

// CN returns the first commonName (2.5.4.3), as UTF-8; "" if there is none (or it could not be
// converted). Kamailio's $tls_peer_subject_cn; OpenSSL and HAProxy take the first too, where
// Go's pkix.Name.CommonName keeps the last.
func (n Name) CN() string { return n.comp(compCN) }

// Locality returns the first localityName (L, 2.5.4.7) as UTF-8.
func (n Name) Locality() string { return n.comp(compL) }

// Country returns the first countryName (C, 2.5.4.6).
func (n Name) Country() string { return n.comp(compC) }

// State returns the first stateOrProvinceName (ST, 2.5.4.8) as UTF-8.
func (n Name) State() string { return n.comp(compST) }

// Organization returns the first organizationName (O, 2.5.4.10) as UTF-8.
func (n Name) Organization() string { return n.comp(compO) }

// Unit returns the first organizationalUnitName (OU, 2.5.4.11) as UTF-8; all of them are in
// Oneline.
func (n Name) Unit() string { return n.comp(compOU) }

// UID returns the first userId (UID, 0.9.2342.19200300.100.1.1) as UTF-8.
func (n Name) UID() string { return n.comp(compUID) }

func (n Name) comp(i int) string { return spanStr(n.text, n.set.comp[i]) }

// lookup returns component i and whether the name has it (Kamailio returns null when not).
func (n Name) lookup(i int) (string, bool) {
	s := n.set.comp[i]
	return spanStr(n.text, s), s.off != noOff
}

// textBuilder collects the text of a CertInfo within MaxCertText.
type textBuilder struct {
	buf       []byte
	truncated bool
}

// add appends v (or finds it already in the buffer) and returns its span; absent if it does not
// fit the limits.
func (b *textBuilder) add(v []byte) span {
	if len(v) > maxValue {
		b.truncated = true
		return absent
	}
	if i := bytes.Index(b.buf, v); i >= 0 {
		return span{uint16(i), uint16(len(v))}
	}
	if len(b.buf)+len(v) > MaxCertText {
		b.truncated = true
		return absent
	}
	off := len(b.buf)
	b.buf = append(b.buf, v...)
	return span{uint16(off), uint16(len(v))}
}

// DER reading. crypto/x509 has already parsed the certificate, so these decoders see well-formed
// input from a handshake; they are written for speed (no reflection: a handful of allocations per
// certificate where encoding/asn1 made fifty) and checked against arbitrary input by
// FuzzCertInfoText.

// Identifier octets (X.690 §8.1.2).
const (
	idSequence = 0x30
	idSet      = 0x31
	idOID      = 0x06
	classMask  = 0xC0
	classUniv  = 0x00
	classCtx   = 0x80
	compound   = 0x20
)

// readTLV splits off one DER element: its identifier octet, content and what follows. High tag
// numbers, the indefinite length and lengths beyond 4 bytes are refused (none occurs in names).
func readTLV(b []byte) (id byte, content, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1F == 0x1F {
		return 0, nil, nil, false
	}
	id, l, hdr := b[0], int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7F
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, nil, false
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		hdr += n
	}
	if l < 0 || l > len(b)-hdr {
		return 0, nil, nil, false
	}
	return id, b[hdr : hdr+l], b[hdr+l:], true
}

// value is an attribute value: its identifier octet and content.
type value struct {
	id      byte
	content []byte
}

// universal returns the universal tag number of a primitive value, or -1.
func (v value) universal() int {
	if v.id&(classMask|compound) != classUniv {
		return -1
	}
	return int(v.id)
}

// forEachATV calls fn for each AttributeTypeAndValue of the DER Name raw (RFC 5280 §4.1.2.4),
// with first true for the first of its RDN; it reports whether raw was a well-formed Name.
func forEachATV(raw []byte, fn func(oid []byte, v value, first bool)) bool {
	id, seq, rest, ok := readTLV(raw)
	if !ok || id != idSequence || len(rest) != 0 {
		return false
	}
	for len(seq) > 0 {
		var set []byte
		if id, set, seq, ok = readTLV(seq); !ok || id != idSet || len(set) == 0 {
			return false
		}
		for first := true; len(set) > 0; first = false {
			var atv, oid []byte
			if id, atv, set, ok = readTLV(set); !ok || id != idSequence {
				return false
			}
			if id, oid, atv, ok = readTLV(atv); !ok || id != idOID || !validOID(oid) {
				return false
			}
			var v value
			if v.id, v.content, atv, ok = readTLV(atv); !ok || len(atv) != 0 {
				return false
			}
			fn(oid, v, first)
		}
	}
	return true
}

// validOID reports whether b is the content of an OID whose arcs each fit in 63 bits.
func validOID(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	n := 0
	for _, c := range b {
		if n == 0 && c == 0x80 {
			return false // X.690 §8.19.2: no leading 0x80 padding
		}
		n++
		if n > 9 {
			return false
		}
		if c&0x80 == 0 {
			n = 0
		}
	}
	return true
}

// name appends the one-line form of the DER name raw and its components.
func (b *textBuilder) name(raw []byte) nameSet {
	ns := nameSet{line: absent}
	for i := range ns.comp {
		ns.comp[i] = absent
	}
	var (
		start     = len(b.buf)
		lineLimit = min(start+maxValue, MaxCertText)
		cut       bool
		found     [numComps]bool
		first     [numComps]value
		verbatim  [numComps]span
	)
	for i := range verbatim {
		verbatim[i] = absent
	}
	ok := forEachATV(raw, func(oid []byte, v value, firstOfRDN bool) {
		ci := compIndex(oid)
		isFirst := ci >= 0 && !found[ci]
		if isFirst {
			found[ci], first[ci] = true, v
		}
		if cut {
			return
		}
		// The line goes straight into the buffer; a component whose value appears in it
		// verbatim is a slice of it.
		mark := len(b.buf)
		sep := byte('+')
		if firstOfRDN {
			sep = '/'
		}
		b.buf = append(b.buf, sep)
		b.buf = appendShortName(b.buf, oid)
		b.buf = append(b.buf, '=')
		valStart := len(b.buf)
		b.buf = appendOnelineValue(b.buf, v)
		if len(b.buf) > lineLimit {
			// X509_NAME_oneline into a fixed buffer stops before the attribute that does
			// not fit.
			b.buf = b.buf[:mark]
			b.truncated = true
			cut = true
			return
		}
		if isFirst && isVerbatim(v) {
			verbatim[ci] = span{uint16(valStart), uint16(len(b.buf) - valStart)}
		}
	})
	if !ok {
		b.buf = b.buf[:start]
		b.truncated = true
		return ns
	}
	ns.line = span{uint16(start), uint16(len(b.buf) - start)}
	for i := range ns.comp {
		switch {
		case !found[i]:
		case verbatim[i].off != noOff:
			ns.comp[i] = verbatim[i]
		default:
			if v, ok := toUTF8(first[i]); ok {
				ns.comp[i] = b.add(v)
			}
		}
	}
	return ns
}

func compIndex(oid []byte) int {
	for i, d := range compDER {
		if string(oid) == d {
			return i
		}
	}
	return -1
}

// shortNames are OpenSSL's short names (OBJ_nid2sn, crypto/objects/objects.txt) of the
// attribute types seen in certificate names, keyed by the OID's DER content.
var shortNames = func() map[string]string {
	m := map[string]string{}
	for _, s := range []struct {
		oid asn1.ObjectIdentifier
		sn  string
	}{
		{asn1.ObjectIdentifier{2, 5, 4, 3}, "CN"},
		{asn1.ObjectIdentifier{2, 5, 4, 6}, "C"},
		{asn1.ObjectIdentifier{2, 5, 4, 7}, "L"},
		{asn1.ObjectIdentifier{2, 5, 4, 8}, "ST"},
		{asn1.ObjectIdentifier{2, 5, 4, 10}, "O"},
		{asn1.ObjectIdentifier{2, 5, 4, 11}, "OU"},
		{asn1.ObjectIdentifier{2, 5, 4, 4}, "SN"},
		{asn1.ObjectIdentifier{2, 5, 4, 5}, "serialNumber"},
		{asn1.ObjectIdentifier{2, 5, 4, 9}, "street"},
		{asn1.ObjectIdentifier{2, 5, 4, 12}, "title"},
		{asn1.ObjectIdentifier{2, 5, 4, 13}, "description"},
		{asn1.ObjectIdentifier{2, 5, 4, 15}, "businessCategory"},
		{asn1.ObjectIdentifier{2, 5, 4, 16}, "postalAddress"},
		{asn1.ObjectIdentifier{2, 5, 4, 17}, "postalCode"},
		{asn1.ObjectIdentifier{2, 5, 4, 41}, "name"},
		{asn1.ObjectIdentifier{2, 5, 4, 42}, "GN"},
		{asn1.ObjectIdentifier{2, 5, 4, 43}, "initials"},
		{asn1.ObjectIdentifier{2, 5, 4, 44}, "generationQualifier"},
		{asn1.ObjectIdentifier{2, 5, 4, 46}, "dnQualifier"},
		{asn1.ObjectIdentifier{2, 5, 4, 65}, "pseudonym"},
		{asn1.ObjectIdentifier{2, 5, 4, 97}, "organizationIdentifier"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, "emailAddress"},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 2}, "unstructuredName"},
		{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, "UID"},
		{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, "DC"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 1}, "jurisdictionL"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 2}, "jurisdictionST"},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3}, "jurisdictionC"},
	} {
		m[oidContent(s.oid)] = s.sn
	}
	return m
}()

// appendShortName writes OpenSSL's short name of the attribute type, or, for a type OpenSSL has
// no name for in our table, its dotted decimal form (OBJ_obj2txt). oid was checked by validOID.
func appendShortName(b []byte, oid []byte) []byte {
	if sn, ok := shortNames[string(oid)]; ok {
		return append(b, sn...)
	}
	var arc uint64
	first := true
	for _, c := range oid {
		arc = arc<<7 | uint64(c&0x7F)
		if c&0x80 != 0 {
			continue
		}
		if first {
			// X.690 §8.19.4: the first subidentifier is 40*X + Y.
			x := min(arc/40, 2)
			b = strconv.AppendUint(b, x, 10)
			b = append(b, '.')
			b = strconv.AppendUint(b, arc-40*x, 10)
			first = false
		} else {
			b = append(b, '.')
			b = strconv.AppendUint(b, arc, 10)
		}
		arc = 0
	}
	return b
}

// ASN.1 universal tags of the string types (X.680 §8.4).
const (
	tagUTF8      = 12
	tagNumeric   = 18
	tagPrintable = 19
	tagT61       = 20
	tagIA5       = 22
	tagUTCTime   = 23
	tagGenTime   = 24
	tagVisible   = 26
	tagGeneral   = 27
	tagUniversal = 28
	tagBMP       = 30
)

// appendOnelineValue writes a value as X509_NAME_oneline does (crypto/x509/x509_obj.c): the
// content bytes, "/" and "+" escaped, bytes outside ' '..'~' as \xHH. A GeneralString whose
// length is a multiple of 4 and whose bytes other than every fourth are all zero is printed as
// those fourth bytes only (OpenSSL's gs_doit).
func appendOnelineValue(b []byte, v value) []byte {
	q := v.content
	step, from := 1, 0
	if v.universal() == tagGeneral && len(q)%4 == 0 {
		var nz [4]bool
		for j, c := range q {
			if c != 0 {
				nz[j&3] = true
			}
		}
		if !(nz[0] || nz[1] || nz[2]) {
			step, from = 4, 3
		}
	}
	const hex = "0123456789ABCDEF"
	for j := from; j < len(q); j += step {
		c := q[j]
		switch {
		case c < ' ' || c > '~':
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xF])
		case c == '/' || c == '+':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// isVerbatim reports whether the one-line form of v is its UTF-8 value unchanged: a string type
// that converts byte for byte, holding only printable ASCII other than "/" and "+".
func isVerbatim(v value) bool {
	switch v.universal() {
	case tagUTF8, tagNumeric, tagPrintable, tagT61, tagIA5, tagUTCTime, tagGenTime, tagVisible:
	default:
		return false
	}
	for _, c := range v.content {
		if c < ' ' || c > '~' || c == '/' || c == '+' {
			return false
		}
	}
	return true
}

// toUTF8 converts a name value as OpenSSL's ASN1_STRING_to_UTF8 does (crypto/asn1/a_strex.c,
// tag2nbyte): UTF8String checked, the one-byte types read as Latin-1, BMPString as UCS-2 and
// UniversalString as UCS-4, big-endian. Any other type, or a malformed value, fails: Kamailio
// then returns null.
func toUTF8(v value) ([]byte, bool) {
	q := v.content
	switch v.universal() {
	case tagUTF8:
		return q, utf8.Valid(q)
	case tagNumeric, tagPrintable, tagT61, tagIA5, tagUTCTime, tagGenTime, tagVisible:
		ascii := true
		for _, c := range q {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return q, true
		}
		out := make([]byte, 0, 2*len(q))
		for _, c := range q {
			out = utf8.AppendRune(out, rune(c))
		}
		return out, true
	case tagBMP:
		if len(q)%2 != 0 {
			return nil, false
		}
		out := make([]byte, 0, len(q))
		for i := 0; i < len(q); i += 2 {
			r := rune(binary.BigEndian.Uint16(q[i:]))
			if utf16.IsSurrogate(r) {
				return nil, false // UCS-2 has no surrogates
			}
			out = utf8.AppendRune(out, r)
		}
		return out, true
	case tagUniversal:
		if len(q)%4 != 0 {
			return nil, false
		}
		out := make([]byte, 0, len(q))
		for i := 0; i < len(q); i += 4 {
			r := binary.BigEndian.Uint32(q[i:])
			if r > utf8.MaxRune || utf16.IsSurrogate(rune(r)) {
				return nil, false
			}
			out = utf8.AppendRune(out, rune(r))
		}
		return out, true
	}
	return nil, false
}

// sans decodes the subjectAltName extension value (RFC 5280 §4.2.1.6) and keeps the email, DNS,
// URI and IP names, in order, up to MaxSANs. Names of the IA5String kinds are kept as encoded,
// as Kamailio copies them; an IP address is written as text (dotted quad, or RFC 5952 for IPv6,
// which is inet_ntop's and Kamailio's with ipv6_hex_style "c"), and one of another length than
// 4 or 16 bytes is skipped. Other kinds (otherName, directoryName, ...) are skipped.
func (b *textBuilder) sans(ext []byte) []san {
	id, seq, rest, ok := readTLV(ext)
	if !ok || id != idSequence || len(rest) != 0 {
		b.truncated = true
		return nil
	}
	n := 0
	for r := seq; len(r) > 0; {
		var id byte
		if id, _, r, ok = readTLV(r); !ok {
			b.truncated = true
			return nil
		}
		if sanKindOf(id) != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]san, 0, min(n, MaxSANs))
	var tmp [64]byte
	for len(seq) > 0 {
		var v []byte
		id, v, seq, _ = readTLV(seq) // checked above
		k := sanKindOf(id)
		if k == 0 {
			continue
		}
		if len(out) == MaxSANs {
			b.truncated = true
			break
		}
		if k == SANIP {
			ip, ok := netip.AddrFromSlice(v)
			if !ok {
				continue
			}
			v = ip.AppendTo(tmp[:0])
		}
		if s := b.add(v); s.off != noOff {
			out = append(out, san{k, s})
		}
	}
	return out
}

// sanKindOf returns the kind of a GeneralName by its identifier octet (context-specific,
// primitive, RFC 5280 §4.2.1.6 tag numbers), 0 for kinds we do not keep.
func sanKindOf(id byte) SANKind {
	if id&(classMask|compound) != classCtx {
		return 0
	}
	switch k := SANKind(id & 0x1F); k {
	case SANEmail, SANDNS, SANURI, SANIP:
		return k
	}
	return 0
}

func isSANKind(k SANKind) bool {
	return k == SANEmail || k == SANDNS || k == SANURI || k == SANIP
}
