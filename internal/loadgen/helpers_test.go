package loadgen

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// testTLS makes a self-signed ECDSA P-256 certificate for 127.0.0.1 and returns the server
// config and a client config that trusts it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "loadgen test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	return server, &tls.Config{RootCAs: pool}
}

// group tracks connections and goroutines of a test server so that cleanup closes them all and
// waits for every goroutine: leakcheck then sees none.
type group struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool
}

func newGroup(t testing.TB) *group {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &group{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(g.close)
	return g
}

func (g *group) addr() string { return g.ln.Addr().String() }

// track registers c to be closed at cleanup; false if cleanup already ran (c is closed).
func (g *group) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		c.Close()
		return false
	}
	g.conns[c] = true
	return true
}

func (g *group) close() {
	g.ln.Close()
	g.mu.Lock()
	g.done = true
	for c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// serve accepts connections and runs handle on each in its own goroutine.
func (g *group) serve(handle func(net.Conn)) {
	g.wg.Go(func() {
		for {
			c, err := g.ln.Accept()
			if err != nil {
				return
			}
			if !g.track(c) {
				continue
			}
			g.wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
}

// terminate is a tiny TLS terminator standing in for tlsmux: TLS in, one backend TCP connection
// per client with a PROXY v2 header first, bytes copied both ways.
func terminate(t testing.TB, cfg *tls.Config, backend string) string {
	g := newGroup(t)
	g.serve(func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		b, err := net.Dial("tcp", backend)
		if err != nil || !g.track(b) {
			return
		}
		defer b.Close()
		hdr, err := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr()).Format()
		if err != nil {
			return
		}
		if _, err := b.Write(hdr); err != nil {
			return
		}
		g.wg.Go(func() {
			io.Copy(tc, b)
			tc.Close()
		})
		io.Copy(b, tc)
		b.Close()
	})
	return g.addr()
}

// fakeCore serves plain TCP and calls handle for every frame received; handle writes what it
// wants to c and returns false to close the connection.
func fakeCore(t testing.TB, handle func(c net.Conn, kind sipmsg.Kind, frame []byte) bool) string {
	g := newGroup(t)
	g.serve(func(c net.Conn) {
		fr := sipmsg.Framer{}
		var buf []byte
		tmp := make([]byte, 4096)
		for {
			n, err := c.Read(tmp)
			buf = append(buf, tmp[:n]...)
			for {
				kind, n, ferr := fr.Next(buf)
				if ferr != nil {
					return
				}
				if kind == sipmsg.None {
					break
				}
				if !handle(c, kind, bytes.Clone(buf[:n])) {
					return
				}
				buf = buf[n:]
			}
			if err != nil {
				return
			}
		}
	})
	return g.addr()
}

// reply answers the request in frame with status; it returns the parsed request.
func reply(c net.Conn, frame []byte, status int) sipmsg.Message {
	m, _ := sipmsg.Parse(frame)
	c.Write(sipmsg.AppendResponse(nil, &m, sipmsg.Response{Status: status, ToTag: "fake"}))
	return m
}
