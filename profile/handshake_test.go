package profile

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// TLS alert codes (RFC 8446 §6, RFC 5246 §7.2) the tests expect clients to receive.
const (
	alertNone                = 0
	alertHandshakeFailure    = 40
	alertBadCertificate      = 42
	alertUnknownCA           = 48
	alertProtocolVersion     = 70
	alertCertificateRequired = 116
)

const (
	tls12 = tls.VersionTLS12
	tls13 = tls.VersionTLS13

	// handshakeSafetyTimeout bounds a broken test; it is not used to synchronise.
	handshakeSafetyTimeout = 10 * time.Second
	serverGreeting         = "ok"
)

// result is one loopback connection seen from both ends.
type result struct {
	serverErr   error
	clientErr   error
	serverState tls.ConnectionState
	clientState tls.ConnectionState
}

// remoteAlert extracts the alert a crypto/tls client received from its error: crypto/tls
// reports it as a *net.OpError with Op "remote error" wrapping its unexported alert type (a
// uint8).
func remoteAlert(err error) (uint8, bool) {
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, false
	}
	return uint8(v.Uint()), true
}

// connect runs one TLS connection over real loopback TCP: a tls.Server with serverCfg
// against a crypto/tls client with clientCfg. On success the server sends a greeting the
// client reads, so that a TLS 1.3 client, whose handshake completes before the server has
// checked its certificate (RFC 8446 §4.4.2.4), also sees a refusal.
func connect(t *testing.T, serverCfg, clientCfg *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type srvResult struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan srvResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- srvResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(handshakeSafetyTimeout)) // a bound on failure, not synchronisation
		tc := tls.Server(c, serverCfg)
		if err := tc.Handshake(); err != nil {
			done <- srvResult{err: err}
			return
		}
		_, err = io.WriteString(tc, serverGreeting)
		done <- srvResult{err: err, state: tc.ConnectionState()}
	}()

	var r result
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(handshakeSafetyTimeout))
	tc := tls.Client(c, clientCfg)
	if r.clientErr = tc.Handshake(); r.clientErr == nil {
		buf := make([]byte, len(serverGreeting))
		if _, r.clientErr = io.ReadFull(tc, buf); r.clientErr == nil && string(buf) != serverGreeting {
			r.clientErr = fmt.Errorf("read %q", buf)
		}
		r.clientState = tc.ConnectionState()
	}
	s := <-done
	r.serverErr, r.serverState = s.err, s.state
	return r
}

// mtlsFixture is a server PKI, a client PKI with a chain of two intermediates, an untrusted
// PKI, and the files Build needs.
type mtlsFixture struct {
	serverPKI, clientPKI, untrusted *testcert.PKI
	certFile, keyFile, caFile       string
	good, deep, shallow, stranger   tls.Certificate
}

func newMTLSFixture(t *testing.T) *mtlsFixture {
	t.Helper()
	f := &mtlsFixture{serverPKI: testcert.MustNew(), clientPKI: testcert.MustNew(), untrusted: testcert.MustNew()}
	f.certFile, f.keyFile = serverFiles(t, f.serverPKI)
	var err error
	if f.caFile, err = f.clientPKI.WriteCAFile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	i1, err := f.clientPKI.Intermediate("phones issuing CA 1")
	if err != nil {
		t.Fatal(err)
	}
	i2, err := i1.Intermediate("phones issuing CA 2")
	if err != nil {
		t.Fatal(err)
	}
	must := func(c tls.Certificate, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f.good = must(f.clientPKI.Client("phone-direct"))
	f.shallow = must(i1.Client("phone-one-intermediate"))
	f.deep = must(i2.Client("phone-two-intermediates"))
	f.stranger = must(f.untrusted.Client("stranger"))
	return f
}

func (f *mtlsFixture) clientConfig(vers uint16, cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: f.serverPKI.Pool(), ServerName: "localhost", MinVersion: vers, MaxVersion: vers}
	if cert != nil {
		// Send the certificate whatever CAs the server names: a crypto/tls client given
		// Certificates would send nothing when its CA is not among them, and phones have
		// one certificate to offer.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

func versionName(v uint16) string { return strings.ReplaceAll(tls.VersionName(v), " ", "") }

// TestHandshakeClientCertModes drives every client-certificate mode through real handshakes
// over loopback, under TLS 1.2 and TLS 1.3, and checks what each end sees.
func TestHandshakeClientCertModes(t *testing.T) {
	f := newMTLSFixture(t)
	type tc struct {
		name    string
		s       Server
		cert    *tls.Certificate
		alert12 uint8 // alert the client must receive; 0: success
		alert13 uint8
		wantCN  string // peer CN the server must see on success ("" = none)
		depth   bool   // the server error must wrap ErrVerifyDepth
	}
	none := Server{}
	optional := Server{CAList: f.caFile, VerifyCertificate: true}
	required := Server{CAList: f.caFile, VerifyCertificate: true, RequireCertificate: true}
	requireOnly := Server{CAList: f.caFile, RequireCertificate: true}
	depth1 := Server{CAList: f.caFile, RequireCertificate: true, VerifyCertificate: true, VerifyDepth: 1}
	depth2 := Server{CAList: f.caFile, RequireCertificate: true, VerifyCertificate: true, VerifyDepth: 2}
	cases := []tc{
		{name: "off/no cert", s: none},
		{name: "off/cert not requested", s: none, cert: &f.good},
		{name: "optional/no cert", s: optional},
		{name: "optional/good", s: optional, cert: &f.good, wantCN: "phone-direct"},
		{name: "optional/untrusted", s: optional, cert: &f.stranger, alert12: alertUnknownCA, alert13: alertUnknownCA},
		{name: "required/good", s: required, cert: &f.good, wantCN: "phone-direct"},
		{name: "required/missing", s: required, alert12: alertHandshakeFailure, alert13: alertCertificateRequired},
		{name: "required/untrusted", s: required, cert: &f.stranger, alert12: alertUnknownCA, alert13: alertUnknownCA},
		{name: "required/default depth/two intermediates", s: required, cert: &f.deep, wantCN: "phone-two-intermediates"},
		{name: "require only/good", s: requireOnly, cert: &f.good, wantCN: "phone-direct"},
		{name: "require only/untrusted", s: requireOnly, cert: &f.stranger, alert12: alertUnknownCA, alert13: alertUnknownCA},
		{name: "require only/missing", s: requireOnly, alert12: alertHandshakeFailure, alert13: alertCertificateRequired},
		{name: "depth 1/one intermediate", s: depth1, cert: &f.shallow, wantCN: "phone-one-intermediate"},
		{name: "depth 1/two intermediates", s: depth1, cert: &f.deep, alert12: alertBadCertificate, alert13: alertBadCertificate, depth: true},
		{name: "depth 2/two intermediates", s: depth2, cert: &f.deep, wantCN: "phone-two-intermediates"},
		{name: "depth 1/no intermediates", s: depth1, cert: &f.good, wantCN: "phone-direct"},
	}
	for _, vers := range []uint16{tls12, tls13} {
		for _, c := range cases {
			t.Run(versionName(vers)+"/"+c.name, func(t *testing.T) {
				s := c.s
				s.Certificate, s.PrivateKey = f.certFile, f.keyFile
				serverCfg, _, err := s.Build(time.Now(), nil)
				if err != nil {
					t.Fatal(err)
				}
				r := connect(t, serverCfg, f.clientConfig(vers, c.cert))
				want := c.alert12
				if vers == tls13 {
					want = c.alert13
				}
				if want == alertNone {
					if r.clientErr != nil || r.serverErr != nil {
						t.Fatalf("client: %v; server: %v", r.clientErr, r.serverErr)
					}
					if r.serverState.Version != vers {
						t.Errorf("negotiated %s", tls.VersionName(r.serverState.Version))
					}
					gotCN := ""
					if len(r.serverState.PeerCertificates) > 0 {
						gotCN = r.serverState.PeerCertificates[0].Subject.CommonName
						if len(r.serverState.VerifiedChains) == 0 {
							t.Error("peer certificate accepted without a verified chain")
						}
					}
					if gotCN != c.wantCN {
						t.Errorf("server saw client CN %q, want %q", gotCN, c.wantCN)
					}
					return
				}
				got, ok := remoteAlert(r.clientErr)
				if !ok || got != want {
					t.Errorf("client error %v (alert %d, %v), want alert %d", r.clientErr, got, ok, want)
				}
				if r.serverErr == nil {
					t.Error("server accepted the handshake")
				}
				if c.depth != errors.Is(r.serverErr, ErrVerifyDepth) {
					t.Errorf("server error %v; ErrVerifyDepth expected: %v", r.serverErr, c.depth)
				}
			})
		}
	}
}

// TestHandshakeNegotiation checks that method, cipher list and curves reach the wire.
func TestHandshakeNegotiation(t *testing.T) {
	pki := testcert.MustNew()
	certFile, keyFile := serverFiles(t, pki)
	client := func(min, max uint16) *tls.Config {
		return &tls.Config{RootCAs: pki.Pool(), ServerName: "localhost", MinVersion: min, MaxVersion: max}
	}
	for _, tt := range []struct {
		name   string
		s      Server
		client *tls.Config
		check  func(t *testing.T, r result)
	}{
		{"default curve is X25519 even when the client offers the hybrid", Server{}, client(tls13, tls13), func(t *testing.T, r result) {
			if r.serverState.CurveID != tls.X25519 {
				t.Errorf("curve %v", r.serverState.CurveID)
			}
		}},
		{"hybrid when listed", Server{Curves: "X25519MLKEM768:X25519"}, client(tls13, tls13), func(t *testing.T, r result) {
			if r.serverState.CurveID != tls.X25519MLKEM768 {
				t.Errorf("curve %v", r.serverState.CurveID)
			}
		}},
		{"P-256 only", Server{Curves: "prime256v1"}, client(tls12, tls13), func(t *testing.T, r result) {
			if r.serverState.CurveID != tls.CurveP256 {
				t.Errorf("curve %v", r.serverState.CurveID)
			}
		}},
		{"cipher list restricts TLS 1.2", Server{CipherList: "ECDHE-ECDSA-CHACHA20-POLY1305"}, client(tls12, tls12), func(t *testing.T, r result) {
			if r.serverState.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
				t.Errorf("suite %s", tls.CipherSuiteName(r.serverState.CipherSuite))
			}
		}},
		{"TLSv1.3 refuses a TLS 1.2 client", Server{TLSMethod: "TLSv1.3"}, client(tls12, tls12), func(t *testing.T, r result) {
			if a, _ := remoteAlert(r.clientErr); a != alertProtocolVersion || r.serverErr == nil {
				t.Errorf("client %v, server %v", r.clientErr, r.serverErr)
			}
		}},
		{"TLSv1.2 caps the version", Server{TLSMethod: "TLSv1.2"}, client(tls12, tls13), func(t *testing.T, r result) {
			if r.serverState.Version != tls12 {
				t.Errorf("version %s", tls.VersionName(r.serverState.Version))
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.Certificate, s.PrivateKey = certFile, keyFile
			cfg, _, err := s.Build(time.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := connect(t, cfg, tt.client)
			if !strings.Contains(tt.name, "refuses") && (r.clientErr != nil || r.serverErr != nil) {
				t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
			}
			tt.check(t, r)
		})
	}
}

// TestHandshakeSessionCache checks that session_cache turns resumption on and off.
func TestHandshakeSessionCache(t *testing.T) {
	pki := testcert.MustNew()
	certFile, keyFile := serverFiles(t, pki)
	for _, vers := range []uint16{tls12, tls13} {
		for _, on := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/session_cache=%v", versionName(vers), on), func(t *testing.T) {
				cfg, _, err := Server{Certificate: certFile, PrivateKey: keyFile, SessionCache: on}.Build(time.Now(), nil)
				if err != nil {
					t.Fatal(err)
				}
				client := &tls.Config{RootCAs: pki.Pool(), ServerName: "localhost", MinVersion: vers, MaxVersion: vers,
					ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				// The first connection's client reads the greeting, by which time a TLS 1.3
				// NewSessionTicket (sent before it) has been processed.
				if r := connect(t, cfg, client); r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("first: client %v, server %v", r.clientErr, r.serverErr)
				}
				r := connect(t, cfg, client)
				if r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("second: client %v, server %v", r.clientErr, r.serverErr)
				}
				if r.serverState.DidResume != on {
					t.Errorf("resumed %v, want %v", r.serverState.DidResume, on)
				}
			})
		}
	}
}
