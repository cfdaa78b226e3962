package memguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [SourceLimits] fields left zero.
const (
	// DefaultSourcePrefix4 counts every IPv4 address as its own source.
	DefaultSourcePrefix4 = 32
	// DefaultSourcePrefix6 counts an IPv6 /64 as one source: a /64 is one subnet (RFC 7421), a
	// single host may use many addresses in it at once (temporary addresses, RFC 8981), and a
	// customer is assigned at least that (RFC 6177), so per-address limits would be free to evade.
	DefaultSourcePrefix6 = 64
	// DefaultSourceTable bounds the sources tracked: 65,536 entries of ~120 B with the map's
	// share (BenchmarkSourcesChurn), ~7.5 MiB at most, and room for the distinct clients
	// connected at once to one large instance.
	DefaultSourceTable = 65536
)

// shardMinEntries: a table is split into up to 64 shards only while each keeps at least this
// many entries, so a small table is one exact LRU and a large one wastes little to imbalance
// between shards.
const (
	maxShards       = 64
	shardMinEntries = 256
)

// SourceLimits configures [Sources]. The zero value turns every limit off.
type SourceLimits struct {
	// Conns caps the connections open at once from one source (-per-source-conns).
	// If zero, there is no cap.
	Conns int
	// Rate caps the TLS handshakes a second from one source (-per-source-rate).
	// If zero, there is no limit.
	Rate float64
	// Burst is how many handshakes a quiet source may start at once (-per-source-burst).
	// If zero, max(1, ceil(Rate)) is used. Ignored while Rate is zero.
	Burst int
	// Prefix4 is the IPv4 prefix length that makes one source (-per-source-prefix4): 32 counts
	// each address alone, 24 counts each /24 as one. IPv4-mapped IPv6 addresses count as IPv4.
	// If zero, [DefaultSourcePrefix4] is used.
	Prefix4 int
	// Prefix6 is the IPv6 prefix length that makes one source (-per-source-prefix6).
	// If zero, [DefaultSourcePrefix6] is used.
	Prefix6 int
	// Table bounds the number of sources tracked at once (-per-source-table).
	// If zero, [DefaultSourceTable] is used.
	Table int
}

// Validate reports every field out of range, each error naming its field, joined.
func (l SourceLimits) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("memguard: SourceLimits.%s %v: want %s", field, v, want))
	}
	if l.Conns < 0 {
		bad("Conns", l.Conns, "0 (no cap) or more")
	}
	if math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0 {
		bad("Rate", l.Rate, "0 (no limit) or a positive number of handshakes a second")
	}
	if l.Burst < 0 || l.Burst > MaxBurst {
		bad("Burst", l.Burst, fmt.Sprintf("0 (max(1, ceil(Rate))) to %d", MaxBurst))
	}
	if l.Prefix4 < 0 || l.Prefix4 > 32 {
		bad("Prefix4", l.Prefix4, "1 to 32 (0: 32)")
	}
	if l.Prefix6 < 0 || l.Prefix6 > 128 {
		bad("Prefix6", l.Prefix6, "1 to 128 (0: 64)")
	}
	if l.Table < 0 {
		bad("Table", l.Table, "a positive number of sources (0: 65536)")
	}
	return errors.Join(errs...)
}

// withDefaults returns l with zero fields given their defaults (Burst stays 0: newRateParams
// owns that default).
func (l SourceLimits) withDefaults() SourceLimits {
	if l.Prefix4 == 0 {
		l.Prefix4 = DefaultSourcePrefix4
	}
	if l.Prefix6 == 0 {
		l.Prefix6 = DefaultSourcePrefix6
	}
	if l.Table == 0 {
		l.Table = DefaultSourceTable
	}
	return l
}

// Sources applies per-source limits: how many connections one source may hold open, and how
// many TLS handshakes a second it may start. A source is the client address cut to a prefix
// (IPv4 /32 and IPv6 /64 by default; IPv4-mapped IPv6 counts as IPv4), so a host cannot escape
// the limits by using many addresses of its own subnet.
//
// The reactor calls [Sources.Open] at accept, keeps the *Source it returns with the connection,
// calls [Sources.AllowHandshake] with it when the ClientHello is complete, and [Sources.Close]
// with it exactly once when the connection ends. With every limit off (Conns and Rate zero),
// Open returns a nil *Source without touching the table, and the other two return at once.
//
// # The table
//
// Sources are tracked in a bounded table split into shards (up to 64, by a keyed hash of the
// source, so a client cannot aim its sources at one shard), each a map under its own mutex: every
// decision is O(1) and the event loops rarely meet on the same lock. A source with live
// connections stays in the table. A source whose last connection closed stays too, on its
// shard's least-recently-used list, so a client that connects and disconnects quickly keeps its
// rate bucket empty instead of getting a fresh one each time. A new source in a full shard
// evicts that shard's least recently used idle source in O(1).
//
// If a shard is full of sources that all have live connections, a new source is refused with
// [SourceTableFull]. The alternatives are worse: forgetting a live source would let its
// connections escape their cap (its count restarts from zero), and growing the table would hand
// memory to whoever controls the most addresses. An attacker with many addresses (an IPv6 /48
// holds 65,536 /64s) can fill the table with live connections and have new sources refused; the
// bound is -per-source-table, so size it above the distinct sources expected to be connected at
// once (each entry is ~120 B), and watch the source_table_full counter. Shards fill unevenly: with
// every source live, refusals may begin a few percent before the table is full.
//
// Create one with [NewSources]; the zero Sources is not ready to use.
//
// Concurrency: every method is safe to call from any goroutine.
type Sources struct {
	cfg atomic.Pointer[sourceConfig] // limits; replaced whole by SetLimits
	tab atomic.Pointer[sourceTable]  // replaced when Prefix4, Prefix6 or Table change

	setMu     sync.Mutex // serialises SetLimits
	evictions atomic.Uint64
	resets    atomic.Uint64
}

// sourceConfig is immutable once published.
type sourceConfig struct {
	limits SourceLimits // with defaults
	rate   *rateParams  // nil: no rate limit
	on     bool         // limits.Conns > 0 || rate != nil
}

// Source is the source one connection was counted against: a handle that [Sources.Open] returns
// and [Sources.AllowHandshake] and [Sources.Close] take back. All connections from the same
// source share it. A nil *Source (limits were off at accept) is valid and limits nothing. It must
// not be used after its Close.
type Source struct {
	key   sourceKey
	shard *sourceShard // fixed; its mutex guards the fields below

	conns      int // live connections counted against this source
	bucket     gcra
	prev, next *Source // idle LRU links; nil while conns > 0
}

// sourceKey is a source prefix as the 128 bits of the masked address, IPv4 in its IPv4-mapped
// form (::ffff:a.b.c.d), so an IPv4 and an IPv6 source never share a key: masking only clears
// bits, so a native IPv6 key of that form would need an address in ::ffff:0:0/96, and those are
// unmapped to IPv4 first.
type sourceKey struct{ hi, lo uint64 }

// sourceTable is the part of the state that SetLimits replaces when the keying or the bound
// changes. Immutable once published apart from the shards' contents.
type sourceTable struct {
	prefix4, prefix6 int
	mask4            uint32
	mask6hi, mask6lo uint64
	k0, k1           uint64 // hash key, random per table
	shardShift       uint   // shard index = top bits of the hash
	shards           []sourceShard
}

type sourceShard struct {
	mu      sync.Mutex
	m       map[sourceKey]*Source // nil once retired
	idle    Source                // sentinel: idle.next is the most recently used idle source
	max     int                   // entries allowed in m
	busy    int                   // entries with live connections; len(m)-busy are on the idle list
	conns   int                   // live connections counted in this shard
	retired bool                  // a SetLimits replaced this shard's table
	epoch   time.Time             // the first now seen; bucket times are ns since it
	started bool
	_       [64]byte // keep neighbouring shards' mutexes off one cache line
}

// NewSources returns a Sources applying l. It panics if l is invalid: validate it first with
// [SourceLimits.Validate] (the configuration does).
func NewSources(l SourceLimits) *Sources {
	s := new(Sources)
	if err := s.SetLimits(l); err != nil {
		panic(err)
	}
	return s
}

// SetLimits changes the limits; it may be called while other goroutines use s. An invalid l
// changes nothing and returns the [SourceLimits.Validate] error.
//
// Changes of Conns, Rate and Burst take effect at once and keep the table: lowering Conns under a
// source's live count closes nothing, but no new connection from it is admitted until it falls
// below; each source's bucket keeps the tokens it is missing at its next AllowHandshake (see
// [RateLimiter.SetRate]).
//
// A change of Prefix4, Prefix6 or Table resets the table: sources are keyed anew, and live
// counts cannot be carried over (a /24's count cannot be split into its /32s). Connections open
// at the reset are no longer counted: they can still be Closed, but the new table starts empty
// and their sources may open up to Conns more. Turning both limits on after they were off is the
// same for connections accepted meanwhile (their *Source is nil).
func (s *Sources) SetLimits(l SourceLimits) error {
	if err := l.Validate(); err != nil {
		return err
	}
	l = l.withDefaults()
	s.setMu.Lock()
	defer s.setMu.Unlock()
	old := s.cfg.Load()
	c := &sourceConfig{limits: l, rate: newRateParams(l.Rate, l.Burst)}
	if old != nil && old.rate != nil && c.rate != nil && *old.rate == *c.rate {
		c.rate = old.rate // same parameters: buckets need no conversion on their next touch
	}
	c.on = l.Conns > 0 || c.rate != nil
	c.limits.Burst = 0
	if c.rate != nil {
		c.limits.Burst = c.rate.burst
	}
	oldTab := s.tab.Load()
	if oldTab != nil && old.limits.Prefix4 == l.Prefix4 && old.limits.Prefix6 == l.Prefix6 && old.limits.Table == l.Table {
		s.cfg.Store(c)
		return nil
	}
	s.tab.Store(newSourceTable(l))
	s.cfg.Store(c)
	if oldTab != nil {
		s.resets.Add(1)
		for i := range oldTab.shards {
			oldTab.shards[i].retire()
		}
	}
	return nil
}

// Limits returns the limits in force, zero fields replaced by their defaults (Burst is 0 while
// Rate is 0).
func (s *Sources) Limits() SourceLimits { return s.cfg.Load().limits }

// Open counts one connection from addr's source at accept, unless the source is at its
// connection cap ([PerSource]) or is new and its shard of the table is full of live sources
// ([SourceTableFull]). It returns the *Source to keep with the connection and the zero Reason,
// or nil and the refusal. The *Source is nil, with no refusal, when every limit is off.
// Each admitted Open must be paired with exactly one [Sources.Close].
func (s *Sources) Open(addr netip.Addr) (*Source, Reason) {
	c := s.cfg.Load()
	if !c.on {
		return nil, 0
	}
	for {
		tab := s.tab.Load()
		k := tab.key(addr)
		sh := &tab.shards[tab.shardIndex(k)]
		sh.mu.Lock()
		if sh.retired { // SetLimits replaced the table after we loaded it
			sh.mu.Unlock()
			continue
		}
		src, r := sh.open(s, k, c)
		sh.mu.Unlock()
		return src, r
	}
}

func (sh *sourceShard) open(s *Sources, k sourceKey, c *sourceConfig) (*Source, Reason) {
	src := sh.m[k]
	switch {
	case src == nil:
		if len(sh.m) >= sh.max {
			victim := sh.idle.prev // least recently used idle source
			if victim == &sh.idle {
				return nil, SourceTableFull
			}
			victim.unlink()
			delete(sh.m, victim.key)
			s.evictions.Add(1)
		}
		src = &Source{key: k, shard: sh} // its bucket starts full at its first AllowHandshake
		sh.m[k] = src
	case c.limits.Conns > 0 && src.conns >= c.limits.Conns:
		return nil, PerSource
	}
	if src.conns == 0 {
		if src.next != nil {
			src.unlink()
		}
		sh.busy++
	}
	src.conns++
	sh.conns++
	return src, 0
}

// Close gives back the connection counted by the Open that returned src. A nil src does
// nothing. Closing a source that has no connection counted means a Close without its Open, or a
// second Close: an invariant violation, which panics and leaves the counts unchanged (like
// [Admission.Release]). A second Close while another connection from the same source is open
// cannot be told apart and takes that connection's count.
func (s *Sources) Close(src *Source) {
	if src == nil {
		return
	}
	sh := src.shard
	sh.mu.Lock()
	if src.conns <= 0 {
		sh.mu.Unlock() // before panicking, so a recovered panic leaves the shard usable
		panic("memguard: internal error: Sources.Close without Open (source has no connection counted)")
	}
	src.conns--
	sh.conns--
	if src.conns == 0 {
		sh.busy--
		if !sh.retired {
			sh.pushIdle(src)
		}
	}
	sh.mu.Unlock()
}

// AllowHandshake takes one token from src's handshake rate at now (a whole ClientHello has
// arrived) and reports whether it did; false means [PerSource]: refuse with an alert and close
// rather than wait, so one source cannot hold connections open by being over its rate. A nil src,
// or a zero Rate, allows everything.
func (s *Sources) AllowHandshake(src *Source, now time.Time) bool {
	if src == nil {
		return true
	}
	p := s.cfg.Load().rate
	if p == nil {
		return true
	}
	sh := src.shard
	sh.mu.Lock()
	ok := src.bucket.allow(sh.since(now), p)
	sh.mu.Unlock()
	return ok
}

// Prefix returns the source addr is counted under with the limits in force, for logs
// ("203.0.113.0/24 over -per-source-conns"). It is the zero Prefix for the zero Addr, which Open
// counts as one source of its own.
func (s *Sources) Prefix(addr netip.Addr) netip.Prefix {
	tab := s.tab.Load()
	addr = addr.Unmap()
	bits := tab.prefix6
	if addr.Is4() {
		bits = tab.prefix4
	}
	p, _ := addr.WithZone("").Prefix(bits) // the zero Addr gives the zero Prefix
	return p
}

// SourceStats is a snapshot of a [Sources] for the admin interface and metrics. Refusals are
// counted by the reactor under the [Reason] names.
type SourceStats struct {
	Sources   int    // sources tracked in the table (at most Table)
	Busy      int    // of which with live connections
	Conns     int    // live connections counted in the table (not those open across a reset)
	Table     int    // the table's bound
	Evictions uint64 // idle sources evicted to make room for new ones, since NewSources
	Resets    uint64 // tables reset by SetLimits changing Prefix4, Prefix6 or Table
}

// Stats returns a snapshot: each shard is read under its lock, so the sum is not atomic across
// shards.
func (s *Sources) Stats() SourceStats {
	st := SourceStats{Table: s.cfg.Load().limits.Table, Evictions: s.evictions.Load(), Resets: s.resets.Load()}
	tab := s.tab.Load()
	for i := range tab.shards {
		sh := &tab.shards[i]
		sh.mu.Lock()
		st.Sources += len(sh.m)
		st.Busy += sh.busy
		st.Conns += sh.conns
		sh.mu.Unlock()
	}
	return st
}

// Len returns the number of sources tracked.
func (s *Sources) Len() int {
	n := 0
	tab := s.tab.Load()
	for i := range tab.shards {
		sh := &tab.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func newSourceTable(l SourceLimits) *sourceTable {
	t := &sourceTable{
		prefix4: l.Prefix4,
		prefix6: l.Prefix6,
		mask4:   ^uint32(0) << (32 - l.Prefix4),
		k0:      rand.Uint64(),
		k1:      rand.Uint64(),
	}
	if l.Prefix6 >= 64 { // Go shifts by the width or more give 0: /64 masks all of lo away
		t.mask6hi, t.mask6lo = ^uint64(0), ^uint64(0)<<(128-l.Prefix6)
	} else {
		t.mask6hi = ^uint64(0) << (64 - l.Prefix6)
	}
	n := 1
	for n < maxShards && l.Table/(2*n) >= shardMinEntries {
		n *= 2
	}
	t.shardShift = uint(64 - bits.TrailingZeros(uint(n)))
	t.shards = make([]sourceShard, n)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.m = make(map[sourceKey]*Source)
		sh.idle.prev, sh.idle.next = &sh.idle, &sh.idle
		sh.max = l.Table / n
		if i < l.Table%n {
			sh.max++
		}
	}
	return t
}

// key returns the source of a: the address masked to its family's prefix.
func (t *sourceTable) key(a netip.Addr) sourceKey {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return sourceKey{lo: 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:])&t.mask4)}
	}
	b := a.As16() // all zeros for the zero Addr: one source of its own
	return sourceKey{
		hi: binary.BigEndian.Uint64(b[:8]) & t.mask6hi,
		lo: binary.BigEndian.Uint64(b[8:]) & t.mask6lo,
	}
}

// shardIndex hashes k with the table's random key (the multiply-and-fold mixer of wyhash), so
// which sources share a shard cannot be predicted from outside.
func (t *sourceTable) shardIndex(k sourceKey) int {
	if t.shardShift == 64 {
		return 0
	}
	hi, lo := bits.Mul64(k.hi^t.k0, k.lo^t.k1)
	return int((hi ^ lo) >> t.shardShift)
}

// since returns now in ns since the shard's epoch, setting it on first use. sh.mu is held.
func (sh *sourceShard) since(now time.Time) int64 {
	if !sh.started {
		sh.epoch, sh.started = now, true
	}
	return int64(now.Sub(sh.epoch))
}

func (sh *sourceShard) pushIdle(src *Source) {
	src.prev, src.next = &sh.idle, sh.idle.next
	sh.idle.next.prev = src
	sh.idle.next = src
}

func (src *Source) unlink() {
	src.prev.next = src.next
	src.next.prev = src.prev
	src.prev, src.next = nil, nil
}

// retire detaches the shard from Sources after SetLimits replaced its table: idle sources are
// dropped, and live ones stay reachable only through their connections' *Source until they are
// Closed.
func (sh *sourceShard) retire() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for e := sh.idle.next; e != &sh.idle; {
		next := e.next
		e.prev, e.next = nil, nil
		e = next
	}
	sh.idle.prev, sh.idle.next = &sh.idle, &sh.idle
	sh.m = nil
	sh.retired = true
}
