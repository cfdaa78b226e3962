package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// jv is a JSON value that keeps the order of object members, so that ctl prints fields in the
// order the endpoint sends them (Kamailio's names first).
type jv struct {
	kind  byte   // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	text  string // string, number or bool as text
	keys  []string
	elems []*jv // object values (parallel to keys) or array elements
}

// maxDepth bounds the nesting parseOrdered accepts (the endpoint sends at most 3 levels).
const maxDepth = 32

func parseOrdered(data []byte) (*jv, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("trailing data after the value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder, depth int) (*jv, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deeply")
	}
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &jv{kind: 'o'}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				e, err := decodeValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys, v.elems = append(v.keys, k), append(v.elems, e)
			}
			_, err := d.Token() // '}'
			return v, err
		case '[':
			v := &jv{kind: 'a'}
			for d.More() {
				e, err := decodeValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				v.elems = append(v.elems, e)
			}
			_, err := d.Token() // ']'
			return v, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &jv{kind: 's', text: t}, nil
	case json.Number:
		return &jv{kind: 'n', text: t.String()}, nil
	case bool:
		return &jv{kind: 'b', text: strconv.FormatBool(t)}, nil
	case nil:
		return &jv{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", t)
}

func (v *jv) scalar() bool { return v.kind != 'o' && v.kind != 'a' }

func (v *jv) empty() bool {
	switch v.kind {
	case 'z':
		return true
	case 's':
		return v.text == ""
	case 'a', 'o':
		return len(v.elems) == 0
	}
	return false
}

// tableOf reports whether v is a non-empty array of objects, printed as a table.
func (v *jv) table() bool {
	if v.kind != 'a' || len(v.elems) == 0 {
		return false
	}
	for _, e := range v.elems {
		if e.kind != 'o' {
			return false
		}
	}
	return true
}

// longList reports whether v is a list of several scalars too long for one line (the problems
// of a failed reload), printed one per line.
func (v *jv) longList() bool {
	if v.kind != 'a' || len(v.elems) < 2 {
		return false
	}
	n := 0
	for _, e := range v.elems {
		if !e.scalar() {
			return false
		}
		n += len(e.text) + 1
	}
	return n > maxCell
}

// maxCell bounds a table cell or value printed by ctl; -json shows everything.
const maxCell = 96

// cell renders v on one line: scalars as text, arrays of scalars joined with ",", anything else
// as compact JSON. Control and other invisible characters are escaped: SNI, certificate names
// and profile names come from peers or files, and must not drive the operator's terminal.
func (v *jv) cell() string {
	var s string
	switch v.kind {
	case 'z':
		s = "-"
	case 's', 'n', 'b':
		s = v.text
	case 'a':
		parts := make([]string, len(v.elems))
		for i, e := range v.elems {
			if !e.scalar() {
				parts = nil
				break
			}
			parts[i] = e.cell()
		}
		if parts == nil {
			s = v.compact()
		} else {
			s = strings.Join(parts, ",")
		}
	default:
		s = v.compact()
	}
	s = sanitize(s)
	if utf8.RuneCountInString(s) > maxCell {
		s = string([]rune(s)[:maxCell-3]) + "..."
	}
	if s == "" {
		s = "-"
	}
	return s
}

func (v *jv) compact() string {
	var b strings.Builder
	v.writeJSON(&b)
	return b.String()
}

func (v *jv) writeJSON(b *strings.Builder) {
	switch v.kind {
	case 'z':
		b.WriteString("null")
	case 's':
		q, _ := json.Marshal(v.text)
		b.Write(q)
	case 'n', 'b':
		b.WriteString(v.text)
	case 'a':
		b.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.writeJSON(b)
		}
		b.WriteByte(']')
	case 'o':
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			v.elems[i].writeJSON(b)
		}
		b.WriteByte('}')
	}
}

// sanitize escapes what a terminal would interpret or hide: control characters (ESC starts a
// terminal escape sequence), format characters (bidirectional overrides) and invalid UTF-8.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (!unicode.IsPrint(r) && r != ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// render prints v for a person: a scalar on its line; an array of objects as a table; an array
// of scalars one per line; an object as aligned key/value lines, its nested objects flattened
// (key.sub) and its arrays of objects as tables after the lines, each under its key.
func render(w io.Writer, v *jv) {
	switch {
	case v.scalar():
		fmt.Fprintln(w, v.cell())
	case v.table():
		renderTable(w, v)
	case v.kind == 'a':
		if len(v.elems) == 0 {
			fmt.Fprintln(w, "(none)")
		}
		for _, e := range v.elems {
			fmt.Fprintln(w, e.cell())
		}
	default:
		renderObject(w, v)
	}
}

func renderObject(w io.Writer, v *jv) {
	type line struct{ k, v string }
	var lines []line
	var sections []int // top-level members printed after the lines: tables, long lists
	var flatten func(prefix string, o *jv)
	flatten = func(prefix string, o *jv) {
		for i, k := range o.keys {
			e := o.elems[i]
			switch {
			case e.kind == 'o' && len(e.elems) > 0:
				flatten(prefix+k+".", e)
			case prefix == "" && (e.table() || e.longList()):
				sections = append(sections, i)
			default:
				lines = append(lines, line{sanitize(prefix + k), e.cell()})
			}
		}
	}
	flatten("", v)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\n", l.k, l.v)
	}
	tw.Flush()
	for _, i := range sections {
		if len(lines) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s:\n", sanitize(v.keys[i]))
		if e := v.elems[i]; e.table() {
			renderTable(w, e)
		} else {
			for _, x := range e.elems {
				fmt.Fprintf(w, "  %s\n", x.cell())
			}
		}
	}
}

// renderTable prints an array of objects with one column per key (in order of first
// appearance), leaving out the columns that are empty in every row.
func renderTable(w io.Writer, v *jv) {
	// Columns in the order rows give them: a key missing from the first rows (an omitted
	// field) is placed after the key it follows where it appears, not at the end.
	var cols []string
	for _, row := range v.elems {
		prev := -1
		for _, k := range row.keys {
			if i := slices.Index(cols, k); i >= 0 {
				prev = i
				continue
			}
			prev++
			cols = slices.Insert(cols, prev, k)
		}
	}
	rows := make([]map[string]*jv, len(v.elems))
	used := map[string]bool{}
	for i, row := range v.elems {
		rows[i] = make(map[string]*jv, len(row.keys))
		for j, k := range row.keys {
			rows[i][k] = row.elems[j]
			if !row.elems[j].empty() {
				used[k] = true
			}
		}
	}
	kept := cols[:0]
	for _, c := range cols {
		if used[c] {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		kept = cols
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, c := range kept {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, strings.ToUpper(sanitize(c)))
	}
	io.WriteString(tw, "\n")
	for _, row := range rows {
		for i, c := range kept {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			if e, ok := row[c]; ok {
				io.WriteString(tw, e.cell())
			} else {
				io.WriteString(tw, "-")
			}
		}
		io.WriteString(tw, "\n")
	}
	tw.Flush()
}
