// Package leakcheck fails a test binary that leaves goroutines running.
//
// Every package's TestMain calls Main, in the style of x/net/quic's main_test.go: run the tests, then
// wait (bounded) for goroutines that are still finishing, and fail with their stacks if any remain.
// A goroutine left behind by a test is a connection, timer or handshake that the code under test
// failed to release, which at carrier scale is a leak of memory and file descriptors.
//
// Concurrency: Main and Check are called from the test goroutine only.
//
// # Limitations
//
// The check is by stack text: goroutines that belong to the runtime or the testing package are
// ignored by name, so a leak whose stack only shows those frames is not reported.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// grace bounds how long goroutines may take to exit after the tests end; real leaks never exit,
// so a generous bound costs nothing when the suite is clean.
const grace = 5 * time.Second

// Main runs m and exits non-zero if goroutines leaked.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := wait(grace); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leakcheck: %d goroutine(s) still running after the tests:\n\n%s\n",
				len(leaked), strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// Check registers a cleanup on t that fails t if goroutines started during t are still running
// when t ends. Do not use it in parallel tests.
func Check(t testing.TB) {
	t.Helper()
	before := map[string]bool{}
	for _, g := range interesting() {
		before[id(g)] = true
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(grace)
		for {
			var leaked []string
			for _, g := range interesting() {
				if !before[id(g)] {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leakcheck: %d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond) // polling an external condition, not synchronisation
		}
	})
}

func wait(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		gs := interesting()
		if len(gs) == 0 || time.Now().After(deadline) {
			return gs
		}
		time.Sleep(20 * time.Millisecond) // polling an external condition, not synchronisation
	}
}

// interesting returns the stacks of goroutines that the code under test started, with the
// goroutine id line removed so stacks compare across snapshots.
func interesting() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		g = strings.TrimSpace(g)
		if g == "" || ignored(g) {
			continue
		}
		// Keep the header (with its id) so two identical leaks both count.
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

func ignored(stack string) bool {
	for _, s := range []string{
		"testing.(*M).",
		"testing.tRunner",
		"testing.runTests",
		"testing.runFuzzing",
		"testing.(*F).",
		"runtime.goexit0",
		"created by runtime.gc",
		"runtime.MHeap_Scavenger",
		"signal.signal_recv",
		"os/signal.loop",
		"created by os/signal.Notify",
		"runtime.ensureSigM",
		"leakcheck.interesting",
		// gnet's process-wide goroutine pool (github.com/panjf2000/ants), created when gnet's
		// package initialises: its purge and clock goroutines live as long as the process, and
		// idle workers wait for work until the pool's expiry. None of them is started per
		// connection or per server.
		"ants/v2.(*poolCommon).purgeStaleWorkers",
		"ants/v2.(*poolCommon).ticktock",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	// An idle ants worker: its top frame is the worker loop itself (a busy one runs our code above it).
	_, frames, _ := strings.Cut(stack, "\n")
	return strings.HasPrefix(frames, "github.com/panjf2000/ants/v2.(*goWorker).run.func1(")
}

// id returns the "goroutine N" prefix of a stack, which stays the same while the goroutine's state
// (and so the rest of the header) changes.
func id(stack string) string {
	if i := strings.Index(stack, " ["); i > 0 {
		return stack[:i]
	}
	return stack
}
