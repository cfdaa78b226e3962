package sipcore

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// conn is one client connection, owned by its goroutine.
type conn struct {
	srv  *Server
	nc   net.Conn
	r    io.Reader
	info *ConnInfo
	fr   sipmsg.Framer

	buf     []byte   // received, not yet framed
	out     []byte   // replies to write after the current read's frames are handled
	sent    uint32   // core-originated OPTIONS so far, for Call-IDs and CSeqs
	pending []string // Call-IDs of core OPTIONS not yet answered, oldest first
}

// maxPending bounds the core OPTIONS remembered per connection: a client that never answers
// must not grow the list without bound.
const maxPending = 8

func (c *conn) run() error {
	c.buf = make([]byte, 0, 4096)
	for {
		if len(c.buf) == cap(c.buf) {
			// A full buffer holds no whole frame. The framer refuses any message over its Max,
			// so doubling stops below twice that.
			c.buf = append(make([]byte, 0, 2*cap(c.buf)), c.buf...)
		}
		n, rerr := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		consumed, ferr := c.frames()
		c.buf = c.buf[:copy(c.buf, c.buf[consumed:])]
		if err := c.flush(); err != nil {
			return err
		}
		if ferr != nil {
			return ferr
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && len(c.buf) > 0 && string(c.buf) != "\r\n" {
				return io.ErrUnexpectedEOF // the peer closed in the middle of a message
			}
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}

// frames handles every whole frame in c.buf, appending replies to c.out, and returns how many
// bytes it consumed. Replies to the frames before a framing error are still sent.
func (c *conn) frames() (consumed int, err error) {
	for {
		kind, n, err := c.fr.Next(c.buf[consumed:])
		if err != nil || kind == sipmsg.None {
			return consumed, err
		}
		c.handle(kind, c.buf[consumed:consumed+n])
		consumed += n
	}
}

func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	n, err := c.nc.Write(c.out)
	c.srv.st.bytesOut.Add(uint64(n))
	c.out = c.out[:0]
	return err
}

func (c *conn) handle(kind sipmsg.Kind, frame []byte) {
	st := &c.srv.st
	switch kind {
	case sipmsg.Ping:
		st.pings.Add(1)
		c.out = append(c.out, "\r\n"...) // RFC 5626 §4.4.1 pong
		return
	case sipmsg.Pong:
		st.pongs.Add(1)
		return
	}
	m, err := sipmsg.Parse(frame)
	if err != nil {
		// Not reached: the framer checks what Parse checks. Echo, so the client sees it.
		c.echo(frame)
		return
	}
	switch {
	case !m.IsRequest():
		if c.answered(&m) {
			st.optsAnswd.Add(1)
			return
		}
		c.echo(frame)
	case string(m.Method) == "OPTIONS":
		st.options.Add(1)
		c.out = sipmsg.AppendResponse(c.out, &m, sipmsg.Response{Status: 200, ToTag: c.tag(),
			Headers: []string{"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE"}})
	case string(m.Method) == "REGISTER":
		st.registers.Add(1)
		c.register(&m)
		if c.srv.opts.PingAfterRegister {
			c.sendOptions(&m)
		}
	default:
		c.echo(frame)
	}
}

func (c *conn) echo(frame []byte) {
	c.srv.st.echoed.Add(1)
	c.out = append(c.out, frame...)
}

func (c *conn) tag() string { return "core" + strconv.FormatUint(c.info.ID, 10) }

// register answers a REGISTER with 200 OK listing the bindings with their lifetimes (RFC 3261
// §10.3 step 8). Nothing is stored: the demo core only has to answer like a registrar.
func (c *conn) register(m *sipmsg.Message) {
	expires := c.srv.opts.Expires
	if v, ok := m.Get("Expires"); ok {
		if n, err := strconv.Atoi(string(v)); err == nil && n >= 0 {
			expires = n
		}
	}
	exp := strconv.Itoa(expires)
	hdrs := make([]string, 0, 2)
	for name, v := range m.Headers() {
		if !sipmsg.EqualName(name, "Contact") || string(v) == "*" {
			continue
		}
		if _, ok := sipmsg.Param(v, "expires"); ok {
			hdrs = append(hdrs, "Contact: "+string(v))
		} else {
			hdrs = append(hdrs, "Contact: "+string(v)+";expires="+exp)
		}
	}
	hdrs = append(hdrs, "Expires: "+exp)
	c.out = sipmsg.AppendResponse(c.out, m, sipmsg.Response{Status: 200, ToTag: c.tag(), Headers: hdrs})
}

// sendOptions sends the client a core-originated OPTIONS over this connection, addressed to the
// Contact it registered (or its To URI).
func (c *conn) sendOptions(reg *sipmsg.Message) {
	c.sent++
	n := strconv.FormatUint(uint64(c.sent), 10)
	id := strconv.FormatUint(c.info.ID, 10)
	to, _ := reg.Get("To")
	uri := uriOf(to)
	if v, ok := reg.Get("Contact"); ok && string(v) != "*" {
		uri = uriOf(v)
	}
	if uri == "" {
		uri = "sip:client.invalid"
	}
	callID := "core-" + id + "-" + n + "@core.invalid"
	c.out = sipmsg.AppendRequest(c.out, sipmsg.Request{
		Method: "OPTIONS",
		URI:    uri,
		Via:    "SIP/2.0/TCP " + c.nc.LocalAddr().String() + ";branch=z9hG4bK-core-" + id + "-" + n,
		From:   "<sip:core@core.invalid>;tag=" + c.tag(),
		To:     string(to),
		CallID: callID,
		CSeq:   c.sent,
	})
	if len(c.pending) == maxPending {
		c.pending = c.pending[1:]
	}
	c.pending = append(c.pending, callID)
	c.srv.st.optsSent.Add(1)
}

// answered reports whether response m answers one of our OPTIONS, and forgets that one.
func (c *conn) answered(m *sipmsg.Message) bool {
	id, ok := m.Get("Call-ID")
	if !ok {
		return false
	}
	for i, p := range c.pending {
		if p == string(id) {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return true
		}
	}
	return false
}

// uriOf returns the URI of a name-addr or addr-spec header value: "Bob <sip:b@h>;tag=1" gives
// "sip:b@h", "sip:b@h;tag=1" gives "sip:b@h".
func uriOf(v []byte) string {
	s := string(v)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			return s[:j]
		}
		return ""
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return s
}
