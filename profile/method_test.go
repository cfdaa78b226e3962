package profile

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	const (
		v10 = tls.VersionTLS10
		v11 = tls.VersionTLS11
		v12 = tls.VersionTLS12
		v13 = tls.VersionTLS13
	)
	tests := []struct {
		in       string
		min, max uint16
		err      []string
	}{
		{in: "", min: v12, max: v13},
		{in: "  ", min: v12, max: v13},
		{in: "TLSv1.2+", min: v12, max: v13},
		{in: "tlsv1.2+", min: v12, max: v13},
		{in: " TLSv1.3 ", min: v13, max: v13},
		{in: "TLSv1.3+", min: v13, max: v13},
		{in: "TLSv1.2", min: v12, max: v12},
		{in: "TLSv1.1+", min: v11, max: v13},
		{in: "TLSv1.1", min: v11, max: v11},
		{in: "TLSv1+", min: v10, max: v13},
		{in: "TLSv1.0+", min: v10, max: v13},
		{in: "TLSv1", min: v10, max: v10},
		{in: "TLSv1.0", min: v10, max: v10},
		{in: "SSLv2", err: []string{"refused", "RFC 6176", `"TLSv1.2+"`}},
		{in: "SSLv3", err: []string{"refused", "RFC 7568", `"TLSv1.2+"`}},
		{in: "sslv23", err: []string{"refused", `"any version"`, "RFC 6176", "RFC 7568", `"TLSv1.2+"`}},
		{in: "TLSv1.4", err: []string{`unknown tls_method "TLSv1.4"`, "TLSv1.2+, TLSv1.3"}},
		{in: "TLSv1.2-", err: []string{"unknown tls_method"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			lo, hi, err := ParseMethod(tt.in)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("no error: %#x-%#x", lo, hi)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil || lo != tt.min || hi != tt.max {
				t.Fatalf("= %#x, %#x, %v; want %#x, %#x", lo, hi, err, tt.min, tt.max)
			}
		})
	}
}

func TestMethodName(t *testing.T) {
	for _, tt := range []struct {
		min, max uint16
		want     string
	}{
		{tls.VersionTLS12, tls.VersionTLS13, "TLSv1.2+"},
		{tls.VersionTLS13, tls.VersionTLS13, "TLSv1.3"},
		{tls.VersionTLS10, tls.VersionTLS13, "TLSv1+"},
		{tls.VersionTLS10, tls.VersionTLS12, ""},
	} {
		if got := MethodName(tt.min, tt.max); got != tt.want {
			t.Errorf("MethodName(%#x, %#x) = %q, want %q", tt.min, tt.max, got, tt.want)
		}
	}
}

func FuzzParseMethod(f *testing.F) {
	for _, s := range []string{"", "TLSv1.2+", "tlsv1.3", "SSLv23", "TLSv1.0+", " TLSv1 ", "TLSv1.2++"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := ParseMethod(s)
		if err != nil {
			if lo != 0 || hi != 0 {
				t.Fatalf("%q: error with versions %#x-%#x", s, lo, hi)
			}
			return
		}
		if lo < tls.VersionTLS10 || lo > hi || hi > tls.VersionTLS13 {
			t.Fatalf("%q: bad range %#x-%#x", s, lo, hi)
		}
		name := MethodName(lo, hi)
		if name == "" {
			t.Fatalf("%q: range %#x-%#x has no name", s, lo, hi)
		}
		if m2, x2, err := ParseMethod(name); err != nil || m2 != lo || x2 != hi {
			t.Fatalf("%q: round trip via %q = %#x-%#x, %v", s, name, m2, x2, err)
		}
	})
}
