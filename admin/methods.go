package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// method is one RPC method.
type method struct {
	name    string
	params  []param
	doc     string
	mutates bool // changes the daemon: logged at Info with the peer, whoever asks
	call    func(c *call) (any, error)
}

// call is one method invocation.
type call struct {
	s    *Server
	peer string // for logs
	args args
}

// MaxOffset bounds tls.list's offset: the endpoint skips an offset by walking pages of the
// connection table, so the work of one request stays under MaxOffset/MaxPageSize+1 walks. Past
// it, page with the cursor, which costs one walk per page wherever it is.
const MaxOffset = 100 * MaxPageSize

// methods is filled by init: two of them (system.*) read the table.
var methods []*method

var methodIndex = map[string]int{}

func init() {
	methods = []*method{
		{name: "tls.info", doc: "Connections, queues, handshakes and memory: what tls.info shows in Kamailio, and more.", call: tlsInfo},
		{name: "tls.list", doc: "The open TLS connections, filtered and paged (limit, offset, cursor).", call: tlsList, params: []param{
			{name: "limit", kind: pInt, doc: fmt.Sprintf("connections per page, 1..%d (default %d)", MaxPageSize, DefaultPageSize)},
			{name: "offset", kind: pInt, doc: fmt.Sprintf("skip this many matching connections first, 0..%d", MaxOffset)},
			{name: "cursor", kind: pIntOrString, doc: "continue after the page that returned this next_cursor"},
			{name: "peer", kind: pString, doc: "peer address or prefix: 192.0.2.7, 192.0.2.0/24, 2001:db8::/32"},
			{name: "sni", kind: pString, doc: "server_name the client sent, case-insensitive"},
			{name: "verified", kind: pBool, doc: "peer certificate verified (true) or not (false)"},
			{name: "profile", kind: pString, doc: "TLS profile that served the connection"},
		}},
		{name: "tls.options", doc: "Every setting: group, name, value, unit, whether cfg.set_now_int can change it, and its range.", call: tlsOptions},
		{name: "tls.reload", mutates: true, doc: "Reload the TLS profiles and certificates; new connections use them, open ones keep theirs.", call: tlsReload},
		{name: "cfg.get", doc: "The value of one setting, or with only a group every setting of the group.", call: cfgGet, params: []param{
			{name: "group", kind: pString, required: true, doc: "tls, tcp, core, tlsmux"},
			{name: "name", kind: pString, doc: "setting name; omit for the whole group"},
		}},
		{name: "cfg.set_now_int", mutates: true, doc: "Change an integer setting at once, for every connection.", call: cfgSet, params: cfgSetParams(pInt)},
		{name: "cfg.seti", mutates: true, doc: "Alias of cfg.set_now_int.", call: cfgSet, params: cfgSetParams(pInt)},
		{name: "cfg.set", mutates: true, doc: "Change a setting at once (every runtime setting is an integer).", call: cfgSet, params: cfgSetParams(pIntOrString)},
		{name: "cfg.list", doc: "The names of the settings, of one group or of all.", call: cfgList, params: []param{
			{name: "group", kind: pString, doc: "only this group"},
		}},
		{name: "cfg.help", doc: "What a setting means, its unit and range.", call: cfgHelp, params: []param{
			{name: "group", kind: pString, required: true},
			{name: "name", kind: pString, required: true},
		}},
		{name: "conn.close", mutates: true, doc: "Close one connection by id (from tls.list), optionally with a TLS close_notify first.", call: connClose, params: []param{
			{name: "id", kind: pInt, required: true, doc: "connection id"},
			{name: "close_notify", kind: pBool, doc: "send a close_notify alert first (default: as tls.send_close_notify says)"},
		}},
		{name: "core.shutdown", mutates: true, doc: "Graceful drain, as SIGTERM: refuse new connections, give open ones the grace period, exit.", call: coreShutdown},
		{name: "system.listMethods", doc: "The names of every method.", call: listMethods},
		{name: "system.methodHelp", doc: "What a method does and its parameters.", call: methodHelp, params: []param{
			{name: "method", kind: pString, required: true},
		}},
	}
	if len(methods) >= len(adminStats{}.calls) {
		panic("admin: internal error: adminStats.calls has no room for every method")
	}
	for i, md := range methods {
		methodIndex[md.name] = i
	}
}

func cfgSetParams(k paramKind) []param {
	return []param{
		{name: "group", kind: pString, required: true, doc: "tls, tcp, core, tlsmux"},
		{name: "name", kind: pString, required: true, doc: "setting name (cfg.list)"},
		{name: "value", kind: k, required: true, doc: "new value, in the setting's unit (tls.options)"},
	}
}

func tlsInfo(c *call) (any, error) { return c.s.t.Info(), nil }

// connJSON is one entry of tls.list. The first fields carry Kamailio's names (tls_rpc.c tls_list):
// id, timestamp, timeout, src_ip, src_port, dst_ip, dst_port, sni, cipher, ct_wq_size, state.
type connJSON struct {
	ID        uint64   `json:"id"`
	State     string   `json:"state"`
	Timestamp string   `json:"timestamp"` // accepted at, UTC, "2006-01-02 15:04:05"
	Timeout   int64    `json:"timeout"`   // seconds until the idle timeout; -1 never
	SrcIP     string   `json:"src_ip"`    // the peer
	SrcPort   uint16   `json:"src_port"`
	DstIP     string   `json:"dst_ip"` // our listener
	DstPort   uint16   `json:"dst_port"`
	SNI       string   `json:"sni"`
	Profile   string   `json:"profile"`
	Version   string   `json:"version"`
	Cipher    string   `json:"cipher"`
	PeerCN    string   `json:"peer_cn"`
	PeerSANs  []string `json:"peer_sans"`
	Verified  bool     `json:"verified"`
	Resumed   bool     `json:"resumed"`
	Age       float64  `json:"age"`  // seconds
	Idle      float64  `json:"idle"` // seconds
	BytesIn   uint64   `json:"bytes_in"`
	BytesOut  uint64   `json:"bytes_out"`
	CtWqSize  int64    `json:"ct_wq_size"`
	Queued    int64    `json:"queued"`
}

// maxSANs bounds the SANs shown per connection: a certificate may carry thousands, and a page of
// 1000 connections must stay a bounded size.
const maxSANs = 16

type listJSON struct {
	Total       int        `json:"total"`
	Count       int        `json:"count"`
	NextCursor  string     `json:"next_cursor"` // "" on the last page
	Connections []connJSON `json:"connections"`
}

func tlsList(c *call) (any, error) {
	a := c.args
	limit := a.int("limit", DefaultPageSize)
	if limit < 1 || limit > MaxPageSize {
		return nil, errorf(CodeInvalidParams, "invalid params: \"limit\" = %d is out of range [1, %d]", limit, MaxPageSize)
	}
	offset := a.int("offset", 0)
	if offset < 0 || offset > MaxOffset {
		return nil, errorf(CodeInvalidParams, "invalid params: \"offset\" = %d is out of range [0, %d]; page further with \"cursor\"", offset, MaxOffset)
	}
	var q ListQuery
	if a.has("cursor") {
		var err error
		if q.After, err = parseCursor(a["cursor"]); err != nil {
			return nil, err
		}
	}
	if a.has("peer") {
		p, err := parsePeer(a.str("peer"))
		if err != nil {
			return nil, err
		}
		q.Filter.Peer = p
	}
	q.Filter.SNI = a.str("sni")
	q.Filter.Profile = a.str("profile")
	if a.has("verified") {
		v := a.bool("verified")
		q.Filter.Verified = &v
	}
	// The offset is skipped in pages of ids, so that a Target only ever answers "after id X".
	for skip := int(offset); skip > 0; {
		q.Limit = min(skip, MaxPageSize)
		p, err := c.s.t.List(q)
		if err != nil {
			return nil, err
		}
		if len(p.Conns) == 0 {
			break
		}
		q.After = p.Conns[len(p.Conns)-1].ID
		skip -= len(p.Conns)
	}
	q.Limit = int(limit)
	p, err := c.s.t.List(q)
	if err != nil {
		return nil, err
	}
	if len(p.Conns) > q.Limit {
		return nil, fmt.Errorf("admin: Target.List returned %d connections for a limit of %d", len(p.Conns), q.Limit)
	}
	idle := connectionTimeout(c.s.t.Options())
	now := c.s.o.Now()
	out := listJSON{Total: p.Total, Count: len(p.Conns), Connections: make([]connJSON, len(p.Conns))}
	for i := range p.Conns {
		out.Connections[i] = toConnJSON(&p.Conns[i], now, idle)
	}
	// A full page may be followed by more; an empty next page ends the walk. (Asking for one
	// more than the limit would tell for sure, but a Target may cap the limit at MaxPageSize.)
	if len(p.Conns) == q.Limit {
		out.NextCursor = strconv.FormatUint(p.Conns[len(p.Conns)-1].ID, 10)
	}
	return out, nil
}

func toConnJSON(cn *Conn, now time.Time, idleTimeout time.Duration) connJSON {
	j := connJSON{
		ID:        cn.ID,
		State:     cn.State,
		Timestamp: now.Add(-cn.Age).UTC().Format(time.DateTime),
		Timeout:   -1,
		SNI:       cn.SNI,
		Profile:   cn.Profile,
		Version:   cn.Version,
		Cipher:    cn.Cipher,
		PeerCN:    cn.PeerCN,
		PeerSANs:  cn.PeerSANs,
		Verified:  cn.Verified,
		Resumed:   cn.Resumed,
		Age:       seconds(cn.Age),
		Idle:      seconds(cn.Idle),
		BytesIn:   cn.BytesIn,
		BytesOut:  cn.BytesOut,
		CtWqSize:  cn.CtQueued,
		Queued:    cn.Queued,
	}
	if len(j.PeerSANs) > maxSANs {
		j.PeerSANs = j.PeerSANs[:maxSANs:maxSANs]
	}
	if j.PeerSANs == nil {
		j.PeerSANs = []string{}
	}
	if cn.Peer.IsValid() {
		j.SrcIP, j.SrcPort = cn.Peer.Addr().Unmap().String(), cn.Peer.Port()
	}
	if cn.Local.IsValid() {
		j.DstIP, j.DstPort = cn.Local.Addr().Unmap().String(), cn.Local.Port()
	}
	if idleTimeout >= 0 {
		j.Timeout = max(int64((idleTimeout - cn.Idle).Seconds()), 0)
	}
	return j
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// connectionTimeout is tls.connection_timeout (seconds; -1 never) as a duration, -1 if absent.
func connectionTimeout(opts []Option) time.Duration {
	for i := range opts {
		if o := &opts[i]; o.Group == "tls" && o.Name == "connection_timeout" && !o.IsString {
			if o.Int < 0 || o.Int > math.MaxInt64/int64(time.Second) {
				return -1
			}
			return time.Duration(o.Int) * time.Second
		}
	}
	return -1
}

func parseCursor(v any) (uint64, error) {
	switch v := v.(type) {
	case int64:
		if v >= 0 {
			return uint64(v), nil
		}
	case string:
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, errorf(CodeInvalidParams, "invalid params: \"cursor\" = %v is not a next_cursor that tls.list returned", clip(fmt.Sprint(v)))
}

// parsePeer reads an address (a host prefix) or a prefix. IPv4-mapped IPv6 forms are read as
// the IPv4 they stand for, as the peer addresses they are compared with are.
func parsePeer(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, errorf(CodeInvalidParams, "invalid params: \"peer\" = %q is not an address or a prefix: %v", clip(s), err)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, errorf(CodeInvalidParams, "invalid params: \"peer\" = %q is not an address or a prefix: %v", clip(s), err)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return normPrefix(p), nil
}

// normPrefix unmaps an IPv4-mapped prefix (::ffff:192.0.2.0/120 is 192.0.2.0/24), drops a zone
// and masks the host bits.
func normPrefix(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr().WithZone(""), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// optionJSON is one entry of tls.options.
type optionJSON struct {
	Group       string `json:"group"`
	Name        string `json:"name"`
	Value       any    `json:"value"`
	Type        string `json:"type"` // "int" or "string"
	Unit        string `json:"unit"`
	Runtime     bool   `json:"runtime"`
	Min         *int64 `json:"min,omitempty"`
	Max         *int64 `json:"max,omitempty"`
	Description string `json:"description"`
}

func tlsOptions(c *call) (any, error) {
	opts := c.s.t.Options()
	out := make([]optionJSON, len(opts))
	for i := range opts {
		o := &opts[i]
		out[i] = optionJSON{Group: o.Group, Name: o.Name, Value: o.Value(), Type: "int", Unit: o.Unit, Runtime: o.Runtime, Description: o.Doc}
		if o.IsString {
			out[i].Type = "string"
		} else if o.Runtime {
			out[i].Min, out[i].Max = &o.Min, &o.Max
		}
	}
	return out, nil
}

type reloadJSON struct {
	Message  string   `json:"message"`
	Profiles int      `json:"profiles"`
	Changed  []string `json:"changed"`
	Warnings []string `json:"warnings"`
}

// maxReloadErrors bounds the problems a failed tls.reload lists in its error data.
const maxReloadErrors = 100

func tlsReload(c *call) (any, error) {
	r, err := c.s.t.Reload()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		problems := flatten(err)
		if len(problems) > maxReloadErrors {
			problems = append(problems[:maxReloadErrors], fmt.Sprintf("... and %d more", len(problems)-maxReloadErrors))
		}
		msg := "tls.reload failed, nothing changed: " + problems[0]
		if len(problems) > 1 {
			msg = fmt.Sprintf("tls.reload failed, nothing changed: %d problems; the first: %s", len(problems), problems[0])
		}
		return nil, &Error{Code: CodeFailed, Message: msg, Data: map[string][]string{"errors": problems}}
	}
	out := reloadJSON{Message: "Ok. TLS configuration reloaded.", Profiles: r.Profiles, Changed: r.Changed, Warnings: r.Warnings}
	if out.Changed == nil {
		out.Changed = []string{}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	return out, nil
}

// flatten lists the leaves of an errors.Join tree, one message each.
func flatten(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			if e != nil {
				out = append(out, flatten(e)...)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []string{err.Error()}
}

// findOption returns group.name, or an error that lists what the group has.
func findOption(opts []Option, group, name string) (*Option, error) {
	var inGroup []string
	for i := range opts {
		if opts[i].Group == group {
			if opts[i].Name == name {
				return &opts[i], nil
			}
			inGroup = append(inGroup, opts[i].Name)
		}
	}
	if len(inGroup) == 0 {
		return nil, errorf(CodeNotFound, "unknown setting %s.%s: no group %q (groups: %s)", clip(group), clip(name), clip(group), strings.Join(groups(opts), ", "))
	}
	return nil, errorf(CodeNotFound, "unknown setting %s.%s (%s has: %s)", clip(group), clip(name), clip(group), strings.Join(inGroup, ", "))
}

func groups(opts []Option) []string {
	var gs []string
	for i := range opts {
		if !slices.Contains(gs, opts[i].Group) {
			gs = append(gs, opts[i].Group)
		}
	}
	return gs
}

// orderedObject is a JSON object whose members keep their order.
type orderedObject []struct {
	key   string
	value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, kv := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv.key)
		v, err := json.Marshal(kv.value)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

func cfgGet(c *call) (any, error) {
	opts := c.s.t.Options()
	group := c.args.str("group")
	if !c.args.has("name") {
		// Kamailio: "cfg.get tm" returns every variable of the group.
		var out orderedObject
		for i := range opts {
			if opts[i].Group == group {
				out = append(out, struct {
					key   string
					value any
				}{opts[i].Name, opts[i].Value()})
			}
		}
		if out == nil {
			return nil, errorf(CodeNotFound, "unknown group %q (groups: %s)", clip(group), strings.Join(groups(opts), ", "))
		}
		return out, nil
	}
	o, err := findOption(opts, group, c.args.str("name"))
	if err != nil {
		return nil, err
	}
	return o.Value(), nil
}

type setJSON struct {
	Group    string `json:"group"`
	Name     string `json:"name"`
	Value    int64  `json:"value"`
	Previous int64  `json:"previous"`
}

func cfgSet(c *call) (any, error) {
	group, name := c.args.str("group"), c.args.str("name")
	o, err := findOption(c.s.t.Options(), group, name)
	if err != nil {
		return nil, err
	}
	full := group + "." + name
	switch {
	case !o.Runtime:
		return nil, errorf(CodeReadOnly, "%s cannot be changed while running; change it in the configuration and restart (or tls.reload for the profiles)", full)
	case o.IsString:
		return nil, errorf(CodeReadOnly, "%s is a string setting; none can be changed while running", full)
	}
	var v int64
	switch x := c.args["value"].(type) {
	case int64:
		v = x
	default:
		return nil, errorf(CodeInvalidParams, "invalid params: \"value\" (position 3) must be an integer for %s (%s), got string %q", full, o.Unit, clip(fmt.Sprint(x)))
	}
	if v < o.Min || v > o.Max {
		return nil, errorf(CodeBadValue, "%s = %d is out of range [%d, %d] (%s)", full, v, o.Min, o.Max, o.Unit)
	}
	if err := c.s.t.Set(group, name, v); err != nil {
		return nil, err
	}
	return setJSON{Group: group, Name: name, Value: v, Previous: o.Int}, nil
}

type cfgName struct {
	Group string `json:"group"`
	Name  string `json:"name"`
}

func cfgList(c *call) (any, error) {
	opts := c.s.t.Options()
	group := c.args.str("group")
	out := []cfgName{}
	for i := range opts {
		if group == "" || opts[i].Group == group {
			out = append(out, cfgName{opts[i].Group, opts[i].Name})
		}
	}
	if group != "" && len(out) == 0 {
		return nil, errorf(CodeNotFound, "unknown group %q (groups: %s)", clip(group), strings.Join(groups(opts), ", "))
	}
	return out, nil
}

func cfgHelp(c *call) (any, error) {
	o, err := findOption(c.s.t.Options(), c.args.str("group"), c.args.str("name"))
	if err != nil {
		return nil, err
	}
	switch {
	case o.IsString:
		return fmt.Sprintf("%s (string; fixed while running)", o.Doc), nil
	case !o.Runtime:
		return fmt.Sprintf("%s (%s; fixed while running)", o.Doc, o.Unit), nil
	}
	return fmt.Sprintf("%s (%s; %d..%d; cfg.set_now_int changes it at once)", o.Doc, o.Unit, o.Min, o.Max), nil
}

type closeJSON struct {
	ID     uint64 `json:"id"`
	Closed bool   `json:"closed"`
}

func connClose(c *call) (any, error) {
	id := c.args.int("id", 0)
	if id < 1 {
		return nil, errorf(CodeInvalidParams, "invalid params: \"id\" = %d is not a connection id (ids start at 1)", id)
	}
	if err := c.s.t.CloseConn(uint64(id), c.args.bool("close_notify")); err != nil {
		return nil, err
	}
	return closeJSON{ID: uint64(id), Closed: true}, nil
}

func coreShutdown(c *call) (any, error) {
	if err := c.s.t.Shutdown(); err != nil {
		return nil, err
	}
	return map[string]bool{"draining": true}, nil
}

func listMethods(*call) (any, error) {
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = m.name
	}
	slices.Sort(out)
	return out, nil
}

func methodHelp(c *call) (any, error) {
	name := c.args.str("method")
	i, ok := methodIndex[name]
	if !ok {
		return nil, errorf(CodeNotFound, "no method %q (system.listMethods lists them)", clip(name))
	}
	m := methods[i]
	var b strings.Builder
	b.WriteString(m.doc)
	if len(m.params) == 0 {
		b.WriteString(" Parameters: none.")
	} else {
		b.WriteString(" Parameters, in this order or by name:")
		for _, p := range m.params {
			fmt.Fprintf(&b, " %s (%s", p.name, strings.TrimPrefix(strings.TrimPrefix(p.kind.String(), "an "), "a "))
			if p.required {
				b.WriteString(", required")
			}
			if p.doc != "" {
				b.WriteString(": " + p.doc)
			}
			b.WriteString(");")
		}
	}
	return b.String(), nil
}
