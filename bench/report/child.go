package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on the child processes. Every wait for a child is bounded by one of them.
const (
	readyTimeout = 20 * time.Second // from start until a target or the backend says it serves
	stopGrace    = 15 * time.Second // from SIGTERM until the child must have exited
	pipeDelay    = 5 * time.Second  // exec.Cmd.WaitDelay: after exit, until its pipes are closed anyway
	tailLines    = 20               // stderr lines kept for error messages
	maxLine      = 1 << 20          // a longer line is cut (tlsbench's JSON result is far shorter)
)

// lineWriter splits what a child writes into lines and hands each to fn. It serves as
// exec.Cmd.Stdout or Stderr, so exec's own copying goroutine, which Cmd.Wait waits for, does
// the reading. It keeps the last tailLines lines, and with keep every line, for the caller.
type lineWriter struct {
	fn   func(line string) // called on exec's copying goroutine, one line at a time
	keep bool

	mu   sync.Mutex
	part []byte   // an incomplete last line
	tail []string // the last tailLines lines
	all  []byte   // every line, with keep
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	var lines []string
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			if len(w.part) > maxLine {
				i = len(w.part)
			} else {
				break
			}
		}
		line := strings.TrimRight(string(w.part[:i]), "\r")
		w.part = w.part[min(i+1, len(w.part)):]
		lines = append(lines, line)
		w.tail = append(w.tail, line)
		if len(w.tail) > tailLines {
			w.tail = w.tail[len(w.tail)-tailLines:]
		}
		if w.keep {
			w.all = append(append(w.all, line...), '\n')
		}
	}
	w.mu.Unlock()
	if w.fn != nil {
		for _, l := range lines {
			w.fn(l)
		}
	}
	return len(p), nil
}

// Tail returns the last lines written, and an incomplete last line.
func (w *lineWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.Join(w.tail, "\n")
	if len(w.part) > 0 {
		s += "\n" + string(w.part)
	}
	return s
}

// All returns every line written (with keep), and an incomplete last line.
func (w *lineWriter) All() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(append([]byte(nil), w.all...), w.part...)
}

// pinning says where processes run: the target on one CPU, the load generator and the echo
// backend on another, when taskset exists and two CPUs are allowed.
type pinning struct {
	taskset     string // path; "" when not pinning
	target, gen int    // CPU numbers
	why         string // why not pinned, when taskset is ""
}

func findPinning() pinning {
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{why: "taskset not found"}
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return pinning{why: err.Error()}
	}
	if len(cpus) < 2 {
		return pinning{why: fmt.Sprintf("only CPU %d is allowed", cpus[0])}
	}
	return pinning{taskset: path, target: cpus[0], gen: cpus[1]}
}

// String describes the pinning for the report.
func (p pinning) String() string {
	if p.taskset == "" {
		return "not pinned (" + p.why + "): target, generator and backend share the CPUs"
	}
	return fmt.Sprintf("target pinned to CPU %d, load generator and echo backend to CPU %d (taskset)", p.target, p.gen)
}

// role is where a child runs.
type role int

const (
	roleTarget role = iota
	roleGenerator
)

// child is a process the report started. Its methods are called from the report's goroutine;
// the lineWriter callbacks run on exec's copying goroutines.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lineWriter
	errw  *lineWriter

	done chan struct{} // closed when Wait has returned
	err  error         // Wait's result; read after done
}

// startChild starts bin with args, pinned as r says. onOut and onErr receive its stdout and
// stderr lines; keepOut keeps all of stdout for child.out.All.
func startChild(ctx context.Context, pin pinning, r role, name, bin string, args []string,
	onOut, onErr func(string), keepOut bool) (*child, error) {
	path, argv := bin, args
	if pin.taskset != "" {
		cpu := pin.target
		if r == roleGenerator {
			cpu = pin.gen
		}
		path, argv = pin.taskset, append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
	}
	cmd := exec.CommandContext(ctx, path, argv...)
	// On cancellation (the report interrupted), ask nicely first; WaitDelay then kills.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = pipeDelay
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	c.out = &lineWriter{fn: onOut, keep: keepOut}
	c.errw = &lineWriter{fn: onErr}
	cmd.Stdout, cmd.Stderr = c.out, c.errw
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = in
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id; with taskset it is the target's own, as taskset execs it.
func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits up to limit for the child to exit by itself, then stops it.
func (c *child) wait(limit time.Duration) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-c.done:
		return c.exitErr()
	case <-t.C:
		c.stop()
		return fmt.Errorf("%s did not finish within %v: stopped", c.name, limit)
	}
}

// stop closes the child's stdin, sends SIGTERM and waits up to stopGrace, then kills it. It
// returns the exit error: nil for status 0.
func (c *child) stop() error {
	c.stdin.Close()
	if c.exited() {
		return c.exitErr()
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-c.done:
		return c.exitErr()
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s ignored SIGTERM for %v and was killed", c.name, stopGrace)
	}
}

func (c *child) exitErr() error {
	if c.err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return fmt.Errorf("%s exited with %v; its last lines:\n%s", c.name, ee.ProcessState, indentLines(c.errw.Tail()))
	}
	return fmt.Errorf("%s: %w", c.name, c.err)
}

// awaitLine waits for the child to print a line that ready accepts (ready runs on the copying
// goroutine and must send on found itself) and returns what was sent.
func (c *child) await(ctx context.Context, found <-chan string, limit time.Duration) (string, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case s := <-found:
		return s, nil
	case <-c.done:
		return "", fmt.Errorf("%s exited before it was ready: %v\n%s", c.name, c.err, indentLines(c.errw.Tail()))
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
		return "", fmt.Errorf("%s not ready after %v; its last lines:\n%s", c.name, limit, indentLines(c.errw.Tail()))
	}
}

func indentLines(s string) string {
	if s == "" {
		return "    (nothing)"
	}
	var b strings.Builder
	for l := range strings.Lines(s) {
		b.WriteString("    " + strings.TrimRight(l, "\n") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// sendOnce returns a function that sends its argument on ch without blocking, once.
func sendOnce(ch chan<- string) func(string) {
	var once sync.Once
	return func(s string) { once.Do(func() { ch <- s }) }
}
