package reactor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/memguard"
	"github.com/tlsmux/tlsmux/profile"
	"github.com/tlsmux/tlsmux/tlsconn"
	"github.com/tlsmux/tlsmux/wq"
)

// Options configure a Server. Zero values mean the defaults documented on each field.
type Options struct {
	Listen         []netip.AddrPort // TLS listeners; port 0 picks a free port (see Addrs)
	Loops          int              // event loops; 0 = one per CPU
	ReusePort      bool             // SO_REUSEPORT, so several processes can share a port
	MaxConnections int              // client connections; 0 = 100000

	Backend       netip.AddrPort        // SIP core
	ProxyProtocol forward.ProxyProtocol // header on each backend connection

	TLS *tls.Config // server profile; required unless Profiles is set
	// Profiles, if set, chooses each connection's server profile (tls.cfg: by the local address,
	// then SNI) from the profile set current at accept; reloads swap the set atomically, and a
	// connection keeps the profile it negotiated with.
	Profiles        interface{ Current() *profile.Set }
	ProfileName     string            // of the server profile, for $tls_* attributes and listings
	LocalCert       *tlsconn.CertInfo // our certificate's attributes ($tls_my_*); nil: not reported
	ProxyClientCert bool              // PROXY v2: send the client's certificate (PP2_SUBTYPE_SSL_CLIENT_CERT)
	SigAlg, KeyAlg  string            // of our certificate, for PROXY v2 SSL_SIG_ALG / SSL_KEY_ALG
	SendCloseNotify bool

	HelloTimeout     time.Duration // 0 = 5s
	HandshakeTimeout time.Duration // 0 = 10s
	IdleTimeout      time.Duration // 0 = 10m; negative = never
	SendTimeout      time.Duration // 0 = 10s
	DialTimeout      time.Duration // 0 = 5s

	MaxHandshakes int // in flight; 0 = 1024
	MaxWaiting    int // whole ClientHellos waiting for admission, all loops; 0 = 8192
	ConCtWqMax    int // 0 = 64 KiB
	CtWqMax       int // 0 = 10 MiB
	CtWqBlkSize   int // 0 = 4 KiB
	TCPConnWqMax  int // 0 = 256 KiB
	TCPWqMax      int // 0 = 64 MiB; negative = none

	// Admission beyond MaxHandshakes; each nil means none.
	Guard         MemGuard              // low_mem_threshold1/2 (memguard.Guard)
	HandshakeRate *memguard.RateLimiter // -handshake-rate, -handshake-burst
	Sources       *memguard.Sources     // -per-source-conns, -per-source-rate

	Tick   time.Duration // timer resolution; 0 = 100ms
	Logger *slog.Logger  // nil = slog.Default()
}

func (o *Options) setDefaults() {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	def(&o.HelloTimeout, 5*time.Second)
	def(&o.HandshakeTimeout, 10*time.Second)
	def(&o.IdleTimeout, 10*time.Minute)
	def(&o.SendTimeout, 10*time.Second)
	def(&o.DialTimeout, 5*time.Second)
	def(&o.Tick, 100*time.Millisecond)
	defi := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	defi(&o.MaxConnections, 100000)
	defi(&o.MaxHandshakes, 1024)
	defi(&o.MaxWaiting, 8192)
	defi(&o.TCPWqMax, 64<<20)
	defi(&o.ConCtWqMax, 64<<10)
	defi(&o.CtWqMax, 10<<20)
	defi(&o.CtWqBlkSize, 4<<10)
	defi(&o.TCPConnWqMax, 256<<10)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server is a running set of event loops. See the package doc for the concurrency contract.
type Server struct {
	gnet.BuiltinEventEngine

	o     Options
	log   *slog.Logger
	adm   *memguard.Admission
	ctwq  *wq.Budget // clear-text queues: tls.ct_wq_max, con_ct_wq_max, ct_wq_blk_size
	sendq *wq.Budget // bytes waiting in gnet's outbound buffers: tcp.wq_max
	stats counters

	tune   tunables
	params map[string]*Param

	hsLatency, dialLatency histogram
	ids                    atomic.Uint64

	ctx    context.Context // cancelled when the server stops
	cancel context.CancelFunc
	// dialCtx ends backend dials in flight: cancelled when the shutdown grace is over, so that
	// connections closed then do not wait out the dial timeout.
	dialCtx    context.Context
	dialCancel context.CancelFunc

	booted   chan struct{}
	stopped  chan struct{} // closed when gnet.Rotate returns
	runErr   error
	eng      gnet.Engine
	addrs    []net.Addr
	draining atomic.Bool

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop
	loopSet atomic.Pointer[[]*loop] // copy-on-write list for the ticker

	wg sync.WaitGroup // ticker and dial goroutines
}

// New checks o and returns a Server that is not yet listening.
func New(o Options) (*Server, error) {
	o.setDefaults()
	if o.TLS == nil && o.Profiles == nil {
		return nil, errors.New("reactor: Options.TLS or Options.Profiles is required")
	}
	if len(o.Listen) == 0 {
		return nil, errors.New("reactor: no listener")
	}
	if !o.Backend.IsValid() {
		return nil, errors.New("reactor: Options.Backend is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		o:       o,
		log:     o.Logger,
		adm:     memguard.NewAdmission(o.MaxHandshakes),
		ctwq:    wq.NewBudget(int64(o.CtWqMax)),
		sendq:   wq.NewBudget(int64(o.TCPWqMax)),
		ctx:     ctx,
		cancel:  cancel,
		booted:  make(chan struct{}),
		stopped: make(chan struct{}),
		loops:   map[gnet.EventLoop]*loop{},
	}
	s.dialCtx, s.dialCancel = context.WithCancel(ctx)
	s.ctwq.SetConnLimit(int64(o.ConCtWqMax))
	s.ctwq.SetBlockSize(o.CtWqBlkSize)
	s.tune.init(&o)
	s.registerParams()
	return s, nil
}

// Start binds the listeners and starts the loops. It returns once the listeners are bound.
func (s *Server) Start() error {
	listen := make([]string, len(s.o.Listen))
	var reservations []int
	defer func() {
		for _, fd := range reservations {
			unix.Close(fd)
		}
	}()
	for i, ap := range s.o.Listen {
		if s.o.ReusePort && ap.Port() == 0 {
			// With SO_REUSEPORT gnet binds one socket per loop; port 0 would give each its own
			// port. Pick the port once, holding it with a bound, non-listening socket.
			fd, port, err := reservePort(ap)
			if err != nil {
				return fmt.Errorf("reactor: reserving a port for %s: %w", ap, err)
			}
			reservations = append(reservations, fd)
			ap = netip.AddrPortFrom(ap.Addr(), port)
		}
		network := "tcp4"
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			network = "tcp6"
		}
		listen[i] = network + "://" + ap.String()
	}
	opts := []gnet.Option{
		gnet.WithReusePort(s.o.ReusePort),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(gnetLogger{s.log}),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
	}
	if s.o.Loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(s.o.Loops))
	} else {
		opts = append(opts, gnet.WithMulticore(true))
	}
	go func() {
		defer close(s.stopped)
		s.runErr = gnet.Rotate(s, listen, opts...)
	}()
	select {
	case <-s.booted:
	case <-s.stopped:
		return fmt.Errorf("reactor: %w", s.runErr)
	}
	s.wg.Add(1)
	go s.tickLoop()
	return nil
}

func reservePort(ap netip.AddrPort) (fd int, port uint16, err error) {
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: ap.Addr().Unmap().As4()}
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: ap.Addr().As16()}
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return fd, uint16(a.Port), nil
	case *unix.SockaddrInet6:
		return fd, uint16(a.Port), nil
	}
	unix.Close(fd)
	return -1, 0, errors.New("unexpected socket address")
}

// OnBoot records the engine and the bound addresses.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	s.addrs = s.boundAddrs(eng)
	close(s.booted)
	return gnet.None
}

func (s *Server) boundAddrs(eng gnet.Engine) []net.Addr {
	var out []net.Addr
	for _, ap := range s.o.Listen {
		network := "tcp4"
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			network = "tcp6"
		}
		// The listener was registered under the address string we gave gnet; with a reserved
		// port that string carries the reserved port, so try both forms.
		fd, err := eng.DupListener(network, ap.String())
		if err != nil {
			fd, err = eng.Dup()
		}
		if err != nil {
			continue
		}
		if sa, err := unix.Getsockname(fd); err == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				out = append(out, &net.TCPAddr{IP: net.IP(a.Addr[:]).To4(), Port: a.Port})
			case *unix.SockaddrInet6:
				out = append(out, &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port})
			}
		}
		unix.Close(fd)
	}
	return out
}

// Addrs returns the bound listener addresses, in the order of Options.Listen.
func (s *Server) Addrs() []net.Addr { return s.addrs }

// Stats returns a snapshot of the counters. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		Accepted:           s.stats.accepted.Load(),
		Open:               s.stats.open.Load(),
		Handshakes:         s.stats.handshakes.Load(),
		Resumed:            s.stats.resumed.Load(),
		HandshakesInFlight: s.adm.InFlight(),
		Waiting:            s.stats.waiting.Load(),
		Closed:             map[string]uint64{},
		DroppedBytes:       map[string]uint64{},
		BytesIn:            s.stats.bytesIn.Load(),
		BytesOut:           s.stats.bytesOut.Load(),
		CtWqUsed:           s.ctwq.Used(),
		SendqUsed:          s.sendq.Used(),
		ProxyCertOmitted:   s.stats.proxyCertOmitted.Load(),
	}
	for r := Reason(1); r < numReasons; r++ {
		if n := s.stats.closed[r].Load(); n > 0 {
			st.Closed[r.String()] = n
		}
		if n := s.stats.droppedBytes[r].Load(); n > 0 {
			st.DroppedBytes[r.String()] = n
		}
	}
	return st
}

// Shutdown stops accepting, lets open connections finish until ctx is done, then closes them
// (draining what is queued, bounded by the send timeout) and stops the loops. It returns once
// every goroutine the server started has exited.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	waitOpen := func(ctx context.Context) bool {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for s.stats.open.Load() > 0 {
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
		}
		return true
	}
	if !waitOpen(ctx) {
		s.eachLoop(func(l *loop) { l.closeAll(ReasonShutdown) })
		s.dialCancel()
		// Closing drains queued bytes for at most the send timeout.
		dctx, cancel := context.WithTimeout(context.Background(), s.sendTimeout()+2*s.o.Tick)
		waitOpen(dctx)
		cancel()
	}
	s.cancel()
	var err error
	if s.eng.Validate() == nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.eng.Stop(sctx)
		cancel()
	}
	<-s.stopped
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("reactor: stopping loops: %w", err)
	}
	return nil
}

// eachLoop runs f on every loop's goroutine and waits for all of them.
func (s *Server) eachLoop(f func(*loop)) {
	var wg sync.WaitGroup
	for _, l := range s.loopList() {
		wg.Add(1)
		err := l.el.Execute(s.ctx, gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			f(l)
			return nil
		}))
		if err != nil {
			wg.Done()
		}
	}
	wg.Wait()
}

// perLoop runs f on every loop's goroutine, as eachLoop, and returns what each call returned.
func perLoop[T any](s *Server, f func(*loop) T) []T {
	var mu sync.Mutex
	var out []T
	s.eachLoop(func(l *loop) {
		v := f(l)
		mu.Lock()
		out = append(out, v)
		mu.Unlock()
	})
	return out
}

func (s *Server) loopList() []*loop {
	if p := s.loopSet.Load(); p != nil {
		return *p
	}
	return nil
}

// loopFor returns the state of gnet loop el, creating it on first use (gnet offers no list of
// its loops; they become known as connections arrive on them).
func (s *Server) loopFor(el gnet.EventLoop) *loop {
	for _, l := range s.loopList() {
		if l.el == el {
			return l
		}
	}
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	if l, ok := s.loops[el]; ok {
		return l
	}
	l := newLoop(s, el)
	s.loops[el] = l
	list := append(append([]*loop(nil), s.loopList()...), l)
	s.loopSet.Store(&list)
	return l
}

// tickLoop advances every loop's timers from one goroutine (gnet's OnTick runs off-loop, so it
// cannot touch connections: ARCHITECTURE.md §4).
func (s *Server) tickLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			if g := s.o.Guard; g != nil && g.Sample(now) {
				s.log.Warn("low-memory state changed", "refuse_handshakes", g.RefuseHandshakes(),
					"refuse_queue_growth", g.RefuseQueueGrowth())
			}
			for _, l := range s.loopList() {
				l.tickOffLoop()
			}
		}
	}
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Info("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: fatal: " + fmt.Sprintf(f, a...)) }

// dialReason classifies a backend dial error.
func dialReason(err error) Reason {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonBackendRefused
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return ReasonBackendTimeout
	}
	return ReasonBackendError
}
