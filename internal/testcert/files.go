package testcert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// CertKeyPEM encodes c's chain as CERTIFICATE blocks (leaf first) and its private key as a
// PKCS #8 "PRIVATE KEY" block.
func CertKeyPEM(c tls.Certificate) (certPEM, keyPEM []byte, err error) {
	if len(c.Certificate) == 0 {
		return nil, nil, errors.New("testcert: certificate has no chain")
	}
	for _, der := range c.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("testcert: private key: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return certPEM, keyPEM, nil
}

// WriteCAFile writes the root certificate in PEM to a new file in dir and returns its path.
func (p *PKI) WriteCAFile(dir string) (string, error) {
	return writeFile(dir, "ca-*.pem", p.CAPEM(), 0o644)
}

// WriteServerFiles issues a server certificate as [PKI.Server] does and writes the chain and
// the key to new files in dir. The key file has mode 0600.
func (p *PKI) WriteServerFiles(dir string, hosts ...string) (certFile, keyFile string, err error) {
	c, err := p.Server(hosts...)
	if err != nil {
		return "", "", err
	}
	return WriteCertKeyFiles(dir, "server", c)
}

// WriteClientFiles issues a client certificate as [PKI.Client] does and writes the chain and
// the key to new files in dir. The key file has mode 0600.
func (p *PKI) WriteClientFiles(dir, cn string) (certFile, keyFile string, err error) {
	c, err := p.Client(cn)
	if err != nil {
		return "", "", err
	}
	return WriteCertKeyFiles(dir, "client", c)
}

// WriteCertKeyFiles writes c as PEM to two new files in dir named after prefix: the chain
// (mode 0644) and the key (mode 0600, as a private key file should be).
func WriteCertKeyFiles(dir, prefix string, c tls.Certificate) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := CertKeyPEM(c)
	if err != nil {
		return "", "", err
	}
	if certFile, err = writeFile(dir, prefix+"-*.pem", certPEM, 0o644); err != nil {
		return "", "", err
	}
	if keyFile, err = writeFile(dir, prefix+"-*.key", keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// writeFile creates a uniquely named file so that repeated calls with one dir never collide.
func writeFile(dir, pattern string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, pattern) // created with mode 0600
	if err != nil {
		return "", fmt.Errorf("testcert: %w", err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && mode != 0o600 {
		err = os.Chmod(name, mode)
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("testcert: %w", err)
	}
	return name, nil
}
