// Package tlsconn is a non-blocking TLS connection for an event loop, built on the standard
// library's crypto/tls, unmodified. The loop pushes ciphertext in and pulls plaintext and ciphertext
// to send out; tlsconn does no I/O, reads no clock and does not log (ARCHITECTURE §3).
//
// A Conn goes WaitHello → Handshaking → Established → Closing → Closed (see State):
//
//   - WaitHello (server): Feed buffers the client's first bytes and checks their record framing
//     with internal/record, so plain SIP on the TLS port, garbage, oversized records or a first
//     message that is not a ClientHello are refused with a typed *Error (and an alert where one
//     makes sense) before any crypto runs. Once a whole ClientHello is buffered, HelloReady is
//     true and the reactor, after its admission control, calls StartHandshake (or SendAlert to
//     turn the client away).
//   - Handshaking: crypto/tls runs HandshakeContext in an internal goroutine over an in-memory
//     net.Conn, parked in its Read until the loop feeds bytes: crypto/tls cannot resume a
//     handshake after a would-block (its handshake error is sticky), so the handshake is the one
//     place a goroutine blocks. The loop never waits for it: the goroutine calls Options.Notify
//     when it has written output or finished, and the loop calls Poll and AppendOutput.
//   - Established: the goroutine has exited and the loop drives crypto/tls inline. Feed hands it
//     ciphertext one record at a time and drains plaintext; the in-memory conn returns a
//     would-block net.Error when empty, which crypto/tls survives between records and inside one.
//     Write encrypts into the output.
//
// # Concurrency
//
// Every method of Conn is for the connection's event loop only: one goroutine at a time, without
// locks, as gnet calls OnTraffic. The exception is Options.Notify, which tlsconn calls from the
// handshake goroutine; it must not block and must not call the Conn, only schedule Poll on the
// loop. Calls are coalesced: after a Notify, the next one comes only after Poll has run. After the
// handshake there is no goroutine and no Notify. Close stops a handshake in flight without waiting
// for it: the goroutine wakes, returns and exits on its own.
//
// # Usage
//
// On a server loop (error handling shortened; out is what to write to the socket):
//
//	c := tlsconn.NewServer(cfg, tlsconn.Options{Notify: func() { gc.Wake(nil) }})
//
//	// OnTraffic: bytes from the socket (copied by Feed where needed).
//	plain, err := c.Feed(buf, plain[:0])
//	if err != nil { out = c.AppendOutput(out); flushThenClose(); c.Close(false); return }
//	if c.HelloReady() {
//		if !admission.TryAcquire() { c.SendAlert(tlsconn.InternalError); ...; return }
//		c.StartHandshake()
//	}
//	forward(plain)
//	out = c.AppendOutput(out)
//
//	// On the loop after Notify (gnet: OnTraffic after Wake):
//	done, plain, err := c.Poll(plain[:0])
//	out = c.AppendOutput(out)
//	if done { admission.Release(); if err == nil { attrs := c.Attrs(); forward(plain) } }
//
//	// Backend to phone:
//	err = c.Write(msg); out = c.AppendOutput(out)
//
//	// Closing:
//	c.Close(true); out = c.AppendOutput(out) // close_notify
//
// A client (NewClient) is the same, with StartHandshake called right away.
//
// # Connection attributes
//
// When Poll sees the handshake complete it computes, once, the connection's Attrs: version,
// cipher, SNI, resumption, verification, and a CertInfo for the peer's certificate (subject and
// issuer in OpenSSL's one-line form and by component, serial, validity, every subject alternative
// name, self-signed), which is everything Kamailio's $tls_* variables and @tls.* selects and
// OpenSIPS's tls_mgm variables show. attrs.md maps each of them to its field, and to where the
// PROXY header and the logs carry it. The caller adds what crypto/tls cannot know: the profile
// and our own certificate (SetProfile), the revocation verdict (SetPeerRevoked), the clock for
// expiry (Options.Now), and whether to keep the peer's DER (Options.KeepPeerDER).
//
// Errors are *Error values with a Reason (ReasonNotTLS, ReasonHandshake, ReasonPeerClosed, ...)
// for counters, the Alert sent or received, and the underlying error. The first error is sticky.
//
// # Memory
//
// An idle established Conn holds the tls.Conn (its read buffer sized to the largest record received,
// cipher states, the peer's certificates when it sent some), about 200 bytes of its own and its
// Attrs (96 bytes, plus about 360 bytes of CertInfo for a typical client certificate); no
// buffer of tlsconn's survives once it is empty (they go back to a sync.Pool). Because crypto/tls's
// read buffer never shrinks (golang/go#43563), the in-memory conn gives it at most one record per
// Read, so one large burst from the peer does not pin a large buffer for the connection's life.
//
// # Limitations
//
//   - Renegotiation is refused (TLS 1.2 servers: crypto/tls never renegotiates; clients are forced
//     to tls.RenegotiateNever), and so is TLS 1.3 0-RTT (crypto/tls does not implement it).
//   - The idle cost is crypto/tls's: about 5 KiB after 1 KiB messages, about 22 KiB after one
//     full 16 KiB record, more with client certificates. Going lower means replacing the record
//     layer after the handshake; the API does not expose the tls.Conn so that can change.
//   - crypto/tls keeps the peer's parsed certificates (about 3 KB each) in the tls.Conn for the
//     connection's life, and there is no API to drop them: Attrs keeps its own compact copy so
//     that this memory goes away with the tls.Conn once the record layer is replaced.
//   - Error.Alert may be 0 when crypto/tls sent an alert whose code cannot be recovered: during a
//     handshake, once its records are encrypted (TLS 1.3 after the ServerHello).
//   - A handshake in flight costs a goroutine (~8 KiB stack and ~8 KiB heap while parked):
//     the reactor caps handshakes in flight (memguard.Admission) and enforces hello and handshake
//     deadlines with its own timers; tlsconn has none (crypto/tls deadlines are no-ops here).
//   - The resumable-read behaviour relied on after the handshake (would-block inside a record,
//     KeyUpdate and NewSessionTicket split across reads) is how crypto/tls works, not a documented
//     contract; the tests in this package pin it and must pass on every Go upgrade.
package tlsconn
