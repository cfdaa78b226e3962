package reactor_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/testcert"
	"github.com/tlsmux/tlsmux/profile"
	"github.com/tlsmux/tlsmux/reactor"
)

// TLS alert codes (RFC 8446 §6.2) the server sends when it refuses a client certificate.
const (
	alertHandshakeFailure    = 40
	alertUnknownCA           = 48
	alertCertificateRequired = 116
)

// mtlsProfile builds the server config as the daemon does for
// -certificate -private-key -ca-list -verify-certificate -require-certificate (and
// -session-cache if sessions), from files written by testcert, and stores what profile reports
// about it in info.
func mtlsProfile(t testing.TB, info *profile.Info, sessions bool) func(*testcert.PKI) *tls.Config {
	return func(pki *testcert.PKI) *tls.Config {
		dir := t.TempDir()
		certFile, keyFile, err := pki.WriteServerFiles(dir, "sip.example.net")
		require.NoError(t, err)
		caFile, err := pki.WriteCAFile(dir)
		require.NoError(t, err)
		cfg, in, err := profile.Server{
			Certificate:        certFile,
			PrivateKey:         keyFile,
			CAList:             caFile,
			VerifyCertificate:  true,
			RequireCertificate: true,
			SessionCache:       sessions,
		}.Build(time.Now(), nil)
		require.NoError(t, err)
		require.Empty(t, in.Warnings)
		require.Equal(t, tls.RequireAndVerifyClientCert, cfg.ClientAuth)
		*info = in
		return cfg
	}
}

// startMTLS starts tlsmux with the mTLS profile, PROXY v2 to the core, and SSL_SIG_ALG /
// SSL_KEY_ALG taken from the profile as the daemon takes them.
func startMTLS(t testing.TB) (*env, *profile.Info, <-chan *sipcore.ConnInfo) {
	return startMTLSProfile(t, false)
}

func startMTLSProfile(t testing.TB, sessions bool) (*env, *profile.Info, <-chan *sipcore.ConnInfo) {
	var co sipcore.Options
	conns := coreConns(&co)
	info := new(profile.Info)
	e := start(t, setup{core: co, config: mtlsProfile(t, info, sessions), opts: func(o *reactor.Options) {
		o.ProxyProtocol = forward.V2
		o.SigAlg, o.KeyAlg = info.SigAlg, info.KeyAlg
	}})
	require.NotEmpty(t, info.SigAlg)
	require.Equal(t, "EC256", info.KeyAlg, "testcert makes ECDSA P-256 keys")
	return e, info, conns
}

// refusal dials with cfg and returns the error that ends the connection: from the handshake
// in TLS 1.2, where the server judges the client's certificate before sending its Finished; from
// the first read in TLS 1.3, where the client finishes its side first and the server's verdict
// arrives as an alert afterwards. nil means the server accepted the client.
func (e *env) refusal(cfg *tls.Config) error {
	c, err := e.dial(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// requireAlert checks that err is the fatal alert want, received from the server.
func requireAlert(t testing.TB, err error, want uint8) {
	t.Helper()
	require.Error(t, err, "the server accepted the client")
	var op *net.OpError
	require.ErrorAs(t, err, &op, "not a received alert: %v", err)
	assert.Equal(t, "remote error", op.Op, "%v", err)
	// crypto/tls reports a received alert as its unexported alert type, whose text is the one
	// AlertError prints for the same code.
	assert.Equal(t, tls.AlertError(want).Error(), op.Err.Error(), "alert received")
}

// TestMTLS runs the -require-certificate -verify-certificate profile: a client certificate from
// the CA is accepted and described to the core; a missing or untrusted one is refused with the
// alert crypto/tls sends, counted as handshake_failed, and never reaches the core.
func TestMTLS(t *testing.T) {
	e, info, conns := startMTLS(t)
	good, err := e.pki.Client("alice")
	require.NoError(t, err)
	stranger, err := testcert.MustNew().Client("mallory") // a CA the server does not trust
	require.NoError(t, err)

	failed := uint64(0) // handshake_failed closes so far
	for _, v := range []struct {
		vers      uint16
		name      string
		noCert    uint8 // the alert for a missing certificate
		untrusted uint8
	}{
		// RFC 8446 §4.4.2.4: certificate_required; TLS 1.2 has no such alert, and crypto/tls sends
		// handshake_failure (RFC 5246 §7.4.6 allows it).
		{tls.VersionTLS12, "TLSv1.2", alertHandshakeFailure, alertUnknownCA},
		{tls.VersionTLS13, "TLSv1.3", alertCertificateRequired, alertUnknownCA},
	} {
		client := func(certs ...tls.Certificate) *tls.Config {
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v.vers, v.vers
			if len(certs) > 0 {
				// Send the certificate whatever CAs the server names: crypto/tls's own choice
				// (Certificates) would send none that does not chain to one of them.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &certs[0], nil
				}
			}
			return cfg
		}
		t.Run(v.name+"/good", func(t *testing.T) {
			c, err := e.dial(client(good))
			require.NoError(t, err)
			defer c.Close()
			for i, size := range []int{400, 5000} {
				require.NoError(t, echo(c, sipMessage(t, i, size)))
			}
			cs := c.ConnectionState()
			checkProxy(t, nextConn(t, conns), wantProxy{
				version: 2,
				src:     addrPort(t, c.LocalAddr()),
				dst:     addrPort(t, e.srv.Addrs()[0]),
				sni:     "sip.example.net",
				client: tlvparse.PP2_BITFIELD_CLIENT_SSL | tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN |
					tlvparse.PP2_BITFIELD_CLIENT_CERT_SESS,
				verify: true,
				sub:    sslSub(v.name, opensslCipher[cs.CipherSuite], info.SigAlg, info.KeyAlg, "alice"),
			})
		})
		for _, tc := range []struct {
			name  string
			certs []tls.Certificate
			alert uint8
		}{
			{"missing", nil, v.noCert},
			{"untrusted", []tls.Certificate{stranger}, v.untrusted},
		} {
			t.Run(v.name+"/"+tc.name, func(t *testing.T) {
				requireAlert(t, e.refusal(client(tc.certs...)), tc.alert)
				failed++
				waitFor(t, "the close to be counted as handshake_failed", func() bool {
					return e.srv.Stats().Closed["handshake_failed"] == failed
				})
			})
		}
	}
	st := e.srv.Stats()
	assert.EqualValues(t, 2, st.Handshakes, "only the good clients completed a handshake")
	assert.EqualValues(t, 2, e.core.Stats().Accepted, "only the good clients reached the core")
}

// TestMTLSRefusalsCounted: every refused client is counted as handshake_failed, also when the
// client closes as soon as our alert reaches it, which can be before the loop has collected the
// handshake's verdict (a few in a hundred did so before the reactor told the two apart).
func TestMTLSRefusalsCounted(t *testing.T) {
	e, _, _ := startMTLS(t)
	stranger, err := testcert.MustNew().Client("mallory")
	require.NoError(t, err)
	const n = 200
	for i := range n {
		cfg := e.client.Clone()
		cfg.MaxVersion = tls.VersionTLS12 // the alert comes before the client's handshake ends
		if i%2 == 0 {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &stranger, nil
			}
		}
		require.Error(t, e.refusal(cfg))
	}
	waitFor(t, "every refused connection to close", func() bool { return e.srv.Stats().Open == 0 })
	assert.Equal(t, map[string]uint64{"handshake_failed": n}, e.srv.Stats().Closed)
}

// TestMTLSResumed: on a resumed session no certificate crosses the connection, yet the session
// has one (crypto/tls restores the peer's chain from the ticket): PP2_CLIENT_CERT_SESS without
// PP2_CLIENT_CERT_CONN, and the CN and verify result of the original handshake.
func TestMTLSResumed(t *testing.T) {
	e, info, conns := startMTLSProfile(t, true)
	alice, err := e.pki.Client("alice")
	require.NoError(t, err)
	for _, v := range []struct {
		vers uint16
		name string
	}{{tls.VersionTLS12, "TLSv1.2"}, {tls.VersionTLS13, "TLSv1.3"}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v.vers, v.vers
			cfg.Certificates = []tls.Certificate{alice}
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			for i, resumed := range []bool{false, true} {
				c, err := e.dial(cfg)
				require.NoError(t, err)
				// The echo's read also takes in a TLS 1.3 ticket, which comes after the handshake.
				require.NoError(t, echo(c, sipMessage(t, i, 400)))
				cs := c.ConnectionState()
				require.NoError(t, c.Close())
				require.Equal(t, resumed, cs.DidResume, "connection %d resumed", i)
				flags := tlvparse.PP2_BITFIELD_CLIENT_SSL | tlvparse.PP2_BITFIELD_CLIENT_CERT_SESS
				if !resumed {
					flags |= tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN
				}
				checkProxy(t, nextConn(t, conns), wantProxy{
					version: 2,
					src:     addrPort(t, c.LocalAddr()),
					dst:     addrPort(t, e.srv.Addrs()[0]),
					sni:     "sip.example.net",
					client:  flags,
					verify:  true,
					sub:     sslSub(v.name, opensslCipher[cs.CipherSuite], info.SigAlg, info.KeyAlg, "alice"),
				})
			}
		})
	}
	assert.EqualValues(t, 2, e.srv.Stats().Resumed)
}

// TestProxyClientCert: with ProxyClientCert the PROXY v2 header carries the client's leaf
// certificate, DER, as PP2_SUBTYPE_SSL_CLIENT_CERT (0x28), and the core can parse it back.
func TestProxyClientCert(t *testing.T) {
	var co sipcore.Options
	conns := coreConns(&co)
	info := new(profile.Info)
	e := start(t, setup{core: co, config: mtlsProfile(t, info, false), opts: func(o *reactor.Options) {
		o.ProxyProtocol = forward.V2
		o.ProxyClientCert = true
	}})
	alice, err := e.pki.Client("alice")
	require.NoError(t, err)
	cfg := e.client.Clone()
	cfg.Certificates = []tls.Certificate{alice}
	c, err := e.dial(cfg)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 1, 300)))
	ci := nextConn(t, conns)
	var der []byte
	for _, tlv := range ci.TLVs {
		if tlv.Type != proxyproto.PP2_TYPE_SSL {
			continue
		}
		ssl, err := tlvparse.SSL(tlv)
		require.NoError(t, err)
		for _, st := range ssl.TLV {
			if st.Type == 0x28 {
				der = st.Value
			}
		}
	}
	require.NotEmpty(t, der, "PP2_SUBTYPE_SSL_CLIENT_CERT present")
	assert.Equal(t, alice.Certificate[0], der, "the client's leaf, DER")
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	assert.Equal(t, "alice", leaf.Subject.CommonName)
}
