package tlsconn

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/tlsmux/tlsmux/internal/record"
)

// feedHelloResult is what a server Conn made of some first bytes.
type feedHelloResult struct {
	ready  bool
	reason Reason
	alert  Alert
	out    []byte
}

func feedFirstFlight(t *testing.T, data []byte, o Options, split func() int) feedHelloResult {
	c := NewServer(serverConfig(), o)
	defer c.Close(false)
	var err error
	for len(data) > 0 && err == nil {
		n := len(data)
		if split != nil {
			n = min(n, split())
		}
		_, err = c.Feed(data[:n], nil)
		data = data[n:]
	}
	r := feedHelloResult{ready: c.HelloReady(), out: c.AppendOutput(nil)}
	if err != nil {
		e, ok := errors.AsType[*Error](err)
		if !ok {
			t.Fatalf("error %v is not an *Error", err)
		}
		r.reason, r.alert = e.Reason, e.Alert
		switch e.Reason {
		case ReasonNotTLS, ReasonBadRecord, ReasonRecordOverflow, ReasonHelloTooBig, ReasonBufferFull, ReasonProtocol:
		default:
			t.Fatalf("reason %v before any handshake", e.Reason)
		}
		if c.State() != Closing || r.ready {
			t.Fatalf("after %v: state %v, ready %v", err, c.State(), r.ready)
		}
		want := []byte(nil)
		if e.Alert != 0 {
			want = appendAlertRecord(nil, e.Alert)
		}
		if !bytes.Equal(r.out, want) {
			t.Fatalf("after %v: output % x", err, r.out)
		}
	} else if c.State() != WaitHello || len(r.out) != 0 {
		t.Fatalf("no error, yet state %v and output % x", c.State(), r.out)
	}
	if c.tc != nil || c.hs != nil {
		t.Fatal("crypto/tls started in WaitHello")
	}
	return r
}

// FuzzFeedHello feeds arbitrary first bytes to a server, whole and in random pieces. It must never
// panic, never start crypto, and reach the same verdict (ready, or the same refusal and alert)
// however the bytes are split.
func FuzzFeedHello(f *testing.F) {
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\n\r\n"), uint64(1), uint16(0))
	f.Add([]byte{22, 3, 1, 0, 7, 1, 0, 0, 3, 0xa, 0xb, 0xc, 23, 3, 3}, uint64(2), uint16(0))
	f.Add([]byte{22, 3, 1, 0, 2, 1, 0, 22, 3, 1, 0, 5, 0, 3, 0xa, 0xb, 0xc}, uint64(3), uint16(12))
	f.Add([]byte{22, 3, 1, 0x48, 1}, uint64(4), uint16(0))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0xff, 0xff}, uint64(5), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, maxHello uint16) {
		o := Options{MaxHello: int(maxHello), MaxBuffered: 2 * int(maxHello)}
		whole := feedFirstFlight(t, data, o, nil)
		r := rand.New(rand.NewPCG(seed, 0))
		pieces := feedFirstFlight(t, data, o, func() int { return 1 + r.IntN(16) })
		if whole.ready != pieces.ready || whole.reason != pieces.reason || whole.alert != pieces.alert {
			t.Fatalf("whole: %+v; in pieces: %+v", whole, pieces)
		}
		if whole.ready {
			if ok, err := record.ClientHelloComplete(data); !ok || err != nil {
				t.Fatalf("ready, but ClientHelloComplete = %v, %v", ok, err)
			}
		}
	})
}
