package sipcore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// DefaultMaxConns bounds connections when Options.MaxConns is zero.
const DefaultMaxConns = 10000

// Options configures a Server. The zero value serves plain SIP over TCP with the defaults.
type Options struct {
	// ProxyProtocol: every connection must start with a PROXY protocol v1 or v2 header (as tlsmux
	// sends in pipe mode); a connection without one is closed and counted in Stats.ProxyErrors.
	ProxyProtocol bool
	// PingAfterRegister: after answering a REGISTER, send the client an OPTIONS request over the
	// same connection, as a core does when it reaches a registered phone through the connection
	// the phone opened (RFC 3261 §18.2.2, RFC 5923). The answer is counted in Stats.OptionsAnswered.
	PingAfterRegister bool
	// MaxConns bounds concurrent connections; more are accepted and closed at once (counted in
	// Stats.Refused). Zero means DefaultMaxConns.
	MaxConns int
	// MaxMessage bounds one SIP message in bytes. Zero means sipmsg.DefaultMax.
	MaxMessage int
	// Expires is the registration lifetime in seconds granted when a REGISTER asks for none.
	// Zero means 3600, the RFC 3261 §10.2.1.1 default.
	Expires int
	// OnConn, if set, is called from the connection's goroutine once the connection is accepted
	// and its PROXY header (if any) read, before any SIP is handled. It must not block for long.
	OnConn func(*ConnInfo)
	// OnClose, if set, is called from the connection's goroutine when the connection ends, with
	// the error that ended it: nil for a clean EOF or Server.Close, a *sipmsg.Error for bad
	// framing, an error wrapping the go-proxyproto error for a bad PROXY header.
	OnClose func(*ConnInfo, error)
}

// ConnInfo describes one accepted connection. It is filled before OnConn is called and not
// changed afterwards.
type ConnInfo struct {
	ID     uint64   // 1, 2, ... in accept order
	Remote net.Addr // the TCP peer: tlsmux, or the client itself without a proxy in between
	Local  net.Addr
	// Proxy is the PROXY header, nil without Options.ProxyProtocol. Source and Dest are its
	// addresses (the TLS client, and the address that client connected to); they are zero for a
	// v2 LOCAL header or a v1 UNKNOWN one. TLVs are the v2 TLVs in order (PP2_TYPE_SSL has its
	// sub-TLVs inside its value; github.com/pires/go-proxyproto/tlvparse splits them).
	Proxy        *proxyproto.Header
	Source, Dest netip.AddrPort
	TLVs         []proxyproto.TLV
}

// Stats are the Server's counters since Listen. Connections ended by Close count in Closed.
type Stats struct {
	Accepted    uint64 // connections accepted and served
	Refused     uint64 // connections closed at once because MaxConns were open
	Active      int64  // connections open now
	Closed      uint64 // connections that ended
	ProxyErrors uint64 // connections closed for a missing or bad PROXY header
	FrameErrors uint64 // connections closed for bad SIP framing

	Registers       uint64 // REGISTER requests answered 200
	Options         uint64 // OPTIONS requests answered 200
	Echoed          uint64 // other messages echoed byte for byte
	Pings           uint64 // "\r\n\r\n" keepalives answered with "\r\n"
	Pongs           uint64 // lone "\r\n" received
	OptionsSent     uint64 // OPTIONS requests the core sent (PingAfterRegister)
	OptionsAnswered uint64 // responses received to those

	BytesIn  uint64 // bytes read, PROXY headers included
	BytesOut uint64 // bytes written
}

// Server is a running demo SIP core. Its methods are safe for concurrent use.
type Server struct {
	ln   net.Listener
	opts Options

	wg   sync.WaitGroup // the accept loop and every connection goroutine
	done chan struct{}  // closed by Close

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open connections; guarded by mu
	closed bool                  // guarded by mu

	nextID atomic.Uint64
	st     counters
}

type counters struct {
	accepted, refused, closed, proxyErrors, frameErrors           atomic.Uint64
	registers, options, echoed, pings, pongs, optsSent, optsAnswd atomic.Uint64
	bytesIn, bytesOut                                             atomic.Uint64
	active                                                        atomic.Int64
}

// Listen listens on addr (use "127.0.0.1:0" in tests) and serves until Close.
func Listen(addr string, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sipcore: %w", err)
	}
	return Serve(ln, o), nil
}

// Serve serves on ln until Close, which also closes ln.
func Serve(ln net.Listener, o Options) *Server {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Expires <= 0 {
		o.Expires = 3600
	}
	s := &Server{ln: ln, opts: o, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.acceptLoop)
	return s
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns a snapshot of the counters. Counters are read one by one, so a snapshot taken
// while traffic flows may be off by the messages in flight.
func (s *Server) Stats() Stats {
	c := &s.st
	return Stats{
		Accepted: c.accepted.Load(), Refused: c.refused.Load(), Active: c.active.Load(),
		Closed: c.closed.Load(), ProxyErrors: c.proxyErrors.Load(), FrameErrors: c.frameErrors.Load(),
		Registers: c.registers.Load(), Options: c.options.Load(), Echoed: c.echoed.Load(),
		Pings: c.pings.Load(), Pongs: c.pongs.Load(),
		OptionsSent: c.optsSent.Load(), OptionsAnswered: c.optsAnswd.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
	}
}

// Close stops accepting, closes every connection and waits until every goroutine of the Server
// has returned (OnClose callbacks included). It is idempotent and always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		switch {
		case s.closed:
			c.Close()
		case len(s.conns) >= s.opts.MaxConns:
			s.st.refused.Add(1)
			c.Close()
		default:
			s.conns[c] = struct{}{}
			s.st.accepted.Add(1)
			s.st.active.Add(1)
			s.wg.Go(func() { s.serveConn(c) })
		}
		s.mu.Unlock()
	}
}

func (s *Server) serveConn(nc net.Conn) {
	info := &ConnInfo{ID: s.nextID.Add(1), Remote: nc.RemoteAddr(), Local: nc.LocalAddr()}
	err := s.handle(nc, info)
	if s.isClosed() {
		err = nil // our own Close, not the peer's doing
	}
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	nc.Close()
	s.st.active.Add(-1)
	s.st.closed.Add(1)
	if s.opts.OnClose != nil {
		s.opts.OnClose(info, err)
	}
}

func (s *Server) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// handle runs one connection: the PROXY header, then SIP until EOF or an error.
func (s *Server) handle(nc net.Conn, info *ConnInfo) error {
	cr := &countingReader{r: nc, n: &s.st.bytesIn}
	var r io.Reader = cr
	if s.opts.ProxyProtocol {
		br := bufio.NewReader(cr)
		if err := readProxyHeader(br, info); err != nil {
			s.st.proxyErrors.Add(1)
			return err
		}
		r = br // it may hold SIP bytes that came in the same segment as the header
	}
	if s.opts.OnConn != nil {
		s.opts.OnConn(info)
	}
	c := &conn{srv: s, nc: nc, r: r, info: info, fr: sipmsg.Framer{Max: s.opts.MaxMessage}}
	err := c.run()
	var fe *sipmsg.Error
	if errors.As(err, &fe) {
		s.st.frameErrors.Add(1)
	}
	return err
}

func readProxyHeader(br *bufio.Reader, info *ConnInfo) error {
	h, err := proxyproto.Read(br)
	if err != nil {
		return fmt.Errorf("sipcore: PROXY header: %w", err)
	}
	tlvs, err := h.TLVs()
	if err != nil {
		return fmt.Errorf("sipcore: PROXY header TLVs: %w", err)
	}
	info.Proxy, info.TLVs = h, tlvs
	if src, dst, ok := h.TCPAddrs(); ok {
		info.Source = unmap(src.AddrPort())
		info.Dest = unmap(dst.AddrPort())
	}
	return nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}
