package tlsconn

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/tlsmux/tlsmux/internal/record"
)

// memConn is the net.Conn under the tls.Conn: an in-memory byte pipe between the event loop and
// crypto/tls (ARCHITECTURE §3, research note §8).
//
// Inbound, the loop appends ciphertext with feed and crypto/tls takes it with Read. While a
// handshake goroutine owns the tls.Conn (hs != nil), Read parks on hs.cond until bytes arrive or the
// conn is closed: a would-block must never reach the handshake, whose errors are sticky
// (handshakeErr). Afterwards Read returns errWouldBlock when empty, which crypto/tls survives.
//
// Read never hands out more than the rest of the current record. crypto/tls's read buffer
// (rawInput) grows to the largest single Read it has seen and never shrinks (golang/go#43563), so
// this is what keeps an idle connection's memory at one record rather than at the largest burst the
// peer ever sent.
//
// Outbound, Write copies into out (crypto/tls passes a pooled scratch buffer) and never fails: any
// write error would become permanent in crypto/tls.
//
// Both buffers are released to bufPool as soon as they are empty, so an idle connection holds
// none.
type memConn struct {
	mu sync.Mutex

	// guarded by mu
	in      []byte       // unread inbound ciphertext
	inOwned *[]byte      // pooled backing store of in; nil when in is nil or borrows the caller's slice
	out     *[]byte      // pending outbound ciphertext; nil when there is none
	cursor  recordCursor // position of Read in the inbound record stream
	hs      *handshake   // non-nil while the handshake goroutine owns the tls.Conn: Read blocks
	closed  bool
	eof     bool // the peer closed its side: Read returns io.EOF once in is drained

	// constant
	local, remote net.Addr
}

// recordCursor tracks where Read stands in the inbound record stream, so that one Read never
// crosses a record boundary. Guarded by memConn.mu.
type recordCursor struct {
	hdr  [record.HeaderLen]byte
	hdrN int // header bytes of the current record already returned
	left int // body bytes of the current record not yet returned, once hdrN == HeaderLen
}

// Read implements net.Conn for crypto/tls. It never returns (0, nil) for a non-empty p.
func (m *memConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.in) == 0 {
		if m.closed {
			return 0, net.ErrClosed
		}
		if m.eof {
			return 0, io.EOF
		}
		if m.hs == nil {
			return 0, errWouldBlock
		}
		m.hs.cond.Wait()
	}
	n := m.readRecordLocked(p)
	m.consumeLocked(n)
	return n, nil
}

// readRecordLocked copies into p the next bytes of m.in up to the end of the current record and
// returns how many.
func (m *memConn) readRecordLocked(p []byte) int {
	c := &m.cursor
	in := m.in
	n := 0
	for n < len(p) && n < len(in) {
		if c.hdrN < record.HeaderLen {
			k := copy(c.hdr[c.hdrN:], in[n:min(len(in), len(p))])
			copy(p[n:], in[n:n+k])
			c.hdrN += k
			n += k
			if c.hdrN < record.HeaderLen {
				continue
			}
			_, _, c.left, _ = record.ParseHeader(c.hdr[:])
		} else {
			k := copy(p[n:], in[n:min(len(in), n+c.left)])
			c.left -= k
			n += k
		}
		if c.left == 0 {
			c.hdrN = 0 // end of the record: stop here, the next Read starts the next one
			break
		}
	}
	return n
}

// consumeLocked drops n bytes from the front of m.in and releases the buffer once it is empty.
func (m *memConn) consumeLocked(n int) {
	m.in = m.in[n:]
	if len(m.in) == 0 {
		m.in = nil
		if m.inOwned != nil {
			putBuf(m.inOwned)
			m.inOwned = nil
		}
	}
}

// appendInLocked copies p to the end of the unread inbound bytes.
func (m *memConn) appendInLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	if m.inOwned == nil {
		b := getBuf()
		*b = append(append((*b)[:0], m.in...), p...)
		m.inOwned = b
	} else {
		// m.in is a suffix of *m.inOwned: slide it to the front before appending, so the
		// buffer does not creep forward and grow.
		b := *m.inOwned
		b = b[:copy(b, m.in)]
		*m.inOwned = append(b, p...)
	}
	m.in = *m.inOwned
}

// feed hands p to the handshake goroutine (copied), refusing to hold more than limit unread bytes.
func (m *memConn) feed(p []byte, limit int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.in)+len(p) > limit {
		return false
	}
	m.appendInLocked(p)
	if m.hs != nil {
		m.hs.cond.Signal()
	}
	return true
}

// borrow makes p the inbound bytes without copying, for the loop's inline Read after the handshake;
// the loop must call unborrow before p goes back to its owner. If bytes are still unread (they
// arrived during the handshake), p is appended to them instead.
func (m *memConn) borrow(p []byte) {
	m.mu.Lock()
	if len(m.in) == 0 {
		m.in = p
	} else {
		m.appendInLocked(p)
	}
	m.mu.Unlock()
}

// unborrow drops any reference to the caller's slice given to borrow. Bytes can only be left unread
// after a fatal error, when nothing will read them again.
func (m *memConn) unborrow() {
	m.mu.Lock()
	if m.inOwned == nil {
		m.in = nil
	}
	m.mu.Unlock()
}

// Write implements net.Conn for crypto/tls: it copies p to the output and never fails.
func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	if m.closed {
		// Bytes written after Close (an alert while the handshake unwinds) have nowhere to go.
		m.mu.Unlock()
		return len(p), nil
	}
	if m.out == nil {
		m.out = getBuf()
	}
	*m.out = append(*m.out, p...)
	hs := m.hs
	if hs != nil && !hs.sentAlertOK {
		hs.sentAlert, hs.sentAlertOK = plaintextAlert(p)
	}
	m.mu.Unlock()
	if hs != nil {
		hs.notify()
	}
	return len(p), nil
}

// drained reports whether every inbound byte has been read and the last record was delivered
// whole, so crypto/tls cannot hold a partial record.
func (m *memConn) drained() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.in) == 0 && m.cursor.hdrN == 0
}

// appendOutput moves the pending output to dst and releases the buffer.
func (m *memConn) appendOutput(dst []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return dst
	}
	dst = append(dst, *m.out...)
	putBuf(m.out)
	m.out = nil
	return dst
}

// writeOutput appends p to the output from the loop (plaintext alerts before any handshake).
func (m *memConn) writeOutput(p []byte) {
	m.mu.Lock()
	if m.out == nil {
		m.out = getBuf()
	}
	*m.out = append(*m.out, p...)
	m.mu.Unlock()
}

func (m *memConn) pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return 0
	}
	return len(*m.out)
}

// feedEOF records that no more bytes will come; a Read parked on an empty buffer wakes with io.EOF.
func (m *memConn) feedEOF() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.eof = true
	if m.hs != nil {
		m.hs.cond.Broadcast()
	}
}

// Close wakes a Read parked in the handshake goroutine, which then fails with net.ErrClosed, and
// drops the inbound bytes. The output stays readable: it may hold a final alert. Idempotent.
func (m *memConn) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.hs != nil {
		m.hs.cond.Broadcast()
	}
	if m.inOwned != nil {
		putBuf(m.inOwned)
		m.inOwned = nil
	}
	m.in = nil
	return nil
}

func (m *memConn) LocalAddr() net.Addr  { return m.local }
func (m *memConn) RemoteAddr() net.Addr { return m.remote }

// Deadlines are the loop's business (timers on the loop, research §8 pitfall 8); crypto/tls only
// sets one around close_notify.
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.Conn = (*memConn)(nil)

// bufPool holds byte slices for the inbound and outbound buffers, so that memory per connection
// follows what is in flight rather than what once was (x/net/http2 databuffer.go does the same).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

const (
	bufSize    = 4 << 10  // fits a handshake flight or a few SIP messages
	bufMaxKeep = 64 << 10 // larger buffers go to the GC rather than pin memory in the pool
)

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > bufMaxKeep {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
