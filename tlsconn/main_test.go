package tlsconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// Test certificates: self-signed ECDSA P-256 leaves made once per test binary, each trusted as its
// own root. Validity spans synctest's clock (which starts at 2000-01-01) and the real one.
var (
	serverCert tls.Certificate
	serverPool *x509.CertPool
	clientCert tls.Certificate
	clientPool *x509.CertPool
)

const serverName = "sip.example.test"

func init() {
	var leaf *x509.Certificate
	serverCert, leaf = selfSigned("tlsmux test server", []string{serverName}, x509.ExtKeyUsageServerAuth)
	serverPool = x509.NewCertPool()
	serverPool.AddCert(leaf)
	clientCert, leaf = selfSigned("phone-1001", nil, x509.ExtKeyUsageClientAuth)
	clientPool = x509.NewCertPool()
	clientPool.AddCert(leaf)
}

func selfSigned(cn string, dns []string, eku x509.ExtKeyUsage) (tls.Certificate, *x509.Certificate) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dns,
		NotBefore:             time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// serverConfig is the server side of most tests: ECDSA, X25519 only (the design's default; it keeps
// handshakes cheap), TLS 1.2 and 1.3.
func serverConfig() *tls.Config {
	return &tls.Config{
		Certificates:     []tls.Certificate{serverCert},
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519},
		NextProtos:       []string{"sip"},
	}
}

func clientConfig() *tls.Config {
	return &tls.Config{
		RootCAs:          serverPool,
		ServerName:       serverName,
		CurvePreferences: []tls.CurveID{tls.X25519},
		NextProtos:       []string{"sip"},
	}
}

func withMTLS(srv, cli *tls.Config) {
	srv.ClientAuth = tls.RequireAndVerifyClientCert
	srv.ClientCAs = clientPool
	cli.Certificates = []tls.Certificate{clientCert}
}
