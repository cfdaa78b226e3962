package reactor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/timerwheel"
	"github.com/tlsmux/tlsmux/memguard"
	"github.com/tlsmux/tlsmux/profile"
	"github.com/tlsmux/tlsmux/tlsconn"
	"github.com/tlsmux/tlsmux/wq"
)

// phase is where a proxied pair is in its life. Transitions only go forward:
// hello → handshaking → dialing → proxying → closing → closed; any phase may jump to closing.
type phase uint8

const (
	phaseHello       phase = iota // waiting for a whole ClientHello (and a handshake slot)
	phaseHandshaking              // handshake goroutine running
	phaseDialing                  // TLS established, backend connection being set up
	phaseProxying                 // clear text flows both ways
	phaseClosing                  // draining queued bytes, then closing both sides
	phaseClosed                   // both sides closed
)

// conn is one client connection and its backend connection. Loop-owned: only the loop that
// accepted the client touches it (the backend is enrolled on the same loop).
type conn struct {
	timer      timerwheel.Timer
	next, prev *conn // loop.head list

	id uint64
	l  *loop
	cl gnet.Conn // client; constant after OnOpen (read by the handshake goroutine's Notify)
	be gnet.Conn // backend; nil until enrolled

	// gone holds the client's addresses when it closes before the PROXY header is written (gnet
	// forgets them, and the fd may be reused); nil otherwise, which is almost always.
	gone *clientAddrs
	set  *profile.Set     // the profile set the connection was accepted under (Options.Profiles)
	src  *memguard.Source // the client's source when per-source limits are on; closed at finish

	tc      *tlsconn.Conn
	pending *wq.Queue // clear text held until the backend is up; nil when empty

	phase        phase
	reason       Reason // first close reason
	clOpen       bool
	beOpen       bool
	dialing      bool   // a dial goroutine is running for this conn
	waiting      bool   // in l.waiters
	blocked      Reason // what a waiter waits for: handshake_busy or handshake_rate
	holdsSlot    bool   // holds a memguard handshake slot
	established  bool
	deadline     time.Time // of the current phase (hello, handshake, close drain)
	lastIO       time.Time
	sendSince    time.Time // when outbound bytes were last seen stuck; zero if none queued
	lastOutbound int       // client+backend outbound bytes at the last check
	sendCharged  int64     // bytes charged to the global send budget (tcp.wq_max), see send
	born         int64     // accept time, Unix nanoseconds
	phaseAt      int64     // when the handshake or the dial started, Unix nanoseconds (latency metrics)
	bytesIn      uint64    // clear text delivered to the core
	bytesOut     uint64    // clear text from the core, encrypted for the phone
	adminNotify  bool      // closed by the admin, who asked for close_notify
}

// OnOpen handles a new client connection, and the backend connections we enroll.
func (s *Server) OnOpen(gc gnet.Conn) (out []byte, action gnet.Action) {
	if c, ok := gc.Context().(*conn); ok {
		return nil, s.onBackendOpen(c, gc)
	}
	s.stats.accepted.Add(1)
	if s.draining.Load() {
		s.stats.closed[ReasonShutdown].Add(1)
		return nil, gnet.Close
	}
	if max := s.tune.maxConnections.Load(); s.stats.open.Load() >= max {
		s.stats.closed[ReasonMaxConnections].Add(1)
		s.log.Warn("connection refused", "reason", ReasonMaxConnections, "remote", gc.RemoteAddr().String(), "max", max)
		return nil, gnet.Close
	}
	l := s.loopFor(gc.EventLoop())
	l.now = time.Now()
	var addr netip.Addr
	if s.o.Sources != nil {
		addr = addrPort(gc.RemoteAddr()).Addr().Unmap()
	}
	src, r := s.admitOpen(addr)
	if r != ReasonNone {
		s.stats.closed[r].Add(1)
		s.log.Debug("connection refused", "reason", r, "remote", gc.RemoteAddr().String())
		return nil, gnet.Close
	}
	s.stats.open.Add(1)
	c := &conn{id: s.ids.Add(1), l: l, cl: gc, clOpen: true, lastIO: l.now, born: l.now.UnixNano(), src: src}
	c.timer.Owner = c
	cfg := s.o.TLS
	if s.o.Profiles != nil {
		c.set = s.o.Profiles.Current()
		cfg = c.set.ServerConfig(localAddrPort(gc))
	}
	c.tc = tlsconn.NewServer(cfg, tlsconn.Options{Notify: c.notifyOffLoop, KeepPeerDER: s.o.ProxyClientCert, Now: l.nowFn})
	c.tc.SetProfile(s.o.ProfileName, s.o.LocalCert)
	gc.SetContext(c)
	l.link(c)
	c.deadline = l.now.Add(s.helloTimeout())
	l.wheel.Schedule(&c.timer, c.deadline)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("accepted", "conn", c.id, "remote", gc.RemoteAddr().String(), "local", localAddrPort(gc).String())
	}
	return nil, gnet.None
}

// notifyOffLoop is tlsconn's Notify hook: the handshake goroutine produced output or finished.
// It queues handshakeTask on the connection's loop. Not Wake: gnet drops wakes of a connection it
// has closed, and a phone that sent its Finished and its FIN together is closed by gnet while its
// handshake is still being completed (see OnClose).
func (c *conn) notifyOffLoop() { _ = c.l.el.Execute(c.l.s.ctx, (*handshakeTask)(c)) }

// handshakeTask collects the handshake goroutine's progress on the loop (a gnet.Runnable).
type handshakeTask conn

func (h *handshakeTask) Run(context.Context) error {
	c := (*conn)(h)
	defer c.l.s.recoverConn(c)
	c.l.now = time.Now()
	c.pollHandshake()
	return nil
}

func (c *conn) pollHandshake() {
	if c.phase != phaseHandshaking {
		return
	}
	done, plain, err := c.tc.Poll(c.l.plain[:0])
	c.flushClient()
	if done {
		c.handshakeDone(plain, err)
	}
}

// OnTraffic handles bytes from either side.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	defer s.recoverConn(c)
	c.l.now = time.Now()
	buf, _ := gc.Next(-1)
	if gc != c.cl {
		c.fromBackend(gc, buf)
		return gnet.None
	}
	c.fromClient(buf)
	return gnet.None
}

// OnClose handles either side going away.
func (s *Server) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	defer s.recoverConn(c)
	c.l.now = time.Now()
	if gc == c.cl {
		if c.phase < phaseProxying {
			c.rememberClient() // before gnet forgets it
		}
		c.clOpen = false
		if c.phase == phaseHandshaking {
			// gnet reports the FIN by closing. The handshake goroutine may still hold the
			// phone's Finished and its last message: let it finish with what it has, then
			// deliver (handshakeDone), bounded by the handshake timeout.
			c.tc.FeedEOF()
			return gnet.None
		}
		c.close(ReasonClientClosed, err)
	} else if gc == c.be {
		c.beOpen = false
		c.close(ReasonBackendClosed, err)
	}
	c.finish()
	return gnet.None
}

func (c *conn) fromClient(buf []byte) {
	if c.phase >= phaseClosing {
		c.drop(ReasonNone, len(buf)) // after we decided to close: counted under the close reason
		return
	}
	c.lastIO = c.l.now
	switch c.phase {
	case phaseHello:
		if _, err := c.tc.Feed(buf, nil); err != nil {
			c.tlsFailed(err)
			c.drop(ReasonNone, len(buf)) // refused: counted under the close reason
			return
		}
		if c.tc.HelloReady() && !c.waiting {
			c.l.admit(c)
		}
	case phaseHandshaking:
		if _, err := c.tc.Feed(buf, nil); err != nil {
			c.tlsFailed(err)
			c.drop(ReasonNone, len(buf))
			return
		}
	default: // dialing, proxying
		plain, err := c.tc.Feed(buf, c.l.plain[:0])
		c.toBackend(plain)
		if err != nil {
			c.tlsFailed(err)
			return
		}
		c.flushClient() // KeyUpdate replies and the like
	}
}

func (c *conn) startHandshake() {
	c.holdsSlot = true
	c.phase = phaseHandshaking
	c.phaseAt = c.l.now.UnixNano()
	c.tc.StartHandshake()
	c.deadline = c.l.now.Add(c.l.s.handshakeTimeout())
	c.l.wheel.Schedule(&c.timer, c.deadline)
}

func (c *conn) releaseSlot() {
	if c.holdsSlot {
		c.holdsSlot = false
		c.l.s.adm.Release()
		c.l.admitWaiters()
		c.l.s.kickWaiters(c.l)
	}
	if c.waiting {
		c.waiting = false
		c.l.s.stats.waiting.Add(-1)
	}
}

func (c *conn) handshakeDone(plain []byte, err error) {
	c.releaseSlot()
	if err != nil && !c.tc.Handshook() {
		if !c.clOpen && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			// The phone closed the TCP connection before completing the handshake. A phone
			// that closed only after our alert reached it was refused: handshake_failed.
			c.close(ReasonClientClosed, err)
			c.finish()
			return
		}
		c.tlsFailed(err)
		return
	}
	// err != nil here means the handshake completed and what came right behind the client's
	// Finished ended the connection (typically data then close_notify): deliver the data first.
	s := c.l.s
	c.established = true
	s.stats.handshakes.Add(1)
	if c.set != nil && c.clOpen {
		// crypto/tls does not say which config GetConfigForClient chose; the match is a pure
		// function of the set, the local address and the SNI, so recompute it.
		if p := c.set.Match(localAddrPort(c.cl), c.tc.Attrs().SNI); p != nil {
			local := s.o.LocalCert
			if p.Name != s.o.ProfileName {
				local = nil
			}
			c.tc.SetProfile(p.Name, local)
		}
	}
	a := c.tc.Attrs()
	if a.Resumed {
		s.stats.resumed.Add(1)
	}
	c.l.handshakes[HandshakeKey{Version: a.Version, Cipher: a.CipherSuite, Resumed: a.Resumed}]++
	s.hsLatency.observe(time.Duration(c.l.now.UnixNano() - c.phaseAt))
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("handshake done", "conn", c.id, "version", a.VersionName(), "cipher", a.CipherName(),
			"sni", a.SNI, "resumed", a.Resumed, "peer_cn", a.PeerCN)
	}
	c.phase = phaseDialing
	c.rescheduleIdle()
	c.dial()
	c.toBackend(plain)
	switch {
	case err != nil:
		c.tlsFailed(err)
	case !c.clOpen:
		c.close(ReasonClientClosed, nil) // the phone left during the handshake; its bytes are queued
		c.finish()
	}
}

// dial connects to the backend off-loop (gnet's own Register has no timeout) and enrolls the
// connection on the client's loop, so the pair shares a goroutine.
func (c *conn) dial() {
	s, el := c.l.s, c.l.el
	c.dialing = true
	c.phaseAt = c.l.now.UnixNano()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := net.Dialer{Timeout: time.Duration(s.tune.dial.Load())}
		nc, err := d.DialContext(s.dialCtx, "tcp", s.o.Backend.String())
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			ch, err = el.Enroll(gnet.NewContext(context.Background(), c), nc)
			if err == nil {
				select {
				case r := <-ch:
					err = r.Err
				case <-s.ctx.Done():
					err = s.ctx.Err()
				}
			} else {
				nc.Close()
			}
		}
		if err == nil {
			return // onBackendOpen ran on the loop
		}
		_ = el.Execute(s.ctx, gnet.RunnableFunc(func(context.Context) error {
			defer s.recoverConn(c)
			c.l.now = time.Now()
			c.dialing = false
			r := dialReason(err)
			c.dropPending(r)
			s.log.Warn("backend dial failed", "conn", c.id, "reason", r, "backend", s.o.Backend.String(), "err", err)
			c.close(r, err)
			c.finish()
			return nil
		}))
	}()
}

func (s *Server) onBackendOpen(c *conn, gc gnet.Conn) gnet.Action {
	defer s.recoverConn(c)
	c.l.now = time.Now()
	c.dialing = false
	s.dialLatency.observe(time.Duration(c.l.now.UnixNano() - c.phaseAt))
	if c.phase >= phaseClosing && c.pending == nil {
		c.finish()
		return gnet.Close
	}
	// Open, or closing with clear text the phone sent before it left (see close): deliver it.
	c.be, c.beOpen = gc, true
	if c.phase < phaseClosing {
		c.phase = phaseProxying
	}
	if s.o.ProxyProtocol != forward.None {
		f := c.facts()
		hdr, err := forward.AppendHeader(c.l.out[:0], s.o.ProxyProtocol, f)
		if errors.Is(err, forward.ErrClientCertTooLong) {
			// The header has room for everything but the certificate: send it without, say so.
			s.stats.proxyCertOmitted.Add(1)
			s.log.Warn("PROXY header: client certificate omitted, too long for the header", "conn", c.id, "der_bytes", len(f.ClientCertDER))
			f.ClientCertDER = nil
			hdr, err = forward.AppendHeader(c.l.out[:0], s.o.ProxyProtocol, f)
		}
		if err != nil {
			s.log.Error("PROXY header", "conn", c.id, "err", err)
		} else {
			c.send(gc, hdr)
		}
	}
	if q := c.pending; q != nil {
		c.pending = nil
		_ = q.WriteTo(func(p []byte) error {
			if !c.send(gc, p) {
				return errRefused
			}
			s.stats.bytesIn.Add(uint64(len(p)))
			c.bytesIn += uint64(len(p))
			return nil
		})
		c.drop(ReasonNone, q.Len()) // what a refusal left: counted under its reason
		q.Reset()
	}
	c.checkOutbound()
	c.finish()
	return gnet.None
}

// facts are what the PROXY header tells the core about the client and its TLS session.
func (c *conn) facts() forward.Facts {
	a := c.tc.Attrs()
	addrs := c.gone
	if addrs == nil {
		addrs = &clientAddrs{src: addrPort(c.cl.RemoteAddr()), dst: localAddrPort(c.cl)}
	}
	f := forward.Facts{
		Src:        addrs.src,
		Dst:        addrs.dst,
		TLS:        true,
		Version:    a.VersionName(),
		Cipher:     forward.CipherName(a.CipherSuite),
		SigAlg:     c.l.s.o.SigAlg,
		KeyAlg:     c.l.s.o.KeyAlg,
		SNI:        a.SNI,
		ClientCN:   a.PeerCN,
		ClientCert: a.Peer != nil,
		Resumed:    a.Resumed,
	}
	if c.l.s.o.ProxyClientCert && a.Peer != nil {
		f.ClientCertDER = a.Peer.DER()
	}
	if !(f.ClientCert && a.Verified) {
		f.VerifyResult = 1 // the spec: zero only if the client presented a certificate that was verified
	}
	return f
}

type clientAddrs struct{ src, dst netip.AddrPort }

// rememberClient keeps the client's addresses for a PROXY header written after the client has
// gone. Call it while the client's gnet conn is still open (or inside its OnClose).
func (c *conn) rememberClient() {
	if c.gone == nil && c.l.s.o.ProxyProtocol != forward.None {
		c.gone = &clientAddrs{src: addrPort(c.cl.RemoteAddr()), dst: localAddrPort(c.cl)}
	}
}

// localAddrPort is the address the client connected to. gnet's LocalAddr is the listener's
// address as configured (a wildcard, or port 0), not the accepted socket's, so ask the socket.
func localAddrPort(gc gnet.Conn) netip.AddrPort {
	sa, err := unix.Getsockname(gc.Fd())
	if err == nil {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *unix.SockaddrInet6:
			return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
		}
	}
	return addrPort(gc.LocalAddr())
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}

// toBackend forwards clear text from the phone, queueing it while the backend is not up.
func (c *conn) toBackend(p []byte) {
	if len(p) == 0 || c.phase >= phaseClosing {
		return
	}
	if c.beOpen {
		if c.send(c.be, p) {
			c.l.s.stats.bytesIn.Add(uint64(len(p)))
			c.bytesIn += uint64(len(p))
		}
		c.checkOutbound()
		return
	}
	s := c.l.s
	if s.refuseQueueGrowth() {
		c.drop(ReasonLowMem2, len(p))
		c.close(ReasonLowMem2, nil)
		return
	}
	if c.pending == nil {
		c.pending = wq.NewQueue(0, 0, s.ctwq) // follows tls.con_ct_wq_max and ct_wq_blk_size
	}
	if err := c.pending.Push(p); err != nil {
		r := ReasonWqConnFull
		if errors.Is(err, wq.ErrGlobalFull) {
			r = ReasonWqGlobalFull
		}
		c.drop(r, len(p))
		c.close(r, err)
	}
}

// fromBackend encrypts what the core sends and queues it for the phone.
func (c *conn) fromBackend(gc gnet.Conn, buf []byte) {
	if gc != c.be || c.phase >= phaseClosing {
		c.drop(ReasonNone, len(buf))
		return
	}
	c.lastIO = c.l.now
	c.l.s.stats.bytesOut.Add(uint64(len(buf)))
	c.bytesOut += uint64(len(buf))
	if err := c.tc.Write(buf); err != nil {
		c.drop(ReasonTLSError, len(buf))
		c.close(ReasonTLSError, err)
		return
	}
	c.flushClient()
}

// flushClient moves pending ciphertext to the client socket.
func (c *conn) flushClient() {
	if c.tc.Pending() == 0 {
		return
	}
	out := c.tc.AppendOutput(c.l.out[:0])
	if c.clOpen {
		c.send(c.cl, out)
	} else {
		c.drop(ReasonNone, len(out))
	}
	if cap(out) <= 1<<20 {
		c.l.out = out[:0]
	}
	c.checkOutbound()
}

// send writes p to gc (the client's or the backend's socket) if the send queue limits admit it
// and reports whether it did. gnet's Write copies what the kernel does not take at once into the
// connection's outbound buffer, which gnet does not bound (ARCHITECTURE.md §4), so the limits are
// enforced here, Kamailio's tcp_conn_wq_max per socket and tcp_wq_max over all of them, with the
// global share reserved atomically. When bytes are already waiting, all of p would wait behind
// them: it is admitted whole or refused, the refusal closing the pair (a SIP stream cannot skip a
// message) with the bytes counted. When nothing waits, p is written first and only the part the
// kernel left is charged; if that part does not fit, the pair closes after draining it.
func (c *conn) send(gc gnet.Conn, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	s := c.l.s
	limit := s.tune.tcpConnWqMax.Load()
	if waiting := gc.OutboundBuffered(); waiting > 0 {
		r := ReasonNone
		switch {
		case int64(waiting)+int64(len(p)) > limit:
			r = ReasonSendQueueFull
		case s.refuseQueueGrowth():
			r = ReasonLowMem2
		case !s.sendq.TryReserve(int64(len(p))):
			r = ReasonSendGlobalFull
		}
		if r != ReasonNone {
			c.drop(r, len(p))
			c.close(r, nil)
			return false
		}
		c.sendCharged += int64(len(p))
		gc.Write(p)
		return true
	}
	gc.Write(p)
	if left := int64(gc.OutboundBuffered()); left > 0 {
		r := ReasonNone
		switch {
		case left > limit:
			r = ReasonSendQueueFull
		case !s.sendq.TryReserve(left):
			r = ReasonSendGlobalFull
		default:
			c.sendCharged += left
		}
		if r != ReasonNone {
			// Nothing is lost yet: the pair drains for at most the send timeout, and what is
			// still queued then is counted (onTimer), once.
			c.close(r, nil)
		}
	}
	return true
}

// errRefused stops a queue's WriteTo when send refused a run.
var errRefused = errors.New("refused")

// settleSent gives back the global send budget for bytes the kernel has taken since they were
// charged: gnet has no drain callback, so this runs whenever the pair is looked at (its events,
// its timer, which polls while bytes wait).
func (c *conn) settleSent() {
	if c.sendCharged == 0 {
		return
	}
	if n := int64(c.outbound()); n < c.sendCharged {
		c.l.s.sendq.Release(c.sendCharged - n)
		c.sendCharged = n
	}
}

// checkOutbound settles the send budget and starts the send timer when bytes are left waiting
// for the kernel.
func (c *conn) checkOutbound() {
	c.settleSent()
	n := c.outbound()
	if n == 0 {
		c.sendSince = time.Time{}
		c.lastOutbound = 0
		return
	}
	if c.sendSince.IsZero() {
		c.sendSince = c.l.now
		c.lastOutbound = n
		if at := c.l.now.Add(c.l.s.sendTimeout()); !c.timer.Armed() || deadlineAfter(&c.timer, at) {
			c.l.wheel.Schedule(&c.timer, at)
		}
	}
}

func (c *conn) outbound() int {
	n := 0
	if c.clOpen {
		n += c.cl.OutboundBuffered()
	}
	if c.beOpen {
		n += c.be.OutboundBuffered()
	}
	return n
}

// onTimer runs when the connection's timer fires: phase deadlines, idle, send progress.
func (c *conn) onTimer() {
	s, now := c.l.s, c.l.now
	c.settleSent()
	switch c.phase {
	case phaseHello:
		if c.waiting {
			// The ClientHello came, but no slot or rate token did within the hello timeout.
			c.refuse(c.blocked)
			return
		}
		c.close(ReasonHelloTimeout, nil)
		c.finish()
		return
	case phaseHandshaking:
		c.close(ReasonHandshakeTimeout, nil)
		c.finish()
		return
	case phaseClosing:
		c.finish()
		if c.phase == phaseClosing && !now.Before(c.deadline) {
			// The send timeout ended the drain: what is still queued is lost. A queue that
			// went over its limit is why the pair closed, so its loss is counted as that.
			r := ReasonSendTimeout
			switch c.reason {
			case ReasonSendQueueFull, ReasonSendGlobalFull, ReasonLowMem2:
				r = c.reason
			}
			c.drop(r, c.outbound())
			c.abort()
		}
		return
	case phaseClosed:
		return
	}
	if n := c.outbound(); n > 0 && !c.sendSince.IsZero() {
		switch {
		case n < c.lastOutbound:
			c.sendSince, c.lastOutbound = now, n // progress
		case now.Sub(c.sendSince) >= s.sendTimeout():
			c.drop(ReasonSendTimeout, n)
			c.close(ReasonSendTimeout, nil)
			c.abort()
			return
		}
	} else if n == 0 {
		c.sendSince = time.Time{}
	}
	if idle := s.idleTimeout(); idle > 0 && now.Sub(c.lastIO) >= idle {
		c.close(ReasonIdleTimeout, nil)
		c.finish()
		return
	}
	c.rescheduleIdle()
}

// rescheduleIdle arms the timer for the idle deadline (lazy: I/O only moves lastIO, and the
// timer re-arms itself when it fires early), or sooner while outbound bytes are stuck.
func (c *conn) rescheduleIdle() {
	s := c.l.s
	var at time.Time
	if idle := s.idleTimeout(); idle > 0 {
		at = c.lastIO.Add(idle)
	}
	if !c.sendSince.IsZero() {
		// Poll for progress a few times per send timeout.
		if p := c.l.now.Add(max(s.sendTimeout()/4, s.o.Tick)); at.IsZero() || p.Before(at) {
			at = p
		}
	}
	if at.IsZero() {
		c.l.wheel.Stop(&c.timer)
		return
	}
	c.l.wheel.Schedule(&c.timer, at)
}

// tlsReasons maps tlsconn's failure reasons to the counters'; the rest count as tls_error.
var tlsReasons = [...]Reason{
	tlsconn.ReasonNotTLS:         ReasonNotTLS,
	tlsconn.ReasonBadRecord:      ReasonBadRecord,
	tlsconn.ReasonRecordOverflow: ReasonRecordOverflow,
	tlsconn.ReasonHelloTooBig:    ReasonHelloTooBig,
	tlsconn.ReasonBufferFull:     ReasonBufferFull,
	tlsconn.ReasonHandshake:      ReasonHandshakeFailed,
	tlsconn.ReasonAlert:          ReasonPeerAlert,
	tlsconn.ReasonPeerClosed:     ReasonClientClosed,
}

// tlsFailed closes the connection after a TLS error, sending the alert tlsconn queued.
func (c *conn) tlsFailed(err error) {
	r := ReasonTLSError
	if tr := tlsconn.ReasonOf(err); int(tr) < len(tlsReasons) && tlsReasons[tr] != ReasonNone {
		r = tlsReasons[tr]
	}
	c.flushClient()
	c.close(r, err)
	c.finish()
}

// drop counts bytes refused or discarded. ReasonNone counts them under the close reason.
func (c *conn) drop(r Reason, n int) {
	if n <= 0 {
		return
	}
	if r == ReasonNone {
		r = c.reason
		if r == ReasonNone {
			r = ReasonShutdown
		}
	}
	c.l.s.stats.droppedBytes[r].Add(uint64(n))
}

// close starts closing the pair for reason r: it counts and logs r (only the first reason
// counts), sends close_notify if configured, and drains both sides; finish completes it.
func (c *conn) close(r Reason, err error) {
	if c.phase >= phaseClosing {
		return
	}
	s := c.l.s
	prev := c.phase
	c.phase = phaseClosing
	c.reason = r
	s.stats.closed[r].Add(1)
	c.releaseSlot()
	if r != ReasonClientClosed || !c.dialing {
		// A phone that leaves while its backend is being dialled still has its last bytes
		// delivered (onBackendOpen); any other close drops what is queued.
		c.dropPending(r)
	} else if c.clOpen {
		c.rememberClient()
	}
	c.tc.Close((s.tune.closeNotify.Load() || c.adminNotify) && c.established && c.clOpen)
	c.flushClient()
	lvl := slog.LevelDebug
	switch r {
	case ReasonClientClosed, ReasonBackendClosed, ReasonIdleTimeout, ReasonShutdown, ReasonAdmin:
	case ReasonPanic:
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	if s.log.Enabled(context.Background(), lvl) {
		attrs := []slog.Attr{slog.Uint64("conn", c.id), slog.String("reason", r.String()), slog.String("phase", prev.String())}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		s.log.LogAttrs(context.Background(), lvl, "closing", attrs...)
	}
	c.deadline = c.l.now.Add(s.sendTimeout())
	c.l.wheel.Schedule(&c.timer, c.l.now.Add(s.o.Tick))
}

// finish closes each side whose outbound bytes have drained, and retires the pair once both
// sides are gone. It only acts in phaseClosing.
func (c *conn) finish() {
	if c.phase != phaseClosing {
		return
	}
	if c.clOpen && c.cl.OutboundBuffered() == 0 {
		c.clOpen = false
		c.cl.Close()
	}
	if c.beOpen && c.be.OutboundBuffered() == 0 {
		c.beOpen = false
		c.be.Close()
	}
	if c.clOpen || c.beOpen || c.dialing {
		if !c.timer.Armed() {
			c.l.wheel.Schedule(&c.timer, c.l.now.Add(c.l.s.o.Tick))
		}
		return
	}
	c.dropPending(c.reason) // the backend never came up
	if c.sendCharged > 0 {
		c.l.s.sendq.Release(c.sendCharged) // both sockets are closed: gnet dropped what waited
		c.sendCharged = 0
	}
	c.phase = phaseClosed
	c.l.wheel.Stop(&c.timer)
	c.l.unlink(c)
	if c.src != nil {
		c.l.s.o.Sources.Close(c.src)
		c.src = nil
	}
	c.l.s.stats.open.Add(-1)
}

// dropPending discards the clear-text queue, counting its bytes under r.
func (c *conn) dropPending(r Reason) {
	if q := c.pending; q != nil {
		c.drop(r, q.Len())
		q.Reset()
		c.pending = nil
	}
}

// abort closes both sides now, dropping what is queued (gnet's Close writes what fits).
func (c *conn) abort() {
	if c.clOpen {
		c.clOpen = false
		c.cl.Close()
	}
	if c.beOpen {
		c.beOpen = false
		c.be.Close()
	}
	c.finish()
}

// recoverConn turns a panic in a callback into the close of that one connection.
func (s *Server) recoverConn(c *conn) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("panic in connection handler; closing the connection", "conn", c.id, "panic", v, "stack", string(debug.Stack()))
	if c.phase < phaseClosing {
		c.close(ReasonPanic, nil)
	}
	c.abort()
}

func (p phase) String() string {
	switch p {
	case phaseHello:
		return "hello"
	case phaseHandshaking:
		return "handshaking"
	case phaseDialing:
		return "dialing"
	case phaseProxying:
		return "proxying"
	case phaseClosing:
		return "closing"
	}
	return "closed"
}

func deadlineAfter(t *timerwheel.Timer, at time.Time) bool {
	d, ok := t.Deadline()
	return ok && d.After(at)
}
