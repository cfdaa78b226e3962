package profile

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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

// settingErrs splits an errors.Join from a parser so that each problem names the flag.
func settingErrs(flag string, err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{settingErr(flag, err)}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, settingErr(flag, e))
	}
	return out
}

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
	var (
		info Info
		errs []error
	)
	warn := func(flag, format string, args ...any) {
		info.Warnings = append(info.Warnings, flag+": "+fmt.Sprintf(format, args...))
	}
	cfg := &tls.Config{}

	// tls_method
	minV, maxV, err := ParseMethod(s.TLSMethod)
	if err != nil {
		errs = append(errs, settingErr(flagTLSMethod, err))
		minV, maxV = tls.VersionTLS12, tls.VersionTLS13 // keep checking the rest against the default
	} else if minV < tls.VersionTLS12 {
		warn(flagTLSMethod, "%q enables TLS 1.0/1.1, which RFC 8996 deprecates; keep it to a listener for old phones", MethodName(minV, maxV))
	}
	cfg.MinVersion, cfg.MaxVersion = minV, maxV

	// cipher_list
	ciphers, err := ParseCiphers(s.CipherList)
	if err != nil {
		errs = append(errs, settingErrs(flagCipherList, err)...)
	} else {
		cfg.CipherSuites = ciphers.Suites
		for _, id := range ciphers.Insecure {
			warn(flagCipherList, "%s is insecure (%s) and enabled only because it is named", suiteByID[id].name, insecureReason(id))
		}
		for _, name := range ciphers.Unimplemented {
			warn(flagCipherList, "%s is not implemented by crypto/tls: ignored", name)
		}
		if len(ciphers.TLS13) > 0 && len(ciphers.TLS13) < 3 && maxV >= tls.VersionTLS13 {
			warn(flagCipherList, "TLS 1.3 suites cannot be chosen in Go: all of TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 stay enabled")
		}
		if ciphers.Suites != nil && len(ciphers.Suites) == 0 && minV < tls.VersionTLS13 {
			errs = append(errs, settingErr(flagCipherList, fmt.Errorf(
				"names only TLS 1.3 suites, so TLS 1.2 and older clients cannot connect under -tls-method %s: add TLS 1.2 suites or set -tls-method TLSv1.3",
				MethodName(minV, maxV))))
		}
		if len(ciphers.Suites) > 0 && minV >= tls.VersionTLS13 {
			warn(flagCipherList, "TLS 1.2 suites are unused: -tls-method %s allows TLS 1.3 only", MethodName(minV, maxV))
		}
	}

	// ec_curve
	curves, err := ParseCurves(s.Curves)
	if err != nil {
		errs = append(errs, settingErrs(flagCurves, err)...)
	} else {
		cfg.CurvePreferences = curves
		if minV < tls.VersionTLS13 && !slices.ContainsFunc(curves, func(c tls.CurveID) bool { return !isHybrid(c) }) {
			errs = append(errs, settingErr(flagCurves, errors.New(
				"lists only post-quantum hybrids, which crypto/tls uses in TLS 1.3 only: add X25519 or P-256 for TLS 1.2 clients, or set -tls-method TLSv1.3")))
		}
	}

	// certificate, private_key
	var cert tls.Certificate
	switch {
	case s.Certificate == "" && s.PrivateKey != "":
		errs = append(errs, settingErr(flagCertificate, fmt.Errorf("not set, but -private-key is %s", s.PrivateKey)))
	case s.Certificate == "":
		c, err := SelfSigned(now, random)
		if err != nil {
			errs = append(errs, settingErr(flagCertificate, err))
		} else {
			cert = c
			info.Generated = true
		}
	default:
		c, kerrs := loadKeyPair(s.Certificate, s.PrivateKey)
		errs = append(errs, kerrs...)
		if len(kerrs) == 0 {
			cert = c
			checkLeaf(c.Leaf, s.Certificate, now, warn)
			checkKeyFileMode(s.PrivateKey, s.Certificate, warn)
		}
	}
	if cert.Leaf != nil {
		cfg.Certificates = []tls.Certificate{cert}
		info.Fingerprint = Fingerprint(cert.Leaf.Raw)
		info.SigAlg = SigAlgName(cert.Leaf)
		info.KeyAlg = KeyAlgName(cert.Leaf)
		info.NotAfter = cert.Leaf.NotAfter
		if len(ciphers.Suites) > 0 && !slices.ContainsFunc(ciphers.Suites, usableWith(cert.Leaf)) {
			msg := fmt.Sprintf("no suite in the list can use the %s certificate, so TLS 1.2 handshakes fail", info.KeyAlg)
			if maxV < tls.VersionTLS13 {
				errs = append(errs, settingErr(flagCipherList, errors.New(msg)))
			} else if minV < tls.VersionTLS13 {
				warn(flagCipherList, "%s", msg)
			}
		}
	}

	// ca_list, verify_certificate, require_certificate, verify_depth
	var pool *x509.CertPool
	if s.CAList != "" {
		p, err := loadCAList(s.CAList)
		if err != nil {
			errs = append(errs, settingErrs(flagCAList, err)...)
		}
		pool = p
	}
	verify := s.VerifyCertificate || s.RequireCertificate
	switch {
	case s.RequireCertificate:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if !s.VerifyCertificate {
			warn(flagRequireCertificate, "verifies client certificates against -ca-list even without -verify-certificate, as Kamailio does")
		}
	case s.VerifyCertificate:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	default:
		cfg.ClientAuth = tls.NoClientCert
	}
	depth := s.VerifyDepth
	switch {
	case depth < 0:
		errs = append(errs, settingErr(flagVerifyDepth, fmt.Errorf("%d is negative", depth)))
	case depth == 0:
		depth = DefaultVerifyDepth
	}
	if verify {
		if s.CAList == "" {
			flag := flagVerifyCertificate
			if s.RequireCertificate {
				flag = flagRequireCertificate
			}
			errs = append(errs, settingErr(flagCAList, fmt.Errorf(
				"required by %s: client certificates are verified against it (Kamailio fails every verification without one; crypto/tls would trust the system roots)", flag)))
		}
		cfg.ClientCAs = pool
		cfg.VerifyConnection = verifyDepth(depth)
	} else {
		if s.CAList != "" {
			warn(flagCAList, "unused: neither -verify-certificate nor -require-certificate is set, so clients are not asked for certificates")
		}
		if s.VerifyDepth != 0 && s.VerifyDepth != DefaultVerifyDepth { // the default is always passed by cmd
			warn(flagVerifyDepth, "unused: client certificates are not verified")
		}
	}

	// session_cache
	cfg.SessionTicketsDisabled = !s.SessionCache

	if len(errs) > 0 {
		return nil, info, errors.Join(errs...)
	}
	return cfg, info, nil
}

// verifyDepth enforces verify_depth after crypto/tls has verified the chain. OpenSSL (1.1.0
// and later) allows depth intermediates between the leaf and the trust anchor: "with
// verify_depth = 0, ... errors at depth=1 when the immediate issuer of the leaf certificate
// is not a trust anchor" (crypto/x509/x509_vfy.c, build_chain). crypto/tls answers an error
// from VerifyConnection with a bad_certificate alert (RFC 8446 §6.2).
func verifyDepth(depth int) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) == 0 {
			return nil // no client certificate, or not verified: nothing to measure
		}
		fewest := -1
		for _, chain := range cs.VerifiedChains {
			n := max(len(chain)-2, 0) // leaf, intermediates..., anchor
			if n <= depth {
				return nil
			}
			if fewest < 0 || n < fewest {
				fewest = n
			}
		}
		return fmt.Errorf("%w: %d intermediate CA certificates, verify_depth %d", ErrVerifyDepth, fewest, depth)
	}
}

func loadCAList(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pc := scanPEM(data)
	if len(pc.certs) == 0 {
		return nil, fmt.Errorf("no CERTIFICATE PEM block in %s", file)
	}
	pool := x509.NewCertPool()
	var errs []error
	for i, b := range pc.certs {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: certificate %d: %w", file, i+1, err))
			continue
		}
		pool.AddCert(c)
	}
	return pool, errors.Join(errs...)
}

// checkLeaf warns about a certificate that will fail clients or soon will.
func checkLeaf(leaf *x509.Certificate, file string, now time.Time, warn func(flag, format string, args ...any)) {
	switch {
	case now.After(leaf.NotAfter):
		warn(flagCertificate, "%s expired on %s", file, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		warn(flagCertificate, "%s is not valid before %s", file, leaf.NotBefore.UTC().Format(time.RFC3339))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		warn(flagCertificate, "%s expires on %s, in %d days", file, leaf.NotAfter.UTC().Format(time.RFC3339), int(leaf.NotAfter.Sub(now).Hours()/24))
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		warn(flagCertificate, "%s has an extended key usage without serverAuth: clients that check it (RFC 5280 §4.2.1.12) refuse it", file)
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		warn(flagCertificate, "%s has a %d-bit RSA key: RFC 9325 §4.3 asks for at least 2048", file, k.N.BitLen())
	}
	switch leaf.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		warn(flagCertificate, "%s is signed with %s, which current clients reject", file, leaf.SignatureAlgorithm)
	}
}

// checkKeyFileMode warns when the file holding the private key is readable by others.
func checkKeyFileMode(keyFile, certFile string, warn func(flag, format string, args ...any)) {
	flag, file := flagPrivateKey, keyFile
	if file == "" {
		flag, file = flagCertificate, certFile
	}
	st, err := os.Stat(file)
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		warn(flag, "%s holds the private key and is readable by group or others (mode %#o); chmod 600 it", file, st.Mode().Perm())
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
