package tlsconn

import "strconv"

// State is where a Conn stands in its life. Transitions, all made on the loop:
//
//	WaitHello   → Handshaking  StartHandshake (server: once HelloReady)
//	WaitHello   → Closing      Feed refuses the first flight, or SendAlert
//	Handshaking → Established  Poll collects a successful handshake
//	Handshaking → Closing      Feed overflows MaxBuffered, or Poll collects a failed handshake
//	Established → Closing      Feed or Write meets a fatal error, or the peer's close_notify
//	any         → Closed       Close
type State uint8

const (
	// WaitHello: a server buffers the client's first bytes, checking record framing, until a
	// whole ClientHello is in (HelloReady). A client waits for StartHandshake. No crypto yet.
	WaitHello State = iota
	// Handshaking: the handshake goroutine runs crypto/tls; the loop feeds it and collects its
	// output and its end through Notify and Poll.
	Handshaking
	// Established: the loop alone drives the tls.Conn: Feed decrypts inline, Write encrypts.
	Established
	// Closing: the connection failed or the peer closed it (Feed/Poll/Write returned the
	// reason). No more input is accepted; pending output (an alert) should be flushed, then
	// Close called.
	Closing
	// Closed: Close was called. Pending output (close_notify, an alert) may still be taken.
	Closed
)

var stateNames = [...]string{"wait_hello", "handshaking", "established", "closing", "closed"}

// String returns a snake_case name, e.g. "wait_hello".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}
