package tlsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/tlsmux/tlsmux/internal/record"
)

// Options tunes a Conn. The zero value gives the defaults.
type Options struct {
	// MaxHello bounds the bytes a server buffers before the ClientHello is complete. If zero, the
	// default is DefaultMaxHello: one full record (2^14 bytes plus its header), which holds any
	// ClientHello seen in practice, including post-quantum key shares.
	MaxHello int
	// MaxBuffered bounds the ciphertext held that crypto/tls cannot take yet: bytes after the
	// ClientHello while waiting for StartHandshake, and bytes fed during the handshake. If zero,
	// the default is DefaultMaxBuffered (64 KiB). After the handshake nothing is held: Feed
	// decrypts everything it is given (crypto/tls keeps at most one partial record).
	MaxBuffered int
	// Notify is called from the handshake goroutine when output is pending or the handshake
	// has ended. It must not block and must not call the Conn: it should schedule Poll on the
	// loop (gnet: Conn.Wake or EventLoop.Execute). Calls are coalesced: after one call, the next
	// comes only once Poll has run. It may be called once after Close, for a Conn the loop has
	// already forgotten; Poll on a Closed Conn does nothing. Nil means the caller polls.
	Notify func()
	// LocalAddr and RemoteAddr are what the tls.Conn reports as its addresses, for example to
	// tls.Config.GetConfigForClient through ClientHelloInfo.Conn. Nil if unset.
	LocalAddr, RemoteAddr net.Addr
	// KeepPeerDER keeps the DER encoding of the peer's leaf certificate in Attrs.Peer
	// (CertInfo.DER), for $tls_peer_raw_cert or a PROXY PP2_SUBTYPE_SSL_CLIENT_CERT TLV. Off,
	// Attrs keeps only the parsed facts.
	KeepPeerDER bool
	// Now returns the current time when the handshake completes, on the loop, for
	// Attrs.PeerExpired (the reactor passes its loop's cached time). If nil, tls.Config.Time is
	// used; if that is nil too, PeerExpired is not computed (tlsconn reads no clock).
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultMaxHello    = record.MaxPlaintext + record.HeaderLen
	DefaultMaxBuffered = 64 << 10
)

// ErrNotEstablished is returned by Write before the handshake has completed.
var ErrNotEstablished = errors.New("tlsconn: write before the handshake completed")

// Conn is one TLS connection driven by an event loop: feed it ciphertext, take plaintext and
// ciphertext to send. See the package documentation for the concurrency contract: every method is
// loop-only, and Options.Notify is the only thing called from elsewhere.
type Conn struct {
	// constant
	cfg         *tls.Config
	isClient    bool
	keepPeerDER bool
	maxHello    int
	maxBuffered int
	notify      func()
	now         func() time.Time

	// loop only
	state      State
	helloReady bool      // server: a whole ClientHello is in pre; client: always
	handshook  bool      // the handshake succeeded: tc.ConnectionState is ours to call
	pre        *preHello // WaitHello: bytes received so far
	err        *Error    // first fatal error; sticky
	tc         *tls.Conn // from StartHandshake on
	hs         *handshake
	attrs      *Attrs // computed when the handshake completes; see Attrs

	// shared with the handshake goroutine; memConn has its own lock
	mc memConn
}

// NewServer returns a server Conn in WaitHello. No crypto/tls state exists until StartHandshake.
func NewServer(cfg *tls.Config, o Options) *Conn {
	if cfg == nil {
		panic("tlsconn: nil *tls.Config")
	}
	return newConn(cfg, o, false)
}

// NewClient returns a client Conn in WaitHello; call StartHandshake to send the ClientHello. The
// client keeps renegotiation off (tls.RenegotiateNever, the default): a renegotiation runs a full
// handshake inside Read on the loop, where a would-block is sticky (research §8 pitfall 11). A cfg
// asking for it is cloned with it turned off.
func NewClient(cfg *tls.Config, o Options) *Conn {
	if cfg == nil {
		panic("tlsconn: nil *tls.Config")
	}
	if cfg.Renegotiation != tls.RenegotiateNever {
		cfg = cfg.Clone()
		cfg.Renegotiation = tls.RenegotiateNever
	}
	c := newConn(cfg, o, true)
	c.helloReady = true
	return c
}

func newConn(cfg *tls.Config, o Options, isClient bool) *Conn {
	c := &Conn{cfg: cfg, isClient: isClient, maxHello: o.MaxHello, maxBuffered: o.MaxBuffered, notify: o.Notify,
		keepPeerDER: o.KeepPeerDER, now: o.Now}
	if c.maxHello <= 0 {
		c.maxHello = DefaultMaxHello
	}
	if c.maxBuffered <= 0 {
		c.maxBuffered = DefaultMaxBuffered
	}
	c.mc.local, c.mc.remote = o.LocalAddr, o.RemoteAddr
	return c
}

// State returns the current state.
func (c *Conn) State() State { return c.state }

// FeedEOF tells a handshaking Conn that the peer closed its side of the TCP connection (gnet
// reports a FIN only by closing): the handshake goes on with the bytes already fed, and fails with
// io.EOF if it needs more. Whatever arrived with the peer's last flight, application data and
// close_notify included, is then returned by Poll as usual. Outside Handshaking it does nothing.
func (c *Conn) FeedEOF() {
	if c.state == Handshaking {
		c.mc.feedEOF()
	}
}

// Handshook reports whether the handshake completed, so Attrs is valid, even if the connection
// failed right after (Poll returning done with an error can mean either).
func (c *Conn) Handshook() bool { return c.handshook }

// HelloReady reports whether StartHandshake may be called: for a server, a whole ClientHello has
// been buffered; a client is always ready.
func (c *Conn) HelloReady() bool { return c.helloReady && c.state == WaitHello }

// Feed hands the Conn ciphertext received from the peer and returns plain with any plaintext it
// yields appended. p may be reused once Feed returns: before and during the handshake what must
// be kept is copied; after it, p is not copied at all, as crypto/tls reads it (one record at a
// time) and decrypts it before Feed returns.
//
//   - WaitHello (server): checks record framing and buffers p until a whole ClientHello is in;
//     then HelloReady is true. Plain SIP, a malformed or oversized record, a first message that is
//     not a ClientHello or a hello above MaxHello are refused: the *Error says why, and the alert
//     for the peer, if any, is queued in the output.
//   - Handshaking: passes p to the handshake goroutine, at most MaxBuffered bytes unread.
//   - Established: decrypts, appending plaintext to plain. Handshake messages after the handshake
//     (KeyUpdate, NewSessionTicket) are handled; a KeyUpdate reply lands in the output.
//
// After an error the Conn is Closing and Feed returns the same error again.
func (c *Conn) Feed(p, plain []byte) ([]byte, error) {
	if c.err != nil {
		return plain, c.err
	}
	switch c.state {
	case WaitHello:
		return plain, c.feedHello(p)
	case Handshaking:
		if !c.mc.feed(p, c.maxBuffered) {
			return plain, c.fail(&Error{Reason: ReasonBufferFull,
				Err: fmt.Errorf("more than %d bytes received during the handshake", c.maxBuffered)})
		}
		return plain, nil
	case Established:
		if len(p) == 0 {
			return plain, nil
		}
		c.mc.borrow(p)
		plain, err := c.drain(plain, len(p))
		c.mc.unborrow()
		return plain, err
	}
	panic("tlsconn: no error in state " + c.state.String())
}

// drain reads plaintext until crypto/tls runs out of input. Each Read returns at most one record's
// plaintext, and whole records may already be buffered (after the handshake: application data
// sent with the client Finished), so it loops until the would-block (research §8 pitfall 5).
func (c *Conn) drain(plain []byte, hint int) ([]byte, error) {
	hint = min(max(hint, minReadSpace), record.MaxPlaintext)
	for {
		if cap(plain)-len(plain) < minReadSpace {
			plain = slices.Grow(plain, hint)
		}
		space := cap(plain) - len(plain)
		n, err := c.tc.Read(plain[len(plain):cap(plain)])
		// (n > 0, err) happens: crypto/tls looks ahead for a close_notify after data (conn.go
		// Read), so keep the bytes before looking at err (pitfall 4).
		plain = plain[:len(plain)+n]
		if err == nil {
			// Read returned less than it could, so crypto/tls holds no more plaintext; with no
			// unread ciphertext left and the last record delivered whole, it holds no record
			// either, and the next Read could only say would-block. Skipping it saves a call
			// and crypto/tls's allocation per read attempt.
			if n < space && c.mc.drained() {
				return plain, nil
			}
			continue
		}
		if errors.Is(err, errWouldBlock) {
			return plain, nil
		}
		// Anything else is fatal and not always sticky inside crypto/tls (a misplaced KeyUpdate
		// leaves c.in usable), so Closing makes sure Read is never called again (pitfall 3).
		return plain, c.fail(classifyRead(err, c.tc))
	}
}

// minReadSpace is the least free capacity drain offers Read; crypto/tls copies out of a decrypted
// record in as many Reads as it takes, so this bounds the number of calls, not correctness.
const minReadSpace = 512

// StartHandshake starts the handshake goroutine: a server once HelloReady (after the reactor's
// admission control), a client right away. It is a no-op on a Conn that is Closing or Closed and
// panics in any other state but WaitHello, or on a server before HelloReady.
func (c *Conn) StartHandshake() {
	switch c.state {
	case Closing, Closed:
		return
	case WaitHello:
	default:
		panic("tlsconn: StartHandshake in state " + c.state.String())
	}
	if !c.helloReady {
		panic("tlsconn: StartHandshake before HelloReady")
	}
	c.state = Handshaking
	c.start()
}

// Poll collects the handshake goroutine's progress; call it on the loop after Notify, then send
// AppendOutput. While the handshake runs it returns done == false. When it has ended, done is true
// and err says how: nil means Established, and plain has any application data that arrived with
// the peer's last flight appended (it may be there already: nothing else will deliver it). A
// failure returns an *Error (ReasonHandshake, or ReasonAlert if the peer sent one) and the Conn is
// Closing; the alert crypto/tls sent, if any, is in the output. If the handshake succeeded but
// what came right behind it ends the connection (the peer's close_notify or a bad record), done is
// true, the error is that of Feed (ReasonPeerClosed, ...), and Attrs is valid. In any other state
// Poll does nothing, so a spurious or late Notify is harmless.
func (c *Conn) Poll(plain []byte) (done bool, out []byte, err error) {
	if c.state != Handshaking || c.hs == nil {
		return false, plain, nil
	}
	done, herr, sent, sentOK := c.collect()
	if !done {
		return false, plain, nil
	}
	if herr != nil {
		return true, plain, c.fail(classifyHandshake(herr, sent, sentOK))
	}
	c.state = Established
	c.handshook = true
	c.computeAttrs()
	plain, err = c.drain(plain, 0)
	return true, plain, err
}

// Write encrypts p into the output. Only in Established; elsewhere it returns the Conn's error,
// or ErrNotEstablished before the handshake has completed.
func (c *Conn) Write(p []byte) error {
	if c.state != Established {
		if c.err != nil {
			return c.err
		}
		return ErrNotEstablished
	}
	// memConn.Write never fails, so an error here is crypto/tls's own sticky write error.
	if _, err := c.tc.Write(p); err != nil {
		return c.fail(classifyRead(err, c.tc))
	}
	return nil
}

// AppendOutput appends the pending ciphertext (handshake flights, records, alerts) to dst and
// releases the internal buffer.
func (c *Conn) AppendOutput(dst []byte) []byte { return c.mc.appendOutput(dst) }

// Pending returns the number of bytes of pending output.
func (c *Conn) Pending() int { return c.mc.pending() }

// Close ends the Conn in any state and is idempotent. A handshake in flight is cancelled: its
// goroutine wakes and exits promptly. With closeNotify, an Established Conn, or one whose peer has
// closed (ReasonPeerClosed), queues close_notify (RFC 8446 §6.1: each party sends one before
// closing its write side). Pending output stays available to AppendOutput.
func (c *Conn) Close(closeNotify bool) {
	if c.state == Closed {
		return
	}
	if c.hs != nil {
		c.abandonHandshake()
	}
	if closeNotify && c.handshook && (c.state == Established || c.err.Reason == ReasonPeerClosed) {
		c.tc.Close() // writes close_notify through memConn, then closes it
	}
	c.mc.Close()
	c.releasePre()
	c.state = Closed
	if c.err == nil {
		c.err = &Error{Reason: ReasonClosed, Err: errClosed}
	}
}

// SendAlert queues a plaintext fatal alert record, the refusal for a connection turned away before
// any handshake (e.g. internal_error when memory is short, or handshake_failure past the
// handshake admission limit), and moves the Conn to Closing. Flush the output, then Close. It
// does nothing on a Conn that has already failed (Feed refused the first flight, with its own
// alert or none) or been closed, and panics once the handshake has started, when alerts must be
// protected by crypto/tls.
func (c *Conn) SendAlert(a Alert) {
	if c.tc != nil {
		panic("tlsconn: SendAlert after the handshake started")
	}
	if c.err != nil {
		return
	}
	c.queueAlert(a)
	c.fail(&Error{Reason: ReasonClosed, Alert: a, Err: errors.New("tlsconn: refused by the server")})
}

func (c *Conn) queueAlert(a Alert) {
	var buf [record.HeaderLen + 2]byte
	c.mc.writeOutput(appendAlertRecord(buf[:0], a))
}

// fail records the first fatal error, stops a handshake in flight and moves to Closing.
func (c *Conn) fail(e *Error) error {
	if c.err == nil {
		c.err = e
	}
	if c.hs != nil {
		c.abandonHandshake()
	}
	if c.state != Closed {
		c.state = Closing
	}
	c.releasePre()
	return c.err
}
