package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// JSON-RPC 2.0 error codes (https://www.jsonrpc.org/specification §5.1), and the application
// codes tlsmux uses. The application codes are HTTP-like, as Kamailio's RPC faults are
// (rpc->fault(ctx, 500, "...")), so scripts written against kamcmd's error output keep working.
const (
	CodeParseError     = -32700 // the body is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a JSON-RPC 2.0 request (or over a size limit)
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602 // a parameter is missing, of the wrong type, or unknown
	CodeInternal       = -32603 // a bug in tlsmux (a panic, a result that cannot be encoded)

	CodeBadValue    = 400 // a value of the right type that the setting refuses (out of range)
	CodeForbidden   = 403 // the peer is not loopback and not in -admin-allow
	CodeNotFound    = 404 // unknown setting or connection id
	CodeReadOnly    = 409 // the setting is fixed while running
	CodeFailed      = 500 // the operation failed (tls.reload), the message says why
	CodeUnavailable = 503 // too many requests in flight, or shutting down
)

// Error is a JSON-RPC error object. A Target may return one to choose the code and data.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(code int, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// asError turns an error from a Target into a JSON-RPC error (see Target).
func asError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, ErrNotFound):
		return &Error{Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, ErrOutOfRange), errors.Is(err, ErrBadValue):
		return &Error{Code: CodeBadValue, Message: err.Error()}
	case errors.Is(err, ErrReadOnly):
		return &Error{Code: CodeReadOnly, Message: err.Error()}
	case errors.Is(err, ErrUnavailable):
		return &Error{Code: CodeUnavailable, Message: err.Error()}
	}
	return &Error{Code: CodeFailed, Message: err.Error()}
}

// request is one decoded JSON-RPC request object.
type request struct {
	id     json.RawMessage // nil for a notification; else a string, a number or null, as sent
	method string
	params json.RawMessage // nil, or an array or object
	err    *Error          // the object is not a valid request; answer with this
}

func (r *request) notification() bool { return r.id == nil && r.err == nil }

// response is one JSON-RPC response object.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

var nullID = json.RawMessage("null")

// decodeBody splits a request body into requests. A non-nil *Error is an answer to the whole
// body (parse error, empty or oversized batch, a body that is not an object or an array); an
// invalid object inside a batch gets its own error in its request.
func decodeBody(body []byte, maxBatch int) (reqs []request, batch bool, fatal *Error) {
	if !json.Valid(body) {
		return nil, false, errorf(CodeParseError, "parse error: the body is not valid JSON")
	}
	body = bytes.TrimLeft(body, " \t\r\n")
	switch body[0] {
	case '{':
		return []request{decodeRequest(body)}, false, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, false, errorf(CodeParseError, "parse error: %v", err)
		}
		switch {
		case len(elems) == 0:
			return nil, true, errorf(CodeInvalidRequest, "invalid request: empty batch")
		case len(elems) > maxBatch:
			return nil, true, errorf(CodeInvalidRequest, "invalid request: a batch of %d requests is over the limit of %d", len(elems), maxBatch)
		}
		reqs = make([]request, len(elems))
		for i, e := range elems {
			reqs[i] = decodeRequest(e)
		}
		return reqs, true, nil
	}
	return nil, false, errorf(CodeInvalidRequest, "invalid request: want a JSON object or an array of them")
}

// decodeRequest checks one element against JSON-RPC 2.0 §4. Members are matched exactly (not
// case-insensitively, as encoding/json would match struct fields); unknown members are ignored.
func decodeRequest(raw json.RawMessage) request {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return request{err: errorf(CodeInvalidRequest, "invalid request: want a JSON object")}
	}
	var r request
	if id, ok := m["id"]; ok {
		switch kind(id) {
		case '"', '0', 'n':
			r.id = id
		default:
			return request{err: errorf(CodeInvalidRequest, "invalid request: \"id\" must be a string, a number or null")}
		}
	}
	invalid := func(format string, a ...any) request {
		r.err = errorf(CodeInvalidRequest, "invalid request: "+format, a...)
		if r.id == nil {
			r.id = nullID
		}
		return r
	}
	var version string
	if v, ok := m["jsonrpc"]; !ok || json.Unmarshal(v, &version) != nil || version != "2.0" {
		return invalid(`"jsonrpc" must be "2.0"`)
	}
	mv, ok := m["method"]
	if !ok || kind(mv) != '"' || json.Unmarshal(mv, &r.method) != nil {
		return invalid(`"method" must be a string`)
	}
	if p, ok := m["params"]; ok {
		switch kind(p) {
		case '[', '{':
			r.params = p
		case 'n':
			// Not structured, so strictly invalid; but many clients send null for "no params",
			// and reading it as absent loses nothing.
		default:
			return invalid(`"params" must be an array or an object`)
		}
	}
	return r
}

// kind classifies a JSON value by its first byte: '"', '0' (any number), '[', '{', 'n' (null),
// 'b' (true or false), or 0.
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '"', c == '[', c == '{', c == 'n':
		return c
	case c == 't', c == 'f':
		return 'b'
	case c == '-', c >= '0' && c <= '9':
		return '0'
	}
	return 0
}

// describe shows a JSON value in an error message, shortened.
func describe(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	var what string
	switch kind(v) {
	case '"':
		what = "string"
	case '0':
		what = "number"
	case '[':
		what = "array"
	case '{':
		what = "object"
	case 'n':
		return "null"
	case 'b':
		return string(v)
	}
	s := string(v)
	if len(s) > 40 {
		s = s[:37] + "..."
		if kind(v) == '"' {
			s += `"`
		}
	}
	return what + " " + s
}
