package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzRPCBody feeds arbitrary bodies to the JSON-RPC handler (in process, over a fake): it must
// never panic, and must always answer with 204 and nothing, or with valid JSON-RPC 2.0: one
// response object, or an array of them, each with jsonrpc "2.0", an id, and exactly one of
// result and error.
func FuzzRPCBody(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","method":"tls.info","id":1}`,
		`{"jsonrpc":"2.0","method":"tls.list","params":{"limit":2,"peer":"10.0.0.0/8","verified":"yes","cursor":"4"},"id":"x"}`,
		`{"jsonrpc":"2.0","method":"tls.list","params":[3,1,"2"],"id":null}`,
		`{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",1048576],"id":1}`,
		`{"jsonrpc":"2.0","method":"cfg.set","params":["tls","certificate","x"],"id":1}`,
		`{"jsonrpc":"2.0","method":"cfg.get","params":["tls"],"id":1}`,
		`{"jsonrpc":"2.0","method":"conn.close","params":{"id":2,"close_notify":1},"id":1}`,
		`{"jsonrpc":"2.0","method":"system.methodHelp","params":["tls.list"],"id":1}`,
		`[{"jsonrpc":"2.0","method":"tls.info","id":1},{"jsonrpc":"2.0","method":"nope"},1,[]]`,
		`[]`, `{`, `42`, `{"jsonrpc":"2.0","method":5,"id":{}}`,
		`{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",99999999999999999999],"id":1e400}`,
		`{"jsonrpc":"2.0","method":"tls.list","params":{"offset":99999},"id":1}`,
		"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"method\":\"tls.info\",\"id\":1}",
	} {
		f.Add(seed)
	}
	fake := newFake(40)
	s := newServer(Options{Target: fake, Logger: discardLogger(), MaxBatch: 8, MaxConcurrent: 1})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/RPC", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		out := w.Body.Bytes()
		switch w.Code {
		case http.StatusNoContent:
			if len(out) != 0 {
				t.Fatalf("204 with a body %q", out)
			}
			return
		case http.StatusOK, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("HTTP %d for %q", w.Code, body)
		}
		out = bytes.TrimSpace(out)
		var list []json.RawMessage
		if len(out) > 0 && out[0] == '[' {
			if err := json.Unmarshal(out, &list); err != nil || len(list) == 0 {
				t.Fatalf("batch answer %q: %v", out, err)
			}
		} else {
			list = []json.RawMessage{out}
		}
		for _, r := range list {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatalf("response %q is not an object: %v (body %q)", r, err, body)
			}
			_, hasResult := m["result"]
			_, hasError := m["error"]
			id, hasID := m["id"]
			if hasResult == hasError || !hasID || string(m["jsonrpc"]) != `"2.0"` {
				t.Fatalf("not a JSON-RPC response: %s (body %q)", r, body)
			}
			if k := kind(id); k != '"' && k != '0' && k != 'n' {
				t.Fatalf("response id %s", id)
			}
			if hasError {
				var e Error
				if err := json.Unmarshal(m["error"], &e); err != nil || e.Message == "" || e.Code == 0 {
					t.Fatalf("error object %s", m["error"])
				}
			}
		}
	})
}

// FuzzParseArgs: any argument list types without panicking, and typing is what it says: an s:
// argument is its rest as a string, an int64 prints back as the digits it came from (modulo sign
// and leading zeros), named params keep every name.
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{
		"tls\x00con_ct_wq_max\x001048576",
		"limit=5\x00sni=sip.example.com\x00verified=true",
		"s:123\x00i:-4\x00x",
		"a=1\x00b",
		"=x\x00007\x00+7\x00-0",
		"i:99999999999999999999",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		var args []string
		if joined != "" {
			args = strings.Split(joined, "\x00")
		}
		got, err := ParseArgs(args)
		if err != nil {
			return
		}
		check := func(arg string, v any) {
			switch v := v.(type) {
			case string:
				if strings.HasPrefix(arg, "s:") && v != arg[2:] {
					t.Fatalf("%q typed as %q", arg, v)
				}
				if !strings.HasPrefix(arg, "s:") && v != arg {
					t.Fatalf("%q typed as string %q", arg, v)
				}
			case int64:
				digits := strings.TrimPrefix(arg, "i:")
				if n, err := strconv.ParseInt(digits, 10, 64); err != nil || n != v {
					t.Fatalf("%q typed as %d", arg, v)
				}
			default:
				t.Fatalf("%q typed as %T", arg, v)
			}
		}
		switch g := got.(type) {
		case nil:
			if len(args) != 0 {
				t.Fatalf("%q gave no params", args)
			}
		case []any:
			if len(g) != len(args) {
				t.Fatalf("%d args gave %d params", len(args), len(g))
			}
			for i, a := range args {
				check(a, g[i])
			}
		case map[string]any:
			if len(g) != len(args) {
				t.Fatalf("%d args gave %d named params", len(args), len(g))
			}
			for _, a := range args {
				k, val, _ := strings.Cut(a, "=")
				v, ok := g[k]
				if !ok {
					t.Fatalf("%q lost its name", a)
				}
				check(val, v)
			}
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("params %v do not encode: %v", got, err)
		}
	})
}

// FuzzRender: ctl prints any JSON value without panicking, and never writes a control character
// other than newline (terminal escapes in a peer's SNI or certificate stay escaped).
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		`{"total":3,"count":1,"next_cursor":"4","connections":[{"id":2,"sni":"\u001b[31mx","peer_sans":["a","b"]}]}`,
		`[{"a":1},{"b":{"c":[1,{"d":null}]}}]`,
		`[1,"two",null,true]`, `"x\ty"`, `{}`, `[]`, `null`, `{"a":{"b":{"c":{}}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := parseOrdered([]byte(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		render(&b, v)
		for _, r := range b.String() {
			if r < 0x20 && r != '\n' || r == 0x7f || r == 0x1b {
				t.Fatalf("control character %U in output for %q:\n%q", r, in, b.String())
			}
		}
	})
}
