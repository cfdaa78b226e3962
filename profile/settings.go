package profile

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// maxVerifyDepth bounds verify_depth: OpenSSL accepts any int, but no real chain has more than a
// handful of intermediates, and a bound keeps chain building cheap.
const maxVerifyDepth = 100

// VerifyClient is Kamailio's verify_client (tls_domain.c set_verification): an alternative to
// verify_certificate and require_certificate with one more mode, optional_no_ca.
type VerifyClient uint8

const (
	// VerifyClientUnset: not set, verify_certificate and require_certificate decide.
	VerifyClientUnset VerifyClient = iota
	// VerifyClientOff: no certificate requested (unless verify_certificate or
	// require_certificate ask for one: Kamailio ORs them).
	VerifyClientOff
	// VerifyClientOn: a certificate is required and must verify.
	VerifyClientOn
	// VerifyClientOptional: a certificate is requested; if one is sent it must verify.
	VerifyClientOptional
	// VerifyClientOptionalNoCA: a certificate is requested and accepted whatever it is (self-signed,
	// unknown CA, expired, revoked); the connection records that it was not verified.
	VerifyClientOptionalNoCA
)

var verifyClientNames = [...]string{"", "off", "on", "optional", "optional_no_ca"}

func (v VerifyClient) String() string {
	if int(v) < len(verifyClientNames) {
		return verifyClientNames[v]
	}
	return "VerifyClient(" + strconv.Itoa(int(v)) + ")"
}

// ServerNameMode is Kamailio's server_name_mode: how server_name matches the SNI.
type ServerNameMode uint8

const (
	ServerNameExact              ServerNameMode = 0 // the name itself
	ServerNameDomainAndSubdomain ServerNameMode = 1 // the name and every name below it
	ServerNameSubdomain          ServerNameMode = 2 // only names below it
)

// Settings is one profile's configuration as read: a tls.cfg section, or the flags for the
// default server profile. Paths are resolved (Kamailio's rules). A Settings is plain data.
type Settings struct {
	Role   Role
	Target Target
	Addr   netip.AddrPort // TargetAddr: local address (server) or remote address (client)

	ServerName     string // lower case; "" if not set
	ServerNameMode ServerNameMode
	ServerID       string // client profiles: the id outbound code selects them by

	TLSMethod   string
	Certificate string
	PrivateKey  string
	CAList      string
	CADir       string
	CRL         string
	CRLDir      string
	CipherList  string
	Curves      string

	// CRLCheckAll (crl_check_all, default yes as Kamailio always sets X509_V_FLAG_CRL_CHECK_ALL)
	// checks every certificate of the chain against its issuer's CRL; no checks the leaf only
	// (OpenSIPS tls_mgm's default).
	CRLCheckAll bool

	VerifyCertificate  bool
	RequireCertificate bool
	VerifyClient       VerifyClient
	// VerifyDepth is the verify_depth in effect: the most intermediate CAs allowed between a
	// peer certificate and its trust anchor (DefaultVerifyDepth when not set).
	VerifyDepth int

	SessionCache  bool
	MatchWildcard bool // client profiles: a DNS SAN "*.example.com" may match (tlsmux key)

	// Source says where the settings come from: "tls.cfg:12" (the section header), "flags" or
	// "built-in".
	Source string

	file   string         // "" for flags and built-in
	header int            // line of the section header
	lines  map[string]int // canonical key -> line
}

// peerAuth is the verification a profile does, combining verify_certificate,
// require_certificate and verify_client as Kamailio's set_verification does: require when
// require_certificate or verify_client=on; request when that, or verify_certificate, or
// verify_client=optional/optional_no_ca; optional_no_ca accepts whatever was sent.
type peerAuth struct {
	request bool // ask the peer for a certificate (server role)
	require bool // fail without one
	noCA    bool // accept any certificate: verification is informational only
}

func (s *Settings) auth() peerAuth {
	var a peerAuth
	a.require = s.RequireCertificate || s.VerifyClient == VerifyClientOn
	a.request = a.require || s.VerifyCertificate || s.VerifyClient == VerifyClientOptional || s.VerifyClient == VerifyClientOptionalNoCA
	a.noCA = s.VerifyClient == VerifyClientOptionalNoCA
	return a
}

// verifies reports whether peer certificates are checked and a bad one fails the handshake.
func (a peerAuth) verifies() bool { return a.request && !a.noCA }

// name is the profile's name: the section identity, stable across reloads.
func (s *Settings) name() string {
	var b strings.Builder
	b.WriteString(s.Role.String())
	switch s.Target {
	case TargetDefault:
		b.WriteString(":default")
	case TargetAny:
		b.WriteString(":any")
	default:
		b.WriteString(":" + s.Addr.String())
	}
	if s.ServerName != "" && s.Target != TargetDefault {
		b.WriteByte('/')
		switch s.ServerNameMode {
		case ServerNameDomainAndSubdomain:
			b.WriteString(s.ServerName + ",*." + s.ServerName)
		case ServerNameSubdomain:
			b.WriteString("*." + s.ServerName)
		default:
			b.WriteString(s.ServerName)
		}
	}
	return b.String()
}

// kamailioBools are the values cfg_parser.c accepts for a boolean (cfg_bool_values).
var kamailioBools = map[string]bool{
	"yes": true, "true": true, "enable": true, "enabled": true, "1": true, "on": true,
	"no": false, "false": false, "disable": false, "disabled": false, "0": false, "off": false,
}

// resolvePath applies Kamailio's rule (tls_domain.c fix_shm_pathname): a path starting with
// '/' is absolute, one starting with '.' is relative to the working directory, anything else
// is relative to the directory of the file that names it.
func resolvePath(p, file, cwd string) string {
	switch {
	case strings.HasPrefix(p, "/"):
		return filepath.Clean(p)
	case strings.HasPrefix(p, "."):
		if cwd == "" {
			return p
		}
		return filepath.Join(cwd, p)
	default:
		return filepath.Join(filepath.Dir(file), p)
	}
}

// sectionSettings interprets one section's values. It reads no file. Problems are
// *ConfigError values; warnings are formatted the same way.
func sectionSettings(f *cfgFile, sec *cfgSection, cwd string) (Settings, []error, []string) {
	s := Settings{
		Role: sec.role, Target: sec.target, Addr: sec.addr,
		VerifyDepth: DefaultVerifyDepth, CRLCheckAll: true,
		Source: fmt.Sprintf("%s:%d", f.name, sec.line),
		file:   f.name, header: sec.line, lines: map[string]int{},
	}
	var (
		errs  []error
		warns []string
	)
	fail := func(key string, line int, err error) {
		errs = append(errs, &ConfigError{File: f.name, Line: line, Section: sec.name, Key: key, Err: err})
	}
	warn := func(key string, line int, format string, args ...any) {
		warns = append(warns, (&ConfigError{File: f.name, Line: line, Section: sec.name, Key: key, Err: fmt.Errorf(format, args...)}).Error())
	}
	boolean := func(key string, o cfgOpt) bool {
		v, ok := kamailioBools[strings.ToLower(o.value)]
		if !ok {
			fail(key, o.line, fmt.Errorf("%q is not a boolean: want yes/no, on/off, true/false, enable(d)/disable(d) or 1/0", o.value))
		}
		return v
	}
	for _, key := range sec.order {
		o := sec.opts[key]
		s.lines[key] = o.line
		v := o.value
		switch key {
		case "tls_method":
			if _, _, err := ParseMethod(v); err != nil {
				fail(key, o.line, err)
			}
			s.TLSMethod = v
		case "certificate":
			s.Certificate = resolvePath(v, f.name, cwd)
		case "private_key":
			s.PrivateKey = resolvePath(v, f.name, cwd)
		case "ca_list":
			s.CAList = resolvePath(v, f.name, cwd)
		case "ca_dir":
			s.CADir = resolvePath(v, f.name, cwd)
		case "crl":
			s.CRL = resolvePath(v, f.name, cwd)
		case "crl_dir":
			s.CRLDir = resolvePath(v, f.name, cwd)
		case "verify_certificate":
			s.VerifyCertificate = boolean(key, o)
		case "require_certificate":
			s.RequireCertificate = boolean(key, o)
		case "session_cache":
			s.SessionCache = boolean(key, o)
		case "crl_check_all":
			s.CRLCheckAll = boolean(key, o)
		case "match_wildcard":
			s.MatchWildcard = boolean(key, o)
			if sec.role == RoleServer {
				fail(key, o.line, errors.New("only client profiles check the peer's name (RFC 5922): remove it from server sections"))
			}
		case "verify_client":
			vc := VerifyClientUnset
			for i, n := range verifyClientNames[1:] {
				if strings.EqualFold(v, n) {
					vc = VerifyClient(i + 1)
				}
			}
			if vc == VerifyClientUnset {
				fail(key, o.line, fmt.Errorf("%q: want off, on, optional or optional_no_ca", v))
			}
			s.VerifyClient = vc
		case "verify_depth":
			n, err := strconv.Atoi(v)
			switch {
			case err != nil:
				fail(key, o.line, fmt.Errorf("%q is not an integer", v))
			case n < 0 || n > maxVerifyDepth:
				fail(key, o.line, fmt.Errorf("%d: want 0 to %d", n, maxVerifyDepth))
			default:
				s.VerifyDepth = n
			}
		case "cipher_list":
			if _, err := ParseCiphers(v); err != nil {
				for _, e := range splitJoined(err) {
					fail(key, o.line, e)
				}
			}
			s.CipherList = v
		case "curves":
			if _, err := ParseCurves(v); err != nil {
				for _, e := range splitJoined(err) {
					fail(key, o.line, e)
				}
			}
			s.Curves = v
		case "server_name":
			name, err := checkServerName(v)
			if err != nil {
				fail(key, o.line, err)
			}
			if _, ipErr := netip.ParseAddr(name); ipErr == nil && sec.role == RoleServer {
				warn(key, o.line, "%q is an IP address, which clients never send as SNI (RFC 6066 §3): this profile only matches by address", v)
			}
			s.ServerName = name
		case "server_name_mode":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 2 {
				fail(key, o.line, fmt.Errorf("%q: want 0 (the name only), 1 (the name and its subdomains) or 2 (its subdomains only)", v))
			}
			s.ServerNameMode = ServerNameMode(max(0, min(n, 2)))
		case "server_id":
			s.ServerID = v
			if sec.role == RoleServer {
				warn(key, o.line, "only client profiles are selected by server_id: ignored")
			}
		}
	}
	// Section-level rules, Kamailio's where it has them.
	if sec.target == TargetAny && s.ServerName == "" {
		fail("server_name", sec.line, fmt.Errorf("required in [%s:any]: such a profile is matched by server_name alone (Kamailio: \"tls domain for any address but no server name\")", sec.role))
	}
	if _, set := s.lines["server_name_mode"]; set && s.ServerName == "" {
		warn("server_name_mode", s.lines["server_name_mode"], "unused: server_name is not set")
		s.ServerNameMode = ServerNameExact
	}
	if sec.target == TargetDefault && sec.role == RoleServer && s.ServerName != "" {
		warn("server_name", s.lines["server_name"], "not used for matching: [server:default] serves whatever no other profile matches")
	}
	_, vc := s.lines["verify_client"]
	_, verifyCert := s.lines["verify_certificate"]
	_, requireCert := s.lines["require_certificate"]
	if vc && (verifyCert || requireCert) {
		warn("verify_client", s.lines["verify_client"], "set together with verify_certificate/require_certificate: Kamailio ORs them (require when either requires); set only verify_client")
	}
	return s, errs, warns
}

// checkServerName validates a server_name and returns it in lower case: SNI carries a DNS
// host name (RFC 6066 §3), compared case-insensitively.
func checkServerName(v string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(v, "."))
	if strings.Contains(name, "*") {
		return name, fmt.Errorf("%q: wildcards are not names; write the parent domain and server_name_mode = 2 (subdomains) or 1 (it and its subdomains)", v)
	}
	if len(name) == 0 || len(name) > 253 {
		return name, fmt.Errorf("%q: a host name has 1 to 253 characters", v)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return name, fmt.Errorf("%q: empty or over-long label", v)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return name, fmt.Errorf("%q: %q is not allowed in a host name", v, r)
			}
		}
	}
	return name, nil
}

// splitJoined returns the errors of an errors.Join, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
