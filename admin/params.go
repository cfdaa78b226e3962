package admin

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// paramKind is the JSON type a parameter accepts.
type paramKind uint8

const (
	pInt    paramKind = iota // a JSON integer that fits int64
	pString                  // a JSON string
	pBool                    // true/false, 0/1, or "yes"/"no", "true"/"false", "on"/"off", "1"/"0"
	pIntOrString
)

func (k paramKind) String() string {
	switch k {
	case pInt:
		return "an integer"
	case pString:
		return "a string"
	case pBool:
		return "a boolean"
	}
	return "an integer or a string"
}

// param describes one parameter of a method. Positional params are taken in the order of the
// method's list (kamcmd style: cfg.set_now_int tls con_ct_wq_max 1048576); named params by name.
type param struct {
	name     string
	kind     paramKind
	required bool
	doc      string
}

// args are a method's bound parameters: int64, string or bool values by name; absent optional
// params (and JSON null) are missing from the map.
type args map[string]any

func (a args) has(name string) bool { _, ok := a[name]; return ok }

func (a args) int(name string, def int64) int64 {
	if v, ok := a[name].(int64); ok {
		return v
	}
	return def
}

func (a args) str(name string) string {
	s, _ := a[name].(string)
	return s
}

func (a args) bool(name string) bool {
	b, _ := a[name].(bool)
	return b
}

// bind checks raw params (nil, an array or an object) against ps.
func bind(method string, ps []param, raw json.RawMessage) (args, *Error) {
	a := args{}
	names := func() string {
		var b strings.Builder
		for i, p := range ps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.name)
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	}
	switch kind(raw) {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errorf(CodeInvalidParams, "invalid params: %v", err)
		}
		if len(list) > len(ps) {
			return nil, errorf(CodeInvalidParams, "invalid params: %s takes at most %d (%s), got %d", method, len(ps), names(), len(list))
		}
		for i, v := range list {
			if err := a.set(ps[i], i+1, v); err != nil {
				return nil, err
			}
		}
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, errorf(CodeInvalidParams, "invalid params: %v", err)
		}
		for name := range m {
			if !knownParam(ps, name) {
				return nil, errorf(CodeInvalidParams, "invalid params: %s has no parameter %q (it takes: %s)", method, clip(name), names())
			}
		}
		for i, p := range ps {
			if v, ok := m[p.name]; ok {
				if err := a.set(p, i+1, v); err != nil {
					return nil, err
				}
			}
		}
	}
	for i, p := range ps {
		if p.required && !a.has(p.name) {
			return nil, errorf(CodeInvalidParams, "invalid params: missing %q (%s, position %d) for %s", p.name, p.kind, i+1, method)
		}
	}
	return a, nil
}

func knownParam(ps []param, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// set decodes v as p's kind. pos is the 1-based position, for messages.
func (a args) set(p param, pos int, v json.RawMessage) *Error {
	bad := func() *Error {
		return errorf(CodeInvalidParams, "invalid params: %q (position %d) must be %s, got %s", p.name, pos, p.kind, describe(v))
	}
	k := kind(v)
	if k == 'n' {
		return nil // null: absent
	}
	switch p.kind {
	case pInt:
		n, ok, e := intValue(p, pos, v)
		if e != nil {
			return e
		}
		if !ok {
			return bad()
		}
		a[p.name] = n
	case pString:
		var s string
		if k != '"' || json.Unmarshal(v, &s) != nil {
			return bad()
		}
		a[p.name] = s
	case pBool:
		b, ok := boolValue(v)
		if !ok {
			return bad()
		}
		a[p.name] = b
	case pIntOrString:
		if k == '"' {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return bad()
			}
			a[p.name] = s
			return nil
		}
		n, ok, e := intValue(p, pos, v)
		if e != nil {
			return e
		}
		if !ok {
			return bad()
		}
		a[p.name] = n
	}
	return nil
}

// intValue decodes a JSON integer. ok is false for anything else; a number that is integral but
// does not fit int64 gets its own message.
func intValue(p param, pos int, v json.RawMessage) (int64, bool, *Error) {
	if kind(v) != '0' {
		return 0, false, nil
	}
	s := string(bytes.TrimSpace(v))
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return n, true, nil
	}
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return 0, false, errorf(CodeInvalidParams, "invalid params: %q (position %d) = %s does not fit a 64-bit integer", p.name, pos, clip(s))
	}
	return 0, false, nil // a fraction or an exponent
}

func boolValue(v json.RawMessage) (bool, bool) {
	switch kind(v) {
	case 'b':
		return string(bytes.TrimSpace(v)) == "true", true
	case '0':
		switch string(bytes.TrimSpace(v)) {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return false, false
		}
		switch strings.ToLower(s) {
		case "1", "yes", "true", "on":
			return true, true
		case "0", "no", "false", "off":
			return false, true
		}
	}
	return false, false
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}
