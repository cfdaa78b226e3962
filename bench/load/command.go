package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Exit statuses of Main.
const (
	ExitOK     = 0 // the run produced its result (which may count failures)
	ExitFailed = 1 // the run could not be made: a file, a child process, the backend's listener
	ExitUsage  = 2 // bad flags
)

// Stdio is where a run takes its control lines from and writes its output.
type Stdio struct {
	// In carries the control lines ("GO") and its end (EOF) means "stop" to idle, the backend
	// and child processes; see the package doc. An *os.File that is not a pipe or a socket
	// (a terminal, /dev/null) is not watched for its end. Nil means no control input.
	In  io.Reader
	Out io.Writer // READY and BACKEND lines, the result
	Err io.Writer // progress lines and errors
}

// Main runs tlsbench: args are the command line without the program name, subcommand first.
// It returns the exit status. Ending ctx (the command ends it on SIGINT and SIGTERM) ends the
// run early; the result then describes what was done.
func Main(ctx context.Context, args []string, stdio Stdio) int {
	cfg, err := ParseArgs(args, stdio.Err)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case err != nil:
		return ExitUsage // ParseArgs has said why on stderr
	}
	b := &bench{cfg: cfg, out: &lockedWriter{w: stdio.Out}, errw: &lockedWriter{w: stdio.Err}}
	b.watchInput(stdio.In)
	if cfg.Scenario == Backend {
		return b.backend(ctx)
	}
	if b.tls, err = clientTLS(&b.cfg); err != nil {
		fmt.Fprintf(stdio.Err, "tlsbench %s: %v\n", cfg.Scenario, err)
		return ExitFailed
	}
	b.src = cfg.srcAddrs()
	if cfg.Child > 0 {
		// A child stops when its parent closes its stdin (or dies, which closes it too).
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		var watch sync.WaitGroup
		watch.Go(func() {
			select {
			case <-b.eof:
				cancel()
			case <-ctx.Done():
			}
		})
		defer watch.Wait()
		defer cancel()
	}
	var res *Result
	if cfg.procs() > 1 {
		res, err = b.parent(ctx)
	} else {
		res, err = b.run(ctx)
	}
	if res == nil {
		fmt.Fprintf(stdio.Err, "tlsbench %s: %v\n", cfg.Scenario, err)
		return ExitFailed
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stdio.Err, "tlsbench %s: %v\n", cfg.Scenario, err)
	}
	switch {
	case cfg.Child > 0:
		enc, _ := json.Marshal(res.wire(true))
		b.out.println(string(enc))
	case cfg.JSON:
		enc, _ := json.Marshal(res)
		b.out.println(string(enc))
	default:
		b.out.print(res.Text(cfg.Target))
	}
	return ExitOK
}

// bench is one run of a subcommand.
type bench struct {
	cfg  Config
	tls  *tls.Config
	src  []netip.Addr
	out  *lockedWriter
	errw *lockedWriter

	// Control input (watchInput). eof is closed at the end of stdin when stdin is watched for
	// it, and nil (never ready) otherwise; goLines receives each "GO".
	eof     chan struct{}
	goLines chan struct{}
	inEOF   chan struct{} // the end of stdin, whatever stdin is
}

// watchInput starts reading the control input. Idle, the backend and children stop when it
// ends, but only if it is a pipe or socket: a terminal or /dev/null as stdin (a run from a
// shell, or a parent that gave no stdin) must not end a hold at once. A storm reads its GO
// from any stdin, and takes its end as GO: no GO can come after it.
func (b *bench) watchInput(in io.Reader) {
	b.goLines = make(chan struct{}, 1)
	b.inEOF = make(chan struct{})
	if in == nil {
		return
	}
	if isPipe(in) {
		b.eof = b.inEOF
	}
	if b.eof == nil && (b.cfg.Scenario != Storm || b.cfg.Auto) {
		return // nothing would look at it
	}
	go func() {
		defer close(b.inEOF)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "GO" {
				select {
				case b.goLines <- struct{}{}:
				default: // one pending GO is enough
				}
			}
		}
	}()
}

func isPipe(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return true // an in-process caller's reader (tests)
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0
}

// run runs the scenario in this process.
func (b *bench) run(ctx context.Context) (*Result, error) {
	p := b.startProgress()
	defer p.stop()
	switch b.cfg.Scenario {
	case Handshake:
		return b.handshake(ctx, p)
	case Idle:
		return b.idle(ctx, p)
	case Echo:
		return b.echo(ctx, p)
	case Storm:
		return b.storm(ctx, p)
	case Stall:
		return b.stall(ctx, p)
	}
	return nil, fmt.Errorf("unknown scenario %q", b.cfg.Scenario) // not reached: checked
}

// ready announces that every connection is made: "READY n" on stdout.
func (b *bench) ready(n int) { b.out.println(fmt.Sprintf("READY %d", n)) }

// lockedWriter serialises whole lines from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) print(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, s)
}

func (l *lockedWriter) println(s string) { l.print(s + "\n") }

// Write makes a lockedWriter an io.Writer (children's stderr is copied into it).
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// progressInterval is how often progress lines are printed.
const progressInterval = time.Second

// progress prints a line on stderr every progressInterval while the count it watches changes
// ("progress: 4500/9000 established"); a child process prints "PROGRESS label n total" on
// stdout instead, for its parent to add up.
type progress struct {
	b    *bench
	mu   sync.Mutex
	fn   func() (label string, n, total int) // nil: nothing to report
	done chan struct{}
	wg   sync.WaitGroup
}

func (b *bench) startProgress() *progress {
	p := &progress{b: b, done: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			p.mu.Lock()
			fn := p.fn
			p.mu.Unlock()
			if fn == nil {
				continue
			}
			label, n, total := fn()
			line := progressLine(label, n, total)
			if b.cfg.Child > 0 {
				line = fmt.Sprintf("PROGRESS %s %d %d", label, n, total)
			}
			if line == last {
				continue
			}
			last = line
			if b.cfg.Child > 0 {
				b.out.println(line)
			} else {
				b.errw.println(line)
			}
		}
	})
	return p
}

// set makes p report fn from now on; nil stops reporting.
func (p *progress) set(fn func() (label string, n, total int)) {
	p.mu.Lock()
	p.fn = fn
	p.mu.Unlock()
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

func progressLine(label string, n, total int) string {
	if total > 0 {
		return fmt.Sprintf("progress: %d/%d %s", n, total, label)
	}
	return fmt.Sprintf("progress: %d %s", n, label)
}
