package sipmsg

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addGoldenSeeds seeds a fuzz target with the input of every golden file.
func addGoldenSeeds(f *testing.F, add func(in []byte)) {
	files, _ := filepath.Glob("testdata/golden/*.txt")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		head, _, _ := strings.Cut(string(raw), "\n"+dashes+"\n")
		_, in := parseGoldenInput(f, head)
		add(in)
	}
}

// fuzzFramer picks Framer settings from one byte, so the fuzzer also explores small bounds.
func fuzzFramer(cfg byte) Framer {
	f := Framer{FromServer: cfg&1 != 0}
	if cfg&2 != 0 {
		f.Max = 16 + int(cfg>>2)*4
		f.MaxHeader = 16 + int(cfg>>4)*8
	}
	return f
}

// FuzzFramer is crash-only plus the invariants every frame must meet: a positive length inside
// the buffer, keepalives that are exactly CRLFs, messages within Max that Parse accepts.
func FuzzFramer(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, byte(0)); f.Add(in, byte(0xfe)) })
	f.Fuzz(func(t *testing.T, in []byte, cfg byte) {
		fr := fuzzFramer(cfg)
		maxMsg, _ := fr.bounds()
		buf := in
		for {
			kind, n, err := fr.Next(buf)
			if err != nil || kind == None {
				if n != 0 {
					t.Fatalf("n = %d with kind %v, err %v", n, kind, err)
				}
				return
			}
			if n <= 0 || n > len(buf) {
				t.Fatalf("n = %d outside buffer of %d", n, len(buf))
			}
			frame := buf[:n]
			switch kind {
			case Ping:
				if string(frame) != "\r\n\r\n" {
					t.Fatalf("ping %q", frame)
				}
			case Pong:
				if string(frame) != "\r\n" {
					t.Fatalf("pong %q", frame)
				}
			case SIP:
				if n > maxMsg {
					t.Fatalf("message of %d bytes over Max %d", n, maxMsg)
				}
				m, err := Parse(frame)
				if err != nil {
					t.Fatalf("framed message does not parse: %v\n%q", err, frame)
				}
				if !bytes.HasSuffix(frame, m.Body) {
					t.Fatalf("body is not the tail of the frame")
				}
			}
			buf = buf[n:]
		}
	})
}

// FuzzSplit checks that any split of the input gives the same frames, the same error and the
// same unframed rest as the whole input at once: framing must depend on the stream's bytes only.
func FuzzSplit(f *testing.F) {
	addGoldenSeeds(f, func(in []byte) { f.Add(in, uint64(1), byte(0)); f.Add(in, uint64(7), byte(0xfe)) })
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, cfg byte) {
		fr := fuzzFramer(cfg)
		want := describeRaw(frames(fr, in, len(in)))
		got := describeRaw(framesSplit(fr, in, rand.New(rand.NewPCG(seed, seed>>1))))
		if got != want {
			t.Fatalf("split framing differs\nsplit:\n%s\nwhole:\n%s", got, want)
		}
	})
}

// framesSplit is frames with chunk sizes drawn from r: mostly tiny, sometimes large.
func framesSplit(f Framer, in []byte, r *rand.Rand) []frame {
	return framesBy(f, in, func() int {
		if r.IntN(4) == 0 {
			return 1 + r.IntN(256)
		}
		return 1 + r.IntN(4)
	})
}

// describeRaw is describe with the exact bytes of every frame, so any difference shows.
func describeRaw(fs []frame) string {
	var b strings.Builder
	for _, fr := range fs {
		if fr.err != nil {
			b.WriteString("error " + fr.err.Error() + "\n")
			continue
		}
		b.WriteString(fr.kind.String() + " " + string(fr.data) + "\n")
	}
	return b.String()
}
