package testcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func verify(t *testing.T, p *PKI, c tls.Certificate, usage x509.ExtKeyUsage, name string) error {
	t.Helper()
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		ic, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(ic)
	}
	_, err := c.Leaf.Verify(x509.VerifyOptions{
		Roots: p.Pool(), Intermediates: inter, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}

func TestServerSANs(t *testing.T) {
	p := MustNew()
	c, err := p.Server("sip.example.net", "192.0.2.7", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.Subject.CommonName != "sip.example.net" {
		t.Errorf("CN = %q", c.Leaf.Subject.CommonName)
	}
	for _, name := range []string{"sip.example.net", "localhost", "127.0.0.1", "::1", "192.0.2.7"} {
		if err := verify(t, p, c, x509.ExtKeyUsageServerAuth, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := verify(t, p, c, x509.ExtKeyUsageServerAuth, "other.example.net"); err == nil {
		t.Error("other.example.net verified")
	}
	if got := len(c.Leaf.DNSNames); got != 2 { // sip.example.net, localhost (deduplicated)
		t.Errorf("DNSNames = %v", c.Leaf.DNSNames)
	}
	if err := verify(t, p, c, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("server certificate verified for client auth")
	}
}

func TestClient(t *testing.T) {
	p := MustNew()
	c, err := p.Client("alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf.Subject.CommonName != "alice" {
		t.Errorf("CN = %q", c.Leaf.Subject.CommonName)
	}
	if err := verify(t, p, c, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Error(err)
	}
	// A second PKI is the "untrusted" CA.
	if err := verify(t, MustNew(), c, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("verified against another root")
	} else if _, ok := errors.AsType[x509.UnknownAuthorityError](err); !ok {
		t.Errorf("err = %v, want UnknownAuthorityError", err)
	}
}

func TestIntermediateChain(t *testing.T) {
	p := MustNew()
	i1, err := p.Intermediate("i1")
	if err != nil {
		t.Fatal(err)
	}
	i2, err := i1.Intermediate("i2")
	if err != nil {
		t.Fatal(err)
	}
	if i2.Depth() != 2 || i2.Root() != p.Root() || i2.CA().Subject.CommonName != "i2" {
		t.Fatalf("depth %d, root shared %v, CA %q", i2.Depth(), i2.Root() == p.Root(), i2.CA().Subject.CommonName)
	}
	c, err := i2.Client("bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificate) != 3 {
		t.Fatalf("chain length %d, want leaf + 2 intermediates", len(c.Certificate))
	}
	if !bytes.Equal(i2.CAPEM(), p.CAPEM()) {
		t.Error("intermediate's CAPEM is not the root")
	}
	if err := verify(t, i2, c, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Error(err)
	}
}

func TestIssueOptions(t *testing.T) {
	p := MustNew()
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := p.Issue(LeafOptions{CommonName: "old", Key: edKey, NotBefore: nb, NotAfter: na, ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotBefore.Equal(nb) || !c.Leaf.NotAfter.Equal(na) {
		t.Errorf("validity %v..%v", c.Leaf.NotBefore, c.Leaf.NotAfter)
	}
	if _, ok := c.Leaf.PublicKey.(ed25519.PublicKey); !ok {
		t.Errorf("key %T", c.Leaf.PublicKey)
	}
}

// TestValidInsideSynctest guards the fixed NotBefore: certificates made in real time verify
// under synctest's fake clock, which starts at 2000-01-01 UTC.
func TestValidInsideSynctest(t *testing.T) {
	p := MustNew()
	c, err := p.Client("c")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: p.Pool(), CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
}

func TestFiles(t *testing.T) {
	p := MustNew()
	dir := t.TempDir()
	certFile, keyFile, err := p.WriteServerFiles(dir, "sip.example.net")
	if err != nil {
		t.Fatal(err)
	}
	c2, k2, err := p.WriteServerFiles(dir) // a second call must not overwrite the first
	if err != nil {
		t.Fatal(err)
	}
	if c2 == certFile || k2 == keyFile {
		t.Fatal("second WriteServerFiles reused file names")
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	caFile, err := p.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(caPEM, p.CAPEM()) {
		t.Error("CA file differs from CAPEM")
	}
	st, err = os.Stat(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("CA mode %v, want 0644", st.Mode().Perm())
	}
	cc, ck, err := p.WriteClientFiles(dir, "carol")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf.Subject.CommonName != "carol" {
		t.Errorf("client CN %q", pair.Leaf.Subject.CommonName)
	}
}

func TestCertKeyPEMChain(t *testing.T) {
	i, err := MustNew().Intermediate("i")
	if err != nil {
		t.Fatal(err)
	}
	c, err := i.Server()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := CertKeyPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for rest := certPEM; ; n++ {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
	}
	if n != 2 {
		t.Errorf("%d CERTIFICATE blocks, want 2", n)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key %T", pair.PrivateKey)
	}
	if _, _, err := CertKeyPEM(tls.Certificate{}); err == nil {
		t.Error("empty certificate encoded")
	}
}

// TestLoopbackHandshake is the end-to-end check that these certificates do what tests need:
// mutual TLS through an intermediate over a real loopback connection.
func TestLoopbackHandshake(t *testing.T) {
	root := MustNew()
	inter, err := root.Intermediate("i")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := inter.Server()
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := root.Client("dave")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    root.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil && c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName != "dave" {
			err = errors.New("wrong client CN")
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs: root.Pool(), Certificates: []tls.Certificate{cliCert}, ServerName: "localhost",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkServer(b *testing.B) {
	p := MustNew()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Server("sip.example.net"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCRL(t *testing.T) {
	p := MustNew()
	inter, err := p.Intermediate("issuing")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := inter.Client("revoked")
	if err != nil {
		t.Fatal(err)
	}
	der, err := inter.CRL(CRLOptions{Revoked: []tls.Certificate{revoked}, NextUpdate: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter.CA()); err != nil {
		t.Errorf("signature: %v", err)
	}
	if crl.CheckSignatureFrom(p.Root()) == nil {
		t.Error("CRL of the intermediate verifies against the root")
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked.Leaf.SerialNumber) != 0 {
		t.Errorf("entries %+v", crl.RevokedCertificateEntries)
	}
	block, _ := pem.Decode(mustBytes(t)(inter.CRLPEM(CRLOptions{})))
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("PEM block %+v", block)
	}
	if !bytes.Contains(inter.IssuerPEM(), []byte("CERTIFICATE")) || bytes.Equal(inter.IssuerPEM(), inter.CAPEM()) {
		t.Error("IssuerPEM is not the intermediate")
	}
	file, err := inter.WriteCRLFile(t.TempDir(), CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(file); err != nil || !bytes.Contains(data, []byte("X509 CRL")) {
		t.Errorf("file %q: %v", data, err)
	}
}

func mustBytes(t *testing.T) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestSelfSignedAndURIs(t *testing.T) {
	c, err := SelfSigned("phone", false, true)
	if err != nil {
		t.Fatal(err)
	}
	p := MustNew()
	if err := verify(t, p, c, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("self-signed leaf verified against a CA")
	}
	if c.Leaf.CheckSignature(c.Leaf.SignatureAlgorithm, c.Leaf.RawTBSCertificate, c.Leaf.Signature) != nil {
		t.Error("not self-signed")
	}
	s, err := p.Issue(LeafOptions{CommonName: "x", URIs: []string{"sip:example.com"}, Hosts: []string{"*.example.com"}, ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Leaf.URIs) != 1 || s.Leaf.URIs[0].String() != "sip:example.com" || s.Leaf.DNSNames[0] != "*.example.com" {
		t.Errorf("URIs %v DNS %v", s.Leaf.URIs, s.Leaf.DNSNames)
	}
}
