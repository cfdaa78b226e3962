package forward

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

var (
	v4Client = netip.MustParseAddrPort("192.0.2.10:50000")
	v4Local  = netip.MustParseAddrPort("198.51.100.1:5061")
	v6Client = netip.MustParseAddrPort("[2001:db8::10]:50000")
	v6Local  = netip.MustParseAddrPort("[2001:db8:1::1]:5061")
)

// fullFacts is a TLS 1.3 connection with a verified client certificate: every TLV present.
func fullFacts(src, dst netip.AddrPort) Facts {
	return Facts{
		Src: src, Dst: dst, TLS: true,
		Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256",
		SigAlg: "ECDSA-SHA256", KeyAlg: "EC256",
		SNI: "sip.example.com", ClientCN: "alice@example.com",
		ClientCert: true, VerifyResult: 0,
	}
}

// unhex decodes hex with spaces, newlines and "// comments" allowed, for hand-written bytes.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.Lines(s) {
		line, _, _ = strings.Cut(line, "//")
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestV1SpecExample encodes the example line of §2.1 byte for byte.
func TestV1SpecExample(t *testing.T) {
	f := Facts{
		Src: netip.MustParseAddrPort("192.168.0.1:56324"),
		Dst: netip.MustParseAddrPort("192.168.0.11:443"),
	}
	got, err := AppendHeader(nil, V1, f)
	if err != nil {
		t.Fatal(err)
	}
	if want := "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	checkRoundTrip(t, V1, f, got)
}

// TestV1Longest is the §2.1 worst case for TCP6: 104 bytes, under the 107-byte limit.
func TestV1Longest(t *testing.T) {
	all := netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	f := Facts{Src: netip.AddrPortFrom(all, 65535), Dst: netip.AddrPortFrom(all, 65535)}
	got, err := AppendHeader(nil, V1, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 104 {
		t.Fatalf("got %d bytes %q, want 104", len(got), got)
	}
	checkRoundTrip(t, V1, f, got)
}

// TestV2Bytes spells out one v2 header field by field from §2.2 and §2.2.6, independently of the
// golden files.
func TestV2Bytes(t *testing.T) {
	f := Facts{
		Src: v4Client, Dst: v4Local, TLS: true,
		Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", SNI: "sip.example.com",
	}
	want := unhex(t, `
		0d0a0d0a 000d0a51 5549540a // signature
		21                         // version 2, PROXY
		11                         // AF_INET, STREAM
		0049                       // 12 address bytes + 18 AUTHORITY + 43 SSL = 73
		c000020a                   // 192.0.2.10
		c6336401                   // 198.51.100.1
		c350                       // 50000
		13c5                       // 5061
		02 000f 7369702e6578616d706c652e636f6d // AUTHORITY "sip.example.com"
		20 0028                    // SSL, 5 + 10 + 25 = 40 bytes
		01                         // PP2_CLIENT_SSL only: no certificate
		00000001                   // verify: not 0, as no certificate was verified
		21 0007 544c5376312e33     // SSL_VERSION "TLSv1.3"
		23 0016 544c535f4145535f3132385f47434d5f534841323536 // SSL_CIPHER "TLS_AES_128_GCM_SHA256"
	`)
	got, err := AppendHeader(nil, V2, f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
	}
	checkRoundTrip(t, V2, f, got)
}

// TestRoundTrip runs every format over each address combination and Facts variant.
func TestRoundTrip(t *testing.T) {
	mapped := func(ap netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	addrs := []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"ipv4", v4Client, v4Local},
		{"ipv6", v6Client, v6Local},
		{"mapped", mapped(v4Client), mapped(v4Local)},
		{"mapped-src", mapped(v4Client), v4Local},
		{"zone", netip.MustParseAddrPort("[fe80::1%eth0]:50000"), netip.MustParseAddrPort("[fe80::2%eth0]:5061")},
		{"mixed", v4Client, v6Local},
		{"mixed-reverse", v6Client, v4Local},
		{"no-src", netip.AddrPort{}, v4Local},
		{"no-addresses", netip.AddrPort{}, netip.AddrPort{}},
		{"port-zero", netip.AddrPortFrom(v4Client.Addr(), 0), v4Local},
	}
	variants := []struct {
		name string
		edit func(*Facts)
	}{
		{"full", func(*Facts) {}},
		{"no-tls", func(f *Facts) { f.TLS = false }},
		{"no-sni", func(f *Facts) { f.SNI = "" }},
		{"no-cert", func(f *Facts) { f.ClientCert, f.ClientCN = false, "" }},
		{"resumed", func(f *Facts) { f.Resumed = true }},
		{"unverified", func(f *Facts) { f.VerifyResult = 20 }}, // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
		{"tls12", func(f *Facts) { f.Version, f.Cipher = "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256" }},
		{"utf8-cn", func(f *Facts) { f.ClientCN = "Jürgen Müller 電話" }},
		{"version-only", func(f *Facts) { *f = Facts{Src: f.Src, Dst: f.Dst, TLS: true, Version: "TLSv1.3"} }},
		{"client-cert", func(f *Facts) { f.ClientCertDER = []byte{0x30, 0x03, 0x02, 0x01, 0x05} }},
		{"client-cert-resumed", func(f *Facts) { f.Resumed, f.ClientCertDER = true, []byte{0x30, 0x00} }},
	}
	for _, a := range addrs {
		for _, v := range variants {
			for _, p := range []ProxyProtocol{None, V1, V2} {
				t.Run(a.name+"/"+v.name+"/"+p.String(), func(t *testing.T) {
					f := fullFacts(a.src, a.dst)
					v.edit(&f)
					hdr, err := AppendHeader(nil, p, f)
					if err != nil {
						t.Fatal(err)
					}
					checkRoundTrip(t, p, f, hdr)
				})
			}
		}
	}
}

func TestClientBitsAndVerify(t *testing.T) {
	for _, c := range []struct {
		cert, resumed bool
		verify        uint32
		client        byte
		wantVerify    uint32
	}{
		{cert: false, resumed: false, verify: 0, client: 0x01, wantVerify: 1},
		{cert: false, resumed: true, verify: 0, client: 0x01, wantVerify: 1},
		{cert: false, resumed: false, verify: 20, client: 0x01, wantVerify: 20},
		{cert: true, resumed: false, verify: 0, client: 0x07, wantVerify: 0},
		{cert: true, resumed: false, verify: 20, client: 0x07, wantVerify: 20},
		{cert: true, resumed: true, verify: 0, client: 0x05, wantVerify: 0},
	} {
		f := Facts{Src: v4Client, Dst: v4Local, TLS: true, Version: "TLSv1.2",
			ClientCert: c.cert, Resumed: c.resumed, VerifyResult: c.verify}
		hdr, err := AppendHeader(nil, V2, f)
		if err != nil {
			t.Fatal(err)
		}
		// 16 prefix + 12 addresses + SSL type and length (3), then client and verify.
		ssl := hdr[16+12+3:]
		gotVerify := uint32(ssl[1])<<24 | uint32(ssl[2])<<16 | uint32(ssl[3])<<8 | uint32(ssl[4])
		if ssl[0] != c.client || gotVerify != c.wantVerify {
			t.Errorf("cert %v resumed %v verify %d: client %#02x verify %d, want %#02x %d",
				c.cert, c.resumed, c.verify, ssl[0], gotVerify, c.client, c.wantVerify)
		}
		checkRoundTrip(t, V2, f, hdr)
	}
}

func TestAppendHeaderKeepsPrefix(t *testing.T) {
	for _, p := range []ProxyProtocol{None, V1, V2} {
		prefix := []byte("earlier bytes")
		got, err := AppendHeader(prefix, p, fullFacts(v6Client, v6Local))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("earlier bytes")) {
			t.Fatalf("%v: prefix lost: %q", p, got)
		}
		checkRoundTrip(t, p, fullFacts(v6Client, v6Local), got[len(prefix):])
	}
}

func TestAppendHeaderErrors(t *testing.T) {
	long := strings.Repeat("a", 65536)
	for _, c := range []struct {
		name  string
		p     ProxyProtocol
		edit  func(*Facts)
		is    error
		field string // the error must name it
	}{
		{"no version", V2, func(f *Facts) { f.Version = "" }, ErrInvalid, "Facts.Version"},
		{"cipher not ascii", V2, func(f *Facts) { f.Cipher = "ECDHE-ÉCDSA" }, ErrInvalid, "Facts.Cipher"},
		{"version not ascii", V2, func(f *Facts) { f.Version = "TLSv1.3\x80" }, ErrInvalid, "Facts.Version"},
		{"sigalg not ascii", V2, func(f *Facts) { f.SigAlg = "ECDSA–SHA256" }, ErrInvalid, "Facts.SigAlg"},
		{"keyalg not ascii", V2, func(f *Facts) { f.KeyAlg = "EC256\xff" }, ErrInvalid, "Facts.KeyAlg"},
		{"cn not utf8", V2, func(f *Facts) { f.ClientCN = "M\xfcller" }, ErrInvalid, "Facts.ClientCN"},
		{"sni not utf8", V2, func(f *Facts) { f.SNI = "sip.\xc3.example.com" }, ErrInvalid, "Facts.SNI"},
		{"cn too long", V2, func(f *Facts) { f.ClientCN = long }, ErrTooLong, "Facts.ClientCN"},
		{"sni too long", V2, func(f *Facts) { f.SNI = long }, ErrTooLong, "Facts.SNI"},
		{"cipher too long", V2, func(f *Facts) { f.Cipher = long }, ErrTooLong, "Facts.Cipher"},
		{"ssl tlv too long", V2, func(f *Facts) { f.ClientCN, f.Cipher = long[:40000], long[:30000] }, ErrTooLong, "PP2_TYPE_SSL"},
		{"header too long", V2, func(f *Facts) { f.SNI, f.ClientCN = long[:40000], long[:30000] }, ErrTooLong, "16-byte prefix"},
		{"unknown format", ProxyProtocol(3), func(*Facts) {}, nil, "ProxyProtocol(3)"},
		{"cert without ClientCert", V2, func(f *Facts) { f.ClientCert, f.ClientCertDER = false, []byte{0x30, 0} }, ErrInvalid, "Facts.ClientCertDER"},
		{"cert too long", V2, func(f *Facts) { f.ClientCertDER = make([]byte, 65536) }, ErrClientCertTooLong, "Facts.ClientCertDER"},
		{"header too long without the cert", V2, func(f *Facts) { f.ClientCN, f.ClientCertDER = long, []byte{0x30, 0} }, ErrTooLong, "Facts.ClientCN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := fullFacts(v4Client, v4Local)
			c.edit(&f)
			dst := make([]byte, 4, 8)
			copy(dst, "keep")
			got, err := AppendHeader(dst, c.p, f)
			if err == nil {
				t.Fatalf("no error; wrote % x", got)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %q", err, c.is)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.HasPrefix(err.Error(), "forward: ") {
				t.Errorf("error %q does not start with forward: and name %q", err, c.field)
			}
			if string(got) != "keep" {
				t.Errorf("dst changed to %q", got)
			}
		})
	}
}

// TestV2LengthLimit checks the exact edge of the 16-bit len field: the largest CN that fits
// encodes and parses, one byte more is refused. v1 carries no CN, so it never fails.
func TestV2LengthLimit(t *testing.T) {
	f := Facts{Src: v6Client, Dst: v6Local, TLS: true, Version: "TLSv1.3", ClientCert: true}
	// len = 36 addresses + 3 SSL TLV header + 5 client/verify + (3+7) version + (3+n) CN
	n := 65535 - 36 - 3 - 5 - (3 + 7) - 3
	f.ClientCN = strings.Repeat("c", n)
	hdr, err := AppendHeader(nil, V2, f)
	if err != nil {
		t.Fatalf("CN of %d bytes: %v", n, err)
	}
	if len(hdr) != 16+65535 {
		t.Fatalf("header is %d bytes, want %d", len(hdr), 16+65535)
	}
	checkRoundTrip(t, V2, f, hdr)

	f.ClientCN += "c"
	if _, err := AppendHeader(nil, V2, f); !errors.Is(err, ErrTooLong) {
		t.Fatalf("CN of %d bytes: err %v, want ErrTooLong", n+1, err)
	}
	if _, err := AppendHeader(nil, V1, f); err != nil {
		t.Fatalf("v1 does not carry the CN but failed: %v", err)
	}
}

// TestClientCertLengthLimit checks the edge of the 16-bit len field with the certificate: the
// largest that fits encodes and parses back, one byte more is refused with ErrClientCertTooLong
// (which is also ErrTooLong), and the header then goes without it, as the reactor sends it.
func TestClientCertLengthLimit(t *testing.T) {
	f := Facts{Src: v6Client, Dst: v6Local, TLS: true, Version: "TLSv1.3", ClientCert: true, ClientCN: "phone"}
	// len = 36 addresses + 3 SSL TLV header + 5 client/verify + (3+7) version + (3+5) CN + (3+n) cert
	n := 65535 - 36 - 3 - 5 - (3 + 7) - (3 + 5) - 3
	f.ClientCertDER = bytes.Repeat([]byte{0xAB}, n)
	hdr, err := AppendHeader(nil, V2, f)
	if err != nil {
		t.Fatalf("certificate of %d bytes: %v", n, err)
	}
	if len(hdr) != 16+65535 {
		t.Fatalf("header is %d bytes, want %d", len(hdr), 16+65535)
	}
	checkRoundTrip(t, V2, f, hdr)

	f.ClientCertDER = append(f.ClientCertDER, 0xAB)
	_, err = AppendHeader(nil, V2, f)
	if !errors.Is(err, ErrClientCertTooLong) || !errors.Is(err, ErrTooLong) {
		t.Fatalf("certificate of %d bytes: err %v, want ErrClientCertTooLong wrapping ErrTooLong", n+1, err)
	}
	f.ClientCertDER = nil
	hdr, err = AppendHeader(nil, V2, f)
	if err != nil {
		t.Fatalf("without the certificate: %v", err)
	}
	checkRoundTrip(t, V2, f, hdr)
	// v1 carries no TLS facts, so the certificate never makes it fail.
	f.ClientCertDER = make([]byte, 70000)
	if _, err := AppendHeader(nil, V1, f); err != nil {
		t.Fatalf("v1: %v", err)
	}
}

// TestClientCertRealCertificate sends a real DER certificate and has the receiver's library
// hand it back to crypto/x509.
func TestClientCertRealCertificate(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1001),
		Subject:      pkix.Name{CommonName: "phone-1001", Organization: []string{"Example Telecom"}},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		DNSNames:     []string{"1001.phones.example.net"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := fullFacts(v4Client, v4Local)
	f.ClientCN, f.ClientCertDER = "phone-1001", der
	hdr, err := AppendHeader(nil, V2, f)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, V2, f, hdr)
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	tlvs, _ := h.TLVs()
	for _, tlv := range tlvs {
		if tlv.Type != proxyproto.PP2_TYPE_SSL {
			continue
		}
		ssl, err := tlvparse.SSL(tlv)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ssl.ClientCert()
		if !ok {
			t.Fatal("no PP2_SUBTYPE_SSL_CLIENT_CERT")
		}
		cert, err := x509.ParseCertificate(got)
		if err != nil || cert.Subject.CommonName != "phone-1001" {
			t.Fatalf("parsed back: %v %v", cert, err)
		}
		t.Logf("header with a %d-byte ECDSA certificate: %d bytes", len(der), len(hdr))
		return
	}
	t.Fatal("no PP2_TYPE_SSL")
}

// TestAppendHeaderAllocs: with room in dst nothing is allocated; without, exactly one growth.
func TestAppendHeaderAllocs(t *testing.T) {
	f := fullFacts(v6Client, v6Local)
	for _, p := range []ProxyProtocol{V1, V2} {
		buf := make([]byte, 0, 512)
		if n := testing.AllocsPerRun(100, func() {
			buf, _ = AppendHeader(buf[:0], p, f)
		}); n != 0 {
			t.Errorf("%v into a large enough dst: %v allocs, want 0", p, n)
		}
		if raceEnabled {
			continue
		}
		if n := testing.AllocsPerRun(100, func() {
			buf, _ = AppendHeader(nil, p, f)
		}); n != 1 {
			t.Errorf("%v into nil: %v allocs, want 1", p, n)
		}
	}
}

func BenchmarkAppendHeader(b *testing.B) {
	for _, p := range []ProxyProtocol{V1, V2} {
		for _, a := range []struct {
			name     string
			src, dst netip.AddrPort
		}{{"ipv4", v4Client, v4Local}, {"ipv6", v6Client, v6Local}} {
			b.Run(p.String()+"/"+a.name, func(b *testing.B) {
				f := fullFacts(a.src, a.dst)
				buf := make([]byte, 0, 512)
				hdr, _ := AppendHeader(buf, p, f)
				b.SetBytes(int64(len(hdr)))
				b.ReportAllocs()
				for b.Loop() {
					buf, _ = AppendHeader(buf[:0], p, f)
				}
			})
		}
	}
}
