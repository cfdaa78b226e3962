package profile

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Flag names used in errors and warnings. The daemon binds these settings to flags of the
// same names; [SettingError.Flag] lets it map them elsewhere (a tls.cfg line, say).
const (
	flagCertificate        = "-certificate"
	flagPrivateKey         = "-private-key"
	flagCAList             = "-ca-list"
	flagVerifyCertificate  = "-verify-certificate"
	flagRequireCertificate = "-require-certificate"
	flagVerifyDepth        = "-verify-depth"
	flagCipherList         = "-cipher-list"
	flagTLSMethod          = "-tls-method"
	flagCurves             = "-curves"
)

// DefaultVerifyDepth is Kamailio's verify_depth default.
const DefaultVerifyDepth = 9

// expiryWarning is how close to NotAfter a certificate draws a warning.
const expiryWarning = 30 * 24 * time.Hour

// Server holds the settings of a server TLS profile, named after Kamailio's tls module
// parameters. The zero value is Kamailio's defaults, except that a missing certificate gets
// a throwaway self-signed one instead of failing.
//
// A Server is plain data: copy it freely; Build does not modify it.
type Server struct {
	// Certificate is a PEM file: the leaf first, then any intermediates. It may also hold the
	// private key. "" makes Build generate a throwaway self-signed certificate.
	Certificate string
	// PrivateKey is a PEM file holding the private key (PKCS #8, PKCS #1 or SEC 1). "" means
	// "look in Certificate". Encrypted keys are refused: nothing can type a passphrase.
	PrivateKey string
	// CAList is a PEM file of the CAs that client certificates must chain to. Required when
	// VerifyCertificate or RequireCertificate is set: without it Go would verify against the
	// system roots, where Kamailio fails every verification.
	CAList string
	// VerifyCertificate (Kamailio verify_certificate, default false) asks the client for a
	// certificate and, if one is sent, verifies it against CAList.
	VerifyCertificate bool
	// RequireCertificate (Kamailio require_certificate, default false) makes a valid client
	// certificate mandatory. As in Kamailio (tls_domain.c set_verification:
	// SSL_VERIFY_PEER|SSL_VERIFY_FAIL_IF_NO_PEER_CERT), it verifies even when
	// VerifyCertificate is false.
	RequireCertificate bool
	// VerifyDepth (Kamailio verify_depth) is the most intermediate CA certificates allowed
	// between a client certificate and the CA from CAList, as OpenSSL 1.1.0 and later count
	// (SSL_CTX_set_verify_depth(3)). 0 means the default, 9. Negative is an error.
	VerifyDepth int
	// CipherList (Kamailio cipher_list) is an OpenSSL cipher list; see [ParseCiphers].
	// "" means crypto/tls's defaults.
	CipherList string
	// TLSMethod (Kamailio tls_method) is the protocol version range; see [ParseMethod].
	// "" means [DefaultMethod], "TLSv1.2+".
	TLSMethod string
	// Curves (OpenSIPS ec_curve, OpenSSL groups) is the key exchange list; see
	// [ParseCurves]. "" means [DefaultCurves], "X25519:P-256".
	Curves string
	// SessionCache (Kamailio session_cache, default false) enables session resumption, which
	// crypto/tls implements with session tickets (RFC 5077, RFC 8446 §4.6.1).
	SessionCache bool
}

// Info describes what Build made, for logs, the admin interface and PROXY protocol TLVs.
type Info struct {
	// Generated is true when no certificate was configured and a throwaway self-signed
	// certificate was made: the caller should warn, quoting Fingerprint.
	Generated bool
	// Fingerprint is the SHA-256 of the leaf ([Fingerprint] format).
	Fingerprint string
	// SigAlg is the leaf's signature algorithm as HAProxy's PP2_SUBTYPE_SSL_SIG_ALG names it
	// ([SigAlgName]), e.g. "ecdsa-with-SHA256".
	SigAlg string
	// KeyAlg is the leaf's key as PP2_SUBTYPE_SSL_KEY_ALG names it ([KeyAlgName]), e.g. "EC256".
	KeyAlg string
	// NotAfter is the leaf's expiry.
	NotAfter time.Time
	// Warnings are problems that do not stop the profile from working, each starting with the
	// flag it concerns.
	Warnings []string
}

// SettingError is a problem with one setting. Build joins them with errors.Join.
type SettingError struct {
	Flag string // e.g. "-cipher-list"
	Err  error
}

func (e *SettingError) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(flag string, err error) error { return &SettingError{Flag: flag, Err: err} }

// ErrVerifyDepth is wrapped by the handshake error when a client certificate's chain needs
// more intermediates than VerifyDepth allows.
var ErrVerifyDepth = errors.New("profile: client certificate chain exceeds verify_depth")

// Build turns the settings into a server *tls.Config. It reads the files, so call it off
// the event loop, at start-up and on reload. now is used to check validity and to date a
// generated certificate; random (nil: crypto/rand) supplies a generated certificate's serial.
//
// Every problem is reported at once: the error is an errors.Join of *SettingError values,
// one per problem. On error the config is nil; Info still carries the warnings found.
//
// The returned config may be shared by any number of concurrent handshakes; do not modify
// it once in use (crypto/tls's rule for Config).
func (s Server) Build(now time.Time, random io.Reader) (*tls.Config, Info, error) {
	st := s.settings()
	b, warns, err := buildProfile(&st, &buildEnv{now: now, random: random})
	info := b.info
	info.Warnings = warns
	if err != nil {
		return nil, info, err
	}
	return b.cfg, info, nil
}

// settings converts the flag-bound fields to the settings every profile is built from.
func (s Server) settings() Settings {
	depth := s.VerifyDepth
	if depth == 0 {
		depth = DefaultVerifyDepth
	}
	return Settings{
		Role: RoleServer, Target: TargetDefault, Source: "flags",
		TLSMethod: s.TLSMethod, Certificate: s.Certificate, PrivateKey: s.PrivateKey,
		CAList: s.CAList, CipherList: s.CipherList, Curves: s.Curves,
		VerifyCertificate: s.VerifyCertificate, RequireCertificate: s.RequireCertificate,
		VerifyDepth: depth, SessionCache: s.SessionCache, CRLCheckAll: true,
	}
}

// checkLeaf warns about a certificate that will fail peers or soon will.
func checkLeaf(leaf *x509.Certificate, role Role, file string, now time.Time, warn func(key, format string, args ...any)) {
	switch {
	case now.After(leaf.NotAfter):
		warn("certificate", "%s expired on %s", file, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		warn("certificate", "%s is not valid before %s", file, leaf.NotBefore.UTC().Format(time.RFC3339))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		warn("certificate", "%s expires on %s, in %d days", file, leaf.NotAfter.UTC().Format(time.RFC3339), int(leaf.NotAfter.Sub(now).Hours()/24))
	}
	usage, usageName := x509.ExtKeyUsageServerAuth, "serverAuth"
	if role == RoleClient {
		usage, usageName = x509.ExtKeyUsageClientAuth, "clientAuth"
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, usage) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		warn("certificate", "%s has an extended key usage without %s: peers that check it (RFC 5280 §4.2.1.12) refuse it", file, usageName)
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		warn("certificate", "%s has a %d-bit RSA key: RFC 9325 §4.3 asks for at least 2048", file, k.N.BitLen())
	}
	switch leaf.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		warn("certificate", "%s is signed with %s, which current peers reject", file, leaf.SignatureAlgorithm)
	}
}

// checkKeyFileMode warns when the file holding the private key is readable by others.
func checkKeyFileMode(keyFile, certFile string, warn func(key, format string, args ...any)) {
	key, file := "private_key", keyFile
	if file == "" {
		key, file = "certificate", certFile
	}
	st, err := os.Stat(file)
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		warn(key, "%s holds the private key and is readable by group or others (mode %#o); chmod 600 it", file, st.Mode().Perm())
	}
}

// usableWith reports whether a TLS 1.2 suite can authenticate with the leaf's key: ECDHE_ECDSA
// needs an ECDSA (or Ed25519) key, ECDHE_RSA and RSA key exchange an RSA key.
func usableWith(leaf *x509.Certificate) func(uint16) bool {
	return func(id uint16) bool {
		s := suiteByID[id]
		switch leaf.PublicKey.(type) {
		case *rsa.PublicKey:
			return s.tags&tARSA != 0
		case *ecdsa.PublicKey:
			return s.tags&tAECDSA != 0
		}
		return s.tags&tAECDSA != 0 // Ed25519 signs in ECDSA suites (RFC 8422 §5.5)
	}
}

// insecureReason says why crypto/tls lists a suite in InsecureCipherSuites.
func insecureReason(id uint16) string {
	s := suiteByID[id]
	var why []string
	if s.tags&tRC4 != 0 {
		why = append(why, "RC4, prohibited by RFC 7465")
	}
	if s.tags&t3DES != 0 {
		why = append(why, "3DES, 64-bit blocks open to Sweet32")
	}
	if s.tags&tSHA256 != 0 {
		why = append(why, "CBC with HMAC-SHA256, which crypto/tls does not implement in constant time (Lucky13)")
	}
	if s.tags&tKRSA != 0 {
		why = append(why, "RSA key exchange, without forward secrecy (RFC 9325 §4.1)")
	}
	return strings.Join(why, "; ")
}
