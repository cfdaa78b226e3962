package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bytes is a size in bytes. It accepts a plain number of bytes or a number with a binary suffix:
// "4096", "4KiB", "64k", "10MiB", "1GiB" (K, KB and KiB all mean 1024, as Kamailio's documentation
// uses KB).
type Bytes int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Bytes) UnmarshalText(text []byte) error {
	v, err := ParseBytes(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b Bytes) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String renders b with the largest binary unit that divides it exactly.
func (b Bytes) String() string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if b != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// ParseBytes parses a size as described on Bytes.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '-' || (t[i] >= '0' && t[i] <= '9')) {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: want a number of bytes, optionally with KiB, MiB or GiB", s)
	}
	var mult int64
	switch unit {
	case "", "b":
		mult = 1
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("bad size %q: unknown unit %q (use KiB, MiB or GiB)", s, t[i:])
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, fmt.Errorf("bad size %q: out of range", s)
	}
	return Bytes(n * mult), nil
}

// Never is the Timeout value meaning "no timeout" (Kamailio's -1).
const Never Timeout = -1

// Timeout is a duration that also accepts Kamailio's forms: a plain integer is seconds
// (connection_timeout=600), and -1 means never. Go durations ("10m", "2.5s") work too.
type Timeout time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Timeout) UnmarshalText(text []byte) error {
	v, err := ParseTimeout(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Timeout) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String renders d as a Go duration, or -1 for Never.
func (d Timeout) String() string {
	if d < 0 {
		return "-1"
	}
	return time.Duration(d).String()
}

// Duration returns d as a time.Duration; Never is returned as a negative duration.
func (d Timeout) Duration() time.Duration { return time.Duration(d) }

// ParseTimeout parses a timeout as described on Timeout.
func ParseTimeout(s string) (Timeout, error) {
	t := strings.TrimSpace(s)
	if t == "-1" {
		return Never, nil
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("bad timeout %q: negative (use -1 for never)", s)
		}
		if n > int64(math.MaxInt64/time.Second) {
			return 0, fmt.Errorf("bad timeout %q: out of range", s)
		}
		return Timeout(time.Duration(n) * time.Second), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("bad timeout %q: want seconds, a Go duration such as 10m, or -1 for never", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad timeout %q: negative (use -1 for never)", s)
	}
	return Timeout(d), nil
}
