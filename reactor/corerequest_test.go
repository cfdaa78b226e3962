package reactor_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/sipmsg"
	"github.com/tlsmux/tlsmux/reactor"
)

// sipReader reads whole SIP messages from a client's side of the connection.
type sipReader struct {
	r   io.Reader
	f   sipmsg.Framer
	buf []byte
}

// next returns the next SIP message, skipping keepalive pongs.
func (s *sipReader) next() (sipmsg.Message, error) {
	tmp := make([]byte, 4096)
	for {
		kind, n, err := s.f.Next(s.buf)
		if err != nil {
			return sipmsg.Message{}, err
		}
		if kind == sipmsg.SIP {
			frame := bytes.Clone(s.buf[:n])
			s.buf = s.buf[n:]
			return sipmsg.Parse(frame)
		}
		if kind != sipmsg.None {
			s.buf = s.buf[n:]
			continue
		}
		k, err := s.r.Read(tmp)
		s.buf = append(s.buf, tmp[:k]...)
		if err != nil && k == 0 {
			return sipmsg.Message{}, err
		}
	}
}

// header returns m's header name, or "" without one.
func header(m *sipmsg.Message, name string) string {
	v, _ := m.Get(name)
	return string(v)
}

// TestCoreRequest: the core reaches a registered phone over the connection the phone opened
// (RFC 3261 §18.2.2, RFC 5923): after the REGISTER's 200 OK it sends an OPTIONS through tlsmux
// to the phone, and the phone's answer goes back over the same connection.
func TestCoreRequest(t *testing.T) {
	var co sipcore.Options
	conns := coreConns(&co)
	co.PingAfterRegister = true
	e := start(t, setup{core: co, opts: func(o *reactor.Options) { o.ProxyProtocol = forward.V2 }})
	for i, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v, v
			c, err := e.dial(cfg)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			contact := fmt.Sprintf("sip:alice@%s;transport=tls", c.LocalAddr())
			callID := fmt.Sprintf("reg-%d@test", i)
			_, err = c.Write(sipmsg.AppendRequest(nil, sipmsg.Request{
				Method: "REGISTER", URI: "sip:example.net",
				Via:  fmt.Sprintf("SIP/2.0/TLS %s;branch=z9hG4bK-reg-%d", c.LocalAddr(), i),
				From: "<sip:alice@example.net>;tag=a1", To: "<sip:alice@example.net>",
				CallID: callID, CSeq: 1,
				Headers: []string{"Contact: <" + contact + ">", "Expires: 600"},
			}))
			require.NoError(t, err)

			r := &sipReader{r: c, f: sipmsg.Framer{FromServer: true}}
			ok, err := r.next()
			require.NoError(t, err, "the REGISTER's answer")
			require.False(t, ok.IsRequest())
			assert.Equal(t, 200, ok.Status)
			assert.Equal(t, callID, header(&ok, "Call-ID"))
			assert.Equal(t, "1 REGISTER", header(&ok, "CSeq"))

			req, err := r.next()
			require.NoError(t, err, "the core's OPTIONS")
			require.True(t, req.IsRequest(), "a request from the core, got %q", req.Raw)
			assert.Equal(t, "OPTIONS", string(req.Method))
			assert.Equal(t, contact, string(req.URI), "addressed to the registered Contact")

			_, err = c.Write(sipmsg.AppendResponse(nil, &req, sipmsg.Response{Status: 200, ToTag: "alice"}))
			require.NoError(t, err)
			waitFor(t, "the core to count the answer to its OPTIONS", func() bool {
				return e.core.Stats().OptionsAnswered == uint64(i+1)
			})
			st := e.core.Stats()
			assert.EqualValues(t, i+1, st.Registers)
			assert.EqualValues(t, i+1, st.OptionsSent)
			assert.Zero(t, st.Echoed, "the answer was taken as one, not echoed")
			assert.EqualValues(t, i+1, st.Accepted, "one backend connection per phone")
			ci := nextConn(t, conns) // the PROXY header came first on that connection
			assert.Equal(t, addrPort(t, c.LocalAddr()), ci.Source)
		})
	}
}
