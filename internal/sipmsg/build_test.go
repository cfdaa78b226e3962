package sipmsg

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func sampleRequest(method string) Request {
	return Request{
		Method: method,
		URI:    "sip:example.com",
		Via:    "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1",
		From:   "<sip:alice@example.com>;tag=a",
		To:     "<sip:alice@example.com>",
		CallID: "c1@loadgen",
		CSeq:   1,
	}
}

func TestAppendRequest(t *testing.T) {
	r := sampleRequest("REGISTER")
	r.Headers = []string{"Contact: <sip:alice@127.0.0.1:5061;transport=tls>", "Expires: 600"}
	r.Body = []byte("hi")
	out := AppendRequest([]byte("prefix"), r)
	if !bytes.HasPrefix(out, []byte("prefixREGISTER sip:example.com SIP/2.0\r\n")) {
		t.Fatalf("%q", out)
	}
	m, err := Parse(out[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"Via": r.Via, "Max-Forwards": "70", "From": r.From, "To": r.To, "Call-ID": r.CallID,
		"CSeq": "1 REGISTER", "Expires": "600", "Content-Type": "text/plain", "Content-Length": "2",
	} {
		if v, _ := m.Get(name); string(v) != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if string(m.Body) != "hi" {
		t.Errorf("body %q", m.Body)
	}
	// No body: no Content-Type.
	m, err = Parse(AppendRequest(nil, sampleRequest("OPTIONS")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("Content-Type"); ok {
		t.Error("Content-Type without a body")
	}
}

// TestAppendSized covers every size from the smallest possible up to past several digit
// boundaries of the body length (9→10, 99→100, 999→1000, 9999→10000).
func TestAppendSized(t *testing.T) {
	r := sampleRequest("MESSAGE")
	smallest := 0
	for size := 0; size <= 10300; size++ {
		out, err := AppendSized([]byte("x"), r, size)
		if err != nil {
			if !errors.Is(err, ErrTooSmall) || smallest != 0 || !bytes.Equal(out, []byte("x")) {
				t.Fatalf("size %d: %v (%q)", size, err, out)
			}
			continue
		}
		if smallest == 0 {
			smallest = size
		}
		msg := out[1:]
		if len(msg) != size {
			t.Fatalf("size %d: got %d bytes", size, len(msg))
		}
		var f Framer
		kind, n, err := f.Next(msg)
		if err != nil || kind != SIP || n != size {
			t.Fatalf("size %d: framer %v %d %v", size, kind, n, err)
		}
		if _, err := Parse(msg); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
	if smallest == 0 || smallest > 300 {
		t.Fatalf("smallest size %d", smallest)
	}
	// Different CSeq, different padding.
	a, _ := AppendSized(nil, r, 500)
	r.CSeq = 2
	b, _ := AppendSized(nil, r, 500)
	ma, _ := Parse(a)
	mb, _ := Parse(b)
	if bytes.Equal(ma.Body, mb.Body) {
		t.Error("padding does not depend on CSeq")
	}
}

func TestAppendResponse(t *testing.T) {
	req, err := Parse([]byte(sampleInvite))
	if err != nil {
		t.Fatal(err)
	}
	out := AppendResponse(nil, &req, Response{Status: 200, ToTag: "core1", Headers: []string{"Expires: 60"}})
	want := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bK-2\r\n" +
		"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-1\r\n" +
		"From: Alice <sip:alice@example.com>;tag=a1\r\n" +
		"To: <sip:bob@example.com>;tag=core1\r\n" +
		"Call-ID: call-1@example.com\r\n" +
		"CSeq: 7 INVITE\r\n" +
		"Expires: 60\r\n" +
		"Content-Length: 0\r\n\r\n"
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	// A To that has a tag keeps it; a body gets a Content-Type; the phrase can be set.
	tagged, _ := Parse([]byte("BYE sip:a@b SIP/2.0\r\nTo: <sip:a@b>;tag=old\r\nl: 0\r\n\r\n"))
	out = AppendResponse(nil, &tagged, Response{Status: 481, ToTag: "new", Body: []byte("gone")})
	m, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	to, _ := m.Get("To")
	ct, _ := m.Get("Content-Type")
	if string(to) != "<sip:a@b>;tag=old" || string(m.Reason) != "Call/Transaction Does Not Exist" || string(ct) != "text/plain" || string(m.Body) != "gone" {
		t.Fatalf("%q", out)
	}
	out = AppendResponse(nil, &tagged, Response{Status: 299, Reason: "Fine"})
	if !bytes.HasPrefix(out, []byte("SIP/2.0 299 Fine\r\n")) {
		t.Fatalf("%q", out)
	}
}

func TestFramerDoesNotAllocate(t *testing.T) {
	msg, _ := AppendSized(nil, sampleRequest("MESSAGE"), 1024)
	stream := append(append([]byte("\r\n\r\n"), msg...), "\r\n"...)
	stream = append(stream, msg...)
	var f Framer
	allocs := testing.AllocsPerRun(100, func() {
		for b := stream; len(b) > 0; {
			_, n, err := f.Next(b)
			if err != nil || n == 0 {
				panic(fmt.Sprint(n, err))
			}
			b = b[n:]
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per stream", allocs)
	}
}

// TestFramerResumes feeds a message in pieces through a buffer that moves in memory, the way a
// connection's read buffer is compacted, and checks the frame is found once, at the right end.
func TestFramerResumes(t *testing.T) {
	msg, _ := AppendSized(nil, sampleRequest("MESSAGE"), 3000)
	var f Framer
	for cut := 1; cut < len(msg); cut += 97 {
		kind, n, err := f.Next(bytes.Clone(msg[:cut]))
		if err != nil || kind != None || n != 0 {
			t.Fatalf("prefix %d: %v %d %v", cut, kind, n, err)
		}
	}
	kind, n, err := f.Next(bytes.Clone(msg))
	if err != nil || kind != SIP || n != len(msg) {
		t.Fatalf("whole: %v %d %v", kind, n, err)
	}
	// Reset forgets a partial message; a shorter buffer than the progress also starts over.
	f.Next(msg[:100])
	f.Reset()
	if kind, n, _ := f.Next([]byte("\r\n\r\n")); kind != Ping || n != 4 {
		t.Fatalf("after Reset: %v %d", kind, n)
	}
	f.Next(msg[:100])
	if kind, n, _ := f.Next([]byte("\r\n\r\n")); kind != Ping || n != 4 {
		t.Fatalf("after a shorter buffer: %v %d", kind, n)
	}
}

func BenchmarkFramer(b *testing.B) {
	for _, size := range []int{512, 1024, 4096, 16384} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			msg, _ := AppendSized(nil, sampleRequest("MESSAGE"), size)
			var f Framer
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, n, err := f.Next(msg); n != size || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkAppendSized(b *testing.B) {
	r := sampleRequest("MESSAGE")
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendSized(buf[:0], r, 1024)
	}
}
