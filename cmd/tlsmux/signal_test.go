package main

import (
	"crypto/tls"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/syncbuf"
)

// TestSIGTERMShutsDownCleanly runs the real serve path, makes a TLS connection, sends the process
// SIGTERM, and expects exit status 0 with the shutdown logged.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	var out syncbuf.Buffer
	var errb syncbuf.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"-listen", "tls:127.0.0.1:0", "-backend", "tcp:127.0.0.1:9", "-shutdown-grace", "1s"}, &out, &errb)
	}()
	addrRE := regexp.MustCompile(`msg="tlsmux serving" listen="?\[([0-9.:]+)\]`)
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case c := <-code:
			t.Fatalf("run exited with %d before serving:\n%s", c, errb.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "no 'tlsmux serving' line:\n%s", errb.String())
		time.Sleep(10 * time.Millisecond) // polling the log of a running server
	}
	// The throwaway certificate is not trusted by anyone: skip verification for this check.
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	c.Close()

	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	select {
	case c := <-code:
		assert.Equal(t, exitOK, c, errb.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM:\n%s", errb.String())
	}
	assert.Contains(t, errb.String(), "shutting down")
	assert.Contains(t, errb.String(), "signal=terminated")
	assert.Contains(t, errb.String(), "msg=stopped")
	assert.Contains(t, errb.String(), "sha256=", "the throwaway certificate's fingerprint is logged")
}
