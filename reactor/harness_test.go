package reactor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/sipmsg"
	"github.com/tlsmux/tlsmux/internal/syncbuf"
	"github.com/tlsmux/tlsmux/internal/testcert"
	"github.com/tlsmux/tlsmux/reactor"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// env is tlsmux in front of the demo SIP core, on loopback.
type env struct {
	t      testing.TB
	pki    *testcert.PKI
	core   *sipcore.Server
	srv    *reactor.Server
	addr   string
	logs   *syncbuf.Buffer
	client *tls.Config // trusts pki, no client certificate
}

type setup struct {
	opts func(*reactor.Options)
	core sipcore.Options
	tls  func(*tls.Config, *testcert.PKI)
	// config, if set, makes the whole server config from the env's PKI (one built by package
	// profile, say) in place of the default one; tls is then not called.
	config func(*testcert.PKI) *tls.Config
	// backend overrides the SIP core (for a down or stalled backend).
	backend netip.AddrPort
}

func start(t testing.TB, s setup) *env {
	t.Helper()
	pki := testcert.MustNew()
	cert, err := pki.Server("sip.example.net")
	require.NoError(t, err)
	e := &env{t: t, pki: pki, logs: &syncbuf.Buffer{}}
	backend := s.backend
	if s.core.MaxMessage == 0 {
		s.core.MaxMessage = 1 << 20
	}
	if !backend.IsValid() {
		e.core, err = sipcore.Listen("127.0.0.1:0", s.core)
		require.NoError(t, err)
		t.Cleanup(func() { e.core.Close() })
		backend = e.core.Addr().(*net.TCPAddr).AddrPort()
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	switch {
	case s.config != nil:
		tcfg = s.config(pki)
	case s.tls != nil:
		s.tls(tcfg, pki)
	}
	o := reactor.Options{
		Listen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Loops:   2,
		Backend: backend,
		TLS:     tcfg,
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Tick:    20 * time.Millisecond,
	}
	if s.opts != nil {
		s.opts(&o)
	}
	e.srv, err = reactor.New(o)
	require.NoError(t, err)
	require.NoError(t, e.srv.Start())
	e.addr = e.srv.Addrs()[0].String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, e.srv.Shutdown(ctx))
		if t.Failed() {
			t.Logf("tlsmux log:\n%s", e.logs.String())
		}
	})
	e.client = &tls.Config{RootCAs: pki.Pool(), ServerName: "sip.example.net"}
	return e
}

// dial opens a TLS connection to tlsmux with cfg (nil: e.client) and completes the handshake.
func (e *env) dial(cfg *tls.Config) (*tls.Conn, error) {
	if cfg == nil {
		cfg = e.client
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.addr, cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sipMessage is a SIP request of exactly size bytes that the demo core echoes back.
func sipMessage(t testing.TB, seq, size int) []byte {
	t.Helper()
	m, err := sipmsg.AppendSized(nil, sipmsg.Request{
		Method: "MESSAGE", URI: "sip:core@example.net",
		Via:  fmt.Sprintf("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-%d", seq),
		From: "<sip:alice@example.net>;tag=a1", To: "<sip:bob@example.net>",
		CallID: fmt.Sprintf("call-%d@test", seq), CSeq: uint32(seq + 1),
	}, size)
	require.NoError(t, err)
	return m
}

// echo sends msg over c and checks the core echoes it back byte for byte.
func echo(c net.Conn, msg []byte) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs from what was sent (%d bytes)", len(msg))
	}
	return nil
}

// waitFor polls cond until it holds or 10 s pass: it waits for the daemon's counters, an
// external process state, not for a goroutine of the test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
