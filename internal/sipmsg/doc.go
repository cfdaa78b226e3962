// Package sipmsg frames, parses and builds SIP messages on stream transports (TCP, and the clear
// text of TLS). tlsmux's demo SIP core, its load generator and the tests use it; the daemon's
// later "sip" forwarding mode is meant to frame with it too.
//
// Framing follows RFC 3261 §18.3: the header section ends at the first empty line and the body is
// exactly Content-Length bytes (compact form "l"), which is therefore mandatory on a stream.
// Between messages, RFC 5626 §4.4.1 keepalives are frames of their own: a client's "\r\n\r\n" is
// a Ping, answered with a "\r\n" Pong; a lone "\r\n" (a pong, or an empty line that RFC 3261 §7.5
// says to ignore) is a Pong. Every message is bounded (Framer.Max) and so is its header section
// (Framer.MaxHeader), so a peer that never ends its headers costs at most MaxHeader bytes. Errors
// are *Error values naming the reason and the offending value, e.g.
// "sipmsg: header section exceeds 8192 bytes"; test them with errors.Is(err, sipmsg.TooBig).
//
// Parse gives a read-only view of a framed message (start line, header lookup that knows compact
// forms, body); AppendRequest, AppendResponse and AppendSized build messages, the last of an
// exact size for load tests.
//
// # Concurrency
//
// A Framer is used by one goroutine at a time (it remembers its progress through a partial
// message). Everything else is a pure function of its arguments; a Message is read-only and may
// be shared while its bytes do not change.
//
// # Usage
//
//	var f sipmsg.Framer // zero value: 64 KiB messages, 8 KiB header sections
//	for {
//		kind, n, err := f.Next(buf)
//		if err != nil {
//			return err // framing is lost: close the connection
//		}
//		if kind == sipmsg.None {
//			break // read more, append to buf, call again
//		}
//		switch kind {
//		case sipmsg.Ping:
//			send([]byte("\r\n"))
//		case sipmsg.SIP:
//			m, err := sipmsg.Parse(buf[:n])
//			...
//		}
//		buf = buf[n:]
//	}
//
// # Limitations
//
//   - Only SIP/2.0 is accepted; the Request-URI is checked for a scheme, not parsed.
//   - Header values are not parsed beyond what framing and the demo need: CSeq, header parameters
//     (Param, which does not understand quoted strings containing ';'), and Content-Length.
//   - Header lines must end in CRLF; a bare LF is an error rather than tolerated, because peers
//     that disagree about line ends disagree about where a message ends.
//   - Content-Length values that disagree are refused; identical repeats are accepted.
//   - From a client, a "\r\n" at the end of the buffer is held back until the next byte shows
//     whether it starts a ping; a client that sends a lone CRLF and then waits gets no frame for
//     it (it needs no answer anyway).
package sipmsg
