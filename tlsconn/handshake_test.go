package tlsconn

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"testing/synctest"
)

// TestHandshakeFailure: crypto/tls refuses the handshake; Poll reports it with the alert it sent,
// the alert is in the output, and the client gets it.
func TestHandshakeFailure(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(srv, cli *tls.Config)
		reason    Reason
		alert     Alert
		peerSees  string // in the Go client's handshake error
		plainText bool   // the alert record is unencrypted in the output
	}{
		{
			name: "client offers only TLS 1.0",
			setup: func(srv, cli *tls.Config) {
				cli.MinVersion, cli.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
			},
			reason: ReasonHandshake, alert: ProtocolVersion, peerSees: "protocol version not supported", plainText: true,
		},
		{
			name: "no shared cipher suite",
			setup: func(srv, cli *tls.Config) {
				cli.MaxVersion = tls.VersionTLS12
				cli.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256} // our cert is ECDSA
			},
			reason: ReasonHandshake, alert: HandshakeFailure, peerSees: "handshake failure", plainText: true,
		},
		{
			name: "TLS 1.2 client certificate missing",
			setup: func(srv, cli *tls.Config) {
				withMTLS(srv, cli)
				cli.Certificates = nil
				cli.MaxVersion = tls.VersionTLS12
			},
			reason: ReasonHandshake, alert: HandshakeFailure, peerSees: "handshake failure", plainText: true,
		},
		{
			// TLS 1.3 encrypts the alert: its code is known to the client but not to us.
			name: "TLS 1.3 client certificate missing",
			setup: func(srv, cli *tls.Config) {
				withMTLS(srv, cli)
				cli.Certificates = nil
			},
			reason: ReasonHandshake, alert: 0, peerSees: "certificate required",
		},
		{
			name: "client rejects our certificate",
			setup: func(srv, cli *tls.Config) {
				cli.RootCAs = clientPool // does not hold the server's certificate
			},
			reason: ReasonAlert, alert: BadCertificate, peerSees: "certificate signed by unknown authority",
		},
	}
	for _, tcase := range cases {
		t.Run(tcase.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, cli := serverConfig(), clientConfig()
				tcase.setup(srv, cli)
				tc := newServerTest(t, srv, cli, Options{})
				tc.startPeer(nil)
				var out []byte
				// Pump by hand to see the output the failure leaves.
				for range 20 {
					synctest.Wait()
					if tc.notified.Load() {
						tc.poll()
					}
					if b := tc.pc.take(); len(b) > 0 {
						tc.feed(b)
					}
					b := tc.c.AppendOutput(nil)
					out = append(out, b...)
					tc.pc.deliver(b)
				}
				if !tc.hsDone {
					t.Fatalf("Poll never reported the end of the handshake (state %v)", tc.c.State())
				}
				e := tc.wantErr("handshake", tcase.reason, tcase.alert)
				if tcase.plainText && !bytes.HasSuffix(out, alertRecordV(out, tcase.alert)) {
					t.Errorf("output does not end with the %v alert: % x", tcase.alert, out[max(0, len(out)-16):])
				}
				err := tc.peerResult()
				if err == nil {
					// A TLS 1.3 client is done once it has sent its Finished; the server's
					// verdict on its certificate reaches it in Read.
					tc.startReader()
					err = tc.peerReadErr()
				}
				if err == nil || !strings.Contains(err.Error(), tcase.peerSees) {
					t.Errorf("peer: %v, want %q", err, tcase.peerSees)
				}
				if n := handshakeGoroutines(); n != 0 {
					t.Errorf("%d handshake goroutines after the failure", n)
				}
				t.Logf("%v", e)
			})
		})
	}
}

// alertRecordV is the fatal alert record a as crypto/tls frames it at the version it reached.
func alertRecordV(out []byte, a Alert) []byte {
	r := alertRecord(a)
	if i := bytes.LastIndexByte(out, 21); i >= 0 && i+3 <= len(out) {
		r[1], r[2] = out[i+1], out[i+2]
	}
	return r
}

// TestStalledHandshakeClose: a client that stops mid-handshake pins a parked goroutine until the
// reactor's timer calls Close, which must free it at once, with no Notify afterwards.
func TestStalledHandshakeClose(t *testing.T) {
	for _, vers := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(vers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cli := clientConfig()
				cli.MaxVersion = vers
				tc := newServerTest(t, serverConfig(), cli, Options{})
				tc.startPeer(nil)
				synctest.Wait()
				tc.feed(tc.pc.take()) // the ClientHello; the handshake starts
				synctest.Wait()
				if tc.c.State() != Handshaking || tc.c.Pending() == 0 {
					t.Fatalf("state %v, pending %d", tc.c.State(), tc.c.Pending())
				}
				// The server flight never reaches the client: the handshake goroutine waits.
				tc.poll()
				_ = tc.c.AppendOutput(nil)
				synctest.Wait()
				if n := handshakeGoroutines(); n != 1 {
					t.Fatalf("%d handshake goroutines parked, want 1", n)
				}
				tc.c.Close(false)
				synctest.Wait()
				if n := handshakeGoroutines(); n != 0 {
					t.Fatalf("%d handshake goroutines after Close", n)
				}
				if tc.notified.Load() {
					t.Error("Notify after Close")
				}
				if done, _, err := tc.c.Poll(nil); done || err != nil {
					t.Errorf("Poll after Close: %v %v", done, err)
				}
				if tc.c.State() != Closed {
					t.Errorf("state %v", tc.c.State())
				}
			})
		})
	}
}

// TestStalledHelloClose: a client that never completes its hello costs no goroutine at all.
func TestStalledHelloClose(t *testing.T) {
	c := NewServer(serverConfig(), Options{})
	if _, err := c.Feed([]byte{22, 3, 1, 0, 100, 1, 0, 0, 96}, nil); err != nil {
		t.Fatal(err)
	}
	if c.HelloReady() || handshakeGoroutines() != 0 {
		t.Fatal("started something on a partial hello")
	}
	c.Close(false)
	if c.pre != nil {
		t.Fatal("Close kept the hello buffer")
	}
}

// TestBufferFullDuringHandshake: bytes the handshake goroutine does not take are bounded by
// MaxBuffered. Here it has finished (the client's Finished is in) and the loop has not polled yet,
// which is when a flood of early application data piles up.
func TestBufferFullDuringHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{MaxBuffered: 1000})
		tc.startPeer(nil)
		synctest.Wait()
		tc.feed(tc.pc.take()) // ClientHello
		synctest.Wait()
		tc.pc.deliver(tc.c.AppendOutput(nil))
		synctest.Wait()
		tc.feed(tc.pc.take()) // client Finished
		synctest.Wait()
		if !tc.notified.Load() || tc.c.State() != Handshaking {
			t.Fatalf("handshake not over: state %v, notified %v", tc.c.State(), tc.notified.Load())
		}
		if _, err := tc.c.Feed(make([]byte, 600), nil); err != nil {
			t.Fatalf("first 600 bytes: %v", err)
		}
		_, err := tc.c.Feed(make([]byte, 600), nil)
		tc.setErr(err)
		tc.wantErr("flood", ReasonBufferFull, 0)
		if done, _, err := tc.c.Poll(nil); done || err != nil {
			t.Fatalf("Poll after BufferFull: %v %v", done, err)
		}
		synctest.Wait()
		if n := handshakeGoroutines(); n != 0 {
			t.Fatalf("%d handshake goroutines after BufferFull", n)
		}
	})
}

// TestPollSpurious: Poll without a Notify, or in any state but Handshaking, does nothing.
func TestPollSpurious(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
		if done, plain, err := tc.c.Poll([]byte("x")); done || err != nil || string(plain) != "x" {
			t.Fatalf("Poll in WaitHello: %v %q %v", done, plain, err)
		}
		tc.handshake()
		for range 3 {
			if done, _, err := tc.c.Poll(nil); done || err != nil {
				t.Fatalf("Poll when Established: %v %v", done, err)
			}
		}
	})
}
