package profile

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// pemContents summarises the PEM blocks of one file.
type pemContents struct {
	certs     []*pem.Block
	keys      []*pem.Block // blocks whose type ends in "PRIVATE KEY"
	encrypted bool         // a key block is encrypted (RFC 1421 Proc-Type or PKCS #8 EncryptedPrivateKeyInfo)
}

func scanPEM(data []byte) pemContents {
	var pc pemContents
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return pc
		}
		switch {
		case b.Type == "CERTIFICATE":
			pc.certs = append(pc.certs, b)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			// "ENCRYPTED PRIVATE KEY" is PKCS #8 EncryptedPrivateKeyInfo (RFC 5958 §3); the
			// legacy OpenSSL form keeps the type and adds "Proc-Type: 4,ENCRYPTED" (RFC 1421 §4.6.1.1).
			if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
				pc.encrypted = true
			}
			pc.keys = append(pc.keys, b)
		}
	}
}

// keyErr is a problem with one setting, named by its canonical tls.cfg key.
type keyErr struct {
	key string
	err error
}

// loadKeyPair reads the certificate chain from certFile and the key from keyFile, or from
// certFile when keyFile is "" (Kamailio: "the private key can be contained in the same file
// as the certificate"). Every problem found is returned, each naming its setting.
func loadKeyPair(certFile, keyFile string, readFile func(string) ([]byte, error)) (tls.Certificate, []keyErr) {
	var errs []keyErr
	certPEM, err := readFile(certFile)
	if err != nil {
		return tls.Certificate{}, []keyErr{{"certificate", err}}
	}
	cp := scanPEM(certPEM)
	if len(cp.certs) == 0 {
		errs = append(errs, keyErr{"certificate", fmt.Errorf("no CERTIFICATE PEM block in %s", certFile)})
	}

	keyPEM, keySource, kp := certPEM, certFile, cp
	if keyFile != "" {
		if keyPEM, err = readFile(keyFile); err != nil {
			return tls.Certificate{}, append(errs, keyErr{"private_key", err})
		}
		keySource, kp = keyFile, scanPEM(keyPEM)
	}
	switch {
	case kp.encrypted:
		errs = append(errs, keyErr{"private_key", fmt.Errorf(
			"private key %s is encrypted: tlsmux does not ask for passphrases; store the key unencrypted, readable only by the daemon (openssl pkey -in %s -out key.pem && chmod 600 key.pem)",
			keySource, keySource)})
	case len(kp.keys) == 0 && keyFile == "":
		errs = append(errs, keyErr{"private_key", fmt.Errorf("not set, and the certificate file %s holds no PRIVATE KEY PEM block", certFile)})
	case len(kp.keys) == 0:
		errs = append(errs, keyErr{"private_key", fmt.Errorf("no PRIVATE KEY PEM block in %s", keyFile)})
	}
	if len(errs) > 0 {
		return tls.Certificate{}, errs
	}

	leaf, err := x509.ParseCertificate(cp.certs[0].Bytes)
	if err != nil {
		return tls.Certificate{}, []keyErr{{"certificate", fmt.Errorf("%s: %w", certFile, err)}}
	}
	key, err := parsePrivateKey(kp.keys[0].Bytes)
	if err != nil {
		return tls.Certificate{}, []keyErr{{"private_key", fmt.Errorf("%s: %w", keySource, err)}}
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, []keyErr{{"private_key", fmt.Errorf(
			"the key in %s does not match the certificate in %s (certificate subject %q)", keySource, certFile, leaf.Subject.String())}}
	}
	// tls.X509KeyPair repeats these checks and builds the chain exactly as crypto/tls wants it.
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(kp.keys[0]))
	if err != nil {
		return tls.Certificate{}, []keyErr{{"certificate", fmt.Errorf("%s: %w", certFile, err)}}
	}
	return pair, nil
}

// parsePrivateKey accepts the forms OpenSSL writes: PKCS #8, PKCS #1 (RSA) and SEC 1 (EC).
func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("malformed or unsupported private key (want PKCS #8, PKCS #1 RSA or SEC 1 EC)")
}
