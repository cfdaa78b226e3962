package reactor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
	"github.com/tlsmux/tlsmux/reactor"
)

// TestIdleTimeout: an established connection with no I/O is closed for idleness, while
// connections that keep doing I/O, in both directions or only towards the core, stay open past
// several idle periods.
func TestIdleTimeout(t *testing.T) {
	const idle = 400 * time.Millisecond
	e := start(t, setup{opts: func(o *reactor.Options) { o.IdleTimeout = idle }})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	pinger, err := e.dial(nil)
	require.NoError(t, err)
	defer pinger.Close()
	wg.Go(func() { errs <- keepalive(pinger, idle/8, stop) })
	dribbler, err := e.dial(nil)
	require.NoError(t, err)
	defer dribbler.Close()
	big := sipMessage(t, 1, 512<<10)
	wg.Go(func() { errs <- dribble(dribbler, big, idle/8, stop) })
	t.Cleanup(func() { // if the test fails early
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})

	// tlsmux's own idle timeout is the clock: idle connections opened one after another, each
	// closed for idleness, take at least that many idle periods, all the while the two busy
	// connections do I/O.
	const idlers = 3
	for i := range idlers {
		before := e.srv.Stats()
		c, err := e.dial(nil)
		require.NoError(t, err)
		id := e.connID(t, c.LocalAddr())
		require.NoError(t, echo(c, sipMessage(t, 10+i, 500)))
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err = c.Read(make([]byte, 1))
		assert.True(t, isClosedErr(err), "the idle connection is closed: %v", err)
		c.Close()
		e.waitClosed(t, before, "idle_timeout")
		e.waitLog(t, id, "idle_timeout")
	}
	close(stop)
	wg.Wait()
	for range 2 {
		require.NoError(t, <-errs)
	}
	waitFor(t, "the last idle connection to be gone", func() bool { return e.srv.Stats().Open == 2 })
	assert.EqualValues(t, idlers, e.srv.Stats().Closed["idle_timeout"], "only the idle connections were closed for idleness")
	require.NoError(t, echo(pinger, sipMessage(t, 2, 700)), "the pinger is still usable")
	require.NoError(t, echo(dribbler, sipMessage(t, 3, 700)), "the dribbler is still usable")
}

// keepalive sends an RFC 5626 §4.4.1 CRLFCRLF ping every period and reads the core's CRLF pong,
// until stop is closed.
func keepalive(c net.Conn, period time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(period) // pacing the workload, not synchronisation
	defer tick.Stop()
	pong := make([]byte, 2)
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			return err
		}
		if _, err := c.Write([]byte("\r\n\r\n")); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if _, err := io.ReadFull(c, pong); err != nil || string(pong) != "\r\n" {
			return fmt.Errorf("pong %q: %v", pong, err)
		}
	}
}

// dribble sends msg 64 bytes every period, I/O towards the core only (the core answers once the
// message is whole), until stop is closed; then it sends the rest and checks the echo.
func dribble(c net.Conn, msg []byte, period time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(period) // pacing the workload, not synchronisation
	defer tick.Stop()
	if err := c.SetDeadline(time.Time{}); err != nil {
		return err
	}
	sent := 0
	for done := false; !done; {
		select {
		case <-stop:
			done = true
			continue
		case <-tick.C:
		}
		if sent+64 >= len(msg) {
			return errors.New("dribble: the message ran out before the test ended; make it longer")
		}
		if _, err := c.Write(msg[sent : sent+64]); err != nil {
			return fmt.Errorf("dribble: %w", err)
		}
		sent += 64
	}
	return echoRest(c, msg, sent)
}

// echoRest sends msg[sent:] and checks that the whole msg comes back.
func echoRest(c net.Conn, msg []byte, sent int) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(msg[sent:]); err != nil {
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

// TestIdleTimeoutNever: with a negative IdleTimeout an idle connection is never closed. The
// clock is the hello timeout (the idle period this test would otherwise use): three connections
// that never send, each closed for it, take at least three of those periods, some 45 ticks.
func TestIdleTimeoutNever(t *testing.T) {
	const period = 300 * time.Millisecond
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.IdleTimeout = -1
		o.HelloTimeout = period
	}})
	c, err := e.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 1, 500)))
	for range 3 {
		before := e.srv.Stats()
		raw := dialRaw(t, e.addr)
		assert.Empty(t, readUntilClosed(t, raw))
		e.waitClosed(t, before, "hello_timeout")
	}
	waitFor(t, "the last silent connection to be gone", func() bool { return e.srv.Stats().Open == 1 })
	assert.Zero(t, e.srv.Stats().Closed["idle_timeout"])
	require.NoError(t, echo(c, sipMessage(t, 2, 500)), "the idle connection is still usable")
}

// TestDrainThenClose: the backend sends a large burst and closes at once, while the client is
// not reading yet; the burst waits in tlsmux's outbound buffer (gnet's Close would drop it), and
// the client still gets every byte, then close_notify.
func TestDrainThenClose(t *testing.T) {
	const burst = 8 << 20
	want := make([]byte, burst)
	for i := range want {
		want[i] = byte(i % 251)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	sent := make(chan error, 1)
	go func() {
		be, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		_, err = be.Write(want)
		be.Close()
		sent <- err
	}()
	e := start(t, setup{
		backend: ln.Addr().(*net.TCPAddr).AddrPort(),
		opts: func(o *reactor.Options) {
			o.TCPConnWqMax = 64 << 20
			o.SendCloseNotify = true
		},
	})
	// A small receive window, so that the burst piles up in tlsmux rather than in the kernel.
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(err, serr)
	}}
	raw, err := d.Dial("tcp", e.addr)
	require.NoError(t, err)
	c := tls.Client(raw, e.client)
	defer c.Close()
	require.NoError(t, c.Handshake())

	select {
	case err := <-sent:
		require.NoError(t, err, "the backend wrote the burst")
	case <-time.After(30 * time.Second):
		t.Fatal("the backend could not write its burst")
	}
	e.waitClosed(t, reactor.Stats{}, "backend_closed")
	assert.EqualValues(t, 1, e.srv.Stats().Open, "closing, but draining the burst first")

	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "the stream ends with close_notify after %d bytes", len(got))
	require.Equal(t, len(want), len(got))
	require.True(t, bytes.Equal(want, got), "every byte, in order")
	waitFor(t, "the pair to close", func() bool { return e.srv.Stats().Open == 0 })
	assert.Empty(t, e.srv.Stats().DroppedBytes)
}

// TestShutdownGrace: Shutdown refuses new connections at once, lets an exchange in flight
// finish and waits for the connection to close, then stops every goroutine it started.
func TestShutdownGrace(t *testing.T) {
	leakcheck.Check(t) // registered first, so it runs after the harness's cleanups
	e := start(t, setup{})
	c, err := e.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 1, 500)))
	// Half a message is in flight when Shutdown starts.
	msg := sipMessage(t, 2, 200<<10)
	_, err = c.Write(msg[:len(msg)/2])
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(ctx) }()
	waitFor(t, "a new connection to be refused", func() bool {
		p, err := e.dial(nil)
		if err != nil {
			return true
		}
		p.Close() // accepted before Shutdown began: gone again at once
		return false
	})
	assert.Positive(t, e.srv.Stats().Closed["shutdown"], "the refusal is counted")

	require.NoError(t, echoRest(c, msg, len(msg)/2), "the exchange in flight completes")
	require.NoError(t, echo(c, sipMessage(t, 3, 500)), "and the connection still works")
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a connection was open and its grace had not ended", err)
	default:
	}
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return after the last connection closed")
	}
	st := e.srv.Stats()
	assert.Zero(t, st.Open)
	assert.EqualValues(t, 1, st.Closed["shutdown"], "only the refused probe was closed by shutdown")
	_, err = net.DialTimeout("tcp", e.addr, 5*time.Second)
	assert.Error(t, err, "nothing listens after Shutdown")
}

// TestShutdownGraceExpires: a connection still open when the grace ends is closed by Shutdown,
// counted as shutdown, and Shutdown leaves no goroutine behind.
func TestShutdownGraceExpires(t *testing.T) {
	leakcheck.Check(t)
	e := start(t, setup{})
	c, err := e.dial(nil)
	require.NoError(t, err)
	defer c.Close()
	id := e.connID(t, c.LocalAddr())
	require.NoError(t, echo(c, sipMessage(t, 1, 500)))

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.True(t, isClosedErr(err), "the connection was closed: %v", err)
	st := e.srv.Stats()
	assert.Zero(t, st.Open)
	assert.EqualValues(t, 1, st.Closed["shutdown"])
	e.waitLog(t, id, "shutdown")
}
