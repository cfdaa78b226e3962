package sipmsg

import "bytes"

// Default bounds, used when the Framer's fields are zero. 64 KiB is the largest message Kamailio
// accepts (BUF_SIZE 65535) and covers any SIP message seen in practice; 8 KiB of header section
// holds dozens of Via and Record-Route entries. Bounding the header section separately lets a
// peer that never sends "\r\n\r\n" be refused after 8 KiB rather than 64 KiB.
const (
	DefaultMax       = 64 << 10
	DefaultMaxHeader = 8 << 10
)

// Kind is what Framer.Next found at the start of the buffer.
type Kind uint8

const (
	// None: the buffer does not yet hold a complete frame; read more and call again.
	None Kind = iota
	// SIP: one SIP request or response, start line to the last body byte.
	SIP
	// Ping: "\r\n\r\n", an RFC 5626 §4.4.1 keepalive ping. Answer it with "\r\n".
	Ping
	// Pong: a lone "\r\n": an RFC 5626 §4.4.1 pong, or an empty line before a start line, which
	// RFC 3261 §7.5 says to ignore. Either way there is nothing to answer.
	Pong
)

func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case SIP:
		return "sip"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	}
	return "kind(?)"
}

// Framer splits a SIP byte stream (TCP or the clear text of TLS) into frames.
//
// RFC 3261 §18.3: on a stream the end of a message is found from the end of the header section
// ("\r\n\r\n") plus Content-Length, which is therefore mandatory; a message without it is an
// error, not a message with an empty body. Between messages, CRLF sequences are keepalives
// (RFC 5626 §4.4.1) and are reported as Ping or Pong frames, so the caller can answer pings and
// never hands a stray CRLF to a SIP parser.
//
// The zero value is ready to use with the default bounds. A Framer remembers how far it has
// scanned the message being received, so that a message arriving in many small pieces costs
// linear time: between calls that return no frame, buf must start at the same stream position
// (it may grow and may move in memory). After a frame (n > 0) the next call's buf starts at the
// byte after it. Call Reset before reusing a Framer on another stream.
//
// Errors are final for the stream: after one, the framing of the rest of the stream is unknown
// and the connection should be closed.
//
// A Framer is used by one goroutine at a time.
type Framer struct {
	// Max bounds a whole message (header section and body) in bytes. Zero means DefaultMax.
	Max int
	// MaxHeader bounds the header section (start line, header lines and the empty line) in
	// bytes. Zero means DefaultMaxHeader; it is never more than Max.
	MaxHeader int
	// FromServer is set by clients. RFC 5626 §4.4.1 servers send only pongs, never pings, so every
	// "\r\n" from a server is reported as a Pong at once; otherwise (the default, reading from a
	// client) "\r\n\r\n" is a Ping and a "\r\n" is only reported once the next byte shows it is
	// not the start of a ping.
	FromServer bool

	s scan // progress on the message at the start of buf
}

// Reset forgets the progress on a partly received message, for reuse on another stream.
func (f *Framer) Reset() { f.s = scan{} }

// Next looks at the start of buf and returns the kind of the first frame and its length n: the
// frame is buf[:n]. Kind None with a nil error means buf holds no complete frame yet (n is 0).
// Next does not keep buf and does not allocate unless it returns an error.
func (f *Framer) Next(buf []byte) (kind Kind, n int, err error) {
	if f.s.scanned > len(buf) {
		// The caller moved on to another stream position without telling us: start over
		// rather than trust offsets into bytes we have not seen.
		f.s = scan{}
	}
	if len(buf) == 0 {
		return None, 0, nil
	}
	if f.s.scanned == 0 && (buf[0] == '\r' || buf[0] == '\n') {
		return f.keepalive(buf)
	}
	maxMsg, maxHdr := f.bounds()
	done, err := f.s.step(buf, maxMsg, maxHdr)
	if err != nil || !done {
		if err != nil {
			f.s = scan{}
		}
		return None, 0, err
	}
	n = f.s.total
	f.s = scan{}
	return SIP, n, nil
}

func (f *Framer) bounds() (maxMsg, maxHdr int) {
	maxMsg, maxHdr = f.Max, f.MaxHeader
	if maxMsg <= 0 {
		maxMsg = DefaultMax
	}
	if maxHdr <= 0 {
		maxHdr = DefaultMaxHeader
	}
	return maxMsg, min(maxHdr, maxMsg)
}

// keepalive frames the CRLFs in front of a start line. buf[0] is CR or LF.
func (f *Framer) keepalive(buf []byte) (Kind, int, error) {
	if buf[0] == '\n' {
		return None, 0, errorf(BadFraming, "bare LF before start line")
	}
	if len(buf) < 2 {
		return None, 0, nil
	}
	if buf[1] != '\n' {
		return None, 0, errorf(BadFraming, "CR not followed by LF before start line")
	}
	if f.FromServer {
		return Pong, 2, nil
	}
	// From a client, "\r\n" may be the first half of a ping: wait for the byte that decides.
	if len(buf) < 3 {
		return None, 0, nil
	}
	if buf[2] != '\r' {
		return Pong, 2, nil
	}
	if len(buf) < 4 {
		return None, 0, nil
	}
	if buf[3] != '\n' {
		return None, 0, errorf(BadFraming, "CR not followed by LF before start line")
	}
	return Ping, 4, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// scan is the progress of framing one message. Offsets are from the message's first byte.
type scan struct {
	scanned int // bytes already checked: of the start line, or searched for the header end
	lineLen int // start line length including its CRLF; 0 while incomplete
	hdrLen  int // header section length including the empty line; 0 while unknown
	total   int // whole message length; 0 while unknown
}

// step advances s over buf. It returns done once buf holds the whole message (s.total bytes),
// or the error that makes the message unframeable. The order of checks makes the result depend
// only on the stream's bytes, never on how they were split across calls.
func (s *scan) step(buf []byte, maxMsg, maxHdr int) (done bool, err error) {
	if s.total > 0 {
		return len(buf) >= s.total, nil
	}
	win := buf[:min(len(buf), maxHdr)]
	if s.lineLen == 0 {
		if err := s.stepStartLine(win); err != nil {
			return false, err
		}
		if s.lineLen == 0 {
			if len(buf) >= maxHdr {
				return false, errorf(HeaderTooBig, "header section exceeds %d bytes", maxHdr)
			}
			return false, nil
		}
	}
	// The header section ends at the first "\r\n\r\n"; the start line's own CRLF may be its
	// first half (a message with no header lines). A terminator may straddle the previous
	// scan's end, hence the step back of 3.
	from := max(s.scanned-3, s.lineLen-2)
	i := bytes.Index(win[from:], crlfcrlf)
	if i < 0 {
		s.scanned = len(win)
		if len(buf) >= maxHdr {
			// No terminator in the first maxHdr bytes: wherever it comes, the section is longer.
			return false, errorf(HeaderTooBig, "header section exceeds %d bytes", maxHdr)
		}
		return false, nil
	}
	s.hdrLen = from + i + 4
	clen, err := contentLength(buf[s.lineLen:s.hdrLen-2], maxMsg)
	if err != nil {
		return false, err
	}
	if clen > maxMsg-s.hdrLen {
		return false, errorf(TooBig, "message of %d bytes exceeds %d bytes", s.hdrLen+clen, maxMsg)
	}
	s.total = s.hdrLen + clen
	return len(buf) >= s.total, nil
}

// stepStartLine checks the start line bytes not yet checked; once the line is complete it is
// parsed in full and s.lineLen is set. Checking byte by byte refuses non-SIP input (a TLS
// ClientHello starts with 0x16) at its first byte instead of after MaxHeader bytes.
func (s *scan) stepStartLine(win []byte) error {
	for i := s.scanned; i < len(win); i++ {
		c := win[i]
		switch {
		case i == 0 && !isToken(c):
			// Both a Method and "SIP/2.0" start with a token character.
			return errorf(BadStartLine, "bad start line: byte %#02x at offset 0", c)
		case c == '\r':
			if i+1 == len(win) {
				s.scanned = i // decide once the next byte is here
				return nil
			}
			if win[i+1] != '\n' {
				return errorf(BadStartLine, "bad start line: CR without LF at offset %d", i)
			}
			if _, err := ParseStartLine(win[:i]); err != nil {
				return err
			}
			s.lineLen = i + 2
			s.scanned = s.lineLen
			return nil
		case c == '\n':
			return errorf(BadStartLine, "bad start line: bare LF at offset %d", i)
		case c < 0x20 && c != '\t' || c == 0x7f:
			return errorf(BadStartLine, "bad start line: control byte %#02x at offset %d", c, i)
		}
	}
	s.scanned = len(win)
	return nil
}

// contentLength checks every header line of a header section (without the final empty line)
// and returns the Content-Length (RFC 3261 §20.14, compact form "l").
func contentLength(hdr []byte, maxMsg int) (int, error) {
	clen := -1
	var cval []byte
	for line, lines := 1, 0; len(hdr) > 0; line += lines {
		var name, value []byte
		var err error
		name, value, hdr, lines, err = nextHeader(hdr, line)
		if err != nil {
			return 0, err
		}
		if !EqualName(name, "Content-Length") {
			continue
		}
		n, err := parseContentLength(value, maxMsg)
		if err != nil {
			return 0, err
		}
		if clen >= 0 && n != clen {
			// Two lengths that disagree make the framing ambiguous, the request-smuggling
			// pattern of HTTP (RFC 9112 §6.3); identical repeats are harmless.
			return 0, errorf(BadContentLength, "conflicting Content-Length values %q and %q", cval, value)
		}
		clen, cval = n, value
	}
	if clen < 0 {
		return 0, errorf(NoContentLength, "missing Content-Length (required on stream transports, RFC 3261 §18.3)")
	}
	return clen, nil
}

func parseContentLength(v []byte, maxMsg int) (int, error) {
	if len(v) == 0 {
		return 0, errorf(BadContentLength, "bad Content-Length %q", v)
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errorf(BadContentLength, "bad Content-Length %q", v)
		}
		n = n*10 + int(c-'0')
		if n > maxMsg {
			return 0, errorf(TooBig, "Content-Length %s exceeds %d bytes", v, maxMsg)
		}
	}
	return n, nil
}

// nextHeader splits the first logical header off hdr, a run of CRLF-terminated lines. A header
// may continue on lines that start with SP or HTAB (RFC 3261 §7.3.1 folding); value spans them
// and is trimmed of leading and trailing whitespace; lines says how many physical lines it took.
// line is the 1-based number of hdr's first line within the header section, for errors.
func nextHeader(hdr []byte, line int) (name, value, rest []byte, lines int, err error) {
	end := 0 // end of the logical header, excluding its final CRLF
	for {
		i := bytes.Index(hdr[end:], crlf)
		if i < 0 {
			// Callers pass whole sections; a missing CRLF means bytes after the last line.
			return nil, nil, nil, 0, errorf(BadHeader, "bad header line %d: no CRLF", line+lines)
		}
		if err := checkLine(hdr[end:end+i], line+lines); err != nil {
			return nil, nil, nil, 0, err
		}
		lines++
		end += i
		if end+2 < len(hdr) && (hdr[end+2] == ' ' || hdr[end+2] == '\t') {
			end += 2 // folded: the next line continues this header
			continue
		}
		break
	}
	h := hdr[:end]
	rest = hdr[end+2:]
	if h[0] == ' ' || h[0] == '\t' {
		return nil, nil, nil, 0, errorf(BadHeader, "bad header line %d: continuation without a header", line)
	}
	colon := bytes.IndexByte(h, ':')
	if colon < 0 {
		return nil, nil, nil, 0, errorf(BadHeader, "bad header line %d: no colon", line)
	}
	name = bytes.TrimRight(h[:colon], " \t") // HCOLON allows whitespace before ':'
	for _, c := range name {
		if !isToken(c) {
			return nil, nil, nil, 0, errorf(BadHeader, "bad header line %d: bad name %q", line, name)
		}
	}
	if len(name) == 0 {
		return nil, nil, nil, 0, errorf(BadHeader, "bad header line %d: empty name", line)
	}
	return name, trimLWS(h[colon+1:]), rest, lines, nil
}

var crlf = []byte("\r\n")

// checkLine refuses control bytes inside one physical header line: a bare CR or LF would be read
// as a line end by some parsers and not others.
func checkLine(l []byte, line int) error {
	for _, c := range l {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return errorf(BadHeader, "bad header line %d: control byte %#02x", line, c)
		}
	}
	return nil
}

func trimLWS(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }

// isToken reports whether c may appear in an RFC 3261 §25.1 token.
func isToken(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}
