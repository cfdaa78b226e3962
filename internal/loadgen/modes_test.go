package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// TestResume checks that each worker's first handshake is full and the others resume, over
// TLS 1.3 (the ticket comes after the handshake and a bare handshake must wait for it) and
// TLS 1.2 (the ticket comes inside the handshake).
func TestResume(t *testing.T) {
	s := core(t, sipcore.Options{ProxyProtocol: true})
	for _, tc := range []struct {
		name    string
		version uint16
		noTix   bool
		o       Options
		resumed int
	}{
		{"tls13 bare", tls.VersionTLS13, false, Options{Conns: 20, Concurrency: 4, SkipRegister: true}, 16},
		{"tls12 bare", tls.VersionTLS12, false, Options{Conns: 20, Concurrency: 4, SkipRegister: true}, 16},
		{"tls13 register", tls.VersionTLS13, false, Options{Conns: 10, Concurrency: 2, Messages: 1}, 8},
		{"no tickets", tls.VersionTLS13, true, Options{Conns: 6, Concurrency: 2, SkipRegister: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverTLS, clientTLS := testTLS(t)
			serverTLS.MaxVersion = tc.version
			serverTLS.SessionTicketsDisabled = tc.noTix
			o := tc.o
			o.Target, o.TLS, o.Resume = terminate(t, serverTLS, s.Addr().String()), clientTLS, true
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != o.Conns || rep.Handshakes != o.Conns || rep.Resumed != tc.resumed {
				t.Fatalf("want %d resumed; report:\n%s", tc.resumed, rep)
			}
			if tc.resumed > 0 && !strings.Contains(rep.String(), "resumed: "+strconv.Itoa(tc.resumed)) {
				t.Errorf("String() lacks the resumed count:\n%s", rep)
			}
		})
	}
}

// TestSharedSessionCache: a cache in the caller's tls.Config is shared by every connection.
func TestSharedSessionCache(t *testing.T) {
	s := core(t, sipcore.Options{ProxyProtocol: true})
	serverTLS, clientTLS := testTLS(t)
	clientTLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	rep, err := Run(context.Background(), Options{
		Target: terminate(t, serverTLS, s.Addr().String()), TLS: clientTLS, Conns: 5, Concurrency: 1, SkipRegister: true,
	})
	if err != nil || rep.OK != 5 || rep.Resumed != 4 {
		t.Fatalf("%v; report:\n%s", err, rep)
	}
}

// TestTimedEcho runs every connection at once for a window after the ramp-up, started by the
// caller through Start once OnReady has said the ramp-up is over.
func TestTimedEcho(t *testing.T) {
	s := core(t, sipcore.Options{})
	const n = 10
	var p Progress
	ready := make(chan int, 1)
	start := make(chan struct{})
	type out struct {
		rep *Report
		err error
	}
	done := make(chan out, 1)
	go func() {
		rep, err := Run(context.Background(), Options{
			Target: s.Addr().String(), Conns: n, Concurrency: 3, Size: 600, Duration: 100 * time.Millisecond,
			Start: start, Progress: &p, OnReady: func(open int) { ready <- open },
		})
		done <- out{rep, err}
	}()
	if open := <-ready; open != n {
		t.Errorf("OnReady(%d), want %d", open, n)
	}
	if m := p.Messages.Load(); m != 0 {
		t.Errorf("%d messages before Start", m)
	}
	close(start)
	o := <-done
	rep := o.rep
	if o.err != nil || rep.OK != n || rep.Failed != 0 || rep.Registers != n || rep.Messages < n {
		t.Fatalf("%v; report:\n%s", o.err, rep)
	}
	if rep.Window < 100*time.Millisecond || rep.Latency.Count() != uint64(rep.Messages) || rep.MessagesPerSec() != float64(rep.Messages)/rep.Window.Seconds() {
		t.Errorf("window %v, latency count %d, rate %v; report:\n%s", rep.Window, rep.Latency.Count(), rep.MessagesPerSec(), rep)
	}
	if st := s.Stats(); st.Echoed != uint64(rep.Messages) {
		t.Errorf("core echoed %d, report says %d", st.Echoed, rep.Messages)
	}
	if !strings.Contains(rep.String(), "timed phase:") {
		t.Errorf("String():\n%s", rep)
	}
}

// TestTimedEchoCanceled: ending ctx while connections wait for Start ends the run.
func TestTimedEchoCanceled(t *testing.T) {
	s := core(t, sipcore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Run(ctx, Options{
		Target: s.Addr().String(), Conns: 4, Duration: time.Hour, Start: make(chan struct{}),
		OnReady: func(int) { cancel() },
	})
	if !errors.Is(err, context.Canceled) || rep.Conns != 4 || rep.Messages != 0 {
		t.Fatalf("%v; report:\n%s", err, rep)
	}
}

// TestStorm drops every held connection at once and checks that each came back with a new
// connection, and that the drop was a TCP reset as an outage looks to the server.
func TestStorm(t *testing.T) {
	var mu sync.Mutex
	var ends []error
	s := core(t, sipcore.Options{ProxyProtocol: true, OnClose: func(_ *sipcore.ConnInfo, err error) {
		mu.Lock()
		ends = append(ends, err)
		mu.Unlock()
	}})
	serverTLS, clientTLS := testTLS(t)
	addr := terminate(t, serverTLS, s.Addr().String())
	const n = 12
	drop := make(chan struct{})
	var p Progress
	rep, err := Run(context.Background(), Options{
		Target: addr, TLS: clientTLS, Conns: n, Concurrency: 4, Hold: time.Hour, Resume: true, Progress: &p,
		Drop: drop, OnReady: func(open int) {
			if open != n {
				t.Errorf("OnReady(%d)", open)
			}
			close(drop)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK != n || rep.Reconnects != n || rep.Handshakes != 2*n || rep.Registers != 2*n ||
		rep.ReconnectLatency.Count() != n || rep.Recovery != rep.ReconnectLatency.Max() || rep.Recovery <= 0 {
		t.Fatalf("report:\n%s", rep)
	}
	// Per worker the first handshake is full; every later one, reconnects included, resumes.
	if rep.Resumed != 2*n-4 {
		t.Errorf("resumed %d, want %d", rep.Resumed, 2*n-4)
	}
	if p.Held.Load() != 0 || !strings.Contains(rep.String(), "storm: 12 back") {
		t.Errorf("held %d; report:\n%s", p.Held.Load(), rep)
	}
	s.Close() // waits for every OnClose
	if len(ends) != 2*n {
		t.Errorf("core saw %d connections end, want %d", len(ends), 2*n)
	}
}

// TestStormResets checks the drop is a TCP reset, on plain TCP where the core sees the reset.
func TestStormResets(t *testing.T) {
	var mu sync.Mutex
	resets := 0
	s := core(t, sipcore.Options{OnClose: func(_ *sipcore.ConnInfo, err error) {
		if err != nil && strings.Contains(err.Error(), "reset") {
			mu.Lock()
			resets++
			mu.Unlock()
		}
	}})
	drop := make(chan struct{})
	rep, err := Run(context.Background(), Options{
		Target: s.Addr().String(), Conns: 5, Hold: time.Hour, Drop: drop, OnReady: func(int) { close(drop) },
	})
	if err != nil || rep.OK != 5 || rep.Reconnects != 5 {
		t.Fatalf("%v; report:\n%s", err, rep)
	}
	s.Close() // waits for every OnClose
	if resets != 5 {
		t.Errorf("core saw %d resets, want 5", resets)
	}
}

// TestStormNoDrop: a run whose Drop never closes ends when its holds do.
func TestStormNoDrop(t *testing.T) {
	s := core(t, sipcore.Options{})
	rep, err := Run(context.Background(), Options{Target: s.Addr().String(), Conns: 3, Hold: time.Millisecond, Drop: make(chan struct{})})
	if err != nil || rep.OK != 3 || rep.Reconnects != 0 {
		t.Fatalf("%v; report:\n%s", err, rep)
	}
}

// TestStormFailure: a reconnect that fails counts as a failure, and the others still end.
func TestStormFailure(t *testing.T) {
	var mu sync.Mutex
	regs := 0
	// Answers the 3 REGISTERs of the ramp-up and the first of the reconnects, refuses the others.
	addr := fakeCore(t, func(c net.Conn, kind sipmsg.Kind, frame []byte) bool {
		if kind != sipmsg.SIP {
			return true
		}
		mu.Lock()
		regs++
		r := regs
		mu.Unlock()
		status := 200
		if r > 4 {
			status = 503
		}
		reply(c, frame, status)
		return true
	})
	drop := make(chan struct{})
	rep, err := Run(context.Background(), Options{
		Target: addr, Conns: 3, Concurrency: 3, Hold: time.Hour, Drop: drop, OnReady: func(int) { close(drop) },
	})
	if err != nil || rep.OK != 1 || rep.Failed != 2 || rep.Reconnects != 1 || rep.Failures[Protocol] != 2 {
		t.Fatalf("%v; report:\n%s", err, rep)
	}
}

// TestMessageBuilder: every message is a valid SIP request of exactly the size asked, framed
// as one message, unique per connection and sequence number.
func TestMessageBuilder(t *testing.T) {
	for _, size := range []int{400, 1024, 1500, 16 << 10, 65536} {
		seen := map[string]bool{}
		for _, id := range []int{0, 7, 123456} {
			for _, seq := range []uint32{2, 9, 10, 99999, 1<<32 - 1} {
				msg, err := appendMessage([]byte("junk"), id, seq, size, true)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				msg = msg[len("junk"):]
				if len(msg) != size {
					t.Fatalf("size %d id %d seq %d: got %d bytes", size, id, seq, len(msg))
				}
				fr := sipmsg.Framer{Max: size}
				kind, n, err := fr.Next(msg)
				if err != nil || kind != sipmsg.SIP || n != size {
					t.Fatalf("size %d: framed %v %d %v", size, kind, n, err)
				}
				m, err := sipmsg.Parse(msg)
				if err != nil {
					t.Fatal(err)
				}
				cseq, method, _ := m.CSeq()
				cl, _ := m.Get("Content-Length")
				if string(m.Method) != "MESSAGE" || cseq != seq || string(method) != "MESSAGE" ||
					string(cl) != strconv.Itoa(len(m.Body)) || !bytes.HasPrefix(msg, []byte("MESSAGE sip:core@core.invalid SIP/2.0\r\nVia: SIP/2.0/TLS ")) {
					t.Fatalf("size %d: bad message:\n%s", size, msg[:size-len(m.Body)])
				}
				if seen[string(msg)] {
					t.Fatalf("size %d id %d seq %d: duplicate message", size, id, seq)
				}
				seen[string(msg)] = true
			}
		}
	}
	if _, err := appendMessage(nil, 0, 2, 200, true); !errors.Is(err, sipmsg.ErrTooSmall) {
		t.Errorf("200 bytes: %v", err)
	}
}

// TestEchoChecker: the echo is verified byte for byte however it is split, keepalive pongs and
// core requests may come before it, and any changed byte is a mismatch naming its offset.
func TestEchoChecker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		echo    func(c net.Conn, frame []byte)
		want    Reason // numReasons: success
		errText string
	}{
		{"byte by byte", func(c net.Conn, frame []byte) {
			for i := range frame {
				c.Write(frame[i : i+1])
			}
		}, numReasons, ""},
		{"pong and OPTIONS first", func(c net.Conn, frame []byte) {
			c.Write([]byte("\r\n"))
			c.Write(sipmsg.AppendRequest(nil, sipmsg.Request{Method: "OPTIONS", URI: "sip:lg0@x", Via: "SIP/2.0/TCP core;branch=z9hG4bK-c",
				From: "<sip:core@x>;tag=c", To: "<sip:lg0@x>", CallID: "core-opt", CSeq: 1}))
			c.Write(frame)
		}, numReasons, ""},
		{"header byte changed", func(c net.Conn, frame []byte) {
			frame[8] ^= 0x20 // in the Request-URI: still a valid message
			c.Write(frame)
		}, Mismatch, "at byte 8"},
		{"body byte changed", func(c net.Conn, frame []byte) {
			frame[len(frame)-100] = '#'
			c.Write(frame)
		}, Mismatch, "at byte 924"},
		{"other message", func(c net.Conn, frame []byte) {
			m, _ := sipmsg.Parse(frame)
			seq, _, _ := m.CSeq()
			other, _ := appendMessage(nil, 99, seq, len(frame), false)
			c.Write(other)
		}, Mismatch, "differs"},
		{"truncated", func(c net.Conn, frame []byte) {
			c.Write(frame[:len(frame)-1])
		}, Timeout, "read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeCore(t, func(c net.Conn, kind sipmsg.Kind, frame []byte) bool {
				if kind != sipmsg.SIP {
					return true
				}
				m, _ := sipmsg.Parse(frame)
				switch {
				case string(m.Method) == "REGISTER":
					reply(c, frame, 200)
				case m.IsRequest() && string(m.Method) == "MESSAGE":
					tc.echo(c, frame)
				}
				return true
			})
			rep, err := Run(context.Background(), Options{Target: addr, Messages: 3, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == numReasons {
				if rep.OK != 1 || rep.Messages != 3 {
					t.Fatalf("report:\n%s", rep)
				}
				return
			}
			if rep.Failures[tc.want] != 1 || !strings.Contains(rep.Errors[tc.want], tc.errText) {
				t.Fatalf("want %v with %q; report:\n%s", tc.want, tc.errText, rep)
			}
		})
	}
}

func TestNewOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{Target: "127.0.0.1:1", Duration: -1},
		{Target: "127.0.0.1:1", Duration: time.Second, Hold: time.Second},
		{Target: "127.0.0.1:1", Start: make(chan struct{})},
		{Target: "127.0.0.1:1", Drop: make(chan struct{})},
		{Target: "127.0.0.1:1", Duration: time.Second, Size: 100},
	} {
		if rep, err := Run(context.Background(), o); err == nil || rep != nil {
			t.Errorf("Run(%+v) = %v, %v", o, rep, err)
		}
	}
}
