package reactor_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tlsmux/tlsmux/memguard"
	"github.com/tlsmux/tlsmux/reactor"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// gatedBackend is a SIP core that tlsmux cannot connect to until the test opens the gate: its
// listen queue holds one connection (listen(2) backlog 0) and a filler connection occupies it,
// so Linux drops the SYNs of tlsmux's dials (tcp_conn_request: accept queue full) and they are
// retransmitted (RFC 6298: after 1 s, then 3 s, ...). Clear text that phones send meanwhile waits
// in tlsmux's clear-text queues, which is what these tests measure. Once open, every connection
// is accepted and what it delivers is collected.
type gatedBackend struct {
	ln     net.Listener
	filler net.Conn
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	got    chan []byte  // what one backend connection delivered (nil: nothing)
	sizes  map[byte]int // bytes each client (by its pattern tag) is to deliver
}

func newGatedBackend(t *testing.T) *gatedBackend {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	require.NoError(t, unix.Listen(fd, 0))
	f := os.NewFile(uintptr(fd), "gated-backend")
	ln, err := net.FileListener(f)
	f.Close()
	require.NoError(t, err)
	g := &gatedBackend{ln: ln, got: make(chan []byte, 64)}
	g.filler, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(g.close)
	return g
}

func (g *gatedBackend) addr() netip.AddrPort { return g.ln.Addr().(*net.TCPAddr).AddrPort() }

// open accepts the filler, which frees the queue for tlsmux's next SYN retransmission, and
// from then on accepts and collects every connection.
func (g *gatedBackend) open(sizes map[byte]int) {
	g.sizes = sizes
	g.wg.Go(func() {
		for {
			c, err := g.ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
			g.wg.Go(func() {
				// The first byte says whose it is (pattern); read that client's bytes.
				b := make([]byte, 1, 128<<10)
				if _, err := io.ReadFull(c, b); err != nil {
					g.got <- nil
					return
				}
				b = b[:g.sizes[b[0]]]
				_, err := io.ReadFull(c, b[1:])
				if err != nil {
					b = nil
				}
				g.got <- b
			})
		}
	})
}

func (g *gatedBackend) close() {
	g.ln.Close()
	g.filler.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// pattern is n bytes that say which client sent them and where each byte belongs.
func pattern(tag byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag + byte(i%7)
	}
	b[0] = tag
	return b
}

// TestClearTextQueues: while the backend cannot be reached, what phones send after their
// handshake waits in clear-text queues, bounded per connection (con_ct_wq_max) and over all
// connections (ct_wq_max); the write that does not fit is refused and closes only its
// connection, with the bytes counted; both limits change at runtime; and once the backend is up,
// the queued bytes arrive in order.
func TestClearTextQueues(t *testing.T) {
	gb := newGatedBackend(t)
	e := start(t, setup{backend: gb.addr(), opts: func(o *reactor.Options) {
		o.ConCtWqMax = 64 << 10
		o.CtWqMax = 100 << 10
		o.DialTimeout = 30 * time.Second
		o.IdleTimeout = time.Minute
	}})
	used := func() int64 { return e.srv.Stats().CtWqUsed }
	send := func(tag byte, n int) *tls.Conn {
		t.Helper()
		c, err := e.dial(nil)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.Write(pattern(tag, n))
		require.NoError(t, err)
		return c
	}
	a := pattern('A', 60<<10)
	send('A', len(a))
	waitFor(t, "A's 60 KiB queued", func() bool { return used() == 60<<10 })
	b := pattern('B', 40<<10)
	send('B', len(b))
	waitFor(t, "B's 40 KiB queued: exactly ct_wq_max", func() bool { return used() == 100<<10 })

	before := e.srv.Stats()
	send('C', 1)
	e.waitClosed(t, before, "wq_global_full")
	assert.Equal(t, before.DroppedBytes["wq_global_full"]+1, e.srv.Stats().DroppedBytes["wq_global_full"],
		"the one byte over the global limit is refused and counted")
	assert.Equal(t, int64(100<<10), used(), "the others keep what they queued")

	// Raised at runtime: room for D, whose own limit then refuses it.
	require.NoError(t, e.srv.Set("tls", "ct_wq_max", 1<<20))
	before = e.srv.Stats()
	send('D', 70<<10)
	e.waitClosed(t, before, "wq_conn_full")
	dropped := e.srv.Stats().DroppedBytes["wq_conn_full"] - before.DroppedBytes["wq_conn_full"]
	assert.True(t, dropped >= 6<<10 && dropped <= 70<<10, "the part of 70 KiB over 64 KiB, whole writes: %d", dropped)
	waitFor(t, "D's queue dropped", func() bool { return used() == 100<<10 })

	// Lowered at runtime below what A holds: nothing queued is touched; new writes are refused.
	require.NoError(t, e.srv.Set("tls", "con_ct_wq_max", 1000))
	v, err := e.srv.Get("tls", "con_ct_wq_max")
	require.NoError(t, err)
	assert.Equal(t, int64(1000), v)
	before = e.srv.Stats()
	ce := send('E', 900)
	waitFor(t, "E's 900 bytes queued", func() bool { return used() == 100<<10+900 })
	_, err = ce.Write(pattern('e', 200))
	require.NoError(t, err)
	e.waitClosed(t, before, "wq_conn_full")
	waitFor(t, "E's queue dropped", func() bool { return used() == 100<<10 })

	gb.open(map[byte]int{'A': len(a), 'B': len(b)})
	want := map[byte][]byte{'A': a, 'B': b}
	for len(want) > 0 {
		select {
		case got := <-gb.got:
			if len(got) == 0 {
				continue // a refused client's backend connection, closed at once
			}
			w, ok := want[got[0]]
			require.True(t, ok, "unexpected delivery of %d bytes starting %q", len(got), got[0])
			assert.True(t, bytes.Equal(w, got), "client %c: %d bytes delivered, want %d in order", got[0], len(got), len(w))
			delete(want, got[0])
		case <-time.After(30 * time.Second):
			t.Fatalf("queued bytes not delivered; still waiting for %d clients", len(want))
		}
	}
}

// fakeGuard is a memory guard whose state the test sets.
type fakeGuard struct {
	low1, low2 atomic.Bool
	samples    atomic.Int64
}

func (f *fakeGuard) RefuseHandshakes() bool  { return f.low1.Load() }
func (f *fakeGuard) RefuseQueueGrowth() bool { return f.low2.Load() }
func (f *fakeGuard) Sample(time.Time) bool   { f.samples.Add(1); return false }

// TestLowMemory: below low_mem_threshold1 new connections are refused before any crypto (a close
// at accept, an internal_error alert once a ClientHello is in); below low_mem_threshold2 queue
// growth is refused while traffic that needs no new memory goes on; both recover.
func TestLowMemory(t *testing.T) {
	gb := newGatedBackend(t)
	guard := &fakeGuard{}
	e := start(t, setup{opts: func(o *reactor.Options) { o.Guard = guard }})
	waitFor(t, "the ticker to sample the guard", func() bool { return guard.samples.Load() > 0 })

	established, err := e.dial(nil)
	require.NoError(t, err)
	defer established.Close()
	require.NoError(t, echo(established, sipMessage(t, 1, 800)))

	// Threshold 1, ClientHello already in: alert and close, no handshake.
	before := e.srv.Stats()
	raw := dialRaw(t, e.addr)
	e.connID(t, raw.LocalAddr()) // accepted while memory was fine
	guard.low1.Store(true)
	_, err = raw.Write(clientHello(t, e.client))
	require.NoError(t, err)
	assert.Equal(t, []tlsconn.Alert{tlsconn.InternalError}, fatalAlerts(t, readUntilClosed(t, raw)))
	e.waitClosed(t, before, "lowmem1")
	assert.Equal(t, before.Handshakes, e.srv.Stats().Handshakes, "no handshake was done")

	// Threshold 1 at accept: closed before anything is read.
	before = e.srv.Stats()
	_, err = e.dial(nil)
	require.Error(t, err)
	e.waitClosed(t, before, "lowmem1")

	// Established connections are not touched by threshold 1.
	require.NoError(t, echo(established, sipMessage(t, 2, 800)))

	// Threshold 2: a write to a socket with nothing waiting needs no memory of ours and goes on.
	guard.low1.Store(false)
	guard.low2.Store(true)
	require.NoError(t, echo(established, sipMessage(t, 3, 4000)))

	// ... but queueing clear text for a backend that is not up yet is refused.
	e2 := start(t, setup{backend: gb.addr(), opts: func(o *reactor.Options) {
		o.Guard = guard
		o.DialTimeout = 30 * time.Second
	}})
	before = e2.srv.Stats()
	c, err := e2.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(pattern('Q', 500))
	require.NoError(t, err)
	e2.waitClosed(t, before, "lowmem2")
	assert.Equal(t, before.DroppedBytes["lowmem2"]+500, e2.srv.Stats().DroppedBytes["lowmem2"])

	// Recovered: all is well again.
	guard.low2.Store(false)
	c2, err := e.dial(nil)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, echo(c2, sipMessage(t, 4, 800)))
}

// TestHandshakeWaitList: beyond -max-handshakes, connections whose ClientHello is in wait in
// WaitHello, at most -max-waiting of them; when the list is full the oldest is shed with an
// alert, a waiter that gets no slot within the hello timeout is refused, and a freed slot goes to
// the oldest waiter.
func TestHandshakeWaitList(t *testing.T) {
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.Loops = 1 // one wait list, so "oldest" is well defined
		o.MaxHandshakes = 1
		o.MaxWaiting = 2
		o.HelloTimeout = 3 * time.Second
		o.HandshakeTimeout = 2 * time.Second
	}})
	// The staller takes the only slot: ClientHello, then nothing.
	staller := dialRaw(t, e.addr)
	_, err := staller.Write(clientHello(t, e.client))
	require.NoError(t, err)
	waitFor(t, "the staller's handshake", func() bool { return e.srv.Stats().HandshakesInFlight == 1 })

	hello := func() net.Conn {
		c := dialRaw(t, e.addr)
		_, err := c.Write(clientHello(t, e.client))
		require.NoError(t, err)
		return c
	}
	w1 := hello()
	waitFor(t, "w1 waiting", func() bool { return e.srv.Stats().Waiting == 1 })
	// w2 is a real client: it waits, then gets the staller's slot when that handshake times out.
	w2done := make(chan error, 1)
	go func() {
		c, err := e.dial(nil)
		if err == nil {
			err = echo(c, sipMessage(t, 7, 500))
			c.Close()
		}
		w2done <- err
	}()
	waitFor(t, "w2 waiting", func() bool { return e.srv.Stats().Waiting == 2 })

	before := e.srv.Stats()
	w3 := hello() // the list is full: w1, the oldest, is shed
	assert.Equal(t, []tlsconn.Alert{tlsconn.InternalError}, fatalAlerts(t, readUntilClosed(t, w1)))
	e.waitClosed(t, before, "wait_shed")

	// The staller times out; w2 (older than w3) gets the slot and completes.
	select {
	case err := <-w2done:
		require.NoError(t, err, "the oldest waiter gets the freed slot")
	case <-time.After(10 * time.Second):
		t.Fatal("w2 never got a slot")
	}
	// w3, a raw ClientHello that never finishes, got the slot after w2 or waits; either way it
	// ends with an alert or by its handshake timeout, and is counted.
	readUntilClosed(t, w3)
	st := e.srv.Stats()
	assert.Positive(t, st.Closed["handshake_timeout"], "the staller")
	assert.Zero(t, st.Waiting)
	assert.Zero(t, st.HandshakesInFlight)
}

// TestHandshakeBusy: a waiter whose hello timeout comes before a slot is refused with an alert
// and counted as handshake_busy, not hello_timeout: its ClientHello did arrive.
func TestHandshakeBusy(t *testing.T) {
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.MaxHandshakes = 1
		o.HelloTimeout = 500 * time.Millisecond
		o.HandshakeTimeout = 10 * time.Second
	}})
	staller := dialRaw(t, e.addr)
	_, err := staller.Write(clientHello(t, e.client))
	require.NoError(t, err)
	waitFor(t, "the staller's handshake", func() bool { return e.srv.Stats().HandshakesInFlight == 1 })
	before := e.srv.Stats()
	w := dialRaw(t, e.addr)
	_, err = w.Write(clientHello(t, e.client))
	require.NoError(t, err)
	assert.Equal(t, []tlsconn.Alert{tlsconn.InternalError}, fatalAlerts(t, readUntilClosed(t, w)))
	e.waitClosed(t, before, "handshake_busy")
	staller.Close()
}

// TestParams: every runtime setting can be read; Set refuses unknown names, values out of range
// and read-only settings, naming the problem; a change shows in behaviour at once.
func TestParams(t *testing.T) {
	e := start(t, setup{})
	names := map[string]bool{}
	for _, p := range e.srv.Params() {
		names[p.Group+"."+p.Name] = true
		assert.NotEmpty(t, p.Unit, p.Name)
		assert.NotEmpty(t, p.Doc, p.Name)
	}
	for _, n := range []string{"tls.con_ct_wq_max", "tls.ct_wq_max", "tls.ct_wq_blk_size", "tls.connection_timeout",
		"tls.send_close_notify", "tcp.conn_wq_max", "tcp.wq_max", "tcp.send_timeout", "tlsmux.max_handshakes"} {
		assert.True(t, names[n], "%s is listed", n)
	}
	_, err := e.srv.Get("tls", "no_such")
	assert.ErrorIs(t, err, reactor.ErrUnknownParam)
	assert.ErrorIs(t, e.srv.Set("tls", "no_such", 1), reactor.ErrUnknownParam)
	err = e.srv.Set("tls", "send_close_notify", 2)
	assert.ErrorContains(t, err, "out of range [0, 1]")
	err = e.srv.Set("tls", "ct_wq_blk_size", 1)
	assert.ErrorContains(t, err, "ct_wq_blk_size")

	// connection_timeout in seconds, as Kamailio: an idle connection closes after it.
	require.NoError(t, e.srv.Set("tls", "connection_timeout", 1))
	v, err := e.srv.Get("tls", "connection_timeout")
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	before := e.srv.Stats()
	c, err := e.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 1, 300)))
	e.waitClosed(t, before, "idle_timeout")
	_, err = c.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, io.EOF) || isClosedErr(err), "closed for idleness: %v", err)
	require.NoError(t, e.srv.Set("tls", "connection_timeout", -1))
	v, _ = e.srv.Get("tls", "connection_timeout")
	assert.Equal(t, int64(-1), v, "-1: never")
}

// TestConnsListing: the admin listing pages through connections by id with filters, stable
// while connections close between pages, and CloseConn closes exactly the one asked for.
func TestConnsListing(t *testing.T) {
	e := start(t, setup{})
	const n = 25
	conns := make([]*tls.Conn, n)
	for i := range conns {
		c, err := e.dial(nil)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, echo(c, sipMessage(t, i, 300)))
		conns[i] = c
	}
	m := e.srv.Metrics()
	assert.Equal(t, map[string]int64{"proxying": n}, m.ConnsByPhase)
	var hs, hsObs, dialObs uint64
	for k, v := range m.Handshakes {
		assert.Equal(t, uint16(tls.VersionTLS13), k.Version)
		hs += v
	}
	for i := range m.HandshakeLatency.Counts {
		hsObs += m.HandshakeLatency.Counts[i]
		dialObs += m.DialLatency.Counts[i]
	}
	assert.EqualValues(t, n, hs, "handshakes by kind")
	assert.EqualValues(t, n, hsObs, "handshake latency observations")
	assert.EqualValues(t, n, dialObs, "dial latency observations")
	assert.Positive(t, m.HandshakeLatency.Sum)

	page, total := e.srv.Conns(reactor.ConnFilter{}, 0, 10)
	require.Len(t, page, 10)
	assert.Equal(t, n, total)
	for _, ci := range page {
		assert.Equal(t, "proxying", ci.Phase)
		assert.Equal(t, "sip.example.net", ci.SNI)
		assert.Equal(t, "TLSv1.3", ci.Version)
		assert.NotEmpty(t, ci.Cipher)
		assert.Equal(t, uint64(300), ci.BytesIn, "the message")
		assert.Equal(t, uint64(300), ci.BytesOut, "its echo")
		assert.True(t, ci.Peer.Addr().IsLoopback())
		assert.Equal(t, e.addr, ci.Local.String())
	}
	// Close one connection on the next page before asking for it: paging goes on after the
	// cursor, listing each remaining connection once.
	victim := page[9].ID + 1
	require.NoError(t, e.srv.CloseConn(victim, true))
	assert.ErrorIs(t, e.srv.CloseConn(victim, false), reactor.ErrNoConn)
	seen := map[uint64]bool{}
	for _, ci := range page {
		seen[ci.ID] = true
	}
	for after := page[len(page)-1].ID; ; {
		p, _ := e.srv.Conns(reactor.ConnFilter{}, after, 10)
		if len(p) == 0 {
			break
		}
		for _, ci := range p {
			assert.False(t, seen[ci.ID], "listed twice: %d", ci.ID)
			assert.NotEqual(t, victim, ci.ID, "a closed connection is not listed")
			seen[ci.ID] = true
		}
		after = p[len(p)-1].ID
	}
	assert.Len(t, seen, n-1)
	waitFor(t, "the admin close counted", func() bool { return e.srv.Stats().Closed["admin"] == 1 })

	// Filters.
	own := conns[0].LocalAddr().(*net.TCPAddr).AddrPort()
	p, total := e.srv.Conns(reactor.ConnFilter{Peer: netip.PrefixFrom(own.Addr(), 32)}, 0, 100)
	assert.Equal(t, n-1, total, "all peers are 127.0.0.1")
	assert.Len(t, p, n-1)
	_, total = e.srv.Conns(reactor.ConnFilter{SNI: "SIP.EXAMPLE.NET"}, 0, 1)
	assert.Equal(t, n-1, total, "SNI matches case-insensitively")
	_, total = e.srv.Conns(reactor.ConnFilter{SNI: "other.example"}, 0, 1)
	assert.Zero(t, total)
	yes := true
	_, total = e.srv.Conns(reactor.ConnFilter{Verified: &yes}, 0, 1)
	assert.Zero(t, total, "no client certificates here")
}

// TestPerSource: -per-source-conns closes a source's connection over the cap at accept, before
// anything is read; -per-source-rate refuses a ClientHello over the source's rate with an alert;
// a source's count goes down as its connections close.
func TestPerSource(t *testing.T) {
	sources := memguard.NewSources(memguard.SourceLimits{Conns: 2})
	e := start(t, setup{opts: func(o *reactor.Options) { o.Sources = sources }})
	a, err := e.dial(nil)
	require.NoError(t, err)
	b, err := e.dial(nil)
	require.NoError(t, err)
	defer b.Close()
	before := e.srv.Stats()
	_, err = e.dial(nil)
	require.Error(t, err, "a third connection from 127.0.0.1")
	e.waitClosed(t, before, "per_source")
	require.NoError(t, echo(b, sipMessage(t, 1, 300)), "the source's other connections are untouched")
	a.Close()
	waitFor(t, "a's close to be counted", func() bool { return e.srv.Stats().Open == 1 })
	c, err := e.dial(nil)
	require.NoError(t, err, "room again once one closed")
	c.Close()

	// The rate: one handshake, then none for a second.
	require.NoError(t, sources.SetLimits(memguard.SourceLimits{Rate: 1, Burst: 1}))
	prior := e.srv.Stats().Closed["per_source"]
	if ok, err := e.dial(nil); err == nil { // the bucket may still hold a token from before: spend it
		ok.Close()
	} else { // refused: let its close be counted before the snapshot
		waitFor(t, "that refusal counted", func() bool { return e.srv.Stats().Closed["per_source"] == prior+1 })
	}
	before = e.srv.Stats()
	raw := dialRaw(t, e.addr)
	_, err = raw.Write(clientHello(t, e.client))
	require.NoError(t, err)
	assert.Equal(t, []tlsconn.Alert{tlsconn.InternalError}, fatalAlerts(t, readUntilClosed(t, raw)))
	e.waitClosed(t, before, "per_source")
}

// TestHandshakeRate: over -handshake-rate, ClientHellos wait for a token rather than being
// refused, and are admitted as tokens come; one whose hello timeout ends first is refused with
// an alert and counted as handshake_rate.
func TestHandshakeRate(t *testing.T) {
	rate := memguard.NewRateLimiter(4, 1) // a token every 250 ms
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.HandshakeRate = rate
		o.HelloTimeout = 5 * time.Second
	}})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			c, err := e.dial(nil)
			if err == nil {
				c.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err, "waiting for the rate, not refused")
	}
	assert.Zero(t, e.srv.Stats().Closed["handshake_rate"])

	rate.SetRate(0.1, 1) // a token every 10 s, and a hello timeout of 300 ms
	require.NoError(t, e.srv.Set("tlsmux", "hello_timeout", 300))
	if c, err := e.dial(nil); err == nil { // takes the token if there is one
		c.Close()
	} else { // refused for want of one: let its close be counted before the snapshot
		waitFor(t, "the first refusal counted", func() bool { return e.srv.Stats().Closed["handshake_rate"] == 1 })
	}
	before := e.srv.Stats()
	raw := dialRaw(t, e.addr)
	_, err := raw.Write(clientHello(t, e.client))
	require.NoError(t, err)
	assert.Equal(t, []tlsconn.Alert{tlsconn.InternalError}, fatalAlerts(t, readUntilClosed(t, raw)))
	e.waitClosed(t, before, "handshake_rate")
}
