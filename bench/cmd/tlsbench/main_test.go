package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestBinaryBackend runs the built command: `tlsbench backend` announces its address, keeps
// serving with /dev/null as stdin (not a pipe: its end means nothing), stops on SIGTERM with
// status 0, and stops when a piped stdin closes.
func TestBinaryBackend(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tlsbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, piped := range []bool{false, true} {
		cmd := exec.Command(bin, "backend")
		var stdin io.WriteCloser
		if piped {
			var err error
			if stdin, err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
		} // else: exec gives /dev/null
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "BACKEND 127.0.0.1:") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("first line %q (%v)", line, err)
		}
		// It serves: a keepalive ping is answered with a pong (RFC 5626 §4.4.1).
		c, err := net.DialTimeout("tcp", strings.TrimSpace(strings.TrimPrefix(line, "BACKEND ")), 10*time.Second)
		if err != nil {
			t.Fatalf("piped %v: %v", piped, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		pong := make([]byte, 2)
		if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, pong); err != nil || string(pong) != "\r\n" {
			t.Errorf("piped %v: pong %q, %v", piped, pong, err)
		}
		c.Close()
		if piped {
			stdin.Close()
		} else {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || !strings.Contains(stderr.String(), "backend: stopped") {
				t.Errorf("piped %v: exit %v; stderr:\n%s", piped, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("piped %v: backend did not stop", piped)
		}
	}
	// Bad flags: status 2.
	err := exec.Command(bin, "echo", "-conns", "0").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("bad flags: %v", err)
	}
}
