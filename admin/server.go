package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure the admin endpoint. Zero values mean the defaults documented on each field.
type Options struct {
	// Addr is the TCP address of the HTTP listener, host:port; port 0 picks a free port (see
	// Server.Addr). "" means no TCP listener (then UnixSocket is required). A host name is
	// resolved once, when listening.
	Addr string
	// AllowNets are the networks, besides loopback (127.0.0.0/8, ::1), whose peers may use the
	// TCP listener: a Prometheus server on the management network, say. Others get HTTP 403.
	AllowNets []netip.Prefix
	// UnixSocket is the path of a Unix socket listener; "" means none. Its peers are not
	// checked against AllowNets: the file's permissions (UnixMode) decide who may connect.
	UnixSocket string
	// UnixMode is the permission of the socket file. If zero, 0600: only the daemon's user.
	UnixMode fs.FileMode

	Target Target       // required
	Logger *slog.Logger // nil: slog.Default()

	// MaxConcurrent bounds requests being served at once, over every listener; more are
	// answered at once with HTTP 503 (a scraper and an operator at once fit; a runaway script
	// cannot make the daemon walk its connection table in parallel). If zero, 4.
	MaxConcurrent int
	// MaxConns bounds the open client connections per listener (keep-alive included); more wait
	// in the kernel's accept queue. If zero, 64.
	MaxConns int
	// MaxBodyBytes bounds a request body; a larger one gets HTTP 413. If zero, 64 KiB.
	MaxBodyBytes int64
	// MaxBatch bounds the requests in one JSON-RPC batch. If zero, 32.
	MaxBatch int
	// ReadTimeout bounds reading a request, headers and body. If zero, 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of the response.
	// If zero, 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long. If zero, 60s.
	IdleTimeout time.Duration

	// Now is the clock for tls.list timestamps and for spacing log lines. If nil, time.Now.
	Now func() time.Time

	// loopback are the networks always allowed; nil means 127.0.0.0/8 and ::1/128. Tests
	// narrow it to 127.0.0.1/32 so that a client bound to 127.0.0.2 is a real refused peer.
	loopback []netip.Prefix
}

func (o *Options) setDefaults() {
	if o.UnixMode == 0 {
		o.UnixMode = 0o600
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(p *int, d int) {
		if *p <= 0 {
			*p = d
		}
	}
	def(&o.MaxConcurrent, 4)
	def(&o.MaxConns, 64)
	def(&o.MaxBatch, 32)
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	dur := func(p *time.Duration, d time.Duration) {
		if *p <= 0 {
			*p = d
		}
	}
	dur(&o.ReadTimeout, 10*time.Second)
	dur(&o.WriteTimeout, 30*time.Second)
	dur(&o.IdleTimeout, 60*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.loopback == nil {
		o.loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	for i, p := range o.AllowNets {
		o.AllowNets[i] = normPrefix(p)
	}
}

// Server is a running admin endpoint.
//
// Concurrency: Addr and SocketPath may be called from any goroutine; Close too, any number of
// times. Requests are served on net/http's goroutines, at most Options.MaxConcurrent at once.
type Server struct {
	o   Options
	t   Target
	log *slog.Logger
	sem chan struct{} // one token per request being served

	hs       *http.Server
	tcp      net.Listener
	unix     net.Listener
	unixPath string
	unixFile os.FileInfo // the socket we created, so Close removes only that one

	stopAfter func() bool // stops the context.AfterFunc of Serve
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // one Serve goroutine per listener

	stats     adminStats
	refuseLog spacedLog
}

type ctxKey int

const viaUnixKey ctxKey = 1

// Serve starts the endpoint: it binds the listeners (returning their errors), then serves on
// its own goroutines until ctx is done or Close is called.
func Serve(ctx context.Context, o Options) (*Server, error) {
	if o.Target == nil {
		return nil, errors.New("admin: Options.Target is required")
	}
	if o.Addr == "" && o.UnixSocket == "" {
		return nil, errors.New("admin: neither an address nor a Unix socket to listen on")
	}
	s := newServer(o)
	o = s.o
	if o.Addr != "" {
		l, err := net.Listen("tcp", o.Addr)
		if err != nil {
			return nil, fmt.Errorf("admin: listening on %s (-admin): %w", o.Addr, err)
		}
		s.tcp = l
	}
	if o.UnixSocket != "" {
		l, fi, err := listenUnix(o.UnixSocket, o.UnixMode)
		if err != nil {
			if s.tcp != nil {
				s.tcp.Close()
			}
			return nil, err
		}
		s.unix, s.unixPath, s.unixFile = l, o.UnixSocket, fi
	}
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: min(o.ReadTimeout, 5*time.Second),
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if _, ok := c.LocalAddr().(*net.UnixAddr); ok {
				return context.WithValue(ctx, viaUnixKey, true)
			}
			return ctx
		},
	}
	for _, l := range []net.Listener{s.tcp, s.unix} {
		if l == nil {
			continue
		}
		ll := newLimitListener(l, o.MaxConns)
		s.wg.Go(func() {
			if err := s.hs.Serve(ll); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin: listener stopped", "addr", l.Addr().String(), "err", err)
			}
		})
	}
	s.stopAfter = context.AfterFunc(ctx, func() { s.Close() })
	attrs := []any{"allow", fmt.Sprint(o.AllowNets)}
	if s.tcp != nil {
		attrs = append(attrs, "addr", s.tcp.Addr().String())
		if ap, err := netip.ParseAddrPort(s.tcp.Addr().String()); err == nil && !s.isLoopback(ap.Addr()) && len(o.AllowNets) == 0 {
			s.log.Warn("admin: listening on a non-loopback address, but only loopback peers are allowed; name other networks with -admin-allow", "addr", s.tcp.Addr().String())
		}
	}
	if s.unix != nil {
		attrs = append(attrs, "socket", s.unixPath, "mode", fmt.Sprintf("%#o", o.UnixMode.Perm()))
	}
	s.log.Info("admin: serving JSON-RPC and /metrics", attrs...)
	return s, nil
}

// newServer applies the defaults and builds a Server that serves no listener yet.
func newServer(o Options) *Server {
	o.AllowNets = append([]netip.Prefix(nil), o.AllowNets...)
	o.setDefaults()
	s := &Server{o: o, t: o.Target, log: o.Logger, sem: make(chan struct{}, o.MaxConcurrent)}
	s.refuseLog.every = 10 * time.Second
	return s
}

// Addr returns the TCP listener's address, or nil if there is none.
func (s *Server) Addr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// SocketPath returns the Unix socket's path, or "" if there is none.
func (s *Server) SocketPath() string { return s.unixPath }

// Close stops accepting, lets requests in flight finish for up to 5 seconds, closes every
// connection, removes the socket file and returns when every goroutine of the endpoint has
// exited.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopAfter()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.hs.Shutdown(ctx); err != nil {
			s.closeErr = s.hs.Close()
		}
		s.wg.Wait()
		if s.unixFile != nil {
			if fi, err := os.Lstat(s.unixPath); err == nil && os.SameFile(fi, s.unixFile) {
				if err := os.Remove(s.unixPath); err != nil && s.closeErr == nil {
					s.closeErr = fmt.Errorf("admin: removing %s: %w", s.unixPath, err)
				}
			}
		}
	})
	return s.closeErr
}

// listenUnix listens on path with permission mode, without a window in which the socket has
// looser permissions: it is created in a fresh 0700 directory beside path, given its mode, then
// renamed into place. A stale socket (nobody listening) is replaced; a live one, or any other
// file, is an error.
func listenUnix(path string, mode fs.FileMode) (net.Listener, os.FileInfo, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("admin: %s (-admin-socket) exists and is not a socket; not replacing it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("admin: %s (-admin-socket) is in use: is another tlsmux running?", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, nil, fmt.Errorf("admin: removing the stale socket %s: %w", path, err)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".tlsmux-admin-")
	if err != nil {
		return nil, nil, fmt.Errorf("admin: -admin-socket %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("admin: listening on %s (-admin-socket): %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if err = os.Chmod(tmp, mode.Perm()); err == nil {
		err = os.Rename(tmp, path)
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("admin: -admin-socket %s: %w", path, err)
	}
	return l, fi, nil
}

// ServeHTTP serves POST / and POST /RPC (JSON-RPC 2.0) and GET /metrics, to allowed peers only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	peer, ok := s.allowedPeer(r)
	if !ok {
		s.stats.refused[refusedForbidden].Add(1)
		if n, log := s.refuseLog.allow(s.o.Now()); log {
			s.log.Warn("admin: refused a request from a peer that is not loopback and not in -admin-allow",
				"peer", peer, "path", r.URL.Path, "suppressed_since_last", n)
		}
		writeError(w, http.StatusForbidden, errorf(CodeForbidden, "forbidden: %s is not a loopback address and not in -admin-allow", peer))
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.stats.refused[refusedBusy].Add(1)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, errorf(CodeUnavailable, "busy: %d admin requests are being served already; retry", s.o.MaxConcurrent))
		return
	}
	switch r.URL.Path {
	case "/", "/RPC":
		s.serveRPC(w, r, peer)
	case "/metrics":
		s.serveMetrics(w, r)
	default:
		http.Error(w, "not found: the admin endpoint serves POST /RPC (JSON-RPC 2.0) and GET /metrics", http.StatusNotFound)
	}
}

// allowedPeer names the peer and says whether it may be served.
func (s *Server) allowedPeer(r *http.Request) (string, bool) {
	if v, _ := r.Context().Value(viaUnixKey).(bool); v {
		return "unix", true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, false
	}
	return ap.String(), allowedAddr(ap.Addr(), s.o.loopback, s.o.AllowNets)
}

func (s *Server) isLoopback(a netip.Addr) bool { return allowedAddr(a, s.o.loopback, nil) }

// allowedAddr reports whether a is in one of the local or allowed networks. a is unmapped (an
// IPv4 client of a dual-stack listener shows as ::ffff:127.0.0.1) and its zone dropped.
func allowedAddr(a netip.Addr, local, allow []netip.Prefix) bool {
	a = a.Unmap().WithZone("")
	for _, nets := range [][]netip.Prefix{local, allow} {
		for _, p := range nets {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, peer string) {
	if r.Method != http.MethodPost {
		s.stats.refused[refusedHTTPMethod].Add(1)
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, errorf(CodeInvalidRequest, "invalid request: use POST with a JSON-RPC 2.0 body (got %s)", r.Method))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.stats.refused[refusedTooLarge].Add(1)
			writeError(w, http.StatusRequestEntityTooLarge, errorf(CodeInvalidRequest, "invalid request: the body is over the limit of %d bytes", s.o.MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, errorf(CodeInvalidRequest, "invalid request: reading the body: %v", err))
		return
	}
	reqs, batch, fatal := decodeBody(body, s.o.MaxBatch)
	if fatal != nil {
		s.stats.call(-1, false)
		writeError(w, http.StatusOK, fatal)
		return
	}
	var out [][]byte
	for i := range reqs {
		resp := s.dispatch(peer, &reqs[i])
		if !reqs[i].notification() {
			out = append(out, resp)
		}
	}
	switch {
	case len(out) == 0:
		w.WriteHeader(http.StatusNoContent) // only notifications: JSON-RPC sends nothing back
	case batch:
		writeJSON(w, http.StatusOK, append(append([]byte{'['}, bytes.Join(out, []byte{','})...), ']'))
	default:
		writeJSON(w, http.StatusOK, out[0])
	}
}

// dispatch runs one request and returns its encoded response.
func (s *Server) dispatch(peer string, req *request) []byte {
	if req.err != nil {
		s.stats.call(-1, false)
		return encodeResponse(req.id, nil, req.err)
	}
	i, ok := methodIndex[req.method]
	if !ok {
		s.stats.call(-1, false)
		return encodeResponse(req.id, nil, errorf(CodeMethodNotFound, "method not found: %q (system.listMethods lists them)", clip(req.method)))
	}
	m := methods[i]
	a, perr := bind(m.name, m.params, req.params)
	var result any
	var err error
	if perr != nil {
		err = perr
	} else {
		result, err = s.invoke(m, &call{s: s, peer: peer, args: a})
	}
	var rerr *Error
	if err != nil {
		rerr = asError(err)
	}
	s.stats.call(i, rerr == nil)
	level := slog.LevelDebug
	if m.mutates {
		level = slog.LevelInfo // an audit trail of every change, whoever asked
	}
	if s.log.Enabled(context.Background(), level) {
		attrs := []any{"method", m.name, "peer", peer, "params", clip(string(req.params))}
		if rerr != nil {
			attrs = append(attrs, "code", rerr.Code, "err", rerr.Message)
		}
		s.log.Log(context.Background(), level, "admin: call", attrs...)
	}
	if req.notification() {
		return nil
	}
	return encodeResponse(req.id, result, rerr)
}

// invoke calls m, turning a panic (in the method or the Target) into an internal error: the
// endpoint must not take the daemon down.
func (s *Server) invoke(m *method, c *call) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("admin: panic in a method", "method", m.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, errorf(CodeInternal, "internal error in %s: %v", m.name, p)
		}
	}()
	return m.call(c)
}

// encodeResponse writes {"jsonrpc":"2.0","result":...,"id":...} or the error form. The result
// is always present on success (null included), never with an error (JSON-RPC 2.0 §5).
func encodeResponse(id json.RawMessage, result any, e *Error) []byte {
	if id == nil {
		id = nullID
	}
	var body []byte
	if e == nil {
		r, err := json.Marshal(result)
		if err != nil {
			e = errorf(CodeInternal, "internal error: encoding the result: %v", err)
		} else {
			body = append(append([]byte(`{"jsonrpc":"2.0","result":`), r...), `,"id":`...)
		}
	}
	if e != nil {
		eb, err := json.Marshal(e)
		if err != nil {
			eb, _ = json.Marshal(&Error{Code: e.Code, Message: e.Message})
		}
		body = append(append([]byte(`{"jsonrpc":"2.0","error":`), eb...), `,"id":`...)
	}
	return append(append(body, id...), '}')
}

func writeError(w http.ResponseWriter, status int, e *Error) {
	writeJSON(w, status, encodeResponse(nil, nil, e))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// Refusal reasons, for tlsmux_admin_refused_total.
const (
	refusedForbidden  = iota // peer not allowed
	refusedBusy              // MaxConcurrent requests in flight
	refusedTooLarge          // body over MaxBodyBytes
	refusedHTTPMethod        // not POST on /RPC, not GET on /metrics
	numRefused
)

var refusedNames = [numRefused]string{"forbidden", "busy", "too_large", "http_method"}

// adminStats counts the endpoint's own work; a fixed set of series.
type adminStats struct {
	// calls[i] are the calls of methods[i]; the last entry those that named no known method
	// or were not valid requests. [0] succeeded, [1] failed.
	calls   [64][2]atomic.Uint64
	refused [numRefused]atomic.Uint64
}

func (st *adminStats) call(i int, ok bool) {
	if i < 0 || i >= len(st.calls)-1 {
		i = len(st.calls) - 1
	}
	r := 1
	if ok {
		r = 0
	}
	st.calls[i][r].Add(1)
}

// spacedLog lets one log line through per interval and counts the others, so that a peer
// hammering the endpoint cannot flood the log.
type spacedLog struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *spacedLog) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

// limitListener bounds the connections open at once: Accept waits for one to close.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
