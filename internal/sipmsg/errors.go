package sipmsg

import "fmt"

// Reason says why a stream could not be framed or a message could not be parsed. Reasons are
// stable names for counters ("header_too_big"); a *Error carries the reason and the details.
//
// A Reason is itself an error, so callers can test with errors.Is(err, sipmsg.HeaderTooBig).
type Reason uint8

// Reasons, in the order a message is checked.
const (
	BadFraming       Reason = iota + 1 // bytes between messages that are neither CRLF nor a start line
	BadStartLine                       // start line is neither Request-Line nor Status-Line (RFC 3261 §7.1, §7.2)
	HeaderTooBig                       // no end of header section within the MaxHeader bound
	BadHeader                          // a header line that is not "name: value" (RFC 3261 §7.3.1)
	NoContentLength                    // stream message without Content-Length (RFC 3261 §18.3)
	BadContentLength                   // Content-Length is not 1*DIGIT, or two disagree
	TooBig                             // header section plus body exceeds Max
)

var reasonNames = [...]string{
	BadFraming:       "bad_framing",
	BadStartLine:     "bad_start_line",
	HeaderTooBig:     "header_too_big",
	BadHeader:        "bad_header",
	NoContentLength:  "no_content_length",
	BadContentLength: "bad_content_length",
	TooBig:           "too_big",
}

// String returns the counter name of r, e.g. "header_too_big".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Error makes a Reason usable as an errors.Is target.
func (r Reason) Error() string { return "sipmsg: " + r.String() }

// Error is the error returned for malformed input: the reason, plus a message naming the
// offending value or bound, e.g. "sipmsg: header section exceeds 8192 bytes".
type Error struct {
	Reason Reason
	Detail string // without the "sipmsg: " prefix
}

func (e *Error) Error() string { return "sipmsg: " + e.Detail }

// Is reports whether target is e's Reason.
func (e *Error) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.Reason
}

func errorf(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
