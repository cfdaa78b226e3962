package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

func core(t *testing.T, o sipcore.Options) *sipcore.Server {
	t.Helper()
	s, err := sipcore.Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRunThroughTLS is the demo's path: loadgen → TLS terminator (PROXY v2) → sipcore.
func TestRunThroughTLS(t *testing.T) {
	var mu sync.Mutex
	sources := map[netip.Addr]int{}
	s := core(t, sipcore.Options{ProxyProtocol: true, PingAfterRegister: true, OnConn: func(c *sipcore.ConnInfo) {
		mu.Lock()
		sources[c.Source.Addr()]++
		mu.Unlock()
	}})
	serverTLS, clientTLS := testTLS(t)
	addr := terminate(t, serverTLS, s.Addr().String())

	var p Progress
	rep, err := Run(context.Background(), Options{
		Target: addr, TLS: clientTLS, Conns: 40, Concurrency: 8, Messages: 5, Size: 700, Progress: &p,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	if rep.Conns != 40 || rep.OK != 40 || rep.Failed != 0 || rep.Handshakes != 40 || rep.Registers != 40 ||
		rep.Messages != 200 || rep.CoreRequests != 40 || !rep.TLS {
		t.Fatalf("report %+v", rep)
	}
	if rep.Latency.Count() != 200 || rep.HandshakeLatency.Count() != 40 || rep.MessagesPerSec() <= 0 || rep.HandshakesPerSec() <= 0 {
		t.Errorf("latency %d, handshakes %d", rep.Latency.Count(), rep.HandshakeLatency.Count())
	}
	if p.Started.Load() != 40 || p.Connected.Load() != 40 || p.Done.Load() != 40 || p.Messages.Load() != 200 || p.Failed.Load() != 0 {
		t.Errorf("progress %d %d %d %d", p.Started.Load(), p.Connected.Load(), p.Done.Load(), p.Messages.Load())
	}
	// The core answered in order, so by the last echo of each connection it had the answer to
	// its OPTIONS (sent before that echo was asked for).
	st := s.Stats()
	if st.Registers != 40 || st.Echoed != 200 || st.OptionsSent != 40 || st.OptionsAnswered != 40 {
		t.Errorf("core stats %+v", st)
	}
	if sources[netip.MustParseAddr("127.0.0.1")] != 40 {
		t.Errorf("PROXY sources %v", sources)
	}
	for _, want := range []string{"TLS " + addr, "40 conns, 40 ok, 0 failed", "messages: 200 x 700 B", "p99", "core requests answered: 40"} {
		if !strings.Contains(rep.String(), want) {
			t.Errorf("String() lacks %q", want)
		}
	}
}

func TestRunPlainTCPFromSeveralSources(t *testing.T) {
	var mu sync.Mutex
	remotes := map[string]int{}
	s := core(t, sipcore.Options{OnConn: func(c *sipcore.ConnInfo) {
		host, _, _ := net.SplitHostPort(c.Remote.String())
		mu.Lock()
		remotes[host]++
		mu.Unlock()
	}})
	rep, err := Run(context.Background(), Options{
		Target: s.Addr().String(), Conns: 20, Concurrency: 20, Messages: 3, Size: 20000,
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != 20 || rep.Messages != 60 || rep.TLS || rep.Handshakes != 20 {
		t.Fatalf("report:\n%s", rep)
	}
	if remotes["127.0.0.1"] != 10 || remotes["127.0.0.2"] != 10 {
		t.Errorf("sources %v", remotes)
	}
}

func TestSkipRegisterHandshakeOnly(t *testing.T) {
	s := core(t, sipcore.Options{})
	rep, err := Run(context.Background(), Options{Target: s.Addr().String(), Conns: 10, SkipRegister: true})
	if err != nil || rep.OK != 10 || rep.Registers != 0 || rep.Messages != 0 {
		t.Fatalf("%v\n%s", err, rep)
	}
	if st := s.Stats(); st.Registers != 0 {
		t.Errorf("core saw %d REGISTERs", st.Registers)
	}
}

func TestFailureReasons(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return ln.Addr().String()
	}
	// A core that echoes with one byte changed.
	corrupt := fakeCore(t, func(c net.Conn, kind sipmsg.Kind, frame []byte) bool {
		if m, _ := sipmsg.Parse(frame); string(m.Method) == "REGISTER" {
			reply(c, frame, 200)
			return true
		}
		frame[len(frame)-1] ^= 1
		c.Write(frame)
		return true
	})
	refuses := fakeCore(t, func(c net.Conn, _ sipmsg.Kind, frame []byte) bool {
		reply(c, frame, 403)
		return true
	})
	hangsUp := fakeCore(t, func(net.Conn, sipmsg.Kind, []byte) bool { return false })
	silent := fakeCore(t, func(net.Conn, sipmsg.Kind, []byte) bool { return true })
	deaf := newGroup(t) // reads and discards: a TLS handshake to it never ends
	deaf.serve(func(c net.Conn) { io.Copy(io.Discard, c) })
	sipBehindTLS := terminate(t, serverTLS, core(t, sipcore.Options{ProxyProtocol: true}).Addr().String())

	for _, tc := range []struct {
		name    string
		o       Options
		reason  Reason
		errText string
	}{
		{"dial", Options{Target: closedPort()}, Dial, "refused"},
		{"handshake", Options{Target: sipBehindTLS, TLS: &tls.Config{}}, Handshake, "certificate"},
		{"wrong name", Options{Target: sipBehindTLS, TLS: &tls.Config{RootCAs: clientTLS.RootCAs, ServerName: "other.example"}}, Handshake, "other.example"},
		{"handshake timeout", Options{Target: deaf.addr(), TLS: clientTLS, Timeout: 200 * time.Millisecond}, Timeout, "handshake"},
		{"mismatch", Options{Target: corrupt, Messages: 2}, Mismatch, "differs from the 1024 sent at byte 1023"},
		{"register refused", Options{Target: refuses}, Protocol, "REGISTER answered 403"},
		{"hang up", Options{Target: hangsUp}, Read, "EOF"},
		{"timeout", Options{Target: silent, Timeout: 100 * time.Millisecond}, Timeout, "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Conns = 3
			rep, err := Run(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != 3 || rep.OK != 0 || rep.Failures[tc.reason] != 3 || !strings.Contains(rep.Errors[tc.reason], tc.errText) {
				t.Fatalf("want 3 %v failures with %q; report:\n%s", tc.reason, tc.errText, rep)
			}
			if !strings.Contains(rep.String(), "failed "+tc.reason.String()+": 3") {
				t.Errorf("String() lacks the failure line:\n%s", rep)
			}
		})
	}
}

func TestCancelStopsTheRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The core never answers; the first REGISTER it sees cancels the run.
	var once sync.Once
	addr := fakeCore(t, func(net.Conn, sipmsg.Kind, []byte) bool {
		once.Do(cancel)
		return true
	})
	rep, err := Run(ctx, Options{Target: addr, Conns: 100, Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if rep.Conns == 0 || rep.Conns > 2 || rep.Failures[Canceled] != rep.Conns {
		t.Fatalf("report:\n%s", rep)
	}
}

// TestHoldAll holds every connection open at once, as a memory measurement would, and ends
// the hold through the context.
func TestHoldAll(t *testing.T) {
	s := core(t, sipcore.Options{PingAfterRegister: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 12
	var p Progress
	rep, err := Run(ctx, Options{
		Target: s.Addr().String(), Conns: n, Concurrency: 3, Hold: time.Hour, Progress: &p,
		OnHold: func(held int) {
			if held == n {
				if st := s.Stats(); st.Active != n {
					t.Errorf("all held but the core has %d connections", st.Active)
				}
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if rep.OK != n || rep.Failed != 0 || p.Held.Load() != 0 {
		t.Fatalf("held %d; report:\n%s", p.Held.Load(), rep)
	}
}

func TestHoldKeepAlive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	pings := 0
	// A core that answers REGISTER and pings, and ends the run at the third ping. It sends an
	// OPTIONS during the hold too, which must be answered.
	addr := fakeCore(t, func(c net.Conn, kind sipmsg.Kind, frame []byte) bool {
		switch kind {
		case sipmsg.Ping:
			mu.Lock()
			pings++
			p := pings
			mu.Unlock()
			if p == 3 {
				cancel()
				return true
			}
			if p == 1 {
				c.Write(sipmsg.AppendRequest(nil, sipmsg.Request{Method: "OPTIONS", URI: "sip:lg0@x", Via: "SIP/2.0/TCP core;branch=z9hG4bK-c",
					From: "<sip:core@x>;tag=c", To: "<sip:lg0@x>", CallID: "core-opt", CSeq: 1}))
			}
			c.Write([]byte("\r\n"))
		case sipmsg.SIP:
			if m, _ := sipmsg.Parse(frame); m.IsRequest() {
				reply(c, frame, 200)
			}
		}
		return true
	})
	rep, err := Run(ctx, Options{Target: addr, Hold: time.Hour, KeepAlive: 5 * time.Millisecond})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; report:\n%s", err, rep)
	}
	if rep.OK != 1 || rep.Pongs != 2 || rep.CoreRequests != 1 {
		t.Fatalf("report:\n%s", rep)
	}
}

func TestHoldNoPong(t *testing.T) {
	addr := fakeCore(t, func(c net.Conn, kind sipmsg.Kind, frame []byte) bool {
		if kind == sipmsg.SIP {
			reply(c, frame, 200)
		}
		return true // pings go unanswered
	})
	rep, err := Run(context.Background(), Options{Target: addr, Hold: time.Hour, KeepAlive: time.Millisecond, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failures[Timeout] != 1 || !strings.Contains(rep.Errors[Timeout], "no pong") {
		t.Fatalf("report:\n%s", rep)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{},
		{Target: "127.0.0.1:1", Messages: 1, Size: 100},
		{Target: "127.0.0.1:1", Messages: -1},
		{Target: "no-port", TLS: &tls.Config{}},
	} {
		if rep, err := Run(context.Background(), o); err == nil || rep != nil {
			t.Errorf("Run(%+v) = %v, %v", o, rep, err)
		}
	}
	_, err := Run(context.Background(), Options{Target: "127.0.0.1:1", Messages: 1, Size: 100})
	if !errors.Is(err, sipmsg.ErrTooSmall) {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkEchoThroughTLS runs the demo's job at a small scale per iteration: 50 TLS
// connections through the test terminator to sipcore, 20 messages of 1 KiB each. The rates are
// of the whole loopback stack in one process (client, terminator and core share the CPUs).
func BenchmarkEchoThroughTLS(b *testing.B) {
	s, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{ProxyProtocol: true, PingAfterRegister: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	serverTLS, clientTLS := testTLS(b)
	addr := terminate(b, serverTLS, s.Addr().String())
	var hs, msgs float64
	var p99 time.Duration
	for b.Loop() {
		rep, err := Run(context.Background(), Options{Target: addr, TLS: clientTLS, Conns: 50, Concurrency: 10, Messages: 20, Size: 1024})
		if err != nil || rep.Failed > 0 {
			b.Fatalf("%v\n%s", err, rep)
		}
		hs += rep.HandshakesPerSec()
		msgs += rep.MessagesPerSec()
		p99 = max(p99, rep.Latency.Quantile(0.99))
	}
	b.ReportMetric(hs/float64(b.N), "handshakes/s")
	b.ReportMetric(msgs/float64(b.N), "msgs/s")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
}
