package profile

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	der := []byte("not really a certificate")
	got := Fingerprint(der)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) {
		t.Fatalf("format: %q", got)
	}
	sum := sha256.Sum256(der)
	if strings.ReplaceAll(got, ":", "") != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Errorf("%q is not the SHA-256", got)
	}
}

func TestSelfSigned(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	c, err := SelfSigned(now, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Leaf
	if leaf == nil || len(c.Certificate) != 1 || !bytes.Equal(leaf.Raw, c.Certificate[0]) {
		t.Fatal("leaf missing or not the chain's only certificate")
	}
	if !leaf.NotBefore.Equal(now.Add(-time.Hour)) || !leaf.NotAfter.Equal(now.Add(selfSignedValidity)) {
		t.Errorf("validity %v .. %v", leaf.NotBefore, leaf.NotAfter)
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || KeyAlgName(leaf) != "EC256" || SigAlgName(leaf) != "ecdsa-with-SHA256" {
		t.Errorf("key %T %s, sig %s", leaf.PublicKey, KeyAlgName(leaf), SigAlgName(leaf))
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: now}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if leaf.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v", leaf.SerialNumber)
	}

	c2, err := SelfSigned(now, rand.Reader, "sip.example.net", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if c2.Leaf.Subject.CommonName != "sip.example.net" || len(c2.Leaf.IPAddresses) != 1 || len(c2.Leaf.DNSNames) != 1 {
		t.Errorf("CN %q, IPs %v, DNS %v", c2.Leaf.Subject.CommonName, c2.Leaf.IPAddresses, c2.Leaf.DNSNames)
	}
	if Fingerprint(c.Leaf.Raw) == Fingerprint(c2.Leaf.Raw) {
		t.Error("two throwaway certificates share a fingerprint")
	}
	if _, err := SelfSigned(now, bytes.NewReader(nil)); err == nil {
		t.Error("an empty rand did not fail")
	}
}

func TestSigAlgName(t *testing.T) {
	// OpenSSL short names (obj_mac.h SN_*), as HAProxy puts them in PP2_SUBTYPE_SSL_SIG_ALG.
	for alg, want := range map[x509.SignatureAlgorithm]string{
		x509.SHA256WithRSA:             "RSA-SHA256",
		x509.SHA384WithRSA:             "RSA-SHA384",
		x509.SHA512WithRSA:             "RSA-SHA512",
		x509.SHA1WithRSA:               "RSA-SHA1",
		x509.ECDSAWithSHA256:           "ecdsa-with-SHA256",
		x509.ECDSAWithSHA384:           "ecdsa-with-SHA384",
		x509.ECDSAWithSHA512:           "ecdsa-with-SHA512",
		x509.SHA256WithRSAPSS:          "RSASSA-PSS",
		x509.PureEd25519:               "ED25519",
		x509.UnknownSignatureAlgorithm: "",
	} {
		if got := SigAlgName(&x509.Certificate{SignatureAlgorithm: alg}); got != want {
			t.Errorf("%v: %q, want %q", alg, got, want)
		}
	}
	if SigAlgName(nil) != "" || KeyAlgName(nil) != "" {
		t.Error("nil certificate named")
	}
}

func TestKeyAlgName(t *testing.T) {
	ec := func(c elliptic.Curve) any {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &k.PublicKey
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pub  any
		want string
	}{
		{ec(elliptic.P256()), "EC256"},
		{ec(elliptic.P384()), "EC384"},
		{ec(elliptic.P521()), "EC521"},
		{&rsaKey.PublicKey, "RSA1024"},
		{edPub, ""},
	} {
		if got := KeyAlgName(&x509.Certificate{PublicKey: tt.pub}); got != tt.want {
			t.Errorf("%T: %q, want %q", tt.pub, got, tt.want)
		}
	}
}
