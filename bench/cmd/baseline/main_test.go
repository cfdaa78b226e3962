package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
	"github.com/tlsmux/tlsmux/internal/testcert"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},                                    // no -backend, no -certificate
		{"-backend", "127.0.0.1:9"},           // no -certificate
		{"-certificate", "x", "-backend", ""}, // empty -backend
		{"-backend", "127.0.0.1:9", "-certificate", "/nonexistent.pem"},
		{"-backend", "127.0.0.1:9", "-certificate", "x", "extra"},
		{"-no-such-flag"},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errb), "%q", args)
		assert.Empty(t, out.String())
	}
}

// TestServeUntilSIGTERM runs the command as the report does: LISTEN on stdout, a TLS echo
// through it, then SIGTERM and exit status 0.
func TestServeUntilSIGTERM(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer echo.Close()
	wg.Go(func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	pki := testcert.MustNew()
	dir := t.TempDir()
	certFile, keyFile, err := pki.WriteServerFiles(dir, "sip.example.net")
	require.NoError(t, err)

	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-listen", "tls:127.0.0.1:0", "-backend", "tcp:" + echo.Addr().String(),
			"-certificate", certFile, "-private-key", keyFile}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	require.True(t, ok, "first line %q", line)

	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool(), ServerName: "sip.example.net"})
	require.NoError(t, err)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write([]byte("OPTIONS"))
	require.NoError(t, err)
	got := make([]byte, 7)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.Equal(t, "OPTIONS", string(got))

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case status := <-code:
		assert.Equal(t, 0, status)
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	_, err = c.Read(got)
	assert.Error(t, err, "the open connection is closed on the way out")
	c.Close()
}
