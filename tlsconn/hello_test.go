package tlsconn

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/tlsmux/tlsmux/internal/record"
)

func alertRecord(a Alert) []byte { return []byte{21, 3, 1, 0, 2, 2, byte(a)} }

// TestRefuseFirstFlight: the first flight is checked before any crypto. Each input is fed whole
// and one byte at a time; the verdict, the alert queued and the stickiness must not depend on it.
func TestRefuseFirstFlight(t *testing.T) {
	cases := []struct {
		name   string
		in     []byte
		o      Options
		reason Reason
		alert  Alert // 0: no alert record
	}{
		{"plain SIP", []byte("OPTIONS sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1\r\n\r\n"), Options{}, ReasonNotTLS, 0},
		{"CRLF keepalive", []byte("\r\n\r\n"), Options{}, ReasonNotTLS, 0},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), Options{}, ReasonNotTLS, 0},
		{"SSLv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, Options{}, ReasonNotTLS, 0},
		{"application data first", []byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, Options{}, ReasonNotTLS, 0},
		{"version 2.0", []byte{22, 2, 0, 0, 4, 1, 0, 0, 0}, Options{}, ReasonBadRecord, ProtocolVersion},
		{"oversized record", []byte{22, 3, 1, 0x48, 0x01, 1, 0, 0, 0}, Options{}, ReasonRecordOverflow, RecordOverflow},
		{"empty handshake record", []byte{22, 3, 1, 0, 0}, Options{}, ReasonBadRecord, UnexpectedMessage},
		{"ServerHello first", []byte{22, 3, 3, 0, 4, 2, 0, 0, 0}, Options{}, ReasonProtocol, UnexpectedMessage},
		{"alert inside hello", []byte{22, 3, 1, 0, 5, 1, 0, 0, 9, 0, 21, 3, 1, 0, 2, 2, 40}, Options{}, ReasonProtocol, UnexpectedMessage},
		{"hello too big (header)", []byte{22, 3, 1, 0, 4, 1, 0, 0xff, 0xff}, Options{}, ReasonHelloTooBig, IllegalParameter},
		{"hello too big (bytes)", append([]byte{22, 3, 1, 0, 200, 1, 0, 0, 196}, make([]byte, 196)...), Options{MaxHello: 100}, ReasonHelloTooBig, IllegalParameter},
	}
	for _, tcase := range cases {
		for _, whole := range []bool{true, false} {
			name := tcase.name + map[bool]string{true: "/whole", false: "/1byte"}[whole]
			t.Run(name, func(t *testing.T) {
				c := NewServer(serverConfig(), tcase.o)
				defer c.Close(false)
				var err error
				if whole {
					_, err = c.Feed(tcase.in, nil)
				} else {
					for i := range tcase.in {
						if _, err = c.Feed(tcase.in[i:i+1], nil); err != nil {
							break
						}
					}
				}
				e, ok := err.(*Error)
				if !ok || e.Reason != tcase.reason || e.Alert != tcase.alert {
					t.Fatalf("Feed: %v, want reason %v alert %v", err, tcase.reason, tcase.alert)
				}
				if c.State() != Closing || c.HelloReady() {
					t.Fatalf("state %v, HelloReady %v", c.State(), c.HelloReady())
				}
				var want []byte
				if tcase.alert != 0 {
					want = alertRecord(tcase.alert)
				}
				if out := c.AppendOutput(nil); !bytes.Equal(out, want) {
					t.Fatalf("output % x, want % x", out, want)
				}
				if _, again := c.Feed([]byte{22}, nil); again != err {
					t.Fatalf("second Feed: %v, want the sticky %v", again, err)
				}
				c.SendAlert(InternalError) // refused already: must not queue a second alert
				if out := c.AppendOutput(nil); len(out) != 0 {
					t.Fatalf("SendAlert after a refusal queued % x", out)
				}
				c.StartHandshake() // no-op when Closing
				if c.State() != Closing {
					t.Fatalf("StartHandshake after a refusal moved to %v", c.State())
				}
			})
		}
	}
}

// TestNotTLSAtFirstByte: plain text is refused on its first byte, whatever follows.
func TestNotTLSAtFirstByte(t *testing.T) {
	c := NewServer(serverConfig(), Options{})
	if _, err := c.Feed([]byte("O"), nil); ReasonOf(err) != ReasonNotTLS {
		t.Fatalf("Feed(\"O\"): %v", err)
	}
}

// captureHello returns the ClientHello flight a Go client sends with cfg.
func captureHello(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	var hello []byte
	synctest.Test(t, func(t *testing.T) {
		pc := newPeerConn()
		peer := tls.Client(pc, cfg)
		done := make(chan struct{})
		go func() { peer.Handshake(); close(done) }()
		synctest.Wait()
		hello = pc.take()
		pc.Close()
		<-done
	})
	return hello
}

// reframe cuts the handshake bytes of the records in flight into records of at most n bytes.
func reframe(t *testing.T, flight []byte, n int) []byte {
	t.Helper()
	var msgs []byte
	for len(flight) > 0 {
		typ, _, length, ok := record.ParseHeader(flight)
		if !ok || typ != record.Handshake {
			t.Fatalf("unexpected record % x", flight[:min(len(flight), 5)])
		}
		msgs = append(msgs, flight[record.HeaderLen:record.HeaderLen+length]...)
		flight = flight[record.HeaderLen+length:]
	}
	var out []byte
	for len(msgs) > 0 {
		k := min(n, len(msgs))
		out = record.AppendHeader(out, record.Handshake, 0x0301, k)
		out = append(out, msgs[:k]...)
		msgs = msgs[k:]
	}
	return out
}

// TestFragmentedClientHello: a ClientHello spread over many small records, fed one byte at a time,
// is ready exactly at its last byte, and crypto/tls takes it (RFC 8446 §5.1 allows the split).
func TestFragmentedClientHello(t *testing.T) {
	for _, recSize := range []int{1, 7, 100} {
		t.Run(fmt.Sprintf("records-of-%d", recSize), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
				tc.startPeer(nil)
				synctest.Wait()
				flight := reframe(t, tc.pc.take(), recSize)
				for i := range flight {
					if tc.c.HelloReady() {
						t.Fatalf("HelloReady after %d of %d bytes", i, len(flight))
					}
					if _, err := tc.c.Feed(flight[i:i+1], nil); err != nil {
						t.Fatalf("byte %d: %v", i, err)
					}
				}
				if !tc.c.HelloReady() {
					t.Fatal("not HelloReady after the whole hello")
				}
				tc.pump()
				if err := tc.peerResult(); err != nil || tc.c.State() != Established {
					t.Fatalf("handshake: peer %v, state %v, err %v", err, tc.c.State(), tc.err)
				}
			})
		})
	}
}

// TestHelloThenMore: bytes after the ClientHello (sent before StartHandshake) are kept, up to
// MaxBuffered.
func TestHelloThenMore(t *testing.T) {
	hello := captureHello(t, clientConfig())
	c := NewServer(serverConfig(), Options{MaxBuffered: len(hello) + 10})
	defer c.Close(false)
	if _, err := c.Feed(append(append([]byte{}, hello...), 1, 2, 3), nil); err != nil || !c.HelloReady() {
		t.Fatalf("Feed: %v ready %v", err, c.HelloReady())
	}
	if _, err := c.Feed(make([]byte, 7), nil); err != nil {
		t.Fatalf("Feed up to MaxBuffered: %v", err)
	}
	if _, err := c.Feed([]byte{1}, nil); ReasonOf(err) != ReasonBufferFull {
		t.Fatalf("Feed past MaxBuffered: %v", err)
	}
	if c.Pending() != 0 {
		t.Fatal("BufferFull queued an alert")
	}
}

// TestSendAlert: the reactor turns a client away after HelloReady (admission control); the client
// gets the alert and no handshake goroutine ever starts.
func TestSendAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
		tc.autoStart = false
		tc.startPeer(nil)
		tc.pump()
		if !tc.c.HelloReady() {
			t.Fatal("not HelloReady")
		}
		tc.c.SendAlert(InternalError)
		if tc.c.State() != Closing || tc.c.HelloReady() {
			t.Fatalf("after SendAlert: state %v", tc.c.State())
		}
		if got := tc.c.AppendOutput(nil); !bytes.Equal(got, alertRecord(InternalError)) {
			t.Fatalf("output % x", got)
		}
		tc.pc.deliver(alertRecord(InternalError))
		err := tc.peerResult()
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("peer handshake error %v, want the internal_error alert", err)
		}
		if n := handshakeGoroutines(); n != 0 {
			t.Fatalf("%d handshake goroutines", n)
		}
	})
}

// TestHelloTooBigAlertReachesClient: a Go client whose hello exceeds MaxHello gets the alert.
func TestHelloTooBigAlertReachesClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{MaxHello: 64})
		tc.startPeer(nil)
		tc.pump()
		tc.wantErr("small MaxHello", ReasonHelloTooBig, IllegalParameter)
		if err := tc.peerResult(); err == nil || !strings.Contains(err.Error(), "illegal parameter") {
			t.Fatalf("peer: %v", err)
		}
	})
}

// TestStartHandshakeMisuse: starting before the hello is complete is a bug in the caller.
func TestStartHandshakeMisuse(t *testing.T) {
	c := NewServer(serverConfig(), Options{})
	defer c.Close(false)
	c.Feed([]byte{22, 3, 1}, nil)
	defer func() {
		if recover() == nil {
			t.Fatal("StartHandshake before HelloReady did not panic")
		}
	}()
	c.StartHandshake()
}

// handshakeGoroutines counts live handshake goroutines of this package.
func handshakeGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "tlsconn.runHandshake(")
}
