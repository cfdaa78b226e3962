package tlsconn

import (
	"crypto/tls"
	"fmt"
	"time"
)

// pair is a tlsconn client and a tlsconn server wired by hand, with real goroutine hand-offs (no
// synctest), for benchmarks and memory measurements. The Notify channels are how a reactor would
// be woken.
type pair struct {
	srv, cli   *Conn
	srvN, cliN chan struct{}
	// srvTime is the time between handing the server a flight and its answer (or its end):
	// with the client idle meanwhile, that is the server's handshake CPU plus two wake-ups.
	srvTime time.Duration
}

func newPair(srvCfg, cliCfg *tls.Config) *pair {
	p := &pair{srvN: make(chan struct{}, 1), cliN: make(chan struct{}, 1)}
	p.srv = NewServer(srvCfg, Options{Notify: func() { p.srvN <- struct{}{} }})
	p.cli = NewClient(cliCfg, Options{Notify: func() { p.cliN <- struct{}{} }})
	return p
}

// handshake runs the handshake in lockstep: each side runs only while the other waits for it.
func (p *pair) handshake(buf []byte) error {
	p.cli.StartHandshake()
	var fedAt time.Time // when the server was last given a flight it has not answered
	for p.srv.State() != Established || p.cli.State() != Established {
		select {
		case <-p.cliN:
			if _, _, err := p.cli.Poll(nil); err != nil {
				return fmt.Errorf("client: %w", err)
			}
			buf = p.cli.AppendOutput(buf[:0])
			if len(buf) == 0 {
				continue
			}
			fedAt = time.Now()
			if _, err := p.srv.Feed(buf, nil); err != nil {
				return fmt.Errorf("server: %w", err)
			}
			if p.srv.HelloReady() {
				p.srv.StartHandshake()
			}
		case <-p.srvN:
			if !fedAt.IsZero() {
				p.srvTime += time.Since(fedAt)
				fedAt = time.Time{}
			}
			if _, _, err := p.srv.Poll(nil); err != nil {
				return fmt.Errorf("server: %w", err)
			}
			p.deliverToClient(buf)
		case <-time.After(10 * time.Second):
			return fmt.Errorf("handshake stuck: server %v, client %v", p.srv.State(), p.cli.State())
		}
	}
	return nil
}

func (p *pair) deliverToClient(buf []byte) {
	buf = p.srv.AppendOutput(buf[:0])
	if len(buf) > 0 {
		p.cli.Feed(buf, nil)
	}
}

// send has one side write msg and the other read it; it returns the plaintext received.
func send(from, to *Conn, msg, buf, plain []byte) ([]byte, error) {
	if err := from.Write(msg); err != nil {
		return plain, err
	}
	return to.Feed(from.AppendOutput(buf[:0]), plain)
}
