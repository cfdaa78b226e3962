package profile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// pkiFixture is the test PKI every profile test uses, generated per test: a server CA with
// server certificates, a phones' CA with an intermediate, and the client certificates of every
// case (good, through the intermediate, revoked, expired, self-signed, from another CA), with
// the files tls.cfg sections name, under fixed names in dir.
type pkiFixture struct {
	dir                   string
	serverCA, phoneCA     *testcert.PKI
	phoneInter, stranger  *testcert.PKI
	good, viaInter        tls.Certificate
	revoked, interRevoked tls.Certificate
	expired, selfSigned   tls.Certificate
	foreign               tls.Certificate
}

// fixed dates of the expired fixtures, so that golden output is stable.
var (
	expiredNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	expiredNotAfter  = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
)

func newPKIFixture(t testing.TB) *pkiFixture {
	t.Helper()
	must := func(c tls.Certificate, err error) tls.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f := &pkiFixture{dir: t.TempDir(), serverCA: testcert.MustNew(), phoneCA: testcert.MustNew(), stranger: testcert.MustNew()}
	var err error
	if f.phoneInter, err = f.phoneCA.Intermediate("phones issuing CA"); err != nil {
		t.Fatal(err)
	}
	f.good = must(f.phoneCA.Client("phone-good"))
	f.viaInter = must(f.phoneInter.Client("phone-via-intermediate"))
	f.revoked = must(f.phoneCA.Client("phone-revoked"))
	f.interRevoked = must(f.phoneInter.Client("phone-revoked-via-intermediate"))
	f.expired = must(f.phoneCA.Issue(testcert.LeafOptions{CommonName: "phone-expired", ClientAuth: true,
		NotBefore: expiredNotBefore, NotAfter: expiredNotAfter}))
	f.selfSigned = must(testcert.SelfSigned("phone-self-signed", false, true))
	f.foreign = must(f.stranger.Client("phone-foreign"))

	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(f.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair := func(prefix string, c tls.Certificate) {
		t.Helper()
		certPEM, keyPEM, err := testcert.CertKeyPEM(c)
		if err != nil {
			t.Fatal(err)
		}
		write(prefix+".pem", certPEM)
		write(prefix+".key", keyPEM)
	}
	srv := must(f.serverCA.Server("sip.example.com", "example.com"))
	pair("server", srv)
	pair("certs/server", srv)
	pair("cwd/server", srv)
	pair("other", must(f.serverCA.Server("other.example.com")))
	pair("expired", must(f.serverCA.Issue(testcert.LeafOptions{CommonName: "expired.example.com", Hosts: []string{"expired.example.com"},
		ServerAuth: true, NotBefore: expiredNotBefore, NotAfter: expiredNotAfter})))
	pair("client", must(f.serverCA.Client("tlsmux-outbound")))
	write("ca.pem", f.phoneCA.CAPEM())
	write("server-ca.pem", f.serverCA.CAPEM())
	write("cadir/phones.pem", f.phoneCA.CAPEM())
	write("cadir/a1b2c3d4.0", f.phoneCA.CAPEM())
	write("cadir/inter.pem", f.phoneInter.IssuerPEM())
	write("empty.pem", []byte("no PEM here\n"))
	crl := func(p *testcert.PKI, o testcert.CRLOptions) []byte {
		t.Helper()
		b, err := p.CRLPEM(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write("crl.pem", crl(f.phoneCA, testcert.CRLOptions{Revoked: []tls.Certificate{f.revoked}}))
	write("crldir/root.pem", crl(f.phoneCA, testcert.CRLOptions{Revoked: []tls.Certificate{f.revoked}}))
	write("crldir/inter.pem", crl(f.phoneInter, testcert.CRLOptions{Revoked: []tls.Certificate{f.interRevoked}}))
	write("expired-crl.pem", crl(f.phoneCA, testcert.CRLOptions{ThisUpdate: expiredNotBefore, NextUpdate: expiredNotAfter}))
	write("stranger-crl.pem", crl(f.stranger, testcert.CRLOptions{}))
	return f
}

func (f *pkiFixture) path(name string) string { return filepath.Join(f.dir, name) }

// writeConfig writes a tls.cfg into the fixture directory and returns its path.
func (f *pkiFixture) writeConfig(t testing.TB, name, text string) string {
	t.Helper()
	p := f.path(name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// options loads a tls.cfg of the fixture, with the fixture's server certificate as the
// flags' default profile.
func (f *pkiFixture) options(file string) Options {
	return Options{File: file, Cwd: f.path("cwd"),
		Default: Server{Certificate: f.path("server.pem"), PrivateKey: f.path("server.key")}}
}

// stable replaces what differs between runs (the fixture's random root CA names) in text.
func (f *pkiFixture) stable(text string) string {
	return strings.NewReplacer(
		f.phoneCA.Root().Subject.CommonName, "phones root CA",
		f.serverCA.Root().Subject.CommonName, "servers root CA",
		f.stranger.Root().Subject.CommonName, "stranger root CA",
	).Replace(text)
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// writeBytes writes data to path, creating its directory.
func writeBytes(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reissueRoot makes, as PEM, a self-signed CA certificate with the subject of like but a new
// key: a CRL of like's CA names it as issuer and does not verify against it.
func reissueRoot(t testing.TB, like *x509.Certificate) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: like.Subject, NotBefore: like.NotBefore, NotAfter: like.NotAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// deltaCRL makes a CA (PEM) and a delta CRL it signed (PEM): RFC 5280 §5.2.4.
func deltaCRL(t testing.TB) (caPEM, crlPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "delta CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := asn1.Marshal(big.NewInt(1))
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(2), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: oidDeltaCRLIndicator, Critical: true, Value: base}},
	}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})
}
