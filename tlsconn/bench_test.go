package tlsconn

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"
)

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"1KiB", 1024}, {"16KiB", 16384}}

func establishedPair(b *testing.B, vers uint16) *pair {
	b.Helper()
	cli := clientConfig()
	cli.MaxVersion = vers
	p := newPair(serverConfig(), cli)
	if err := p.handshake(nil); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkFeed measures the server's receive path: Feed of one record and the drain of its
// plaintext (TLS 1.3, AES-128-GCM on this hardware). Records are sealed ahead, outside the timer.
func BenchmarkFeed(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := establishedPair(b, tls.VersionTLS13)
			defer p.srv.Close(false)
			defer p.cli.Close(false)
			msg := payload(1, sz.n)
			batch := max(16, (8<<20)/sz.n)
			var recs [][]byte
			seal := func() {
				recs = recs[:0]
				for range batch {
					if err := p.cli.Write(msg); err != nil {
						b.Fatal(err)
					}
					recs = append(recs, p.cli.AppendOutput(nil))
				}
			}
			seal()
			plain := make([]byte, 0, 2*sz.n)
			i := 0
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if i == len(recs) {
					b.StopTimer()
					seal()
					i = 0
					b.StartTimer()
				}
				var err error
				plain, err = p.srv.Feed(recs[i], plain[:0])
				if err != nil || len(plain) != sz.n {
					b.Fatalf("Feed: %d bytes, %v", len(plain), err)
				}
				i++
			}
		})
	}
}

// BenchmarkWrite measures the send path: Write and AppendOutput into a reused buffer.
func BenchmarkWrite(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			p := establishedPair(b, tls.VersionTLS13)
			defer p.srv.Close(false)
			defer p.cli.Close(false)
			msg := payload(1, sz.n)
			out := make([]byte, 0, 2*sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.srv.Write(msg); err != nil {
					b.Fatal(err)
				}
				out = p.srv.AppendOutput(out[:0])
			}
		})
	}
}

// BenchmarkHandshake runs full handshakes between a tlsconn client and server in lockstep
// (ECDSA P-256 certificates, X25519, no session tickets). server-µs/handshake is the wall time the
// server spent answering flights while the client waited: its crypto, its share of the GC and the
// goroutine hand-offs (on a busy machine, time waiting for a CPU too). both-cpu-µs/handshake is
// the process CPU time of both sides.
func BenchmarkHandshake(b *testing.B) {
	cases := []struct {
		name string
		vers uint16
		mtls bool
	}{
		{"TLS13", tls.VersionTLS13, false},
		{"TLS13-mTLS", tls.VersionTLS13, true},
		{"TLS12", tls.VersionTLS12, false},
	}
	for _, tcase := range cases {
		b.Run(tcase.name, func(b *testing.B) {
			srv, cli := serverConfig(), clientConfig()
			cli.MaxVersion = tcase.vers
			srv.SessionTicketsDisabled = true
			if tcase.mtls {
				withMTLS(srv, cli)
			}
			buf := make([]byte, 0, 8192)
			var srvTime time.Duration
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				p := newPair(srv, cli)
				if err := p.handshake(buf); err != nil {
					b.Fatal(err)
				}
				srvTime += p.srvTime
				p.srv.Close(false)
				p.cli.Close(false)
			}
			b.ReportMetric(float64(srvTime.Microseconds())/float64(b.N), "server-µs/handshake")
			// Both sides, GC included: an upper bound on what the server alone costs.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "both-cpu-µs/handshake")
		})
	}
}

func ExampleConn() {
	// A client and a server, wired by hand as a reactor would wire them to sockets.
	srvWake, cliWake := make(chan struct{}, 1), make(chan struct{}, 1)
	srv := NewServer(serverConfig(), Options{Notify: func() { srvWake <- struct{}{} }})
	cli := NewClient(clientConfig(), Options{Notify: func() { cliWake <- struct{}{} }})
	defer srv.Close(false)
	defer cli.Close(false)

	cli.StartHandshake()
	for srv.State() != Established || cli.State() != Established {
		select {
		case <-cliWake:
			cli.Poll(nil)
			srv.Feed(cli.AppendOutput(nil), nil) // the ClientHello, then the client's Finished
			if srv.HelloReady() {
				srv.StartHandshake() // after admission control
			}
		case <-srvWake:
			srv.Poll(nil)
			cli.Feed(srv.AppendOutput(nil), nil)
		}
	}
	cli.Write([]byte("OPTIONS sip:example.test SIP/2.0\r\n\r\n"))
	plain, _ := srv.Feed(cli.AppendOutput(nil), nil)
	fmt.Printf("%s %q\n", srv.Attrs().VersionName(), plain[:7])
	// Output: TLSv1.3 "OPTIONS"
}
