package tlsconn

import (
	"fmt"

	"github.com/tlsmux/tlsmux/internal/record"
)

// feedHello buffers the first flight of a server (and anything a client receives before it has
// started). A server checks the framing of every byte up to the end of the ClientHello before it
// accepts more, so plain text or garbage is refused at its first byte and costs no crypto.
func (c *Conn) feedHello(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if c.pre == nil {
		c.pre = &preHello{buf: getBuf(), scan: record.HelloScanner{Max: c.maxHello}}
	}
	buf := c.pre.buf
	if c.helloReady {
		// The ClientHello is complete; whatever follows is for crypto/tls to judge.
		if len(*buf)+len(p) > c.maxBuffered {
			return c.fail(&Error{Reason: ReasonBufferFull,
				Err: fmt.Errorf("more than %d bytes received before the handshake started", c.maxBuffered)})
		}
		*buf = append(*buf, p...)
		return nil
	}
	// Take no more than MaxHello allows, so a flood is never copied; the scanner refuses a
	// hello that cannot fit at the first byte that shows it, however the bytes were split.
	n := min(len(p), c.maxHello-len(*buf))
	*buf = append(*buf, p[:n]...)
	need, err := c.pre.scan.Scan(*buf)
	if err != nil {
		return c.refuse(helloError(err, c.maxHello))
	}
	if need > 0 {
		return nil
	}
	c.helloReady = true
	return c.feedHello(p[n:])
}

// helloError maps a framing error of the first flight to a reason and an alert. The alerts are
// those crypto/tls sends for the same faults (conn.go readRecordOrCCS: record_overflow,
// unexpected_message for an empty or misplaced record, nothing for plain text), so refusing early
// changes little for the peer but the CPU it costs us; a record version that is not 3.x gets
// protocol_version (RFC 8446 §6.2: "the protocol version the peer has attempted to negotiate is
// recognized but not supported").
func helloError(err error, maxHello int) *Error {
	e := &Error{Err: err}
	switch err {
	case record.ErrNotTLS:
		// crypto/tls sends nothing either ("first record does not look like a TLS handshake"):
		// a peer speaking SIP or HTTP would take an alert record for garbage.
		e.Reason = ReasonNotTLS
	case record.ErrVersion:
		e.Reason, e.Alert = ReasonBadRecord, ProtocolVersion
	case record.ErrOverflow:
		e.Reason, e.Alert = ReasonRecordOverflow, RecordOverflow
	case record.ErrEmpty:
		e.Reason, e.Alert = ReasonBadRecord, UnexpectedMessage
	case record.ErrTooBig:
		// Our limit, not a protocol rule. OpenSSL answers an excessive message with
		// illegal_parameter; crypto/tls (for its 64 KiB bound) with internal_error, which here
		// would read as a server fault.
		e.Reason, e.Alert = ReasonHelloTooBig, IllegalParameter
		e.Err = fmt.Errorf("%w (%d bytes)", err, maxHello)
	default: // ErrNotHandshake, ErrNotClientHello
		e.Reason, e.Alert = ReasonProtocol, UnexpectedMessage
	}
	return e
}

// refuse queues e's alert, if any, as a plaintext record and fails the Conn with e.
func (c *Conn) refuse(e *Error) error {
	if e.Alert != 0 {
		c.queueAlert(e.Alert)
	}
	return c.fail(e)
}

// preHello is what a Conn holds before its handshake starts; it is dropped then, so an
// established connection does not carry it.
type preHello struct {
	buf  *[]byte // pooled; handed to memConn by StartHandshake
	scan record.HelloScanner
}

func (c *Conn) releasePre() {
	if c.pre != nil {
		putBuf(c.pre.buf)
		c.pre = nil
	}
}
