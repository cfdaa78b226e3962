package tlsconn

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// testConn is the deterministic harness of this package, in the style of x/net/quic's testConn: the
// Conn under test on one side, Go's crypto/tls on the other (blocking, in goroutines, over
// peerConn), and the test moving every byte by hand. Tests run it inside a synctest bubble, so
// synctest.Wait says when the peer and the handshake goroutine have nothing left to do: no sleeps,
// no timeouts, and the same interleaving at every byte boundary on every run.
type testConn struct {
	t    *testing.T
	c    *Conn
	peer *tls.Conn
	pc   *peerConn

	// split gives the size of the next piece of peer bytes fed to c; nil feeds all at once.
	split func() int
	// autoStart calls StartHandshake as soon as HelloReady (the reactor's admission is elsewhere).
	autoStart bool

	plain     []byte // plaintext c produced and the test has not checked yet
	err       error  // first error c returned
	hsDone    bool   // Poll reported the end of the handshake
	hsPlain   int    // bytes of plaintext the completing Poll itself returned
	notified  atomic.Bool
	notifyErr atomic.Value // string: a Notify arrived while one was outstanding

	peerHS  chan error // the peer's handshake result
	peerMu  sync.Mutex
	peerGot []byte // plaintext the peer read
	peerErr error  // the error that ended the peer's reads
	reading bool
}

// newServerTest pairs a tlsconn server with a Go crypto/tls client.
func newServerTest(t *testing.T, srv, cli *tls.Config, o Options) *testConn {
	tc := &testConn{t: t, pc: newPeerConn(), autoStart: true, peerHS: make(chan error, 1)}
	o.Notify = tc.onNotify
	tc.c = NewServer(srv, o)
	tc.peer = tls.Client(tc.pc, cli)
	t.Cleanup(tc.close)
	return tc
}

// newClientTest pairs a tlsconn client with a Go crypto/tls server.
func newClientTest(t *testing.T, cli, srv *tls.Config, o Options) *testConn {
	tc := &testConn{t: t, pc: newPeerConn(), autoStart: true, peerHS: make(chan error, 1)}
	o.Notify = tc.onNotify
	tc.c = NewClient(cli, o)
	tc.peer = tls.Server(tc.pc, srv)
	t.Cleanup(tc.close)
	return tc
}

func (tc *testConn) onNotify() {
	// Coalescing: the Conn may not notify again before Poll has run.
	if tc.notified.Swap(true) {
		tc.notifyErr.Store("Notify called twice without a Poll in between")
	}
}

// close ends both sides; every goroutine of the bubble must then exit, or synctest.Test fails.
func (tc *testConn) close() {
	tc.c.Close(false)
	tc.pc.Close()
	if s, ok := tc.notifyErr.Load().(string); ok {
		tc.t.Error(s)
	}
}

// startPeer starts the peer's handshake; then tells the test what it did through peerHS. then runs
// in the handshake goroutine right after a successful handshake (e.g. write application data in
// the same flight as the client Finished).
func (tc *testConn) startPeer(then func(*tls.Conn) error) {
	go func() {
		err := tc.peer.Handshake()
		if err == nil && then != nil {
			err = then(tc.peer)
		}
		tc.peerHS <- err
	}()
}

// handshake runs both handshakes to completion and fails the test if either fails.
func (tc *testConn) handshake() {
	tc.t.Helper()
	if tc.c.isClient {
		tc.c.StartHandshake()
	}
	tc.startPeer(nil)
	tc.pump()
	if err := tc.peerResult(); err != nil {
		tc.t.Fatalf("peer handshake: %v", err)
	}
	if tc.err != nil || tc.c.State() != Established {
		tc.t.Fatalf("handshake: state %v, err %v", tc.c.State(), tc.err)
	}
	tc.startReader()
}

// peerResult returns the peer's handshake result; the peer must have finished.
func (tc *testConn) peerResult() error {
	tc.t.Helper()
	synctest.Wait()
	select {
	case err := <-tc.peerHS:
		return err
	default:
		tc.t.Fatalf("peer handshake has not finished (state %v, err %v)", tc.c.State(), tc.err)
		return nil
	}
}

// startReader makes the peer read whatever arrives, as an application would.
func (tc *testConn) startReader() {
	tc.reading = true
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tc.peer.Read(buf)
			tc.peerMu.Lock()
			tc.peerGot = append(tc.peerGot, buf[:n]...)
			if err != nil {
				tc.peerErr = err
				tc.peerMu.Unlock()
				return
			}
			tc.peerMu.Unlock()
		}
	}()
}

// pump moves bytes both ways until neither side has anything more to say.
func (tc *testConn) pump() {
	tc.t.Helper()
	for range 100000 {
		synctest.Wait()
		moved := false
		if tc.notified.Load() {
			tc.poll()
			moved = true
		}
		if b := tc.pc.take(); len(b) > 0 {
			tc.feed(b)
			moved = true
		}
		if tc.autoStart && tc.c.HelloReady() && !tc.c.isClient {
			tc.c.StartHandshake()
			moved = true
		}
		if b := tc.c.AppendOutput(nil); len(b) > 0 {
			tc.pc.deliver(b)
			moved = true
		}
		if !moved {
			return
		}
	}
	tc.t.Fatal("pump: the two sides never went quiet")
}

// feed gives b to the Conn under test, cut as split says. Each piece is fed from a scratch buffer
// that is overwritten right after Feed returns, which catches a Conn keeping the caller's bytes.
// During the handshake the goroutine gets to consume each piece before the next one arrives, so a
// 1-byte split parks it between every two bytes.
func (tc *testConn) feed(b []byte) {
	var scratch []byte
	for len(b) > 0 && tc.err == nil {
		n := len(b)
		if tc.split != nil {
			n = min(n, tc.split())
		}
		scratch = append(scratch[:0], b[:n]...)
		b = b[n:]
		var err error
		tc.plain, err = tc.c.Feed(scratch, tc.plain)
		for i := range scratch {
			scratch[i] = 0xAA
		}
		tc.setErr(err)
		if tc.autoStart && tc.c.HelloReady() && !tc.c.isClient {
			tc.c.StartHandshake()
		}
		if tc.split != nil && tc.c.State() == Handshaking {
			synctest.Wait()
			if tc.notified.Load() {
				tc.poll()
			}
		}
	}
}

func (tc *testConn) poll() {
	tc.notified.Store(false)
	before := len(tc.plain)
	done, plain, err := tc.c.Poll(tc.plain)
	tc.plain = plain
	if done {
		tc.hsDone = true
		tc.hsPlain = len(plain) - before
	}
	tc.setErr(err)
}

func (tc *testConn) setErr(err error) {
	if err == nil {
		return
	}
	if tc.err == nil {
		tc.err = err
		return
	}
	if err != tc.err {
		tc.t.Errorf("error not sticky: first %v, then %v", tc.err, err)
	}
}

// peerWrite has the peer write p (it does not block: peerConn buffers).
func (tc *testConn) peerWrite(p []byte) {
	tc.t.Helper()
	if _, err := tc.peer.Write(p); err != nil {
		tc.t.Fatalf("peer write: %v", err)
	}
}

// write has the Conn under test encrypt p.
func (tc *testConn) write(p []byte) {
	tc.t.Helper()
	if err := tc.c.Write(p); err != nil {
		tc.t.Fatalf("Write: %v", err)
	}
}

// wantPlain checks the plaintext the Conn produced since the last check.
func (tc *testConn) wantPlain(why string, want []byte) {
	tc.t.Helper()
	if !bytes.Equal(tc.plain, want) {
		tc.t.Fatalf("%s: Conn got %d bytes of plaintext, want %d (equal prefix %d)",
			why, len(tc.plain), len(want), commonPrefix(tc.plain, want))
	}
	tc.plain = tc.plain[:0]
}

// wantPeerGot checks the plaintext the peer read since the last check.
func (tc *testConn) wantPeerGot(why string, want []byte) {
	tc.t.Helper()
	synctest.Wait()
	tc.peerMu.Lock()
	got := tc.peerGot
	tc.peerGot = nil
	tc.peerMu.Unlock()
	if !bytes.Equal(got, want) {
		tc.t.Fatalf("%s: peer got %d bytes, want %d (equal prefix %d)", why, len(got), len(want), commonPrefix(got, want))
	}
}

func (tc *testConn) peerReadErr() error {
	synctest.Wait()
	tc.peerMu.Lock()
	defer tc.peerMu.Unlock()
	return tc.peerErr
}

// wantErr checks the Conn's first error.
func (tc *testConn) wantErr(why string, reason Reason, alert Alert) *Error {
	tc.t.Helper()
	e, ok := errors.AsType[*Error](tc.err)
	if !ok {
		tc.t.Fatalf("%s: err = %v, want an *Error with reason %v", why, tc.err, reason)
	}
	if e.Reason != reason || e.Alert != alert {
		tc.t.Fatalf("%s: err = %v (reason %v, alert %v), want reason %v, alert %v", why, e, e.Reason, e.Alert, reason, alert)
	}
	if st := tc.c.State(); st != Closing && st != Closed {
		tc.t.Fatalf("%s: state %v after an error", why, st)
	}
	return e
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// Feeding strategies.
type splitter struct {
	name string
	new  func() func() int // nil: whole
}

var splitters = []splitter{
	{"whole", nil},
	{"1byte", func() func() int { return func() int { return 1 } }},
	{"random", func() func() int {
		r := rand.New(rand.NewPCG(1, 2))
		return func() int { return 1 + r.IntN(700) }
	}},
}

func (s splitter) fn() func() int {
	if s.new == nil {
		return nil
	}
	return s.new()
}

// payload returns n deterministic bytes.
func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// peerConn is the net.Conn under the Go peer: writes collect for the test to feed to the Conn,
// reads park on a sync.Cond (durably blocking under synctest) until the test delivers bytes.
type peerConn struct {
	mu     sync.Mutex
	cond   sync.Cond
	in     []byte // to be read by the peer
	out    []byte // written by the peer
	closed bool
}

func newPeerConn() *peerConn {
	p := &peerConn{}
	p.cond.L = &p.mu
	return p
}

func (p *peerConn) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.in) == 0 {
		if p.closed {
			return 0, net.ErrClosed
		}
		p.cond.Wait()
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

func (p *peerConn) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, net.ErrClosed
	}
	p.out = append(p.out, b...)
	return len(b), nil
}

func (p *peerConn) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	return nil
}

func (p *peerConn) deliver(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.in = append(p.in, b...)
	p.cond.Broadcast()
}

func (p *peerConn) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.out
	p.out = nil
	return b
}

func (p *peerConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (p *peerConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (p *peerConn) SetDeadline(t time.Time) error      { return nil }
func (p *peerConn) SetReadDeadline(t time.Time) error  { return nil }
func (p *peerConn) SetWriteDeadline(t time.Time) error { return nil }

var _ io.ReadWriteCloser = (*peerConn)(nil)
