package memguard

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// fuzzAddrs are the addresses the fuzzer picks from: neighbours under every prefix choice below,
// IPv4-mapped twins of IPv4 addresses, zones, and the zero Addr.
var fuzzAddrs = []netip.Addr{
	ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.130"), ip("192.0.3.1"), ip("198.51.100.1"),
	ip("::ffff:192.0.2.1"), ip("::ffff:192.0.2.131"), ip("10.0.0.1"), ip("138.0.0.1"),
	ip("2001:db8::1"), ip("2001:db8::2"), ip("2001:db8:0:1::1"), ip("2001:db8:1::1"),
	ip("fe80::1%eth0"), ip("fe80::1%eth1"), ip("::"), {},
}

var (
	fuzzConns   = []int{0, 1, 2, 3}
	fuzzRates   = []float64{0, 1, 2.5, 1000}
	fuzzBursts  = []int{0, 1, 2, 3}
	fuzzPrefix4 = []int{0, 32, 24, 16, 1}
	fuzzPrefix6 = []int{0, 64, 48, 128, 1}
	fuzzTables  = []int{1, 2, 3, 5, 600, 1100, 0} // 600: 2 shards; 1100: 4; 0: 65536 in 64
)

// FuzzSources applies a random sequence of Open, Close, AllowHandshake, time steps and
// SetLimits to a Sources and to a plain model of it (a map per table generation and a slice per
// shard for the idle order), and after every step compares the whole table: the same sources,
// the same live count for each, the same idle order, no shard over its bound, nothing negative,
// and the counts of connections that a reset left behind. Accounting that drifts by one
// anywhere fails here.
func FuzzSources(f *testing.F) {
	// Seeds: the unit tests' scenarios in the fuzzer's encoding.
	const big, table2, table5 = 6, 1, 3 // indexes into fuzzTables: 65536 in 64 shards, 2, 5
	for _, seed := range [][]byte{
		{},
		slices.Concat(fzLimits(2, 0, 0, 0, 0, big), fzOpen(0), fzOpen(0), fzOpen(0), fzOpen(1), fzClose(0), fzOpen(0), fzOpen(5)),
		slices.Concat(fzLimits(0, 1, 2, 0, 0, big), fzOpen(0), fzHandshake(0), fzHandshake(0), fzHandshake(0),
			fzTick(72), fzHandshake(0), fzClose(0), fzOpen(0), fzHandshake(0), fzTick(200), fzHandshake(0)),
		slices.Concat(fzLimits(3, 1, 1, 0, 0, table5), fzOpen(0), fzOpen(1), fzHandshake(1), fzClose(1),
			fzOpen(2), fzHandshake(1), fzClose(1), fzOpen(1), fzHandshake(1), fzClose(1),
			fzOpen(3), fzOpen(4), fzOpen(9), fzOpen(10), fzOpen(12), fzOpen(2), fzClose(0), fzOpen(2)),
		slices.Concat(fzLimits(1, 0, 0, 2, 2, 4), fzOpen(0), fzOpen(1), fzOpen(2), fzOpen(3), fzOpen(5), fzOpen(6),
			fzOpen(9), fzOpen(10), fzOpen(11), fzOpen(12), fzOpen(13), fzOpen(14), fzOpen(15), fzOpen(16)),
		slices.Concat(fzLimits(1, 3, 0, 0, 0, table2), fzOpen(0), fzOpen(9), fzOpen(7), fzClose(1),
			fzSet(fzLimits(2, 3, 1, 2, 0, table2)), fzOpen(1), fzOpen(2), fzHandshake(0), fzClose(0), fzClose(0),
			fzOpen(3), fzSet(fzLimits(0, 0, 0, 2, 0, table2)), fzOpen(1), fzClose(0), fzClose(0), fzClose(0)),
		slices.Concat(fzLimits(0, 0, 0, 0, 0, big), fzOpen(16), fzOpen(15), fzSet(fzLimits(1, 0, 0, 0, 3, big)),
			fzOpen(16), fzOpen(16), fzOpen(13), fzOpen(14), fzOpen(15), fzClose(0), fzClose(0), fzClose(0)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4096 {
			ops = ops[:4096]
		}
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		pick := func() SourceLimits {
			return SourceLimits{
				Conns: fuzzConns[next()%len(fuzzConns)], Rate: fuzzRates[next()%len(fuzzRates)],
				Burst:   fuzzBursts[next()%len(fuzzBursts)],
				Prefix4: fuzzPrefix4[next()%len(fuzzPrefix4)], Prefix6: fuzzPrefix6[next()%len(fuzzPrefix6)],
				Table: fuzzTables[next()%len(fuzzTables)],
			}
		}
		s := NewSources(pick())
		m := newSourceModel(s)
		now := t0
		for step := 0; len(ops) > 0; step++ {
			switch op := next() % 8; op {
			case 0, 1, 2:
				addr := fuzzAddrs[next()%len(fuzzAddrs)]
				src, r := s.Open(addr)
				wantSrc, wantR := m.open(addr)
				if r != wantR || (src != nil) != wantSrc {
					t.Fatalf("step %d: Open(%v) = %p, %v; model says admitted %v, %v", step, addr, src, r, wantSrc, wantR)
				}
				if r == 0 {
					m.live = append(m.live, liveRef{src: src, gen: m.gen, key: m.key(addr)})
					if src != nil && src.key != m.key(addr) {
						t.Fatalf("step %d: Open(%v) keyed %x, want %x", step, addr, src.key, m.key(addr))
					}
				}
			case 3, 4:
				if len(m.live) == 0 {
					continue
				}
				i := next() % len(m.live)
				ref := m.live[i]
				m.live = slices.Delete(m.live, i, i+1)
				s.Close(ref.src)
				m.close(ref)
			case 5:
				if len(m.live) == 0 {
					continue
				}
				ref := m.live[next()%len(m.live)]
				if ok := s.AllowHandshake(ref.src, now); !ok && (ref.src == nil || m.limits.Rate == 0) {
					t.Fatalf("step %d: AllowHandshake refused with no rate limit in force", step)
				}
			case 6:
				now = now.Add(time.Duration(next()) * 7 * time.Millisecond)
			case 7:
				l := pick()
				if err := s.SetLimits(l); err != nil {
					t.Fatalf("step %d: SetLimits(%+v): %v", step, l, err)
				}
				m.setLimits(l)
			}
			m.check(t, step)
		}
		for _, ref := range m.live { // everything closes back to zero
			s.Close(ref.src)
			m.close(ref)
		}
		m.live = nil
		m.check(t, -1)
		if st := s.Stats(); st.Busy != 0 || st.Conns != 0 {
			t.Fatalf("after closing everything: %+v", st)
		}
	})
}

// The fuzzer's encoding: limits are six indexes into the fuzz* tables; each op is a byte whose
// value mod 8 selects it (0-2 Open, 3-4 Close, 5 AllowHandshake, 6 time step, 7 SetLimits),
// followed by its operand.
func fzLimits(conns, rate, burst, p4, p6, table int) []byte {
	return []byte{byte(conns), byte(rate), byte(burst), byte(p4), byte(p6), byte(table)}
}
func fzOpen(addr int) []byte      { return []byte{0, byte(addr)} }
func fzClose(live int) []byte     { return []byte{3, byte(live)} }
func fzHandshake(live int) []byte { return []byte{5, byte(live)} }
func fzTick(n int) []byte         { return []byte{6, byte(n)} } // n × 7 ms
func fzSet(limits []byte) []byte  { return append([]byte{7}, limits...) }

type liveRef struct {
	src *Source
	gen int
	key sourceKey
}

type genKey struct {
	gen int
	key sourceKey
}

// sourceModel is Sources written the slow, obvious way.
type sourceModel struct {
	s       *Sources
	limits  SourceLimits // with defaults
	gen     int
	conns   map[sourceKey]int // sources of the current table and their live connections
	idle    [][]sourceKey     // per shard, most recently used first
	retired map[genKey]int    // live connections of sources in tables that a reset replaced
	live    []liveRef
}

func newSourceModel(s *Sources) *sourceModel {
	m := &sourceModel{s: s, retired: make(map[genKey]int)}
	m.reset()
	return m
}

func (m *sourceModel) reset() {
	m.limits = m.s.Limits()
	m.conns = make(map[sourceKey]int)
	m.idle = make([][]sourceKey, len(m.s.tab.Load().shards))
}

// key computes the source of a with netip's own masking, independently of sourceTable.key.
func (m *sourceModel) key(a netip.Addr) sourceKey {
	a = a.Unmap()
	if !a.IsValid() {
		return sourceKey{}
	}
	bits := m.limits.Prefix6
	if a.Is4() {
		bits = m.limits.Prefix4
	}
	p, err := a.WithZone("").Prefix(bits)
	if err != nil {
		panic(err)
	}
	b := p.Addr().As16() // IPv4 as ::ffff:a.b.c.d
	return sourceKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func (m *sourceModel) shard(k sourceKey) int { return m.s.tab.Load().shardIndex(k) }

func (m *sourceModel) inShard(sh int) int {
	n := 0
	for k := range m.conns {
		if m.shard(k) == sh {
			n++
		}
	}
	return n
}

func (m *sourceModel) open(a netip.Addr) (admitted bool, r Reason) {
	if m.limits.Conns == 0 && m.limits.Rate == 0 {
		return false, 0
	}
	k := m.key(a)
	sh := m.shard(k)
	n, tracked := m.conns[k]
	switch {
	case !tracked:
		if m.inShard(sh) >= m.s.tab.Load().shards[sh].max {
			if len(m.idle[sh]) == 0 {
				return false, SourceTableFull
			}
			last := len(m.idle[sh]) - 1
			delete(m.conns, m.idle[sh][last])
			m.idle[sh] = m.idle[sh][:last]
		}
	case m.limits.Conns > 0 && n >= m.limits.Conns:
		return false, PerSource
	}
	if n == 0 && tracked {
		i := slices.Index(m.idle[sh], k)
		m.idle[sh] = slices.Delete(m.idle[sh], i, i+1)
	}
	m.conns[k] = n + 1
	return true, 0
}

func (m *sourceModel) close(ref liveRef) {
	switch {
	case ref.src == nil:
	case ref.gen != m.gen:
		m.retired[genKey{ref.gen, ref.key}]--
	default:
		m.conns[ref.key]--
		if m.conns[ref.key] == 0 {
			sh := m.shard(ref.key)
			m.idle[sh] = slices.Insert(m.idle[sh], 0, ref.key)
		}
	}
}

func (m *sourceModel) setLimits(l SourceLimits) {
	l = l.withDefaults()
	if l.Prefix4 == m.limits.Prefix4 && l.Prefix6 == m.limits.Prefix6 && l.Table == m.limits.Table {
		m.limits = m.s.Limits()
		return
	}
	for k, n := range m.conns {
		if n > 0 {
			m.retired[genKey{m.gen, k}] = n
		}
	}
	m.gen++
	m.reset()
}

// check compares the whole of s with the model. Single goroutine: fields are read unlocked.
func (m *sourceModel) check(t *testing.T, step int) {
	t.Helper()
	tab := m.s.tab.Load()
	total, conns := 0, 0
	for i := range tab.shards {
		sh := &tab.shards[i]
		if len(sh.m) > sh.max || sh.busy < 0 || sh.conns < 0 || sh.retired {
			t.Fatalf("step %d: shard %d: %d entries of %d, busy %d, conns %d, retired %v", step, i, len(sh.m), sh.max, sh.busy, sh.conns, sh.retired)
		}
		busy, shConns := 0, 0
		for k, src := range sh.m {
			want, ok := m.conns[k]
			if !ok || src.conns != want || src.key != k || src.shard != sh || m.shard(k) != i {
				t.Fatalf("step %d: shard %d holds %x with %d conns; model: tracked %v with %d, in shard %d", step, i, k, src.conns, ok, want, m.shard(k))
			}
			if src.conns > 0 {
				busy++
				shConns += src.conns
				if src.next != nil || src.prev != nil {
					t.Fatalf("step %d: busy source %x is on the idle list", step, k)
				}
			}
		}
		var idle []sourceKey
		for e := sh.idle.next; e != &sh.idle; e = e.next {
			if e.conns != 0 || sh.m[e.key] != e || e.next.prev != e {
				t.Fatalf("step %d: shard %d idle list holds %x with %d conns, in map %v", step, i, e.key, e.conns, sh.m[e.key] == e)
			}
			idle = append(idle, e.key)
		}
		if !slices.Equal(idle, m.idle[i]) && len(idle)+len(m.idle[i]) > 0 {
			t.Fatalf("step %d: shard %d idle order %x, model %x", step, i, idle, m.idle[i])
		}
		if busy != sh.busy || shConns != sh.conns || busy+len(idle) != len(sh.m) {
			t.Fatalf("step %d: shard %d counts busy %d conns %d, recount busy %d conns %d idle %d of %d", step, i, sh.busy, sh.conns, busy, shConns, len(idle), len(sh.m))
		}
		total += len(sh.m)
		conns += shConns
	}
	if total != len(m.conns) || total > m.limits.Table {
		t.Fatalf("step %d: %d sources tracked, model %d, table %d", step, total, len(m.conns), m.limits.Table)
	}
	for _, ref := range m.live {
		if ref.src != nil && ref.gen != m.gen {
			if want := m.retired[genKey{ref.gen, ref.key}]; ref.src.conns != want || want <= 0 || !ref.src.shard.retired {
				t.Fatalf("step %d: source %x left by reset %d has %d conns, model %d", step, ref.key, ref.gen, ref.src.conns, want)
			}
		}
	}
	if st := m.s.Stats(); st.Sources != total || st.Conns != conns || st.Table != m.limits.Table {
		t.Fatalf("step %d: Stats() = %+v, recount %d sources %d conns", step, st, total, conns)
	}
}
