package admin

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ctl runs Ctl against e and returns its exit status and outputs.
func (e *env) ctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Ctl(append([]string{"-admin", e.s.Addr().String()}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCtlInfoTable(t *testing.T) {
	e := start(t, newFake(3))
	code, out, errs := e.ctl("tls.info")
	if code != CtlOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := `max_connections                100000
opened_connections             3
clear_text_write_queued_bytes  0
con_ct_wq_max                  65536
ct_wq_max                      10485760
send_queued_bytes              0
tcp_conn_wq_max                262144
tcp_wq_max                     67108864
handshakes_in_flight           0
handshakes_waiting             0
max_handshakes                 1024
mem_limit                      1073741824
mem_in_use                     104857600
mem_free                       968884224
low_mem_threshold1             104857600
low_mem_threshold2             52428800
low_mem1                       false
low_mem2                       false
draining                       false
`
	if out != want {
		t.Fatalf("ctl tls.info:\n%s\nwant:\n%s", out, want)
	}
}

func TestCtlListTable(t *testing.T) {
	f := newFake(3)
	f.conns[1].SNI = "\x1b[31mred\u202e" // a peer's SNI must not drive the terminal
	e := start(t, f)
	code, out, errs := e.ctl("tls.list", "limit=2")
	if code != CtlOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := `total        3
count        2
next_cursor  4

connections:
ID  STATE     TIMESTAMP            TIMEOUT  SRC_IP    SRC_PORT  DST_IP     DST_PORT  SNI                  PROFILE  VERSION  CIPHER                  PEER_CN  PEER_SANS            VERIFIED  RESUMED  AGE  IDLE  BYTES_IN  BYTES_OUT  CT_WQ_SIZE  QUEUED
2   proxying  2026-12-04 12:00:00  600      10.0.0.1  40000     192.0.2.1  5061      sip.example.com      carrier  TLSv1.3  TLS_AES_128_GCM_SHA256  phone-0  phone-0.example.com  true      false    0    0     0         0          0           0
4   proxying  2026-12-04 11:59:59  599      10.0.0.2  40001     192.0.2.1  5061      \u001b[31mred\u202e  default  TLSv1.3  TLS_AES_128_GCM_SHA256  -        -                    false     false    1    1     10        20         1           1
`
	if out != want {
		t.Fatalf("ctl tls.list:\n%s\nwant:\n%s", out, want)
	}
}

func TestCtlOptionsAndScalars(t *testing.T) {
	e := start(t, newFake(0))
	code, out, _ := e.ctl("tls.options")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != CtlOK || len(lines) != 1+len(e.f.opts) || !strings.HasPrefix(lines[0], "GROUP  NAME") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, out, _ := e.ctl("cfg.get", "tls", "con_ct_wq_max"); code != CtlOK || out != "65536\n" {
		t.Fatalf("cfg.get: %d %q", code, out)
	}
	if code, out, _ := e.ctl("cfg.get", "tls", "certificate"); code != CtlOK || out != "/etc/tlsmux/cert.pem\n" {
		t.Fatalf("cfg.get string: %d %q", code, out)
	}
	if code, out, _ := e.ctl("system.listMethods"); code != CtlOK || !strings.HasPrefix(out, "cfg.get\ncfg.help\n") {
		t.Fatalf("system.listMethods: %d %q", code, out)
	}
	// kamcmd style set, then the change shows.
	if code, out, errs := e.ctl("cfg.set_now_int", "tls", "con_ct_wq_max", "1048576"); code != CtlOK {
		t.Fatalf("cfg.set_now_int: %d %q %q", code, out, errs)
	}
	if code, out, _ := e.ctl("cfg.get", "tls", "con_ct_wq_max"); code != CtlOK || out != "1048576\n" {
		t.Fatalf("after set: %d %q", code, out)
	}
	// Empty list.
	f := newFake(0)
	e2 := start(t, f)
	if code, out, _ := e2.ctl("tls.list"); code != CtlOK || out != "total        0\ncount        0\nnext_cursor  -\nconnections  -\n" {
		t.Fatalf("empty tls.list: %d %q", code, out)
	}
}

func TestCtlJSON(t *testing.T) {
	e := start(t, newFake(2))
	code, out, errs := e.ctl("-json", "tls.info")
	if code != CtlOK || errs != "" {
		t.Fatalf("exit %d %q", code, errs)
	}
	var got Info
	if err := json.Unmarshal([]byte(out), &got); err != nil || got != e.f.Info() {
		t.Fatalf("-json tls.info: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "{\n  \"max_connections\": 100000,\n") {
		t.Fatalf("-json is not indented: %q", out[:40])
	}
	// An error with -json: the error object on stdout, the message on stderr.
	code, out, errs = e.ctl("-json", "conn.close", "99")
	if code != CtlRPCError || !strings.Contains(out, `"code": 404`) || !strings.Contains(errs, "no connection 99") {
		t.Fatalf("-json error: %d %q %q", code, out, errs)
	}
}

func TestCtlRPCError(t *testing.T) {
	e := start(t, newFake(0))
	code, out, errs := e.ctl("cfg.set_now_int", "tls", "con_ct_wq_max", "-5")
	if code != CtlRPCError || out != "" || errs != "tlsmux ctl: cfg.set_now_int: tls.con_ct_wq_max = -5 is out of range [-1, 9223372036854775807] (bytes) (code 400)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = e.ctl("tls.nope")
	if code != CtlRPCError || !strings.Contains(errs, `method not found: "tls.nope" (system.listMethods lists them) (code -32601)`) {
		t.Fatalf("unknown method: %d %q", code, errs)
	}
	code, _, errs = e.ctl("cfg.set_now_int", "tls", "con_ct_wq_max", "s:1024")
	if code != CtlRPCError || !strings.Contains(errs, `"value" (position 3) must be an integer, got string "1024"`) {
		t.Fatalf("s: forces a string: %d %q", code, errs)
	}
	// A failed reload prints the list of problems under the message.
	e.f.with(func(f *fakeTarget) { f.reloadErr = errorsJoin("tls.cfg:3: bad", "tls.cfg:9: worse") })
	code, _, errs = e.ctl("tls.reload")
	if code != CtlRPCError || !strings.Contains(errs, "errors  tls.cfg:3: bad,tls.cfg:9: worse") {
		t.Fatalf("failed reload: %d %q", code, errs)
	}
}

func TestCtlUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-json"},
		{"-nope", "tls.info"},
		{"tls.list", "limit=5", "7"},
		{"tls.list", "limit=5", "limit=6"},
		{"cfg.set_now_int", "tls", "x", "i:12x"},
		{"-timeout", "0s", "tls.info"},
	} {
		var out, errb bytes.Buffer
		if code := Ctl(args, &out, &errb); code != CtlUsage || errb.Len() == 0 {
			t.Errorf("ctl %q: exit %d, stderr %q; want %d and a message", args, code, errb.String(), CtlUsage)
		}
	}
	var out, errb bytes.Buffer
	if code := Ctl([]string{"-h"}, &out, &errb); code != CtlOK || !strings.Contains(errb.String(), "usage: tlsmux ctl") {
		t.Errorf("-h: %d %q", code, errb.String())
	}
}

// TestCtlStoppedEndpoint: nothing listens where ctl looks.
func TestCtlStoppedEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out, errb bytes.Buffer
	code := Ctl([]string{"-admin", addr, "tls.info"}, &out, &errb)
	want := "tlsmux ctl: cannot reach the admin endpoint at " + addr + ": connection refused — is tlsmux running with -admin?\n"
	if code != CtlUnreachable || errb.String() != want || out.Len() != 0 {
		t.Fatalf("exit %d, stderr %q\nwant %d, %q", code, errb.String(), CtlUnreachable, want)
	}

	errb.Reset()
	path := filepath.Join(t.TempDir(), "none.sock")
	code = Ctl([]string{"-socket", path, "tls.info"}, &out, &errb)
	want = "tlsmux ctl: cannot reach the admin endpoint at " + path + ": no such file or directory — is tlsmux running with -admin-socket?\n"
	if code != CtlUnreachable || errb.String() != want {
		t.Fatalf("socket: exit %d, stderr %q\nwant %q", code, errb.String(), want)
	}

	// An endpoint that closed: a server that Close()d.
	e := start(t, newFake(0))
	addr = e.s.Addr().String()
	e.s.Close()
	errb.Reset()
	if code = Ctl([]string{"-admin", addr, "tls.info"}, &out, &errb); code != CtlUnreachable {
		t.Fatalf("closed endpoint: exit %d %q", code, errb.String())
	}
}

func TestCtlNotJSONRPC(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := Ctl([]string{"-admin", strings.TrimPrefix(srv.URL, "http://"), "tls.info"}, &out, &errb)
	if code != CtlRPCError || !strings.Contains(errb.String(), "did not answer JSON-RPC (HTTP 404 Not Found): 404 page not found") {
		t.Fatalf("exit %d %q", code, errb.String())
	}
}

func TestCtlRefusedPeer(t *testing.T) {
	e := start(t, newFake(0), func(o *Options) { o.loopback = []netip.Prefix{} })
	code, _, errs := e.ctl("tls.info")
	if code != CtlRPCError || !strings.Contains(errs, "is not a loopback address and not in -admin-allow (code 403)") {
		t.Fatalf("exit %d %q", code, errs)
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want any
	}{
		{nil, nil},
		{[]string{"tls", "con_ct_wq_max", "1048576"}, []any{"tls", "con_ct_wq_max", int64(1048576)}},
		{[]string{"-1", "+7", "007", "1.5", "1e3", "0x10"}, []any{int64(-1), int64(7), int64(7), "1.5", "1e3", "0x10"}},
		{[]string{"s:123", "s:", "i:-4", "s:s:x"}, []any{"123", "", int64(-4), "s:x"}},
		{[]string{"99999999999999999999"}, []any{"99999999999999999999"}},
		{[]string{"s:a=b", "c"}, []any{"a=b", "c"}},
		{[]string{"=x", "a b=c"}, []any{"=x", "a b=c"}},
		{[]string{"limit=5", "sni=sip.example.com", "peer=10.0.0.0/8", "verified=true", "cursor=s:12"},
			map[string]any{"limit": int64(5), "sni": "sip.example.com", "peer": "10.0.0.0/8", "verified": "true", "cursor": "12"}},
		{[]string{"x=a=b"}, map[string]any{"x": "a=b"}},
		{[]string{"x="}, map[string]any{"x": ""}},
	} {
		got, err := ParseArgs(tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseArgs(%q) = %#v, %v; want %#v", tc.args, got, err, tc.want)
		}
	}
	for _, args := range [][]string{
		{"a=1", "b"},
		{"a=1", "a=2"},
		{"i:x"},
		{"i:99999999999999999999"},
		make([]string, maxCtlArgs+1),
	} {
		if got, err := ParseArgs(args); err == nil {
			t.Errorf("ParseArgs(%q) = %v, want an error", args, got)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode ✓": "plain text, ünïcode ✓",
		"\x1b[2J":               `\u001b[2J`,
		"a\tb\nc":               `a\u0009b\u000ac`,
		"bidi\u202eevil":        `bidi\u202eevil`,
		"bad \xff utf8":         `bad \xff utf8`,
		"\U000e0001tag":         `\U000e0001tag`,
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderShapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`null`, "-\n"},
		{`"x"`, "x\n"},
		{`[]`, "(none)\n"},
		{`[1,"a",null]`, "1\na\n-\n"},
		{`{"a":{"b":1,"c":[1,2]},"long_key":true,"e":{}}`, "a.b       1\na.c       1,2\nlong_key  true\ne         {}\n"},
		{`[{"a":1,"b":""},{"a":2,"c":[{"x":1}]}]`, "A  C\n1  -\n2  [{\"x\":1}]\n"},
		{`[{"a":""}]`, "A\n-\n"},
		{`{"t":[{"k":"v"}]}`, "t:\nK\nv\n"},
		// A key first seen in a later row goes after the key it follows there.
		{`[{"a":1,"d":"x"},{"a":2,"b":3,"c":4,"d":"y"}]`, "A  B  C  D\n1  -  -  x\n2  3  4  y\n"},
		// A list too long for a line is one item per line, after the key/value lines.
		{`{"n":2,"errors":["` + strings.Repeat("a", 60) + `","` + strings.Repeat("b", 60) + `"]}`,
			"n  2\n\nerrors:\n  " + strings.Repeat("a", 60) + "\n  " + strings.Repeat("b", 60) + "\n"},
	} {
		v, err := parseOrdered([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		render(&b, v)
		if b.String() != tc.want {
			t.Errorf("render(%s):\n%q\nwant\n%q", tc.in, b.String(), tc.want)
		}
	}
	for _, bad := range []string{`{"a":1} 2`, `{`, strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)} {
		if _, err := parseOrdered([]byte(bad)); err == nil {
			t.Errorf("parseOrdered(%.20q) succeeded", bad)
		}
	}
}
