package admin

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unixClient talks HTTP over the socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	e := start(t, newFake(2), func(o *Options) {
		o.Addr = ""
		o.UnixSocket = path
		o.loopback = []netip.Prefix{} // nothing is loopback: the socket is not subject to the rule
	})
	if e.s.Addr() != nil || e.s.SocketPath() != path {
		t.Fatalf("Addr %v SocketPath %q", e.s.Addr(), e.s.SocketPath())
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	// No temporary directory is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("beside the socket: %v", entries)
	}
	status, b := doPost(t, unixClient(path), "http://unix/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`)
	if r := decodeResp(t, b); status != http.StatusOK || r.Error != nil {
		t.Fatalf("over the socket: HTTP %d %s", status, b)
	}
	// Calls over the socket are logged with peer=unix.
	doPost(t, unixClient(path), "http://unix/RPC", `{"jsonrpc":"2.0","method":"conn.close","params":[2],"id":1}`)
	if !strings.Contains(e.log.String(), "method=conn.close peer=unix") {
		t.Fatalf("no audit line:\n%s", e.log)
	}
	// ctl over the socket.
	var out, errb bytes.Buffer
	if code := Ctl([]string{"-socket", path, "cfg.get", "tls", "verify_depth"}, &out, &errb); code != CtlOK || out.String() != "9\n" {
		t.Fatalf("ctl -socket: %d %q %q", code, out.String(), errb.String())
	}
	// A second endpoint on the same path is refused while the first serves.
	_, err = Serve(t.Context(), Options{UnixSocket: path, Target: newFake(0), Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "is in use: is another tlsmux running?") {
		t.Fatalf("second Serve on a live socket: %v", err)
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func TestUnixSocketMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	start(t, newFake(0), func(o *Options) { o.Addr, o.UnixSocket, o.UnixMode = "", path, 0o660 })
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("mode %v, %v; want 0660", fi.Mode(), err)
	}
}

func TestUnixSocketStaleAndForeign(t *testing.T) {
	dir := t.TempDir()
	// A stale socket, as a crashed daemon leaves it: nobody listens.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	e := start(t, newFake(0), func(o *Options) { o.Addr, o.UnixSocket = "", stale })
	if status, _ := doPost(t, unixClient(stale), "http://unix/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`); status != http.StatusOK {
		t.Fatalf("on a replaced stale socket: HTTP %d", status)
	}
	_ = e

	// A regular file is never replaced.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o644)
	_, err = Serve(t.Context(), Options{UnixSocket: file, Target: newFake(0), Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "exists and is not a socket; not replacing it") {
		t.Fatalf("Serve on a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the file was changed")
	}
	// A directory that does not exist.
	_, err = Serve(t.Context(), Options{UnixSocket: filepath.Join(dir, "no", "such", "s.sock"), Target: newFake(0), Logger: discardLogger()})
	if err == nil || !strings.Contains(err.Error(), "-admin-socket") {
		t.Fatalf("Serve in a missing directory: %v", err)
	}
}

// TestTCPAndUnix serves both listeners at once.
func TestTCPAndUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	e := start(t, newFake(1), func(o *Options) { o.UnixSocket = path })
	e.ok("tls.info", nil, nil)
	if status, _ := doPost(t, unixClient(path), "http://unix/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`); status != http.StatusOK {
		t.Fatalf("socket: HTTP %d", status)
	}
}
