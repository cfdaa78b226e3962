package admin

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAllowedAddr(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	allow := []netip.Prefix{normPrefix(netip.MustParsePrefix("10.20.0.0/16")), normPrefix(netip.MustParsePrefix("2001:db8:7::/48")), normPrefix(netip.MustParsePrefix("::ffff:192.0.2.0/120"))}
	for addr, want := range map[string]bool{
		"127.0.0.1":          true,
		"127.255.0.9":        true,
		"::1":                true,
		"::ffff:127.0.0.1":   true, // an IPv4 client of a dual-stack listener
		"10.20.3.4":          true,
		"::ffff:10.20.3.4":   true,
		"2001:db8:7::5":      true,
		"fe80::1%lo":         false,
		"192.0.2.9":          true, // allowed through a prefix written IPv4-mapped
		"10.21.0.1":          false,
		"0.0.0.0":            false,
		"::":                 false,
		"2001:db8:8::1":      false,
		"192.168.1.1":        false,
		"::ffff:192.168.1.1": false,
		"128.0.0.1":          false,
	} {
		if got := allowedAddr(netip.MustParseAddr(addr), loopback, allow); got != want {
			t.Errorf("allowedAddr(%s) = %v, want %v", addr, got, want)
		}
	}
	if allowedAddr(netip.MustParseAddr("10.20.3.4"), loopback, nil) {
		t.Error("no AllowNets: a non-loopback peer is allowed")
	}
	if allowedAddr(netip.Addr{}, loopback, allow) {
		t.Error("the zero Addr is allowed")
	}
}

// clientFrom returns an HTTP client whose connections leave from source address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
}

// TestRefusesNonLoopbackPeer uses real connections from two source addresses. Both are in
// 127.0.0.0/8, so the test narrows what the server counts as loopback to 127.0.0.1/32: a client
// bound to 127.0.0.2 is then exactly what a peer on another network is to a real server.
func TestRefusesNonLoopbackPeer(t *testing.T) {
	e := start(t, newFake(1), func(o *Options) { o.loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	body := `{"jsonrpc":"2.0","method":"tls.info","id":1}`

	status, b := doPost(t, clientFrom("127.0.0.2"), e.url+"/RPC", body)
	r := decodeResp(t, b)
	if status != http.StatusForbidden || r.Error == nil || r.Error.Code != CodeForbidden || string(r.ID) != "null" ||
		!strings.HasPrefix(r.Error.Message, "forbidden: 127.0.0.2:") || !strings.HasSuffix(r.Error.Message, " is not a loopback address and not in -admin-allow") {
		t.Fatalf("from 127.0.0.2: HTTP %d %s", status, b)
	}
	// /metrics follows the same rule.
	resp, err := clientFrom("127.0.0.2").Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/metrics from 127.0.0.2: HTTP %d", resp.StatusCode)
	}
	// 127.0.0.1 is still served.
	if status, b := doPost(t, clientFrom("127.0.0.1"), e.url+"/RPC", body); status != http.StatusOK {
		t.Fatalf("from 127.0.0.1: HTTP %d %s", status, b)
	}
	// Logged once; the second refusal within 10 s is counted, not logged.
	log := e.log.String()
	if n := strings.Count(log, "refused a request from a peer"); n != 1 || !strings.Contains(log, "peer=127.0.0.2:") || !strings.Contains(log, "path=/RPC") {
		t.Fatalf("%d refusal lines:\n%s", n, log)
	}
	e.clock.Advance(11 * time.Second)
	doPost(t, clientFrom("127.0.0.2"), e.url+"/RPC", body)
	log = e.log.String()
	if n := strings.Count(log, "refused a request from a peer"); n != 2 || !strings.Contains(log, "suppressed_since_last=1") {
		t.Fatalf("after 11 s, %d refusal lines:\n%s", n, log)
	}
	if got := e.s.stats.refused[refusedForbidden].Load(); got != 3 {
		t.Fatalf("%d refusals counted, want 3", got)
	}
}

func TestAllowNetsAdmitsPeer(t *testing.T) {
	e := start(t, newFake(1), func(o *Options) {
		o.loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		o.AllowNets = []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.2/128")} // mapped form, unmapped on use
	})
	status, b := doPost(t, clientFrom("127.0.0.2"), e.url+"/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`)
	if r := decodeResp(t, b); status != http.StatusOK || r.Error != nil {
		t.Fatalf("from an allowed 127.0.0.2: HTTP %d %s", status, b)
	}
	status, b = doPost(t, clientFrom("127.0.0.3"), e.url+"/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`)
	if status != http.StatusForbidden {
		t.Fatalf("from 127.0.0.3: HTTP %d %s", status, b)
	}
}

// TestLoopbackByDefault: with the real default, any 127/8 source is loopback.
func TestLoopbackByDefault(t *testing.T) {
	e := start(t, newFake(1))
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.1.2.3"} {
		if status, b := doPost(t, clientFrom(src), e.url+"/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`); status != http.StatusOK {
			t.Fatalf("from %s: HTTP %d %s", src, status, b)
		}
	}
}

func TestServeOptionErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := Serve(ctx, Options{Addr: "127.0.0.1:0"}); err == nil || err.Error() != "admin: Options.Target is required" {
		t.Fatalf("no Target: %v", err)
	}
	if _, err := Serve(ctx, Options{Target: newFake(0)}); err == nil || !strings.Contains(err.Error(), "neither an address nor a Unix socket") {
		t.Fatalf("no listener: %v", err)
	}
	e := start(t, newFake(0))
	_, err := Serve(ctx, Options{Addr: e.s.Addr().String(), Target: newFake(0)})
	if err == nil || !strings.Contains(err.Error(), "admin: listening on "+e.s.Addr().String()+" (-admin): ") {
		t.Fatalf("port in use: %v", err)
	}
}

// TestContextEndsServer: cancelling Serve's context closes the endpoint.
func TestContextEndsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Serve(ctx, Options{Addr: "127.0.0.1:0", Target: newFake(0), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	cancel()
	// Close after the context: waits for the shutdown the context started, then returns.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("still listening after the context ended")
	}
}
