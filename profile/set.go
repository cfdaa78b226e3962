package profile

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Options configures [Load] and [NewStore]. The zero value loads the default server profile
// from a zero [Server] (a generated self-signed certificate) and nothing else.
type Options struct {
	// File is the tls.cfg (spec.md). "" means none: the set holds the Default server profile
	// and Kamailio's built-in client defaults.
	File string
	// TicketKeys is a session ticket key file (see [ParseTicketKeys]), re-read on every
	// reload. "" means keys made in the process, kept across reloads and rotated daily by
	// [Store.RotateTicketKeys].
	TicketKeys string
	// Default is the server profile from the flags. It is [server:default] when File has no
	// such section; otherwise it is unused.
	Default Server
	// Now is the clock for load-time checks and for CRL expiry at handshakes. nil: time.Now.
	Now func() time.Time
	// Rand supplies generated certificate serials and in-process ticket keys. nil: crypto/rand.
	Rand io.Reader
	// Cwd resolves "./..." paths in File (Kamailio: relative to the working directory). "":
	// os.Getwd at each load.
	Cwd string
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Profile is one loaded TLS profile: a tls.cfg section, the flags' default server profile, or
// the built-in client default. It is immutable; its *tls.Config must not be modified.
type Profile struct {
	// Name identifies the profile in logs, metrics and Change, stable across reloads:
	// "server:default", "server:192.0.2.1:5061", "server:any/*.example.com",
	// "server:[2001:db8::1]:5061/sip.example.com,*.sip.example.com", "client:default", ...
	Name     string
	Settings Settings
	Info     Info

	cfg        *tls.Config
	ver        *verifier
	digest     [32]byte // settings and the contents of every file read
	authDigest [32]byte
	generated  *tls.Certificate
}

// Config is the profile's *tls.Config, built once at load. For a client profile it is a base:
// use [Profile.ClientConfig].
func (p *Profile) Config() *tls.Config { return p.cfg }

// ClientConfig returns a client profile's config for one outbound connection to the SIP domain
// domain ("": the profile's server_name): it sends domain as SNI and, when the profile
// verifies, checks the server certificate against ca_list/ca_dir, verify_depth, the CRLs and
// the RFC 5922 identity of domain ([MatchSIPDomain]). It clones the base config: one small
// allocation per outbound connection, which are rare next to inbound ones.
func (p *Profile) ClientConfig(domain string) *tls.Config {
	if p.Settings.Role != RoleClient {
		panic("profile: ClientConfig on server profile " + p.Name)
	}
	cfg := p.cfg.Clone()
	if domain != "" {
		cfg.ServerName = domain
	} else {
		domain = p.Settings.ServerName
	}
	ver := p.ver
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return ver.verifyServerConn(cs, domain) }
	return cfg
}

// sniIndex finds a profile by server name (Kamailio server_name, server_name_mode).
type sniIndex struct {
	exact  map[string]*Profile // modes 0 and 1
	suffix map[string]*Profile // modes 1 and 2: "example.com" for names below it
}

func (x *sniIndex) empty() bool { return len(x.exact) == 0 && len(x.suffix) == 0 }

func (x *sniIndex) add(p *Profile) {
	if x.exact == nil {
		x.exact, x.suffix = map[string]*Profile{}, map[string]*Profile{}
	}
	n := p.Settings.ServerName
	switch p.Settings.ServerNameMode {
	case ServerNameExact:
		x.exact[n] = p
	case ServerNameDomainAndSubdomain:
		x.exact[n] = p
		x.suffix[n] = p
	case ServerNameSubdomain:
		x.suffix[n] = p
	}
}

// lookup finds name (lower case): an exact name first, then the longest parent domain.
// Map lookups with string(bytes) keys do not allocate.
func (x *sniIndex) lookup(name []byte) *Profile {
	if p := x.exact[string(name)]; p != nil {
		return p
	}
	if len(x.suffix) == 0 {
		return nil
	}
	for i, c := range name {
		if c == '.' {
			if p := x.suffix[string(name[i+1:])]; p != nil {
				return p
			}
		}
	}
	return nil
}

// addrEntry is what one address has.
type addrEntry struct {
	sni   sniIndex
	plain *Profile    // the section for the address without server_name
	cfg   *tls.Config // what ServerConfig returns for the address
}

// Set is one loaded tls.cfg (plus the defaults): every profile with its *tls.Config, and the
// indexes that pick one for a connection. A Set is immutable once loaded and safe for
// concurrent use; reloading makes a new Set ([Store]).
type Set struct {
	profiles []*Profile
	byName   map[string]*Profile

	srvAddr    map[netip.AddrPort]*addrEntry
	srvAny     sniIndex
	srvDefault *Profile
	srvCfg     *tls.Config // ServerConfig for addresses without a section

	cliID      map[string]*Profile // lower-cased server_id
	cliAddr    map[netip.AddrPort]*addrEntry
	cliAny     sniIndex
	cliDefault *Profile

	warnings   []string
	ticketSums [32]byte // digest of the ticket keys in force, for Change
}

// normAddr makes an accepted socket's address comparable with the sections': IPv4-mapped
// IPv6 addresses (dual-stack listeners) become IPv4, zones are dropped.
func normAddr(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
}

// ServerConfig returns the *tls.Config for a connection accepted on local, the address the
// client connected to (getsockname of the accepted socket, not the listener's wildcard). It
// is precomputed per address: a map lookup, no allocation. When SNI may refine the choice
// (server_name sections on that address, or [server:any] sections), the config's
// GetConfigForClient picks the profile from the ClientHello, again without allocating.
func (s *Set) ServerConfig(local netip.AddrPort) *tls.Config {
	if e := s.srvAddr[normAddr(local)]; e != nil {
		return e.cfg
	}
	return s.srvCfg
}

// Match returns the server profile a connection on local with SNI serverName ("" if none was
// sent) uses: the one ServerConfig's config selects. crypto/tls does not say which config
// GetConfigForClient returned, so a connection that needs its profile (attributes, logs, PROXY
// TLVs, CheckPeer) recomputes it after the handshake from the same inputs, on the same *Set:
// the result is deterministic. The order, most specific first:
//
//  1. a section for local whose server_name matches serverName: an exact name, then the
//     longest parent domain (server_name_mode 1 or 2);
//  2. a [server:any] section whose server_name matches, in the same order;
//  3. the section for local without server_name;
//  4. [server:default] (the flags' profile when the file has none).
func (s *Set) Match(local netip.AddrPort, serverName string) *Profile {
	return matchProfile(s.srvAddr[normAddr(local)], &s.srvAny, s.srvDefault, serverName)
}

// Client returns the client profile for an outbound connection (Kamailio's tls_lookup_cfg
// for client domains): the profile whose server_id equals serverID (case-insensitive), if
// any; else the sections for the remote address remote and the [client:any] sections, matched
// on serverName as [Set.Match] does; else [client:default]. matched is false when the default
// was returned.
func (s *Set) Client(serverID string, remote netip.AddrPort, serverName string) (p *Profile, matched bool) {
	if serverID != "" {
		if p := s.cliID[strings.ToLower(serverID)]; p != nil {
			return p, true
		}
	}
	p = matchProfile(s.cliAddr[normAddr(remote)], &s.cliAny, s.cliDefault, serverName)
	return p, p != s.cliDefault
}

func matchProfile(e *addrEntry, any *sniIndex, def *Profile, serverName string) *Profile {
	var buf [253]byte
	if name, ok := lowerName(buf[:0], serverName); ok {
		if e != nil {
			if p := e.sni.lookup(name); p != nil {
				return p
			}
		}
		if p := any.lookup(name); p != nil {
			return p
		}
	}
	if e != nil && e.plain != nil {
		return e.plain
	}
	return def
}

// lowerName appends the lower-cased SNI to dst, without a trailing dot; false if it cannot be
// a host name (empty, too long).
func lowerName(dst []byte, name string) ([]byte, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > cap(dst) {
		return nil, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// Profiles returns every profile, server profiles first, each group sorted by name.
func (s *Set) Profiles() []*Profile { return slices.Clone(s.profiles) }

// Profile returns the profile named name, or nil.
func (s *Set) Profile(name string) *Profile { return s.byName[name] }

// Warnings returns every warning found while loading, each naming its file and line or flag.
func (s *Set) Warnings() []string { return slices.Clone(s.warnings) }

// Load reads and builds a Set once. Every problem is reported at once: the error joins
// *ConfigError values (tls.cfg), *SettingError values (flags) and ticket key errors. Use a
// [Store] to reload.
func Load(o Options) (*Set, error) {
	secret, err := newTicketSecret(o.Rand, o.now())
	if err != nil {
		return nil, err
	}
	set, _, err := load(o, loadState{secrets: []ticketSecret{secret}})
	return set, err
}

// loadState is what a reload carries over from the set it replaces.
type loadState struct {
	secrets   []ticketSecret   // in-process ticket keys, newest first (no -ticket-keys file)
	generated *tls.Certificate // the flags' generated self-signed certificate, to keep serving it
}

// load parses, reads and builds everything, and returns the set or every problem. The file
// reader it returns records every file it tried to read, for the watcher, even on failure.
func load(o Options, ls loadState) (*Set, *fileReader, error) {
	now := o.now()
	fr := newFileReader()
	var (
		errs     []error
		warns    []string
		settings []Settings
	)
	cwd := o.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	if o.File != "" {
		data, err := fr.read(o.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls config: %w", err))
		} else {
			ss, w, err := parseSettings(o.File, data, cwd)
			settings, warns = ss, w
			if err != nil {
				errs = append(errs, splitJoined(err)...)
			}
		}
	}
	hasDefault := [2]bool{}
	for _, s := range settings {
		if s.Target == TargetDefault {
			hasDefault[s.Role] = true
		}
	}
	if !hasDefault[RoleServer] {
		d := o.Default.settings()
		settings = append(settings, d)
		if o.File != "" && d.Certificate == "" {
			warns = append(warns, fmt.Sprintf("%s: no [server:default] and no -certificate: connections that match no section get a generated self-signed certificate", o.File))
		}
	}
	if !hasDefault[RoleClient] {
		settings = append(settings, Settings{Role: RoleClient, Target: TargetDefault, VerifyDepth: DefaultVerifyDepth, CRLCheckAll: true, Source: "built-in"})
	}

	var profiles []*Profile
	for i := range settings {
		s := &settings[i]
		pfr := newFileReader()
		env := &buildEnv{now: now, random: o.Rand, clock: o.Now, files: pfr}
		if s.Source == "flags" {
			env.generated = ls.generated
		}
		b, w, err := buildProfile(s, env)
		warns = append(warns, w...)
		for _, p := range pfr.order {
			fr.record(p, pfr.fps[p])
		}
		if err != nil {
			errs = append(errs, splitJoined(err)...)
			continue
		}
		p := &Profile{Name: s.name(), Settings: *s, Info: b.info, cfg: b.cfg, ver: b.ver, authDigest: b.authDigest, generated: b.generated}
		p.Info.Warnings = w
		p.digest = profileDigest(s, pfr, b)
		profiles = append(profiles, p)
	}

	var ticketKeys [][32]byte
	if o.TicketKeys != "" {
		data, err := fr.read(o.TicketKeys)
		if err == nil {
			ticketKeys, err = ParseTicketKeys(data)
		}
		if err != nil {
			for _, e := range splitJoined(err) {
				errs = append(errs, fmt.Errorf("ticket keys %s: %w", o.TicketKeys, e))
			}
		}
	} else {
		for _, s := range ls.secrets {
			ticketKeys = append(ticketKeys, s.key)
		}
	}
	if len(errs) > 0 {
		sortByLine(errs)
		return nil, fr, errors.Join(errs...)
	}
	set := newSet(profiles, warns)
	set.applyTicketKeys(ticketKeys)
	return set, fr, nil
}

// parseSettings parses a tls.cfg and interprets every section, with no file access: the part
// of loading FuzzParse and the golden tests exercise whole.
func parseSettings(name string, data []byte, cwd string) ([]Settings, []string, error) {
	f, err := parseConfig(name, data)
	if f == nil {
		return nil, nil, err
	}
	var (
		errs     []error
		warns    []string
		settings []Settings
	)
	if err != nil {
		errs = append(errs, splitJoined(err)...)
	}
	for _, sec := range f.sections {
		if sec.bad {
			continue
		}
		s, serrs, swarns := sectionSettings(f, sec, cwd)
		warns = append(warns, swarns...)
		errs = append(errs, serrs...)
		if len(serrs) == 0 {
			settings = append(settings, s)
		}
	}
	errs = append(errs, checkIdentities(settings)...)
	if len(errs) > 0 {
		sortByLine(errs)
		return settings, warns, errors.Join(errs...)
	}
	return settings, warns, nil
}

// checkIdentities reports sections that would be matched by the same connection, which Kamailio
// refuses (ksr_tls_domain_duplicated: "duplicate definition for a tls profile (same address)
// and no server name provided"; one [server:default] and one [client:default]) and which
// tlsmux extends to overlapping server_name sections and repeated server_id values.
func checkIdentities(ss []Settings) []error {
	type key struct {
		role   Role
		target Target
		addr   netip.AddrPort
		name   string
		kind   byte // 'd' default, 'p' plain address, 'e' exact name, 's' subdomains, 'i' server_id
	}
	seen := map[key]*Settings{}
	var errs []error
	claim := func(s *Settings, k key, cfgKey, format string, args ...any) {
		if prev, ok := seen[k]; ok {
			errs = append(errs, &ConfigError{File: s.file, Line: s.header, Section: s.sectionName(), Key: cfgKey,
				Err: fmt.Errorf(format, append(args, prev.header)...)})
			return
		}
		seen[k] = s
	}
	where := "on this address"
	for i := range ss {
		s := &ss[i]
		k := key{role: s.Role, target: s.Target, addr: s.Addr}
		if s.Target == TargetAny {
			where = "among the [" + s.Role.String() + ":any] sections"
		} else {
			where = "on this address"
		}
		switch {
		case s.Target == TargetDefault:
			k.kind = 'd'
			claim(s, k, "", "duplicate [%s:default]: there can be only one, and the section on line %d is it", s.Role)
		case s.ServerName == "":
			k.kind = 'p'
			claim(s, k, "", "same address and no server_name as the section on line %d: give each a server_name to tell them apart by SNI")
		default:
			k.name = s.ServerName
			if s.ServerNameMode != ServerNameSubdomain {
				k.kind = 'e'
				claim(s, k, "server_name", "%s is already matched exactly %s, by the section on line %d", s.ServerName, where)
			}
			if s.ServerNameMode != ServerNameExact {
				k.kind = 's'
				claim(s, k, "server_name", "subdomains of %s are already matched %s, by the section on line %d", s.ServerName, where)
			}
		}
		if s.Role == RoleClient && s.ServerID != "" {
			claim(s, key{role: RoleClient, name: strings.ToLower(s.ServerID), kind: 'i'}, "server_id",
				"%q is already the server_id of the section on line %d", s.ServerID)
		}
	}
	return errs
}

// profileDigest changes when anything that goes into the profile's config changes.
func profileDigest(s *Settings, fr *fileReader, b *built) [32]byte {
	h := sha256.New()
	c := *s
	c.lines, c.header, c.Source = nil, 0, ""
	fmt.Fprintf(h, "%+v\x00", c)
	d := fr.digest()
	h.Write(d[:])
	if b.generated != nil {
		h.Write(b.generated.Leaf.Raw)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// newSet indexes profiles (already checked by checkIdentities) and precomputes the config
// ServerConfig returns for every address.
func newSet(profiles []*Profile, warns []string) *Set {
	s := &Set{
		byName:  map[string]*Profile{},
		srvAddr: map[netip.AddrPort]*addrEntry{},
		cliAddr: map[netip.AddrPort]*addrEntry{},
		cliID:   map[string]*Profile{},
	}
	slices.SortFunc(profiles, func(a, b *Profile) int {
		if a.Settings.Role != b.Settings.Role {
			return int(a.Settings.Role) - int(b.Settings.Role)
		}
		return strings.Compare(a.Name, b.Name)
	})
	s.profiles = profiles
	s.warnings = warns
	for _, p := range profiles {
		s.byName[p.Name] = p
		st := &p.Settings
		addrs, any := s.srvAddr, &s.srvAny
		if st.Role == RoleClient {
			addrs, any = s.cliAddr, &s.cliAny
			if st.ServerID != "" {
				s.cliID[strings.ToLower(st.ServerID)] = p
			}
		}
		switch st.Target {
		case TargetDefault:
			if st.Role == RoleServer {
				s.srvDefault = p
			} else {
				s.cliDefault = p
			}
		case TargetAny:
			any.add(p)
		case TargetAddr:
			e := addrs[st.Addr]
			if e == nil {
				e = &addrEntry{}
				addrs[st.Addr] = e
			}
			if st.ServerName == "" {
				e.plain = p
			} else {
				e.sni.add(p)
			}
		}
	}
	// A config per address: the profile's own when nothing can refine it, else a selector.
	selector := func(e *addrEntry) *tls.Config {
		return &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return matchProfile(e, &s.srvAny, s.srvDefault, hello.ServerName).cfg, nil
		}}
	}
	for _, e := range s.srvAddr {
		if e.sni.empty() && s.srvAny.empty() && e.plain != nil {
			e.cfg = e.plain.cfg
		} else {
			e.cfg = selector(e)
		}
	}
	if s.srvAny.empty() {
		s.srvCfg = s.srvDefault.cfg
	} else {
		s.srvCfg = selector(nil)
	}
	return s
}

// applyTicketKeys gives every server profile its own keys derived from secrets (newest
// first). Every server profile gets explicit keys, because crypto/tls otherwise encrypts
// tickets with the keys of the config GetConfigForClient was called on (the per-address
// selector), shared by all profiles behind it and remade at every reload.
func (s *Set) applyTicketKeys(secrets [][32]byte) {
	h := sha256.New()
	for _, k := range secrets {
		h.Write(k[:])
	}
	h.Sum(s.ticketSums[:0])
	for _, p := range s.profiles {
		if p.Settings.Role == RoleServer && len(secrets) > 0 {
			p.cfg.SetSessionTicketKeys(deriveTicketKeys(secrets, p.Name, p.authDigest))
		}
	}
}

// sortByLine orders tls.cfg problems by line, as an operator reads the file; the others
// (flags, ticket keys) keep their order after them.
func sortByLine(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int {
		ca, oka := a.(*ConfigError)
		cb, okb := b.(*ConfigError)
		switch {
		case oka && okb:
			if c := strings.Compare(ca.File, cb.File); c != 0 {
				return c
			}
			return ca.Line - cb.Line
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
}
