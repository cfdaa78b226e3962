package sipmsg

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestParseStartLine(t *testing.T) {
	for _, tc := range []struct {
		line       string
		method     string
		uri        string
		status     int
		reason     string
		wantErrSub string
	}{
		{line: "REGISTER sip:example.com SIP/2.0", method: "REGISTER", uri: "sip:example.com"},
		{line: "INVITE sips:bob@example.com;transport=tls SIP/2.0", method: "INVITE", uri: "sips:bob@example.com;transport=tls"},
		{line: "x-custom tel:+15551234 sip/2.0", method: "x-custom", uri: "tel:+15551234"},
		{line: "SIP/2.0 200 OK", status: 200, reason: "OK"},
		{line: "SIP/2.0 486 Busy Here", status: 486, reason: "Busy Here"},
		{line: "SIP/2.0 100", status: 100},
		{line: "sip/2.0 699 ", status: 699},
		{line: "SIP/2.0 700 Too High", wantErrSub: "bad status code"},
		{line: "SIP/2.0 20 OK", wantErrSub: "bad status code"},
		{line: "SIP/2.0 2000 OK", wantErrSub: "bad status code"},
		{line: "SIP/1.0 200 OK", wantErrSub: "version"},
		{line: "REGISTER sip:example.com SIP/2.1", wantErrSub: "version"},
		{line: "REGISTER sip:example.com", wantErrSub: "no Request-URI"},
		{line: "REGISTER  sip:example.com SIP/2.0", wantErrSub: "no Request-URI"},
		{line: " REGISTER sip:example.com SIP/2.0", wantErrSub: "no method"},
		{line: "REG{STER sip:example.com SIP/2.0", wantErrSub: "bad method"},
		{line: "GET / HTTP/1.1", wantErrSub: "bad Request-URI"},
		{line: "", wantErrSub: "no method"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			sl, err := ParseStartLine([]byte(tc.line))
			if tc.wantErrSub != "" {
				if err == nil || !errors.Is(err, BadStartLine) || !contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("err = %v, want BadStartLine containing %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(sl.Method) != tc.method || string(sl.URI) != tc.uri || sl.Status != tc.status || string(sl.Reason) != tc.reason {
				t.Fatalf("got %q %q %d %q", sl.Method, sl.URI, sl.Status, sl.Reason)
			}
			if sl.IsRequest() != (tc.method != "") {
				t.Fatalf("IsRequest = %v", sl.IsRequest())
			}
		})
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

const sampleInvite = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"v: SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bK-2\r\n" +
	"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-1\r\n" +
	"f: Alice <sip:alice@example.com>;tag=a1\r\n" +
	"t: <sip:bob@example.com>\r\n" +
	"i: call-1@example.com\r\n" +
	"CSeq: 7 INVITE\r\n" +
	"Subject: folded\r\n" +
	" across lines\r\n" +
	"Contact: <sip:alice@192.0.2.1:5061;transport=tls>;expires=60\r\n" +
	"c: application/sdp\r\n" +
	"l: 4\r\n" +
	"\r\n" +
	"v=0\n"

func TestParseMessage(t *testing.T) {
	m, err := Parse([]byte(sampleInvite))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Method) != "INVITE" || string(m.Body) != "v=0\n" || len(m.Raw) != len(sampleInvite) {
		t.Fatalf("method %q body %q", m.Method, m.Body)
	}
	for name, want := range map[string]string{
		"Via":            "SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bK-2", // the first one
		"call-id":        "call-1@example.com",
		"From":           "Alice <sip:alice@example.com>;tag=a1",
		"TO":             "<sip:bob@example.com>",
		"Content-Type":   "application/sdp",
		"Content-Length": "4",
		"l":              "4",
		"Subject":        "folded\r\n across lines",
	} {
		v, ok := m.Get(name)
		if !ok || string(v) != want {
			t.Errorf("Get(%q) = %q, %v; want %q", name, v, ok, want)
		}
	}
	if v, ok := m.Get("Expires"); ok {
		t.Errorf("Get(Expires) = %q, want none", v)
	}
	var vias []string
	for n, v := range m.Headers() {
		if EqualName(n, "Via") {
			vias = append(vias, string(v))
		}
	}
	if want := []string{"SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bK-2", "SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-1"}; !slices.Equal(vias, want) {
		t.Errorf("vias %q", vias)
	}
	seq, method, err := m.CSeq()
	if err != nil || seq != 7 || string(method) != "INVITE" {
		t.Errorf("CSeq = %d %q %v", seq, method, err)
	}
	contact, _ := m.Get("m")
	if v, ok := Param(contact, "expires"); !ok || string(v) != "60" {
		t.Errorf("expires param = %q %v", v, ok)
	}
	if _, ok := Param(contact, "transport"); ok {
		t.Errorf("URI parameter inside <> taken as a header parameter")
	}
}

func TestParseRefusesNonFrames(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason Reason
	}{
		{"OPTIONS sip:a SIP/2.0\r\nl: 4\r\n\r\nab", BadContentLength},       // short body
		{"OPTIONS sip:a SIP/2.0\r\nl: 1\r\n\r\nabc", BadContentLength},      // bytes after the body
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n", BadHeader},                    // no end of header section
		{"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n", BadStartLine},     // keepalive in front
		{"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n", NoContentLength},        // no Content-Length
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\nbroken\r\n\r\n", BadHeader},      // header without colon
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\nX Y: z\r\n\r\n", BadHeader},      // space in name
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\n: z\r\n\r\n", BadHeader},         // empty name
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\nX: \x01\r\n\r\n", BadHeader},     // control byte
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\nX: a\rb\r\n\r\n", BadHeader},     // bare CR
		{"OPTIONS sip:a SIP/2.0\r\nl: 0\r\nl: 1\r\n\r\n", BadContentLength}, // conflict
	} {
		_, err := Parse([]byte(tc.in))
		if !errors.Is(err, tc.reason) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, err, tc.reason)
		}
	}
}

func TestParseCSeq(t *testing.T) {
	for _, tc := range []struct {
		in     string
		seq    uint32
		method string
		ok     bool
	}{
		{"1 REGISTER", 1, "REGISTER", true},
		{"4294967295 OPTIONS", 4294967295, "OPTIONS", true},
		{"12\tINVITE ", 12, "INVITE", true},
		{"4294967296 OPTIONS", 0, "", false},
		{"99999999999999999999999 X", 0, "", false},
		{"REGISTER", 0, "", false},
		{"1", 0, "", false},
		{"1REGISTER", 0, "", false},
		{"1 REG/ISTER", 0, "", false},
		{"", 0, "", false},
	} {
		seq, m, err := ParseCSeq([]byte(tc.in))
		if (err == nil) != tc.ok || seq != tc.seq || string(m) != tc.method {
			t.Errorf("ParseCSeq(%q) = %d %q %v", tc.in, seq, m, err)
		}
	}
}

func TestEqualName(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		eq         bool
	}{
		{"Content-Length", "content-length", true},
		{"l", "Content-Length", true},
		{"L", "Content-Length", true},
		{"Content-Length", "l", true},
		{"i", "Call-ID", true},
		{"v", "Via", true},
		{"t", "To", true},
		{"m", "Contact", true},
		{"c", "Content-Type", true},
		{"l", "Via", false},
		{"To", "Tx", false},
		{"X", "X-Other", false},
		{"x", "Session-Expires", true},
		{"q", "Q-Unknown", false},
	} {
		if got := EqualName([]byte(tc.name), tc.want); got != tc.eq {
			t.Errorf("EqualName(%q, %q) = %v", tc.name, tc.want, got)
		}
	}
}

func TestParam(t *testing.T) {
	for _, tc := range []struct {
		value, name, want string
		ok                bool
	}{
		{"<sip:a@b>;tag=x1", "tag", "x1", true},
		{"<sip:a@b;tag=inuri>", "tag", "", false},
		{"sip:a@b;TAG=y", "tag", "y", true},
		{"SIP/2.0/TLS h:5061;branch=z9hG4bK1;rport", "rport", "", true},
		{"SIP/2.0/TLS h:5061;branch=z9hG4bK1;rport", "branch", "z9hG4bK1", true},
		{"<sip:a@b>; expires = 30 ", "expires", "30", true},
		{"<sip:a@b>", "tag", "", false},
	} {
		v, ok := Param([]byte(tc.value), tc.name)
		if ok != tc.ok || string(v) != tc.want {
			t.Errorf("Param(%q, %q) = %q %v", tc.value, tc.name, v, ok)
		}
	}
}

func TestErrorsAreTyped(t *testing.T) {
	var f Framer
	_, _, err := f.Next([]byte("OPTIONS sip:a SIP/2.0\r\n\r\n"))
	var e *Error
	if !errors.As(err, &e) || e.Reason != NoContentLength || !errors.Is(err, NoContentLength) || errors.Is(err, TooBig) {
		t.Fatalf("err = %#v", err)
	}
	if got := fmt.Sprint(NoContentLength); got != "sipmsg: no_content_length" {
		t.Errorf("Reason as error = %q", got)
	}
	if got := HeaderTooBig.String(); got != "header_too_big" {
		t.Errorf("String = %q", got)
	}
	if got := Reason(200).String(); got != "reason(200)" {
		t.Errorf("String = %q", got)
	}
}
