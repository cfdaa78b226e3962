package tlsconn

import (
	"crypto/tls"
	"runtime"
	"testing"
)

// idleServers makes n established server Conns that have exchanged msgs messages of msgSize bytes
// each way (the client's all in one Feed), drops their clients, and returns the servers with the
// heap they hold, per Conn.
func idleServers(tb testing.TB, n, msgs, msgSize int, srvCfg, cliCfg *tls.Config) (conns []*Conn, perConn float64) {
	tb.Helper()
	msg := payload(3, msgSize)
	buf := make([]byte, 0, msgs*(msgSize+64))
	plain := make([]byte, 0, msgs*msgSize)
	one := func() *Conn {
		p := newPair(srvCfg, cliCfg)
		if err := p.handshake(buf); err != nil {
			tb.Fatal(err)
		}
		for range msgs {
			if err := p.cli.Write(msg); err != nil {
				tb.Fatal(err)
			}
		}
		plain, err := p.srv.Feed(p.cli.AppendOutput(buf[:0]), plain[:0])
		if err != nil || len(plain) != msgs*msgSize {
			tb.Fatalf("to server: %d bytes, %v", len(plain), err)
		}
		if plain, err = send(p.srv, p.cli, msg, buf, plain[:0]); err != nil || len(plain) != msgSize {
			tb.Fatalf("to client: %d bytes, %v", len(plain), err)
		}
		// The server's Notify closure holds p: drop the client from it.
		srv := p.srv
		p.cli, p.srv = nil, nil
		return srv
	}
	// Warm up config caches, session ticket keys and pools outside the measurement.
	for range 20 {
		one()
	}
	before := heapInUse()
	conns = make([]*Conn, n)
	for i := range conns {
		conns[i] = one()
	}
	after := heapInUse()
	runtime.KeepAlive(conns)
	return conns, float64(after-before) / float64(n)
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // a second cycle empties sync.Pools' victim caches
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestIdleMemory measures the heap an idle established server Conn keeps after 1 KiB each way
// (client dropped; the figure includes the slice slot holding it). The design target is 8 KiB RSS
// for the whole daemon per client and backend pair; crypto/tls alone was measured at ~5.3 KB.
func TestIdleMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory measurement: not under -race or -short")
	}
	none := func(srv, cli *tls.Config) {}
	cases := []struct {
		name          string
		setup         func(srv, cli *tls.Config)
		msgs, msgSize int
		limit         float64
	}{
		{"TLS13-1KiB", none, 1, 1024, 6500},
		{"TLS12-1KiB", func(srv, cli *tls.Config) { cli.MaxVersion = tls.VersionTLS12 }, 1, 1024, 6500},
		{"TLS13-mTLS-1KiB", func(srv, cli *tls.Config) { withMTLS(srv, cli) }, 1, 1024, 10000},
		// 64 records of 1 KiB in one Feed: memConn's one-record Reads keep crypto/tls's read
		// buffer at one record, not 64 KiB.
		{"TLS13-64x1KiB-one-feed", func(srv, cli *tls.Config) { cli.DynamicRecordSizingDisabled = true }, 64, 1024, 6500},
		// Go's sender splits a large write into growing records (dynamic record sizing)...
		{"TLS13-16KiB", none, 1, 16384, 14000},
		// ...but a peer may send one full 16 KiB record, and crypto/tls's read buffer then
		// keeps that size for the connection's life (golang/go#43563).
		{"TLS13-16KiB-one-record", func(srv, cli *tls.Config) { cli.DynamicRecordSizingDisabled = true }, 1, 16384, 24000},
	}
	for _, tcase := range cases {
		t.Run(tcase.name, func(t *testing.T) {
			srv, cli := serverConfig(), clientConfig()
			srv.SessionTicketsDisabled = true
			srv.DynamicRecordSizingDisabled = true // what the server sends does not matter here
			tcase.setup(srv, cli)
			conns, per := idleServers(t, 300, tcase.msgs, tcase.msgSize, srv, cli)
			t.Logf("%s: %.0f B heap per idle server Conn", tcase.name, per)
			if per > tcase.limit {
				t.Errorf("%.0f B per idle Conn, over the %.0f B budget", per, tcase.limit)
			}
			for _, c := range conns {
				wantIdleBuffers(t, c)
				c.Close(false)
			}
		})
	}
}

// BenchmarkIdleMemory reports the same figure as a metric (heap-B/conn), for tracking.
func BenchmarkIdleMemory(b *testing.B) {
	for range b.N {
		conns, per := idleServers(b, 500, 1, 1024, serverConfig(), clientConfig())
		b.ReportMetric(per, "heap-B/conn")
		for _, c := range conns {
			c.Close(false)
		}
	}
}

// TestParkedHandshakeMemory measures what a handshake parked mid-way (server flight sent, waiting
// for the client's Finished) costs: heap plus the goroutine's stack. The reactor's admission cap
// multiplies this.
func TestParkedHandshakeMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory measurement: not under -race or -short")
	}
	const n = 300
	stacks := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	park := func() (*Conn, *Conn) {
		p := newPair(serverConfig(), clientConfig())
		p.cli.StartHandshake()
		<-p.cliN
		p.cli.Poll(nil)
		p.srv.Feed(p.cli.AppendOutput(nil), nil)
		p.srv.StartHandshake()
		<-p.srvN // the server flight is out; the goroutine goes on to wait for the Finished
		p.srv.Poll(nil)
		p.srv.AppendOutput(nil)
		srv, cli := p.srv, p.cli
		p.cli, p.srv = nil, nil // the Notify closures hold p
		return srv, cli
	}
	for range 10 {
		s, c := park()
		s.Close(false)
		c.Close(false)
	}
	heap0, stack0 := heapInUse(), stacks()
	srvs := make([]*Conn, n)
	for i := range srvs {
		var cli *Conn
		srvs[i], cli = park()
		cli.Close(false)
	}
	heap1, stack1 := heapInUse(), stacks()
	heapPer := float64(heap1-heap0) / n
	stackPer := float64(int64(stack1)-int64(stack0)) / n
	t.Logf("parked handshake: %.0f B heap + %.0f B stack per Conn (TLS 1.3, X25519)", heapPer, stackPer)
	for _, s := range srvs {
		s.Close(false)
	}
}
