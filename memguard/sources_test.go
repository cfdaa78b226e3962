package memguard

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var ip = netip.MustParseAddr

// v4 returns the IPv4 address 10.x.y.z for i, distinct for i < 2^24.
func v4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }

// mustOpen opens a connection from addr and fails the test unless it is admitted.
func mustOpen(t *testing.T, s *Sources, addr netip.Addr) *Source {
	t.Helper()
	src, r := s.Open(addr)
	if r != 0 {
		t.Fatalf("Open(%v) refused: %v", addr, r)
	}
	return src
}

func wantRefused(t *testing.T, s *Sources, addr netip.Addr, want Reason) {
	t.Helper()
	src, r := s.Open(addr)
	if r != want || src != nil {
		t.Fatalf("Open(%v) = %p, %v, want nil, %v", addr, src, r, want)
	}
}

func wantStats(t *testing.T, s *Sources, want SourceStats) {
	t.Helper()
	if got := s.Stats(); got != want {
		t.Fatalf("Stats() = %+v\n                   want %+v", got, want)
	}
}

func TestSourcesDisabled(t *testing.T) {
	s := NewSources(SourceLimits{})
	for i := range 1000 {
		src, r := s.Open(v4(i))
		if src != nil || r != 0 {
			t.Fatalf("Open with every limit off = %p, %v, want nil, 0", src, r)
		}
		if !s.AllowHandshake(src, t0) {
			t.Fatal("AllowHandshake(nil) = false")
		}
		s.Close(src)
	}
	wantStats(t, s, SourceStats{Table: DefaultSourceTable})
	if n := testing.AllocsPerRun(1000, func() {
		src, _ := s.Open(v4(7))
		s.AllowHandshake(src, t0)
		s.Close(src)
	}); n != 0 {
		t.Errorf("disabled Open+AllowHandshake+Close allocates %v times", n)
	}
}

func TestSourcesConns(t *testing.T) {
	s := NewSources(SourceLimits{Conns: 2})
	a, b := ip("192.0.2.1"), ip("192.0.2.2")
	a1, a2 := mustOpen(t, s, a), mustOpen(t, s, a)
	if a1 != a2 {
		t.Fatal("two connections from one address got different sources")
	}
	wantRefused(t, s, a, PerSource)
	b1 := mustOpen(t, s, b) // another source has its own count
	wantStats(t, s, SourceStats{Sources: 2, Busy: 2, Conns: 3, Table: DefaultSourceTable})
	s.Close(a1)
	a3 := mustOpen(t, s, a)
	wantRefused(t, s, a, PerSource)
	for _, src := range []*Source{a2, a3, b1} {
		s.Close(src)
	}
	wantStats(t, s, SourceStats{Sources: 2, Table: DefaultSourceTable}) // idle, kept for their buckets
	if n := testing.AllocsPerRun(1000, func() { s.Close(mustOpen(t, s, a)) }); n != 0 {
		t.Errorf("Open+Close of a tracked source allocates %v times", n)
	}
}

// TestSourcesPrefix: which addresses count as one source, checked both ways: Prefix names it,
// and with Conns 1 a second connection from the same source is refused.
func TestSourcesPrefix(t *testing.T) {
	for _, tc := range []struct {
		limits SourceLimits
		addr   string
		prefix string
		same   []string // count as addr's source
		other  []string // do not
	}{
		{
			limits: SourceLimits{},
			addr:   "192.0.2.1", prefix: "192.0.2.1/32",
			same:  []string{"::ffff:192.0.2.1"},
			other: []string{"192.0.2.2", "::c000:201", "64:ff9b::c000:201", "::ffff:c000:202"},
		},
		{
			limits: SourceLimits{Prefix4: 24},
			addr:   "192.0.2.1", prefix: "192.0.2.0/24",
			same:  []string{"192.0.2.255", "::ffff:192.0.2.77"},
			other: []string{"192.0.3.1", "192.1.2.1", "::ffff:192.0.3.1", "::"},
		},
		{
			limits: SourceLimits{},
			addr:   "2001:db8:1:2::1", prefix: "2001:db8:1:2::/64",
			same:  []string{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2:a:b:c:d%eth0"},
			other: []string{"2001:db8:1:3::1", "2001:db9:1:2::1", "::ffff:0:0"},
		},
		{
			limits: SourceLimits{Prefix6: 48},
			addr:   "2001:db8:1:2::1", prefix: "2001:db8:1::/48",
			same:  []string{"2001:db8:1:ffff::1"},
			other: []string{"2001:db8:2::1"},
		},
		{
			limits: SourceLimits{Prefix6: 128},
			addr:   "fe80::1%eth0", prefix: "fe80::1/128",
			same:  []string{"fe80::1%eth1", "fe80::1"}, // zones do not make sources
			other: []string{"fe80::2", "::ffff:0.0.0.1"},
		},
		{
			limits: SourceLimits{Prefix4: 1, Prefix6: 1},
			addr:   "10.0.0.1", prefix: "0.0.0.0/1",
			same:  []string{"127.255.255.255"},
			other: []string{"128.0.0.0", "::1", "::ffff:0:0:1"},
		},
	} {
		l := tc.limits
		l.Conns = 1
		s := NewSources(l)
		name := fmt.Sprintf("%+v %s", tc.limits, tc.addr)
		if got := s.Prefix(ip(tc.addr)).String(); got != tc.prefix {
			t.Errorf("%s: Prefix = %s, want %s", name, got, tc.prefix)
		}
		src := mustOpen(t, s, ip(tc.addr))
		for _, a := range tc.same {
			if got := s.Prefix(ip(a)).String(); got != tc.prefix {
				t.Errorf("%s: Prefix(%s) = %s, want %s", name, a, got, tc.prefix)
			}
			if _, r := s.Open(ip(a)); r != PerSource {
				t.Errorf("%s: %s was not counted as the same source (Open: %v)", name, a, r)
			}
		}
		for _, a := range tc.other {
			o, r := s.Open(ip(a))
			if r != 0 {
				t.Errorf("%s: %s was counted as the same source (Open: %v)", name, a, r)
			}
			s.Close(o)
		}
		s.Close(src)
	}
}

// TestSourcesZeroAddr: an invalid address (a reactor bug) is limited as one source of its own
// rather than slipping past the limits.
func TestSourcesZeroAddr(t *testing.T) {
	s := NewSources(SourceLimits{Conns: 1})
	src := mustOpen(t, s, netip.Addr{})
	wantRefused(t, s, netip.Addr{}, PerSource)
	if p := s.Prefix(netip.Addr{}); p.IsValid() {
		t.Errorf("Prefix(zero Addr) = %v, want the zero Prefix", p)
	}
	s.Close(src)
}

func TestSourcesRate(t *testing.T) {
	s := NewSources(SourceLimits{Rate: 2}) // burst max(1, 2) = 2
	if l := s.Limits(); l.Burst != 2 || l.Prefix4 != 32 || l.Prefix6 != 64 || l.Table != DefaultSourceTable {
		t.Fatalf("Limits() = %+v, want defaults filled in and Burst 2", l)
	}
	a := mustOpen(t, s, ip("198.51.100.1"))
	b := mustOpen(t, s, ip("198.51.100.2"))
	for i, want := range []bool{true, true, false, false} {
		if got := s.AllowHandshake(a, t0); got != want {
			t.Fatalf("handshake %d from a at t0 = %v, want %v", i, got, want)
		}
	}
	if !s.AllowHandshake(b, t0) {
		t.Fatal("b limited by a's rate")
	}
	if s.AllowHandshake(a, at(500*time.Millisecond-1)) || !s.AllowHandshake(a, at(500*time.Millisecond)) {
		t.Fatal("a's next token is not due at exactly 500ms")
	}
	// Reconnecting does not reset the bucket: the idle source stays in the table.
	s.Close(a)
	a = mustOpen(t, s, ip("198.51.100.1"))
	if s.AllowHandshake(a, at(500*time.Millisecond)) {
		t.Fatal("a reconnection got a fresh bucket")
	}
	if !s.AllowHandshake(a, at(time.Second)) {
		t.Fatal("a's token at 1s refused")
	}
	s.Close(a)
	s.Close(b)
}

// TestSourcesLRU: a new source in a full table evicts the least recently used idle source
// (its bucket goes with it) and never one with live connections.
func TestSourcesLRU(t *testing.T) {
	s := NewSources(SourceLimits{Conns: 10, Rate: 1, Burst: 1, Table: 3}) // one shard: one exact LRU
	a, b, c, d := ip("203.0.113.1"), ip("203.0.113.2"), ip("203.0.113.3"), ip("203.0.113.4")
	// handshake opens a connection from addr, takes its one token, reports it, and closes.
	handshake := func(addr netip.Addr) bool {
		src := mustOpen(t, s, addr)
		defer s.Close(src)
		return s.AllowHandshake(src, t0)
	}
	sa := mustOpen(t, s, a) // a stays busy throughout
	if !handshake(b) || !handshake(c) {
		t.Fatal("first handshakes refused")
	}
	if handshake(b) { // b is idle and remembered; now b is the most recent idle, c the least
		t.Fatal("b got a second token at t0")
	}
	wantStats(t, s, SourceStats{Sources: 3, Busy: 1, Conns: 1, Table: 3})
	sd := mustOpen(t, s, d) // full: evicts c (least recently used idle), not a (busy) nor b
	wantStats(t, s, SourceStats{Sources: 3, Busy: 2, Conns: 2, Table: 3, Evictions: 1})
	if handshake(b) {
		t.Fatal("b was evicted instead of c: its bucket is fresh")
	}
	sc := mustOpen(t, s, c) // c is new again: evicts b, the only idle source
	if !s.AllowHandshake(sc, t0) {
		t.Fatal("c came back with an empty bucket: it was not evicted")
	}
	wantStats(t, s, SourceStats{Sources: 3, Busy: 3, Conns: 3, Table: 3, Evictions: 2})
	wantRefused(t, s, b, SourceTableFull) // a, c, d all live: nothing to evict
	if !s.AllowHandshake(sa, t0) || s.AllowHandshake(sa, t0) {
		t.Fatal("a's bucket was disturbed")
	}
	s.Close(sd)
	sb := mustOpen(t, s, b) // d went idle: evicted for b
	wantStats(t, s, SourceStats{Sources: 3, Busy: 3, Conns: 3, Table: 3, Evictions: 3})
	for _, src := range []*Source{sa, sb, sc} {
		s.Close(src)
	}
	wantStats(t, s, SourceStats{Sources: 3, Table: 3, Evictions: 3})
}

// TestSourcesTableFull: a table full of live sources refuses new ones, and at most Table are
// tracked whatever the number of shards; a shard refuses only when it is itself full.
func TestSourcesTableFull(t *testing.T) {
	for _, table := range []int{1, 100, 511, 512, 2048, 5000, DefaultSourceTable} {
		s := NewSources(SourceLimits{Conns: 1, Table: table})
		tab := s.tab.Load()
		wantShards := 1
		for wantShards < maxShards && table/(2*wantShards) >= shardMinEntries {
			wantShards *= 2
		}
		if len(tab.shards) != wantShards {
			t.Errorf("Table %d: %d shards, want %d", table, len(tab.shards), wantShards)
		}
		sum := 0
		for i := range tab.shards {
			sum += tab.shards[i].max
		}
		if sum != table {
			t.Fatalf("Table %d: shard bounds add up to %d", table, sum)
		}
		perShard := make([]int, len(tab.shards)) // sources offered to each shard
		var live []*Source
		admitted, refused := 0, 0
		for i := range table + table/2 + 10 {
			addr := v4(i)
			sh := tab.shardIndex(tab.key(addr))
			perShard[sh]++
			src, r := s.Open(addr)
			switch r {
			case 0:
				admitted++
				live = append(live, src)
			case SourceTableFull:
				refused++
				if perShard[sh] <= tab.shards[sh].max {
					t.Fatalf("Table %d: source %d refused by shard %d holding %d of %d", table, i, sh, perShard[sh]-1, tab.shards[sh].max)
				}
			default:
				t.Fatalf("Table %d: Open = %v", table, r)
			}
		}
		want := 0
		for i, n := range perShard {
			want += min(n, tab.shards[i].max)
		}
		if admitted != want || s.Len() != want || want > table || refused == 0 {
			t.Fatalf("Table %d: admitted %d, Len %d, refused %d; want %d admitted", table, admitted, s.Len(), refused, want)
		}
		if table >= 2048 && admitted < table*9/10 {
			t.Errorf("Table %d: only %d admitted before shards filled", table, admitted)
		}
		for _, src := range live {
			s.Close(src)
		}
		// All idle now: new sources evict, and the bound holds.
		for i := range table + 10 {
			s.Close(mustOpen(t, s, v4(1<<20+i)))
		}
		if st := s.Stats(); st.Sources > table || st.Busy != 0 || st.Conns != 0 || st.Evictions == 0 {
			t.Fatalf("Table %d: after churn %+v", table, st)
		}
	}
}

func TestSourcesCloseWithoutOpenPanics(t *testing.T) {
	s := NewSources(SourceLimits{Conns: 3, Table: 1})
	src := mustOpen(t, s, ip("192.0.2.9"))
	s.Close(src)
	check := func(name string, src *Source) {
		t.Helper()
		defer func() {
			msg, _ := recover().(string)
			if !strings.HasPrefix(msg, "memguard: internal error: Sources.Close without Open") {
				t.Errorf("%s: panic %q", name, msg)
			}
		}()
		s.Close(src)
	}
	check("second Close", src)
	check("Close of a source never opened", &Source{shard: &s.tab.Load().shards[0]})
	// The panic released the shard's lock and changed no count.
	wantStats(t, s, SourceStats{Sources: 1, Table: 1})
	other := mustOpen(t, s, ip("192.0.2.10")) // evicts 192.0.2.9
	check("Close after eviction", src)
	s.Close(other)
	wantStats(t, s, SourceStats{Sources: 1, Table: 1, Evictions: 1})
}

func TestSourceLimitsValidate(t *testing.T) {
	if err := (SourceLimits{}).Validate(); err != nil {
		t.Fatalf("zero SourceLimits: %v", err)
	}
	if err := (SourceLimits{Conns: 5, Rate: 0.5, Burst: 3, Prefix4: 24, Prefix6: 56, Table: 10}).Validate(); err != nil {
		t.Fatalf("valid SourceLimits: %v", err)
	}
	bad := SourceLimits{Conns: -1, Rate: -2, Burst: -1, Prefix4: 33, Prefix6: 129, Table: -5}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid SourceLimits: no error")
	}
	for _, field := range []string{"Conns -1", "Rate -2", "Burst -1", "Prefix4 33", "Prefix6 129", "Table -5"} {
		if !strings.Contains(err.Error(), "SourceLimits."+field+":") {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
	for _, rate := range []float64{math.NaN(), math.Inf(1)} {
		if (SourceLimits{Rate: rate}).Validate() == nil {
			t.Errorf("Rate %v accepted", rate)
		}
	}
	func() {
		defer func() {
			if e, _ := recover().(error); e == nil || !strings.Contains(e.Error(), "SourceLimits.Prefix4 33") {
				t.Errorf("NewSources(invalid): panic %v", e)
			}
		}()
		NewSources(SourceLimits{Prefix4: 33})
	}()
}

func TestSourcesSetLimits(t *testing.T) {
	s := NewSources(SourceLimits{Conns: 3, Rate: 1, Burst: 3})
	a := ip("192.0.2.1")
	live := []*Source{mustOpen(t, s, a), mustOpen(t, s, a), mustOpen(t, s, a)}
	src := live[0]
	s.AllowHandshake(src, t0)
	s.AllowHandshake(src, t0) // 1 of 3 tokens left

	// Lower the cap under the live count: nothing closes, nothing new until below it.
	if err := s.SetLimits(SourceLimits{Conns: 2, Rate: 1, Burst: 3}); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, s, a, PerSource)
	s.Close(live[2])
	wantRefused(t, s, a, PerSource)
	s.Close(live[1])
	live = []*Source{src, mustOpen(t, s, a)}

	// Same rate, new Conns: the bucket is untouched (1 token left).
	if !s.AllowHandshake(src, t0) || s.AllowHandshake(src, t0) {
		t.Fatal("the bucket changed with Conns")
	}
	// Raise the rate: the 3 missing tokens come back at 100/s.
	if err := s.SetLimits(SourceLimits{Conns: 2, Rate: 100, Burst: 3}); err != nil {
		t.Fatal(err)
	}
	if s.AllowHandshake(src, t0) {
		t.Fatal("a token right after raising the rate of an empty bucket")
	}
	if !s.AllowHandshake(src, at(10*time.Millisecond)) {
		t.Fatal("no token 10ms after raising the rate to 100/s")
	}

	// Invalid limits change nothing.
	if err := s.SetLimits(SourceLimits{Conns: -1, Prefix4: 8}); err == nil {
		t.Fatal("SetLimits accepted Conns -1")
	}
	if l := s.Limits(); l.Conns != 2 || l.Rate != 100 || l.Prefix4 != 32 {
		t.Fatalf("limits after a refused SetLimits: %+v", l)
	}
	wantStats(t, s, SourceStats{Sources: 1, Busy: 1, Conns: 2, Table: DefaultSourceTable})

	// A new prefix resets the table: the live connections are forgotten but still closable.
	if err := s.SetLimits(SourceLimits{Conns: 1, Prefix4: 24}); err != nil {
		t.Fatal(err)
	}
	wantStats(t, s, SourceStats{Table: DefaultSourceTable, Resets: 1})
	n := mustOpen(t, s, ip("192.0.2.200"))
	wantRefused(t, s, a, PerSource) // same /24, counted afresh
	if !s.AllowHandshake(src, at(time.Hour)) || !s.AllowHandshake(src, at(time.Hour)) {
		t.Fatal("a forgotten source is limited by a rate that is now off")
	}
	for _, old := range live {
		s.Close(old)
	}
	wantStats(t, s, SourceStats{Sources: 1, Busy: 1, Conns: 1, Table: DefaultSourceTable, Resets: 1})

	// Off: Open returns nil and touches nothing; sources opened before still Close.
	if err := s.SetLimits(SourceLimits{Prefix4: 24}); err != nil {
		t.Fatal(err)
	}
	if src, r := s.Open(a); src != nil || r != 0 {
		t.Fatalf("Open with limits off = %p, %v", src, r)
	}
	s.Close(n)
	wantStats(t, s, SourceStats{Sources: 1, Table: DefaultSourceTable, Resets: 1})

	// A smaller table resets too, and bounds the new one.
	if err := s.SetLimits(SourceLimits{Conns: 1, Prefix4: 24, Table: 2}); err != nil {
		t.Fatal(err)
	}
	x, y := mustOpen(t, s, v4(0)), mustOpen(t, s, v4(1<<8))
	wantRefused(t, s, v4(2<<8), SourceTableFull)
	s.Close(x)
	s.Close(y)
	wantStats(t, s, SourceStats{Sources: 2, Table: 2, Resets: 2})
}

// TestSourcesConcurrent: goroutines open, handshake and close connections from a few sources
// while others change the limits and read the stats. The live count of each source, kept
// independently, never exceeds the highest cap set; everything closes back to zero; -race
// checks the locking. The second pass also changes the prefix, resetting the table under load.
func TestSourcesConcurrent(t *testing.T) {
	const (
		workers = 8
		ops     = 3000
		high    = 4
		low     = 2
		nsrc    = 3
	)
	for _, reset := range []bool{false, true} {
		s := NewSources(SourceLimits{Conns: high, Rate: 1000, Table: 2})
		var live [nsrc]atomic.Int64
		var bad, admitted, refused atomic.Int64
		var stop, setDone atomic.Bool
		var side sync.WaitGroup
		side.Go(func() {
			defer setDone.Store(true)
			for i := range 400 {
				l := SourceLimits{Conns: []int{high, low}[i%2], Rate: []float64{1000, 0}[i/2%2], Table: 2}
				if reset {
					l.Prefix4 = []int{32, 24}[i/4%2]
				}
				if err := s.SetLimits(l); err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched()
			}
		})
		side.Go(func() {
			for !stop.Load() {
				if st := s.Stats(); st.Sources > 2 || st.Conns < 0 || st.Busy < 0 {
					t.Errorf("Stats() = %+v", st)
				}
				runtime.Gosched() // spinning through a time slice would starve the workers on one P
			}
		})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; i < ops || !setDone.Load(); i++ { // overlap every SetLimits
					k := (w + i) % nsrc
					src, r := s.Open(v4(k))
					if r != 0 {
						refused.Add(1)
						runtime.Gosched() // let the holders run
						continue
					}
					admitted.Add(1)
					if n := live[k].Add(1); n > high && !reset {
						bad.Add(1)
					}
					s.AllowHandshake(src, at(time.Duration(i)*time.Millisecond))
					runtime.Gosched() // hold the connection across a reschedule so holders overlap
					live[k].Add(-1)
					s.Close(src)
				}
			})
		}
		wg.Wait()
		stop.Store(true)
		side.Wait()
		if bad.Load() != 0 {
			t.Errorf("reset=%v: a source held more than %d connections %d times", reset, high, bad.Load())
		}
		if st := s.Stats(); st.Busy != 0 || st.Conns != 0 || st.Sources > 2 {
			t.Errorf("reset=%v: after every Close: %+v", reset, st)
		}
		if st := s.Stats(); admitted.Load() == 0 || (!reset && refused.Load() == 0) || (reset && st.Resets == 0) {
			t.Errorf("reset=%v: %d admitted, %d refused: the test did not reach the limits", reset, admitted.Load(), refused.Load())
		}
		t.Logf("reset=%v: %d admitted, %d refused, %+v", reset, admitted.Load(), refused.Load(), s.Stats())
	}
}

// heapBytes returns the live heap after a collection, for the benchmarks' B/source.
func heapBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
