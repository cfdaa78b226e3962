package config

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Bind(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())
}

func TestFlagsOverrideDefaults(t *testing.T) {
	c, err := parse(t,
		"-listen", "tls:127.0.0.1:5061", "-listen", "tls:[::1]:5062",
		"-backend", "tcp:10.0.0.1:5060", "-connection-timeout", "-1",
		"-hello-timeout", "3", "-con-ct-wq-max", "32KiB", "-proxy-protocol", "v2",
		"-tls-method", "TLSv1.3", "-log-level", "3")
	require.NoError(t, err)
	require.Len(t, c.Listen, 2, "the first -listen replaces the default, later ones add")
	assert.Equal(t, "tls:[::1]:5062", c.Listen[1].String())
	assert.Equal(t, "tcp:10.0.0.1:5060", c.Backend.String())
	assert.Equal(t, Never, c.Timeouts.Connection)
	assert.Equal(t, Timeout(3*time.Second), c.Timeouts.Hello, "a plain number is seconds, as Kamailio")
	assert.Equal(t, Bytes(32<<10), c.Queues.ConCtWqMax)
	assert.Equal(t, "v2", c.ProxyProtocol)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := parse(t, "-proxy-protocol", "v3", "-loops", "999", "-hello-timeout", "-1",
		"-max-handshakes", "0", "-con-ct-wq-max", "20MiB", "-log-level", "loud")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"-proxy-protocol", "-loops", "-hello-timeout", "-max-handshakes", "-con-ct-wq-max", "-log-level"} {
		assert.Contains(t, msg, want)
	}
}

func TestBadFlagValues(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "127.0.0.1:5061"},
		{"-listen", "tls:example.com:5061"},
		{"-backend", "tcp:1.2.3.4"},
		{"-connection-timeout", "soon"},
		{"-connection-timeout", "-5"},
		{"-ct-wq-max", "10XB"},
	} {
		_, err := parse(t, args...)
		assert.Error(t, err, "%v", args)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]Bytes{"0": 0, "4096": 4096, "4k": 4096, "4KiB": 4096, "64 KB": 64 << 10, "10MiB": 10 << 20, "1g": 1 << 30} {
		got, err := ParseBytes(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "k", "1.5MiB", "12XB", "99999999999999999999", "9223372036854775807GiB"} {
		_, err := ParseBytes(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "64KiB", Bytes(64<<10).String())
	assert.Equal(t, "1000", Bytes(1000).String())
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]Timeout{"600": Timeout(10 * time.Minute), "-1": Never, "2.5s": Timeout(2500 * time.Millisecond), "0": 0} {
		got, err := ParseTimeout(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-2", "-1s", "ten", "99999999999999999999"} {
		_, err := ParseTimeout(in)
		assert.Error(t, err, in)
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"4KiB", "10MiB", "-1", "1g", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil || b < 0 {
			return
		}
		again, err := ParseBytes(b.String())
		if err != nil || again != b {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, b, b.String(), again, err)
		}
	})
}

func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"600", "-1", "10m", "1h2m", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeout(s)
		if err != nil {
			return
		}
		again, err := ParseTimeout(d.String())
		if err != nil || again != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, d.String(), again, err)
		}
	})
}

var update = flag.Bool("update", false, "rewrite the README flag table")

// TestREADMEFlagTable checks that each flag has a usage line and Kamailio/OpenSIPS columns, and
// that the README's flag table is the one FlagTable renders (go test ./config -update rewrites it).
func TestREADMEFlagTable(t *testing.T) {
	for _, f := range Fields() {
		assert.NotEmpty(t, f.Usage, f.Flag)
		assert.NotEmpty(t, f.Kamailio, f.Flag)
		assert.NotEmpty(t, f.OpenSIPS, f.Flag)
	}
	const begin, end = "<!-- flags:begin -->\n", "<!-- flags:end -->"
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	require.True(t, i >= 0 && j > i, "README.md needs the markers %q and %q", begin, end)
	want := readme[:i+len(begin)] + FlagTable() + readme[j:]
	if *update {
		require.NoError(t, os.WriteFile("../README.md", []byte(want), 0o644))
		return
	}
	for _, f := range Fields() {
		assert.Contains(t, readme, "| `-"+f.Flag+"` |", "README has no row for -%s", f.Flag)
	}
	assert.Equal(t, want, readme, "README flag table is stale: run go test ./config -update")
}
