package admin

import (
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Target is what the admin endpoint controls: the running daemon. cmd/tlsmux implements it over
// the reactor, memguard and profile packages; tests implement it with a fake. admin imports none
// of those packages (ARCHITECTURE.md §2), so every type crossing this interface is declared here.
//
// Concurrency: the endpoint calls every method from its request goroutines, several at once (at
// most Options.MaxConcurrent), so an implementation must be safe for concurrent use. None of
// them may block for long: the endpoint bounds the time of a request but cannot interrupt a call.
//
// Errors: a method may return an [*Error] to choose the JSON-RPC error exactly, or wrap one of
// [ErrNotFound], [ErrOutOfRange], [ErrReadOnly], [ErrBadValue] or [ErrUnavailable] (errors.Is) to
// get its code with the error's text as the message; any other error is reported as code 500
// (CodeInternal) with its text.
type Target interface {
	// Info is the summary of tls.info.
	Info() Info

	// List returns the connections matching q.Filter whose ID is above q.After, in ascending
	// ID order, at most q.Limit of them (1 ≤ Limit ≤ MaxPageSize), and in Total the number
	// of connections matching q.Filter, whatever their ID. IDs must rise with the time a
	// connection was accepted and never be reused: paging by ID is then stable while
	// connections come and go (one that stays open is listed exactly once, one that closes is
	// never listed twice). The endpoint builds offsets and cursors on top of this.
	List(q ListQuery) (ListPage, error)

	// Options lists every setting, in a stable order (by group, then name), for tls.options,
	// cfg.get and cfg.list. The endpoint checks cfg.set requests against it (name, Runtime,
	// Min, Max) before calling Set.
	Options() []Option

	// Set changes the integer setting group.name to v at once, for every connection. The
	// endpoint has already checked that the setting exists, is Runtime, and that Min ≤ v ≤ Max.
	Set(group, name string, v int64) error

	// Reload reloads the TLS profiles (tls.cfg and the certificates it names). On failure it
	// changes nothing and returns an error naming every problem (errors.Join of one error per
	// problem is shown as a list).
	Reload() (ReloadResult, error)

	// CloseConn closes connection id, with a TLS close_notify first if closeNotify (or if the
	// tls.send_close_notify setting says so). An id that is not open wraps ErrNotFound.
	CloseConn(id uint64, closeNotify bool) error

	// Shutdown starts a graceful drain (as SIGTERM does: no new connections; open ones get the
	// grace period) and returns at once, so that core.shutdown can answer before the process
	// exits. Calling it again does nothing.
	Shutdown() error

	// Metrics is the snapshot /metrics renders. Counters must only grow.
	Metrics() Snapshot
}

// Info is the result of tls.info. The first three fields are Kamailio's (tls.info in its tls
// module's tls_rpc.c); the rest are tlsmux's. Sizes are in bytes; a limit of -1 means none.
type Info struct {
	MaxConnections            int64 `json:"max_connections"`               // tcp.max_connections
	OpenedConnections         int64 `json:"opened_connections"`            // client connections open now
	ClearTextWriteQueuedBytes int64 `json:"clear_text_write_queued_bytes"` // in every clear-text queue now

	ConCtWqMax   int64 `json:"con_ct_wq_max"`     // clear text per connection, limit
	CtWqMax      int64 `json:"ct_wq_max"`         // clear text in total, limit
	SendQueued   int64 `json:"send_queued_bytes"` // not yet taken by the kernel, every socket now
	TCPConnWqMax int64 `json:"tcp_conn_wq_max"`   // per socket, limit
	TCPWqMax     int64 `json:"tcp_wq_max"`        // every socket, limit

	HandshakesInFlight int64 `json:"handshakes_in_flight"`
	HandshakesWaiting  int64 `json:"handshakes_waiting"` // whole ClientHellos waiting for admission
	MaxHandshakes      int64 `json:"max_handshakes"`

	MemLimit int64 `json:"mem_limit"`  // memory budget; 0: none
	MemInUse int64 `json:"mem_in_use"` // as memguard last sampled it
	MemFree  int64 `json:"mem_free"`   // budget minus in use; may be negative
	// LowMemThreshold1/2 are the thresholds in force (0: off); LowMem1/2 whether free memory is
	// under them now (new TLS connections refused; queue growth refused).
	LowMemThreshold1 int64 `json:"low_mem_threshold1"`
	LowMemThreshold2 int64 `json:"low_mem_threshold2"`
	LowMem1          bool  `json:"low_mem1"`
	LowMem2          bool  `json:"low_mem2"`

	Draining bool `json:"draining"` // refusing new connections (shutdown in progress)
}

// MaxPageSize bounds one page of tls.list, whatever the caller asks: each entry is a few hundred
// bytes of JSON, so a page is at most a few hundred KiB. DefaultPageSize is used without limit.
const (
	MaxPageSize     = 1000
	DefaultPageSize = 100
)

// ListQuery asks a Target for one page of connections.
type ListQuery struct {
	Filter ListFilter
	After  uint64 // only connections whose ID is above it; 0: from the first
	Limit  int    // 1..MaxPageSize
}

// ListFilter selects connections; the zero value selects all. The criteria combine with AND.
type ListFilter struct {
	Peer     netip.Prefix // the peer's address (unmapped from IPv4-in-IPv6) is in it; invalid: any
	SNI      string       // the server_name the client sent, compared case-insensitively; "": any
	Verified *bool        // the peer's certificate was verified (or not); nil: any
	Profile  string       // the TLS profile that served it; "": any
}

// Match reports whether c passes f, with the meaning documented on ListFilter. Targets that
// hold their connections as Conn values (fakes) can filter with it; the reactor applies the same
// rules to its own records.
func (f *ListFilter) Match(c *Conn) bool {
	switch {
	case f.Peer.IsValid() && !f.Peer.Contains(c.Peer.Addr().Unmap()):
		return false
	case f.SNI != "" && !strings.EqualFold(f.SNI, c.SNI):
		return false
	case f.Verified != nil && *f.Verified != c.Verified:
		return false
	case f.Profile != "" && f.Profile != c.Profile:
		return false
	}
	return true
}

// ListPage is a Target's answer to a ListQuery.
type ListPage struct {
	Conns []Conn // ascending ID, at most ListQuery.Limit
	Total int    // connections matching the filter, whatever their ID
}

// Conn is one client connection in tls.list.
type Conn struct {
	ID          uint64
	Peer, Local netip.AddrPort // Kamailio's src_ip/src_port and dst_ip/dst_port
	State       string         // hello, handshaking, dialing, proxying, closing
	SNI         string
	Profile     string
	Version     string // as OpenSSL names it: TLSv1.3
	Cipher      string // IANA name: TLS_AES_128_GCM_SHA256
	PeerCN      string
	PeerSANs    []string // DNS names, IP addresses, URIs, emails of the peer's leaf certificate
	Verified    bool
	Resumed     bool
	Age, Idle   time.Duration
	BytesIn     uint64 // clear text from the phone to the core
	BytesOut    uint64 // clear text from the core to the phone
	CtQueued    int64  // in its clear-text queue (Kamailio's ct_wq_size)
	Queued      int64  // everything waiting for it: clear-text queue and both sockets' buffers
}

// Option is one setting. Group and Name are Kamailio's where Kamailio has the setting (group
// "tls" for its tls module, "tcp" and "core" for its core), so kamcmd scripts carry over.
type Option struct {
	Group, Name string
	IsString    bool   // the value is Str; else Int
	Int         int64  // in Unit
	Str         string // file names, cipher lists
	Unit        string // "bytes", "s", "ms", "count", "bool", ...; "" for strings
	Doc         string // one line
	Runtime     bool   // cfg.set_now_int may change it while running
	Min, Max    int64  // accepted range of an integer Runtime setting
}

// Value returns the option's value as cfg.get shows it: an int64 or a string.
func (o *Option) Value() any {
	if o.IsString {
		return o.Str
	}
	return o.Int
}

// ReloadResult says what a successful tls.reload changed.
type ReloadResult struct {
	Changed  []string // one line per change: "profile default: certificate replaced (CN=..., expires ...)"
	Profiles int      // profiles loaded
	Warnings []string // what the new profiles do that the operator may not want
}

// Snapshot is what /metrics shows besides Info. Maps are keyed by a reason or label value from
// a fixed, small set (the reactor's close reasons, "refused"/"timeout"/"error", ...); the endpoint
// still caps every labelled family at MaxSeriesPerFamily series. Counters must only grow.
type Snapshot struct {
	Accepted     uint64           // client connections accepted
	ConnsByState map[string]int64 // open connections by State

	Handshakes        []HandshakeCount  // completed, by version, cipher and resumption
	HandshakeFailures map[string]uint64 // by reason: handshake_failed, handshake_timeout, ...
	HandshakeSeconds  Histogram         // from a whole ClientHello to the handshake's end

	BytesIn, BytesOut uint64 // clear text to the core, and from it

	Closed           map[string]uint64 // every closed or refused connection, by reason
	AdmissionRefused map[string]uint64 // connections refused before a handshake, by reason
	QueueRefused     map[string]uint64 // writes refused by a queue limit, by reason
	DroppedBytes     map[string]uint64 // bytes refused or dropped, by reason

	LowMem1Entries, LowMem2Entries uint64 // times free memory fell under each threshold

	Reloads      map[string]uint64 // tls.reload and SIGHUP, by result: "ok", "failed"
	Certificates []CertExpiry      // one per profile

	BackendDialFailures map[string]uint64 // by reason: refused, timeout, error
	BackendDialSeconds  Histogram         // successful dials
}

// HandshakeCount is the number of completed handshakes with one version, cipher and resumption.
type HandshakeCount struct {
	Version, Cipher string
	Resumed         bool
	N               uint64
}

// CertExpiry is the expiry of the certificate a profile serves.
type CertExpiry struct {
	Profile  string
	NotAfter time.Time
}

// Histogram is a snapshot of a histogram with fixed buckets, in seconds. Counts[i] counts the
// observations in (Bounds[i-1], Bounds[i]]; Counts[len(Bounds)] those above the last bound, so
// len(Counts) == len(Bounds)+1. Bounds must rise. A zero Histogram is not shown.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
}

// DefaultLatencyBounds are bucket bounds in seconds that suit handshake and dial latency: a full
// TLS 1.3 handshake costs ~0.2 ms of CPU, and a client round trip 10-300 ms.
var DefaultLatencyBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Errors a Target wraps to choose the JSON-RPC error code (see Target).
var (
	ErrNotFound    = errors.New("not found")    // CodeNotFound: unknown setting or connection
	ErrOutOfRange  = errors.New("out of range") // CodeBadValue
	ErrBadValue    = errors.New("bad value")    // CodeBadValue
	ErrReadOnly    = errors.New("read-only")    // CodeReadOnly
	ErrUnavailable = errors.New("unavailable")  // CodeUnavailable: shutting down, not ready
)
