package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// notBefore predates testing/synctest's fake clock (2000-01-01 UTC), so certificates verify
// both in real time and inside a bubble.
var notBefore = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)

// validFor is how long after creation certificates stay valid by default.
const validFor = 10 * 365 * 24 * time.Hour

// PKI is a certificate authority held in memory: a self-signed ECDSA P-256 root from [New],
// or an intermediate below it from [PKI.Intermediate]. Leaves it issues carry the
// intermediates between them and the root in their chain.
type PKI struct {
	// constant after construction
	ca    *x509.Certificate // the issuing CA (the root for New)
	key   crypto.Signer     // the issuing CA's key
	chain [][]byte          // DER of the issuing CA and its parents, root excluded
	root  *x509.Certificate // the trust anchor
	depth int               // 0 for a root, 1 for its first intermediate, ...
}

// New makes a root CA with a fresh ECDSA P-256 key.
func New() (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: root key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("tlsmux test root %.8s", serial.Text(16)), Organization: []string{"tlsmux test"}},
		NotBefore:             notBefore,
		NotAfter:              time.Now().Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testcert: root certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: root certificate: %w", err)
	}
	return &PKI{ca: root, key: key, root: root}, nil
}

// MustNew is [New] for tests: it panics on error (which only a broken crypto/rand causes).
func MustNew() *PKI {
	p, err := New()
	if err != nil {
		panic(err)
	}
	return p
}

// Intermediate makes a CA named cn signed by p. Leaves it issues chain up to p's root; the
// returned PKI's [PKI.Pool] and [PKI.CAPEM] still hold only the root, the trust anchor.
func (p *PKI) Intermediate(cn string) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testcert: intermediate key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tlsmux test"}},
		NotBefore:             notBefore,
		NotAfter:              p.ca.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		return nil, fmt.Errorf("testcert: intermediate certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testcert: intermediate certificate: %w", err)
	}
	chain := append([][]byte{der}, p.chain...)
	return &PKI{ca: ca, key: key, chain: chain, root: p.root, depth: p.depth + 1}, nil
}

// Root is the trust anchor (shared by p and every intermediate made from it).
func (p *PKI) Root() *x509.Certificate { return p.root }

// CA is the issuing CA: the root for [New], the intermediate for [PKI.Intermediate].
func (p *PKI) CA() *x509.Certificate { return p.ca }

// Depth is the number of intermediate CAs between leaves p issues and the root.
func (p *PKI) Depth() int { return p.depth }

// CAPEM is the root certificate in PEM, as a ca_list file holds it.
func (p *PKI) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw})
}

// Pool is a new pool holding only the root.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

// LeafOptions describes a leaf certificate for [PKI.Issue].
type LeafOptions struct {
	CommonName string
	// Hosts become SANs: IP literals as IP addresses, anything else as DNS names
	// ("*.example.com" makes a wildcard DNS name).
	Hosts []string
	// URIs become URI SANs, e.g. "sip:example.com" (RFC 5922 §7.1 SIP domain identities).
	URIs []string
	// ServerAuth and ClientAuth set the extended key usages (RFC 5280 §4.2.1.12); crypto/tls
	// checks ClientAuth on client certificates and ServerAuth on server certificates.
	ServerAuth, ClientAuth bool
	// NotBefore and NotAfter default to 1999-12-31 and ten years from now.
	NotBefore, NotAfter time.Time
	// Key is the leaf's key; nil makes a fresh ECDSA P-256 key.
	Key crypto.Signer
}

// Issue makes a leaf signed by p's issuing CA. The returned certificate's chain is the leaf
// followed by p's intermediates (not the root), and Leaf is set.
func (p *PKI) Issue(o LeafOptions) (tls.Certificate, error) {
	key := o.Key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("testcert: leaf key: %w", err)
		}
		key = k
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.CommonName, Organization: []string{"tlsmux test"}},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = notBefore
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(validFor)
	}
	if _, ok := key.Public().(*ecdsa.PublicKey); !ok {
		// RSA keys also encipher the TLS 1.2 RSA key exchange's premaster secret (RFC 5246 §7.4.7.1).
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if o.ServerAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if o.ClientAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("testcert: URI SAN %q: %w", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: leaf certificate: %w", err)
	}
	return tls.Certificate{
		Certificate: append([][]byte{der}, p.chain...),
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// defaultHosts are in every server certificate, so loopback tests verify whatever name they dial.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// Server makes a server leaf (ExtKeyUsageServerAuth) for hosts plus localhost, 127.0.0.1 and
// ::1. Its CommonName is the first host, or "localhost".
func (p *PKI) Server(hosts ...string) (tls.Certificate, error) {
	all := make([]string, 0, len(hosts)+len(defaultHosts))
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), hosts...), defaultHosts...) {
		if !seen[h] {
			seen[h] = true
			all = append(all, h)
		}
	}
	return p.Issue(LeafOptions{CommonName: all[0], Hosts: all, ServerAuth: true})
}

// Client makes a client leaf (ExtKeyUsageClientAuth) whose subject CommonName is cn.
func (p *PKI) Client(cn string) (tls.Certificate, error) {
	return p.Issue(LeafOptions{CommonName: cn, ClientAuth: true})
}

// serialNumber draws 128 random bits: RFC 5280 §4.1.2.2 wants serials unique per CA, and
// CA/Browser Forum practice uses at least 64 bits of entropy.
func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("testcert: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // serials are positive (RFC 5280 §4.1.2.2)
}
