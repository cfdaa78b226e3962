package forward

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"unicode/utf8"
)

// FuzzAppendHeaderRoundTrip encodes arbitrary Facts and requires that go-proxyproto parses the
// bytes back to the same values (checkRoundTrip), that refusals happen exactly when the spec's
// limits are broken, and that nothing panics. Addresses come in as 0, 4 or 16 raw bytes (other
// lengths mean "missing"), so mapped, zoned and mixed cases all occur.
func FuzzAppendHeaderRoundTrip(f *testing.F) {
	v4a, v4b := []byte{192, 0, 2, 10}, []byte{198, 51, 100, 1}
	v6a := netip.MustParseAddr("2001:db8::10").AsSlice()
	mapped := netip.MustParseAddr("::ffff:192.0.2.10").AsSlice()
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x05}
	f.Add(uint8(2), v4a, uint16(50000), v4b, uint16(5061), "", true, "TLSv1.3", "TLS_AES_128_GCM_SHA256",
		"ECDSA-SHA256", "EC256", "sip.example.com", "alice@example.com", true, false, uint32(0), []byte(nil), uint16(0))
	f.Add(uint8(1), v6a, uint16(1), v6a, uint16(5061), "eth0", false, "", "", "", "", "", "", false, false, uint32(0), der, uint16(0))
	f.Add(uint8(2), mapped, uint16(5060), v4b, uint16(5061), "", true, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256",
		"RSA-SHA256", "RSA2048", "", "Jürgen", true, true, uint32(20), der, uint16(0))
	f.Add(uint8(2), v4a, uint16(0), v6a, uint16(0), "", true, "", "x", "", "", "\xff", "\xfe", false, true, uint32(1), der, uint16(0))
	f.Add(uint8(3), []byte{}, uint16(0), []byte{1}, uint16(0), "", false, "", "", "", "", "", "", false, false, uint32(0), []byte(nil), uint16(0))
	f.Add(uint8(2), v6a, uint16(1), v6a, uint16(2), "", true, "TLSv1.3", "", "", "", "", "cn", true, false, uint32(0), der, uint16(65470))

	// pad grows the certificate to exercise the 16-bit limits without huge corpus entries.
	f.Fuzz(func(t *testing.T, proto uint8, srcIP []byte, sport uint16, dstIP []byte, dport uint16, zone string,
		tlsOn bool, version, cipher, sigAlg, keyAlg, sni, cn string, clientCert, resumed bool, verify uint32,
		certDER []byte, pad uint16) {
		if len(certDER) > 0 && pad > 0 {
			certDER = append(certDER, make([]byte, pad)...)
		}
		facts := Facts{
			Src: fuzzAddr(srcIP, sport, zone), Dst: fuzzAddr(dstIP, dport, zone),
			TLS: tlsOn, Version: version, Cipher: cipher, SigAlg: sigAlg, KeyAlg: keyAlg,
			SNI: sni, ClientCN: cn, ClientCert: clientCert, Resumed: resumed, VerifyResult: verify,
			ClientCertDER: certDER,
		}
		p := ProxyProtocol(proto % 4) // 3 is not a format
		prefix := []byte("prefix")
		out, err := AppendHeader(prefix, p, facts)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("prefix lost: %q", out)
		}
		allowed := expectedErrors(p, facts)
		if err != nil {
			if allowed == nil {
				t.Fatalf("%v %+v: unexpected error %v", p, facts, err)
			}
			ok := false
			for _, e := range allowed {
				ok = ok || e == nil || errors.Is(err, e)
			}
			if !ok {
				t.Fatalf("error %v is none of %v", err, allowed)
			}
			if len(out) != len(prefix) {
				t.Fatalf("error %v but %d bytes appended", err, len(out)-len(prefix))
			}
			return
		}
		if allowed != nil {
			t.Fatalf("%v %+v: encoded, want one of %v", p, facts, allowed)
		}
		checkRoundTrip(t, p, facts, out[len(prefix):])
	})
}

func fuzzAddr(ip []byte, port uint16, zone string) netip.AddrPort {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.AddrPort{}
	}
	if a.Is6() && zone != "" {
		a = a.WithZone(zone)
	}
	return netip.AddrPortFrom(a, port)
}

// expectedErrors restates the spec's limits: nil when f must encode, otherwise the sentinels the
// error may wrap (a nil entry: any error). Several broken fields allow several answers.
func expectedErrors(p ProxyProtocol, f Facts) []error {
	switch p {
	case None, V1:
		return nil
	case V2:
	default:
		return []error{nil}
	}
	var errs []error
	ascii := func(s string) bool {
		for i := range len(s) {
			if s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	check := func(s string, text bool) int {
		if s == "" {
			return 0
		}
		if len(s) > 0xFFFF {
			errs = append(errs, ErrTooLong)
		}
		if !text {
			errs = append(errs, ErrInvalid)
		}
		return 3 + len(s)
	}
	_, _, fam := wantFamily(f)
	total := map[int]int{0: 0, 4: 12, 6: 36}[fam]
	total += check(f.SNI, utf8.ValidString(f.SNI))
	if f.TLS {
		if f.Version == "" {
			errs = append(errs, ErrInvalid)
		}
		ssl := 5 + check(f.Version, ascii(f.Version)) + check(f.ClientCN, utf8.ValidString(f.ClientCN)) +
			check(f.KeyAlg, ascii(f.KeyAlg)) + check(f.SigAlg, ascii(f.SigAlg)) + check(f.Cipher, ascii(f.Cipher))
		if ssl > 0xFFFF {
			errs = append(errs, ErrTooLong)
		}
		total += 3 + ssl
		if n := len(f.ClientCertDER); n > 0 {
			if !f.ClientCert {
				errs = append(errs, ErrInvalid)
			}
			// Only a certificate that alone breaks the limits gets its own error.
			if (ssl+3+n > 0xFFFF || total+3+n > 0xFFFF) && ssl <= 0xFFFF && total <= 0xFFFF {
				errs = append(errs, ErrClientCertTooLong)
			}
		}
	}
	if total > 0xFFFF {
		errs = append(errs, ErrTooLong)
	}
	return errs
}
