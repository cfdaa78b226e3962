// Package baseline is the TLS proxy a Go developer writes first, kept as the yardstick that
// tlsmux's benchmark figures are divided by: a listener from crypto/tls, one goroutine per
// connection, a TCP connection to the backend per client, and io.Copy both ways.
//
// Nothing here is tuned. The tls.Config is the caller's (cmd/baseline passes the standard
// library defaults plus the certificate: TLS 1.2 and 1.3, session tickets on); the handshake
// runs implicitly on the first Read, after the backend has been dialled, exactly as the
// twenty-line version of this program does; there are no timeouts and no limits. That is the
// point: the report measures what tlsmux's event loops, record-at-a-time feeding and bounded
// queues buy over it, on the same machine in the same run.
//
// Usage:
//
//	p, err := baseline.Listen("127.0.0.1:0", "127.0.0.1:5060", &tls.Config{Certificates: certs})
//	if err != nil { ... }
//	defer p.Close()
//	fmt.Println("LISTEN", p.Addr())
//
// # Concurrency
//
// A Proxy serves each connection on its own goroutines. Addr and Close may be called from any
// goroutine; Close returns after every goroutine the Proxy started has returned.
//
// # Limitations
//
//   - One goroutine per direction per connection, and crypto/tls's buffers for the connection's
//     whole life: the memory per idle connection that the report compares against.
//   - A client that connects and never sends holds its goroutines and its backend connection
//     until it goes away: there is deliberately no handshake or idle timeout.
//   - The open connections are tracked in a map only so that Close can end them (tests must
//     not leak goroutines); the first version of such a proxy would not have it, and it costs
//     a map entry per socket.
package baseline

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a running baseline proxy.
type Proxy struct {
	// constant after Serve
	ln      net.Listener // a crypto/tls listener
	backend string

	wg sync.WaitGroup // the accept loop and every connection goroutine

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open client and backend sockets; guarded by mu
	closed bool                  // guarded by mu
}

// Listen listens for TLS on addr with cfg and proxies every connection to backend (TCP).
func Listen(addr, backend string, cfg *tls.Config) (*Proxy, error) {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil) {
		return nil, errors.New("baseline: the tls.Config has no certificate")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return Serve(ln, backend, cfg), nil
}

// Serve serves TLS on ln until Close, which also closes ln.
func Serve(ln net.Listener, backend string, cfg *tls.Config) *Proxy {
	p := &Proxy{ln: tls.NewListener(ln, cfg), backend: backend, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.acceptLoop)
	return p
}

// Addr returns the listening address.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting, closes every open connection and waits for the goroutines to return.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() {
				return
			}
			// Out of file descriptors and the like: wait and retry, as net/http's Server does,
			// instead of spinning. The wait is bounded (1s) and ends at Close's next Accept error.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Go(func() { p.proxy(c) })
	}
}

// proxy dials the backend and copies both ways; the TLS handshake happens inside the first
// Read. When either direction ends, both sockets are closed, which ends the other direction.
func (p *Proxy) proxy(c net.Conn) {
	defer p.untrack(c)
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	if !p.track(b) {
		b.Close()
		return
	}
	defer p.untrack(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(b, c) // client to backend: decrypts
		b.Close()
	}()
	io.Copy(c, b) // backend to client: encrypts
	c.Close()
	<-done
}

// track records an open socket; it reports false once the Proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}
