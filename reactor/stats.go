package reactor

import "sync/atomic"

// Reason says why a connection was closed or refused, or why bytes were dropped. Every close is
// counted under exactly one reason (the first one: later reasons are not counted).
type Reason uint8

// Reasons. Their String forms are the counter names.
const (
	ReasonNone             Reason = iota
	ReasonClientClosed            // the phone closed (close_notify or TCP FIN)
	ReasonBackendClosed           // the SIP core closed the backend connection
	ReasonNotTLS                  // the first bytes were not a TLS record (plain SIP on the TLS port)
	ReasonBadRecord               // malformed TLS record before the handshake
	ReasonRecordOverflow          // a record over the RFC 8446 §5.2 / RFC 5246 §6.2.3 size limit
	ReasonHelloTooBig             // ClientHello larger than the buffer allows
	ReasonBufferFull              // more ciphertext buffered than allowed while handshaking
	ReasonHelloTimeout            // no complete ClientHello within -hello-timeout
	ReasonHandshakeTimeout        // handshake not finished within -handshake-timeout
	ReasonHandshakeFailed         // crypto/tls refused the handshake (alert sent)
	ReasonTLSError                // fatal TLS error on an established connection
	ReasonPeerAlert               // the peer sent a fatal alert
	ReasonIdleTimeout             // no I/O within -connection-timeout
	ReasonSendTimeout             // queued outbound bytes made no progress within -send-timeout
	ReasonSendQueueFull           // more than -tcp-conn-wq-max queued for a socket
	ReasonSendGlobalFull          // more than -tcp-wq-max queued for all sockets together
	ReasonWqConnFull              // clear-text queue over -con-ct-wq-max
	ReasonWqGlobalFull            // clear-text queues over -ct-wq-max
	ReasonBackendRefused          // backend dial refused
	ReasonBackendTimeout          // backend dial timed out
	ReasonBackendError            // backend dial failed otherwise
	ReasonMaxConnections          // over -max-connections at accept
	ReasonShutdown                // closed by shutdown
	ReasonPanic                   // a bug: a callback panicked; only that connection was closed
	ReasonLowMem1                 // free memory under low_mem_threshold1: new TLS connections refused
	ReasonLowMem2                 // free memory under low_mem_threshold2: queue growth refused
	ReasonHandshakeBusy           // waited for a handshake slot until the hello timeout
	ReasonHandshakeRate           // waited for the handshake rate (-handshake-rate) until the hello timeout
	ReasonWaitShed                // shed from a full wait list (-max-waiting), oldest first
	ReasonPerSource               // over -per-source-conns or -per-source-rate for its source
	ReasonSourceTableFull         // the per-source table (-per-source-table) is full of live sources
	ReasonAdmin                   // closed through the admin interface (conn.close)
	numReasons
)

var reasonNames = [numReasons]string{
	"none", "client_closed", "backend_closed", "not_tls", "bad_record", "record_overflow",
	"hello_too_big", "buffer_full", "hello_timeout", "handshake_timeout", "handshake_failed",
	"tls_error", "peer_alert", "idle_timeout", "send_timeout", "send_queue_full", "send_global_full",
	"wq_conn_full", "wq_global_full", "backend_refused", "backend_timeout", "backend_error",
	"max_connections", "shutdown", "panic", "lowmem1", "lowmem2", "handshake_busy", "handshake_rate",
	"wait_shed", "per_source", "source_table_full", "admin",
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// counters are shared by all loops.
type counters struct {
	accepted     atomic.Uint64
	open         atomic.Int64
	handshakes   atomic.Uint64
	resumed      atomic.Uint64
	waiting      atomic.Int64 // connections with a whole ClientHello waiting for a handshake slot
	closed       [numReasons]atomic.Uint64
	droppedBytes [numReasons]atomic.Uint64
	bytesIn      atomic.Uint64 // clear text phone -> core
	bytesOut     atomic.Uint64 // clear text core -> phone

	proxyCertOmitted atomic.Uint64 // PROXY headers sent without the client certificate (too long)
}

// Stats is a snapshot of the counters.
type Stats struct {
	Accepted           uint64            // client connections accepted
	Open               int64             // client connections open now
	Handshakes         uint64            // handshakes completed
	Resumed            uint64            // of which resumed
	HandshakesInFlight int               // handshakes running now
	Waiting            int64             // whole ClientHellos waiting for a handshake slot
	Closed             map[string]uint64 // connections closed, by reason
	DroppedBytes       map[string]uint64 // bytes refused or dropped, by reason
	BytesIn, BytesOut  uint64            // clear text forwarded to / from the backend
	CtWqUsed           int64             // bytes in clear-text queues now
	SendqUsed          int64             // bytes charged to the send budget now (tcp.wq_max)
	ProxyCertOmitted   uint64            // PROXY headers sent without the client certificate, too long
}
