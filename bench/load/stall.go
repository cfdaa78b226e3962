package load

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// stallers is a group of connections that tie up a TLS server without ever completing a
// handshake: the even ones send a ClientHello and then nothing (the server has answered and
// waits for the client's Finished: "stalled mid-handshake"), the odd ones send nothing at all.
// When the server closes one (its hello or handshake timeout), it is made again, so the server
// faces all of them for as long as the group runs.
type stallers struct {
	target  string
	hello   []byte
	addrs   []netip.Addr // source addresses, used from offset on; nil: the system's
	offset  int
	timeout time.Duration

	wg      sync.WaitGroup
	up      chan struct{} // closed once every staller has connected (or failed to) once
	pending atomic.Int64  // stallers yet to connect once

	connected atomic.Int64 // connections made
	closes    atomic.Int64 // connections the server closed
	failures  atomic.Int64 // connects that failed
}

// Bounds on each staller's loop: the group's context ends it, but a server that closes at
// once must not turn it into a busy loop, and the number of rounds is capped too.
const (
	stallerBackoff = 100 * time.Millisecond // wait after a connection shorter than this
	stallerRounds  = 10000
)

// startStallers starts n stallers; they run until ctx ends. Call wait to wait for them.
func startStallers(ctx context.Context, n int, target string, hello []byte, addrs []netip.Addr, offset int, timeout time.Duration) *stallers {
	s := &stallers{target: target, hello: hello, addrs: addrs, offset: offset, timeout: timeout, up: make(chan struct{})}
	s.pending.Store(int64(n))
	if n == 0 {
		close(s.up)
	}
	for i := range n {
		s.wg.Go(func() { s.run(ctx, i) })
	}
	return s
}

func (s *stallers) wait() { s.wg.Wait() }

func (s *stallers) run(ctx context.Context, i int) {
	first := true
	settle := func() {
		if first {
			first = false
			if s.pending.Add(-1) == 0 {
				close(s.up)
			}
		}
	}
	defer settle()
	d := net.Dialer{Timeout: s.timeout}
	if len(s.addrs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: s.addrs[(s.offset+i)%len(s.addrs)].AsSlice()}
	}
	for range stallerRounds {
		if ctx.Err() != nil {
			return
		}
		t0 := time.Now()
		c, err := d.DialContext(ctx, "tcp", s.target)
		if err != nil {
			if ctx.Err() == nil {
				s.failures.Add(1)
			}
			settle()
			pause(ctx, stallerBackoff)
			continue
		}
		s.connected.Add(1)
		settle()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if i%2 == 0 {
			c.Write(s.hello)
		}
		io.Copy(io.Discard, c) // until the server closes, or ctx ends and closes c
		stop()
		c.Close()
		if ctx.Err() != nil {
			return
		}
		s.closes.Add(1)
		if time.Since(t0) < stallerBackoff {
			pause(ctx, stallerBackoff)
		}
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
