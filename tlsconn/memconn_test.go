package tlsconn

import (
	"errors"
	"net"
	"os"
	"testing"
)

func TestWouldBlockError(t *testing.T) {
	var ne net.Error
	if !errors.As(errWouldBlock, &ne) || !ne.Timeout() || !ne.Temporary() {
		t.Fatal("errWouldBlock is not a temporary, timeout net.Error")
	}
	if !errors.Is(errWouldBlock, os.ErrDeadlineExceeded) {
		t.Fatal("errWouldBlock does not match os.ErrDeadlineExceeded")
	}
	if errors.Is(net.ErrClosed, errWouldBlock) {
		t.Fatal("net.ErrClosed matches errWouldBlock")
	}
}

func rec(typ byte, body int) []byte {
	b := []byte{typ, 3, 3, byte(body >> 8), byte(body)}
	for i := range body {
		b = append(b, byte(i))
	}
	return b
}

// TestMemConnOneRecordPerRead: Read never crosses a record boundary, whatever the caller's buffer
// and however the bytes were fed, and never returns (0, nil).
func TestMemConnOneRecordPerRead(t *testing.T) {
	stream := append(append(append(rec(23, 300), rec(23, 0)...), rec(21, 2)...), rec(23, 1000)...)
	bounds := []int{305, 310, 317, 1322} // record ends
	for _, feedSize := range []int{1, 3, 5, 7, 64, 4096} {
		m := &memConn{}
		var got []int // offsets at which Reads ended
		off := 0
		for fed := 0; fed < len(stream); fed += feedSize {
			m.borrow(stream[fed:min(len(stream), fed+feedSize)])
			for {
				n, err := m.Read(make([]byte, 4096))
				if n == 0 && err == nil {
					t.Fatal("Read returned (0, nil)")
				}
				if err != nil {
					if err != errWouldBlock || n != 0 {
						t.Fatalf("Read: %d, %v", n, err)
					}
					break
				}
				off += n
				got = append(got, off)
			}
			m.unborrow()
		}
		if off != len(stream) {
			t.Fatalf("feed %d: read %d of %d bytes", feedSize, off, len(stream))
		}
		// Every boundary must be a Read end, and no Read may span one.
		j := 0
		prev := 0
		for _, end := range got {
			for j < len(bounds) && bounds[j] <= prev {
				j++
			}
			if j < len(bounds) && end > bounds[j] {
				t.Fatalf("feed %d: a Read spans the record end at %d (%d..%d)", feedSize, bounds[j], prev, end)
			}
			prev = end
		}
		if m.in != nil || m.inOwned != nil {
			t.Fatal("buffers kept after everything was read")
		}
	}
}

// TestMemConnSmallReads: a caller buffer smaller than the record gets it in pieces.
func TestMemConnSmallReads(t *testing.T) {
	m := &memConn{}
	stream := append(rec(23, 10), rec(23, 10)...)
	m.borrow(stream)
	defer m.unborrow()
	var sizes []int
	for {
		n, err := m.Read(make([]byte, 4))
		if err != nil {
			break
		}
		sizes = append(sizes, n)
	}
	want := []int{4, 4, 4, 3, 4, 4, 4, 3}
	if len(sizes) != len(want) {
		t.Fatalf("Read sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("Read sizes %v, want %v", sizes, want)
		}
	}
}

// TestMemConnWriteCopies: Write keeps a copy (crypto/tls reuses its buffer), never fails, and
// drops bytes after Close. AppendOutput releases the buffer.
func TestMemConnWriteCopies(t *testing.T) {
	m := &memConn{}
	p := []byte("hello")
	if n, err := m.Write(p); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	p[0] = 'X'
	if got := string(m.appendOutput(nil)); got != "hello" {
		t.Fatalf("output %q", got)
	}
	if m.out != nil || m.pending() != 0 {
		t.Fatal("output buffer kept")
	}
	m.Write([]byte("bye"))
	m.Close()
	if n, err := m.Write([]byte("late")); n != 4 || err != nil {
		t.Fatal("Write after Close failed")
	}
	if got := string(m.appendOutput(nil)); got != "bye" {
		t.Fatalf("output after Close %q, want the bytes written before", got)
	}
	if _, err := m.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

// TestMemConnFeedCompacts: feeding during the handshake slides unread bytes to the front rather than
// growing the buffer without bound.
func TestMemConnFeedCompacts(t *testing.T) {
	m := &memConn{}
	chunk := rec(23, 1000)
	for range 1000 {
		if !m.feed(chunk, 4096) {
			t.Fatal("feed refused under the limit")
		}
		if _, err := m.Read(make([]byte, 1005)); err != nil {
			t.Fatal(err)
		}
	}
	if m.inOwned != nil {
		t.Fatal("buffer kept once empty")
	}
	if !m.feed(make([]byte, 4096), 4096) || m.feed([]byte{1}, 4096) {
		t.Fatal("limit not applied exactly")
	}
}
