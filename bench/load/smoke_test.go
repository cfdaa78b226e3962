package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/syncbuf"
	"github.com/tlsmux/tlsmux/internal/testcert"
)

// The smoke tests run every subcommand, small, against the real tlsmux binary (built from
// ./cmd/tlsmux: bench never imports the daemon) in front of `tlsbench backend`, and check
// that each reports zero failures and zero mismatches.

// fixture is what the smoke tests share: the tlsmux binary, a certificate and the backend.
type fixture struct {
	bin               string
	cert, key, ca     string
	pin               string
	backend           string // host:port of `tlsbench backend`
	backendStderr     *syncbuf.Buffer
	stopBackend       func() int
	certDir, buildDir string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{buildDir: t.TempDir(), certDir: t.TempDir()}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(gomod)) == 0 {
		t.Fatalf("go env GOMOD: %v %q", err, gomod)
	}
	f.bin = filepath.Join(f.buildDir, "tlsmux")
	build := exec.Command("go", "build", "-o", f.bin, "./cmd/tlsmux")
	build.Dir = filepath.Dir(string(bytes.TrimSpace(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tlsmux: %v\n%s", err, out)
	}
	pki := testcert.MustNew()
	if f.cert, f.key, err = pki.WriteServerFiles(f.certDir, "sip.test"); err != nil {
		t.Fatal(err)
	}
	if f.ca, err = pki.WriteCAFile(f.certDir); err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(f.cert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(block.Bytes)
	f.pin = hex.EncodeToString(sum[:])

	// The backend: tlsbench's own subcommand, in this process, stopped by closing its stdin.
	r := startMain(t, "backend")
	line := r.next(t)
	var ok bool
	if f.backend, ok = strings.CutPrefix(line, "BACKEND "); !ok {
		t.Fatalf("backend said %q", line)
	}
	f.backendStderr = r.stderr
	f.stopBackend = r.finish
	return f
}

var serveRE = regexp.MustCompile(`msg="tlsmux serving" listen="?\[([^\]\s"]+)`)

// tlsmux starts the tlsmux binary in front of the backend and returns its address; it is
// stopped with SIGTERM when the test ends.
func (f *fixture) tlsmux(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"-listen", "tls:127.0.0.1:0", "-backend", "tcp:" + f.backend,
		"-certificate", f.cert, "-private-key", f.key, "-log-level", "info", "-shutdown-grace", "1s"}, extra...)
	cmd := exec.Command(f.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log syncbuf.Buffer
	found := make(chan string, 1)
	var reader sync.WaitGroup
	reader.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if m := serveRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	})
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() {
			reader.Wait() // the pipe ends when tlsmux exits
			exited <- cmd.Wait()
		}()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tlsmux exited with %v:\n%s", err, log.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("tlsmux did not stop on SIGTERM:\n%s", log.String())
		}
	})
	select {
	case addr := <-found:
		return addr
	case <-time.After(20 * time.Second):
		t.Fatalf("no 'tlsmux serving' line:\n%s", log.String())
	}
	return ""
}

// run runs tlsbench in this process with no stdin and returns its result and stderr.
func (f *fixture) run(t *testing.T, args ...string) (wire, string) {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	code := Main(context.Background(), args, Stdio{Out: &stdout, Err: &stderr})
	if code != ExitOK {
		t.Fatalf("tlsbench %q: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	return lastResult(t, stdout.String()), stderr.String()
}

func lastResult(t *testing.T, stdout string) wire {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var w wire
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &w); err != nil {
		t.Fatalf("no JSON result: %v\n%s", err, stdout)
	}
	return w
}

// clean checks that a result counts every connection ok, with no failure and no mismatch.
func clean(t *testing.T, w wire, conns int) {
	t.Helper()
	if w.Conns != conns || w.OK != conns || w.Failed != 0 || len(w.Failures) != 0 || w.Mismatches != 0 {
		b, _ := json.Marshal(w)
		t.Fatalf("want %d conns all ok: %s", conns, b)
	}
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// started is tlsbench running in this process, with a stdin and a stdout we hold.
type started struct {
	stdin  *io.PipeWriter
	lines  chan string // stdout, line by line; closed at its end
	stderr *syncbuf.Buffer
	code   chan int
	all    []string // lines taken so far

	once     sync.Once
	exitCode int
}

func startMain(t *testing.T, args ...string) *started {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &started{stdin: inW, lines: make(chan string, 1024), stderr: &syncbuf.Buffer{}, code: make(chan int, 1)}
	go func() {
		code := Main(context.Background(), args, Stdio{In: inR, Out: outW, Err: s.stderr})
		outW.Close()
		inR.Close()
		s.code <- code
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { s.finish() })
	return s
}

// next returns the next line of stdout.
func (s *started) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			t.Fatalf("stdout ended; stderr:\n%s", s.stderr.String())
		}
		s.all = append(s.all, l)
		return l
	case <-time.After(60 * time.Second):
		t.Fatalf("no line on stdout; stderr:\n%s", s.stderr.String())
	}
	return ""
}

// finish closes stdin, waits for the exit status (-2 if there is none within a minute) and
// returns it; later calls return the same.
func (s *started) finish() int {
	s.once.Do(func() {
		s.stdin.Close()
		select {
		case s.exitCode = <-s.code:
			for range s.lines {
			}
		case <-time.After(60 * time.Second):
			s.exitCode = -2
		}
	})
	return s.exitCode
}

// result reads stdout to its end and returns the JSON result, which must be the last line.
func (s *started) result(t *testing.T) wire {
	t.Helper()
	for l := range s.lines {
		s.all = append(s.all, l)
	}
	if code := s.finish(); code != ExitOK {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, strings.Join(s.all, "\n"), s.stderr.String())
	}
	return lastResult(t, strings.Join(s.all, "\n"))
}

func TestAgainstTLSMux(t *testing.T) {
	f := newFixture(t)
	target := f.tlsmux(t, "-session-cache")
	common := func(scenario string, args ...string) []string {
		return append([]string{scenario, "-target", target, "-servername", "sip.test", "-ca", f.ca, "-json", "-timeout", "20s"}, args...)
	}

	t.Run("handshake", func(t *testing.T) {
		w, _ := f.run(t, common("handshake", "-conns", "50", "-concurrency", "5")...)
		clean(t, w, 50)
		if val(w.Handshakes) != 50 || val(w.Resumed) != 0 || val(w.HandshakesPerS) <= 0 || w.HandshakeLatency == nil || w.Procs != 1 {
			t.Errorf("%+v", w)
		}
	})
	t.Run("handshake resumed", func(t *testing.T) {
		w, _ := f.run(t, common("handshake", "-conns", "50", "-concurrency", "5", "-resume")...)
		clean(t, w, 50)
		if val(w.Handshakes) != 50 || val(w.Resumed) != 45 {
			t.Errorf("handshakes %d, resumed %d; want 50, 45", val(w.Handshakes), val(w.Resumed))
		}
	})
	t.Run("idle", func(t *testing.T) {
		// No stdin: the hold lasts -duration, long enough for keepalives every 100ms.
		var stdout, stderr syncbuf.Buffer
		code := Main(context.Background(), common("idle", "-conns", "50", "-concurrency", "10", "-keepalive", "100ms", "-duration", "1s"),
			Stdio{Out: &stdout, Err: &stderr})
		if code != ExitOK || !strings.HasPrefix(stdout.String(), "READY 50\n{") {
			t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		}
		w := lastResult(t, stdout.String())
		clean(t, w, 50)
		if val(w.Alive) != 50 || val(w.Pongs) < 50 || val(w.EstablishedS) <= 0 || w.ElapsedS < 1 {
			t.Errorf("alive %d, pongs %d, established %v, elapsed %v", val(w.Alive), val(w.Pongs), val(w.EstablishedS), w.ElapsedS)
		}
		if !strings.Contains(stderr.String(), "progress: ") {
			t.Errorf("no progress line on stderr:\n%s", stderr.String())
		}
	})
	t.Run("idle until stdin closes", func(t *testing.T) {
		r := startMain(t, common("idle", "-conns", "30", "-duration", "10m")...)
		if l := r.next(t); l != "READY 30" {
			t.Fatalf("first line %q", l)
		}
		r.stdin.Close() // ends the hold long before -duration
		w := r.result(t)
		clean(t, w, 30)
		if val(w.Alive) != 30 {
			t.Errorf("alive %d", val(w.Alive))
		}
	})
	t.Run("echo", func(t *testing.T) {
		w, _ := f.run(t, common("echo", "-conns", "20", "-size", "1024", "-duration", "1s")...)
		clean(t, w, 20)
		if val(w.Messages) < 20 || val(w.MessagesPerS) <= 0 || val(w.MBPerS) <= 0 || w.Latency == nil || w.Latency.P50 <= 0 || w.Latency.P999 < w.Latency.P50 {
			b, _ := json.Marshal(w)
			t.Errorf("%s", b)
		}
	})
	t.Run("echo 16KiB", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		w, _ := f.run(t, common("echo", "-concurrency", "4", "-size", "16KiB", "-duration", "1s")...)
		clean(t, w, 4)
		if val(w.Messages) < 4 {
			t.Errorf("messages %d", val(w.Messages))
		}
	})
	t.Run("storm", func(t *testing.T) {
		r := startMain(t, common("storm", "-conns", "50", "-concurrency", "10")...)
		if l := r.next(t); l != "READY 50" {
			t.Fatalf("first line %q", l)
		}
		io.WriteString(r.stdin, "GO\n")
		w := r.result(t)
		clean(t, w, 50)
		if val(w.Alive) != 50 || val(w.Handshakes) != 100 || val(w.RecoveryS) <= 0 || w.ReconnectLatency == nil {
			b, _ := json.Marshal(w)
			t.Errorf("%s", b)
		}
	})
	t.Run("verification", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			failed int
		}{
			{[]string{"-pin", f.pin}, 0},
			{[]string{"-pin", strings.ToUpper(f.pin[:2]) + ":" + f.pin[2:]}, 0},
			{[]string{"-insecure"}, 0},
			{[]string{"-pin", strings.Repeat("00", 32)}, 3},
			{nil, 3}, // the system roots do not know the test CA
		} {
			args := append([]string{"handshake", "-target", target, "-servername", "sip.test", "-json", "-conns", "3"}, tc.args...)
			w, _ := f.run(t, args...)
			if w.Failed != tc.failed || w.Failures["handshake"] != tc.failed {
				t.Errorf("%q: %+v", tc.args, w)
			}
		}
	})
	t.Run("stall", func(t *testing.T) {
		// A tlsmux that gives up on stalled handshakes quickly, so the stallers are closed
		// and made again during the run.
		stallTarget := f.tlsmux(t, "-hello-timeout", "300ms", "-handshake-timeout", "300ms")
		args := common("stall", "-conns", "10", "-concurrency", "4", "-duration", "2s")
		args[2] = stallTarget
		w, _ := f.run(t, args...)
		clean(t, w, 8) // both phases' echo connections
		if val(w.Stallers) != 10 || val(w.StallerCloses) == 0 || val(w.StallerFailures) != 0 || w.Latency == nil || w.BaselineLatency == nil ||
			val(w.BaselineMessagesPerS) <= 0 || val(w.MessagesPerS) <= 0 {
			b, _ := json.Marshal(w)
			t.Errorf("%s", b)
		}
	})
	t.Run("procs", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: starts child processes")
		}
		t.Run("handshake", func(t *testing.T) {
			w, _ := f.run(t, common("handshake", "-conns", "40", "-concurrency", "4", "-procs", "2")...)
			clean(t, w, 40)
			if w.Procs != 2 || val(w.Handshakes) != 40 || w.HandshakeLatency == nil {
				t.Errorf("%+v", w)
			}
		})
		t.Run("idle", func(t *testing.T) {
			r := startMain(t, common("idle", "-conns", "40", "-duration", "10m", "-procs", "2", "-src", "127.0.0.2-127.0.0.5")...)
			if l := r.next(t); l != "READY 40" {
				t.Fatalf("first line %q", l)
			}
			r.stdin.Close()
			w := r.result(t)
			clean(t, w, 40)
			if w.Procs != 2 || val(w.Alive) != 40 {
				t.Errorf("%+v", w)
			}
		})
		t.Run("echo", func(t *testing.T) {
			w, stderr := f.run(t, common("echo", "-conns", "40", "-duration", "1s", "-procs", "2")...)
			clean(t, w, 40)
			if w.Procs != 2 || val(w.Messages) < 40 || w.Latency == nil {
				t.Errorf("%+v", w)
			}
			if strings.Contains(stderr, "PROGRESS") {
				t.Errorf("children's protocol lines reached stderr:\n%s", stderr)
			}
		})
		t.Run("storm", func(t *testing.T) {
			r := startMain(t, common("storm", "-conns", "40", "-procs", "2", "-auto")...)
			if l := r.next(t); l != "READY 40" {
				t.Fatalf("first line %q", l)
			}
			w := r.result(t)
			clean(t, w, 40)
			if w.Procs != 2 || val(w.Alive) != 40 || val(w.RecoveryS) <= 0 {
				t.Errorf("%+v", w)
			}
		})
		t.Run("stall", func(t *testing.T) {
			w, _ := f.run(t, common("stall", "-conns", "10", "-concurrency", "4", "-duration", "1s", "-procs", "2")...)
			clean(t, w, 8)
			if w.Procs != 2 || val(w.Stallers) != 10 || w.BaselineLatency == nil {
				t.Errorf("%+v", w)
			}
		})
	})

	// The backend served everything above and stops when its stdin closes.
	if code := f.stopBackend(); code != ExitOK {
		t.Errorf("backend exit %d", code)
	}
	if m := regexp.MustCompile(`(\d+) echoed`).FindStringSubmatch(f.backendStderr.String()); m == nil || m[1] == "0" {
		t.Errorf("backend summary: %s", f.backendStderr.String())
	} else if n, _ := strconv.Atoi(m[1]); n < 20 {
		t.Errorf("backend echoed %d", n)
	}
}
