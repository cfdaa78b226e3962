package tlsconn

import (
	"crypto/tls"
	"testing"
	"testing/synctest"
)

// TestClient runs the client side against a Go crypto/tls server: handshake, data both ways, and
// the TLS 1.3 NewSessionTickets that arrive after the handshake (fed one byte at a time in the
// 1byte case), which must land in the session cache so the next connection resumes.
func TestClient(t *testing.T) {
	for _, tcase := range []tlsCase{tlsCases[0], tlsCases[1], tlsCases[2], tlsCases[4]} {
		for _, sp := range splitters {
			t.Run(tcase.name+"/"+sp.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv, cli := tcase.configs()
					cache := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
					cli.ClientSessionCache = cache

					tc := newClientTest(t, cli, srv, Options{})
					tc.split = sp.fn()
					tc.handshake()
					a := tc.c.Attrs()
					if a.Version != tcase.vers || a.Resumed || a.SNI != serverName || a.ALPN != "sip" {
						t.Errorf("Attrs = %+v", a)
					}
					if a.PeerCN != "tlsmux test server" || !a.Verified {
						t.Errorf("server certificate: CN %q verified %v", a.PeerCN, a.Verified)
					}
					exchange(tc)
					if cache.puts == 0 {
						t.Fatal("no session ticket stored")
					}
					tc.c.Close(true)
					tc.pump()

					again := newClientTest(t, cli, srv, Options{})
					again.split = sp.fn()
					again.handshake()
					if !again.c.Attrs().Resumed {
						t.Fatal("second connection not resumed")
					}
					exchange(again)
				})
			})
		}
	}
}

type countingCache struct {
	tls.ClientSessionCache
	puts int
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts++
	}
	c.ClientSessionCache.Put(key, cs)
}

// TestClientForcesRenegotiateNever: a config asking for renegotiation is cloned with it off.
func TestClientForcesRenegotiateNever(t *testing.T) {
	cfg := clientConfig()
	cfg.Renegotiation = tls.RenegotiateFreelyAsClient
	c := NewClient(cfg, Options{})
	defer c.Close(false)
	if c.cfg == cfg || c.cfg.Renegotiation != tls.RenegotiateNever {
		t.Fatal("renegotiation left on")
	}
	if cfg.Renegotiation != tls.RenegotiateFreelyAsClient {
		t.Fatal("caller's config modified")
	}
	if !c.HelloReady() {
		t.Fatal("a client is always ready to start")
	}
}
