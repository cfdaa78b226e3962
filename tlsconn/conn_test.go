package tlsconn

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"testing"
	"testing/synctest"
)

type tlsCase struct {
	name  string
	vers  uint16 // client MaxVersion
	suite uint16 // TLS 1.2: the only suite the client offers
	mtls  bool
}

var tlsCases = []tlsCase{
	{name: "TLS13", vers: tls.VersionTLS13},
	{name: "TLS13-mTLS", vers: tls.VersionTLS13, mtls: true},
	{name: "TLS12-AES128GCM", vers: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{name: "TLS12-CHACHA20", vers: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	{name: "TLS12-AES256GCM-mTLS", vers: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, mtls: true},
}

func (tcase tlsCase) configs() (srv, cli *tls.Config) {
	srv, cli = serverConfig(), clientConfig()
	cli.MaxVersion = tcase.vers
	if tcase.suite != 0 {
		cli.CipherSuites = []uint16{tcase.suite}
	}
	if tcase.mtls {
		withMTLS(srv, cli)
	}
	return srv, cli
}

// exchange sends messages of several sizes both ways, several at a time so that records run into
// each other within one feed, and checks every byte.
func exchange(tc *testConn) {
	tc.t.Helper()
	sizes := []int{1, 100, 1024, 5000, 16384}
	var toConn, toPeer []byte
	for i, n := range sizes {
		a, b := payload(uint64(i), n), payload(uint64(100+i), n)
		tc.peerWrite(a)
		tc.write(b)
		toConn = append(toConn, a...)
		toPeer = append(toPeer, b...)
		if i%2 == 1 {
			tc.pump()
		}
	}
	tc.pump()
	tc.wantPlain("peer to Conn", toConn)
	tc.wantPeerGot("Conn to peer", toPeer)
}

// TestServer runs full handshakes against a Go client for each version and feeding strategy,
// checks the connection's attributes against what the client saw, and moves data both ways.
func TestServer(t *testing.T) {
	for _, tcase := range tlsCases {
		for _, sp := range splitters {
			t.Run(tcase.name+"/"+sp.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv, cli := tcase.configs()
					tc := newServerTest(t, srv, cli, Options{})
					tc.split = sp.fn()
					tc.handshake()

					a := tc.c.Attrs()
					cs := tc.peer.ConnectionState()
					if a.Version != cs.Version || a.CipherSuite != cs.CipherSuite || a.Version != tcase.vers {
						t.Errorf("Attrs version %x suite %x; client saw %x %x", a.Version, a.CipherSuite, cs.Version, cs.CipherSuite)
					}
					if tcase.suite != 0 && a.CipherSuite != tcase.suite {
						t.Errorf("suite %v, want %v", a.CipherName(), tls.CipherSuiteName(tcase.suite))
					}
					if a.SNI != serverName || a.ALPN != "sip" || a.Resumed || a.CurveID != tls.X25519 {
						t.Errorf("Attrs = %+v", a)
					}
					wantVersion := map[uint16]string{tls.VersionTLS13: "TLSv1.3", tls.VersionTLS12: "TLSv1.2"}[tcase.vers]
					if a.VersionName() != wantVersion || a.CipherName() != tls.CipherSuiteName(cs.CipherSuite) {
						t.Errorf("VersionName %q CipherName %q", a.VersionName(), a.CipherName())
					}
					if tcase.mtls {
						if a.PeerCN != "phone-1001" || !a.Verified || a.Peer == nil {
							t.Errorf("mTLS Attrs: CN %q verified %v peer %v", a.PeerCN, a.Verified, a.Peer)
						}
					} else if a.PeerCN != "" || a.Verified || a.Peer != nil {
						t.Errorf("no client cert, yet Attrs = %+v", a)
					}
					exchange(tc)
					wantIdleBuffers(t, tc.c)
				})
			})
		}
	}
}

// wantIdleBuffers checks that an idle Conn holds no buffer of its own.
func wantIdleBuffers(t *testing.T, c *Conn) {
	t.Helper()
	c.mc.mu.Lock()
	defer c.mc.mu.Unlock()
	if c.mc.in != nil || c.mc.inOwned != nil || c.mc.out != nil || c.pre != nil || c.hs != nil || c.mc.hs != nil {
		t.Errorf("idle Conn holds buffers: in %d owned %v out %v pre %v hs %v",
			len(c.mc.in), c.mc.inOwned != nil, c.mc.out != nil, c.pre != nil, c.hs != nil)
	}
}

// TestAppDataInFinishedFlight: application data sent right behind the client's Finished arrives in
// the same read as the Finished. The handshake goroutine leaves it unread (memConn hands out one
// record at a time) and Poll must return it: no later Feed would.
func TestAppDataInFinishedFlight(t *testing.T) {
	msg := []byte("REGISTER sip:example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n")
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, cli := serverConfig(), clientConfig()
				cli.MaxVersion = vers
				if vers == tls.VersionTLS12 {
					// In a full TLS 1.2 handshake the server finishes last; the client's
					// Finished comes with its data only in an abbreviated (resumed) one.
					cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)
					first := newServerTest(t, srv, cli, Options{})
					first.handshake()
					first.close()
				}
				tc := newServerTest(t, srv, cli, Options{})
				tc.startPeer(func(peer *tls.Conn) error {
					_, err := peer.Write(msg)
					return err
				})
				tc.pump()
				if err := tc.peerResult(); err != nil {
					t.Fatal(err)
				}
				if !tc.hsDone || tc.err != nil {
					t.Fatalf("handshake: done %v err %v", tc.hsDone, tc.err)
				}
				if vers == tls.VersionTLS12 && !tc.c.Attrs().Resumed {
					t.Fatal("TLS 1.2 session not resumed")
				}
				if tc.hsPlain != len(msg) {
					t.Errorf("the completing Poll returned %d bytes, want %d", tc.hsPlain, len(msg))
				}
				tc.wantPlain("data behind Finished", msg)
			})
		})
	}
}

// TestResumedServer: a second connection resumes from the ticket of the first (TLS 1.3 tickets
// come after the handshake; the Go client reads them in Read).
func TestResumedServer(t *testing.T) {
	for _, tcase := range []tlsCase{tlsCases[0], tlsCases[1], tlsCases[2]} {
		t.Run(tcase.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, cli := tcase.configs()
				cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				first := newServerTest(t, srv, cli, Options{})
				first.handshake()
				first.pump() // NewSessionTicket to the client's reader
				first.close()

				tc := newServerTest(t, srv, cli, Options{})
				tc.split = splitters[1].fn()
				tc.handshake()
				a := tc.c.Attrs()
				if !a.Resumed {
					t.Fatal("not resumed")
				}
				if tcase.mtls && (a.PeerCN != "phone-1001" || !a.Verified) {
					t.Errorf("resumed mTLS: CN %q verified %v", a.PeerCN, a.Verified)
				}
				exchange(tc)
			})
		})
	}
}

// TestPeerCloseNotify: the peer's close_notify ends the stream after the data before it, fed whole
// and one byte at a time; Close(true) answers with our own close_notify.
func TestPeerCloseNotify(t *testing.T) {
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for _, sp := range splitters {
			t.Run(fmt.Sprintf("%s/%s", tls.VersionName(vers), sp.name), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv, cli := serverConfig(), clientConfig()
					cli.MaxVersion = vers
					tc := newServerTest(t, srv, cli, Options{})
					tc.split = sp.fn()
					tc.handshake()
					tc.peerWrite([]byte("BYE"))
					if err := tc.peer.CloseWrite(); err != nil {
						t.Fatal(err)
					}
					tc.pump()
					tc.wantPlain("data before close_notify", []byte("BYE"))
					tc.wantErr("close_notify", ReasonPeerClosed, CloseNotify)
					if _, err := tc.c.Feed([]byte{1, 2, 3}, nil); err != tc.err {
						t.Errorf("Feed after close_notify: %v, want the sticky %v", err, tc.err)
					}
					tc.c.Close(true)
					if tc.c.Pending() == 0 {
						t.Fatal("Close(true) queued no close_notify")
					}
					tc.pump()
					if err := tc.peerReadErr(); err == nil || err.Error() != "EOF" {
						t.Errorf("peer read error %v, want EOF (our close_notify)", err)
					}
					tc.c.Close(true) // idempotent
					if tc.c.Pending() != 0 || tc.c.State() != Closed {
						t.Error("second Close queued output")
					}
				})
			})
		}
	}
}

// TestCloseNotifyFromServer: Close(true) on an Established Conn sends close_notify.
func TestCloseNotifyFromServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
		tc.handshake()
		tc.write([]byte("last words"))
		tc.c.Close(true)
		tc.pump()
		tc.wantPeerGot("before close", []byte("last words"))
		if err := tc.peerReadErr(); err == nil || err.Error() != "EOF" {
			t.Errorf("peer read error %v, want EOF", err)
		}
		if err := tc.c.Write([]byte("x")); ReasonOf(err) != ReasonClosed {
			t.Errorf("Write after Close: %v", err)
		}
		if _, err := tc.c.Feed([]byte("x"), nil); ReasonOf(err) != ReasonClosed {
			t.Errorf("Feed after Close: %v", err)
		}
	})
}

// TestWriteBeforeEstablished: Write is refused until the handshake completes.
func TestWriteBeforeEstablished(t *testing.T) {
	c := NewServer(serverConfig(), Options{})
	if err := c.Write([]byte("x")); err != ErrNotEstablished {
		t.Fatalf("Write in WaitHello: %v", err)
	}
	if a := c.Attrs(); a.Version != 0 {
		t.Fatalf("Attrs before the handshake: %+v", a)
	}
	c.Close(false)
}

// TestManyRecordsOneFeed: a burst of small records in one Feed yields all of them, and the Conn
// stays idle-clean afterwards.
func TestManyRecordsOneFeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
		tc.handshake()
		var want []byte
		for i := range 200 {
			m := payload(uint64(i), 1+i%97)
			tc.peerWrite(m)
			want = append(want, m...)
		}
		tc.pump()
		tc.wantPlain("200 records", want)
		wantIdleBuffers(t, tc.c)
		if !bytes.Equal(tc.plain, nil) && len(tc.plain) != 0 {
			t.Fatal("leftover plaintext")
		}
	})
}
