package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child is one child process of a parent run, as the parent sees it.
type child struct {
	k     int // 1..P
	cmd   *exec.Cmd
	stdin io.WriteCloser

	shares [3]int // conns, workers, stallers given to it

	// Written by the parent's loop only.
	ready    []int     // the n of each READY line so far
	progress [3]string // the last PROGRESS line: label, n, total
	res      *Result   // from the final JSON line
	resErr   error     // the final line did not parse
	bad      []string  // lines that were none of the above
	done     bool      // stdout ended
	closed   bool      // stdin closed
	reaped   bool      // Wait returned
}

// childEvent is one line of a child's stdout, or its end.
type childEvent struct {
	k    int
	line string
	eof  bool
}

// share is part k (0-based) of n split into p nearly equal parts.
func share(n, p, k int) int {
	s := n / p
	if k < n%p {
		s++
	}
	return s
}

// killGrace bounds how long children get to exit after their stdin is closed.
const killGrace = 30 * time.Second

// parent spreads the run over child processes of this same program (os.Executable), each
// running the scenario on its share of the connections with -child, and merges their results.
// It speaks the protocol of the package doc with them: it waits until every child has said
// READY, then acts as one process would (prints READY, waits for GO, ...), and tells the
// children GO or closes their stdin.
func (b *bench) parent(ctx context.Context) (*Result, error) {
	cfg := &b.cfg
	n, c, m := cfg.Loads()
	p := min(cfg.procs(), n)
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	events := make(chan childEvent, 64)
	var readers sync.WaitGroup
	kids := make([]*child, 0, p)
	defer func() {
		// On an early return, stop whatever was started; then reap every child.
		for _, kid := range kids {
			if !kid.closed {
				kid.stdin.Close()
			}
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range events { // until every reader has ended
			}
		}()
		readers.Wait()
		close(events)
		<-drained
		for _, kid := range kids {
			if !kid.reaped {
				kid.cmd.Wait()
			}
		}
	}()
	first := 0
	for k := range p {
		kid := &child{k: k + 1, shares: [3]int{share(n, p, k), max(1, share(c, p, k)), share(m, p, k)}}
		kid.cmd = exec.Command(exe, b.childArgs(kid.k, kid.shares, first)...)
		first += kid.shares[0] + kid.shares[2]
		kid.cmd.Stderr = b.errw
		kid.cmd.WaitDelay = killGrace
		if kid.stdin, err = kid.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		stdout, err := kid.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := kid.cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting child %d: %w", kid.k, err)
		}
		kids = append(kids, kid)
		readers.Go(func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 16<<20) // the result carries histograms
			for sc.Scan() {
				events <- childEvent{k: kid.k, line: sc.Text()}
			}
			events <- childEvent{k: kid.k, eof: true}
		})
	}

	pl := &parentLoop{b: b, kids: kids}
	pl.run(ctx, events)

	var errs []error
	var res *Result
	for _, kid := range kids {
		exitErr := kid.cmd.Wait()
		kid.reaped = true
		switch {
		case kid.res == nil && kid.resErr != nil:
			errs = append(errs, fmt.Errorf("child %d: bad result: %w", kid.k, kid.resErr))
		case kid.res == nil:
			errs = append(errs, fmt.Errorf("child %d ended without a result (%v)", kid.k, exitErr))
		case res == nil:
			res = kid.res
		default:
			res.merge(kid.res)
		}
		for _, l := range kid.bad {
			b.errw.println(fmt.Sprintf("child %d said: %s", kid.k, l))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return res, ctx.Err()
}

// childArgs is the command line of child k: the scenario with its share of the counts, the
// whole run's source spread, and the child's place in it.
func (b *bench) childArgs(k int, shares [3]int, first int) []string {
	cfg := &b.cfg
	itoa := strconv.Itoa
	a := []string{cfg.Scenario, "-child", itoa(k), "-first", itoa(first), "-procs", "1", "-json",
		"-target", cfg.Target, "-size", itoa(cfg.Size), "-duration", cfg.Duration.String(),
		"-timeout", cfg.Timeout.String(), "-keepalive", cfg.KeepAlive.String(),
		"-conns", itoa(shares[0]), "-concurrency", itoa(shares[1])}
	if cfg.Scenario == Stall {
		a = append(a, "-stallers", itoa(shares[2]))
	}
	for _, f := range []struct{ name, v string }{{"-servername", cfg.ServerName}, {"-ca", cfg.CA}, {"-pin", cfg.Pin}, {"-src", cfg.src()}} {
		if f.v != "" {
			a = append(a, f.name, f.v)
		}
	}
	if cfg.Insecure {
		a = append(a, "-insecure")
	}
	if cfg.Resume {
		a = append(a, "-resume")
	}
	return a
}

// parentLoop is the parent's side of the protocol; its fields belong to run's goroutine.
type parentLoop struct {
	b      *bench
	kids   []*child
	rounds int // READY rounds every child has reached

	hold   <-chan time.Time // idle: the end of the hold
	stdin  <-chan struct{}  // idle: the end of stdin; storm: the end of stdin, taken as GO
	goLine <-chan struct{}  // storm: a GO line
	goWait <-chan time.Time // storm: the longest wait for GO
	kill   <-chan time.Time // after stdin is closed: the end of the children's grace
	last   string           // the last progress line printed
}

func (pl *parentLoop) run(ctx context.Context, events <-chan childEvent) {
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	ctxDone := ctx.Done()
	live := len(pl.kids)
	for live > 0 {
		select {
		case ev := <-events:
			kid := pl.kids[ev.k-1]
			if ev.eof {
				kid.done = true
				live--
				if kid.res == nil {
					pl.closeAll() // a child failed: the others would wait for it forever
				}
				continue
			}
			pl.line(kid, ev.line)
		case <-tick.C:
			pl.printProgress()
		case <-pl.hold:
			pl.closeAll()
		case <-pl.stdin:
			pl.stdin = nil
			if pl.b.cfg.Scenario == Storm {
				pl.sendGO()
			} else {
				pl.closeAll()
			}
		case <-pl.goLine:
			pl.sendGO()
		case <-pl.goWait:
			pl.b.errw.println("storm: no GO within -duration; dropping now")
			pl.sendGO()
		case <-ctxDone:
			ctxDone = nil
			pl.closeAll()
		case <-pl.kill:
			pl.kill = nil
			for _, kid := range pl.kids {
				if !kid.done {
					kid.cmd.Process.Kill()
				}
			}
		}
	}
}

func (pl *parentLoop) line(kid *child, line string) {
	switch {
	case strings.HasPrefix(line, "READY "):
		n, err := strconv.Atoi(strings.TrimPrefix(line, "READY "))
		if err != nil {
			kid.bad = append(kid.bad, line)
			return
		}
		kid.ready = append(kid.ready, n)
		pl.maybeAllReady()
	case strings.HasPrefix(line, "PROGRESS "):
		f := strings.Fields(line)
		if len(f) < 4 {
			kid.bad = append(kid.bad, line)
			return
		}
		// The label may have spaces: the last two fields are the numbers.
		kid.progress = [3]string{strings.Join(f[1:len(f)-2], " "), f[len(f)-2], f[len(f)-1]}
	case strings.HasPrefix(line, "{"):
		kid.res, kid.resErr = parseChild([]byte(line))
	default:
		kid.bad = append(kid.bad, line)
	}
}

// maybeAllReady acts once every child has said READY for the next round: as a single process
// would at the end of its ramp-up.
func (pl *parentLoop) maybeAllReady() {
	r := len(pl.kids[0].ready)
	total := 0
	for _, kid := range pl.kids {
		r = min(r, len(kid.ready))
	}
	if r <= pl.rounds {
		return
	}
	pl.rounds = r
	for _, kid := range pl.kids {
		total += kid.ready[r-1]
	}
	b := pl.b
	switch b.cfg.Scenario {
	case Idle:
		b.ready(total)
		pl.hold = time.After(b.cfg.Duration)
		pl.stdin = b.eof
	case Storm:
		b.ready(total)
		if b.cfg.Auto {
			pl.sendGO()
			return
		}
		pl.goLine, pl.stdin, pl.goWait = b.goLines, b.inEOF, time.After(b.cfg.Duration)
	default: // echo, stall: start the window of every child at once
		pl.sendGO()
	}
}

func (pl *parentLoop) sendGO() {
	pl.goLine, pl.goWait = nil, nil
	if pl.b.cfg.Scenario == Storm {
		pl.stdin = nil
	}
	for _, kid := range pl.kids {
		if !kid.closed {
			io.WriteString(kid.stdin, "GO\n")
		}
	}
}

// closeAll closes every child's stdin, which ends idle holds and stops the other scenarios,
// and starts the countdown after which they are killed.
func (pl *parentLoop) closeAll() {
	pl.hold, pl.stdin, pl.goLine, pl.goWait = nil, nil, nil, nil
	for _, kid := range pl.kids {
		if !kid.closed {
			kid.closed = true
			kid.stdin.Close()
		}
	}
	if pl.kill == nil {
		pl.kill = time.After(killGrace + 2*pl.b.cfg.Timeout)
	}
}

// printProgress adds up the children's last progress lines, per label.
func (pl *parentLoop) printProgress() {
	type sum struct{ n, total int }
	sums := map[string]*sum{}
	for _, kid := range pl.kids {
		if kid.progress[0] == "" {
			continue
		}
		s := sums[kid.progress[0]]
		if s == nil {
			s = &sum{}
			sums[kid.progress[0]] = s
		}
		n, _ := strconv.Atoi(kid.progress[1])
		total, _ := strconv.Atoi(kid.progress[2])
		s.n += n
		s.total += total
	}
	if len(sums) == 0 {
		return
	}
	labels := make([]string, 0, len(sums))
	for l := range sums {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = progressLine(l, sums[l].n, sums[l].total)
	}
	line := strings.Join(parts, "; ")
	if line != pl.last {
		pl.last = line
		pl.b.errw.println(line)
	}
}
