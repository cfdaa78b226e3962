// Package reactor runs tlsmux's event loops: it accepts TLS clients on gnet loops, drives each
// connection's non-blocking TLS state machine (package tlsconn), dials the backend for every
// established connection and enrolls it on the client's own loop, moves clear text both ways
// ("pipe" mode, with an optional PROXY protocol header), and enforces every timeout and byte limit.
//
// It is the only package that imports gnet. ARCHITECTURE.md §4 lists gnet's gaps; this package
// covers them:
//
//   - Inbound bytes are consumed at once on every callback into bounded buffers (tlsconn's record
//     buffer, the clear-text queue of package wq); over a limit the connection is refused.
//   - Outbound bytes are bounded by polling OutboundBuffered (gnet has no drain callback):
//     over -tcp-conn-wq-max the connection is closed, and queued bytes must make progress within
//     the send timeout.
//   - gnet's Close drops unsent bytes, so closing drains first (drain-then-close) unless the send
//     timeout fires.
//   - Timers: one timing wheel per loop (internal/timerwheel), advanced on the loop by an Execute
//     task from a single ticker goroutine.
//   - Backend dials use net.Dialer with a timeout in a short-lived goroutine, then Enroll on the
//     client's loop, so a proxied pair never crosses goroutines.
//   - Every connection carries its own open flags, checked before any gnet call (gnet writes to
//     a reused fd after close), and every callback recovers panics, closing only that connection.
//
// Usage:
//
//	srv, err := reactor.New(reactor.Options{Listen: ..., Backend: ..., TLS: cfg})
//	if err := srv.Start(); err != nil { ... }
//	...
//	err = srv.Shutdown(ctx) // stop accepting, let connections finish until ctx ends, then close
//
// Concurrency: New, Start and Shutdown are called by one goroutine; Stats, Addrs and the
// ...OffLoop methods are safe from any goroutine. Everything else runs on the loops: a
// connection and its backend are touched only by the loop they live on, and by the connection's
// handshake goroutine only through tlsconn's Notify hook, which wakes the loop.
//
// # Limitations
//
//   - Stopping accepting during shutdown closes new connections right after accept (gnet cannot
//     pause its listeners); they are counted as "shutdown".
//   - A waiting connection on one loop learns that another loop released a handshake slot at the
//     next tick (100 ms by default).
//   - gnet cannot pause reads, so a peer that sends faster than the other side takes is closed
//     when the limits are reached rather than slowed down.
package reactor
