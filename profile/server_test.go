package profile

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// flagsOf lists the flag of every *SettingError joined in err.
func flagsOf(t *testing.T, err error) []string {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var flags []string
	for _, e := range errs {
		se, ok := errors.AsType[*SettingError](e)
		if !ok {
			t.Errorf("not a *SettingError: %v", e)
			continue
		}
		flags = append(flags, se.Flag)
	}
	return flags
}

func hasWarning(info Info, parts ...string) bool {
	return slices.ContainsFunc(info.Warnings, func(w string) bool {
		for _, p := range parts {
			if !strings.Contains(w, p) {
				return false
			}
		}
		return true
	})
}

func writeFile(t *testing.T, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverFiles writes a server certificate from pki and returns its cert and key files.
func serverFiles(t *testing.T, pki *testcert.PKI) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := pki.WriteServerFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestBuildDefaults(t *testing.T) {
	now := time.Now()
	cfg, info, err := Server{}.Build(now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Generated || len(cfg.Certificates) != 1 {
		t.Fatalf("Generated %v, %d certificates", info.Generated, len(cfg.Certificates))
	}
	leaf := cfg.Certificates[0].Leaf
	if info.Fingerprint != Fingerprint(leaf.Raw) || info.SigAlg != "ecdsa-with-SHA256" || info.KeyAlg != "EC256" || !info.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("info %+v", info)
	}
	if len(info.Warnings) != 0 {
		t.Errorf("warnings %q", info.Warnings)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != tls.VersionTLS13 {
		t.Errorf("versions %#x-%#x", cfg.MinVersion, cfg.MaxVersion)
	}
	if cfg.CipherSuites != nil {
		t.Errorf("CipherSuites %v, want nil (Go defaults)", cfg.CipherSuites)
	}
	if !slices.Equal(cfg.CurvePreferences, []tls.CurveID{tls.X25519, tls.CurveP256}) {
		t.Errorf("curves %v", cfg.CurvePreferences)
	}
	if cfg.ClientAuth != tls.NoClientCert || cfg.ClientCAs != nil || cfg.VerifyConnection != nil {
		t.Errorf("client auth %v", cfg.ClientAuth)
	}
	if !cfg.SessionTicketsDisabled {
		t.Error("session tickets enabled by default; Kamailio's session_cache defaults to off")
	}
}

func TestBuildFromFiles(t *testing.T) {
	pki := testcert.MustNew()
	certFile, keyFile := serverFiles(t, pki)
	caFile, err := pki.WriteCAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, info, err := Server{
		Certificate: certFile, PrivateKey: keyFile, CAList: caFile,
		VerifyCertificate: true, RequireCertificate: true, VerifyDepth: 3,
		CipherList: "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
		TLSMethod:  "TLSv1.2+", Curves: "X25519MLKEM768:X25519", SessionCache: true,
	}.Build(time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Generated || len(info.Warnings) != 0 {
		t.Errorf("Generated %v, warnings %q", info.Generated, info.Warnings)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil || cfg.VerifyConnection == nil {
		t.Errorf("client auth %v", cfg.ClientAuth)
	}
	if !slices.Equal(cfg.CipherSuites, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}) {
		t.Errorf("suites %v", cfg.CipherSuites)
	}
	if !slices.Equal(cfg.CurvePreferences, []tls.CurveID{tls.X25519MLKEM768, tls.X25519}) || cfg.SessionTicketsDisabled {
		t.Errorf("curves %v, tickets disabled %v", cfg.CurvePreferences, cfg.SessionTicketsDisabled)
	}
}

func TestBuildClientAuthMapping(t *testing.T) {
	pki := testcert.MustNew()
	caFile, err := pki.WriteCAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		verify, require bool
		want            tls.ClientAuthType
		warning         string
	}{
		{false, false, tls.NoClientCert, "-ca-list: unused"},
		{true, false, tls.VerifyClientCertIfGiven, ""},
		{true, true, tls.RequireAndVerifyClientCert, ""},
		// Kamailio: require_certificate alone still verifies (SSL_VERIFY_PEER|FAIL_IF_NO_PEER_CERT).
		{false, true, tls.RequireAndVerifyClientCert, "-require-certificate: verifies"},
	} {
		cfg, info, err := Server{CAList: caFile, VerifyCertificate: tt.verify, RequireCertificate: tt.require}.Build(time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientAuth != tt.want {
			t.Errorf("verify %v require %v: %v, want %v", tt.verify, tt.require, cfg.ClientAuth, tt.want)
		}
		if tt.warning != "" && !hasWarning(info, tt.warning) || tt.warning == "" && len(info.Warnings) > 0 {
			t.Errorf("verify %v require %v: warnings %q, want %q", tt.verify, tt.require, info.Warnings, tt.warning)
		}
	}
}

// TestBuildErrorsAggregated checks that one Build reports every bad setting, each under its flag.
func TestBuildErrorsAggregated(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	_, info, err := Server{
		Certificate:        missing,
		RequireCertificate: true, // without -ca-list
		VerifyDepth:        -1,
		CipherList:         "FOO:ECDHE-RSA-AES128-GCM-SHA256:BAR",
		TLSMethod:          "SSLv3",
		Curves:             "X448",
	}.Build(time.Now(), nil)
	if err == nil {
		t.Fatal("no error")
	}
	got := flagsOf(t, err)
	want := []string{"-tls-method", "-cipher-list", "-cipher-list", "-curves", "-certificate", "-verify-depth", "-ca-list"}
	if !slices.Equal(got, want) {
		t.Errorf("flags %q, want %q\n%v", got, want, err)
	}
	msg := err.Error()
	for _, part := range []string{`-cipher-list: unknown cipher "FOO"`, `-cipher-list: unknown cipher "BAR"`, "-tls-method: tls_method \"SSLv3\" refused",
		`-curves: curve "X448" is not implemented`, "-certificate: open " + missing, "-verify-depth: -1 is negative", "-ca-list: required by -require-certificate"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error lacks %q:\n%s", part, msg)
		}
	}
	if !hasWarning(info, "-require-certificate") {
		t.Errorf("warnings %q", info.Warnings)
	}
}

func TestBuildEncryptedKeyRefused(t *testing.T) {
	pki := testcert.MustNew()
	certFile, _ := serverFiles(t, pki)
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 64)
	rand.Read(junk)
	legacy := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{
		"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: junk})
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: junk})
	for name, key := range map[string][]byte{"legacy": legacy, "pkcs8": pkcs8} {
		t.Run(name, func(t *testing.T) {
			keyFile := writeFile(t, "key.pem", key, 0o600)
			_, _, err := Server{Certificate: certFile, PrivateKey: keyFile}.Build(time.Now(), nil)
			if err == nil || !strings.Contains(err.Error(), "-private-key: private key "+keyFile+" is encrypted") {
				t.Errorf("err = %v", err)
			}
			combined := writeFile(t, "combined.pem", append(slices.Clone(certPEM), key...), 0o600)
			_, _, err = Server{Certificate: combined}.Build(time.Now(), nil)
			if err == nil || !strings.Contains(err.Error(), "private key "+combined+" is encrypted") {
				t.Errorf("combined: err = %v", err)
			}
		})
	}
}

func TestBuildKeyInCertificateFile(t *testing.T) {
	pki := testcert.MustNew()
	c, err := pki.Server("sip.example.net")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := testcert.CertKeyPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	// Kamailio: "cat pkey.pem >> cert.pem". Either order works.
	for name, data := range map[string][]byte{
		"cert-then-key": append(slices.Clone(certPEM), keyPEM...),
		"key-then-cert": append(slices.Clone(keyPEM), certPEM...),
	} {
		t.Run(name, func(t *testing.T) {
			file := writeFile(t, "both.pem", data, 0o600)
			cfg, info, err := Server{Certificate: file}.Build(time.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Generated || info.Fingerprint != Fingerprint(c.Leaf.Raw) || cfg.Certificates[0].Leaf.Subject.CommonName != "sip.example.net" {
				t.Errorf("info %+v", info)
			}
		})
	}
	onlyCert := writeFile(t, "cert.pem", certPEM, 0o644)
	_, _, err = Server{Certificate: onlyCert}.Build(time.Now(), nil)
	if err == nil || !strings.Contains(err.Error(), "-private-key: not set, and the certificate file "+onlyCert+" holds no PRIVATE KEY") {
		t.Errorf("err = %v", err)
	}
}

func TestBuildCertificateErrors(t *testing.T) {
	pki := testcert.MustNew()
	certFile, keyFile := serverFiles(t, pki)
	otherCert, otherKey := serverFiles(t, pki)
	empty := writeFile(t, "empty.pem", []byte("no PEM here\n"), 0o600)
	garbage := writeFile(t, "garbage.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600)
	for _, tt := range []struct {
		name string
		s    Server
		want string
	}{
		{"mismatch", Server{Certificate: certFile, PrivateKey: otherKey}, "-private-key: the key in " + otherKey + " does not match the certificate in " + certFile},
		{"mismatch reversed", Server{Certificate: otherCert, PrivateKey: keyFile}, "does not match"},
		{"key without certificate", Server{PrivateKey: keyFile}, "-certificate: not set, but -private-key is " + keyFile},
		{"no certificate block", Server{Certificate: empty, PrivateKey: keyFile}, "-certificate: no CERTIFICATE PEM block in " + empty},
		{"no key block", Server{Certificate: certFile, PrivateKey: empty}, "-private-key: no PRIVATE KEY PEM block in " + empty},
		{"malformed key", Server{Certificate: certFile, PrivateKey: garbage}, "-private-key: " + garbage + ": malformed"},
		{"missing key file", Server{Certificate: certFile, PrivateKey: empty + ".nope"}, "-private-key: open " + empty + ".nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := tt.s.Build(time.Now(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || cfg != nil {
				t.Errorf("cfg %v, err %v; want %q", cfg != nil, err, tt.want)
			}
		})
	}
}

func TestBuildCertificateWarnings(t *testing.T) {
	pki := testcert.MustNew()
	now := time.Now()
	write := func(o testcert.LeafOptions, keyMode os.FileMode) (string, string) {
		c, err := pki.Issue(o)
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM, err := testcert.CertKeyPEM(c)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, "cert.pem", certPEM, 0o644), writeFile(t, "key.pem", keyPEM, keyMode)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opt  testcert.LeafOptions
		mode os.FileMode
		want []string
	}{
		{"expired", testcert.LeafOptions{ServerAuth: true, NotAfter: now.Add(-time.Hour)}, 0o600, []string{"-certificate: ", "expired on"}},
		{"not yet valid", testcert.LeafOptions{ServerAuth: true, NotBefore: now.Add(time.Hour)}, 0o600, []string{"not valid before"}},
		{"expiring", testcert.LeafOptions{ServerAuth: true, NotAfter: now.Add(72 * time.Hour)}, 0o600, []string{"expires on", "in 2 days"}},
		{"client only", testcert.LeafOptions{ClientAuth: true}, 0o600, []string{"without serverAuth"}},
		{"small RSA", testcert.LeafOptions{ServerAuth: true, Key: rsaKey}, 0o600, []string{"1024-bit RSA key"}},
		{"readable key", testcert.LeafOptions{ServerAuth: true}, 0o644, []string{"-private-key: ", "readable by group or others", "0644"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile := write(tt.opt, tt.mode)
			_, info, err := Server{Certificate: certFile, PrivateKey: keyFile}.Build(now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !hasWarning(info, tt.want...) {
				t.Errorf("warnings %q, want %q", info.Warnings, tt.want)
			}
			if tt.name == "small RSA" && info.KeyAlg != "RSA1024" {
				t.Errorf("KeyAlg %q", info.KeyAlg)
			}
		})
	}
}

func TestBuildCipherChecks(t *testing.T) {
	pki := testcert.MustNew()
	certFile, keyFile := serverFiles(t, pki) // ECDSA
	for _, tt := range []struct {
		name, ciphers, method string
		err                   string
		warn                  []string
	}{
		{"TLS 1.3 names only", "TLS_AES_128_GCM_SHA256", "", "-cipher-list: names only TLS 1.3 suites", nil},
		{"TLS 1.3 names only, TLS 1.3 method", "TLS_AES_128_GCM_SHA256", "TLSv1.3", "", []string{"TLS 1.3 suites cannot be chosen"}},
		{"TLS 1.2 suites under TLS 1.3", "DEFAULT", "TLSv1.3", "", []string{"TLS 1.2 suites are unused"}},
		{"RSA suites for an EC key, TLS 1.2 only", "ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", "-cipher-list: no suite in the list can use the EC256 certificate", nil},
		{"RSA suites for an EC key", "ECDHE-RSA-AES128-GCM-SHA256", "", "", []string{"-cipher-list: no suite in the list can use the EC256 certificate"}},
		{"insecure named", "DEFAULT:ECDHE-ECDSA-AES128-SHA256:AES128-SHA", "", "", []string{"ECDHE-ECDSA-AES128-SHA256 is insecure (CBC with HMAC-SHA256", "AES128-SHA is insecure (RSA key exchange"}},
		{"unimplemented", "DEFAULT:DHE-RSA-AES128-GCM-SHA256", "", "", []string{"DHE-RSA-AES128-GCM-SHA256 is not implemented by crypto/tls: ignored"}},
		{"old versions", "", "TLSv1+", "", []string{"-tls-method: \"TLSv1+\" enables TLS 1.0/1.1", "RFC 8996"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, info, err := Server{Certificate: certFile, PrivateKey: keyFile, CipherList: tt.ciphers, TLSMethod: tt.method}.Build(time.Now(), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.warn {
				if !hasWarning(info, w) {
					t.Errorf("warnings %q lack %q", info.Warnings, w)
				}
			}
		})
	}
}

func TestBuildCurveChecks(t *testing.T) {
	_, _, err := Server{Curves: "X25519MLKEM768"}.Build(time.Now(), nil)
	if err == nil || !strings.Contains(err.Error(), "-curves: lists only post-quantum hybrids") {
		t.Errorf("err %v", err)
	}
	if _, _, err := (Server{Curves: "X25519MLKEM768", TLSMethod: "TLSv1.3"}).Build(time.Now(), nil); err != nil {
		t.Error(err)
	}
}

func TestBuildCAListErrors(t *testing.T) {
	empty := writeFile(t, "empty.pem", nil, 0o644)
	bad := writeFile(t, "bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}}), 0o644)
	for file, want := range map[string]string{
		empty:           "-ca-list: no CERTIFICATE PEM block in " + empty,
		bad:             "-ca-list: " + bad + ": certificate 1:",
		empty + ".nope": "-ca-list: open " + empty + ".nope",
	} {
		_, _, err := Server{CAList: file, VerifyCertificate: true}.Build(time.Now(), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	}
	_, info, err := Server{VerifyDepth: 4}.Build(time.Now(), nil)
	if err != nil || !hasWarning(info, "-verify-depth: unused") {
		t.Errorf("err %v, warnings %q", err, info.Warnings)
	}
}
