package tlsconn

import (
	"crypto/tls"
	"testing"
	"testing/synctest"
)

// TestFeedEOFDeliversLastFlight: the client's Finished, its data and its close_notify arrive
// together with a FIN (the reactor learns of the FIN by gnet closing the socket). After FeedEOF
// the handshake still completes and Poll returns the data with ReasonPeerClosed.
func TestFeedEOFDeliversLastFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cli := clientConfig()
		cli.MinVersion = tls.VersionTLS13
		tc := newServerTest(t, serverConfig(), cli, Options{})
		msg := payload(7, 900)
		tc.startPeer(func(p *tls.Conn) error {
			if _, err := p.Write(msg); err != nil {
				return err
			}
			return p.CloseWrite()
		})
		synctest.Wait()
		tc.feed(tc.pc.take()) // ClientHello
		synctest.Wait()
		tc.poll()
		tc.pc.deliver(tc.c.AppendOutput(nil)) // the server flight reaches the client
		synctest.Wait()
		last := tc.pc.take() // Finished + data + close_notify
		tc.feed(last)
		tc.c.FeedEOF()
		synctest.Wait()
		tc.poll()
		if !tc.hsDone || !tc.c.Handshook() {
			t.Fatalf("handshake not done after FeedEOF: done %v handshook %v err %v", tc.hsDone, tc.c.Handshook(), tc.err)
		}
		tc.wantPlain("data sent with the Finished", msg)
		tc.wantErr("close_notify after the data", ReasonPeerClosed, 0)
	})
}

// TestFeedEOFMidHandshake: a FIN before the client's last flight ends the handshake at once
// (no wait for the handshake timeout), and its goroutine exits.
func TestFeedEOFMidHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tc := newServerTest(t, serverConfig(), clientConfig(), Options{})
		tc.startPeer(nil)
		synctest.Wait()
		tc.feed(tc.pc.take()) // ClientHello only
		synctest.Wait()
		tc.poll()
		tc.c.FeedEOF()
		synctest.Wait()
		tc.poll()
		if !tc.hsDone || tc.c.Handshook() {
			t.Fatalf("want a failed handshake: done %v handshook %v", tc.hsDone, tc.c.Handshook())
		}
		tc.wantErr("EOF mid-handshake", ReasonHandshake, 0)
		if n := handshakeGoroutines(); n != 0 {
			t.Fatalf("%d handshake goroutines left", n)
		}
		tc.pc.Close()
		synctest.Wait()
		<-tc.peerHS
	})
}
