package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// Targets, in the order each scenario runs them.
const (
	TLSMux   = "tlsmux"
	Baseline = "baseline"
)

var targets = []string{TLSMux, Baseline}

// serverName is the name on the benchmark certificate; clients verify it against the CA.
const serverName = "sip.bench.test"

// fdReserve is what a process keeps of its fd limit for listeners, pipes and the runtime.
const fdReserve = 200

// rampConcurrency is how many connections tlsbench makes at once while a load ramps up: the
// generator has one CPU, and a thousand handshakes at once would crowd out their own timeouts.
const rampConcurrency = 100

// maxFDs is the bench contract's bound on the fds one process may hold.
const maxFDs = 20000

// Options configures Run.
type Options struct {
	Plan Plan
	// ModuleDir is the root of the tlsmux module, where `go build` runs. Empty means the
	// module of the current directory (`go env GOMOD`).
	ModuleDir string
	// Progress receives progress lines while Run works. Nil discards them.
	Progress io.Writer
}

// Measurement is one scenario run against one target.
type Measurement struct {
	Key    string // handshake, resume, idle, echo, sweep, storm, stall
	Label  string // human description of the scenario
	Target string // TLSMux or Baseline
	Conns  int    // connections the scenario holds at most
	Size   int    // message size for echo, sweep and stall; 0 otherwise
	Procs  int    // target processes (more than one only for tlsmux spread with SO_REUSEPORT)

	Result Result        // tlsbench's
	CPU    time.Duration // target CPU time from tlsbench's start to its exit
	Sys    time.Duration // the kernel's part of CPU
	// WindowCPU is the target's CPU during echo's measured window alone (from the end of the
	// ramp-up, tlsbench's established_s, for the scenario's duration), interpolated between
	// samples taken every cpuSampleEvery; zero when it could not be placed.
	WindowCPU time.Duration
	// OtherCPU is what the rest of the machine used while tlsbench ran: all processes' CPU
	// (/proc/stat) less the target's, the generator's, the backend's and the report's own.
	// More than a little means another job shared the CPUs and the figures may be disturbed.
	OtherCPU time.Duration
	LoadWall time.Duration // wall time from tlsbench's start to its exit
	Reruns   int           // times the step was run again because it was disturbed
	Others   []string      // the processes that used most of OtherCPU, when it is large
	// Before is sampled once the target serves, Ready when every connection is established
	// (idle and storm: READY, plus Plan.Settle for idle), After when tlsbench has exited.
	Before, Ready, After Usage
	ReadyConns           int // connections established at READY (idle, storm)
	// Ramp samples memory per connection while connections are being established (idle).
	Ramp    []Point
	Elapsed time.Duration // wall time of the whole step, target start to stop

	Err     error // the scenario could not be measured
	StopErr error // the target did not exit cleanly (status 0 on SIGTERM)
}

// Disturbed reports whether other processes used more than a tenth of a CPU while m's load
// ran.
func (m *Measurement) Disturbed() bool {
	return m.LoadWall > 0 && m.OtherCPU > m.LoadWall/10
}

// Failed reports whether anything in m went wrong: no figure, client failures, or an unclean
// target exit.
func (m *Measurement) Failed() bool {
	return m.Err != nil || m.StopErr != nil || m.Result.failureText() != ""
}

// Run builds tlsmux, tlsbench and the baseline, runs every scenario of o.Plan against both
// targets in turn, and returns the report. It stops every process it started before it
// returns, also when ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	r := &runner{plan: o.Plan, progress: &syncWriter{w: o.Progress}, perFull: map[string]time.Duration{}}
	if o.Progress == nil {
		r.progress.w = io.Discard
	}
	mod := o.ModuleDir
	if mod == "" {
		var err error
		if mod, err = moduleDir(ctx); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "tlsmux-report-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r.dir = dir
	r.pin = findPinning()
	r.perProcess, r.fdLimit = perProcess(o.Plan.SpreadAbove)

	r.logf("%s run: %s", o.Plan.Name, r.pin)
	if err := r.build(ctx, mod); err != nil {
		return nil, err
	}
	if err := r.writePKI(); err != nil {
		return nil, err
	}
	if err := r.startBackend(ctx); err != nil {
		return nil, err
	}
	defer r.backend.stop()

	rep := &Report{Plan: o.Plan, Env: r.env(ctx, mod), Started: start}
	steps := r.steps()
	total := len(steps) * len(targets)
	i := 0
	for _, s := range steps {
		for _, kind := range targets {
			i++
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			r.logf("[%d/%d] %s: %s", i, total, kind, s.label)
			m := r.runStep(ctx, s, kind)
			if r.plan.Rerun && m.Disturbed() && m.Err == nil && ctx.Err() == nil {
				// Another job on the machine took CPU from the measurement: try once more and
				// keep the quieter run.
				r.logf("[%d/%d] %s: other processes used %.1f CPU-s during the run (%s); running it again",
					i, total, kind, m.OtherCPU.Seconds(), strings.Join(m.Others, ", "))
				again := r.runStep(ctx, s, kind)
				if again.Err == nil && again.OtherCPU < m.OtherCPU {
					m = again
				}
				m.Reruns = 1
			}
			if m.Key == "handshake" && m.Err == nil && m.Result.Handshakes > 0 {
				r.perFull[kind] = m.CPU / time.Duration(m.Result.Handshakes)
			}
			r.logf("[%d/%d] %s: %s", i, total, kind, m.summary())
			rep.Runs = append(rep.Runs, m)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start)
	rep.build(r)
	return rep, nil
}

// runStep runs one step against one target.
func (r *runner) runStep(ctx context.Context, s step, kind string) Measurement {
	t0 := time.Now()
	m := s.run(ctx, kind)
	m.Key, m.Label, m.Target, m.Elapsed = s.key, s.label, kind, time.Since(t0)
	return m
}

// runner holds what the scenarios share. It is used from Run's goroutine; the progress
// writer is also written from the child processes' copying goroutines.
type runner struct {
	plan       Plan
	pin        pinning
	progress   *syncWriter
	dir        string
	perProcess int // tlsmux connections per process before spreading
	fdLimit    int

	tlsmuxBin, tlsbenchBin, baselineBin string
	certFile, keyFile, caFile           string

	backend     *child
	backendAddr string

	perFull map[string]time.Duration // target CPU per full handshake, by target
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, "report: "+format+"\n", args...)
}

// perProcess returns how many connections one tlsmux process is given (spreadAbove, or what
// the fd limit allows at two fds per connection) and the fd limit itself. Go raises its own
// soft limit to the hard one at start, and so do tlsmux and the baseline, so the limit read
// here is theirs too.
func perProcess(spreadAbove int) (perProc, limit int) {
	var rl syscall.Rlimit
	limit = maxFDs
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < uint64(limit) {
		limit = int(rl.Cur)
	}
	perProc = max((limit-fdReserve)/2, 1)
	if spreadAbove > 0 {
		perProc = min(perProc, spreadAbove)
	}
	return perProc, limit
}

// tlsmuxProcs is how many tlsmux processes hold conns connections. SO_REUSEPORT spreads
// connections by a hash of the addresses, not evenly, so spread processes get a fifth of
// headroom each.
func (r *runner) tlsmuxProcs(conns int) int {
	if conns <= r.perProcess {
		return 1
	}
	per := max(r.perProcess*4/5, 1)
	return (conns + per - 1) / per
}

func moduleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("report: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("report: not inside a Go module: run from the tlsmux repository")
	}
	return filepath.Dir(gomod), nil
}

// build compiles the three programs from the tree into the temporary directory.
func (r *runner) build(ctx context.Context, mod string) error {
	t0 := time.Now()
	r.logf("building tlsmux, tlsbench and baseline from %s", mod)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", r.dir+string(filepath.Separator),
		"./cmd/tlsmux", "./bench/cmd/tlsbench", "./bench/cmd/baseline")
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("report: go build: %w\n%s", err, out)
	}
	r.tlsmuxBin = filepath.Join(r.dir, "tlsmux")
	r.tlsbenchBin = filepath.Join(r.dir, "tlsbench")
	r.baselineBin = filepath.Join(r.dir, "baseline")
	r.logf("built in %.1fs", time.Since(t0).Seconds())
	return nil
}

// writePKI writes the server certificate and key both targets serve, and the CA clients trust.
func (r *runner) writePKI() error {
	pki, err := testcert.New()
	if err != nil {
		return err
	}
	if r.certFile, r.keyFile, err = pki.WriteServerFiles(r.dir, serverName); err != nil {
		return err
	}
	r.caFile, err = pki.WriteCAFile(r.dir)
	return err
}

var backendRE = regexp.MustCompile(`^BACKEND (\S+)$`)

func (r *runner) startBackend(ctx context.Context) error {
	found := make(chan string, 1)
	send := sendOnce(found)
	c, err := startChild(ctx, r.pin, roleGenerator, "tlsbench backend", r.tlsbenchBin, []string{"backend"},
		func(l string) {
			if m := backendRE.FindStringSubmatch(l); m != nil {
				send(m[1])
			}
		}, r.forward("backend"), false)
	if err != nil {
		return err
	}
	addr, err := c.await(ctx, found, readyTimeout)
	if err != nil {
		c.stop()
		return fmt.Errorf("report: %w", err)
	}
	r.backend, r.backendAddr = c, addr
	r.logf("echo backend (tlsbench backend) on %s", addr)
	return nil
}

// forward returns a stderr handler that passes a child's lines on as progress, progress
// lines at most every two seconds.
func (r *runner) forward(name string) func(string) {
	var last time.Time
	return func(l string) {
		if strings.HasPrefix(l, "progress:") {
			if time.Since(last) < 2*time.Second {
				return
			}
			last = time.Now()
		}
		fmt.Fprintf(r.progress, "    %s: %s\n", name, l)
	}
}

// target is one benchmarked server: one process, or several tlsmux processes sharing a port.
type target struct {
	kind  string
	addr  string
	procs []*child
}

// usage sums the processes' usage.
func (t *target) usage() (Usage, error) {
	var sum Usage
	for _, c := range t.procs {
		u, err := ReadUsage(c.pid())
		if err != nil {
			return Usage{}, err
		}
		sum = sum.Add(u)
	}
	return sum, nil
}

// stop sends every process SIGTERM and returns the first unclean exit.
func (t *target) stop() error {
	var first error
	for _, c := range t.procs {
		if err := c.stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var (
	serveRE  = regexp.MustCompile(`msg="tlsmux serving" listen="?\[([^\]\s"]+)`)
	listenRE = regexp.MustCompile(`^LISTEN (\S+)$`)
)

// startTarget starts kind to hold up to conns connections at once.
func (r *runner) startTarget(ctx context.Context, kind string, conns int) (*target, error) {
	t := &target{kind: kind}
	if kind == Baseline {
		if conns > (r.fdLimit-fdReserve)/2 {
			return nil, fmt.Errorf("one baseline process cannot hold %d connections under the fd limit of %d", conns, r.fdLimit)
		}
		found := make(chan string, 1)
		send := sendOnce(found)
		c, err := startChild(ctx, r.pin, roleTarget, "baseline", r.baselineBin, []string{
			"-listen", "127.0.0.1:0", "-backend", r.backendAddr, "-certificate", r.certFile, "-private-key", r.keyFile,
		}, func(l string) {
			if m := listenRE.FindStringSubmatch(l); m != nil {
				send(m[1])
			}
		}, nil, false)
		if err != nil {
			return nil, err
		}
		t.procs = append(t.procs, c)
		if t.addr, err = c.await(ctx, found, readyTimeout); err != nil {
			t.stop()
			return nil, err
		}
		return t, nil
	}
	n := r.tlsmuxProcs(conns)
	if n > 1 {
		r.logf("%s connections need %d tlsmux processes (at most %s each): sharing one port with SO_REUSEPORT",
			count(conns), n, count(r.perProcess))
	}
	listen := "tls:127.0.0.1:0"
	for i := range n {
		args := []string{
			"-listen", listen, "-backend", "tcp:" + r.backendAddr,
			"-certificate", r.certFile, "-private-key", r.keyFile,
			// The baseline's standard-library defaults send session tickets; so does tlsmux here.
			"-session-cache",
			"-shutdown-grace", "2s", "-log-level", "info",
		}
		if n > 1 {
			args = append(args, "-reuse-port")
		}
		found := make(chan string, 1)
		send := sendOnce(found)
		c, err := startChild(ctx, r.pin, roleTarget, fmt.Sprintf("tlsmux %d/%d", i+1, n), r.tlsmuxBin, args, nil, func(l string) {
			if m := serveRE.FindStringSubmatch(l); m != nil {
				send(m[1])
			}
		}, false)
		if err != nil {
			t.stop()
			return nil, err
		}
		t.procs = append(t.procs, c)
		addr, err := c.await(ctx, found, readyTimeout)
		if err != nil {
			t.stop()
			return nil, err
		}
		if i == 0 {
			t.addr, listen = addr, "tls:"+addr
		}
	}
	return t, nil
}

// step is one scenario, run against each target in turn.
type step struct {
	key, label string
	run        func(ctx context.Context, kind string) Measurement
}

func (r *runner) steps() []step {
	p := r.plan
	var s []step
	s = append(s, step{"handshake", fmt.Sprintf("full handshakes (%s, %d at once)", count(p.Handshakes), p.HandshakeConcurrency),
		func(ctx context.Context, kind string) Measurement { return r.handshakes(ctx, kind, false) }})
	s = append(s, step{"resume", fmt.Sprintf("resumed handshakes (%s, %d at once)", count(p.Handshakes), p.HandshakeConcurrency),
		func(ctx context.Context, kind string) Measurement { return r.handshakes(ctx, kind, true) }})
	for _, n := range p.Idle {
		s = append(s, step{"idle", fmt.Sprintf("%s idle connections", count(n)),
			func(ctx context.Context, kind string) Measurement { return r.idle(ctx, kind, n) }})
	}
	for _, e := range p.Echo {
		s = append(s, step{"echo", fmt.Sprintf("echo %s × %s conns for %v", size(e.Size), count(e.Conns), p.EchoDuration),
			func(ctx context.Context, kind string) Measurement { return r.echo(ctx, kind, e, p.EchoDuration) }})
	}
	for _, n := range p.Sweep {
		e := EchoLoad{Conns: n, Size: 1024}
		s = append(s, step{"sweep", fmt.Sprintf("echo %s × %s conns for %v (latency chart)", size(e.Size), count(n), p.SweepDuration),
			func(ctx context.Context, kind string) Measurement { return r.echo(ctx, kind, e, p.SweepDuration) }})
	}
	s = append(s, step{"storm", fmt.Sprintf("storm: %s connections dropped at once and re-established", count(p.Storm)),
		func(ctx context.Context, kind string) Measurement { return r.storm(ctx, kind) }})
	s = append(s, step{"stall", fmt.Sprintf("stall: %d stallers during echo %s × %d conns for %v", p.Stallers, size(1024), p.StallEcho, p.StallDuration),
		func(ctx context.Context, kind string) Measurement { return r.stall(ctx, kind) }})
	return s
}

func (r *runner) handshakes(ctx context.Context, kind string, resume bool) Measurement {
	p := r.plan
	args := []string{"-conns", strconv.Itoa(p.Handshakes), "-concurrency", strconv.Itoa(p.HandshakeConcurrency)}
	if resume {
		args = append(args, "-resume")
	}
	return r.measure(ctx, kind, p.HandshakeConcurrency, "handshake", args, 0, loadHooks{})
}

func (r *runner) idle(ctx context.Context, kind string, n int) Measurement {
	args := []string{"-conns", strconv.Itoa(n), "-duration", "10m"}
	var m Measurement
	r.measureInto(ctx, &m, kind, n, "idle", args, 0, loadHooks{
		ramp: true,
		ready: func(ctx context.Context, t *target, b *child) {
			sleep(ctx, r.plan.Settle)
			m.Ready, _ = t.usage()
			b.stdin.Close() // ends the hold: tlsbench reports and exits
		},
	})
	return m
}

func (r *runner) echo(ctx context.Context, kind string, e EchoLoad, d time.Duration) Measurement {
	args := []string{"-conns", strconv.Itoa(e.Conns), "-concurrency", strconv.Itoa(min(e.Conns, rampConcurrency)),
		"-size", strconv.Itoa(e.Size), "-duration", d.String()}
	m := r.measure(ctx, kind, e.Conns, "echo", args, d, loadHooks{window: d})
	m.Size = e.Size
	return m
}

func (r *runner) storm(ctx context.Context, kind string) Measurement {
	args := []string{"-conns", strconv.Itoa(r.plan.Storm)}
	var m Measurement
	r.measureInto(ctx, &m, kind, r.plan.Storm, "storm", args, 0, loadHooks{
		ready: func(_ context.Context, t *target, b *child) {
			m.Ready, _ = t.usage()
			io.WriteString(b.stdin, "GO\n")
		},
	})
	return m
}

func (r *runner) stall(ctx context.Context, kind string) Measurement {
	p := r.plan
	args := []string{"-stallers", strconv.Itoa(p.Stallers), "-conns", strconv.Itoa(p.StallEcho),
		"-concurrency", strconv.Itoa(min(p.StallEcho, rampConcurrency)), "-size", "1024", "-duration", p.StallDuration.String()}
	m := r.measure(ctx, kind, p.Stallers+p.StallEcho, "stall", args, p.StallDuration, loadHooks{})
	m.Size = 1024
	return m
}

// loadHooks adapt measure to a scenario.
type loadHooks struct {
	// ready runs on Run's goroutine when tlsbench prints READY; it must make tlsbench go on
	// (close its stdin, or write GO).
	ready func(ctx context.Context, t *target, b *child)
	// ramp samples memory per connection on each progress line.
	ramp bool
	// window samples the target's CPU through the run, to find it for echo's measured window
	// of this length after the ramp-up.
	window time.Duration
}

func (r *runner) measure(ctx context.Context, kind string, conns int, sub string, args []string, d time.Duration, h loadHooks) Measurement {
	var m Measurement
	r.measureInto(ctx, &m, kind, conns, sub, args, d, h)
	return m
}

var (
	readyRE    = regexp.MustCompile(`^READY (\d+)$`)
	progressRE = regexp.MustCompile(`^progress: (\d+)/(\d+) established`)
)

// measureInto starts a fresh target for up to conns connections, runs `tlsbench sub args`
// against it, and fills m with the result and the target's CPU and memory. d is the
// scenario's own duration, from which the time limit is derived.
func (r *runner) measureInto(ctx context.Context, m *Measurement, kind string, conns int, sub string, args []string, d time.Duration, h loadHooks) {
	m.Conns = conns
	t, err := r.startTarget(ctx, kind, conns)
	if err != nil {
		m.Err = err
		return
	}
	m.Procs = len(t.procs)
	defer func() { m.StopErr = t.stop() }()
	if m.Before, err = t.usage(); err != nil {
		m.Err = err
		return
	}

	var rampMu sync.Mutex
	var ramp []Point
	fwd := r.forward("tlsbench")
	onErr := func(l string) {
		fwd(l)
		if !h.ramp {
			return
		}
		if p := progressRE.FindStringSubmatch(l); p != nil {
			done, _ := strconv.Atoi(p[1])
			if u, err := t.usage(); err == nil && done > 0 {
				rampMu.Lock()
				ramp = append(ramp, Point{X: float64(done), Y: float64(u.RSS-m.Before.RSS) / 1024 / float64(done)})
				rampMu.Unlock()
			}
		}
	}
	ready := make(chan string, 1)
	sendReady := sendOnce(ready)
	t0 := time.Now()
	var samples []cpuSample
	if h.window > 0 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { samples = sampleCPU(t, t0, stop) })
		defer func() {
			close(stop)
			wg.Wait()
			if es := m.Result.EstablishedS; m.Err == nil && es > 0 {
				start := time.Duration(es * float64(time.Second))
				if a, ok := cpuAt(samples, start); ok {
					if b, ok := cpuAt(samples, start+h.window); ok {
						m.WindowCPU = b - a
					}
				}
			}
		}()
	}
	full := append([]string{sub, "-target", t.addr, "-servername", serverName, "-ca", r.caFile,
		"-timeout", r.plan.Timeout.String(), "-json"}, args...)
	others := r.othersBefore()
	b, err := startChild(ctx, r.pin, roleGenerator, "tlsbench "+sub, r.tlsbenchBin, full, func(l string) {
		if p := readyRE.FindStringSubmatch(l); p != nil {
			sendReady(p[1])
		}
	}, onErr, true)
	if err != nil {
		m.Err = err
		return
	}
	// Every connection may take the whole step timeout, a few times over, on a slow machine.
	limit := d + 3*r.plan.Timeout + time.Minute + time.Duration(conns)*5*time.Millisecond
	if h.ready != nil {
		n, err := b.await(ctx, ready, limit)
		if err != nil {
			b.stop()
			m.Err = fmt.Errorf("waiting for READY: %w", err)
			return
		}
		m.ReadyConns, _ = strconv.Atoi(n)
		h.ready(ctx, t, b)
	}
	werr := b.wait(limit)
	m.After, err = t.usage()
	if err != nil {
		m.Err = err
		return
	}
	m.CPU, m.Sys = m.After.CPU-m.Before.CPU, m.After.Sys-m.Before.Sys
	m.LoadWall = time.Since(t0)
	m.OtherCPU, m.Others = others.after(t, b, m.CPU)
	res, perr := ParseResult(b.out.All())
	switch {
	case perr != nil && werr != nil:
		m.Err = werr
	case perr != nil:
		m.Err = perr
	case werr != nil && res.failureText() == "":
		m.Err = werr // tlsbench failed without saying why in its result
	}
	m.Result = res
	rampMu.Lock()
	m.Ramp = ramp
	rampMu.Unlock()
}

// summary is the progress line after a measurement.
func (m *Measurement) summary() string {
	if m.Err != nil {
		return "FAILED: " + m.Err.Error()
	}
	s := fmt.Sprintf("done in %.1fs, target CPU %.2fs", m.Elapsed.Seconds(), m.CPU.Seconds())
	switch m.Key {
	case "handshake", "resume":
		s += fmt.Sprintf(", %d handshakes (%d resumed)", m.Result.Handshakes, m.Result.Resumed)
	case "idle":
		s += fmt.Sprintf(", RSS %.1f → %.1f MiB", mib(m.Before.RSS), mib(m.Ready.RSS))
	case "echo", "sweep":
		s += fmt.Sprintf(", %.0f msgs/s", m.Result.MessagesPerS)
		if m.WindowCPU > 0 {
			s += fmt.Sprintf(", %.0f msgs per target CPU-second", float64(m.Result.Messages)/m.WindowCPU.Seconds())
		}
	case "storm":
		s += fmt.Sprintf(", recovery %.2fs", m.Result.RecoveryS)
	}
	if f := m.Result.failureText(); f != "" {
		s += "; " + f
	}
	if m.StopErr != nil {
		s += "; " + m.StopErr.Error()
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// env describes the machine and the run for the report's header.
func (r *runner) env(ctx context.Context, mod string) []string {
	var lines []string
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimLeft(v, " \t:"))
				break
			}
		}
	}
	rev := "unknown revision"
	if out, err := exec.CommandContext(ctx, "git", "-C", mod, "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", mod, "status", "--porcelain").Output(); err == nil && len(st) > 0 {
			rev += " with uncommitted changes"
		}
	}
	lines = append(lines,
		fmt.Sprintf("%s, %d CPUs, %s/%s, %s; tlsmux at %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), rev),
		strings.ToUpper(r.pin.String()[:1])+r.pin.String()[1:]+".",
		"Both targets serve TLS with one ECDSA P-256 certificate, session tickets on (tlsmux -session-cache; the baseline "+
			"has the standard library's defaults), to the same echo backend (`tlsbench backend`); a fresh target process for every scenario.",
	)
	return lines
}

// syncWriter serialises progress lines from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// cpuSampleEvery is how often the target's CPU is sampled during echo. /proc's CPU times come
// in 10 ms ticks, so finer sampling would add nothing.
const cpuSampleEvery = 50 * time.Millisecond

// cpuSample is the target's CPU time at a moment since the load generator started.
type cpuSample struct {
	at, cpu time.Duration
}

// sampleCPU samples t's CPU every cpuSampleEvery until stop is closed, and once more then.
func sampleCPU(t *target, t0 time.Time, stop <-chan struct{}) []cpuSample {
	var out []cpuSample
	take := func() {
		if u, err := t.usage(); err == nil {
			out = append(out, cpuSample{at: time.Since(t0), cpu: u.CPU})
		}
	}
	tick := time.NewTicker(cpuSampleEvery)
	defer tick.Stop()
	take()
	for {
		select {
		case <-stop:
			take()
			return out
		case <-tick.C:
			take()
		}
	}
}

// cpuAt interpolates the CPU time at moment at between the samples around it; ok is false
// outside the sampled span.
func cpuAt(samples []cpuSample, at time.Duration) (time.Duration, bool) {
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if at < a.at || at > b.at {
			continue
		}
		if b.at == a.at {
			return a.cpu, true
		}
		f := float64(at-a.at) / float64(b.at-a.at)
		return a.cpu + time.Duration(f*float64(b.cpu-a.cpu)), true
	}
	return 0, false
}

// othersSample is the machine's CPU and that of the report's own processes at one moment.
type othersSample struct {
	ok                   bool
	backendPID           int
	machine, backend, me time.Duration
	procs                map[int]procCPU
}

func (r *runner) othersBefore() othersSample {
	s := othersSample{backendPID: r.backend.pid(), me: selfCPU(), procs: scanProcesses()}
	m, err := machineCPU()
	b, berr := ReadUsage(s.backendPID)
	s.ok, s.machine, s.backend = err == nil && berr == nil, m, b.CPU
	return s
}

// after returns the CPU that processes other than the target t (which used target), the
// generator g (exited and waited for), the backend and this one used since s, zero when it
// cannot tell; and when that is large, the processes that used most.
func (s othersSample) after(t *target, g *child, target time.Duration) (time.Duration, []string) {
	m, err := machineCPU()
	b, berr := ReadUsage(s.backendPID)
	ps := g.cmd.ProcessState
	if !s.ok || err != nil || berr != nil || ps == nil {
		return 0, nil
	}
	// ProcessState's times include the generator's own children (tlsbench -procs), which it
	// waited for.
	gen := ps.UserTime() + ps.SystemTime()
	other := max((m-s.machine)-target-gen-(b.CPU-s.backend)-(selfCPU()-s.me), 0)
	if other < 250*time.Millisecond {
		return other, nil
	}
	ours := map[int]bool{os.Getpid(): true, s.backendPID: true, g.pid(): true}
	for _, c := range t.procs {
		ours[c.pid()] = true
	}
	return other, topConsumers(s.procs, scanProcesses(), func(pid int) bool { return ours[pid] }, 3)
}

// selfCPU is this process's CPU time, all threads.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
