package profile

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// clientSessionCacheSize bounds the sessions a client profile remembers for resumption
// (session_cache = yes): one per server it talks to, and outbound peers are few.
const clientSessionCacheSize = 256

// flagNames maps canonical keys to the flags of the default server profile, so that Build's
// errors keep naming flags ([SettingError.Flag]). Keys without a flag today keep a flag-like
// name the daemon may bind later.
var flagNames = map[string]string{
	"certificate":         flagCertificate,
	"private_key":         flagPrivateKey,
	"ca_list":             flagCAList,
	"ca_dir":              "-ca-dir",
	"crl":                 "-crl",
	"crl_dir":             "-crl-dir",
	"verify_certificate":  flagVerifyCertificate,
	"require_certificate": flagRequireCertificate,
	"verify_client":       "-verify-client",
	"verify_depth":        flagVerifyDepth,
	"cipher_list":         flagCipherList,
	"tls_method":          flagTLSMethod,
	"curves":              flagCurves,
	"session_cache":       "-session-cache",
	"server_name":         "-server-name",
	"match_wildcard":      "-match-wildcard",
}

// reporter names problems after the flag or after the tls.cfg file, line, section and key.
type reporter struct {
	s       *Settings
	section string
	errs    []error
	warns   []string
}

// ref is how a message refers to another setting: "-ca-list" or "ca_list".
func (r *reporter) ref(key string) string {
	if r.s.file == "" {
		return flagNames[key]
	}
	return key
}

func (r *reporter) line(key string) int {
	if l, ok := r.s.lines[key]; ok {
		return l
	}
	return r.s.header
}

func (r *reporter) fail(key string, err error) {
	if r.s.file == "" {
		r.errs = append(r.errs, settingErr(flagNames[key], err))
		return
	}
	r.errs = append(r.errs, &ConfigError{File: r.s.file, Line: r.line(key), Section: r.section, Key: key, Err: err})
}

func (r *reporter) failAll(key string, err error) {
	for _, e := range splitJoined(err) {
		r.fail(key, e)
	}
}

func (r *reporter) warn(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.s.file == "" {
		r.warns = append(r.warns, flagNames[key]+": "+msg)
		return
	}
	r.warns = append(r.warns, (&ConfigError{File: r.s.file, Line: r.line(key), Section: r.section, Key: key, Err: errors.New(msg)}).Error())
}

// buildEnv is what building a profile needs beyond its settings.
type buildEnv struct {
	now    time.Time        // load time: validity checks, generated certificates
	random io.Reader        // generated certificate serials (nil: crypto/rand)
	clock  func() time.Time // handshake time: CRL expiry (nil: time.Now)
	files  *fileReader      // reads and records every file, for change detection and watching
	// generated, when set, is a previously generated self-signed certificate to serve again
	// instead of making a new one, so that a reload does not change it.
	generated *tls.Certificate
}

// built is one profile's result.
type built struct {
	cfg        *tls.Config
	info       Info
	ver        *verifier
	generated  *tls.Certificate // the self-signed certificate made or reused
	authDigest [32]byte         // what resumed sessions were verified against (ticket key derivation)
}

// buildProfile turns settings into a *tls.Config for their role. It reads the files the
// settings name. Every problem is reported: the error joins them (each a *SettingError for
// flags, a *ConfigError for tls.cfg sections); warnings are returned either way.
func buildProfile(s *Settings, env *buildEnv) (*built, []string, error) {
	r := &reporter{s: s, section: s.sectionName()}
	b := &built{}
	if env.files == nil {
		env.files = newFileReader()
	}
	cfg := &tls.Config{}
	clock := env.clock
	if clock == nil {
		clock = time.Now
	} else {
		cfg.Time = clock // certificate validity and ticket ages on the same clock as the CRLs
	}
	if s.Role == RoleClient {
		cfg.Renegotiation = tls.RenegotiateNever // tlsconn requires it (renegotiation on the loop)
	}

	// tls_method
	minV, maxV, err := ParseMethod(s.TLSMethod)
	if err != nil {
		r.fail("tls_method", err)
		minV, maxV = tls.VersionTLS12, tls.VersionTLS13 // keep checking the rest against the default
	} else if minV < tls.VersionTLS12 {
		r.warn("tls_method", "%q enables TLS 1.0/1.1, which RFC 8996 deprecates; keep it to a listener for old phones", MethodName(minV, maxV))
	}
	cfg.MinVersion, cfg.MaxVersion = minV, maxV

	// cipher_list
	ciphers, err := ParseCiphers(s.CipherList)
	if err != nil {
		r.failAll("cipher_list", err)
	} else {
		cfg.CipherSuites = ciphers.Suites
		for _, id := range ciphers.Insecure {
			r.warn("cipher_list", "%s is insecure (%s) and enabled only because it is named", suiteByID[id].name, insecureReason(id))
		}
		for _, name := range ciphers.Unimplemented {
			r.warn("cipher_list", "%s is not implemented by crypto/tls: ignored", name)
		}
		if len(ciphers.TLS13) > 0 && len(ciphers.TLS13) < 3 && maxV >= tls.VersionTLS13 {
			r.warn("cipher_list", "TLS 1.3 suites cannot be chosen in Go: all of TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 stay enabled")
		}
		if ciphers.Suites != nil && len(ciphers.Suites) == 0 && minV < tls.VersionTLS13 {
			r.fail("cipher_list", fmt.Errorf(
				"names only TLS 1.3 suites, so TLS 1.2 and older peers cannot connect under %s %s: add TLS 1.2 suites or set %s TLSv1.3",
				r.ref("tls_method"), MethodName(minV, maxV), r.ref("tls_method")))
		}
		if len(ciphers.Suites) > 0 && minV >= tls.VersionTLS13 {
			r.warn("cipher_list", "TLS 1.2 suites are unused: %s %s allows TLS 1.3 only", r.ref("tls_method"), MethodName(minV, maxV))
		}
	}

	// curves (OpenSIPS ec_curve)
	curves, err := ParseCurves(s.Curves)
	if err != nil {
		r.failAll("curves", err)
	} else {
		cfg.CurvePreferences = curves
		if minV < tls.VersionTLS13 && !slices.ContainsFunc(curves, func(c tls.CurveID) bool { return !isHybrid(c) }) {
			r.fail("curves", fmt.Errorf(
				"lists only post-quantum hybrids, which crypto/tls uses in TLS 1.3 only: add X25519 or P-256 for TLS 1.2 peers, or set %s TLSv1.3", r.ref("tls_method")))
		}
	}

	// certificate, private_key
	var cert tls.Certificate
	switch {
	case s.Certificate == "" && s.PrivateKey != "":
		r.fail("certificate", fmt.Errorf("not set, but %s is %s", r.ref("private_key"), s.PrivateKey))
	case s.Certificate == "" && s.Role == RoleServer && s.file != "":
		r.fail("certificate", errors.New("not set: every server profile needs one (Kamailio would look for cert.pem in its configuration directory)"))
	case s.Certificate == "" && s.Role == RoleServer:
		if env.generated != nil {
			cert = *env.generated
		} else if c, err := SelfSigned(env.now, env.random); err != nil {
			r.fail("certificate", err)
		} else {
			cert = c
		}
		if cert.Leaf != nil {
			b.info.Generated = true
			b.generated = &cert
		}
	case s.Certificate == "":
		// a client profile without a certificate: the peer gets none if it asks
	default:
		c, kerrs := loadKeyPair(s.Certificate, s.PrivateKey, env.files.read)
		for _, ke := range kerrs {
			r.fail(ke.key, ke.err)
		}
		if len(kerrs) == 0 {
			cert = c
			checkLeaf(cert.Leaf, s.Role, s.Certificate, env.now, r.warn)
			checkKeyFileMode(s.PrivateKey, s.Certificate, r.warn)
		}
	}
	if cert.Leaf != nil {
		cfg.Certificates = []tls.Certificate{cert}
		if s.Role == RoleClient {
			// Send it whatever CAs the server's CertificateRequest names, as OpenSSL (Kamailio)
			// does: crypto/tls would send nothing when its issuer is not among them.
			c := cert
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		b.info.Fingerprint = Fingerprint(cert.Leaf.Raw)
		b.info.SigAlg = SigAlgName(cert.Leaf)
		b.info.KeyAlg = KeyAlgName(cert.Leaf)
		b.info.NotAfter = cert.Leaf.NotAfter
		if len(ciphers.Suites) > 0 && !slices.ContainsFunc(ciphers.Suites, usableWith(cert.Leaf)) && s.Role == RoleServer {
			msg := fmt.Sprintf("no suite in the list can use the %s certificate, so TLS 1.2 handshakes fail", b.info.KeyAlg)
			if maxV < tls.VersionTLS13 {
				r.fail("cipher_list", errors.New(msg))
			} else if minV < tls.VersionTLS13 {
				r.warn("cipher_list", "%s", msg)
			}
		}
	}

	// ca_list, ca_dir, crl, crl_dir, verify_certificate, require_certificate, verify_client,
	// verify_depth
	auth := s.auth()
	var pool *x509.CertPool
	var cas []*x509.Certificate
	if s.CAList != "" || s.CADir != "" {
		var errsCA []keyErr
		pool, cas, errsCA = loadCAs(s.CAList, s.CADir, env.files)
		for _, ke := range errsCA {
			r.fail(ke.key, ke.err)
		}
	}
	var crls *crlSet
	if s.CRL != "" || s.CRLDir != "" {
		var errsCRL []keyErr
		var warnsCRL []keyErr
		crls, errsCRL, warnsCRL = loadCRLs(s.CRL, s.CRLDir, cas, s.CRLCheckAll, env.files, env.now)
		for _, ke := range errsCRL {
			r.fail(ke.key, ke.err)
		}
		for _, kw := range warnsCRL {
			r.warn(kw.key, "%v", kw.err)
		}
	}
	if s.VerifyDepth < 0 {
		r.fail("verify_depth", fmt.Errorf("%d is negative", s.VerifyDepth))
	}
	peer := "client"
	if s.Role == RoleClient {
		peer = "server"
	}
	ver := &verifier{role: s.Role, auth: auth, roots: pool, depth: max(s.VerifyDepth, 0), crls: crls, crlAll: s.CRLCheckAll,
		wildcard: s.MatchWildcard, clock: clock, serverName: s.ServerName}
	b.ver = ver
	if auth.verifies() && s.CAList == "" && s.CADir == "" {
		by := "verify_certificate"
		switch {
		case s.VerifyClient == VerifyClientOn || s.VerifyClient == VerifyClientOptional:
			by = "verify_client"
		case s.RequireCertificate:
			by = "require_certificate"
		}
		r.fail("ca_list", fmt.Errorf(
			"required by %s: %s certificates are verified against it (Kamailio fails every verification without one; crypto/tls would trust the system roots)", r.ref(by), peer))
	}
	if s.RequireCertificate && !s.VerifyCertificate && s.VerifyClient == VerifyClientUnset && s.Role == RoleServer {
		r.warn("require_certificate", "verifies client certificates against %s even without %s, as Kamailio does", r.ref("ca_list"), r.ref("verify_certificate"))
	}
	depthSet := s.VerifyDepth != DefaultVerifyDepth
	if s.file != "" {
		_, depthSet = s.lines["verify_depth"]
	}
	if !auth.request {
		if s.CAList != "" && s.Role == RoleServer {
			r.warn("ca_list", "unused: neither %s nor %s is set, so clients are not asked for certificates", r.ref("verify_certificate"), r.ref("require_certificate"))
		}
		if s.CADir != "" && s.Role == RoleServer {
			r.warn("ca_dir", "unused: client certificates are not requested")
		}
		if depthSet {
			r.warn("verify_depth", "unused: %s certificates are not verified", peer)
		}
		if crls != nil || s.CRL != "" || s.CRLDir != "" {
			key := "crl"
			if s.CRL == "" {
				key = "crl_dir"
			}
			r.warn(key, "unused: %s certificates are not verified (Kamailio: set require_certificate too, or the CRL has no effect)", peer)
		}
		if s.Role == RoleClient && s.file != "" {
			r.warn("verify_certificate", "server certificates are not verified (Kamailio's default for client profiles): set verify_client = on and ca_list to authenticate peers (RFC 5922)")
		}
	}
	if auth.noCA && (crls != nil || depthSet) {
		r.warn("verify_client", "optional_no_ca accepts any certificate: verify_depth and CRLs only inform the verification result recorded for the connection")
	}
	switch s.Role {
	case RoleServer:
		switch {
		case auth.noCA && auth.require:
			cfg.ClientAuth = tls.RequireAnyClientCert
		case auth.noCA:
			cfg.ClientAuth = tls.RequestClientCert
		case auth.require:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case auth.request:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		default:
			cfg.ClientAuth = tls.NoClientCert
		}
		if auth.request {
			// Kamailio sends the ca_list names in the CertificateRequest whatever the mode
			// (SSL_CTX_set_client_CA_list), which helps phones holding several certificates.
			cfg.ClientCAs = pool
		}
		if auth.verifies() {
			cfg.VerifyConnection = ver.verifyClientConn
		}
		cfg.SessionTicketsDisabled = !s.SessionCache
	case RoleClient:
		// crypto/tls's own check would accept wildcards and ignore SIP URIs: the verifier does
		// RFC 5922 instead (VerifyConnection), and nothing when verification is off.
		cfg.InsecureSkipVerify = true
		cfg.ServerName = s.ServerName
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return ver.verifyServerConn(cs, "") }
		if s.SessionCache {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(clientSessionCacheSize)
		}
	}
	b.authDigest = authDigest(s, auth, cas)
	b.info.Warnings = r.warns
	if len(r.errs) > 0 {
		return b, r.warns, errors.Join(r.errs...)
	}
	b.cfg = cfg
	return b, r.warns, nil
}

// sectionName is how errors name the profile's section.
func (s *Settings) sectionName() string {
	if s.file == "" {
		return ""
	}
	n := s.Role.String() + ":"
	switch s.Target {
	case TargetDefault:
		return n + "default"
	case TargetAny:
		return n + "any"
	}
	return n + s.Addr.String()
}

// authDigest summarises what a resumed session's peer was verified against: session ticket
// keys are derived from it, so that changing the CAs, the mode or the depth of a profile makes
// its old tickets unusable (the peer must authenticate again) while everything else keeps them.
func authDigest(s *Settings, a peerAuth, cas []*x509.Certificate) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "role=%d request=%v require=%v noca=%v depth=%d wildcard=%v\x00", s.Role, a.request, a.require, a.noCA, s.VerifyDepth, s.MatchWildcard)
	ders := make([][]byte, 0, len(cas))
	for _, c := range cas {
		ders = append(ders, c.Raw)
	}
	slices.SortFunc(ders, func(a, b []byte) int { return slices.Compare(a, b) })
	for _, d := range ders {
		h.Write([]byte(strconv.Itoa(len(d))))
		h.Write(d)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
