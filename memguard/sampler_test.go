package memguard

// Tests of what the package reads from the system: the memory budget from cgroup files and
// /proc/meminfo (limit.go) and the process's memory from runtime/metrics and /proc/self/statm
// (sampler.go).

import (
	"io/fs"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

const gib = 1 << 30

// meminfo16G is the head of a /proc/meminfo of a 16 GiB machine.
const meminfo16G = "MemTotal:       16777216 kB\nMemFree:         1234567 kB\nMemAvailable:    9876543 kB\n"

// limitFS builds a fake root: files maps paths relative to "/" to their content.
func limitFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func TestDefaultLimitFS(t *testing.T) {
	const ninetyPct = 16 * gib / 10 * 9
	for _, c := range []struct {
		why    string
		files  map[string]string
		want   int64
		source string // prefix of the source
	}{
		{"cgroup v2 limit on the process's own cgroup", map[string]string{
			"proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "536870912\n",
			"proc/meminfo":                               meminfo16G,
		}, 512 * mib, "cgroup v2 /sys/fs/cgroup/kubepods/pod1/ctr/memory.max"},
		{"cgroup v2: a parent's limit binds when tighter", map[string]string{
			"proc/self/cgroup":                           "0::/kubepods/pod1/ctr\n",
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": "max\n",
			"sys/fs/cgroup/kubepods/pod1/memory.max":     "268435456\n",
			"sys/fs/cgroup/kubepods/memory.max":          "1073741824\n",
			"proc/meminfo":                               meminfo16G,
		}, 256 * mib, "cgroup v2 /sys/fs/cgroup/kubepods/pod1/memory.max"},
		{"cgroup v2: memory.high below memory.max", map[string]string{
			"proc/self/cgroup": "0::/system.slice/tlsmux.service\n",
			"sys/fs/cgroup/system.slice/tlsmux.service/memory.max":  "2147483648\n",
			"sys/fs/cgroup/system.slice/tlsmux.service/memory.high": "1610612736\n",
			"proc/meminfo": meminfo16G,
		}, 1536 * mib, "cgroup v2 /sys/fs/cgroup/system.slice/tlsmux.service/memory.high"},
		{"cgroup v2: max everywhere", map[string]string{
			"proc/self/cgroup": "0::/user.slice/session-1.scope\n",
			"sys/fs/cgroup/user.slice/session-1.scope/memory.max": "max\n",
			"sys/fs/cgroup/user.slice/memory.max":                 "max\n",
			"proc/meminfo":                                        meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo)"},
		{"cgroup v2 namespace: the container is the root", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "805306368\n",
			"proc/meminfo":             meminfo16G,
		}, 768 * mib, "cgroup v2 /sys/fs/cgroup/memory.max"},
		{"cgroup v2 without a namespace: the path is not visible, the root is the container's", map[string]string{
			"proc/self/cgroup":         "0::/docker/0123abcd\n",
			"sys/fs/cgroup/memory.max": "805306368\n",
			"proc/meminfo":             meminfo16G,
		}, 768 * mib, "cgroup v2 /sys/fs/cgroup/memory.max"},
		{"cgroup outside the namespace (\"/..\"): only the root counts", map[string]string{
			"proc/self/cgroup":               "0::/../../other\n",
			"sys/fs/cgroup/other/memory.max": "1048576\n",
			"sys/fs/cgroup/memory.max":       "805306368\n",
			"proc/meminfo":                   meminfo16G,
		}, 768 * mib, "cgroup v2 /sys/fs/cgroup/memory.max"},
		{"systemd hybrid mode with memory on the unified tree", map[string]string{
			"proc/self/cgroup": "1:name=systemd:/system.slice/x.service\n0::/system.slice/x.service\n",
			"sys/fs/cgroup/unified/system.slice/x.service/memory.max": "268435456\n",
			"proc/meminfo": meminfo16G,
		}, 256 * mib, "cgroup v2 /sys/fs/cgroup/unified/system.slice/x.service/memory.max"},
		{"cgroup v1 memory controller", map[string]string{
			"proc/self/cgroup": "9:name=systemd:/\n4:memory:/process_api/7fc2\n3:cpuset:/\n0::/\n",
			"sys/fs/cgroup/memory/process_api/7fc2/memory.limit_in_bytes": "1073741824\n",
			"sys/fs/cgroup/memory/process_api/memory.limit_in_bytes":      "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                  "9223372036854771712\n",
			"proc/meminfo": meminfo16G,
		}, gib, "cgroup v1 /sys/fs/cgroup/memory/process_api/7fc2/memory.limit_in_bytes"},
		{"cgroup v1 with co-mounted controllers", map[string]string{
			"proc/self/cgroup": "5:cpu,memory:/a\n",
			"sys/fs/cgroup/memory/a/memory.limit_in_bytes": "1073741824\n",
			"proc/meminfo": meminfo16G,
		}, gib, "cgroup v1 /sys/fs/cgroup/memory/a/memory.limit_in_bytes"},
		{"cgroup v1 unlimited (PAGE_COUNTER_MAX)", map[string]string{
			"proc/self/cgroup": "4:memory:/process_api/7fc2\n0::/\n",
			"sys/fs/cgroup/memory/process_api/7fc2/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                  "9223372036854771712\n",
			"proc/meminfo": meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo)"},
		{"no cgroup file at all", map[string]string{
			"proc/meminfo": meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo)"},
		{"cgroup limit not below MemTotal", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "34359738368\n",
			"proc/meminfo":             meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo); cgroup v2 /sys/fs/cgroup/memory.max = 34359738368 is not below MemTotal"},
		{"zero means no limit", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "0\n",
			"proc/meminfo":             meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo)"},
		{"unparsable limit is ignored and reported", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "lots\n",
			"proc/meminfo":             meminfo16G,
		}, ninetyPct, "90% of MemTotal (/proc/meminfo); ignored /sys/fs/cgroup/memory.max: bad value \"lots\""},
		{"a cgroup limit without /proc/meminfo", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "805306368\n",
		}, 768 * mib, "cgroup v2 /sys/fs/cgroup/memory.max; /proc/meminfo cannot be read"},
		{"nothing to read (not Linux)", map[string]string{}, 0, "unknown: no cgroup memory limit and no MemTotal"},
		{"meminfo without MemTotal", map[string]string{
			"proc/meminfo": "MemFree: 1 kB\n",
		}, 0, "unknown: no cgroup memory limit and no MemTotal; /proc/meminfo has no MemTotal line"},
	} {
		got, source := DefaultLimitFS(limitFS(c.files))
		if got != c.want || !strings.HasPrefix(source, c.source) {
			t.Errorf("%s:\n got %d, %q\nwant %d, %q", c.why, got, source, c.want, c.source)
		}
	}
}

// TestDefaultLimit reads this machine's real files.
func TestDefaultLimit(t *testing.T) {
	n, source := DefaultLimit()
	t.Logf("DefaultLimit() = %d MiB, %s", n/mib, source)
	if runtime.GOOS == "linux" && (n <= 0 || source == "") {
		t.Fatalf("DefaultLimit() on Linux = %d, %q", n, source)
	}
}

func TestParseMemTotal(t *testing.T) {
	for in, want := range map[string]int64{
		meminfo16G:                     16 * gib,
		"MemTotal: 1 kB":               1024,
		"Foo: 2 kB\nMemTotal:\t3 kB\n": 3072,
	} {
		if got, err := parseMemTotal([]byte(in)); err != nil || got != want {
			t.Errorf("parseMemTotal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MemTotal: 1 MB", "MemTotal: x kB", "MemTotal: -5 kB", "MemTotal: 0 kB",
		"MemTotal: 9223372036854775807 kB", "MemTotal:", "memtotal: 5 kB"} {
		if got, err := parseMemTotal([]byte(in)); err == nil {
			t.Errorf("parseMemTotal(%q) = %d, nil; want an error", in, got)
		} else if !strings.Contains(err.Error(), "/proc/meminfo") {
			t.Errorf("parseMemTotal(%q): error %q does not name the file", in, err)
		}
	}
}

func TestParseLimitValue(t *testing.T) {
	for _, c := range []struct {
		in  string
		v   int64
		ok  bool
		err bool
	}{
		{"max\n", 0, false, false},
		{"0\n", 0, false, false},
		{"1048576\n", 1048576, true, false},
		{"  4096  ", 4096, true, false},
		{"4611686018427387903", 4611686018427387903, true, false}, // 2^62-1
		{"4611686018427387904", 0, false, false},                  // 2^62
		{"9223372036854771712", 0, false, false},                  // v1 unlimited
		{"18446744073709551615", 0, false, false},
		{"-1", 0, false, true},
		{"", 0, false, true},
		{"1e9", 0, false, true},
		{"18446744073709551616", 0, false, true},
	} {
		v, ok, err := parseLimitValue([]byte(c.in))
		if v != c.v || ok != c.ok || (err != nil) != c.err {
			t.Errorf("parseLimitValue(%q) = %d, %v, %v", c.in, v, ok, err)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	for _, c := range []struct {
		in, v2, v1 string
	}{
		{"0::/a/b\n", "/a/b", ""},
		{"4:memory:/x\n0::/\n", "/", "/x"},
		{"5:cpu,memory,pids:/y", "", "/y"},
		{"0::/with:colon\n", "/with:colon", ""},
		{"3:memoryx:/z\n2:cpu:/w\n", "", ""},
		{"garbage\n0:/no-controllers-field\n0::relative\n", "", ""},
		{"", "", ""},
	} {
		v2, v1 := parseProcCgroup([]byte(c.in))
		if v2 != c.v2 || v1 != c.v1 {
			t.Errorf("parseProcCgroup(%q) = %q, %q; want %q, %q", c.in, v2, v1, c.v2, c.v1)
		}
	}
}

// FuzzDefaultLimitFS feeds arbitrary /proc/self/cgroup, limit file and /proc/meminfo contents.
// It must not panic, and the result must obey the rules: never negative, a source always, never
// above MemTotal when MemTotal is known, and the cgroup limit when it is valid and smaller.
func FuzzDefaultLimitFS(f *testing.F) {
	f.Add("0::/\n", "805306368\n", meminfo16G)
	f.Add("0::/a/b\n", "max\n", meminfo16G)
	f.Add("4:memory:/process_api/7fc2\n0::/\n", "9223372036854771712\n", meminfo16G)
	f.Add("5:cpu,memory:/\n", "1073741824", "MemTotal: 1 kB")
	f.Add("0::/../..\n", "lots", "")
	f.Add("0::/a//b/./c\n", "1", "MemTotal: 9007199254740991 kB")
	f.Fuzz(func(t *testing.T, cgroup, limit, meminfo string) {
		fsys := fstest.MapFS{
			"proc/self/cgroup":                           {Data: []byte(cgroup)},
			"proc/meminfo":                               {Data: []byte(meminfo)},
			"sys/fs/cgroup/memory.max":                   {Data: []byte(limit)},
			"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte(limit)},
		}
		n, source := DefaultLimitFS(fsys)
		if n < 0 || source == "" {
			t.Fatalf("DefaultLimitFS = %d, %q", n, source)
		}
		memTotal, merr := parseMemTotal([]byte(meminfo))
		if merr == nil && n > memTotal {
			t.Fatalf("DefaultLimitFS = %d above MemTotal %d", n, memTotal)
		}
		v2, v1 := parseProcCgroup([]byte(cgroup))
		if v, ok, _ := parseLimitValue([]byte(limit)); ok && (v2 != "" || v1 != "") && (merr != nil || v < memTotal) {
			if n != v {
				t.Fatalf("limit %d applies (cgroup %q) but DefaultLimitFS = %d, %q", v, cgroup, n, source)
			}
		}
		if len(source) > 1000 {
			t.Fatalf("source of %d bytes: notes must stay bounded", len(source))
		}
	})
}

// TestCgroupDirs: the directories searched, innermost first, all valid fs.FS paths.
func TestCgroupDirs(t *testing.T) {
	got := cgroupDirs("sys/fs/cgroup", "/a/b")
	want := []string{"sys/fs/cgroup/a/b", "sys/fs/cgroup/a", "sys/fs/cgroup"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cgroupDirs = %q, want %q", got, want)
	}
	if deep := strings.Repeat("/a", 65); len(cgroupDirs("r", deep)) != 1 {
		t.Errorf("a path 65 levels deep lists %d directories, want the root only", len(cgroupDirs("r", deep)))
	}
	if deep := strings.Repeat("/a", 64); len(cgroupDirs("r", deep)) != 65 {
		t.Errorf("a path 64 levels deep lists %d directories, want 65", len(cgroupDirs("r", deep)))
	}
	for _, rel := range []string{"/", "", "/../x", "/a/../b", "/a//b", "/./a"} {
		for _, d := range cgroupDirs("sys/fs/cgroup", rel) {
			if !fs.ValidPath(d) {
				t.Errorf("cgroupDirs(%q) lists invalid path %q", rel, d)
			}
		}
	}
}

func TestParseStatm(t *testing.T) {
	for _, c := range []struct {
		in    string
		pages int64
		ok    bool
	}{
		{"306800 578 409 172 0 10201 0\n", 578, true},
		{"1 2", 2, true},
		{"1 2\n", 2, true},
		{"1 9223372036854775807 0", 9223372036854775807, true},
		{"1 9223372036854775808 0", 0, false},
		{"1  2", 0, false},
		{"1 x", 0, false},
		{"1 2x", 0, false},
		{"x 2", 0, false},
		{" 1 2", 0, false},
		{"12", 0, false},
		{"1 ", 0, false},
		{"", 0, false},
	} {
		pages, ok := parseStatm([]byte(c.in))
		if pages != c.pages || ok != c.ok {
			t.Errorf("parseStatm(%q) = %d, %v; want %d, %v", c.in, pages, ok, c.pages, c.ok)
		}
	}
}

var statmRef = regexp.MustCompile(`^[0-9]+ ([0-9]+)(?:[ \n]|$)`)

// FuzzParseStatm checks the hand-written parser against a regular expression and strconv.
func FuzzParseStatm(f *testing.F) {
	for _, s := range []string{"306800 578 409 172 0 10201 0\n", "1 2", "1 9223372036854775808 0", "1  2", "x 2", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pages, ok := parseStatm(b)
		var want int64
		wantOK := false
		if m := statmRef.FindSubmatch(b); m != nil {
			v, err := strconv.ParseInt(string(m[1]), 10, 64)
			want, wantOK = v, err == nil
			if !wantOK {
				want = 0
			}
		}
		if pages != want || ok != wantOK {
			t.Fatalf("parseStatm(%q) = %d, %v; reference %d, %v", b, pages, ok, want, wantOK)
		}
	})
}

// TestRuntimeSampler: a real sample is positive and its parts add up; on Linux RSS is known.
func TestRuntimeSampler(t *testing.T) {
	s := NewRuntimeSampler()
	runtime.GC()
	m := s.SampleMemory()
	t.Logf("%+v", m)
	if m.InUse <= 0 || m.Runtime <= 0 || m.Reclaimable < 0 || m.Reclaimable > m.Runtime {
		t.Fatalf("sample %+v", m)
	}
	if m.InUse != max(m.Runtime-m.Reclaimable, m.RSS-m.Reclaimable) {
		t.Fatalf("InUse %d is not the larger of runtime and RSS estimates: %+v", m.InUse, m)
	}
	if runtime.GOOS == "linux" && m.RSS <= 0 {
		t.Fatalf("no RSS on Linux: %+v", m)
	}
}

// TestRuntimeSamplerNoAllocs: sampling allocates nothing, so a Guard's ticker adds no garbage.
func TestRuntimeSamplerNoAllocs(t *testing.T) {
	s := NewRuntimeSampler()
	if n := testing.AllocsPerRun(100, func() { s.SampleMemory() }); n != 0 {
		t.Fatalf("SampleMemory allocates %v times per call", n)
	}
}

func BenchmarkRuntimeSampler(b *testing.B) {
	s := NewRuntimeSampler()
	b.ReportAllocs()
	for b.Loop() {
		s.SampleMemory()
	}
}
