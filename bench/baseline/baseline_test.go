package baseline

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// safety bounds every wait so that a bug fails the test instead of hanging it; no test waits
// for it to pass.
const safety = 10 * time.Second

// echoBackend is a TCP echo server on loopback; Close waits for its goroutines.
type echoBackend struct {
	ln net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	cs []net.Conn
}

func startEcho(t *testing.T) *echoBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &echoBackend{ln: ln}
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.cs = append(e.cs, c)
			e.mu.Unlock()
			e.wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(e.close)
	return e
}

// closeConns closes every connection the backend accepted, as a SIP core going away would.
func (e *echoBackend) closeConns() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.cs {
		c.Close()
	}
}

func (e *echoBackend) close() {
	e.ln.Close()
	e.closeConns()
	e.wg.Wait()
}

type fixture struct {
	proxy  *Proxy
	client *tls.Config
}

func start(t *testing.T, backend string) fixture {
	t.Helper()
	pki := testcert.MustNew()
	cert, err := pki.Server("sip.example.net")
	require.NoError(t, err)
	p, err := Listen("127.0.0.1:0", backend, &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return fixture{proxy: p, client: &tls.Config{RootCAs: pki.Pool(), ServerName: "sip.example.net"}}
}

func (f fixture) dial(t *testing.T, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", f.proxy.Addr().String(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(safety))
	return c
}

// TestEchoThroughProxy: TLS clients at once, each sending sizes from one byte to several
// records, get every byte back from a TCP echo backend through the proxy.
func TestEchoThroughProxy(t *testing.T) {
	f := start(t, startEcho(t).ln.Addr().String())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := tls.Dial("tcp", f.proxy.Addr().String(), f.client)
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(safety))
			for _, n := range []int{1, 1024, 16 << 10, 100 << 10} {
				msg := make([]byte, n)
				rand.Read(msg)
				// Write from another goroutine: 100 KiB does not fit the socket buffers of a
				// loop that writes everything before it reads.
				werr := make(chan error, 1)
				go func() { _, err := c.Write(msg); werr <- err }()
				got := make([]byte, n)
				_, err := io.ReadFull(c, got)
				assert.NoError(t, <-werr)
				if !assert.NoError(t, err) || !assert.True(t, bytes.Equal(msg, got), "echo of %d bytes differs", n) {
					return
				}
			}
			assert.Equal(t, uint16(tls.VersionTLS13), c.ConnectionState().Version)
		})
	}
	wg.Wait()
}

// TestSessionResumption: the standard library's defaults send session tickets, so a second
// connection with a client session cache resumes.
func TestSessionResumption(t *testing.T) {
	f := start(t, startEcho(t).ln.Addr().String())
	cfg := f.client.Clone()
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i, want := range []bool{false, true} {
		c := f.dial(t, cfg)
		// TLS 1.3 tickets arrive after the handshake; a round trip makes sure this one has.
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 4))
		require.NoError(t, err)
		assert.Equal(t, want, c.ConnectionState().DidResume, "connection %d", i)
		c.Close()
	}
}

// TestBackendCloseEndsClient: when the backend goes away the client's connection ends.
func TestBackendCloseEndsClient(t *testing.T) {
	e := startEcho(t)
	f := start(t, e.ln.Addr().String())
	c := f.dial(t, f.client)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 5))
	require.NoError(t, err)
	e.closeConns()
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err)
	assert.False(t, isTimeout(err), "the client's connection should end, not time out: %v", err)
}

// TestBackendRefusedClosesClient: no backend, no connection (the handshake never completes).
func TestBackendRefusedClosesClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := start(t, addr)
	raw, err := net.Dial("tcp", f.proxy.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	c := tls.Client(raw, f.client)
	c.SetDeadline(time.Now().Add(safety))
	err = c.Handshake()
	assert.Error(t, err)
	assert.False(t, isTimeout(err), "the proxy should close, not hang: %v", err)
}

// TestCloseEndsOpenConnections: Close returns with clients still connected, and they see
// their connections end.
func TestCloseEndsOpenConnections(t *testing.T) {
	f := start(t, startEcho(t).ln.Addr().String())
	var cs []*tls.Conn
	for range 3 {
		c := f.dial(t, f.client)
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1))
		require.NoError(t, err)
		cs = append(cs, c)
	}
	require.NoError(t, f.proxy.Close())
	for _, c := range cs {
		_, err := c.Read(make([]byte, 1))
		assert.Error(t, err)
		assert.False(t, isTimeout(err), "%v", err)
	}
	_, err := net.Dial("tcp", f.proxy.Addr().String())
	assert.Error(t, err, "the listener is closed")
	assert.NoError(t, f.proxy.Close(), "a second Close is harmless")
}

func TestListenNeedsCertificate(t *testing.T) {
	_, err := Listen("127.0.0.1:0", "127.0.0.1:9", &tls.Config{})
	assert.Error(t, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
