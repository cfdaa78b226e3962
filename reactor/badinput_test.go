package reactor_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/record"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/reactor"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// TestBadInput sends one kind of bad input per subtest while good clients keep echoing through
// the same tlsmux, and checks, for each, what the bad client sees (an alert where one is due, then
// the close), the reason counted in Stats().Closed, the bytes counted in Stats().DroppedBytes where
// bytes were refused, and the "closing" log line naming the connection and the reason.
func TestBadInput(t *testing.T) {
	core, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{MaxMessage: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { core.Close() })
	router := newStallRouter(t, core.Addr().String())
	e := start(t, setup{
		backend: router.addr(),
		opts: func(o *reactor.Options) {
			o.HelloTimeout = time.Second
			o.HandshakeTimeout = time.Second
			o.SendTimeout = time.Second
			o.TCPConnWqMax = 64 << 10
		},
	})
	load := startGoodLoad(t, e, 6)
	load.waitProgress(t)

	// Bytes refused before any handshake: tlsconn checks the framing of the first flight.
	refusals := []struct {
		name   string
		input  []byte
		reason string
		alert  tlsconn.Alert // 0: none is due
		drop   bool          // the input is refused, so counted in DroppedBytes
	}{
		{"garbage", garbage(200), "not_tls", 0, true},
		{"plain SIP", []byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-1\r\n" +
			"From: <sip:a@x>;tag=1\r\nTo: <sip:x>\r\nCall-ID: 1@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
			"not_tls", 0, true},
		// RFC 8446 §5.1: a record longer than 2^14+2048 is a record_overflow.
		{"record over the size limit", []byte{0x16, 0x03, 0x01, 0xFF, 0xFF}, "record_overflow", tlsconn.RecordOverflow, true},
		{"record version not 3.x", []byte{0x16, 0x07, 0x07, 0x00, 0x10}, "bad_record", tlsconn.ProtocolVersion, true},
		{"empty handshake record", []byte{0x16, 0x03, 0x01, 0x00, 0x00}, "bad_record", tlsconn.UnexpectedMessage, true},
		{"first message not a ClientHello", []byte{0x16, 0x03, 0x01, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 1, 2, 3, 4},
			"tls_error", tlsconn.UnexpectedMessage, true},
		// A ClientHello announcing 64 KiB cannot fit in one record's worth of buffer.
		{"ClientHello too big", []byte{0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0xFF, 0xFF}, "hello_too_big", tlsconn.IllegalParameter, true},
		// Framing is fine, so crypto/tls gets it and cannot parse it (conn.go: decode_error).
		{"ClientHello body malformed", malformedHello(), "handshake_failed", tlsconn.DecodeError, false},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			before := e.srv.Stats()
			c := dialRaw(t, e.addr)
			id := e.connID(t, c.LocalAddr())
			_, err := c.Write(tc.input)
			require.NoError(t, err)
			got := readUntilClosed(t, c)
			if tc.alert != 0 {
				assert.Equal(t, []tlsconn.Alert{tc.alert}, fatalAlerts(t, got), "alerts received (bytes % x)", got)
			} else {
				assert.Empty(t, got, "no alert is due: a client that does not speak TLS would not understand one")
			}
			e.waitClosed(t, before, tc.reason)
			e.waitLog(t, id, tc.reason)
			if tc.drop {
				dropped := e.srv.Stats().DroppedBytes[tc.reason] - before.DroppedBytes[tc.reason]
				assert.Positive(t, dropped, "refused bytes counted under %s", tc.reason)
				assert.LessOrEqual(t, dropped, uint64(len(tc.input)), "no more than was sent")
			}
			load.waitProgress(t)
		})
	}

	t.Run("ClientHello then nothing", func(t *testing.T) {
		before := e.srv.Stats()
		c := dialRaw(t, e.addr)
		id := e.connID(t, c.LocalAddr())
		_, err := c.Write(clientHello(t, e.client))
		require.NoError(t, err)
		got := readUntilClosed(t, c)
		typ, _, _, ok := record.ParseHeader(got)
		assert.True(t, ok && typ == record.Handshake, "the server's first flight arrived before the close")
		e.waitClosed(t, before, "handshake_timeout")
		e.waitLog(t, id, "handshake_timeout")
		load.waitProgress(t)
	})

	t.Run("connect and never send", func(t *testing.T) {
		before := e.srv.Stats()
		c := dialRaw(t, e.addr)
		id := e.connID(t, c.LocalAddr())
		assert.Empty(t, readUntilClosed(t, c))
		e.waitClosed(t, before, "hello_timeout")
		e.waitLog(t, id, "hello_timeout")
		load.waitProgress(t)
	})

	t.Run("part of a ClientHello then nothing", func(t *testing.T) {
		before := e.srv.Stats()
		c := dialRaw(t, e.addr)
		id := e.connID(t, c.LocalAddr())
		_, err := c.Write(clientHello(t, e.client)[:40])
		require.NoError(t, err)
		assert.Empty(t, readUntilClosed(t, c))
		e.waitClosed(t, before, "hello_timeout")
		e.waitLog(t, id, "hello_timeout")
		load.waitProgress(t)
	})

	t.Run("backend stalls", func(t *testing.T) {
		before := e.srv.Stats()
		c, err := e.dial(nil)
		require.NoError(t, err)
		defer c.Close()
		id := e.connID(t, c.LocalAddr())
		// The router stalls the backend connection whose first bytes carry the marker.
		_, err = c.Write(append([]byte(stallMarker), bytes.Repeat([]byte{'.'}, 100)...))
		require.NoError(t, err)
		// Until the backend is up, what the client sends waits in a clear-text queue bounded
		// by ConCtWqMax (over it: wq_conn_full); send the bulk once the backend has stalled.
		waitFor(t, "the backend connection to stall", func() bool { return router.stalled.Load() == 1 })
		writeErr := make(chan error, 1)
		var written atomic.Int64
		go func() {
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 1024)
			for written.Load() < 256<<20 {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				n, err := c.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- errors.New("256 MiB written to a stalled backend and still not closed")
		}()
		var reason string
		waitFor(t, "send_queue_full or send_timeout", func() bool {
			st := e.srv.Stats()
			for _, r := range []string{"send_queue_full", "send_timeout"} {
				if st.Closed[r] > before.Closed[r] {
					reason = r
					return true
				}
			}
			return false
		})
		t.Logf("closed with %s after the client wrote %d bytes", reason, written.Load())
		err = <-writeErr // the write fails once tlsmux has closed the client
		assert.True(t, isClosedErr(err), "the client's writes end with the connection closed: %v", err)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		assert.True(t, isClosedErr(err), "read after the close: %v", err)
		e.waitLog(t, id, reason)
		// Queued bytes that never reached the stalled core are lost and counted.
		waitFor(t, "the queued bytes to be counted as dropped", func() bool {
			st := e.srv.Stats()
			return st.DroppedBytes["send_queue_full"]+st.DroppedBytes["send_timeout"] >
				before.DroppedBytes["send_queue_full"]+before.DroppedBytes["send_timeout"]
		})
		st := e.srv.Stats()
		dropped := st.DroppedBytes["send_queue_full"] + st.DroppedBytes["send_timeout"] -
			before.DroppedBytes["send_queue_full"] - before.DroppedBytes["send_timeout"]
		// Refused records are counted as received, ciphertext: 22 bytes more per 16 KiB.
		assert.LessOrEqual(t, dropped, uint64(written.Load())*1025/1024, "no more dropped than was sent")
		assert.EqualValues(t, 1, router.stalled.Load())
		load.waitProgress(t)
	})

	t.Run("backend down", func(t *testing.T) {
		// A backend that refuses every dial cannot share a server with the good clients, so it
		// gets its own tlsmux, in this process, while the good load keeps going on the first one.
		down := start(t, setup{backend: deadAddr(t)})
		// The client's Finished and first message leave in one write, so the message is in
		// tlsmux's clear-text queue when the dial is refused: dropped, and counted.
		raw := dialRaw(t, down.addr)
		hw := &heldWrites{Conn: raw}
		cfg := down.client.Clone()
		cfg.MinVersion = tls.VersionTLS13
		c := tls.Client(hw, cfg)
		require.NoError(t, c.Handshake())
		id := down.connID(t, raw.LocalAddr())
		msg := sipMessage(t, 1, 500)
		_, err := c.Write(msg)
		require.NoError(t, err)
		require.NoError(t, hw.release())
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err = c.Read(make([]byte, 1))
		assert.True(t, isClosedErr(err), "the client sees the close: %v", err)
		down.waitClosed(t, reactor.Stats{}, "backend_refused")
		down.waitLog(t, id, "backend_refused")
		st := down.srv.Stats()
		assert.Equal(t, map[string]uint64{"backend_refused": uint64(len(msg))}, st.DroppedBytes)
		assert.Zero(t, st.BytesIn, "nothing reached a backend")
		load.waitProgress(t)
	})

	load.stopAndCheck(t)
}

// goodLoad is k well-behaved clients echoing messages through tlsmux until stopped, each
// reconnecting every few messages so that handshakes keep happening too. Any failure is
// recorded: a bad-input test runs one alongside to show that one client's misbehaviour costs the
// others nothing.
type goodLoad struct {
	e      *env
	k      int
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	echoes atomic.Int64
	mu     sync.Mutex
	errs   []error
}

func startGoodLoad(t *testing.T, e *env, k int) *goodLoad {
	t.Helper()
	g := &goodLoad{e: e, k: k, stop: make(chan struct{})}
	for i := range k {
		msgs := [][]byte{
			sipMessage(t, 10000+3*i, 300),
			sipMessage(t, 10000+3*i+1, 1500),
			sipMessage(t, 10000+3*i+2, 9000),
		}
		g.wg.Go(func() { g.client(msgs) })
	}
	t.Cleanup(g.halt) // if the test ends early
	return g
}

func (g *goodLoad) client(msgs [][]byte) {
	for {
		if g.stopped() {
			return
		}
		c, err := g.e.dial(nil)
		if err != nil {
			g.fail(fmt.Errorf("dial: %w", err))
			return
		}
		for i := 0; i < 10 && !g.stopped(); i++ {
			if err := echo(c, msgs[i%len(msgs)]); err != nil {
				c.Close()
				g.fail(err)
				return
			}
			g.echoes.Add(1)
		}
		c.Close()
	}
}

func (g *goodLoad) stopped() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

func (g *goodLoad) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, err)
}

func (g *goodLoad) failures() []error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]error(nil), g.errs...)
}

// waitProgress waits until the good clients have completed a few more echoes, and checks that
// none has failed so far.
func (g *goodLoad) waitProgress(t testing.TB) {
	t.Helper()
	n := g.echoes.Load()
	waitFor(t, "the good clients to keep echoing", func() bool {
		return g.echoes.Load() >= n+int64(2*g.k) || len(g.failures()) > 0
	})
	require.Empty(t, g.failures(), "good clients failed")
}

func (g *goodLoad) halt() {
	g.once.Do(func() { close(g.stop) })
	g.wg.Wait()
}

// stopAndCheck stops the clients and checks that none of them ever failed.
func (g *goodLoad) stopAndCheck(t testing.TB) {
	t.Helper()
	g.halt()
	require.Empty(t, g.failures(), "good clients failed")
	t.Logf("good clients: %d echoes, no failure", g.echoes.Load())
}

// heldWrites passes the first write (the ClientHello) through and holds the later ones until
// release, so that the client's Finished and what it writes next leave in one write(2).
type heldWrites struct {
	net.Conn
	mu     sync.Mutex
	writes int
	held   []byte
	open   bool // released: writes pass through
}

func (h *heldWrites) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	if h.writes == 1 || h.open {
		return h.Conn.Write(p)
	}
	h.held = append(h.held, p...)
	return len(p), nil
}

func (h *heldWrites) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = true
	_, err := h.Conn.Write(h.held)
	h.held = nil
	return err
}

// stallMarker, at the start of a client's first message, makes stallRouter stall its backend
// connection.
const stallMarker = "STALL-THIS-BACKEND\r\n"

// stallRouter stands between tlsmux and the SIP core. A backend connection whose first bytes
// carry stallMarker is accepted and never read again, as by a core that hangs; every other one
// is spliced to the core. So one client can have a stalled backend while the others are served.
type stallRouter struct {
	ln      net.Listener
	core    string
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	stalled atomic.Int64
}

func newStallRouter(t testing.TB, core string) *stallRouter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &stallRouter{ln: ln, core: core, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	r.wg.Go(r.accept)
	t.Cleanup(r.close)
	return r
}

func (r *stallRouter) addr() netip.AddrPort { return r.ln.Addr().(*net.TCPAddr).AddrPort() }

func (r *stallRouter) accept() {
	for {
		be, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(be) {
			return
		}
		r.wg.Go(func() { r.serve(be) })
	}
}

// track remembers c so close can end it; false once the router is closed.
func (r *stallRouter) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *stallRouter) serve(be net.Conn) {
	defer be.Close()
	first := make([]byte, 64<<10)
	n, err := io.ReadAtLeast(be, first, len(stallMarker))
	if err != nil {
		return
	}
	if bytes.HasPrefix(first[:n], []byte(stallMarker)) {
		r.stalled.Add(1)
		<-r.done
		return
	}
	core, err := net.Dial("tcp", r.core)
	if err != nil || !r.track(core) {
		return
	}
	defer core.Close()
	if _, err := core.Write(first[:n]); err != nil {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(core, be)
		core.Close()
		be.Close()
	})
	io.Copy(be, core)
	be.Close()
	core.Close()
	wg.Wait()
}

func (r *stallRouter) close() {
	r.ln.Close()
	r.mu.Lock()
	close(r.done)
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// deadAddr returns an address where nothing listens: a port that was listened on, then closed.
func deadAddr(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	require.NoError(t, ln.Close())
	return ap
}

// dialRaw opens a plain TCP connection to addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads c until tlsmux closes it and returns what arrived. A reset counts as a
// close (tlsmux aborts, or closes with bytes of ours unread); a read that times out fails the test.
func readUntilClosed(t testing.TB, c net.Conn) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == nil {
			continue
		}
		require.True(t, isClosedErr(err), "reading until tlsmux closes the connection: %v", err)
		return got
	}
}

// isClosedErr reports whether err says the peer closed the connection: EOF, a reset or a broken
// pipe.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fatalAlerts returns the alerts in b, a sequence of plaintext TLS records, failing the test if
// b holds anything else or an alert that is not fatal.
func fatalAlerts(t testing.TB, b []byte) []tlsconn.Alert {
	t.Helper()
	var out []tlsconn.Alert
	for len(b) > 0 {
		typ, _, n, ok := record.ParseHeader(b)
		require.True(t, ok && len(b) >= record.HeaderLen+n, "a whole record: % x", b)
		require.Equal(t, record.Alert, typ, "only alert records: % x", b)
		require.Equal(t, 2, n, "an alert body is two bytes")
		require.EqualValues(t, 2, b[record.HeaderLen], "alert level fatal")
		out = append(out, tlsconn.Alert(b[record.HeaderLen+1]))
		b = b[record.HeaderLen+n:]
	}
	return out
}

// garbage is n bytes that are not TLS: random, with a first byte that is no record type.
func garbage(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[0] = 0xA5
	return b
}

// malformedHello is a ClientHello correctly framed, whose body is garbage.
func malformedHello() []byte {
	body := bytes.Repeat([]byte{0xEE}, 40)
	msg := append([]byte{0x01, 0x00, 0x00, byte(len(body))}, body...)
	return append(record.AppendHeader(nil, record.Handshake, 0x0301, len(msg)), msg...)
}

// clientHello returns the first flight crypto/tls sends as a client with cfg: a valid ClientHello.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	hc := &helloCapture{}
	err := tls.Client(hc, cfg).Handshake()
	require.Error(t, err, "the capture conn answers with EOF")
	require.NotEmpty(t, hc.out.Bytes())
	return hc.out.Bytes()
}

// helloCapture is a net.Conn that records what is written and reads EOF; anything else panics
// (nil embedded interface).
type helloCapture struct {
	net.Conn
	out bytes.Buffer
}

func (h *helloCapture) Write(p []byte) (int, error) { return h.out.Write(p) }
func (h *helloCapture) Read([]byte) (int, error)    { return 0, io.EOF }
func (h *helloCapture) Close() error                { return nil }

// connID returns the id tlsmux gave the client connection whose local address is client, from
// its "accepted" log line (the harness logs at debug level).
func (e *env) connID(t testing.TB, client net.Addr) string {
	t.Helper()
	key := " remote=" + client.String() + " local="
	var id string
	waitFor(t, "the accepted log line of "+client.String(), func() bool {
		logs := e.logs.String()
		i := strings.LastIndex(logs, key)
		if i < 0 {
			return false
		}
		line := logs[strings.LastIndexByte(logs[:i], '\n')+1 : i]
		_, after, ok := strings.Cut(line, " msg=accepted conn=")
		id = after
		return ok
	})
	return id
}

// waitLog waits for a log line naming connection id and reason.
func (e *env) waitLog(t testing.TB, id, reason string) {
	t.Helper()
	key := " conn=" + id + " reason=" + reason
	waitFor(t, "a log line with"+key, func() bool {
		logs := e.logs.String()
		return strings.Contains(logs, key+" ") || strings.Contains(logs, key+"\n")
	})
}

// waitClosed waits until one more connection than in before has been closed for reason.
func (e *env) waitClosed(t testing.TB, before reactor.Stats, reason string) {
	t.Helper()
	waitFor(t, "a close counted as "+reason, func() bool {
		return e.srv.Stats().Closed[reason] > before.Closed[reason]
	})
	assert.Equal(t, before.Closed[reason]+1, e.srv.Stats().Closed[reason], "exactly one close counted as %s", reason)
}
