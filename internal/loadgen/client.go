package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// client is one connection, owned by one goroutine at a time: its worker, then its hold or
// timed phase.
type client struct {
	o     *Options
	r     *runner
	id    int
	w     *worker // while on its worker's goroutine; then nil
	shard *shard  // once handed off to a goroutine of its own
	cache tls.ClientSessionCache
	raw   net.Conn // the TCP connection: deadlines, and closed when the context ends
	nc    net.Conn // raw, or the TLS connection over it

	stop func() bool // unregisters the context watch
	fr   sipmsg.Framer
	buf  []byte // received bytes: buf[:beg] already framed, buf[beg:end] not yet
	beg  int
	end  int
	sent []byte // the message awaiting its echo
	out  []byte // scratch for requests and answers
	res  result
}

const firstBuf = 4096

func (c *client) connect(ctx context.Context) error {
	c.fr = sipmsg.Framer{FromServer: true, Max: max(sipmsg.DefaultMax, c.o.Size)}
	d := net.Dialer{Timeout: c.o.Timeout}
	if n := len(c.o.LocalAddrs); n > 0 {
		d.LocalAddr = &net.TCPAddr{IP: c.o.LocalAddrs[c.id%n].AsSlice()}
	}
	t0 := time.Now()
	raw, err := d.DialContext(ctx, "tcp", c.o.Target)
	if err != nil {
		return fail(Dial, err)
	}
	c.raw, c.nc = raw, raw
	// Closing the socket is the one way to interrupt every blocking call at once.
	c.stop = context.AfterFunc(ctx, func() { raw.Close() })
	if c.o.TLS == nil {
		c.res.handshakes++
		c.recordHandshake(time.Since(t0))
		return nil
	}
	cfg := c.o.TLS
	var watch *ticketWatch
	if c.cache != nil {
		watch = &ticketWatch{ClientSessionCache: c.cache, raw: raw}
		cfg = cfg.Clone()
		cfg.ClientSessionCache = watch
	}
	tc := tls.Client(raw, cfg)
	c.deadline()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(Handshake, err)
	}
	c.nc = tc
	c.res.handshakes++
	c.recordHandshake(time.Since(t0))
	st := tc.ConnectionState()
	if st.DidResume {
		c.res.resumed++
	} else if watch != nil && st.Version == tls.VersionTLS13 && c.bare() && c.w != nil && !c.w.noTickets {
		c.w.noTickets = !c.awaitTicket(tc, watch)
	}
	return nil
}

// bare reports whether the connection ends right after its handshake.
func (c *client) bare() bool {
	o := c.o
	return o.SkipRegister && o.Messages == 0 && o.Hold == 0 && o.Duration == 0
}

// ticketWait bounds the wait for a session ticket after a bare handshake.
const ticketWait = time.Second

// awaitTicket reads until the server's NewSessionTicket (RFC 8446 §4.6.1) is stored in the
// cache, or for ticketWait at most, and reports whether one was. A TLS 1.3 server sends the
// ticket right after its Finished, so it is usually in the socket buffer already.
func (c *client) awaitTicket(tc *tls.Conn, w *ticketWatch) bool {
	w.waiting = true
	c.raw.SetReadDeadline(time.Now().Add(min(c.o.Timeout, ticketWait)))
	var b [1]byte
	tc.Read(b[:]) // ends with the deadline, moved to the past by Put once the ticket is stored
	w.waiting = false
	return w.stored
}

// ticketWatch is a connection's view of its session cache that ends a wait for a ticket: Put
// runs inside tls.Conn.Read, on the goroutine that owns the connection.
type ticketWatch struct {
	tls.ClientSessionCache
	raw     net.Conn
	waiting bool // awaitTicket is reading
	stored  bool
}

func (w *ticketWatch) Put(key string, cs *tls.ClientSessionState) {
	w.ClientSessionCache.Put(key, cs)
	if cs != nil && w.waiting {
		w.stored = true
		w.raw.SetReadDeadline(aLongTimeAgo)
	}
}

// aLongTimeAgo is a deadline in the past: it makes a blocked Read return at once.
var aLongTimeAgo = time.Unix(1, 0)

func (c *client) recordHandshake(d time.Duration) {
	if s := c.shard; s != nil {
		s.mu.Lock()
		s.handshake.Record(d)
		s.mu.Unlock()
		return
	}
	c.w.handshake.Record(d)
}

func (c *client) recordLatency(d time.Duration) {
	if s := c.shard; s != nil {
		s.mu.Lock()
		s.latency.Record(d)
		s.mu.Unlock()
		return
	}
	c.w.latency.Record(d)
}

func (c *client) close() {
	if c.stop != nil {
		c.stop()
	}
	if c.nc != nil {
		c.nc.Close()
	}
}

// deadline starts a step: it must end within Timeout.
func (c *client) deadline() { c.raw.SetDeadline(time.Now().Add(c.o.Timeout)) }

func (c *client) exchange() error {
	if !c.o.SkipRegister {
		if err := c.register(); err != nil {
			return err
		}
	}
	for i := range c.o.Messages {
		if err := c.roundTrip(uint32(i) + 2); err != nil { // CSeq 1 was the REGISTER
			return err
		}
	}
	return nil
}

func (c *client) register() error {
	c.deadline()
	id := strconv.Itoa(c.id)
	c.out = sipmsg.AppendRequest(c.out[:0], sipmsg.Request{
		Method: "REGISTER",
		URI:    "sip:loadgen.invalid",
		Via:    c.via(id, "1"),
		From:   "<sip:lg" + id + "@loadgen.invalid>;tag=lg" + id,
		To:     "<sip:lg" + id + "@loadgen.invalid>",
		CallID: "lg" + id + "-reg@loadgen.invalid",
		CSeq:   1,
		Headers: []string{
			"Contact: <sip:lg" + id + "@" + c.raw.LocalAddr().String() + ";transport=" + c.transport() + ">",
			"Expires: 600",
		},
	})
	if err := c.write(c.out); err != nil {
		return err
	}
	for {
		kind, frame, err := c.next()
		if err != nil {
			return err
		}
		m, err := c.other(kind, frame)
		if err != nil || m == nil {
			if err != nil {
				return err
			}
			continue
		}
		if m.IsRequest() {
			return fail(Protocol, fmt.Errorf("want a REGISTER response, got %s request", m.Method))
		}
		callID, _ := m.Get("Call-ID")
		_, method, _ := m.CSeq()
		if m.Status != 200 || string(method) != "REGISTER" || string(callID) != "lg"+id+"-reg@loadgen.invalid" {
			return fail(Protocol, fmt.Errorf("REGISTER answered %d %s (CSeq method %q, Call-ID %q)", m.Status, m.Reason, method, callID))
		}
		c.res.registers++
		return nil
	}
}

// roundTrip sends message seq and waits for its echo.
func (c *client) roundTrip(seq uint32) error {
	var err error
	c.sent, err = appendMessage(c.sent[:0], c.id, seq, c.o.Size, c.o.TLS != nil)
	if err != nil {
		return fail(Protocol, err) // not reached: Options were checked
	}
	c.deadline()
	t0 := time.Now()
	if err := c.write(c.sent); err != nil {
		return err
	}
	for {
		kind, frame, err := c.next()
		if err != nil {
			return err
		}
		if kind == sipmsg.SIP && bytes.Equal(frame, c.sent) {
			c.recordLatency(time.Since(t0))
			c.res.messages++
			c.o.Progress.Messages.Add(1)
			return nil
		}
		m, err := c.other(kind, frame)
		if err != nil {
			return err
		}
		if m != nil {
			return fail(Mismatch, diff(frame, c.sent))
		}
	}
}

// other handles what may arrive at any time: pongs, and requests from the core, which it
// answers. It returns the parsed message when the frame is something else, for the caller.
func (c *client) other(kind sipmsg.Kind, frame []byte) (*sipmsg.Message, error) {
	if kind == sipmsg.Pong {
		c.res.pongs++
		return nil, nil
	}
	m, err := sipmsg.Parse(frame)
	if err != nil {
		return nil, fail(Protocol, err)
	}
	if !m.IsRequest() || string(m.Method) != "OPTIONS" {
		return &m, nil
	}
	// A core-originated OPTIONS over our connection (RFC 3261 §18.2.2 reuse): answer 200 OK.
	c.out = sipmsg.AppendResponse(c.out[:0], &m, sipmsg.Response{Status: 200, ToTag: "lg" + strconv.Itoa(c.id)})
	if err := c.write(c.out); err != nil {
		return nil, err
	}
	c.res.core++
	return nil, nil
}

func diff(got, want []byte) error {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("echo of %d bytes differs from the %d sent at byte %d", len(got), len(want), i)
}

// hold keeps the connection open for Options.Hold, sending keepalives and answering the core,
// then closes it; with Options.Drop, it drops and reconnects when told and holds again until
// the storm is over. It runs on its own goroutine and returns the connection's result.
func (c *client) hold(ctx context.Context) result {
	r := c.r
	if r.dropCtx == nil {
		return c.finishHandoff(ctx, c.holdFor(nil))
	}
	r.unsettled.Add(1)
	err := c.holdFor(r.dropCtx)
	if err == nil && ctx.Err() == nil && r.dropped.Load() {
		c.drop()
		if err = c.connect(ctx); err == nil {
			err = c.exchange()
		}
		if err == nil {
			c.res.back = time.Now()
		}
		r.reconnected()
		if err == nil {
			err = c.holdFor(r.backCtx)
		}
		return c.finishHandoff(ctx, err)
	}
	r.reconnected()
	return c.finishHandoff(ctx, err)
}

// finishHandoff closes a handed-off connection and returns its result.
func (c *client) finishHandoff(ctx context.Context, err error) result {
	c.r.open.Add(-1)
	c.close()
	if ctx.Err() != nil {
		err = nil // the caller ended the run: that is how a hold or a timed phase may end
	}
	c.res.err = classify(ctx, err)
	return c.res
}

// drop closes the connection the way an outage does: a TCP RST (SO_LINGER 0), no TLS
// close_notify, no FIN.
func (c *client) drop() {
	c.stop()
	if tc, ok := c.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.raw.Close()
	c.raw, c.nc, c.stop = nil, nil, nil
	c.buf, c.beg, c.end = nil, 0, 0
}

// timed waits for the timed phase (Options.Duration), sends messages one at a time until it
// ends, then closes the connection. It runs on its own goroutine.
func (c *client) timed(ctx context.Context) result {
	end, err := c.r.window(ctx)
	if err == nil {
		// CSeq 1 was the REGISTER, then came Options.Messages; a wrap after 4e9 is harmless.
		for seq := uint32(c.o.Messages) + 2; time.Now().Before(end); seq++ {
			if err = c.roundTrip(seq); err != nil {
				break
			}
		}
	}
	c.res.ended = time.Now()
	return c.finishHandoff(ctx, err)
}

// holdFor holds until Options.Hold has passed or stop (if not nil) ends.
func (c *client) holdFor(stop context.Context) error {
	p := c.o.Progress
	if n := p.Held.Add(1); c.o.OnHold != nil {
		c.o.OnHold(int(n))
	}
	defer p.Held.Add(-1)
	// Holding is mostly idle: let go of the buffers sized for messages.
	c.sent, c.out = nil, nil
	if c.beg == c.end {
		c.buf, c.beg, c.end = nil, 0, 0
	}
	if stop != nil {
		raw := c.raw // not c.raw: a reconnect replaces it while this may still run
		wake := context.AfterFunc(stop, func() { raw.SetReadDeadline(aLongTimeAgo) })
		defer wake()
	}
	return c.holdLoop(stop)
}

var errNoPong = errors.New("no pong within the timeout")

func (c *client) holdLoop(stop context.Context) error {
	stopped := func() bool { return stop != nil && stop.Err() != nil }
	now := time.Now()
	end := now.Add(c.o.Hold)
	var nextPing, pongBy time.Time // zero: none due
	if c.o.KeepAlive > 0 {
		nextPing = now.Add(c.o.KeepAlive)
	}
	for {
		now = time.Now()
		switch {
		case !now.Before(end) || stopped():
			return nil
		case !pongBy.IsZero() && !now.Before(pongBy):
			return fail(Timeout, errNoPong)
		case !nextPing.IsZero() && !now.Before(nextPing) && pongBy.IsZero():
			c.raw.SetWriteDeadline(now.Add(c.o.Timeout))
			if err := c.write([]byte("\r\n\r\n")); err != nil {
				return err
			}
			pongBy, nextPing = now.Add(c.o.Timeout), now.Add(c.o.KeepAlive)
		}
		wake := end
		for _, t := range []time.Time{nextPing, pongBy} {
			if !t.IsZero() && t.Before(wake) {
				wake = t
			}
		}
		// Reads double as the timer: crypto/tls keeps a connection usable after a read
		// deadline expires (the error is temporary), so waking to send a ping is safe. stop's
		// wake-up moves the deadline to the past; checking stop after setting ours means that
		// wake-up is either seen here or comes after ours.
		c.raw.SetReadDeadline(wake)
		c.raw.SetWriteDeadline(now.Add(c.o.Timeout))
		if stopped() {
			return nil
		}
		kind, frame, err := c.next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if kind == sipmsg.Pong {
			pongBy = time.Time{}
		}
		m, err := c.other(kind, frame)
		if err != nil {
			return err
		}
		if m != nil {
			return fail(Protocol, fmt.Errorf("unexpected %q while holding", firstLine(frame)))
		}
	}
}

func firstLine(b []byte) []byte {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return line
}

func (c *client) write(p []byte) error {
	if _, err := c.nc.Write(p); err != nil {
		return fail(Write, err)
	}
	return nil
}

// next returns the next frame, reading as needed. The frame aliases c.buf until the next call.
func (c *client) next() (sipmsg.Kind, []byte, error) {
	for {
		kind, n, err := c.fr.Next(c.buf[c.beg:c.end])
		if err != nil {
			return 0, nil, fail(Protocol, err)
		}
		if kind != sipmsg.None {
			f := c.buf[c.beg : c.beg+n]
			c.beg += n
			return kind, f, nil
		}
		if c.beg > 0 {
			c.end = copy(c.buf, c.buf[c.beg:c.end])
			c.beg = 0
		}
		if c.end == len(c.buf) {
			// The framer bounds a message, so doubling stops by itself.
			c.buf = append(c.buf, make([]byte, max(len(c.buf), firstBuf))...)
		}
		n, err = c.nc.Read(c.buf[c.end:])
		c.end += n
		if err != nil && n == 0 {
			return 0, nil, fail(Read, err)
		}
	}
}

func (c *client) transport() string {
	if c.o.TLS != nil {
		return "tls"
	}
	return "tcp"
}

func (c *client) via(id, seq string) string { return via(c.o.TLS != nil, id, seq) }

// via gives each request its own branch (RFC 3261 §8.1.1.7: unique, starting "z9hG4bK").
func via(secure bool, id, seq string) string {
	proto := "TCP"
	if secure {
		proto = "TLS"
	}
	return "SIP/2.0/" + proto + " lg" + id + ".loadgen.invalid;branch=z9hG4bK-lg" + id + "-" + seq
}

// appendMessage builds message seq of connection id: a MESSAGE (RFC 3428) of exactly size bytes,
// unique per connection and sequence number.
func appendMessage(dst []byte, id int, seq uint32, size int, secure bool) ([]byte, error) {
	ids, seqs := strconv.Itoa(id), strconv.FormatUint(uint64(seq), 10)
	return sipmsg.AppendSized(dst, sipmsg.Request{
		Method: "MESSAGE",
		URI:    "sip:core@core.invalid",
		Via:    via(secure, ids, seqs),
		From:   "<sip:lg" + ids + "@loadgen.invalid>;tag=lg" + ids,
		To:     "<sip:core@core.invalid>",
		CallID: "lg" + ids + "-" + seqs + "@loadgen.invalid",
		CSeq:   seq,
	}, size)
}
