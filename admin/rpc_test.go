package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTLSInfo(t *testing.T) {
	e := start(t, newFake(3))
	var got Info
	e.ok("tls.info", nil, &got)
	want := e.f.Info()
	if got != want {
		t.Fatalf("tls.info = %+v\nwant %+v", got, want)
	}
	// Kamailio's three fields come first, with Kamailio's names.
	r := e.call("tls.info", nil)
	if !strings.HasPrefix(string(r.Result), `{"max_connections":100000,"opened_connections":3,"clear_text_write_queued_bytes":0,`) {
		t.Fatalf("tls.info does not start with Kamailio's fields: %s", r.Result)
	}
}

func TestTLSListFields(t *testing.T) {
	e := start(t, newFake(10))
	var got listJSON
	e.ok("tls.list", []any{2}, &got)
	if got.Total != 10 || got.Count != 2 || len(got.Connections) != 2 || got.NextCursor != "4" {
		t.Fatalf("tls.list limit 2: total %d count %d next %q, %d conns", got.Total, got.Count, got.NextCursor, len(got.Connections))
	}
	c := got.Connections[0] // fakeConn(2, 0): age 0, idle 0, verified, SNI sip.example.com, profile carrier
	want := connJSON{
		ID: 2, State: "proxying", Timestamp: "2026-12-04 12:00:00", Timeout: 600,
		SrcIP: "10.0.0.1", SrcPort: 40000, DstIP: "192.0.2.1", DstPort: 5061,
		SNI: "sip.example.com", Profile: "carrier", Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256",
		PeerCN: "phone-0", PeerSANs: []string{"phone-0.example.com"}, Verified: true,
	}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("first connection:\n got %+v\nwant %+v", c, want)
	}
	c = got.Connections[1] // fakeConn(4, 1): age 1s, idle 1s, unverified, no SANs
	if c.Age != 1 || c.Idle != 1 || c.Timeout != 599 || c.Timestamp != "2026-12-04 11:59:59" || c.Verified || c.PeerSANs == nil || len(c.PeerSANs) != 0 {
		t.Fatalf("second connection: %+v", c)
	}
	// Kamailio's field names lead each entry.
	r := e.call("tls.list", map[string]any{"limit": 1})
	if !strings.Contains(string(r.Result), `"connections":[{"id":2,"state":"proxying","timestamp":"2026-12-04 12:00:00","timeout":600,"src_ip":"10.0.0.1","src_port":40000,"dst_ip":"192.0.2.1","dst_port":5061,"sni":`) {
		t.Fatalf("tls.list entry: %s", r.Result)
	}
}

func TestTLSListTimeoutFollowsSetting(t *testing.T) {
	e := start(t, newFake(2))
	e.ok("cfg.set_now_int", []any{"tls", "connection_timeout", -1}, nil)
	var got listJSON
	e.ok("tls.list", nil, &got)
	if got.Connections[1].Timeout != -1 {
		t.Fatalf("timeout with connection_timeout -1 = %d, want -1", got.Connections[1].Timeout)
	}
}

func TestTLSListSANsBounded(t *testing.T) {
	f := newFake(1)
	f.conns[0].PeerSANs = make([]string, 1000)
	for i := range f.conns[0].PeerSANs {
		f.conns[0].PeerSANs[i] = fmt.Sprintf("san%d.example.com", i)
	}
	e := start(t, f)
	var got listJSON
	e.ok("tls.list", nil, &got)
	if n := len(got.Connections[0].PeerSANs); n != maxSANs {
		t.Fatalf("%d SANs shown, want %d", n, maxSANs)
	}
}

// ids lists the IDs of a page.
func ids(l listJSON) []uint64 {
	out := make([]uint64, len(l.Connections))
	for i, c := range l.Connections {
		out[i] = c.ID
	}
	return out
}

// fakeIDs are the IDs of fake connections i in [from, to) whose i passes keep.
func fakeIDs(from, to int, keep func(i int) bool) []uint64 {
	var out []uint64
	for i := from; i < to; i++ {
		if keep(i) {
			out = append(out, uint64(2*(i+1)))
		}
	}
	return out
}

func TestTLSListFilters(t *testing.T) {
	const n = 5000
	e := start(t, newFake(n))
	all := func(int) bool { return true }
	v4 := func(i int) bool { return i%4 != 3 }
	for _, tc := range []struct {
		name   string
		params map[string]any
		keep   func(i int) bool
	}{
		{"none", nil, all},
		{"prefix /24", map[string]any{"peer": "10.0.3.0/24"}, func(i int) bool { return v4(i) && i/250 == 3 }},
		{"prefix, host bits set", map[string]any{"peer": "10.0.3.77/24"}, func(i int) bool { return v4(i) && i/250 == 3 }},
		{"prefix /16", map[string]any{"peer": "10.0.0.0/16"}, v4},
		{"IPv4-mapped prefix", map[string]any{"peer": "::ffff:10.0.3.0/120"}, func(i int) bool { return v4(i) && i/250 == 3 }},
		{"one address", map[string]any{"peer": "10.0.1.5"}, func(i int) bool { return v4(i) && i/250 == 1 && i%250+1 == 5 }},
		{"IPv6 prefix", map[string]any{"peer": "2001:db8::/32"}, func(i int) bool { return !v4(i) }},
		{"sni, other case", map[string]any{"sni": "SIP.EXAMPLE.COM"}, func(i int) bool { return i%3 == 0 }},
		{"sni none matches", map[string]any{"sni": "nope.example"}, func(int) bool { return false }},
		{"verified true", map[string]any{"verified": true}, func(i int) bool { return i%2 == 0 }},
		{"verified 0", map[string]any{"verified": 0}, func(i int) bool { return i%2 == 1 }},
		{"verified \"yes\"", map[string]any{"verified": "yes"}, func(i int) bool { return i%2 == 0 }},
		{"profile", map[string]any{"profile": "carrier"}, func(i int) bool { return i%5 == 0 }},
		{"all together", map[string]any{"peer": "10.0.0.0/8", "sni": "sip.example.com", "verified": false, "profile": "carrier"},
			func(i int) bool { return v4(i) && i%3 == 0 && i%2 == 1 && i%5 == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := fakeIDs(0, n, tc.keep)
			var got []uint64
			total := -1
			p := map[string]any{"limit": MaxPageSize}
			for k, v := range tc.params {
				p[k] = v
			}
			for pages := 0; ; pages++ {
				if pages > n/MaxPageSize+2 {
					t.Fatal("paging does not end")
				}
				var l listJSON
				e.ok("tls.list", p, &l)
				if total >= 0 && l.Total != total {
					t.Fatalf("total changed from %d to %d", total, l.Total)
				}
				total = l.Total
				got = append(got, ids(l)...)
				if l.NextCursor == "" {
					break
				}
				p["cursor"] = l.NextCursor
			}
			if total != len(want) || !slices.Equal(got, want) {
				t.Fatalf("total %d, %d ids (first %v); want %d ids (first %v)", total, len(got), head(got), len(want), head(want))
			}
		})
	}
}

func head(s []uint64) []uint64 { return s[:min(len(s), 5)] }

func TestTLSListOffset(t *testing.T) {
	const n = 5000
	e := start(t, newFake(n))
	var l listJSON
	e.ok("tls.list", map[string]any{"offset": 4990, "limit": 100}, &l)
	if want := fakeIDs(4990, n, func(int) bool { return true }); !slices.Equal(ids(l), want) || l.NextCursor != "" || l.Total != n {
		t.Fatalf("offset 4990: ids %v next %q total %d, want %v, no cursor", ids(l), l.NextCursor, l.Total, want)
	}
	// The offset counts matching connections, not positions in the table.
	// Over MaxPageSize, it is skipped in more than one walk.
	e.ok("tls.list", map[string]any{"offset": 1001, "limit": 3, "verified": true}, &l)
	if want := fakeIDs(2002, 2008, func(i int) bool { return i%2 == 0 }); !slices.Equal(ids(l), want) || l.Total != n/2 {
		t.Fatalf("offset 1001 among verified: %v total %d, want %v", ids(l), l.Total, want)
	}
	// Positional: limit, offset.
	e.ok("tls.list", []any{2, 10}, &l)
	if want := fakeIDs(10, 12, func(int) bool { return true }); !slices.Equal(ids(l), want) || l.NextCursor != "24" {
		t.Fatalf("positional 2 10: %v next %q, want %v next 24", ids(l), l.NextCursor, want)
	}
	// Past the end: an empty page, not an error.
	e.ok("tls.list", map[string]any{"offset": MaxOffset}, &l)
	if l.Count != 0 || l.Connections == nil || l.NextCursor != "" {
		t.Fatalf("offset past the end: %+v", l)
	}
	// Offset after a cursor: skip from the cursor on.
	e.ok("tls.list", map[string]any{"cursor": "20", "offset": 5, "limit": 1}, &l)
	if !slices.Equal(ids(l), []uint64{32}) {
		t.Fatalf("cursor 20 offset 5: %v, want [32]", ids(l))
	}
}

func TestTLSListDefaultPage(t *testing.T) {
	e := start(t, newFake(250))
	var l listJSON
	e.ok("tls.list", nil, &l)
	if l.Count != DefaultPageSize || l.NextCursor != strconv.Itoa(2*DefaultPageSize) {
		t.Fatalf("default page: count %d next %q", l.Count, l.NextCursor)
	}
}

// TestTLSListCursorStable pages through 5,000 connections while connections close (behind and
// ahead of the cursor) and open between pages: every connection open throughout is listed
// exactly once, none is listed twice, closed ones ahead are not listed, and new ones are.
func TestTLSListCursorStable(t *testing.T) {
	const n = 5000
	e := start(t, newFake(n))
	seen := map[uint64]int{}
	closedAhead := map[uint64]bool{}
	var added []uint64
	p := map[string]any{"limit": 700}
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("paging does not end")
		}
		var l listJSON
		e.ok("tls.list", p, &l)
		for _, id := range ids(l) {
			seen[id]++
		}
		if l.NextCursor == "" {
			break
		}
		p["cursor"] = l.NextCursor
		cursor, _ := strconv.ParseUint(l.NextCursor, 10, 64)
		// Close one already listed and two not yet listed, over the RPC; open one.
		e.ok("conn.close", []any{ids(l)[len(l.Connections)-2]}, nil)
		for _, id := range []uint64{cursor + 2, cursor + 300} {
			if id <= 2*n {
				e.ok("conn.close", []any{id, 1}, nil)
				closedAhead[id] = true
			}
		}
		added = append(added, e.f.add(n+page))
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("connection %d listed %d times", id, k)
		}
		if closedAhead[id] {
			t.Errorf("connection %d listed after it closed", id)
		}
	}
	for i := 1; i <= n; i++ {
		id := uint64(2 * i)
		if _, ok := seen[id]; !ok && !closedAhead[id] {
			t.Errorf("connection %d, open throughout, never listed", id)
		}
	}
	for _, id := range added {
		if seen[id] != 1 {
			t.Errorf("connection %d opened while paging: listed %d times, want once (ids only grow)", id, seen[id])
		}
	}
	e.f.with(func(f *fakeTarget) {
		if !slices.Contains(f.closes, fmt.Sprintf("%d/true", 2+700*2)) {
			t.Errorf("conn.close with close_notify 1 did not reach the Target: %v", f.closes[:3])
		}
	})
}

func TestTLSOptions(t *testing.T) {
	e := start(t, newFake(0))
	var got []optionJSON
	e.ok("tls.options", nil, &got)
	if len(got) != len(e.f.opts) {
		t.Fatalf("%d options, want %d", len(got), len(e.f.opts))
	}
	byName := map[string]optionJSON{}
	for _, o := range got {
		byName[o.Group+"."+o.Name] = o
	}
	c := byName["tls.con_ct_wq_max"]
	if c.Value != float64(65536) || c.Type != "int" || c.Unit != "bytes" || !c.Runtime || c.Min == nil || *c.Min != -1 || c.Description == "" {
		t.Fatalf("tls.con_ct_wq_max: %+v", c)
	}
	cert := byName["tls.certificate"]
	if cert.Value != "/etc/tlsmux/cert.pem" || cert.Type != "string" || cert.Runtime || cert.Min != nil {
		t.Fatalf("tls.certificate: %+v", cert)
	}
	if vd := byName["tls.verify_depth"]; vd.Runtime || vd.Min != nil {
		t.Fatalf("read-only int shows a range: %+v", vd)
	}
}

func TestCfgSetAndGet(t *testing.T) {
	e := start(t, newFake(0))
	var v int64
	e.ok("cfg.get", []any{"tls", "con_ct_wq_max"}, &v)
	if v != 65536 {
		t.Fatalf("cfg.get = %d", v)
	}
	// kamcmd style: cfg.set_now_int tls con_ct_wq_max 1048576
	var set setJSON
	e.ok("cfg.set_now_int", []any{"tls", "con_ct_wq_max", 1048576}, &set)
	if set != (setJSON{Group: "tls", Name: "con_ct_wq_max", Value: 1048576, Previous: 65536}) {
		t.Fatalf("cfg.set_now_int result %+v", set)
	}
	e.ok("cfg.get", map[string]any{"group": "tls", "name": "con_ct_wq_max"}, &v)
	if v != 1048576 {
		t.Fatalf("after set, cfg.get = %d", v)
	}
	e.ok("cfg.seti", []any{"tls", "send_close_notify", 1}, nil)
	e.ok("cfg.set", map[string]any{"group": "tcp", "name": "max_connections", "value": 5}, nil)
	e.ok("cfg.set", []any{"tls", "con_ct_wq_max", -1}, nil) // -1: no limit, the minimum
	e.f.with(func(f *fakeTarget) {
		want := []string{"tls.con_ct_wq_max=1048576", "tls.send_close_notify=1", "tcp.max_connections=5", "tls.con_ct_wq_max=-1"}
		if !slices.Equal(f.sets, want) {
			t.Errorf("Set calls %v, want %v", f.sets, want)
		}
	})
	var s string
	e.ok("cfg.get", []any{"tls", "certificate"}, &s)
	if s != "/etc/tlsmux/cert.pem" {
		t.Fatalf("string cfg.get = %q", s)
	}
	// The whole group, in order, as Kamailio's "cfg.get tls".
	r := e.call("cfg.get", []any{"tls"})
	if want := `{"certificate":"/etc/tlsmux/cert.pem","con_ct_wq_max":-1,"connection_timeout":600,"ct_wq_blk_size":4096,"ct_wq_max":10485760,"send_close_notify":1,"verify_depth":9}`; string(r.Result) != want {
		t.Fatalf("cfg.get tls = %s\nwant %s", r.Result, want)
	}
	// Set logs an audit line with the peer.
	if !strings.Contains(e.log.String(), `level=INFO msg="admin: call" method=cfg.set_now_int peer=127.0.0.1:`) {
		t.Fatalf("no audit line for cfg.set_now_int:\n%s", e.log)
	}
}

func TestCfgListAndHelp(t *testing.T) {
	e := start(t, newFake(0))
	var names []cfgName
	e.ok("cfg.list", nil, &names)
	if len(names) != len(e.f.opts) || names[0] != (cfgName{"core", "version"}) {
		t.Fatalf("cfg.list: %v", names)
	}
	e.ok("cfg.list", []any{"tcp"}, &names)
	if len(names) != 1 || names[0] != (cfgName{"tcp", "max_connections"}) {
		t.Fatalf("cfg.list tcp: %v", names)
	}
	var help string
	e.ok("cfg.help", []any{"tls", "con_ct_wq_max"}, &help)
	if help != "clear text queued per connection (bytes; -1..9223372036854775807; cfg.set_now_int changes it at once)" {
		t.Fatalf("cfg.help: %q", help)
	}
	e.ok("cfg.help", []any{"tls", "verify_depth"}, &help)
	if !strings.HasSuffix(help, "fixed while running)") {
		t.Fatalf("cfg.help of a read-only setting: %q", help)
	}
	e.fail("cfg.list", []any{"nope"}, CodeNotFound)
}

func TestTLSReload(t *testing.T) {
	f := newFake(0)
	f.reloadRes = ReloadResult{Profiles: 2, Changed: []string{"profile default: certificate replaced"}}
	e := start(t, f)
	var got reloadJSON
	e.ok("tls.reload", nil, &got)
	if got.Message != "Ok. TLS configuration reloaded." || got.Profiles != 2 || !slices.Equal(got.Changed, f.reloadRes.Changed) || got.Warnings == nil {
		t.Fatalf("tls.reload: %+v", got)
	}

	f.with(func(f *fakeTarget) {
		f.reloadErr = errors.Join(errors.New("tls.cfg:12: unknown key \"verfy_certificate\""), errors.New("tls.cfg:20: /etc/k.pem: no such file"))
	})
	r := e.call("tls.reload", nil)
	if r.Error == nil || r.Error.Code != CodeFailed {
		t.Fatalf("failed reload: %+v", r)
	}
	if r.Error.Message != `tls.reload failed, nothing changed: 2 problems; the first: tls.cfg:12: unknown key "verfy_certificate"` {
		t.Fatalf("message %q", r.Error.Message)
	}
	data, _ := json.Marshal(r.Error.Data)
	if string(data) != `{"errors":["tls.cfg:12: unknown key \"verfy_certificate\"","tls.cfg:20: /etc/k.pem: no such file"]}` {
		t.Fatalf("data %s", data)
	}

	// Bounded: a reload with thousands of problems lists 100 and says how many more.
	var many []error
	for i := range 500 {
		many = append(many, fmt.Errorf("problem %d", i))
	}
	f.with(func(f *fakeTarget) { f.reloadErr = errors.Join(many...) })
	r = e.call("tls.reload", nil)
	var d struct{ Errors []string }
	b, _ := json.Marshal(r.Error.Data)
	json.Unmarshal(b, &d)
	if len(d.Errors) != maxReloadErrors+1 || d.Errors[maxReloadErrors] != "... and 400 more" {
		t.Fatalf("%d errors listed, last %q", len(d.Errors), d.Errors[len(d.Errors)-1])
	}

	// A Target may choose the error itself.
	f.with(func(f *fakeTarget) { f.reloadErr = &Error{Code: CodeUnavailable, Message: "reload already running"} })
	e.fail("tls.reload", nil, CodeUnavailable)
}

func TestConnClose(t *testing.T) {
	e := start(t, newFake(3))
	var got closeJSON
	e.ok("conn.close", map[string]any{"id": 4, "close_notify": true}, &got)
	if got != (closeJSON{ID: 4, Closed: true}) {
		t.Fatalf("conn.close: %+v", got)
	}
	e.ok("conn.close", []any{2}, nil)
	err := e.fail("conn.close", []any{4}, CodeNotFound)
	if !strings.Contains(err.Message, "no connection 4") {
		t.Fatalf("closing a closed connection: %q", err.Message)
	}
	e.f.with(func(f *fakeTarget) {
		if !slices.Equal(f.closes, []string{"4/true", "2/false"}) || len(f.conns) != 1 {
			t.Fatalf("closes %v, %d left", f.closes, len(f.conns))
		}
	})
}

func TestCoreShutdown(t *testing.T) {
	e := start(t, newFake(0))
	var got map[string]bool
	e.ok("core.shutdown", nil, &got)
	if !got["draining"] {
		t.Fatalf("core.shutdown: %v", got)
	}
	var info Info
	e.ok("tls.info", nil, &info)
	if !info.Draining || e.f.shutdowns != 1 {
		t.Fatalf("after core.shutdown: draining %v, %d calls", info.Draining, e.f.shutdowns)
	}
	if !strings.Contains(e.log.String(), "method=core.shutdown peer=127.0.0.1:") {
		t.Fatalf("core.shutdown not logged:\n%s", e.log)
	}
}

func TestSystemMethods(t *testing.T) {
	e := start(t, newFake(0))
	var names []string
	e.ok("system.listMethods", nil, &names)
	want := []string{"cfg.get", "cfg.help", "cfg.list", "cfg.set", "cfg.set_now_int", "cfg.seti", "conn.close", "core.shutdown",
		"system.listMethods", "system.methodHelp", "tls.info", "tls.list", "tls.options", "tls.reload"}
	if !slices.Equal(names, want) {
		t.Fatalf("system.listMethods = %v", names)
	}
	var help string
	e.ok("system.methodHelp", []any{"cfg.set_now_int"}, &help)
	if help != "Change an integer setting at once, for every connection. Parameters, in this order or by name: group (string, required: tls, tcp, core, tlsmux); name (string, required: setting name (cfg.list)); value (integer, required: new value, in the setting's unit (tls.options));" {
		t.Fatalf("system.methodHelp: %q", help)
	}
	e.fail("system.methodHelp", []any{"nope"}, CodeNotFound)
}

func TestBatchAndNotifications(t *testing.T) {
	e := start(t, newFake(2))
	status, b := e.post("/RPC", `[
		{"jsonrpc":"2.0","method":"cfg.get","params":["tls","verify_depth"],"id":"a"},
		{"jsonrpc":"2.0","method":"conn.close","params":[2]},
		{"jsonrpc":"2.0","method":"nope","id":3},
		1,
		{"jsonrpc":"2.0","method":"tls.info","params":null,"id":null}
	]`)
	if status != http.StatusOK {
		t.Fatalf("batch: HTTP %d %s", status, b)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 4 {
		t.Fatalf("batch answered %s, want 4 responses (the notification gets none)", b)
	}
	r := []rpcResp{decodeResp(t, raw[0]), decodeResp(t, raw[1]), decodeResp(t, raw[2]), decodeResp(t, raw[3])}
	if string(r[0].ID) != `"a"` || string(r[0].Result) != "9" {
		t.Errorf("batch[0]: %s", raw[0])
	}
	if string(r[1].ID) != "3" || r[1].Error == nil || r[1].Error.Code != CodeMethodNotFound {
		t.Errorf("batch[2]: %s", raw[1])
	}
	if string(r[2].ID) != "null" || r[2].Error == nil || r[2].Error.Code != CodeInvalidRequest {
		t.Errorf("batch[3]: %s", raw[2])
	}
	if string(r[3].ID) != "null" || r[3].Error != nil {
		t.Errorf("batch[4]: %s", raw[3])
	}
	// The notification ran.
	e.f.with(func(f *fakeTarget) {
		if len(f.closes) != 1 {
			t.Errorf("notification conn.close did not run: %v", f.closes)
		}
	})
	// Only notifications: nothing to answer.
	status, b = e.post("/RPC", `[{"jsonrpc":"2.0","method":"tls.info"},{"jsonrpc":"2.0","method":"nope"}]`)
	if status != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("all notifications: HTTP %d %q", status, b)
	}
	status, b = e.post("/", `{"jsonrpc":"2.0","method":"tls.info"}`)
	if status != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("one notification on /: HTTP %d %q", status, b)
	}
}

func TestPostRoot(t *testing.T) {
	e := start(t, newFake(1))
	status, b := e.post("/", `{"jsonrpc":"2.0","method":"tls.info","id":1}`)
	if r := decodeResp(t, b); status != http.StatusOK || r.Error != nil {
		t.Fatalf("POST /: HTTP %d %s", status, b)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	f := newFake(1)
	entered, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	f.infoHook = func() {
		if once.CompareAndSwap(false, true) { // only the first call blocks
			close(entered)
			<-release
		}
	}
	e := start(t, f, func(o *Options) { o.MaxConcurrent = 1 })
	done := make(chan int)
	go func() {
		status, _ := doPost(t, e.hc, e.url+"/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`)
		done <- status
	}()
	<-entered
	status, b := e.post("/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":2}`)
	r := decodeResp(t, b)
	if status != http.StatusServiceUnavailable || r.Error == nil || r.Error.Code != CodeUnavailable {
		t.Fatalf("second request while one is served: HTTP %d %s", status, b)
	}
	close(release)
	if s := <-done; s != http.StatusOK {
		t.Fatalf("first request: HTTP %d", s)
	}
	// The slot is free again.
	e.ok("tls.info", nil, nil)
}

func TestTargetPanicIsInternalError(t *testing.T) {
	f := newFake(1)
	f.panicIn = "List"
	e := start(t, f)
	err := e.fail("tls.list", nil, CodeInternal)
	if err.Message != "internal error in tls.list: fake panic in List" {
		t.Fatalf("message %q", err.Message)
	}
	e.ok("tls.info", nil, nil) // still serving
	if !strings.Contains(e.log.String(), `msg="admin: panic in a method" method=tls.list`) {
		t.Fatal("panic not logged")
	}
}

func TestTimestampsUseClock(t *testing.T) {
	e := start(t, newFake(1))
	e.clock.Advance(36 * time.Hour)
	var l listJSON
	e.ok("tls.list", nil, &l)
	if l.Connections[0].Timestamp != "2026-12-06 00:00:00" {
		t.Fatalf("timestamp %q", l.Connections[0].Timestamp)
	}
}

func TestParsePeer(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":              "192.0.2.7/32",
		"192.0.2.7/24":           "192.0.2.0/24",
		"::ffff:192.0.2.7":       "192.0.2.7/32",
		"::ffff:192.0.2.0/120":   "192.0.2.0/24",
		"2001:db8::1":            "2001:db8::1/128",
		"fe80::1%eth0":           "fe80::1/128",
		"2001:db8:1:2::/48":      "2001:db8:1::/48",
		"::ffff:0:0/80":          "::/80", // under /96: stays IPv6, masked
		"0.0.0.0/0":              "0.0.0.0/0",
		"::/0":                   "::/0",
		"10.20.30.40/8":          "10.0.0.0/8",
		"2001:db8::ffff:1.2.3.4": "2001:db8::ffff:102:304/128",
	} {
		p, err := parsePeer(in)
		if err != nil || p.String() != want {
			t.Errorf("parsePeer(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "example.com", "10.0.0.0/33", "10.0.0.1:5061", "/8", "10.0.0.0/-1"} {
		if p, err := parsePeer(in); err == nil {
			t.Errorf("parsePeer(%q) = %v, want an error", in, p)
		}
	}
	if !normPrefix(netip.MustParsePrefix("::ffff:127.0.0.2/128")).Contains(netip.MustParseAddr("127.0.0.2")) {
		t.Fatal("normPrefix does not unmap")
	}
}
