package load

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args ...string) Config {
	t.Helper()
	var stderr bytes.Buffer
	c, err := ParseArgs(args, &stderr)
	if err != nil {
		t.Fatalf("ParseArgs(%q): %v\n%s", args, err, stderr.String())
	}
	return c
}

func TestParseDefaults(t *testing.T) {
	c := parse(t, "echo")
	want := DefaultConfig(Echo)
	if c.Target != want.Target || c.Conns != 100 || c.Concurrency != 50 || c.Size != 1024 || c.Duration != 10*time.Second ||
		c.Timeout != 10*time.Second || c.KeepAlive != 30*time.Second || c.JSON || c.Resume || c.Procs != 0 || c.procs() != 1 {
		t.Errorf("defaults: %+v", c)
	}
	if c.srcAddrs() != nil {
		t.Errorf("source spread at 100 connections: %v", c.srcAddrs())
	}
	b := parse(t, "backend")
	if b.Listen != "127.0.0.1:0" || b.ProxyProtocol || b.MaxConns != MaxPerProc {
		t.Errorf("backend defaults: %+v", b)
	}
}

func TestParseEveryFlag(t *testing.T) {
	c := parse(t, "storm", "-target", "127.0.0.1:5061", "-servername", "sip.example.net", "-ca", "ca.pem",
		"-conns", "9000", "-concurrency", "100", "-size", "16KiB", "-duration", "1m", "-timeout", "20s",
		"-keepalive", "5s", "-resume", "-auto", "-src", "127.0.0.2-127.0.0.9", "-procs", "3", "-json")
	if c.Scenario != Storm || c.ServerName != "sip.example.net" || c.CA != "ca.pem" || c.Conns != 9000 || c.Concurrency != 100 ||
		c.Size != 16<<10 || c.Duration != time.Minute || c.Timeout != 20*time.Second || c.KeepAlive != 5*time.Second ||
		!c.Resume || !c.Auto || c.Procs != 3 || c.procs() != 3 || !c.JSON || len(c.srcAddrs()) != 8 {
		t.Errorf("parsed: %+v", c)
	}
	b := parse(t, "backend", "-listen", "127.0.0.1:5060", "-proxy-protocol", "-max-conns", "10")
	if b.Listen != "127.0.0.1:5060" || !b.ProxyProtocol || b.MaxConns != 10 {
		t.Errorf("backend: %+v", b)
	}
}

// TestLoads checks how -conns, -concurrency and -stallers map to each scenario's counts,
// including the two readings of "C connections" for echo and "M stallers" for stall.
func TestLoads(t *testing.T) {
	for _, tc := range []struct {
		args                     []string
		conns, workers, stallers int
		open                     int
	}{
		{[]string{"handshake", "-conns", "1000", "-concurrency", "20"}, 1000, 20, 0, 20},
		{[]string{"idle", "-conns", "9000", "-concurrency", "100"}, 9000, 100, 0, 9000},
		{[]string{"idle", "-conns", "10"}, 10, 10, 0, 10},
		{[]string{"echo", "-conns", "1000"}, 1000, 50, 0, 1000},
		{[]string{"echo", "-concurrency", "30"}, 30, 30, 0, 30},
		{[]string{"echo", "-conns", "1000", "-concurrency", "1000"}, 1000, 1000, 0, 1000},
		{[]string{"stall", "-conns", "1000", "-concurrency", "50"}, 50, 50, 1000, 1050},
		{[]string{"stall", "-stallers", "200", "-conns", "40", "-concurrency", "10"}, 40, 10, 200, 240},
		{[]string{"stall", "-stallers", "0", "-conns", "40"}, 40, 40, 0, 40},
	} {
		c := parse(t, tc.args...)
		conns, workers, stallers := c.Loads()
		if conns != tc.conns || workers != tc.workers || stallers != tc.stallers || c.Open() != tc.open {
			t.Errorf("%q: Loads() = %d, %d, %d, Open() = %d; want %d, %d, %d, %d",
				tc.args, conns, workers, stallers, c.Open(), tc.conns, tc.workers, tc.stallers, tc.open)
		}
	}
}

// TestAutomaticSpread: processes and source addresses follow the connections open at once.
func TestAutomaticSpread(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		procs  int
		src    string
		nAddrs int
	}{
		{[]string{"idle", "-conns", "9000"}, 1, "", 0},
		{[]string{"idle", "-conns", "9001"}, 2, "", 0},
		{[]string{"idle", "-conns", "20001"}, 3, DefaultSrc, 249},
		{[]string{"storm", "-conns", "30000", "-src", "127.0.0.2,127.0.0.3"}, 4, "127.0.0.2,127.0.0.3", 2},
		{[]string{"handshake", "-conns", "100000", "-concurrency", "50"}, 1, "", 0},
		{[]string{"stall", "-conns", "9000", "-concurrency", "100"}, 2, "", 0},
		{[]string{"idle", "-conns", "20000", "-procs", "5"}, 5, "", 0},
	} {
		c := parse(t, tc.args...)
		if c.procs() != tc.procs || c.src() != tc.src || len(c.srcAddrs()) != tc.nAddrs {
			t.Errorf("%q: procs %d, src %q (%d addresses); want %d, %q, %d", tc.args, c.procs(), c.src(), len(c.srcAddrs()), tc.procs, tc.src, tc.nAddrs)
		}
	}
}

// TestChildArgs: a child's command line, parsed back, gives the child its share and the run's
// source spread continued from its first connection.
func TestChildArgs(t *testing.T) {
	parent := parse(t, "stall", "-conns", "25", "-concurrency", "7", "-size", "2048", "-src", "127.0.0.2-127.0.0.5",
		"-pin", strings.Repeat("ab", 32), "-resume", "-procs", "2", "-duration", "3s", "-timeout", "4s", "-keepalive", "0s")
	b := &bench{cfg: parent}
	c := parse(t, b.childArgs(2, [3]int{3, 4, 12}, 14)...)
	conns, workers, stallers := c.Loads()
	if c.Scenario != Stall || c.Child != 2 || c.First != 14 || c.procs() != 1 || !c.JSON || conns != 3 || workers != 3 || stallers != 12 ||
		c.Size != 2048 || c.Pin != parent.Pin || !c.Resume || c.Duration != 3*time.Second || c.Timeout != 4*time.Second || c.KeepAlive != 0 {
		t.Errorf("child config: %+v (loads %d %d %d)", c, conns, workers, stallers)
	}
	// 14 mod 4 = 2: the child's first connection uses the third address.
	if got := c.srcAddrs(); len(got) != 4 || got[0] != netip.MustParseAddr("127.0.0.4") || got[3] != netip.MustParseAddr("127.0.0.3") {
		t.Errorf("child sources %v", got)
	}
	if got := parse(t, (&bench{cfg: parse(t, "echo", "-conns", "10", "-insecure")}).childArgs(1, [3]int{5, 5, 0}, 0)...); !got.Insecure || got.Conns != 5 {
		t.Errorf("echo child: %+v", got)
	}
}

func TestSplitShares(t *testing.T) {
	for _, tc := range []struct{ n, p int }{{40, 2}, {41, 3}, {5, 5}, {9001, 2}, {1, 1}} {
		sum := 0
		for k := range tc.p {
			s := share(tc.n, tc.p, k)
			if s < tc.n/tc.p || s > tc.n/tc.p+1 {
				t.Errorf("share(%d, %d, %d) = %d", tc.n, tc.p, k, s)
			}
			sum += s
		}
		if sum != tc.n {
			t.Errorf("shares of %d over %d add up to %d", tc.n, tc.p, sum)
		}
	}
}

// TestParseErrors: every problem is reported at once, each naming its flag.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"want a subcommand"}},
		{[]string{"flood"}, []string{"want a subcommand"}},
		{[]string{"echo", "stray"}, []string{"unexpected argument"}},
		{[]string{"echo", "-nope"}, []string{"-nope"}},
		{[]string{"echo", "-target", "10.0.0.1:5061", "-conns", "0", "-concurrency", "-1", "-size", "100", "-duration", "0s",
			"-timeout", "-1s", "-keepalive", "-1s", "-procs", "-1", "-stallers", "-2"},
			[]string{"-target", "loopback", "-conns", "-concurrency", "-size", "-duration", "-timeout", "-keepalive", "-procs", "-stallers"}},
		{[]string{"idle", "-target", "example.com:5061"}, []string{"-target", "not an IP address"}},
		{[]string{"idle", "-target", "127.0.0.1"}, []string{"-target", "missing port"}},
		{[]string{"idle", "-ca", "x.pem", "-insecure"}, []string{"give one at most"}},
		{[]string{"idle", "-pin", "abcd"}, []string{"-pin", "32"}},
		{[]string{"idle", "-pin", "zz"}, []string{"-pin"}},
		{[]string{"idle", "-src", "10.0.0.1-10.0.0.2"}, []string{"-src", "127.0.0.0/8"}},
		{[]string{"idle", "-src", "127.0.0.9-127.0.0.2"}, []string{"-src", "ends before"}},
		{[]string{"idle", "-src", "127.0.0.0-127.1.0.1"}, []string{"-src", "65536"}},
		{[]string{"idle", "-size", "12XB"}, []string{"-size", "12XB"}},
		{[]string{"idle", "-size", "12PiB"}, []string{"-size", "unit"}},
		{[]string{"idle", "-conns", "40000", "-procs", "2"}, []string{"-procs", "40000", "20,000"}},
		{[]string{"backend", "-listen", "0.0.0.0:5060", "-max-conns", "0"}, []string{"-listen", "loopback", "-max-conns"}},
	} {
		var stderr bytes.Buffer
		_, err := ParseArgs(tc.args, &stderr)
		if err == nil {
			t.Errorf("%q: accepted", tc.args)
			continue
		}
		text := err.Error() + stderr.String()
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%q: error lacks %q:\n%s", tc.args, w, text)
			}
		}
	}
	var stderr bytes.Buffer
	if _, err := ParseArgs([]string{"echo", "-help"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "-concurrency") {
		t.Errorf("-help: %v\n%s", err, stderr.String())
	}
	stderr.Reset()
	if _, err := ParseArgs([]string{"-help"}, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "storm") {
		t.Errorf("top-level -help: %v\n%s", err, stderr.String())
	}
}

func TestParseSrc(t *testing.T) {
	got, err := ParseSrc("127.0.0.250-127.0.1.1, 127.9.9.9")
	want := []string{"127.0.0.250", "127.0.0.251", "127.0.0.252", "127.0.0.253", "127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1", "127.9.9.9"}
	var gotS []string
	for _, a := range got {
		gotS = append(gotS, a.String())
	}
	if err != nil || !slices.Equal(gotS, want) {
		t.Errorf("ParseSrc = %v, %v", gotS, err)
	}
	for _, bad := range []string{"", "127.0.0.1-", "::1", "127.0.0.1-::1", "1.2.3.4"} {
		if _, err := ParseSrc(bad); err == nil {
			t.Errorf("ParseSrc(%q) accepted", bad)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int{"1024": 1024, "16KiB": 16 << 10, "16k": 16 << 10, "1MiB": 1 << 20, "2kb": 2048, "400B": 400} {
		var b byteSize
		if err := b.Set(in); err != nil || int(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1.5KiB", "-1", "3GiB", "99999999999"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted: %d", bad, b)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5061", "127.3.2.1:1", "[::1]:5061", "localhost:5061"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"192.0.2.1:5061", "[2001:db8::1]:5061", "0.0.0.0:5061", "sip.example.net:5061", "127.0.0.1:99999", "127.0.0.1"} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
