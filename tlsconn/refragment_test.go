package tlsconn

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/tlsmux/tlsmux/internal/record"
)

// records splits payload into handshake records of the given sizes (the last takes the rest).
func records(payload []byte, sizes ...int) []byte {
	var out []byte
	for i := 0; len(payload) > 0; i++ {
		n := len(payload)
		if i < len(sizes) && sizes[i] < n {
			n = sizes[i]
		}
		out = record.AppendHeader(out, record.Handshake, 0x0301, n)
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	return out
}

// payloadOf concatenates the record payloads of buf and returns the largest record length.
func payloadOf(t *testing.T, buf []byte) ([]byte, int) {
	t.Helper()
	var body []byte
	largest := 0
	for len(buf) > 0 {
		_, _, n, ok := record.ParseHeader(buf)
		if !ok || len(buf) < record.HeaderLen+n {
			t.Fatalf("refragmented output is not a sequence of whole records")
		}
		body = append(body, buf[record.HeaderLen:record.HeaderLen+n]...)
		largest = max(largest, n)
		buf = buf[record.HeaderLen+n:]
	}
	return body, largest
}

func hello(n int) []byte {
	m := []byte{byte(record.TypeClientHello), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		m = append(m, byte(i))
	}
	return m
}

func TestRefragment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		tail  []byte
		ok    bool
		extra bool
	}{
		{name: "one large record", in: records(hello(1900)), ok: true},
		{name: "already small", in: records(hello(300)), ok: true},
		{name: "split unevenly", in: records(hello(3000), 7, 1500, 1), ok: true},
		{name: "bytes after the hello", in: records(hello(1200)), tail: []byte{0x14, 0x03, 0x03, 0x00, 0x01, 0x01}, ok: true},
		{name: "second message shares the record", in: records(append(hello(600), hello(10)...)), ok: false},
		{name: "truncated", in: records(hello(900))[:400], ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append(append([]byte(nil), tc.in...), tc.tail...)
			out, n, ok := refragment(nil, in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if n != len(tc.in) || !bytes.HasSuffix(out, tc.tail) {
				t.Fatal("bytes after the ClientHello were not kept")
			}
			body, largest := payloadOf(t, out[:len(out)-len(tc.tail)])
			want, _ := payloadOf(t, tc.in)
			if !bytes.Equal(body, want) {
				t.Fatal("handshake payload changed")
			}
			if largest > helloFragment {
				t.Fatalf("largest record %d > %d", largest, helloFragment)
			}
		})
	}
}

// FuzzRefragment: whatever the input, refragment never panics, and when it rewrites it keeps the
// handshake payload and every byte after it, in records no larger than helloFragment.
func FuzzRefragment(f *testing.F) {
	f.Add(records(hello(1900)), uint64(1))
	f.Add(records(hello(40), 3, 3), uint64(2))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		// Mix in a structured case so the fuzzer reaches the rewrite path often.
		r := rand.New(rand.NewPCG(seed, 0))
		if len(in) > 0 && in[0]&1 == 1 {
			in = append(records(hello(int(seed%4000)), r.IntN(2000)+1, r.IntN(2000)+1), in...)
		}
		out, n, ok := refragment(nil, in)
		if !ok {
			return
		}
		tail := len(in) - n
		got, largest := payloadOf(t, out[:len(out)-tail])
		want, _ := payloadOf(t, in[:n])
		if !bytes.Equal(got, want) || !bytes.Equal(out[len(out)-tail:], in[n:]) || largest > helloFragment {
			t.Fatal("refragment changed the stream")
		}
	})
}
