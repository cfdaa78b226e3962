package load

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// clientCurves are the key exchange groups the clients offer: X25519 and P-256, as the SIP
// phones of today do (OpenSSL 1.1/3.0, mbedTLS). Go's default would add X25519MLKEM768, whose
// 1.2 KB key share a server that picks it pays for in CPU and memory, which would measure a
// different load from the one tlsmux meets.
var clientCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

// clientTLS builds the clients' TLS configuration from -servername, -ca, -pin and -insecure.
func clientTLS(c *Config) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: c.ServerName, CurvePreferences: clientCurves}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(c.Target)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = host
	}
	switch {
	case c.Insecure:
		cfg.InsecureSkipVerify = true
	case c.Pin != "":
		pin, err := parsePin(c.Pin)
		if err != nil {
			return nil, fmt.Errorf("-pin: %w", err)
		}
		cfg.InsecureSkipVerify = true // the pin replaces the chain check
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("tlsbench: no certificate")
			}
			if sum := sha256.Sum256(raw[0]); !bytes.Equal(sum[:], pin) {
				return fmt.Errorf("tlsbench: certificate SHA-256 %x does not match -pin", sum)
			}
			return nil
		}
	case c.CA != "":
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca: no certificate in %s", c.CA)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// clientHello returns the bytes of the ClientHello a client with cfg sends first: what a
// staller sends before it stalls. One is reused by every staller; the server does a full
// handshake's work for each all the same.
func clientHello(cfg *tls.Config) ([]byte, error) {
	var cc captureConn
	tls.Client(&cc, cfg).Handshake() // fails at its first read, after writing the hello
	if len(cc.first) == 0 {
		return nil, errors.New("tlsbench: no ClientHello was written")
	}
	return cc.first, nil
}

// captureConn keeps the first write and fails every read. It embeds a nil net.Conn: a call
// to anything else panics, which would mean crypto/tls changed what it does here.
type captureConn struct {
	net.Conn
	first []byte
}

func (c *captureConn) Write(p []byte) (int, error) {
	if c.first == nil {
		c.first = bytes.Clone(p)
	}
	return len(p), nil
}

func (c *captureConn) Read([]byte) (int, error) { return 0, errors.New("capture only") }
