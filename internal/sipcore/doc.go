// Package sipcore is a demo SIP core: the peer that stands behind tlsmux in `tlsmux demo`, in
// integration tests and in benchmarks, in place of Kamailio, OpenSIPS or Asterisk. It is a test
// peer, not part of the daemon: it runs one goroutine per connection and favours being easy to
// check over being fast.
//
// A Server listens on TCP and, per connection:
//   - optionally reads a PROXY protocol v1 or v2 header first (github.com/pires/go-proxyproto, an
//     implementation independent of tlsmux's own encoder) and reports it through Options.OnConn,
//     so tests can check the addresses and TLVs tlsmux sent;
//   - frames SIP with sipmsg (RFC 3261 §18.3);
//   - answers OPTIONS and REGISTER with 200 OK (Via, From, To with a tag, Call-ID and CSeq copied,
//     RFC 3261 §8.2.6.2; Contact and Expires for REGISTER, §10.3);
//   - echoes every other message byte for byte, so a client can verify what crossed tlsmux;
//   - answers a "\r\n\r\n" keepalive with "\r\n" (RFC 5626 §4.4.1);
//   - optionally sends its own OPTIONS request after each REGISTER over the same connection, the
//     way a core reaches a phone through the connection the phone opened (RFC 3261 §18.2.2,
//     RFC 5923), and counts the answers.
//
// # Concurrency
//
// Server methods are safe for concurrent use. OnConn and OnClose run on the connection's own
// goroutine, possibly many at once. Close returns only after every goroutine the Server started
// has returned.
//
// # Usage
//
//	srv, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{ProxyProtocol: true, PingAfterRegister: true})
//	if err != nil { ... }
//	defer srv.Close()
//	backend := srv.Addr().String() // point tlsmux's backend here
//	...
//	st := srv.Stats() // st.Registers, st.Echoed, st.OptionsAnswered, ...
//
// # Limitations
//
//   - Nothing is stored: REGISTER is answered but no binding is kept, no transaction state, no
//     retransmission handling, no authentication.
//   - Replies are written from the reading goroutine: a client that pipelines without reading
//     stalls its own connection once the socket buffers fill (harmless for a demo peer).
//   - The PROXY header is required when Options.ProxyProtocol is set and is read without a
//     timeout; a peer that connects and says nothing holds a goroutine until it closes or the
//     Server is closed (MaxConns bounds how many).
//   - Responses that do not answer the core's own OPTIONS are echoed like requests.
package sipcore
