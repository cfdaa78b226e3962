package sipmsg

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected part of testdata/golden/*.txt")

// A golden file holds, in the style of caddy-l4's .caddytest files:
//
//	# comment lines
//	@max 200            (optional Framer settings: @max N, @maxheader N, @fromserver)
//	"REGISTER sip:a SIP/2.0\r\n"    (input: Go-quoted strings, concatenated; a line may end in
//	"X: y\r\n" * 100                 "* N" to repeat the string N times)
//	------
//	expected frames, one line each, as written by describe
//
// The framer runs over the whole input at once and again one byte at a time; both must give the
// expected frames.
const dashes = "------"

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			head, want, ok := strings.Cut(string(raw), "\n"+dashes+"\n")
			if !ok {
				t.Fatalf("no %q line", dashes)
			}
			f, input := parseGoldenInput(t, head)
			got := describe(frames(f, input, len(input)))
			if split := describe(frames(f, input, 1)); split != got {
				t.Errorf("byte-at-a-time framing differs:\n%s\nwhole input:\n%s", split, got)
			}
			if *update {
				if err := os.WriteFile(file, []byte(head+"\n"+dashes+"\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func parseGoldenInput(t testing.TB, head string) (Framer, []byte) {
	t.Helper()
	var f Framer
	var in []byte
	for i, line := range strings.Split(head, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case line == "@fromserver":
			f.FromServer = true
		case strings.HasPrefix(line, "@max "), strings.HasPrefix(line, "@maxheader "):
			k, v, _ := strings.Cut(line, " ")
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if k == "@max" {
				f.Max = n
			} else {
				f.MaxHeader = n
			}
		default:
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			s, _ := strconv.Unquote(q)
			times := 1
			if rest := strings.TrimSpace(line[len(q):]); rest != "" {
				n, ok := strings.CutPrefix(rest, "*")
				if times, err = strconv.Atoi(strings.TrimSpace(n)); !ok || err != nil {
					t.Fatalf("line %d: want `\"...\" * N`, got %q", i+1, rest)
				}
			}
			in = append(in, strings.Repeat(s, times)...)
		}
	}
	return f, in
}

// frame is one result of framing a stream.
type frame struct {
	kind Kind
	data []byte // the frame's bytes; for the final "rest", the unframed tail
	err  error
}

// frames runs f over in, delivered chunk bytes at a time, and returns every frame, then either
// the error or (kind None) the bytes left unframed.
func frames(f Framer, in []byte, chunk int) []frame {
	return framesBy(f, in, func() int { return chunk })
}

// framesBy is frames with each chunk's size from next. Like a connection's read loop, it appends
// new bytes to a buffer and calls Next until it asks for more.
func framesBy(f Framer, in []byte, next func() int) []frame {
	var out []frame
	var buf []byte
	for off := 0; ; {
		end := min(off+max(next(), 1), len(in))
		buf = append(buf, in[off:end]...)
		off = end
		for {
			kind, n, err := f.Next(buf)
			if err != nil {
				return append(out, frame{err: err})
			}
			if kind == None {
				break
			}
			out = append(out, frame{kind: kind, data: bytes.Clone(buf[:n])})
			buf = buf[n:]
		}
		if off == len(in) {
			return append(out, frame{kind: None, data: buf})
		}
	}
}

// describe renders frames one per line: kind, length, and for a message its start line and body
// length as Parse sees them.
func describe(fs []frame) string {
	var b strings.Builder
	for _, fr := range fs {
		switch {
		case fr.err != nil:
			var e *Error
			reason := "?"
			if errors.As(fr.err, &e) {
				reason = e.Reason.String()
			}
			fmt.Fprintf(&b, "error %s: %v\n", reason, fr.err)
		case fr.kind == None:
			fmt.Fprintf(&b, "rest %d\n", len(fr.data))
		case fr.kind == SIP:
			m, err := Parse(fr.data)
			if err != nil {
				fmt.Fprintf(&b, "sip %d PARSE ERROR %v\n", len(fr.data), err)
				continue
			}
			line, _, _ := bytes.Cut(fr.data, []byte("\r\n"))
			fmt.Fprintf(&b, "sip %d body=%d %q\n", len(fr.data), len(m.Body), line)
		default:
			fmt.Fprintf(&b, "%s %d\n", fr.kind, len(fr.data))
		}
	}
	return b.String()
}
