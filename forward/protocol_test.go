package forward

import (
	"flag"
	"strings"
	"testing"
)

func TestProxyProtocolText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ProxyProtocol
	}{
		{"none", None}, {"v1", V1}, {"v2", V2}, {"V2", V2}, {"None", None},
	} {
		got, err := ParseProxyProtocol(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseProxyProtocol(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if back, _ := ParseProxyProtocol(got.String()); back != got {
			t.Errorf("%v does not survive String and Parse", got)
		}
	}
	for _, bad := range []string{"", "v3", "proxy", "2", " v1"} {
		_, err := ParseProxyProtocol(bad)
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.HasPrefix(err.Error(), "forward: ") {
			t.Errorf("ParseProxyProtocol(%q): error %v should start with forward: and quote the value", bad, err)
		}
	}
	if got := ProxyProtocol(9).String(); got != "ProxyProtocol(9)" {
		t.Errorf("String of an invalid value: %q", got)
	}
	if _, err := ProxyProtocol(9).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid value succeeded")
	}
}

// TestProxyProtocolFlag: the type plugs into flag.TextVar, as config binds it.
func TestProxyProtocolFlag(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var p ProxyProtocol
	fs.TextVar(&p, "proxy-protocol", None, "PROXY header: none, v1 or v2")
	if err := fs.Parse([]string{"-proxy-protocol", "v2"}); err != nil || p != V2 {
		t.Fatalf("parse v2: %v, %v", p, err)
	}
	fs.SetOutput(new(strings.Builder))
	if err := fs.Parse([]string{"-proxy-protocol", "v9"}); err == nil || !strings.Contains(err.Error(), `"v9"`) {
		t.Fatalf("parse v9: %v", err)
	}
	b, err := V1.MarshalText()
	if err != nil || string(b) != "v1" {
		t.Fatalf("MarshalText: %q, %v", b, err)
	}
}
