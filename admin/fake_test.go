package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
	"github.com/tlsmux/tlsmux/internal/syncbuf"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeTarget is a Target over an in-memory table. Methods a test did not arrange (a nil hook)
// behave plainly; the connection table, options and counters are real enough to page, filter,
// set and scrape.
type fakeTarget struct {
	mu        sync.Mutex
	conns     []Conn // ascending ID
	nextID    uint64
	opts      []Option
	info      Info
	snap      Snapshot
	reloadRes ReloadResult
	reloadErr error
	shutdowns int
	closes    []string // "id/closeNotify"
	sets      []string // "group.name=v"
	lists     int      // List calls

	// infoHook, if set, runs at the start of Info (outside the lock): tests block in it.
	infoHook func()
	// panicIn names a method that panics.
	panicIn string
}

// fakeConn is connection number i: addresses, SNI, verification and profile follow i so that a
// test can count what a filter must select without asking the filter.
func fakeConn(id uint64, i int) Conn {
	c := Conn{
		ID:       id,
		State:    "proxying",
		Local:    netip.MustParseAddrPort("192.0.2.1:5061"),
		Version:  "TLSv1.3",
		Cipher:   "TLS_AES_128_GCM_SHA256",
		Verified: i%2 == 0,
		Profile:  "default",
		Age:      time.Duration(i) * time.Second,
		Idle:     time.Duration(i%60) * time.Second,
		BytesIn:  uint64(i * 10),
		BytesOut: uint64(i * 20),
		CtQueued: int64(i % 7),
		Queued:   int64(i % 11),
	}
	if i%4 == 3 {
		c.Peer = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), uint16(40000+i%1000))
	} else {
		c.Peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}), uint16(40000+i%1000))
	}
	switch i % 3 {
	case 0:
		c.SNI = "sip.example.com"
	case 1:
		c.SNI = "SIP.Example.NET"
	}
	if i%5 == 0 {
		c.Profile = "carrier"
	}
	if c.Verified {
		c.PeerCN = fmt.Sprintf("phone-%d", i)
		c.PeerSANs = []string{fmt.Sprintf("phone-%d.example.com", i)}
	}
	return c
}

// newFake holds n connections; their IDs are 2, 4, 6, ... so that ids and positions differ.
func newFake(n int) *fakeTarget {
	f := &fakeTarget{}
	for i := range n {
		f.nextID += 2
		f.conns = append(f.conns, fakeConn(f.nextID, i))
	}
	f.opts = []Option{
		{Group: "core", Name: "version", IsString: true, Str: "tlsmux test", Doc: "version"},
		{Group: "tcp", Name: "max_connections", Int: 100000, Unit: "count", Doc: "client connections", Runtime: true, Min: 1, Max: 1 << 31},
		{Group: "tls", Name: "certificate", IsString: true, Str: "/etc/tlsmux/cert.pem", Doc: "server certificate chain"},
		{Group: "tls", Name: "con_ct_wq_max", Int: 65536, Unit: "bytes", Doc: "clear text queued per connection", Runtime: true, Min: -1, Max: math.MaxInt64},
		{Group: "tls", Name: "connection_timeout", Int: 600, Unit: "s", Doc: "idle timeout", Runtime: true, Min: -1, Max: 1 << 31},
		{Group: "tls", Name: "ct_wq_blk_size", Int: 4096, Unit: "bytes", Doc: "queue block size", Runtime: true, Min: 64, Max: 1 << 20},
		{Group: "tls", Name: "ct_wq_max", Int: 10 << 20, Unit: "bytes", Doc: "clear text queued in total", Runtime: true, Min: -1, Max: math.MaxInt64},
		{Group: "tls", Name: "send_close_notify", Int: 0, Unit: "bool", Doc: "send close_notify", Runtime: true, Min: 0, Max: 1},
		{Group: "tls", Name: "verify_depth", Int: 9, Unit: "count", Doc: "certificate chain length"},
	}
	f.info = Info{MaxConnections: 100000, ConCtWqMax: 65536, CtWqMax: 10 << 20, TCPConnWqMax: 256 << 10, TCPWqMax: 64 << 20, MaxHandshakes: 1024, MemLimit: 1 << 30, MemInUse: 100 << 20, MemFree: 924 << 20, LowMemThreshold1: 100 << 20, LowMemThreshold2: 50 << 20}
	f.snap = Snapshot{
		Accepted:          uint64(n),
		ConnsByState:      map[string]int64{"proxying": int64(n)},
		Handshakes:        []HandshakeCount{{Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", N: uint64(n)}, {Version: "TLSv1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", Resumed: true, N: 3}},
		HandshakeFailures: map[string]uint64{"handshake_failed": 2},
		HandshakeSeconds:  Histogram{Bounds: []float64{0.001, 0.01, 0.1}, Counts: []uint64{5, 10, 2, 1}, Sum: 0.5},
		Closed:            map[string]uint64{"idle_timeout": 4, "client_closed": 9},
		AdmissionRefused:  map[string]uint64{"handshake_busy": 1},
		QueueRefused:      map[string]uint64{"wq_conn_full": 1},
		DroppedBytes:      map[string]uint64{"wq_conn_full": 70000},
		Reloads:           map[string]uint64{"ok": 1},
		Certificates:      []CertExpiry{{Profile: "default", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}},
		BackendDialFailures: map[string]uint64{
			"refused": 1,
		},
		BackendDialSeconds: Histogram{Bounds: DefaultLatencyBounds, Counts: make([]uint64, len(DefaultLatencyBounds)+1)},
	}
	return f
}

func (f *fakeTarget) maybePanic(method string) {
	if f.panicIn == method {
		panic("fake panic in " + method)
	}
}

func (f *fakeTarget) Info() Info {
	if f.infoHook != nil {
		f.infoHook()
	}
	f.maybePanic("Info")
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.info
	i.OpenedConnections = int64(len(f.conns))
	return i
}

func (f *fakeTarget) List(q ListQuery) (ListPage, error) {
	f.maybePanic("List")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return ListPage{}, fmt.Errorf("fake: limit %d", q.Limit)
	}
	var p ListPage
	for i := range f.conns {
		c := &f.conns[i]
		if !q.Filter.Match(c) {
			continue
		}
		p.Total++
		if c.ID > q.After && len(p.Conns) < q.Limit {
			p.Conns = append(p.Conns, *c)
		}
	}
	return p, nil
}

func (f *fakeTarget) Options() []Option {
	f.maybePanic("Options")
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Option(nil), f.opts...)
}

func (f *fakeTarget) Set(group, name string, v int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.opts {
		if o := &f.opts[i]; o.Group == group && o.Name == name {
			if !o.Runtime || v < o.Min || v > o.Max {
				return fmt.Errorf("fake: the endpoint let %s.%s = %d through", group, name, v)
			}
			o.Int = v
			f.sets = append(f.sets, fmt.Sprintf("%s.%s=%d", group, name, v))
			return nil
		}
	}
	return fmt.Errorf("%w: fake has no %s.%s", ErrNotFound, group, name)
}

func (f *fakeTarget) Reload() (ReloadResult, error) {
	f.maybePanic("Reload")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadRes, f.reloadErr
}

func (f *fakeTarget) CloseConn(id uint64, closeNotify bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.conns {
		if f.conns[i].ID == id {
			f.conns = append(f.conns[:i], f.conns[i+1:]...)
			f.closes = append(f.closes, fmt.Sprintf("%d/%v", id, closeNotify))
			return nil
		}
	}
	return fmt.Errorf("%w: no connection %d", ErrNotFound, id)
}

func (f *fakeTarget) Shutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdowns++
	f.info.Draining = true
	return nil
}

func (f *fakeTarget) Metrics() Snapshot {
	f.maybePanic("Metrics")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snap
	s.Handshakes = append([]HandshakeCount(nil), s.Handshakes...)
	s.HandshakeSeconds.Counts = append([]uint64(nil), s.HandshakeSeconds.Counts...)
	for _, m := range []*map[string]uint64{&s.HandshakeFailures, &s.Closed, &s.AdmissionRefused, &s.QueueRefused, &s.DroppedBytes, &s.Reloads, &s.BackendDialFailures} {
		c := make(map[string]uint64, len(*m))
		for k, v := range *m {
			c[k] = v
		}
		*m = c
	}
	return s
}

// with runs fn holding the fake's lock, to change it between calls.
func (f *fakeTarget) with(fn func(f *fakeTarget)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// add opens a connection with the next ID, as a new accept would.
func (f *fakeTarget) add(i int) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID += 2
	f.conns = append(f.conns, fakeConn(f.nextID, i))
	return f.nextID
}

func errorsJoin(msgs ...string) error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = errors.New(m)
	}
	return errors.Join(errs...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running endpoint on 127.0.0.1:0 over a fake.
type env struct {
	t     *testing.T
	f     *fakeTarget
	s     *Server
	url   string // http://127.0.0.1:PORT
	log   *syncbuf.Buffer
	clock *testClock
	hc    *http.Client
}

func start(t *testing.T, f *fakeTarget, tweak ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, f: f, log: new(syncbuf.Buffer), clock: newClock()}
	o := Options{
		Addr:   "127.0.0.1:0",
		Target: f,
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock.Now,
	}
	for _, fn := range tweak {
		fn(&o)
	}
	s, err := Serve(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	if s.Addr() != nil {
		e.url = "http://" + s.Addr().String()
	}
	e.hc = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		e.hc.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// post sends body to path and returns the status and the body.
func (e *env) post(path, body string) (int, []byte) {
	e.t.Helper()
	return doPost(e.t, e.hc, e.url+path, body)
}

func doPost(t *testing.T, hc *http.Client, url, body string) (int, []byte) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

type rpcResp struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
	ID      json.RawMessage `json:"id"`
}

// decodeResp checks the shape every response must have: jsonrpc "2.0", an id, and exactly one
// of result and error.
func decodeResp(t *testing.T, b []byte) rpcResp {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	_, hasResult := m["result"]
	_, hasError := m["error"]
	_, hasID := m["id"]
	if hasResult == hasError || !hasID || string(m["jsonrpc"]) != `"2.0"` {
		t.Fatalf("not a JSON-RPC 2.0 response: %s", b)
	}
	var r rpcResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// call sends method with params (nil, a slice or a map) and returns the response.
func (e *env) call(method string, params any) rpcResp {
	e.t.Helper()
	req := map[string]any{"jsonrpc": "2.0", "method": method, "id": 7}
	if params != nil {
		req["params"] = params
	}
	body, _ := json.Marshal(req)
	status, b := e.post("/RPC", string(body))
	if status != http.StatusOK {
		e.t.Fatalf("%s: HTTP %d: %s", method, status, b)
	}
	r := decodeResp(e.t, b)
	if string(r.ID) != "7" {
		e.t.Fatalf("%s: id %s, want 7", method, r.ID)
	}
	return r
}

// ok calls method and decodes its result into out (if not nil), failing on an error.
func (e *env) ok(method string, params, out any) {
	e.t.Helper()
	r := e.call(method, params)
	if r.Error != nil {
		e.t.Fatalf("%s %v: error %d %s", method, params, r.Error.Code, r.Error.Message)
	}
	if out != nil {
		d := json.NewDecoder(bytes.NewReader(r.Result))
		d.DisallowUnknownFields()
		if err := d.Decode(out); err != nil {
			e.t.Fatalf("%s: result %s: %v", method, r.Result, err)
		}
	}
}

// fail calls method and returns its error, failing if it succeeded or the code differs.
func (e *env) fail(method string, params any, code int) *Error {
	e.t.Helper()
	r := e.call(method, params)
	if r.Error == nil {
		e.t.Fatalf("%s %v: succeeded with %s, want error %d", method, params, r.Result, code)
	}
	if r.Error.Code != code {
		e.t.Fatalf("%s %v: error %d %q, want code %d", method, params, r.Error.Code, r.Error.Message, code)
	}
	return r.Error
}
