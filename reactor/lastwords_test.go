package reactor_test

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/sipmsg"
	"github.com/tlsmux/tlsmux/reactor"
)

// holdConn passes the first write (the ClientHello) through and holds every later one until
// Close, so the client's Finished, its application data and its close_notify leave in one
// write(2).
type holdConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
	held   []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	if h.writes == 1 {
		return h.Conn.Write(p)
	}
	h.held = append(h.held, p...)
	return len(p), nil
}

func (h *holdConn) Close() error {
	h.mu.Lock()
	held := h.held
	h.mu.Unlock()
	// crypto/tls sets a past write deadline after its close_notify; this write is ours.
	if err := h.Conn.SetWriteDeadline(time.Time{}); err != nil {
		return err
	}
	if _, err := h.Conn.Write(held); err != nil {
		h.Conn.Close()
		return err
	}
	return h.Conn.Close()
}

// TestLastWordsDelivered: a phone whose Finished, last message and close_notify arrive together
// (the backend is not even dialled yet) still has its message delivered to the core.
func TestLastWordsDelivered(t *testing.T) {
	for _, pp := range []forward.ProxyProtocol{forward.None, forward.V2} {
		t.Run(pp.String(), func(t *testing.T) { testLastWords(t, pp) })
	}
}

func testLastWords(t *testing.T, pp forward.ProxyProtocol) {
	closed := make(chan error, 1)
	src := make(chan netip.AddrPort, 1)
	e := start(t, setup{
		opts: func(o *reactor.Options) { o.ProxyProtocol = pp },
		core: sipcore.Options{
			ProxyProtocol: pp != forward.None,
			OnConn:        func(ci *sipcore.ConnInfo) { src <- ci.Source },
			OnClose:       func(_ *sipcore.ConnInfo, err error) { closed <- err },
		},
	})
	raw, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	cfg := e.client.Clone()
	cfg.MinVersion = tls.VersionTLS13
	c := tls.Client(&holdConn{Conn: raw}, cfg)
	require.NoError(t, c.Handshake())
	msg := sipMessage(t, 1, 800)
	_, err = c.Write(msg)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	// The core's echo may meet the closed backend connection (the phone is gone) and be reset;
	// what matters is that the core got the message whole, framed as one SIP message.
	if err := <-closed; err != nil {
		var fe *sipmsg.Error
		require.False(t, errors.As(err, &fe), "the core saw a broken message: %v", err)
	}
	if pp != forward.None {
		// The phone had gone before the backend connection existed; the header still names it.
		require.Equal(t, raw.LocalAddr().(*net.TCPAddr).AddrPort(), <-src)
	}
	st := e.core.Stats()
	require.EqualValues(t, 1, st.Echoed, "the core got the message")
	if pp == forward.None {
		require.EqualValues(t, len(msg), st.BytesIn) // with a header the core counts its bytes too
	}
	waitFor(t, "the pair to close", func() bool { return e.srv.Stats().Open == 0 })
	require.EqualValues(t, 1, e.srv.Stats().Closed["client_closed"])
	require.Empty(t, e.srv.Stats().DroppedBytes)
}
