package profile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

const (
	alertCertificateExpired = 45
	alertCertRevoked        = 44 // what RFC 8446 §6.2 asks for; crypto/tls cannot send it (see below)
)

// loadServerDefault loads a tls.cfg holding only a [server:default] with the fixture's server
// certificate and the given extra lines, and returns its config.
func loadServerDefault(t *testing.T, f *pkiFixture, extra string) (*Set, *tls.Config) {
	t.Helper()
	cfg := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\n"+extra)
	set, err := Load(f.options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return set, set.ServerConfig(mustAddrPort("127.0.0.1:5061"))
}

func (f *pkiFixture) phone(vers uint16, cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: f.serverCA.Pool(), ServerName: "sip.example.com", MinVersion: vers, MaxVersion: vers}
	if cert != nil {
		// Send the certificate whatever CAs the server names, as phones do (a crypto/tls client
		// given Certificates would send nothing when its issuer is not among them).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// TestVerifyModes drives every verify_client mode (and the CRL, depth and ca_dir settings)
// through real handshakes over loopback with the fixture's phones: good, through an
// intermediate, revoked, expired, self-signed and from an unknown CA, under TLS 1.2 and 1.3,
// and checks the alert the phone sees, the server's error and what CheckPeer records.
//
// A revoked certificate is refused, but the phone sees bad_certificate (42), not
// certificate_revoked (44): crypto/tls (Go 1.26) sends alertBadCertificate for any error of
// VerifyConnection or VerifyPeerCertificate (handshake_server.go, handshake_server_tls13.go),
// whatever tls.AlertError the error wraps. The server side still knows why
// (ErrCertificateRevoked, which also wraps tls.AlertError(44)).
func TestVerifyModes(t *testing.T) {
	f := newPKIFixture(t)
	type phone struct {
		name string
		cert *tls.Certificate
	}
	none := phone{"no certificate", nil}
	good := phone{"good", &f.good}
	inter := phone{"via intermediate", &f.viaInter}
	revoked := phone{"revoked", &f.revoked}
	interRevoked := phone{"revoked via intermediate", &f.interRevoked}
	expired := phone{"expired", &f.expired}
	self := phone{"self-signed", &f.selfSigned}
	foreign := phone{"unknown CA", &f.foreign}

	type want struct {
		alert12, alert13 uint8 // alert the phone receives; 0: accepted
		is               error // the server's error wraps it
		verified         bool  // accepted: CheckPeer says verified
		selfSigned       bool
		revoked          bool
	}
	ok := func(verified bool) want { return want{verified: verified} }
	refused := func(a12, a13 uint8, is error) want { return want{alert12: a12, alert13: a13, is: is} }
	for _, mode := range []struct {
		name   string
		config string
		cases  map[*phone]want
	}{
		{"off", "verify_client = off\n", map[*phone]want{
			&none: ok(false), &good: ok(false), &self: ok(false)}},
		{"on", "verify_client = on\nca_list = ca.pem\n", map[*phone]want{
			&none:    refused(alertHandshakeFailure, alertCertificateRequired, nil),
			&good:    ok(true),
			&inter:   ok(true),
			&expired: refused(alertCertificateExpired, alertCertificateExpired, nil),
			&self:    refused(alertUnknownCA, alertUnknownCA, nil),
			&foreign: refused(alertUnknownCA, alertUnknownCA, nil),
			&revoked: ok(true), // no CRL configured
		}},
		{"on with CRL", "verify_client = on\nca_list = ca.pem\ncrl = crl.pem\n", map[*phone]want{
			&good:    ok(true),
			&revoked: refused(alertBadCertificate, alertBadCertificate, ErrCertificateRevoked),
			// crl.pem has only the root's CRL: the intermediate's certificates cannot be checked
			// (OpenSSL's CRL_CHECK_ALL, as Kamailio configures it).
			&inter: refused(alertBadCertificate, alertBadCertificate, ErrCRLUnavailable),
		}},
		{"on with ca_dir and crl_dir", "verify_client = on\nca_dir = cadir\ncrl_dir = crldir\n", map[*phone]want{
			&good:         ok(true),
			&inter:        ok(true),
			&revoked:      refused(alertBadCertificate, alertBadCertificate, ErrCertificateRevoked),
			&interRevoked: refused(alertBadCertificate, alertBadCertificate, ErrCertificateRevoked),
		}},
		{"CRL of the intermediate only", "verify_client = on\nca_list = ca.pem\ncrl = crldir/inter.pem\n", map[*phone]want{
			// CRL_CHECK_ALL also needs the root's CRL, for the intermediate.
			&inter: refused(alertBadCertificate, alertBadCertificate, ErrCRLUnavailable),
		}},
		{"crl_check_all = no", "verify_client = on\nca_list = ca.pem\ncrl = crldir/inter.pem\ncrl_check_all = no\n", map[*phone]want{
			&inter:        ok(true),
			&interRevoked: refused(alertBadCertificate, alertBadCertificate, ErrCertificateRevoked),
			&good:         refused(alertBadCertificate, alertBadCertificate, ErrCRLUnavailable), // no CRL from the root
		}},
		{"expired CRL", "verify_client = on\nca_list = ca.pem\ncrl = expired-crl.pem\n", map[*phone]want{
			&good: refused(alertBadCertificate, alertBadCertificate, ErrCRLExpired),
		}},
		{"verify_depth 0", "verify_client = on\nca_list = ca.pem\nverify_depth = 0\n", map[*phone]want{
			&good:  ok(true),
			&inter: refused(alertBadCertificate, alertBadCertificate, ErrVerifyDepth),
		}},
		{"optional", "verify_client = optional\nca_list = ca.pem\n", map[*phone]want{
			&none: ok(false), &good: ok(true),
			&self:    refused(alertUnknownCA, alertUnknownCA, nil),
			&expired: refused(alertCertificateExpired, alertCertificateExpired, nil),
		}},
		{"verify_certificate (Kamailio's optional)", "verify_certificate = yes\nca_list = ca.pem\n", map[*phone]want{
			&none: ok(false), &good: ok(true), &self: refused(alertUnknownCA, alertUnknownCA, nil),
		}},
		{"require_certificate alone", "require_certificate = yes\nca_list = ca.pem\n", map[*phone]want{
			&none: refused(alertHandshakeFailure, alertCertificateRequired, nil), &good: ok(true),
		}},
		{"optional_no_ca", "verify_client = optional_no_ca\nca_list = ca.pem\ncrl = crl.pem\n", map[*phone]want{
			&none:    ok(false),
			&good:    ok(true),
			&self:    {selfSigned: true},
			&foreign: ok(false),
			&expired: ok(false),
			&revoked: {revoked: true},
		}},
		{"optional_no_ca without ca_list", "verify_client = optional_no_ca\n", map[*phone]want{
			&self: {selfSigned: true}, &good: ok(false),
		}},
		{"optional_no_ca required", "verify_client = optional_no_ca\nrequire_certificate = yes\n", map[*phone]want{
			&none: refused(alertHandshakeFailure, alertCertificateRequired, nil),
			&self: {selfSigned: true},
		}},
	} {
		set, serverCfg := loadServerDefault(t, f, mode.config)
		p := set.Match(mustAddrPort("127.0.0.1:5061"), "sip.example.com")
		for ph, w := range mode.cases {
			for _, vers := range []uint16{tls12, tls13} {
				t.Run(mode.name+"/"+ph.name+"/"+versionName(vers), func(t *testing.T) {
					r := connect(t, serverCfg, f.phone(vers, ph.cert))
					wantAlert := w.alert12
					if vers == tls13 {
						wantAlert = w.alert13
					}
					if wantAlert != alertNone {
						got, okAlert := remoteAlert(r.clientErr)
						if !okAlert || got != wantAlert {
							t.Errorf("phone got %v (alert %d), want alert %d", r.clientErr, got, wantAlert)
						}
						if r.serverErr == nil {
							t.Fatal("server accepted the handshake")
						}
						if w.is != nil && !errors.Is(r.serverErr, w.is) {
							t.Errorf("server error %v does not wrap %v", r.serverErr, w.is)
						}
						if errors.Is(w.is, ErrCertificateRevoked) && !errors.Is(r.serverErr, tls.AlertError(alertCertRevoked)) {
							t.Errorf("server error %v does not carry certificate_revoked", r.serverErr)
						}
						return
					}
					if r.clientErr != nil || r.serverErr != nil {
						t.Fatalf("phone: %v; server: %v", r.clientErr, r.serverErr)
					}
					st := p.CheckPeer(&r.serverState)
					wantPresent := ph.cert != nil && mode.name != "off" // off: no certificate is requested
					if st.Present != wantPresent || st.Verified != w.verified || st.SelfSigned != w.selfSigned || st.Revoked != w.revoked {
						t.Errorf("CheckPeer %+v; want verified %v self-signed %v revoked %v", st, w.verified, w.selfSigned, w.revoked)
					}
					if ph == &expired && !st.Expired {
						t.Errorf("CheckPeer %+v: not expired", st)
					}
					// crypto/tls's own verification result, what tlsconn reports as verified,
					// is set only in the verifying modes.
					if verifiedChains := len(r.serverState.VerifiedChains) > 0; verifiedChains && !w.verified {
						t.Errorf("crypto/tls verified a chain in a mode that does not verify")
					}
				})
			}
		}
	}
}

// TestVerifyResumptionRechecksCRL checks that a session resumed after a reload that revoked its
// certificate is refused: VerifyConnection runs on resumption too.
func TestVerifyResumptionRechecksCRL(t *testing.T) {
	f := newPKIFixture(t)
	cfgFile := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\nverify_client = on\nca_list = ca.pem\ncrl = crl.pem\nsession_cache = yes\n")
	st, err := NewStore(f.options(cfgFile))
	if err != nil {
		t.Fatal(err)
	}
	local := mustAddrPort("127.0.0.1:5061")
	for _, vers := range []uint16{tls12, tls13} {
		t.Run(versionName(vers), func(t *testing.T) {
			client := f.phone(vers, &f.good)
			client.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			if r := connect(t, st.Current().ServerConfig(local), client); r.clientErr != nil || r.serverErr != nil {
				t.Fatalf("first: %v / %v", r.clientErr, r.serverErr)
			}
			if r := connect(t, st.Current().ServerConfig(local), client); !r.serverState.DidResume {
				t.Fatalf("no resumption before the CRL changed: %v / %v", r.clientErr, r.serverErr)
			}
			crl, err := f.phoneCA.CRLPEM(testcert.CRLOptions{Revoked: []tls.Certificate{f.good}})
			if err != nil {
				t.Fatal(err)
			}
			writeBytes(t, f.path("crl.pem"), crl)
			if _, err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			r := connect(t, st.Current().ServerConfig(local), client)
			if r.serverErr == nil || !errors.Is(r.serverErr, ErrCertificateRevoked) {
				t.Errorf("revoked session: server %v, client %v", r.serverErr, r.clientErr)
			}
			// put the original CRL back for the next version
			crl, _ = f.phoneCA.CRLPEM(testcert.CRLOptions{Revoked: []tls.Certificate{f.revoked}})
			writeBytes(t, f.path("crl.pem"), crl)
			if _, err := st.Reload(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// serverWith makes a server config presenting a certificate of the fixture's server CA.
func serverWith(t *testing.T, f *pkiFixture, o testcert.LeafOptions) *tls.Config {
	t.Helper()
	o.ServerAuth = true
	c, err := f.serverCA.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}
}

// TestClientProfileIdentity drives client profiles (the outbound role) against servers whose
// certificates name various identities: RFC 5922 §7.2 matching, match_wildcard, CRLs, and the
// modes that do not fail.
func TestClientProfileIdentity(t *testing.T) {
	f := newPKIFixture(t)
	revokedServer, err := f.serverCA.Issue(testcert.LeafOptions{CommonName: "x", Hosts: []string{"revoked.example.com"}, ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := f.serverCA.CRLPEM(testcert.CRLOptions{Revoked: []tls.Certificate{revokedServer}})
	if err != nil {
		t.Fatal(err)
	}
	writeBytes(t, f.path("server-crl.pem"), crl)
	cfgFile := f.writeConfig(t, "tls.cfg", `
[client:default]
ca_list = server-ca.pem
verify_client = on
crl = server-crl.pem

[client:any]
server_name = wild.example.com
server_name_mode = 1
ca_list = server-ca.pem
verify_client = on
match_wildcard = yes

[client:any]
server_name = lax.example.com
ca_list = server-ca.pem
verify_client = optional_no_ca

[client:any]
server_name = off.example.com

[client:any]
server_name = mtls.example.com
certificate = client.pem
private_key = client.key
`)
	set, err := Load(f.options(cfgFile))
	if err != nil {
		t.Fatal(err)
	}
	remote := mustAddrPort("192.0.2.9:5061")
	for _, tt := range []struct {
		name   string
		server *tls.Config
		domain string
		is     error // nil: success
	}{
		{"URI SAN", serverWith(t, f, testcert.LeafOptions{CommonName: "x", URIs: []string{"sip:example.com"}}), "example.com", nil},
		{"URI SAN case-insensitive", serverWith(t, f, testcert.LeafOptions{CommonName: "x", URIs: []string{"sip:Example.COM"}}), "example.com", nil},
		{"DNS SAN", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"sip.example.com"}}), "sip.example.com", nil},
		{"no suffix match", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"example.com"}}), "sip.example.com", ErrPeerIdentity},
		{"wildcard refused", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"*.example.com"}}), "sip.example.com", ErrPeerIdentity},
		{"wildcard allowed by match_wildcard", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"*.wild.example.com"}}), "a.wild.example.com", nil},
		{"wildcard covers one label only", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"*.wild.example.com"}}), "a.b.wild.example.com", ErrPeerIdentity},
		{"user part is not a domain identity", serverWith(t, f, testcert.LeafOptions{CommonName: "x", URIs: []string{"sip:alice@example.com"}}), "example.com", ErrPeerIdentity},
		{"revoked server", &tls.Config{Certificates: []tls.Certificate{revokedServer}}, "revoked.example.com", ErrCertificateRevoked},
		{"optional_no_ca accepts a wrong name", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"elsewhere.example.net"}}), "lax.example.com", nil},
		{"verification off accepts anything", serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"elsewhere.example.net"}}), "off.example.com", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := set.Client("", remote, tt.domain)
			r := connect(t, tt.server, p.ClientConfig(tt.domain))
			if tt.is == nil {
				if r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("client %v; server %v (profile %s)", r.clientErr, r.serverErr, p.Name)
				}
				return
			}
			if !errors.Is(r.clientErr, tt.is) {
				t.Errorf("client error %v, want %v (profile %s)", r.clientErr, tt.is, p.Name)
			}
			if got, _ := remoteAlert(r.serverErr); got != alertBadCertificate {
				t.Errorf("server saw %v, want bad_certificate", r.serverErr)
			}
		})
	}
	// A client certificate is sent whatever CAs the server names.
	p, _ := set.Client("", remote, "mtls.example.com")
	srv := serverWith(t, f, testcert.LeafOptions{CommonName: "x"})
	srv.ClientAuth, srv.ClientCAs = tls.RequireAnyClientCert, f.stranger.Pool()
	if r := connect(t, srv, p.ClientConfig("")); r.serverErr != nil || len(r.serverState.PeerCertificates) == 0 ||
		r.serverState.PeerCertificates[0].Subject.CommonName != "tlsmux-outbound" {
		t.Errorf("client certificate not sent: %v", r.serverErr)
	}
	// The lax profile still records what failed.
	p, _ = set.Client("", remote, "lax.example.com")
	r := connect(t, serverWith(t, f, testcert.LeafOptions{CommonName: "x", Hosts: []string{"elsewhere.example.net"}}), p.ClientConfig(""))
	if r.clientErr != nil {
		t.Fatal(r.clientErr)
	}
	if st := p.CheckPeer(&r.clientState); st.Verified || !errors.Is(st.Err, ErrPeerIdentity) {
		t.Errorf("CheckPeer %+v", st)
	}
}

func TestMatchSIPDomain(t *testing.T) {
	pki := testcert.MustNew()
	cert := func(cn string, hosts []string, uris ...string) *x509.Certificate {
		c, err := pki.Issue(testcert.LeafOptions{CommonName: cn, Hosts: hosts, URIs: uris, ServerAuth: true})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	for _, tt := range []struct {
		name     string
		c        *x509.Certificate
		domain   string
		wildcard bool
		ok       bool
	}{
		{"sip URI", cert("x", nil, "sip:example.com"), "example.com", false, true},
		{"sip URI with params and port", cert("x", nil, "sip:example.com:5061;transport=tls"), "example.com", false, true},
		{"sips scheme is not an identity", cert("x", nil, "sips:example.com"), "example.com", false, false},
		{"other scheme", cert("x", nil, "https://example.com"), "example.com", false, false},
		{"user part", cert("x", nil, "sip:bob@example.com"), "example.com", false, false},
		{"DNS", cert("x", []string{"example.com"}), "EXAMPLE.com.", false, true},
		{"DNS suffix", cert("x", []string{"example.com"}), "a.example.com", false, false},
		{"literal wildcard matches only itself", cert("x", []string{"*.example.com"}), "*.example.com", false, true},
		{"wildcard off", cert("x", []string{"*.example.com"}), "a.example.com", false, false},
		{"wildcard on", cert("x", []string{"*.example.com"}), "a.example.com", true, true},
		{"wildcard does not match the apex", cert("x", []string{"*.example.com"}), "example.com", true, false},
		{"wildcard never on a TLD", cert("x", []string{"*.com"}), "example.com", true, false},
		{"URI wildcard never", cert("x", nil, "sip:*.example.com"), "a.example.com", true, false},
		{"CN without SAN", cert("example.com", nil), "example.com", false, true},
		{"CN ignored when a SAN exists", cert("example.com", []string{"other.example.com"}), "example.com", false, false},
		{"IP", cert("x", []string{"192.0.2.1"}), "192.0.2.1", false, true},
		{"IPv6 in brackets", cert("x", []string{"2001:db8::1"}), "[2001:db8::1]", false, true},
		{"IP not a DNS name", cert("x", []string{"example.com"}), "192.0.2.1", false, false},
	} {
		err := MatchSIPDomain(tt.c, tt.domain, tt.wildcard)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrPeerIdentity) {
			t.Errorf("%s: %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	u, _ := url.Parse("sip:example.com")
	if _, ok := sipURIHost(u.Scheme, u.Opaque, u.Host, u.User != nil); !ok {
		t.Error("sipURIHost refuses sip:example.com")
	}
	if err := MatchSIPDomain(cert("x", []string{"a.example.com"}, "sip:b.example.com"), "c.example.com", false); err == nil ||
		!strings.Contains(err.Error(), "URI:sip:b.example.com, DNS:a.example.com") {
		t.Errorf("error lists identities: %v", err)
	}
}

// TestCRLErrorsAtLoad checks CRL problems found at load: a signature that does not verify, a
// delta CRL, a directory without CRLs.
func TestCRLErrorsAtLoad(t *testing.T) {
	f := newPKIFixture(t)
	forged, err := f.stranger.CRLPEM(testcert.CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeBytes(t, f.path("forged.pem"), forged)
	writeBytes(t, f.path("stranger-ca.pem"), f.stranger.CAPEM())
	// A CA certificate with the stranger's subject but another key: the stranger's CRL names it
	// as issuer, and its signature does not verify against it.
	writeBytes(t, f.path("impostor-ca.pem"), reissueRoot(t, f.stranger.Root()))
	writeBytes(t, f.path("onlycerts/a.pem"), f.phoneCA.CAPEM())
	deltaCA, delta := deltaCRL(t)
	writeBytes(t, f.path("delta-ca.pem"), deltaCA)
	writeBytes(t, f.path("delta.pem"), delta)
	for _, tt := range []struct{ config, want string }{
		{"ca_list = impostor-ca.pem\ncrl = forged.pem\n", "its signature does not verify against the CA of that name"},
		{"ca_list = ca.pem\ncrl_dir = onlycerts\n", "no X509 CRL in any file of onlycerts"},
		{"ca_list = ca.pem\ncrl = ca.pem\n", "crl: ca.pem: no X509 CRL PEM block"},
		{"ca_dir = crldir\n", "no CERTIFICATE PEM block in any file of crldir"},
		{"ca_list = delta-ca.pem\ncrl = delta.pem\n", "delta CRLs are not supported"},
	} {
		cfg := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\nverify_client = on\n"+tt.config)
		_, err := Load(f.options(cfg))
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), f.dir+"/", ""), tt.want) {
			t.Errorf("%q: %v, want %q", tt.config, err, tt.want)
		}
	}
	// A good CRL from the stranger with the stranger's CA: accepted.
	cfg := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\nverify_client = on\nca_list = stranger-ca.pem\ncrl = forged.pem\n")
	if _, err := Load(f.options(cfg)); err != nil {
		t.Error(err)
	}
}

// FuzzMatchSIPDomain: any domain against certificates with URI, DNS, wildcard, IP and CN
// identities never panics, and a match only ever happens for a name the certificate holds.
func FuzzMatchSIPDomain(f *testing.F) {
	pki := testcert.MustNew()
	c, err := pki.Issue(testcert.LeafOptions{CommonName: "cn.example.com", ServerAuth: true,
		Hosts: []string{"dns.example.com", "*.wild.example.com", "192.0.2.1", "2001:db8::1"},
		URIs:  []string{"sip:uri.example.com:5061;transport=tls", "sip:user@userpart.example.com", "sips:sips.example.com"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"dns.example.com", "a.wild.example.com", "uri.example.com", "[2001:db8::1]", "192.0.2.1", "userpart.example.com", "", ".", "[", "*.wild.example.com"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, domain string, wildcard bool) {
		if MatchSIPDomain(c.Leaf, domain, wildcard) != nil {
			return
		}
		d := strings.ToLower(strings.TrimSuffix(strings.Trim(domain, "[]"), "."))
		switch {
		case d == "dns.example.com", d == "uri.example.com", d == "*.wild.example.com":
		case wildcard && strings.HasSuffix(d, ".wild.example.com") && !strings.Contains(strings.TrimSuffix(d, ".wild.example.com"), "."):
		default:
			if _, err := netip.ParseAddr(d); err != nil {
				t.Fatalf("%q (wildcard %v) matched", domain, wildcard)
			}
		}
	})
}
