package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// CRLOptions describes a certificate revocation list for [PKI.CRL].
type CRLOptions struct {
	// Revoked are the certificates the list revokes; only their serial numbers are used, so
	// they must have been issued by the same CA for the CRL to mean anything.
	Revoked []tls.Certificate
	// RevokedSerials are further serial numbers to list.
	RevokedSerials []*big.Int
	// ThisUpdate defaults to 1999-12-31 (so that the list is current inside a testing/synctest
	// bubble too); NextUpdate defaults to ten years from now. A NextUpdate in the past makes
	// an expired CRL.
	ThisUpdate, NextUpdate time.Time
	// Number is the CRL number (RFC 5280 §5.2.3); nil means 1.
	Number *big.Int
}

// CRL issues a DER certificate revocation list (RFC 5280 §5) signed by p's issuing CA: the
// root for [New], the intermediate for [PKI.Intermediate].
func (p *PKI) CRL(o CRLOptions) ([]byte, error) {
	if o.ThisUpdate.IsZero() {
		o.ThisUpdate = notBefore
	}
	if o.NextUpdate.IsZero() {
		o.NextUpdate = time.Now().Add(validFor)
	}
	if o.Number == nil {
		o.Number = big.NewInt(1)
	}
	tmpl := &x509.RevocationList{
		Number:     o.Number,
		ThisUpdate: o.ThisUpdate,
		NextUpdate: o.NextUpdate,
	}
	add := func(serial *big.Int) {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: serial, RevocationTime: o.ThisUpdate,
		})
	}
	for _, c := range o.Revoked {
		leaf := c.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, fmt.Errorf("testcert: revoked certificate: %w", err)
			}
		}
		add(leaf.SerialNumber)
	}
	for _, s := range o.RevokedSerials {
		add(s)
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, p.ca, p.key)
	if err != nil {
		return nil, fmt.Errorf("testcert: CRL: %w", err)
	}
	return der, nil
}

// CRLPEM is [PKI.CRL] as an "X509 CRL" PEM block, the form Kamailio's crl file holds.
func (p *PKI) CRLPEM(o CRLOptions) ([]byte, error) {
	der, err := p.CRL(o)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// WriteCRLFile writes [PKI.CRLPEM] to a new file in dir and returns its path.
func (p *PKI) WriteCRLFile(dir string, o CRLOptions) (string, error) {
	data, err := p.CRLPEM(o)
	if err != nil {
		return "", err
	}
	return writeFile(dir, "crl-*.pem", data, 0o644)
}

// IssuerPEM is p's issuing CA certificate in PEM: the root for [New], the intermediate for
// [PKI.Intermediate] (a ca_list may hold intermediates as well as roots).
func (p *PKI) IssuerPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})
}

// SelfSigned makes a self-signed leaf that no PKI issued, as phones generate for themselves:
// ECDSA P-256, subject CommonName cn, with the extended key usages asked for. It chains to
// nothing, so verifying it against any CA fails with an unknown-authority error.
func SelfSigned(cn string, serverAuth, clientAuth bool) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: self-signed key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tlsmux test self-signed"}},
		NotBefore:             notBefore,
		NotAfter:              time.Now().Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if serverAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if clientAuth {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("testcert: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
