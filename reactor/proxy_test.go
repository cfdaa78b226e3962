package reactor_test

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/reactor"
)

// opensslCipher is the OpenSSL name (SSL_CIPHER_get_name, what HAProxy sends in SSL_CIPHER) of
// the suites these tests negotiate, written out here rather than taken from package forward, so
// that a wrong entry there fails.
var opensslCipher = map[uint16]string{
	tls.TLS_AES_128_GCM_SHA256:                        "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:                        "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256:                  "TLS_CHACHA20_POLY1305_SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
}

// coreConns makes the core require a PROXY header and returns the channel on which every
// connection's parsed header arrives (sipcore calls OnConn once the header is read, before any
// SIP is handled).
func coreConns(o *sipcore.Options) <-chan *sipcore.ConnInfo {
	ch := make(chan *sipcore.ConnInfo, 64)
	o.ProxyProtocol = true
	o.OnConn = func(ci *sipcore.ConnInfo) {
		select {
		case ch <- ci:
		default: // a test that does not look at every connection must not stall the core
		}
	}
	return ch
}

// nextConn returns the next connection the core accepted.
func nextConn(t testing.TB, ch <-chan *sipcore.ConnInfo) *sipcore.ConnInfo {
	t.Helper()
	select {
	case ci := <-ch:
		return ci
	case <-time.After(10 * time.Second):
		t.Fatal("the core accepted no connection")
		return nil
	}
}

// addrPort is a's address and port with an IPv4-mapped address unmapped, as the PROXY header
// carries it.
func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ta, ok := a.(*net.TCPAddr)
	require.True(t, ok, "not a TCP address: %v", a)
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// wantProxy is what the core must read in the PROXY header of one connection.
type wantProxy struct {
	version  byte // 1 or 2
	src, dst netip.AddrPort

	// v2 only
	sni    string                        // PP2_TYPE_AUTHORITY
	client uint8                         // pp2_tlv_ssl.client
	verify bool                          // pp2_tlv_ssl.verify == 0
	sub    map[proxyproto.PP2Type]string // every PP2_TYPE_SSL sub-TLV
}

// checkProxy compares the header the core parsed (with go-proxyproto, independent of tlsmux's
// encoder) with w, TLV by TLV: a TLV that w does not list is an error too.
func checkProxy(t testing.TB, ci *sipcore.ConnInfo, w wantProxy) {
	t.Helper()
	h := ci.Proxy
	require.NotNil(t, h, "no PROXY header")
	assert.Equal(t, w.version, h.Version, "PROXY version")
	assert.Equal(t, proxyproto.PROXY, h.Command)
	wantFam := proxyproto.TCPv4
	if w.src.Addr().Is6() {
		wantFam = proxyproto.TCPv6
	}
	assert.Equal(t, wantFam, h.TransportProtocol, "family (TCP4 / TCP6)")
	assert.Equal(t, w.src, ci.Source, "source: the client's address")
	assert.Equal(t, w.dst, ci.Dest, "destination: the listener the client reached")
	if w.version == 1 {
		assert.Empty(t, ci.TLVs, "v1 carries no TLVs")
		return
	}
	var sawAuthority, sawSSL bool
	for _, tlv := range ci.TLVs {
		switch tlv.Type {
		case proxyproto.PP2_TYPE_AUTHORITY:
			assert.False(t, sawAuthority, "PP2_TYPE_AUTHORITY twice")
			sawAuthority = true
			assert.Equal(t, w.sni, string(tlv.Value), "PP2_TYPE_AUTHORITY (SNI)")
		case proxyproto.PP2_TYPE_SSL:
			assert.False(t, sawSSL, "PP2_TYPE_SSL twice")
			sawSSL = true
			ssl, err := tlvparse.SSL(tlv)
			require.NoError(t, err, "PP2_TYPE_SSL")
			assert.Equal(t, w.client, ssl.Client, "pp2_tlv_ssl.client flags")
			assert.True(t, ssl.ClientSSL(), "PP2_CLIENT_SSL")
			assert.Equal(t, w.client&tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN != 0, ssl.ClientCertConn(), "PP2_CLIENT_CERT_CONN")
			assert.Equal(t, w.client&tlvparse.PP2_BITFIELD_CLIENT_CERT_SESS != 0, ssl.ClientCertSess(), "PP2_CLIENT_CERT_SESS")
			assert.Equal(t, w.verify, ssl.Verified(), "pp2_tlv_ssl.verify == 0 (verify is %d)", ssl.Verify)
			got := map[proxyproto.PP2Type]string{}
			for _, st := range ssl.TLV {
				_, dup := got[st.Type]
				assert.False(t, dup, "sub-TLV %#x twice", st.Type)
				got[st.Type] = string(st.Value)
			}
			assert.Equal(t, w.sub, got, "PP2_TYPE_SSL sub-TLVs")
			// The accessors a core would use agree with the raw sub-TLVs.
			v, _ := ssl.SSLVersion()
			assert.Equal(t, w.sub[proxyproto.PP2_SUBTYPE_SSL_VERSION], v)
			cn, _ := ssl.ClientCN()
			assert.Equal(t, w.sub[proxyproto.PP2_SUBTYPE_SSL_CN], cn)
			cipher, _ := ssl.SSLCipher()
			assert.Equal(t, w.sub[proxyproto.PP2_SUBTYPE_SSL_CIPHER], cipher)
		default:
			t.Errorf("unexpected TLV %#x (%q)", tlv.Type, tlv.Value)
		}
	}
	assert.Equal(t, w.sni != "", sawAuthority, "PP2_TYPE_AUTHORITY present")
	assert.True(t, sawSSL, "PP2_TYPE_SSL present")
}

// sslSub lists the PP2_TYPE_SSL sub-TLVs a connection must carry; empty values are left out.
func sslSub(version, cipher, sigAlg, keyAlg, cn string) map[proxyproto.PP2Type]string {
	m := map[proxyproto.PP2Type]string{}
	for typ, v := range map[proxyproto.PP2Type]string{
		proxyproto.PP2_SUBTYPE_SSL_VERSION: version,
		proxyproto.PP2_SUBTYPE_SSL_CIPHER:  cipher,
		proxyproto.PP2_SUBTYPE_SSL_SIG_ALG: sigAlg,
		proxyproto.PP2_SUBTYPE_SSL_KEY_ALG: keyAlg,
		proxyproto.PP2_SUBTYPE_SSL_CN:      cn,
	} {
		if v != "" {
			m[typ] = v
		}
	}
	return m
}

// TestProxyProtocol checks the header tlsmux opens each backend connection with, in both
// formats and both TLS versions, against go-proxyproto's parse of it at the core.
func TestProxyProtocol(t *testing.T) {
	const sigAlg, keyAlg = "ECDSA-SHA256", "EC256" // passed through as given
	versions := []struct {
		vers  uint16
		name  string
		suite uint16 // TLS 1.2: pinned, and not the server's first choice; TLS 1.3: Go's choice
	}{
		{tls.VersionTLS12, "TLSv1.2", tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{tls.VersionTLS13, "TLSv1.3", 0},
	}
	for _, pp := range []forward.ProxyProtocol{forward.V1, forward.V2} {
		t.Run(pp.String(), func(t *testing.T) {
			var co sipcore.Options
			conns := coreConns(&co)
			e := start(t, setup{core: co, opts: func(o *reactor.Options) {
				o.ProxyProtocol = pp
				o.SigAlg, o.KeyAlg = sigAlg, keyAlg
			}})
			for i, v := range versions {
				t.Run(v.name, func(t *testing.T) {
					cfg := e.client.Clone()
					cfg.MinVersion, cfg.MaxVersion = v.vers, v.vers
					if v.suite != 0 {
						cfg.CipherSuites = []uint16{v.suite}
					}
					c, err := e.dial(cfg)
					require.NoError(t, err)
					defer c.Close()
					require.NoError(t, echo(c, sipMessage(t, i, 500)))
					cs := c.ConnectionState()
					if v.suite != 0 {
						require.Equal(t, v.suite, cs.CipherSuite)
					}
					cipher, ok := opensslCipher[cs.CipherSuite]
					require.True(t, ok, "no OpenSSL name in the test for %s", tls.CipherSuiteName(cs.CipherSuite))
					w := wantProxy{
						version: 1,
						src:     addrPort(t, c.LocalAddr()),
						dst:     addrPort(t, e.srv.Addrs()[0]),
					}
					if pp == forward.V2 {
						w.version = 2
						w.sni = "sip.example.net"
						w.client = tlvparse.PP2_BITFIELD_CLIENT_SSL
						w.sub = sslSub(v.name, cipher, sigAlg, keyAlg, "")
					}
					checkProxy(t, nextConn(t, conns), w)
				})
			}
		})
	}
}

// TestProxyProtocolNoSNI: a client that sends no server_name gets no PP2_TYPE_AUTHORITY.
func TestProxyProtocolNoSNI(t *testing.T) {
	var co sipcore.Options
	conns := coreConns(&co)
	e := start(t, setup{core: co, opts: func(o *reactor.Options) { o.ProxyProtocol = forward.V2 }})
	cfg := e.client.Clone()
	cfg.ServerName = "" // DialWithDialer then verifies 127.0.0.1, and an IP literal is never sent as SNI
	c, err := e.dial(cfg)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 0, 400)))
	cs := c.ConnectionState()
	checkProxy(t, nextConn(t, conns), wantProxy{
		version: 2,
		src:     addrPort(t, c.LocalAddr()),
		dst:     addrPort(t, e.srv.Addrs()[0]),
		client:  tlvparse.PP2_BITFIELD_CLIENT_SSL,
		sub:     sslSub("TLSv1.3", opensslCipher[cs.CipherSuite], "", "", ""),
	})
}

// TestProxyProtocolIPv6: a client over ::1 is described as TCP6 (v1) / AF_INET6 (v2).
func TestProxyProtocolIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	for _, pp := range []forward.ProxyProtocol{forward.V1, forward.V2} {
		t.Run(pp.String(), func(t *testing.T) {
			var co sipcore.Options
			conns := coreConns(&co)
			e := start(t, setup{core: co, opts: func(o *reactor.Options) {
				o.Listen = []netip.AddrPort{netip.MustParseAddrPort("[::1]:0")}
				o.ProxyProtocol = pp
			}})
			dst := addrPort(t, e.srv.Addrs()[0])
			require.Equal(t, netip.IPv6Loopback(), dst.Addr(), "listener address")
			c, err := e.dial(nil)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, echo(c, sipMessage(t, 0, 600)))
			src := addrPort(t, c.LocalAddr())
			require.True(t, src.Addr().Is6(), "the client is on ::1")
			w := wantProxy{version: 1, src: src, dst: dst}
			if pp == forward.V2 {
				cs := c.ConnectionState()
				w.version = 2
				w.sni = "sip.example.net"
				w.client = tlvparse.PP2_BITFIELD_CLIENT_SSL
				w.sub = sslSub("TLSv1.3", opensslCipher[cs.CipherSuite], "", "", "")
			}
			checkProxy(t, nextConn(t, conns), w)
		})
	}
}

// TestProxyProtocolWildcardListener: on a listener bound to 0.0.0.0 the destination is the
// address the client actually reached, not the wildcard (gnet's LocalAddr is the listener's).
func TestProxyProtocolWildcardListener(t *testing.T) {
	var co sipcore.Options
	conns := coreConns(&co)
	e := start(t, setup{core: co, opts: func(o *reactor.Options) {
		o.Listen = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:0")}
		o.ProxyProtocol = forward.V1
	}})
	port := addrPort(t, e.srv.Addrs()[0]).Port()
	e.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	c, err := e.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 0, 400)))
	checkProxy(t, nextConn(t, conns), wantProxy{
		version: 1,
		src:     addrPort(t, c.LocalAddr()),
		dst:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port),
	})
}
