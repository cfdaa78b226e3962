package forward

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
)

// The helpers here are the test oracle: they parse AppendHeader's bytes with go-proxyproto, an
// implementation written independently of ours, and compare every field with what Facts says.
// They restate the rules from the spec rather than calling the code under test.

// sipTrailer follows the header in every parse, so a wrong length field shows up as bytes eaten
// from, or left before, the first SIP message.
const sipTrailer = "OPTIONS sip:core.example.com SIP/2.0\r\n"

// wantFamily restates the address rules of the package doc: unmap IPv4-mapped addresses, drop
// zones, and give up (0) on a missing side or mixed families.
func wantFamily(f Facts) (src, dst netip.AddrPort, fam int) {
	norm := func(ap netip.AddrPort) netip.AddrPort {
		a := ap.Addr()
		if a.Is4In6() {
			a = netip.AddrFrom4(a.As4())
		}
		return netip.AddrPortFrom(a.WithZone(""), ap.Port())
	}
	if !f.Src.IsValid() || !f.Dst.IsValid() {
		return src, dst, 0
	}
	src, dst = norm(f.Src), norm(f.Dst)
	switch {
	case src.Addr().Is4() && dst.Addr().Is4():
		return src, dst, 4
	case src.Addr().Is6() && dst.Addr().Is6():
		return src, dst, 6
	}
	return src, dst, 0
}

// parsedAddr turns go-proxyproto's net.Addr back into a netip.AddrPort; fam 4 unmaps, because
// net.IP may hold an IPv4 address in its 16-byte form.
func parsedAddr(t testing.TB, a net.Addr, fam int) netip.AddrPort {
	t.Helper()
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		t.Fatalf("go-proxyproto gave address %T %v, want *net.TCPAddr", a, a)
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		t.Fatalf("go-proxyproto gave IP %v", tcp.IP)
	}
	if fam == 4 {
		ip = ip.Unmap()
	}
	return netip.AddrPortFrom(ip, uint16(tcp.Port))
}

// checkRoundTrip parses hdr with go-proxyproto and fails t unless it says exactly what f says.
func checkRoundTrip(t testing.TB, p ProxyProtocol, f Facts, hdr []byte) {
	t.Helper()
	if p == None {
		if len(hdr) != 0 {
			t.Fatalf("None wrote % x", hdr)
		}
		return
	}
	r := bufio.NewReader(bytes.NewReader(append(bytes.Clone(hdr), sipTrailer...)))
	h, err := proxyproto.Read(r)
	if err != nil {
		t.Fatalf("go-proxyproto rejects the header: %v\n% x", err, hdr)
	}
	if rest, _ := io.ReadAll(r); string(rest) != sipTrailer {
		t.Fatalf("after the header go-proxyproto left %q, want the SIP trailer: the length is wrong", rest)
	}

	src, dst, fam := wantFamily(f)
	switch p {
	case V1:
		if h.Version != 1 {
			t.Errorf("version %d, want 1", h.Version)
		}
		if len(hdr) > 107 {
			t.Errorf("v1 line is %d bytes, the spec allows 107", len(hdr))
		}
		if fam == 0 {
			if string(hdr) != "PROXY UNKNOWN\r\n" {
				t.Errorf("got %q, want the short UNKNOWN form", hdr)
			}
			if h.TransportProtocol != proxyproto.UNSPEC {
				t.Errorf("transport %#x, want UNSPEC", h.TransportProtocol)
			}
			return
		}
	case V2:
		if h.Version != 2 {
			t.Errorf("version %d, want 2", h.Version)
		}
		if fam == 0 {
			if h.Command != proxyproto.LOCAL || h.TransportProtocol != proxyproto.UNSPEC {
				t.Errorf("command %#x family %#x, want LOCAL AF_UNSPEC", h.Command, h.TransportProtocol)
			}
			if h.SourceAddr != nil || h.DestinationAddr != nil {
				t.Errorf("LOCAL header carries addresses %v %v", h.SourceAddr, h.DestinationAddr)
			}
		} else if h.Command != proxyproto.PROXY {
			t.Errorf("command %#x, want PROXY", h.Command)
		}
		checkTLVs(t, f, h)
		if fam == 0 {
			return
		}
	}

	wantTP := proxyproto.TCPv4
	if fam == 6 {
		wantTP = proxyproto.TCPv6
	}
	if h.TransportProtocol != wantTP {
		t.Errorf("transport %#x, want %#x", h.TransportProtocol, wantTP)
	}
	if got := parsedAddr(t, h.SourceAddr, fam); got != src {
		t.Errorf("source %v, want %v", got, src)
	}
	if got := parsedAddr(t, h.DestinationAddr, fam); got != dst {
		t.Errorf("destination %v, want %v", got, dst)
	}
}

// checkTLVs checks the v2 TLVs: AUTHORITY when SNI is set, then PP2_TYPE_SSL when TLS is set,
// nothing else, and inside the SSL TLV the client bits, verify and every sub-TLV in order.
func checkTLVs(t testing.TB, f Facts, h *proxyproto.Header) {
	t.Helper()
	tlvs, err := h.TLVs()
	if err != nil {
		t.Fatalf("TLVs: %v", err)
	}
	var want []proxyproto.PP2Type
	if f.SNI != "" {
		want = append(want, proxyproto.PP2_TYPE_AUTHORITY)
	}
	if f.TLS {
		want = append(want, proxyproto.PP2_TYPE_SSL)
	}
	if len(tlvs) != len(want) {
		t.Fatalf("got %d TLVs %v, want types %v", len(tlvs), tlvs, want)
	}
	for i, tlv := range tlvs {
		if tlv.Type != want[i] {
			t.Fatalf("TLV %d has type %#x, want %#x", i, tlv.Type, want[i])
		}
		switch tlv.Type {
		case proxyproto.PP2_TYPE_AUTHORITY:
			if string(tlv.Value) != f.SNI {
				t.Errorf("AUTHORITY %q, want %q", tlv.Value, f.SNI)
			}
		case proxyproto.PP2_TYPE_SSL:
			checkSSL(t, f, tlv)
		}
	}
}

func checkSSL(t testing.TB, f Facts, tlv proxyproto.TLV) {
	t.Helper()
	ssl, err := tlvparse.SSL(tlv)
	if err != nil {
		t.Fatalf("tlvparse.SSL: %v (% x)", err, tlv.Value)
	}
	if !ssl.ClientSSL() {
		t.Error("PP2_CLIENT_SSL clear")
	}
	if ssl.ClientCertSess() != f.ClientCert {
		t.Errorf("PP2_CLIENT_CERT_SESS %v, want %v (ClientCert)", ssl.ClientCertSess(), f.ClientCert)
	}
	if want := f.ClientCert && !f.Resumed; ssl.ClientCertConn() != want {
		t.Errorf("PP2_CLIENT_CERT_CONN %v, want %v (ClientCert %v, Resumed %v)",
			ssl.ClientCertConn(), want, f.ClientCert, f.Resumed)
	}
	if extra := ssl.Client &^ 0x07; extra != 0 {
		t.Errorf("undefined client bits %#x", extra)
	}
	wantVerify := f.VerifyResult
	if !f.ClientCert && wantVerify == 0 {
		wantVerify = 1 // never "verified" without a certificate
	}
	if ssl.Verify != wantVerify {
		t.Errorf("verify %d, want %d", ssl.Verify, wantVerify)
	}
	if want := f.ClientCert && f.VerifyResult == 0; ssl.Verified() != want {
		t.Errorf("Verified() %v, want %v", ssl.Verified(), want)
	}

	type sub struct {
		typ   proxyproto.PP2Type
		value string
	}
	var want []sub
	for _, s := range []sub{ // HAProxy's order
		{proxyproto.PP2_SUBTYPE_SSL_VERSION, f.Version},
		{proxyproto.PP2_SUBTYPE_SSL_CN, f.ClientCN},
		{proxyproto.PP2_SUBTYPE_SSL_KEY_ALG, f.KeyAlg},
		{proxyproto.PP2_SUBTYPE_SSL_SIG_ALG, f.SigAlg},
		{proxyproto.PP2_SUBTYPE_SSL_CIPHER, f.Cipher},
	} {
		if s.value != "" {
			want = append(want, s)
		}
	}
	if len(f.ClientCertDER) > 0 { // a sender's option, sent last
		want = append(want, sub{proxyproto.PP2_SUBTYPE_SSL_CLIENT_CERT, string(f.ClientCertDER)})
	}
	if len(ssl.TLV) != len(want) {
		t.Fatalf("got %d SSL sub-TLVs %v, want %v", len(ssl.TLV), ssl.TLV, want)
	}
	for i, s := range ssl.TLV {
		if s.Type != want[i].typ || string(s.Value) != want[i].value {
			t.Errorf("sub-TLV %d is %#x %q, want %#x %q", i, s.Type, s.Value, want[i].typ, want[i].value)
		}
	}
	// The accessors a core written with go-proxyproto would call.
	for _, c := range []struct {
		name  string
		get   func() (string, bool)
		value string
	}{
		{"SSLVersion", ssl.SSLVersion, f.Version},
		{"ClientCN", ssl.ClientCN, f.ClientCN},
		{"SSLKeyAlg", ssl.SSLKeyAlg, f.KeyAlg},
		{"SSLSigAlg", ssl.SSLSigAlg, f.SigAlg},
		{"SSLCipher", ssl.SSLCipher, f.Cipher},
	} {
		if got, ok := c.get(); got != c.value || ok != (c.value != "") {
			t.Errorf("%s() = %q, %v; want %q, %v", c.name, got, ok, c.value, c.value != "")
		}
	}
	if der, ok := ssl.ClientCert(); !bytes.Equal(der, f.ClientCertDER) || ok != (len(f.ClientCertDER) > 0) {
		t.Errorf("ClientCert() = %d bytes, %v; want %d bytes", len(der), ok, len(f.ClientCertDER))
	}
}
