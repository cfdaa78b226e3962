package sipmsg

import (
	"bytes"
	"iter"
	"math"
)

// StartLine is a parsed Request-Line (RFC 3261 §7.1) or Status-Line (§7.2). Slices alias the
// message. The SIP-Version is always SIP/2.0 (anything else is refused) and is not kept.
type StartLine struct {
	Method []byte // request: the method token, e.g. "REGISTER"; nil in a response
	URI    []byte // request: the Request-URI as sent
	Status int    // response: 100..699; 0 in a request
	Reason []byte // response: the Reason-Phrase, possibly empty
}

// IsRequest reports whether the line is a Request-Line.
func (s *StartLine) IsRequest() bool { return s.Status == 0 }

// ParseStartLine parses a start line given without its CRLF.
func ParseStartLine(line []byte) (StartLine, error) {
	if len(line) >= 4 && equalFold(line[:4], "SIP/") {
		return parseStatusLine(line)
	}
	// Request-Line = Method SP Request-URI SP SIP-Version
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return StartLine{}, badLine("no method", line)
	}
	method := line[:sp]
	for _, c := range method {
		if !isToken(c) {
			return StartLine{}, badLine("bad method", line)
		}
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return StartLine{}, badLine("no Request-URI", line)
	}
	uri := rest[:sp]
	// Every Request-URI form (SIP-URI, SIPS-URI, absoluteURI) has a scheme and a colon, and none
	// holds whitespace.
	if bytes.IndexByte(uri, ':') <= 0 || bytes.IndexByte(uri, '\t') >= 0 {
		return StartLine{}, badLine("bad Request-URI", line)
	}
	if !equalFold(rest[sp+1:], "SIP/2.0") {
		return StartLine{}, badLine("version is not SIP/2.0", line)
	}
	return StartLine{Method: method, URI: uri}, nil
}

// parseStatusLine parses SIP-Version SP Status-Code SP Reason-Phrase. A missing " Reason" is
// tolerated (some stacks omit it) and reads as an empty phrase.
func parseStatusLine(line []byte) (StartLine, error) {
	if len(line) < 11 || !equalFold(line[:8], "SIP/2.0 ") {
		return StartLine{}, badLine("version is not SIP/2.0", line)
	}
	code := line[8:11]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || (len(line) > 11 && line[11] != ' ') {
		return StartLine{}, badLine("bad status code", line)
	}
	st := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if st < 100 || st > 699 {
		return StartLine{}, badLine("bad status code", line)
	}
	return StartLine{Status: st, Reason: line[min(12, len(line)):]}, nil
}

func badLine(why string, line []byte) error {
	const show = 64 // enough to recognise the line, bounded so a hostile line cannot bloat logs
	if len(line) > show {
		return errorf(BadStartLine, "bad start line: %s: %q...", why, line[:show])
	}
	return errorf(BadStartLine, "bad start line: %s: %q", why, line)
}

// Message is a parsed view of one whole message as framed by Framer. Slices alias the frame; the
// Message is valid as long as the frame's bytes are.
type Message struct {
	StartLine
	Raw  []byte // the whole message
	Body []byte // the Content-Length bytes after the header section

	hdr []byte // header lines, each ending in CRLF, without the final empty line
}

// Parse parses frame, which must hold exactly one message: the frame of Kind Message returned by
// Framer.Next (Kind SIP). It applies the same checks as the Framer, with no size bounds.
func Parse(frame []byte) (Message, error) {
	var s scan
	// No bounds (beyond int32, to keep arithmetic safe): a short frame reads as truncated.
	done, err := s.step(frame, math.MaxInt32, math.MaxInt32)
	switch {
	case err != nil:
		return Message{}, err
	case s.lineLen == 0 || s.hdrLen == 0:
		return Message{}, errorf(BadHeader, "no end of header section in %d bytes", len(frame))
	case !done:
		return Message{}, errorf(BadContentLength, "Content-Length %d but %d body bytes", s.total-s.hdrLen, len(frame)-s.hdrLen)
	case s.total != len(frame):
		return Message{}, errorf(BadContentLength, "%d bytes after the body", len(frame)-s.total)
	}
	sl, err := ParseStartLine(frame[:s.lineLen-2])
	if err != nil {
		return Message{}, err // not reached: step parsed it already
	}
	return Message{StartLine: sl, Raw: frame, Body: frame[s.hdrLen:], hdr: frame[s.lineLen : s.hdrLen-2]}, nil
}

// Headers iterates over the header fields in order: the name as sent (compact or not, any case)
// and the value trimmed of surrounding whitespace. A folded value (RFC 3261 §7.3.1) keeps its
// inner CRLF and whitespace, so it can be copied into another message as is.
func (m *Message) Headers() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for h := m.hdr; len(h) > 0; {
			name, value, rest, _, err := nextHeader(h, 1)
			if err != nil {
				return // Parse validated every line; only a hand-made Message gets here
			}
			if !yield(name, value) {
				return
			}
			h = rest
		}
	}
}

// Get returns the value of the first header field called name (case-insensitive; the compact
// form counts, so Get("Call-ID") finds "i:"). ok is false when there is none.
func (m *Message) Get(name string) (value []byte, ok bool) {
	for n, v := range m.Headers() {
		if EqualName(n, name) {
			return v, true
		}
	}
	return nil, false
}

// CSeq returns the sequence number and method of the CSeq header field (RFC 3261 §20.16).
func (m *Message) CSeq() (seq uint32, method []byte, err error) {
	v, ok := m.Get("CSeq")
	if !ok {
		return 0, nil, errorf(BadHeader, "no CSeq")
	}
	return ParseCSeq(v)
}

// ParseCSeq parses a CSeq value: 1*DIGIT LWS Method.
func ParseCSeq(v []byte) (seq uint32, method []byte, err error) {
	i, n := 0, uint64(0)
	for i < len(v) && isDigit(v[i]) && n <= math.MaxUint32 {
		n = n*10 + uint64(v[i]-'0')
		i++
	}
	method = trimLWS(v[i:])
	if i == 0 || n > math.MaxUint32 || i == len(v) || (v[i] != ' ' && v[i] != '\t') || len(method) == 0 {
		return 0, nil, errorf(BadHeader, "bad CSeq %q", v)
	}
	for _, c := range method {
		if !isToken(c) {
			return 0, nil, errorf(BadHeader, "bad CSeq %q", v)
		}
	}
	return uint32(n), method, nil
}

// Param returns the value of header parameter name in a header value such as a To, From,
// Contact or Via value: "<sip:a@b;lr>;tag=x" has the parameter tag=x (the ;lr inside the angle
// brackets belongs to the URI). A parameter without "=" has an empty value. Names compare
// case-insensitively.
func Param(value []byte, name string) (v []byte, ok bool) {
	if i := bytes.LastIndexByte(value, '>'); i >= 0 {
		value = value[i+1:]
	}
	for {
		i := bytes.IndexByte(value, ';')
		if i < 0 {
			return nil, false
		}
		value = value[i+1:]
		p := value
		if j := bytes.IndexByte(p, ';'); j >= 0 {
			p = p[:j]
		}
		k, val, _ := bytes.Cut(p, []byte("="))
		if equalFold(trimLWS(k), name) {
			return trimLWS(val), true
		}
	}
}

// compact maps header names to their compact forms: RFC 3261 §7.3.3 and the registrations in
// RFC 3515 (r), RFC 3841 (a, d, j), RFC 3892 (b), RFC 4028 (x), RFC 6665 (o, u), RFC 8224 (y).
var compact = [...]struct {
	name string
	c    byte
}{
	{"Accept-Contact", 'a'}, {"Referred-By", 'b'}, {"Content-Type", 'c'},
	{"Request-Disposition", 'd'}, {"Content-Encoding", 'e'}, {"From", 'f'},
	{"Call-ID", 'i'}, {"Reject-Contact", 'j'}, {"Supported", 'k'},
	{"Content-Length", 'l'}, {"Contact", 'm'}, {"Event", 'o'},
	{"Refer-To", 'r'}, {"Subject", 's'}, {"To", 't'}, {"Allow-Events", 'u'},
	{"Via", 'v'}, {"Session-Expires", 'x'}, {"Identity", 'y'},
}

func compactOf[S ~string | ~[]byte](name S) byte {
	for _, e := range compact {
		if equalFold(name, e.name) {
			return e.c
		}
	}
	return 0
}

// EqualName reports whether header name (as sent) names the same header field as want:
// case-insensitively, and with compact forms equal to their long forms ("l" is "Content-Length").
func EqualName(name []byte, want string) bool {
	switch {
	case len(name) == len(want):
		return equalFold(name, want)
	case len(name) == 1:
		return lower(name[0]) == compactOf(want)
	case len(want) == 1:
		return lower(want[0]) == compactOf(name)
	}
	return false
}

func equalFold[A, B ~string | ~[]byte](b A, s B) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
