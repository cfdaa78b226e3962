package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
	"github.com/tlsmux/tlsmux/internal/testcert"
)

// TestMain doubles as the demo's peer process: the demo re-executes os.Executable(), which in a
// test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == demoPeer {
		os.Exit(runDemoPeer(os.Args[2:]))
	}
	leakcheck.Main(m)
}

func TestBadFlagsExitUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-loops", "x"}, []string{"-loops"}},
		{[]string{"-proxy-protocol", "v9", "-con-ct-wq-max", "0"}, []string{"-proxy-protocol", "-con-ct-wq-max"}},
		{[]string{"-tls-method", "SSLv3", "-cipher-list", "FOO-BAR", "-curves", "P-999"}, []string{"-tls-method", "SSLv3", "FOO-BAR", "P-999"}},
		{[]string{"-certificate", "/nonexistent/cert.pem"}, []string{"-certificate", "/nonexistent/cert.pem"}},
		{[]string{"stray"}, []string{"unexpected argument"}},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		assert.Equal(t, exitUsage, code, "%v", tc.args)
		for _, w := range tc.want {
			assert.Contains(t, errb.String(), w, "%v", tc.args)
		}
	}
}

func TestEncryptedKeyRefused(t *testing.T) {
	dir := t.TempDir()
	pki := testcert.MustNew()
	cert, _, err := pki.WriteServerFiles(dir, "sip.example.net")
	require.NoError(t, err)
	key := filepath.Join(dir, "enc.key")
	require.NoError(t, os.WriteFile(key, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600))
	var out, errb bytes.Buffer
	code := run([]string{"-certificate", cert, "-private-key", key}, &out, &errb)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errb.String(), "encrypted")
	assert.Contains(t, errb.String(), key)
}

func TestListenFailureExitsFailed(t *testing.T) {
	var out, errb bytes.Buffer
	// 192.0.2.1 (TEST-NET-1, RFC 5737) is not an address of this machine: bind fails.
	code := run([]string{"-listen", "tls:192.0.2.1:5061", "-log-level", "error"}, &out, &errb)
	assert.Equal(t, exitFailed, code, errb.String())
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process and a load")
	}
	var out, errb bytes.Buffer
	code := run([]string{"demo", "-exit", "-listen", "tls:127.0.0.1:0", "-conns", "40", "-concurrency", "10",
		"-messages", "5", "-log-level", "warn"}, &out, &errb)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	s := out.String()
	for _, w := range []string{"all 40 connections open", "KiB per TLS connection", "40 ok, 0 failed", "200 echoed", "40 OPTIONS sent"} {
		assert.True(t, strings.Contains(s, w), "demo output lacks %q:\n%s", w, s)
	}
}
