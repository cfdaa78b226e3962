package admin

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRequestErrors sends malformed and invalid requests over HTTP and checks the JSON-RPC
// error, its id and its message.
func TestRequestErrors(t *testing.T) {
	e := start(t, newFake(2))
	for _, tc := range []struct {
		name, body string
		code       int
		id         string // the id the error must carry
		msg        string // a part of the message
	}{
		{"not JSON", `{"jsonrpc":"2.0",`, CodeParseError, "null", "parse error"},
		{"not JSON at all", `tls.info`, CodeParseError, "null", "not valid JSON"},
		{"empty body", ``, CodeParseError, "null", "parse error"},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"tls.info","id":1} x`, CodeParseError, "null", "parse error"},
		{"empty batch", `[]`, CodeInvalidRequest, "null", "empty batch"},
		{"a number", `42`, CodeInvalidRequest, "null", "object or an array"},
		{"a string", `"tls.info"`, CodeInvalidRequest, "null", "object or an array"},
		{"wrong version", `{"jsonrpc":"1.0","method":"tls.info","id":1}`, CodeInvalidRequest, "1", `"jsonrpc" must be "2.0"`},
		{"no version", `{"method":"tls.info","id":1}`, CodeInvalidRequest, "1", `"jsonrpc" must be "2.0"`},
		{"version a number", `{"jsonrpc":2.0,"method":"tls.info","id":1}`, CodeInvalidRequest, "1", `"jsonrpc" must be "2.0"`},
		{"no method", `{"jsonrpc":"2.0","id":"x"}`, CodeInvalidRequest, `"x"`, `"method" must be a string`},
		{"method a number", `{"jsonrpc":"2.0","method":5,"id":1}`, CodeInvalidRequest, "1", `"method" must be a string`},
		{"Method capitalised", `{"jsonrpc":"2.0","Method":"tls.info","id":1}`, CodeInvalidRequest, "1", `"method" must be a string`},
		{"params a string", `{"jsonrpc":"2.0","method":"tls.info","params":"x","id":1}`, CodeInvalidRequest, "1", `"params" must be an array or an object`},
		{"params a number", `{"jsonrpc":"2.0","method":"tls.info","params":3,"id":1}`, CodeInvalidRequest, "1", `"params"`},
		{"id an object", `{"jsonrpc":"2.0","method":"tls.info","id":{}}`, CodeInvalidRequest, "null", `"id" must be`},
		{"id a bool", `{"jsonrpc":"2.0","method":"tls.info","id":true}`, CodeInvalidRequest, "null", `"id" must be`},
		{"unknown method", `{"jsonrpc":"2.0","method":"tls.nope","id":"abc"}`, CodeMethodNotFound, `"abc"`, `method not found: "tls.nope"`},
		{"rpc. method", `{"jsonrpc":"2.0","method":"rpc.x","id":1.5}`, CodeMethodNotFound, "1.5", "method not found"},

		{"int param a string", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max","big"],"id":1}`,
			CodeInvalidParams, "1", `"value" (position 3) must be an integer, got string "big"`},
		{"int param a fraction", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",1.5],"id":1}`,
			CodeInvalidParams, "1", `"value" (position 3) must be an integer, got number 1.5`},
		{"int param an exponent", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",1e6],"id":1}`,
			CodeInvalidParams, "1", `must be an integer, got number 1e6`},
		{"int param too big", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",99999999999999999999],"id":1}`,
			CodeInvalidParams, "1", `"value" (position 3) = 99999999999999999999 does not fit a 64-bit integer`},
		{"string param a number", `{"jsonrpc":"2.0","method":"cfg.get","params":[5,"x"],"id":1}`,
			CodeInvalidParams, "1", `"group" (position 1) must be a string, got number 5`},
		{"string param an object", `{"jsonrpc":"2.0","method":"cfg.get","params":{"group":{"a":1}},"id":1}`,
			CodeInvalidParams, "1", `"group" (position 1) must be a string, got object {"a":1}`},
		{"bool param a word", `{"jsonrpc":"2.0","method":"tls.list","params":{"verified":"maybe"},"id":1}`,
			CodeInvalidParams, "1", `"verified" (position 6) must be a boolean, got string "maybe"`},
		{"bool param 2", `{"jsonrpc":"2.0","method":"conn.close","params":[4,2],"id":1}`,
			CodeInvalidParams, "1", `"close_notify" (position 2) must be a boolean, got number 2`},
		{"missing param", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls"],"id":1}`,
			CodeInvalidParams, "1", `missing "name" (a string, position 2) for cfg.set_now_int`},
		{"no params at all", `{"jsonrpc":"2.0","method":"conn.close","id":1}`,
			CodeInvalidParams, "1", `missing "id" (an integer, position 1)`},
		{"too many params", `{"jsonrpc":"2.0","method":"cfg.get","params":["tls","a","b"],"id":1}`,
			CodeInvalidParams, "1", `cfg.get takes at most 2 (group, name), got 3`},
		{"params to a method without", `{"jsonrpc":"2.0","method":"tls.info","params":[1],"id":1}`,
			CodeInvalidParams, "1", `tls.info takes at most 0 (none), got 1`},
		{"unknown named param", `{"jsonrpc":"2.0","method":"tls.list","params":{"lmit":5},"id":1}`,
			CodeInvalidParams, "1", `tls.list has no parameter "lmit" (it takes: limit, offset, cursor, peer, sni, verified, profile)`},
		{"limit 0", `{"jsonrpc":"2.0","method":"tls.list","params":{"limit":0},"id":1}`,
			CodeInvalidParams, "1", `"limit" = 0 is out of range [1, 1000]`},
		{"limit over the page size", `{"jsonrpc":"2.0","method":"tls.list","params":[1001],"id":1}`,
			CodeInvalidParams, "1", `"limit" = 1001 is out of range [1, 1000]`},
		{"offset negative", `{"jsonrpc":"2.0","method":"tls.list","params":{"offset":-1},"id":1}`,
			CodeInvalidParams, "1", `"offset" = -1 is out of range [0, 100000]; page further with "cursor"`},
		{"offset over the bound", `{"jsonrpc":"2.0","method":"tls.list","params":{"offset":100001},"id":1}`,
			CodeInvalidParams, "1", `"offset" = 100001 is out of range`},
		{"bad cursor", `{"jsonrpc":"2.0","method":"tls.list","params":{"cursor":"abc"},"id":1}`,
			CodeInvalidParams, "1", `"cursor" = abc is not a next_cursor that tls.list returned`},
		{"negative cursor", `{"jsonrpc":"2.0","method":"tls.list","params":{"cursor":-3},"id":1}`,
			CodeInvalidParams, "1", `"cursor" = -3 is not`},
		{"bad peer", `{"jsonrpc":"2.0","method":"tls.list","params":{"peer":"10.0.0.0/33"},"id":1}`,
			CodeInvalidParams, "1", `"peer" = "10.0.0.0/33" is not an address or a prefix`},
		{"peer a name", `{"jsonrpc":"2.0","method":"tls.list","params":{"peer":"phone.example.com"},"id":1}`,
			CodeInvalidParams, "1", `"peer" = "phone.example.com" is not an address or a prefix`},
		{"conn id 0", `{"jsonrpc":"2.0","method":"conn.close","params":[0],"id":1}`,
			CodeInvalidParams, "1", `"id" = 0 is not a connection id`},
		{"cfg.set with a string for an int", `{"jsonrpc":"2.0","method":"cfg.set","params":["tls","con_ct_wq_max","1MiB"],"id":1}`,
			CodeInvalidParams, "1", `"value" (position 3) must be an integer for tls.con_ct_wq_max (bytes), got string "1MiB"`},

		{"out of range, low", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_max",-5],"id":1}`,
			CodeBadValue, "1", `tls.con_ct_wq_max = -5 is out of range [-1, 9223372036854775807] (bytes)`},
		{"out of range, high", `{"jsonrpc":"2.0","method":"cfg.seti","params":["tls","ct_wq_blk_size",2097152],"id":1}`,
			CodeBadValue, "1", `tls.ct_wq_blk_size = 2097152 is out of range [64, 1048576] (bytes)`},
		{"bool setting 2", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","send_close_notify",2],"id":1}`,
			CodeBadValue, "1", `tls.send_close_notify = 2 is out of range [0, 1] (bool)`},
		{"unknown name", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","con_ct_wq_mx",1],"id":1}`,
			CodeNotFound, "1", `unknown setting tls.con_ct_wq_mx (tls has: certificate, con_ct_wq_max, connection_timeout, ct_wq_blk_size, ct_wq_max, send_close_notify, verify_depth)`},
		{"unknown group", `{"jsonrpc":"2.0","method":"cfg.get","params":["tm","fr_timer"],"id":1}`,
			CodeNotFound, "1", `unknown setting tm.fr_timer: no group "tm" (groups: core, tcp, tls)`},
		{"unknown group alone", `{"jsonrpc":"2.0","method":"cfg.get","params":["tm"],"id":1}`,
			CodeNotFound, "1", `unknown group "tm" (groups: core, tcp, tls)`},
		{"read-only int", `{"jsonrpc":"2.0","method":"cfg.set_now_int","params":["tls","verify_depth",3],"id":1}`,
			CodeReadOnly, "1", `tls.verify_depth cannot be changed while running`},
		{"read-only string", `{"jsonrpc":"2.0","method":"cfg.set","params":["tls","certificate","/x.pem"],"id":1}`,
			CodeReadOnly, "1", `tls.certificate cannot be changed while running`},
		{"unknown connection", `{"jsonrpc":"2.0","method":"conn.close","params":[999999],"id":1}`,
			CodeNotFound, "1", `no connection 999999`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := e.post("/RPC", tc.body)
			if status != http.StatusOK {
				t.Fatalf("HTTP %d %s", status, b)
			}
			r := decodeResp(t, b)
			if r.Error == nil || r.Error.Code != tc.code || string(r.ID) != tc.id || !strings.Contains(r.Error.Message, tc.msg) {
				t.Fatalf("got %s\nwant code %d, id %s, message containing %q", b, tc.code, tc.id, tc.msg)
			}
		})
	}
	e.f.with(func(f *fakeTarget) {
		if len(f.sets) != 0 || len(f.closes) != 0 {
			t.Fatalf("a refused request reached the Target: sets %v closes %v", f.sets, f.closes)
		}
	})
}

func TestBodyTooLarge(t *testing.T) {
	e := start(t, newFake(1), func(o *Options) { o.MaxBodyBytes = 1000 })
	pad := strings.Repeat(" ", 1000)
	status, b := e.post("/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`+pad)
	r := decodeResp(t, b)
	if status != http.StatusRequestEntityTooLarge || r.Error == nil || r.Error.Code != CodeInvalidRequest ||
		r.Error.Message != "invalid request: the body is over the limit of 1000 bytes" {
		t.Fatalf("HTTP %d %s", status, b)
	}
	// Just under the limit is served.
	body := `{"jsonrpc":"2.0","method":"tls.info","id":1}`
	status, _ = e.post("/RPC", body+strings.Repeat(" ", 1000-len(body)))
	if status != http.StatusOK {
		t.Fatalf("a body of exactly the limit: HTTP %d", status)
	}
}

func TestBatchTooLarge(t *testing.T) {
	e := start(t, newFake(1), func(o *Options) { o.MaxBatch = 3 })
	one := `{"jsonrpc":"2.0","method":"tls.info","id":1}`
	status, b := e.post("/RPC", "["+strings.Repeat(one+",", 3)+one+"]")
	r := decodeResp(t, b)
	if status != http.StatusOK || r.Error == nil || r.Error.Code != CodeInvalidRequest || !strings.Contains(r.Error.Message, "a batch of 4 requests is over the limit of 3") {
		t.Fatalf("HTTP %d %s", status, b)
	}
	status, b = e.post("/RPC", "["+strings.Repeat(one+",", 2)+one+"]")
	if status != http.StatusOK || !strings.HasPrefix(string(b), "[") {
		t.Fatalf("a batch of the limit: HTTP %d %s", status, b)
	}
}

func TestHTTPMethodAndPath(t *testing.T) {
	e := start(t, newFake(1))
	resp, err := e.hc.Get(e.url + "/RPC")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /RPC: HTTP %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	status, _ := e.post("/metrics", "")
	if status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: HTTP %d", status)
	}
	status, _ = e.post("/nope", `{}`)
	if status != http.StatusNotFound {
		t.Fatalf("POST /nope: HTTP %d", status)
	}
}

// TestSlowClientCut holds a connection with half a request line: the read timeout closes it.
func TestSlowClientCut(t *testing.T) {
	e := start(t, newFake(1), func(o *Options) { o.ReadTimeout = 100 * time.Millisecond })
	c, err := net.Dial("tcp", e.s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST /RPC HTT")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound on the test, far above the timeout
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a half-sent request open past its read timeout")
			}
			return // closed by the server (possibly after a 408)
		}
	}
}

func TestLimitListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := newLimitListener(l, 2)
	defer ll.Close()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	a, err := ll.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ll.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ll.sem); n != 2 {
		t.Fatalf("%d slots taken, want 2", n)
	}
	got := make(chan net.Conn)
	go func() {
		c, _ := ll.Accept()
		got <- c
	}()
	// The third Accept can only return once a slot is free.
	a.Close()
	a.Close() // twice: releases once
	c := <-got
	if c == nil || len(ll.sem) != 2 {
		t.Fatalf("third Accept: %v, %d slots taken", c, len(ll.sem))
	}
	b.Close()
	c.Close()
	if n := len(ll.sem); n != 0 {
		t.Fatalf("%d slots taken after every close, want 0", n)
	}
	// Close ends a waiting Accept.
	for range 2 {
		ll.sem <- struct{}{}
	}
	go func() {
		_, err := ll.Accept()
		got <- nil
		_ = err
	}()
	ll.Close()
	<-got
}
