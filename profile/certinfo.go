package profile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"time"
)

// selfSignedValidity is how long a throwaway certificate lives. It is made again at every
// start and reload, so a year is ample; a daemon running longer than that serves an expired
// certificate until its next reload.
const selfSignedValidity = 365 * 24 * time.Hour

// selfSignedHosts are used when SelfSigned gets no hosts.
var selfSignedHosts = []string{"localhost", "127.0.0.1", "::1"}

// SelfSigned makes a throwaway self-signed ECDSA P-256 server certificate for hosts (IP
// literals become IP SANs, anything else DNS SANs; none given means localhost, 127.0.0.1 and
// ::1), valid from an hour before now (clock skew) for a year. random (nil: crypto/rand)
// supplies the serial number; since Go 1.26 crypto/ecdsa always draws keys from the system's
// secure source.
//
// Clients cannot verify such a certificate against a CA: they must pin it, which is why
// Build reports its [Fingerprint] in [Info].
func SelfSigned(now time.Time, random io.Reader, hosts ...string) (tls.Certificate, error) {
	if random == nil {
		random = rand.Reader
	}
	if len(hosts) == 0 {
		hosts = selfSignedHosts
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("profile: self-signed key: %w", err)
	}
	serial := make([]byte, 16) // RFC 5280 §4.1.2.2: positive, at most 20 octets
	if _, err := io.ReadFull(random, serial); err != nil {
		return tls.Certificate{}, fmt.Errorf("profile: self-signed serial: %w", err)
	}
	serial[0] &= 0x7f
	serial[0] |= 0x01
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"tlsmux self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("profile: self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("profile: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Fingerprint is the SHA-256 of a DER certificate as upper-case hex pairs joined by colons
// ("AB:CD:..."), the form `openssl x509 -fingerprint -sha256` prints and phones show when
// asked to pin a certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	b.Grow(len(h) + len(h)/2)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// sigAlgNames are OpenSSL's short names (OBJ_nid2sn, crypto/objects/obj_mac.h) of the
// certificate signature algorithms, which HAProxy sends in PP2_SUBTYPE_SSL_SIG_ALG
// (ssl_sock_get_cert_sig: OBJ_nid2sn of the certificate's signature algorithm).
var sigAlgNames = map[x509.SignatureAlgorithm]string{
	x509.MD2WithRSA:       "RSA-MD2",
	x509.MD5WithRSA:       "RSA-MD5",
	x509.SHA1WithRSA:      "RSA-SHA1",
	x509.SHA256WithRSA:    "RSA-SHA256",
	x509.SHA384WithRSA:    "RSA-SHA384",
	x509.SHA512WithRSA:    "RSA-SHA512",
	x509.DSAWithSHA1:      "DSA-SHA1",
	x509.DSAWithSHA256:    "dsa_with_SHA256",
	x509.ECDSAWithSHA1:    "ecdsa-with-SHA1",
	x509.ECDSAWithSHA256:  "ecdsa-with-SHA256",
	x509.ECDSAWithSHA384:  "ecdsa-with-SHA384",
	x509.ECDSAWithSHA512:  "ecdsa-with-SHA512",
	x509.SHA256WithRSAPSS: "RSASSA-PSS", // one OID, id-RSASSA-PSS, whatever the hash (RFC 4055 §3.1)
	x509.SHA384WithRSAPSS: "RSASSA-PSS",
	x509.SHA512WithRSAPSS: "RSASSA-PSS",
	x509.PureEd25519:      "ED25519",
}

// SigAlgName is the certificate's signature algorithm as HAProxy names it in the PROXY v2
// TLV PP2_SUBTYPE_SSL_SIG_ALG: OpenSSL's short object name, e.g. "ecdsa-with-SHA256",
// "RSA-SHA256". It is "" for an algorithm OpenSSL has no name for (HAProxy then sends no TLV).
func SigAlgName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return sigAlgNames[c.SignatureAlgorithm]
}

// KeyAlgName is the certificate's public key as HAProxy names it in PP2_SUBTYPE_SSL_KEY_ALG
// (cert_get_pkey_algo: "RSA%d", "EC%d", "DSA%d" with the key size in bits), e.g. "EC256",
// "RSA2048". It is "" for other key types (Ed25519), for which HAProxy sends no TLV; DSA,
// which HAProxy names too, cannot be served by crypto/tls.
func KeyAlgName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("EC%d", k.Curve.Params().BitSize)
	}
	return ""
}
