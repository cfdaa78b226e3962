package profile

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the tls.cfg parser. A file beyond them is refused with an error naming the limit:
// the parser's memory is bounded whatever it is given (the file is read by the daemon at
// start-up and on every reload, and fuzzed).
const (
	maxConfigSize = 1 << 20 // bytes in one tls.cfg
	maxLineLen    = 4096    // bytes in one line
	maxSections   = 4096    // [role:target] sections in one file
	maxErrors     = 50      // problems reported before giving up
)

// Role says whether a profile terminates TLS (server: phones connect to tlsmux) or originates it
// (client: tlsmux connects out), as Kamailio's [server:...] and [client:...] sections do.
type Role uint8

const (
	RoleServer Role = iota
	RoleClient
)

func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// Target is what a section's header names after the role.
type Target uint8

const (
	// TargetAddr is [server:IP:PORT] or [client:IP:PORT]: the local address a connection arrived
	// on (server) or the remote address connected to (client).
	TargetAddr Target = iota
	// TargetDefault is [server:default] or [client:default]: used when nothing else matches.
	TargetDefault
	// TargetAny is [server:any] or [client:any]: matched on server_name alone, whatever the
	// address (Kamailio requires server_name in such sections).
	TargetAny
)

// ConfigError is one problem in a tls.cfg file. Load and Reload join them with errors.Join,
// every problem of the file at once.
type ConfigError struct {
	File    string // the file as named in Options.File
	Line    int    // 1-based; the line of the key, or of the section header when the key is not set
	Section string // "server:default", ... ("" for a problem outside any section)
	Key     string // the canonical key ("" for a problem with the section or the syntax)
	Err     error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	if e.Section != "" {
		b.WriteString("[" + e.Section + "] ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// cfgSection is one [role:target] section as written.
type cfgSection struct {
	role   Role
	target Target
	addr   netip.AddrPort // TargetAddr only
	name   string         // canonical header: "server:default", "client:[2001:db8::1]:5061"
	line   int
	opts   map[string]cfgOpt // canonical key -> value
	order  []string          // canonical keys in file order
	bad    bool              // a line of the section has a syntax error: not interpreted
}

// cfgOpt is one key = value line.
type cfgOpt struct {
	key   string // as written
	value string // unquoted, escapes resolved
	line  int
}

// cfgFile is a parsed tls.cfg: syntax only, values not yet interpreted.
type cfgFile struct {
	name     string
	sections []*cfgSection
}

// canonicalKeys maps every key Kamailio's tls.cfg parser accepts (tls_config.c, options[]),
// its aliases, and tlsmux's additions to one canonical name. Matching is case-insensitive, as
// in Kamailio's cfg_lookup_token.
var canonicalKeys = map[string]string{
	"method":        "tls_method",
	"tls_method":    "tls_method",
	"certificate":   "certificate",
	"cert_file":     "certificate",
	"private_key":   "private_key",
	"pkey_file":     "private_key",
	"ca_list":       "ca_list",
	"calist_file":   "ca_list",
	"ca_dir":        "ca_dir",
	"ca_path":       "ca_dir", // Kamailio's name (SSL_CTX_load_verify_locations CApath)
	"crl":           "crl",
	"crl_dir":       "crl_dir",
	"crl_check_all": "crl_check_all", // OpenSIPS tls_mgm's; Kamailio always checks all

	"verify_certificate":  "verify_certificate",
	"verify_cert":         "verify_certificate",
	"require_certificate": "require_certificate",
	"require_cert":        "require_certificate",
	"verify_client":       "verify_client",
	"verify_depth":        "verify_depth",
	"cipher_list":         "cipher_list",
	"server_name":         "server_name",
	"server_name_mode":    "server_name_mode",
	"server_id":           "server_id",
	"curves":              "curves",
	"ec_curve":            "curves", // OpenSIPS tls_mgm's name
	"session_cache":       "session_cache",
	"match_wildcard":      "match_wildcard",
}

// sectionRoles and the target keywords are Kamailio's (tls_config.c domain_types,
// token_default, ksr_tls_token_any), case-insensitive.
var sectionRoles = map[string]Role{
	"server": RoleServer, "srv": RoleServer, "s": RoleServer,
	"client": RoleClient, "cli": RoleClient, "c": RoleClient,
}

// errList collects problems up to maxErrors.
type errList struct {
	errs []error
	full bool
}

func (l *errList) add(err error) {
	if l.full {
		return
	}
	if len(l.errs) == maxErrors {
		l.errs = append(l.errs, fmt.Errorf("more than %d problems: stopped checking", maxErrors))
		l.full = true
		return
	}
	l.errs = append(l.errs, err)
}

// parseConfig parses tls.cfg syntax (spec.md): sections, keys and values, and checks that
// keys are known, set once per section, and that section headers are well formed. It reads
// nothing but data. Every problem is reported, each a *ConfigError, joined; the sections
// without a problem are returned too (nil only when the file is too large), so that later
// stages can report theirs.
func parseConfig(name string, data []byte) (*cfgFile, error) {
	f := &cfgFile{name: name}
	var el errList
	fail := func(line int, sec *cfgSection, key string, format string, args ...any) {
		e := &ConfigError{File: name, Line: line, Key: key, Err: fmt.Errorf(format, args...)}
		if sec != nil {
			e.Section = sec.name
			sec.bad = true
		}
		el.add(e)
	}
	if len(data) > maxConfigSize {
		fail(1, nil, "", "file is %d bytes, more than the %d a tls.cfg may have", len(data), maxConfigSize)
		return nil, errors.Join(el.errs...)
	}
	var cur *cfgSection
	skipping := false // inside a section whose header was bad: its keys are not checked
	text := string(data)
	for lineNo := 1; len(text) > 0 && !el.full; lineNo++ {
		raw, rest, _ := strings.Cut(text, "\n")
		text = rest
		if len(raw) > maxLineLen {
			fail(lineNo, cur, "", "line is %d bytes, more than %d", len(raw), maxLineLen)
			continue
		}
		if !utf8.ValidString(raw) {
			fail(lineNo, cur, "", "not valid UTF-8")
			continue
		}
		line := strings.TrimRight(raw, "\r")
		if i := strings.IndexFunc(line, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }); i >= 0 {
			fail(lineNo, cur, "", "control character %U in column %d", line[i], i+1)
			continue
		}
		t := strings.TrimLeft(line, " \t")
		switch {
		case t == "" || t[0] == '#':
			continue
		case t[0] == '[':
			sec, err := parseHeader(t)
			if err != nil {
				fail(lineNo, nil, "", "%v", err)
				cur, skipping = nil, true
				continue
			}
			if len(f.sections) == maxSections {
				fail(lineNo, nil, "", "more than %d sections", maxSections)
				return f, errors.Join(el.errs...)
			}
			sec.line = lineNo
			sec.opts = map[string]cfgOpt{}
			f.sections = append(f.sections, sec)
			cur, skipping = sec, false
		default:
			key, value, err := parseOption(t)
			if err != nil {
				fail(lineNo, cur, "", "%v", err)
				continue
			}
			if skipping {
				continue
			}
			ckey, ok := canonicalKeys[strings.ToLower(key)]
			switch {
			case cur == nil:
				fail(lineNo, nil, "", "%q set before any [server:...] or [client:...] section", key)
			case !ok:
				fail(lineNo, cur, "", "unknown key %q (known: %s)", key, knownKeys())
			default:
				if prev, dup := cur.opts[ckey]; dup {
					fail(lineNo, cur, ckey, "set twice in this section (first as %q on line %d)", prev.key, prev.line)
					continue
				}
				cur.opts[ckey] = cfgOpt{key: key, value: value, line: lineNo}
				cur.order = append(cur.order, ckey)
			}
		}
	}
	if len(el.errs) > 0 {
		return f, errors.Join(el.errs...)
	}
	return f, nil
}

func knownKeys() string {
	return "tls_method, certificate, private_key, ca_list, ca_dir, crl, crl_dir, crl_check_all, verify_certificate, " +
		"require_certificate, verify_client, verify_depth, cipher_list, server_name, server_name_mode, " +
		"server_id, curves, session_cache, match_wildcard, and Kamailio's aliases"
}

// parseHeader parses "[role:target]" followed by optional blanks and a comment. Blanks are
// allowed around the tokens, as Kamailio's tokenizer skips them.
func parseHeader(t string) (*cfgSection, error) {
	h := strings.TrimRight(stripComment(t), " \t")
	if !strings.HasSuffix(h, "]") {
		return nil, fmt.Errorf("section header %q must end with ']' (only a comment may follow)", h)
	}
	body := strings.TrimSpace(h[1 : len(h)-1])
	roleStr, target, ok := strings.Cut(body, ":")
	if !ok {
		return nil, fmt.Errorf("section [%s]: want [server:TARGET] or [client:TARGET], TARGET being IP:PORT, [IPv6]:PORT, default or any", body)
	}
	role, ok := sectionRoles[strings.ToLower(strings.TrimSpace(roleStr))]
	if !ok {
		return nil, fmt.Errorf("section [%s]: unknown role %q: want server (srv, s) or client (cli, c)", body, strings.TrimSpace(roleStr))
	}
	sec := &cfgSection{role: role}
	target = strings.TrimSpace(target)
	switch strings.ToLower(target) {
	case "default", "def", "*":
		sec.target = TargetDefault
		sec.name = role.String() + ":default"
		return sec, nil
	case "any", "all":
		sec.target = TargetAny
		sec.name = role.String() + ":any"
		return sec, nil
	}
	ap, err := parseTargetAddr(target)
	if err != nil {
		return nil, fmt.Errorf("section [%s]: %v", body, err)
	}
	sec.target = TargetAddr
	sec.addr = ap
	sec.name = role.String() + ":" + ap.String()
	return sec, nil
}

// parseTargetAddr parses IPv4:PORT or [IPv6]:PORT as Kamailio writes them.
func parseTargetAddr(s string) (netip.AddrPort, error) {
	s = strings.Join(strings.Fields(s), "") // "[ ::1 ] : 5061" as Kamailio's tokenizer allows
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("target %q: want IP:PORT, [IPv6]:PORT, default or any", s)
	}
	host, portStr := s[:i], s[i+1:]
	var addr netip.Addr
	var err error
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		addr, err = netip.ParseAddr(host[1 : len(host)-1])
		if err == nil && !addr.Is6() {
			err = errors.New("brackets are for IPv6 addresses")
		}
		if err == nil && addr.Zone() != "" {
			err = errors.New("zones are not supported")
		}
	} else {
		addr, err = netip.ParseAddr(host)
		if err == nil && !addr.Is4() {
			err = errors.New("write IPv6 addresses in brackets: [2001:db8::1]:5061")
		}
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %v", host, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("port %q: want 1-65535 (Kamailio's port 0 wildcard is not supported: list each port, or use [%s:any] with server_name)", portStr, "server")
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// parseOption parses `key = value [# comment]`. The value is a bare word, or a double-quoted
// string; in both, '\' escapes \\ \" \# \n \r \t and a blank, as in Kamailio's cfg_parser.c.
func parseOption(t string) (key, value string, err error) {
	eq := strings.IndexByte(t, '=')
	if eq < 0 {
		return "", "", fmt.Errorf("%q: want key = value", strings.TrimSpace(stripComment(t)))
	}
	key = strings.TrimSpace(t[:eq])
	if key == "" || strings.IndexFunc(key, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) >= 0 {
		return "", "", fmt.Errorf("bad key %q: keys are letters, digits and '_'", key)
	}
	rest := strings.TrimLeft(t[eq+1:], " \t")
	if rest == "" || rest[0] == '#' {
		return key, "", fmt.Errorf("%s: value missing", key)
	}
	var b strings.Builder
	quoted := rest[0] == '"'
	i := 0
	if quoted {
		i = 1
	}
	closed := false
	for ; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '\\':
			if i+1 == len(rest) {
				return key, "", fmt.Errorf("%s: '\\' at the end of the line (line continuations are not supported)", key)
			}
			i++
			switch e := rest[i]; e {
			case '\\', '"', '#', ' ':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return key, "", fmt.Errorf("%s: unsupported escape \\%c", key, e)
			}
		case quoted && c == '"':
			closed = true
		case !quoted && (c == ' ' || c == '\t' || c == '#'):
			closed = true
		default:
			b.WriteByte(c)
		}
		if closed {
			break
		}
	}
	if quoted && !closed {
		return key, "", fmt.Errorf("%s: missing closing '\"'", key)
	}
	if quoted {
		i++ // past the quote
	}
	if tail := strings.TrimLeft(rest[min(i, len(rest)):], " \t"); tail != "" && tail[0] != '#' {
		return key, "", fmt.Errorf("%s: unexpected %q after the value (quote values holding blanks)", key, tail)
	}
	if b.Len() == 0 {
		return key, "", fmt.Errorf("%s: value missing", key)
	}
	return key, b.String(), nil
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		return s[:i]
	}
	return s
}
