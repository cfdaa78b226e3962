package sipcore

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/tlsmux/tlsmux/internal/sipmsg"
)

// safety bounds every read in these tests so a bug fails the test instead of hanging it; the
// tests never wait for it to pass.
const safety = 10 * time.Second

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// peer is a hand-driven SIP client over plain TCP.
type peer struct {
	t   *testing.T
	c   net.Conn
	fr  sipmsg.Framer
	buf []byte
}

func dial(t *testing.T, s *Server) *peer {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(safety))
	return &peer{t: t, c: c, fr: sipmsg.Framer{FromServer: true}}
}

func (p *peer) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, s); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next frame.
func (p *peer) recv() (sipmsg.Kind, []byte) {
	p.t.Helper()
	kind, frame, err := p.tryRecv()
	if err != nil {
		p.t.Fatal(err)
	}
	return kind, frame
}

func (p *peer) tryRecv() (sipmsg.Kind, []byte, error) {
	for {
		kind, n, err := p.fr.Next(p.buf)
		if err != nil {
			return 0, nil, err
		}
		if kind != sipmsg.None {
			f := bytes.Clone(p.buf[:n])
			p.buf = p.buf[n:]
			return kind, f, nil
		}
		tmp := make([]byte, 4096)
		n, err = p.c.Read(tmp)
		p.buf = append(p.buf, tmp[:n]...)
		if err != nil {
			return 0, nil, err
		}
	}
}

func (p *peer) recvMsg() sipmsg.Message {
	p.t.Helper()
	kind, frame := p.recv()
	if kind != sipmsg.SIP {
		p.t.Fatalf("got %v, want a SIP message", kind)
	}
	m, err := sipmsg.Parse(frame)
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// sync makes a ping round trip: once the pong is back, the core has handled everything sent
// before the ping (it handles a connection's frames in order).
func (p *peer) sync() {
	p.t.Helper()
	p.send("\r\n\r\n")
	for {
		kind, frame := p.recv()
		if kind == sipmsg.Pong {
			return
		}
		p.t.Fatalf("waiting for a pong, got %v %q", kind, frame)
	}
}

// waitClosed reads until the core closes the connection and returns what was read.
func (p *peer) waitClosed() []byte {
	p.t.Helper()
	b, err := io.ReadAll(p.c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		p.t.Fatalf("waiting for close: %v", err)
	}
	return b
}

func header(t *testing.T, m *sipmsg.Message, name string) string {
	t.Helper()
	v, ok := m.Get(name)
	if !ok {
		t.Fatalf("no %s in %q", name, m.Raw)
	}
	return string(v)
}

const options = "OPTIONS sip:core@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-opt\r\n" +
	"v: SIP/2.0/TLS 192.0.2.2:5061;branch=z9hG4bK-first\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:alice@example.com>;tag=a\r\n" +
	"To: <sip:core@example.com>\r\n" +
	"Call-ID: opt-1\r\n" +
	"CSeq: 5 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestOptionsAnswered(t *testing.T) {
	s := start(t, Options{})
	p := dial(t, s)
	p.send(options)
	m := p.recvMsg()
	if m.Status != 200 {
		t.Fatalf("status %d", m.Status)
	}
	var vias []string
	for n, v := range m.Headers() {
		if sipmsg.EqualName(n, "Via") {
			vias = append(vias, string(v))
		}
	}
	if len(vias) != 2 || vias[0] != "SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-opt" || vias[1] != "SIP/2.0/TLS 192.0.2.2:5061;branch=z9hG4bK-first" {
		t.Errorf("Vias %q", vias)
	}
	for name, want := range map[string]string{
		"From": "<sip:alice@example.com>;tag=a", "To": "<sip:core@example.com>;tag=core1",
		"Call-ID": "opt-1", "CSeq": "5 OPTIONS", "Content-Length": "0",
	} {
		if got := header(t, &m, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	p.sync()
	if st := s.Stats(); st.Options != 1 || st.Accepted != 1 || st.Active != 1 || st.Pings != 1 || st.BytesIn != uint64(len(options)+4) {
		t.Errorf("stats %+v", st)
	}
}

const register = "REGISTER sip:example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-reg\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:bob@example.com>;tag=b\r\n" +
	"To: <sip:bob@example.com>\r\n" +
	"Call-ID: reg-1\r\n" +
	"CSeq: 1 REGISTER\r\n" +
	"Contact: <sip:bob@192.0.2.1:5061;transport=tls>\r\n" +
	"Expires: 600\r\n" +
	"l: 0\r\n\r\n"

func TestRegisterThenCoreOptions(t *testing.T) {
	s := start(t, Options{PingAfterRegister: true})
	p := dial(t, s)
	p.send(register)
	m := p.recvMsg()
	if m.Status != 200 || header(t, &m, "Contact") != "<sip:bob@192.0.2.1:5061;transport=tls>;expires=600" ||
		header(t, &m, "Expires") != "600" || header(t, &m, "To") != "<sip:bob@example.com>;tag=core1" {
		t.Fatalf("REGISTER answer:\n%s", m.Raw)
	}
	// The core's own request, over the same connection, addressed to the registered Contact.
	req := p.recvMsg()
	if !req.IsRequest() || string(req.Method) != "OPTIONS" || string(req.URI) != "sip:bob@192.0.2.1:5061;transport=tls" {
		t.Fatalf("core request:\n%s", req.Raw)
	}
	if to := header(t, &req, "To"); to != "<sip:bob@example.com>" {
		t.Errorf("core OPTIONS To = %q", to)
	}
	p.send(string(sipmsg.AppendResponse(nil, &req, sipmsg.Response{Status: 200, ToTag: "bob"})))
	p.sync()
	st := s.Stats()
	if st.Registers != 1 || st.OptionsSent != 1 || st.OptionsAnswered != 1 || st.Echoed != 0 {
		t.Errorf("stats %+v", st)
	}
	// A second answer to the same request is no longer pending: it is echoed.
	p.send(string(sipmsg.AppendResponse(nil, &req, sipmsg.Response{Status: 200, ToTag: "bob"})))
	if m := p.recvMsg(); m.Status != 200 || header(t, &m, "Call-ID") != header(t, &req, "Call-ID") {
		t.Fatalf("echo of the stray answer:\n%s", m.Raw)
	}
}

func TestRegisterDefaultsAndWildcard(t *testing.T) {
	s := start(t, Options{Expires: 120})
	p := dial(t, s)
	r := strings.Replace(register, "Expires: 600\r\n", "", 1)
	r = strings.Replace(r, "Contact: <sip:bob@192.0.2.1:5061;transport=tls>\r\n",
		"m: <sip:bob@192.0.2.1>;expires=30\r\nContact: <sip:bob@198.51.100.1>\r\n", 1)
	p.send(r)
	m := p.recvMsg()
	var contacts []string
	for n, v := range m.Headers() {
		if sipmsg.EqualName(n, "Contact") {
			contacts = append(contacts, string(v))
		}
	}
	if len(contacts) != 2 || contacts[0] != "<sip:bob@192.0.2.1>;expires=30" || contacts[1] != "<sip:bob@198.51.100.1>;expires=120" || header(t, &m, "Expires") != "120" {
		t.Fatalf("contacts %q\n%s", contacts, m.Raw)
	}
	// "Contact: *" with Expires 0 removes every binding: no Contact in the answer.
	r = strings.Replace(register, "Contact: <sip:bob@192.0.2.1:5061;transport=tls>\r\nExpires: 600", "Contact: *\r\nExpires: 0", 1)
	p.send(r)
	m = p.recvMsg()
	if _, ok := m.Get("Contact"); ok || header(t, &m, "Expires") != "0" {
		t.Fatalf("unregister answer:\n%s", m.Raw)
	}
}

func TestEchoByteForByte(t *testing.T) {
	s := start(t, Options{})
	p := dial(t, s)
	r := sipmsg.Request{Method: "MESSAGE", URI: "sip:core@example.com", Via: "SIP/2.0/TCP h;branch=z9hG4bK-m",
		From: "<sip:a@example.com>;tag=1", To: "<sip:core@example.com>", CallID: "m-1"}
	var stream []byte
	var want [][]byte
	for i, size := range []int{300, 1024, 5000, 40000} {
		r.CSeq = uint32(i + 1)
		msg, err := sipmsg.AppendSized(nil, r, size)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, msg)
		stream = append(stream, msg...)
		stream = append(stream, "\r\n"...) // stray CRLFs between messages are pongs, not echoed
	}
	// In one piece (pipelined), then in pieces of odd sizes.
	for _, chunk := range []int{len(stream), 7, 1000} {
		for b := stream; len(b) > 0; {
			n := min(chunk, len(b))
			p.send(string(b[:n]))
			b = b[n:]
		}
		for i, w := range want {
			kind, got := p.recv()
			if kind != sipmsg.SIP || !bytes.Equal(got, w) {
				t.Fatalf("chunk %d, message %d: echo differs (%d bytes, want %d)", chunk, i, len(got), len(w))
			}
		}
	}
	p.sync()
	// 12 CRLFs were sent, but the last one and sync's ping arrive as "\r\n\r\n\r\n": a ping,
	// then a CRLF that waits for its next byte. So 11 pongs.
	if st := s.Stats(); st.Echoed != 12 || st.Pongs != 11 || st.BytesOut != uint64(3*(len(stream)-8)+2) {
		t.Errorf("stats %+v (stream %d)", st, len(stream))
	}
}

func TestFramingErrorClosesConnection(t *testing.T) {
	closed := make(chan error, 1)
	s := start(t, Options{OnClose: func(_ *ConnInfo, err error) { closed <- err }})
	p := dial(t, s)
	// The OPTIONS before the garbage is still answered.
	p.send(options + "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	m := p.recvMsg()
	if m.Status != 200 {
		t.Fatalf("status %d", m.Status)
	}
	p.waitClosed()
	if err := <-closed; !errors.Is(err, sipmsg.BadStartLine) {
		t.Fatalf("OnClose err = %v", err)
	}
	if st := s.Stats(); st.FrameErrors != 1 || st.Closed != 1 || st.Active != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTruncatedMessageAtEOF(t *testing.T) {
	closed := make(chan error, 1)
	s := start(t, Options{OnClose: func(_ *ConnInfo, err error) { closed <- err }})
	p := dial(t, s)
	p.send(options[:40])
	p.c.(*net.TCPConn).CloseWrite()
	p.waitClosed()
	if err := <-closed; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("OnClose err = %v", err)
	}
	// A clean close reports nil.
	p = dial(t, s)
	p.sync()
	p.c.(*net.TCPConn).CloseWrite()
	p.waitClosed()
	if err := <-closed; err != nil {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestMaxMessage(t *testing.T) {
	closed := make(chan error, 1)
	s := start(t, Options{MaxMessage: 600, OnClose: func(_ *ConnInfo, err error) { closed <- err }})
	p := dial(t, s)
	msg, _ := sipmsg.AppendSized(nil, sipmsg.Request{Method: "MESSAGE", URI: "sip:a@b", Via: "x", CallID: "c"}, 601)
	p.send(string(msg))
	p.waitClosed()
	if err := <-closed; !errors.Is(err, sipmsg.TooBig) {
		t.Fatalf("OnClose err = %v", err)
	}
}

func TestMaxConns(t *testing.T) {
	s := start(t, Options{MaxConns: 1})
	first := dial(t, s)
	first.sync() // the first connection is being served
	second := dial(t, s)
	second.waitClosed()
	first.sync() // still served
	if st := s.Stats(); st.Refused != 1 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestProxyHeader(t *testing.T) {
	sslTLV := []byte{0x07, 0, 0, 0, 0, 0x21, 0, 7, 'T', 'L', 'S', 'v', '1', '.', '3'} // client flags, verify, SSL_VERSION
	for _, tc := range []struct {
		name     string
		header   *proxyproto.Header
		tlvs     []proxyproto.TLV
		src, dst string
	}{
		{
			name: "v1",
			header: &proxyproto.Header{Version: 1, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv4,
				SourceAddr:      &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000},
				DestinationAddr: &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 5061}},
			src: "192.0.2.7:40000", dst: "198.51.100.1:5061",
		},
		{
			name: "v2",
			header: &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
				SourceAddr:      &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 40001},
				DestinationAddr: &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5061}},
			tlvs: []proxyproto.TLV{
				{Type: proxyproto.PP2_TYPE_AUTHORITY, Value: []byte("sip.example.com")},
				{Type: proxyproto.PP2_TYPE_SSL, Value: sslTLV},
			},
			src: "[2001:db8::7]:40001", dst: "[2001:db8::1]:5061",
		},
		{
			name:   "v2 local",
			header: &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			infos := make(chan *ConnInfo, 1)
			s := start(t, Options{ProxyProtocol: true, OnConn: func(c *ConnInfo) { infos <- c }})
			if tc.tlvs != nil {
				if err := tc.header.SetTLVs(tc.tlvs); err != nil {
					t.Fatal(err)
				}
			}
			hdr, err := tc.header.Format()
			if err != nil {
				t.Fatal(err)
			}
			p := dial(t, s)
			p.send(string(hdr) + options) // header and SIP in one segment
			if m := p.recvMsg(); m.Status != 200 {
				t.Fatalf("status %d", m.Status)
			}
			info := <-infos
			if info.Proxy == nil || info.Proxy.Version != tc.header.Version {
				t.Fatalf("header %+v", info.Proxy)
			}
			if got := info.Source.String(); tc.src != "" && got != tc.src {
				t.Errorf("Source %s, want %s", got, tc.src)
			}
			if got := info.Dest.String(); tc.dst != "" && got != tc.dst {
				t.Errorf("Dest %s, want %s", got, tc.dst)
			}
			if tc.src == "" && (info.Source != netip.AddrPort{} || info.Dest != netip.AddrPort{}) {
				t.Errorf("LOCAL header gave addresses %v %v", info.Source, info.Dest)
			}
			if len(info.TLVs) != len(tc.tlvs) {
				t.Fatalf("TLVs %+v", info.TLVs)
			}
			for i, tlv := range tc.tlvs {
				if info.TLVs[i].Type != tlv.Type || !bytes.Equal(info.TLVs[i].Value, tlv.Value) {
					t.Errorf("TLV %d = %+v, want %+v", i, info.TLVs[i], tlv)
				}
			}
			if st := s.Stats(); st.BytesIn != uint64(len(hdr)+len(options)) {
				t.Errorf("BytesIn %d", st.BytesIn)
			}
		})
	}
}

func TestProxyHeaderMissing(t *testing.T) {
	closed := make(chan error, 1)
	s := start(t, Options{ProxyProtocol: true, OnClose: func(_ *ConnInfo, err error) { closed <- err }})
	p := dial(t, s)
	p.send(options)
	if got := p.waitClosed(); len(got) != 0 {
		t.Fatalf("answered without a PROXY header: %q", got)
	}
	if err := <-closed; !errors.Is(err, proxyproto.ErrNoProxyProtocol) {
		t.Fatalf("OnClose err = %v", err)
	}
	if st := s.Stats(); st.ProxyErrors != 1 || st.Options != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	closed := make(chan error, 3)
	s := start(t, Options{ProxyProtocol: true, OnClose: func(_ *ConnInfo, err error) { closed <- err }})
	// Connections are accepted in the order they connect, so once the later ones have had
	// a pong, idle has been accepted too.
	idle := dial(t, s) // blocked reading its PROXY header
	hdr, _ := (&proxyproto.Header{Version: 1, Command: proxyproto.LOCAL}).Format()
	busy := dial(t, s)
	busy.send(string(hdr))
	busy.sync()
	partial := dial(t, s)
	partial.send(string(hdr))
	partial.sync()
	partial.send(options[:30]) // blocked in the middle of a message
	s.Close()
	s.Close() // idempotent
	for _, p := range []*peer{idle, busy, partial} {
		p.waitClosed()
	}
	for range 3 {
		if err := <-closed; err != nil {
			t.Errorf("OnClose after Close: %v", err)
		}
	}
	if st := s.Stats(); st.Active != 0 || st.Closed != 3 {
		t.Errorf("stats %+v", st)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still listening")
	}
}
