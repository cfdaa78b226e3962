package reactor_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Clients whose TCP segments do not line up with TLS records. The kernel may still merge small
// writes on their way to tlsmux's read; what these tests guarantee is the order and boundaries of
// the client's write(2) calls, which is what a phone's TCP stack controls.

// dialTCP opens a TCP connection to tlsmux with Nagle off, so small writes leave at once.
func (e *env) dialTCP(t testing.TB) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", e.addr)
	require.NoError(t, err)
	tc := nc.(*net.TCPConn)
	require.NoError(t, tc.SetNoDelay(true))
	require.NoError(t, tc.SetDeadline(time.Now().Add(30*time.Second)))
	t.Cleanup(func() { tc.Close() })
	return tc
}

// byteConn splits every Write of the TLS stack into one write(2) per byte.
type byteConn struct {
	net.Conn
	writes int
}

func (c *byteConn) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		c.writes++
	}
	return len(p), nil
}

// TestOneByteWrites: a client that sends every byte in its own write(2), handshake included.
func TestOneByteWrites(t *testing.T) {
	e := start(t, setup{})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			bc := &byteConn{Conn: e.dialTCP(t)}
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v, v
			c := tls.Client(bc, cfg)
			defer c.Close()
			require.NoError(t, c.Handshake())
			require.Greater(t, bc.writes, 100, "the handshake went out a byte at a time")
			// 17000 bytes take two records, and the second starts inside a write of the first.
			for i, size := range []int{300, 1400, 4000, 17000} {
				require.NoError(t, echo(c, sipMessage(t, i, size)), "message of %d bytes", size)
			}
		})
	}
}

// recordScan follows the record framing (RFC 8446 §5.1) of a TLS byte stream fed in pieces.
type recordScan struct {
	hdr  []byte // the current record's header, or the part of it seen so far
	left int    // body bytes of the current record still to come
}

// feed consumes p and reports how many record boundaries lie strictly inside it, and whether it
// ends in the middle of a record (its header or its body).
func (s *recordScan) feed(p []byte) (inner int, mid bool) {
	for i := 0; i < len(p); {
		if len(s.hdr) < 5 {
			if len(s.hdr) == 0 && i > 0 {
				inner++
			}
			n := min(5-len(s.hdr), len(p)-i)
			s.hdr = append(s.hdr, p[i:i+n]...)
			i += n
			if len(s.hdr) == 5 {
				s.left = int(binary.BigEndian.Uint16(s.hdr[3:]))
			}
		} else {
			n := min(s.left, len(p)-i)
			s.left -= n
			i += n
		}
		if len(s.hdr) == 5 && s.left == 0 {
			s.hdr = s.hdr[:0]
		}
	}
	return inner, len(s.hdr) > 0
}

// chunkConn cuts the byte stream the TLS stack writes into write(2) calls of random sizes
// (1..3000 bytes) that ignore record boundaries: it holds bytes until a whole chunk is there, and
// sends what is left of the last one when the client reads or closes, so it never deadlocks a
// handshake. It counts the chunks that straddle a record boundary and those that end mid-record.
type chunkConn struct {
	net.Conn
	rnd  *rand.Rand
	buf  []byte
	next int // size of the next chunk

	scan             recordScan
	chunks, spanning int // chunks written; of which holding the end of a record and the start of the next
	cut              int // chunks that ended inside a record
}

func newChunkConn(nc net.Conn, seed uint64) *chunkConn {
	c := &chunkConn{Conn: nc, rnd: rand.New(rand.NewPCG(seed, seed))}
	c.next = c.size()
	return c
}

func (c *chunkConn) size() int { return 1 + c.rnd.IntN(3000) }

func (c *chunkConn) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for len(c.buf) >= c.next {
		if err := c.send(c.next); err != nil {
			return 0, err
		}
		c.next = c.size()
	}
	return len(p), nil
}

func (c *chunkConn) send(n int) error {
	chunk := c.buf[:n]
	inner, mid := c.scan.feed(chunk)
	c.chunks++
	if inner > 0 {
		c.spanning++
	}
	if mid {
		c.cut++
	}
	_, err := c.Conn.Write(chunk)
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	return err
}

func (c *chunkConn) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	return c.send(len(c.buf))
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *chunkConn) Close() error {
	// tls.Conn.Close sets the write deadline to now once it has written close_notify (to us).
	_ = c.Conn.SetWriteDeadline(time.Time{})
	ferr := c.flush()
	if err := c.Conn.Close(); err != nil {
		return err
	}
	return ferr
}

// TestRecordsAcrossWrites: a client whose write(2) calls cut records anywhere, and carry the end
// of one record with the start of the next. Several messages are written before any echo is
// read, so the stream holds runs of records. Seeded: a failure names its seed.
func TestRecordsAcrossWrites(t *testing.T) {
	e := start(t, setup{})
	sizes := []int{300, 700, 1500, 3000, 9000, 17000, 40000}
	var spanning, cut int
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for seed := uint64(1); seed <= 8; seed++ {
			cc := newChunkConn(e.dialTCP(t), seed)
			cfg := e.client.Clone()
			cfg.MinVersion, cfg.MaxVersion = v, v
			c := tls.Client(cc, cfg)
			require.NoError(t, c.Handshake(), "%s seed %d", tls.VersionName(v), seed)
			// One round trip first: until the backend is up tlsmux holds clear text within
			// -con-ct-wq-max (64 KiB), and the batch below is larger.
			require.NoError(t, echo(c, sipMessage(t, int(seed)*100, 400)), "%s seed %d", tls.VersionName(v), seed)
			var want []byte
			for i, size := range sizes {
				m := sipMessage(t, int(seed)*100+1+i, size)
				want = append(want, m...)
				_, err := c.Write(m)
				require.NoError(t, err, "%s seed %d: write", tls.VersionName(v), seed)
			}
			got := make([]byte, len(want))
			_, err := io.ReadFull(c, got)
			require.NoError(t, err, "%s seed %d: read", tls.VersionName(v), seed)
			require.True(t, bytes.Equal(want, got), "%s seed %d: echo differs", tls.VersionName(v), seed)
			require.NoError(t, c.Close())
			spanning += cc.spanning
			cut += cc.cut
		}
	}
	assert.Positive(t, spanning, "no write carried a record boundary")
	assert.Positive(t, cut, "no write ended inside a record")
	t.Logf("%d writes across a record boundary, %d ending mid-record", spanning, cut)
}

// flightConn holds everything the TLS stack writes and sends it in one write(2) when the client
// reads, remembering the content types of the records each write(2) carried.
type flightConn struct {
	net.Conn
	buf     []byte
	flights [][]byte // record content types, one slice per write(2)
}

func (c *flightConn) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *flightConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		var types []byte
		for r := c.buf; len(r) >= 5; {
			types = append(types, r[0])
			r = r[min(len(r), 5+int(binary.BigEndian.Uint16(r[3:]))):]
		}
		c.flights = append(c.flights, types)
		_, err := c.Conn.Write(c.buf)
		c.buf = c.buf[:0]
		if err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// TestDataWithClientFinished: a TLS 1.3 client finishes its handshake without waiting for the
// server (RFC 8446 §4.4.4) and may put its first request in the same segment as its Finished.
// tlsmux gets both in one read while the handshake is still running and must deliver the
// request once the handshake is done.
func TestDataWithClientFinished(t *testing.T) {
	e := start(t, setup{})
	fc := &flightConn{Conn: e.dialTCP(t)}
	cfg := e.client.Clone()
	cfg.MinVersion = tls.VersionTLS13
	c := tls.Client(fc, cfg)
	defer c.Close()
	require.NoError(t, c.Handshake()) // its only read flushed the ClientHello; Finished is held
	require.Len(t, fc.flights, 1, "the handshake's first flight")
	msg := sipMessage(t, 0, 600)
	require.NoError(t, echo(c, msg)) // the read flushes Finished and the request together
	require.Len(t, fc.flights, 2, "writes: ClientHello, then Finished with the request")
	appData := 0
	for _, typ := range fc.flights[1] {
		if typ == 23 { // application_data: every encrypted TLS 1.3 record, Finished included
			appData++
		}
	}
	assert.Equal(t, 2, appData, "one write(2) held the client's Finished and the request (record types %v)", fc.flights[1])
}
