package tlsconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
)

// Reason says why a connection failed, for the reactor's counters and logs. Every error that Feed,
// Poll and Write return is an *Error carrying one; String gives a stable snake_case label.
type Reason uint8

// Reasons. The zero value ReasonNone is never used in an *Error; ReasonOf returns it for errors that
// are not *Error.
const (
	ReasonNone Reason = iota
	// ReasonNotTLS: the first byte is not a TLS handshake record (0x16), e.g. plain SIP sent to the
	// TLS port. No alert is sent: the peer would not understand it.
	ReasonNotTLS
	// ReasonBadRecord: a record header in the client's first flight is malformed (version major
	// not 3, a zero-length handshake record). Alert sent.
	ReasonBadRecord
	// ReasonRecordOverflow: a record in the client's first flight is longer than 2^14+2048
	// (RFC 8446 §5.1). record_overflow sent.
	ReasonRecordOverflow
	// ReasonHelloTooBig: the ClientHello does not fit in Options.MaxHello. Alert sent.
	ReasonHelloTooBig
	// ReasonBufferFull: the peer sent more than Options.MaxBuffered bytes that could not be
	// processed yet (before or during the handshake). No alert: this is flow control abuse, and
	// the TLS state may not allow one.
	ReasonBufferFull
	// ReasonHandshake: crypto/tls failed the handshake. Err is its error; the alert it sent, if
	// any, is already in the output.
	ReasonHandshake
	// ReasonAlert: the peer sent a fatal alert (Error.Alert says which).
	ReasonAlert
	// ReasonPeerClosed: the peer sent close_notify (RFC 8446 §6.1). Not a failure: the reactor
	// may answer with Close(true).
	ReasonPeerClosed
	// ReasonProtocol: any other protocol violation: a non-ClientHello first message, a record of
	// another type inside the ClientHello, a bad record after the handshake (bad_record_mac, a
	// misplaced KeyUpdate, ...). The alert we sent, if known, is in Error.Alert.
	ReasonProtocol
	// ReasonClosed: the Conn was closed locally (Close, or SendAlert refused it) and is used again.
	ReasonClosed
)

var reasonNames = [...]string{
	ReasonNone:           "none",
	ReasonNotTLS:         "not_tls",
	ReasonBadRecord:      "bad_record",
	ReasonRecordOverflow: "record_overflow",
	ReasonHelloTooBig:    "hello_too_big",
	ReasonBufferFull:     "buffer_full",
	ReasonHandshake:      "handshake",
	ReasonAlert:          "peer_alert",
	ReasonPeerClosed:     "peer_closed",
	ReasonProtocol:       "protocol",
	ReasonClosed:         "closed",
}

// String returns a snake_case label suitable for a metric label value, e.g. "not_tls".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Error is the error type of every failure Feed, Poll and Write report. The first one is sticky:
// once a Conn has failed, every later call returns the same *Error.
type Error struct {
	Reason Reason
	// Alert is, when Reason is ReasonAlert or ReasonPeerClosed, the alert the peer sent.
	// Otherwise it is the fatal alert we queued in the output for the peer, or 0 when none was
	// sent or its code is not known: crypto/tls does not always report which alert it sent, and
	// once the handshake is encrypted (TLS 1.3 after the ServerHello) it cannot be read back from
	// the output. close_notify (also 0) is never sent with an error.
	Alert Alert
	// Err is the underlying error (crypto/tls's, or one of the internal/record framing errors).
	Err error
}

// Error formats e as "tlsconn: <reason>[ (sent|received) <alert>]: <err>".
func (e *Error) Error() string {
	s := "tlsconn: " + e.Reason.String()
	switch {
	case e.Reason == ReasonAlert:
		s += " (received " + e.Alert.String() + ")"
	case e.Alert != 0:
		s += " (sent " + e.Alert.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err if it is or wraps an *Error, else ReasonNone.
func ReasonOf(err error) Reason {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ReasonNone
}

// errWouldBlock is what memConn.Read returns when it has no bytes after the handshake. crypto/tls
// keeps its record state across a net.Error whose Temporary() is true (conn.go readRecordOrCCS)
// and does not make it sticky, so the loop can feed more bytes and call Read again. Always compare
// with errors.Is: crypto/tls returns it unwrapped today but wrapping would be legal.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "tlsconn: would block" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

// Is makes the sentinel match os.ErrDeadlineExceeded, as a real socket's read deadline error does,
// in case crypto/tls ever checks for that instead of Temporary (research note §8 pitfall 2).
func (wouldBlockError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

var _ net.Error = wouldBlockError{}

// errClosed is the Err of a ReasonClosed error.
var errClosed = errors.New("tlsconn: use of closed connection")

// opAlert reports the alert code in a crypto/tls "remote error" (the peer sent the alert) or
// "local error" (we sent it) *net.OpError. crypto/tls's alert type is unexported; its kind is
// uint8, which reflect reads without needing the type.
func opAlert(err error) (a Alert, remote, ok bool) {
	op, isOp := errors.AsType[*net.OpError](err)
	if !isOp || op.Err == nil || (op.Op != "remote error" && op.Op != "local error") {
		return 0, false, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, false, false
	}
	return Alert(v.Uint()), op.Op == "remote error", true
}

// classifyRead turns a fatal error from (*tls.Conn).Read or Write after the handshake into an
// *Error.
func classifyRead(err error, tc *tls.Conn) *Error {
	if errors.Is(err, io.EOF) {
		return &Error{Reason: ReasonPeerClosed, Alert: CloseNotify, Err: err}
	}
	if a, remote, ok := opAlert(err); ok && remote {
		return &Error{Reason: ReasonAlert, Alert: a, Err: err}
	}
	e := &Error{Reason: ReasonProtocol, Err: err}
	if a, _, ok := opAlert(err); ok {
		e.Alert = a
		return e
	}
	// crypto/tls often sends an alert and returns a different error. It keeps the alert in its
	// write half's sticky error (conn.go sendAlertLocked), which a zero-length Write returns and
	// which is the only place the code of an alert sent on a protected connection can be read.
	// With no sticky error, the empty Write writes nothing.
	if _, werr := tc.Write(nil); werr != nil {
		if a, remote, ok := opAlert(werr); ok && !remote {
			e.Alert = a
		}
	}
	return e
}

// classifyHandshake turns the error of HandshakeContext into an *Error. sent is the alert found in
// plaintext in the output the handshake wrote, if any.
func classifyHandshake(err error, sent Alert, sentOK bool) *Error {
	a, remote, ok := opAlert(err)
	if ok && remote {
		return &Error{Reason: ReasonAlert, Alert: a, Err: err}
	}
	e := &Error{Reason: ReasonHandshake, Err: err}
	switch {
	case ok:
		e.Alert = a
	case sentOK:
		e.Alert = sent
	}
	return e
}
