package reactor_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/reactor"
)

// TestReusePortSharesAPort: two servers (as two tlsmux processes would) listen on one port with
// SO_REUSEPORT; the first picks the port from :0, the second reuses it, and clients reach both.
func TestReusePortSharesAPort(t *testing.T) {
	a := start(t, setup{opts: func(o *reactor.Options) { o.ReusePort = true }})
	port := netip.MustParseAddrPort(a.addr).Port()
	b := start(t, setup{opts: func(o *reactor.Options) {
		o.ReusePort = true
		o.Listen = []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)}
	}})
	require.Equal(t, a.addr, b.addr)
	cfg := a.client.Clone()
	cfg.RootCAs = a.pki.Pool()
	cfg.RootCAs.AppendCertsFromPEM(b.pki.CAPEM())
	// The kernel spreads connections over both servers' sockets by hash of the 4-tuple; keep
	// connecting until each has served one (bounded).
	for i := 0; i < 200 && (a.srv.Stats().Handshakes == 0 || b.srv.Stats().Handshakes == 0); i++ {
		c, err := a.dial(cfg)
		require.NoError(t, err)
		require.NoError(t, echo(c, sipMessage(t, i, 400)))
		c.Close()
	}
	require.NotZero(t, a.srv.Stats().Handshakes, "first server never got a connection")
	require.NotZero(t, b.srv.Stats().Handshakes, "second server never got a connection")
}
