package sipmsg

import (
	"errors"
	"strconv"
)

// Request describes a request to build. Via, From, To and Call-ID are values (no "Name: "),
// copied as given; the builder adds no tags or branches of its own.
type Request struct {
	Method      string // e.g. "REGISTER"
	URI         string // Request-URI, e.g. "sip:example.com"
	Via         string // e.g. "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-1"
	From        string // e.g. "<sip:alice@example.com>;tag=1"
	To          string
	CallID      string
	CSeq        uint32
	MaxForwards int      // 0 means 70, the RFC 3261 §8.1.1.6 recommendation
	Headers     []string // further header lines without CRLF, e.g. "Expires: 3600"
	ContentType string   // sent when the body is not empty; "" means "text/plain"
	Body        []byte
}

// AppendRequest appends r as a request to dst. The result carries Via, Max-Forwards, From, To,
// Call-ID, CSeq (RFC 3261 §8.1.1) and Content-Length (mandatory on streams, §18.3).
func AppendRequest(dst []byte, r Request) []byte {
	dst = appendRequestHead(dst, &r, len(r.Body) > 0)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, r.Body...)
}

func appendRequestHead(dst []byte, r *Request, typed bool) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.URI...)
	dst = append(dst, " SIP/2.0\r\nVia: "...)
	dst = append(dst, r.Via...)
	dst = append(dst, "\r\nMax-Forwards: "...)
	mf := r.MaxForwards
	if mf == 0 {
		mf = 70
	}
	dst = strconv.AppendInt(dst, int64(mf), 10)
	dst = append(dst, "\r\n"...)
	dst = appendHeader(dst, "From", r.From)
	dst = appendHeader(dst, "To", r.To)
	dst = appendHeader(dst, "Call-ID", r.CallID)
	dst = append(dst, "CSeq: "...)
	dst = strconv.AppendUint(dst, uint64(r.CSeq), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Method...)
	dst = append(dst, "\r\n"...)
	for _, h := range r.Headers {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	if typed {
		ct := r.ContentType
		if ct == "" {
			ct = "text/plain"
		}
		dst = appendHeader(dst, "Content-Type", ct)
	}
	return dst
}

func appendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// ErrTooSmall is returned by AppendSized when the headers alone exceed the size asked for.
var ErrTooSmall = errors.New("sipmsg: size is smaller than the headers")

// AppendSized appends r with a text/plain body of padding chosen so that the whole message is
// exactly size bytes: a valid message of a known size for load tests. r.Body and r.ContentType
// are ignored. The padding is printable and depends on r.CSeq, so two messages of the same size
// differ in their bodies too.
func AppendSized(dst []byte, r Request, size int) ([]byte, error) {
	start := len(dst)
	dst = appendRequestHead(dst, &r, true)
	dst = append(dst, "Content-Length:"...)
	head := len(dst) - start
	// size = head + pad + digits(body) + 4 ("\r\n\r\n") + body. One space of padding after the
	// colon (SWS, RFC 3261 §7.3.1) is the usual form; when the digit count of the body length
	// flips exactly at the boundary (a body of 10 needs 2 digits, of 9 only 1), another space
	// absorbs the byte.
	for pad := 1; pad <= 2; pad++ {
		rest := size - head - pad - 4
		for d := 1; d <= 10 && d <= rest; d++ {
			body := rest - d
			if digits(body) != d {
				continue
			}
			for range pad {
				dst = append(dst, ' ')
			}
			dst = strconv.AppendInt(dst, int64(body), 10)
			dst = append(dst, "\r\n\r\n"...)
			return appendPadding(dst, body, r.CSeq), nil
		}
	}
	return dst[:start], ErrTooSmall
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

const padAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func appendPadding(dst []byte, n int, seed uint32) []byte {
	off := int(seed % uint32(len(padAlphabet)))
	for n > 0 {
		chunk := padAlphabet[off:]
		off = 0
		if len(chunk) > n {
			chunk = chunk[:n]
		}
		dst = append(dst, chunk...)
		n -= len(chunk)
	}
	return dst
}

// Response describes a response to a request.
type Response struct {
	Status      int      // e.g. 200
	Reason      string   // "" means the RFC 3261 §21 phrase for common codes
	ToTag       string   // added to To when the request's To has no tag (RFC 3261 §8.2.6.2)
	Headers     []string // further header lines without CRLF, e.g. "Expires: 3600"
	ContentType string   // sent when the body is not empty; "" means "text/plain"
	Body        []byte
}

// AppendResponse appends a response to req: every Via in order, From, To, Call-ID and CSeq are
// copied from the request (RFC 3261 §8.2.6.2), under their long names.
func AppendResponse(dst []byte, req *Message, r Response) []byte {
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	if r.Reason != "" {
		dst = append(dst, r.Reason...)
	} else {
		dst = append(dst, reasonPhrase(r.Status)...)
	}
	dst = append(dst, "\r\n"...)
	for name, v := range req.Headers() {
		if EqualName(name, "Via") {
			dst = appendHeaderBytes(dst, "Via", v)
		}
	}
	for _, h := range [...]string{"From", "To", "Call-ID", "CSeq"} {
		v, ok := req.Get(h)
		if !ok {
			continue
		}
		dst = appendHeaderBytes(dst, h, v)
		if h == "To" && r.ToTag != "" {
			if _, tagged := Param(v, "tag"); !tagged {
				dst = dst[:len(dst)-2]
				dst = append(dst, ";tag="...)
				dst = append(dst, r.ToTag...)
				dst = append(dst, "\r\n"...)
			}
		}
	}
	for _, h := range r.Headers {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	if len(r.Body) > 0 {
		ct := r.ContentType
		if ct == "" {
			ct = "text/plain"
		}
		dst = appendHeader(dst, "Content-Type", ct)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(r.Body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, r.Body...)
}

func appendHeaderBytes(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func reasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 430:
		return "Flow Failed"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	return "Unknown"
}
