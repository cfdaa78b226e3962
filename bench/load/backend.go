package load

import (
	"context"
	"fmt"

	"github.com/tlsmux/tlsmux/internal/sipcore"
)

// backend serves the demo SIP core (internal/sipcore: REGISTER and OPTIONS answered, every
// other message echoed byte for byte, keepalives answered) until ctx ends or stdin closes.
func (b *bench) backend(ctx context.Context) int {
	srv, err := sipcore.Listen(b.cfg.Listen, sipcore.Options{ProxyProtocol: b.cfg.ProxyProtocol, MaxConns: b.cfg.MaxConns})
	if err != nil {
		b.errw.println(fmt.Sprintf("tlsbench backend: %v", err))
		return ExitFailed
	}
	b.out.println("BACKEND " + srv.Addr().String())
	select {
	case <-ctx.Done():
	case <-b.eof:
	}
	srv.Close()
	st := srv.Stats()
	b.errw.println(fmt.Sprintf("backend: stopped: %d connections (%d refused, %d bad PROXY headers, %d bad framing), %d REGISTER, %d echoed, %d keepalives",
		st.Accepted, st.Refused, st.ProxyErrors, st.FrameErrors, st.Registers, st.Echoed, st.Pings))
	return ExitOK
}
