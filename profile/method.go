package profile

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// methods are Kamailio's tls_method values (tls_init.c, cfg_option_t methods[]) that crypto/tls
// can serve. "+" means "this version or newer"; TLSv1.3 is the newest, so "TLSv1.3+" equals
// "TLSv1.3".
var methods = []struct {
	name     string
	min, max uint16
}{
	{"TLSv1.2+", tls.VersionTLS12, tls.VersionTLS13},
	{"TLSv1.3", tls.VersionTLS13, tls.VersionTLS13},
	{"TLSv1.3+", tls.VersionTLS13, tls.VersionTLS13},
	{"TLSv1.2", tls.VersionTLS12, tls.VersionTLS12},
	{"TLSv1.1+", tls.VersionTLS11, tls.VersionTLS13},
	{"TLSv1.1", tls.VersionTLS11, tls.VersionTLS11},
	{"TLSv1+", tls.VersionTLS10, tls.VersionTLS13},
	{"TLSv1.0+", tls.VersionTLS10, tls.VersionTLS13},
	{"TLSv1", tls.VersionTLS10, tls.VersionTLS10},
	{"TLSv1.0", tls.VersionTLS10, tls.VersionTLS10},
}

// DefaultMethod is the tls_method used when none is set: TLS 1.2 and 1.3, as Kamailio's
// default since kamailio/kamailio#3301 and as RFC 9325 §3.1.1 recommends.
const DefaultMethod = "TLSv1.2+"

// ParseMethod maps a Kamailio tls_method to tls.Config's MinVersion and MaxVersion. "" is
// [DefaultMethod]. Matching is case-insensitive. SSLv2, SSLv3 and SSLv23 are refused with an
// explanation; anything else unknown is an error naming it.
func ParseMethod(s string) (minVersion, maxVersion uint16, err error) {
	v := strings.TrimSpace(s)
	if v == "" {
		v = DefaultMethod
	}
	for _, m := range methods {
		if strings.EqualFold(v, m.name) {
			return m.min, m.max, nil
		}
	}
	switch strings.ToUpper(v) {
	case "SSLV2":
		return 0, 0, fmt.Errorf("tls_method %q refused: SSL 2.0 is broken and prohibited (RFC 6176); use %q (the default)", v, DefaultMethod)
	case "SSLV3":
		return 0, 0, fmt.Errorf("tls_method %q refused: SSL 3.0 is broken and prohibited (RFC 7568); use %q (the default)", v, DefaultMethod)
	case "SSLV23":
		return 0, 0, fmt.Errorf("tls_method %q refused: in OpenSSL it meant \"any version\", SSL 2.0 and 3.0 included, which are broken and prohibited (RFC 6176, RFC 7568); use %q (the default), or \"TLSv1+\" if old phones need TLS 1.0", v, DefaultMethod)
	}
	return 0, 0, fmt.Errorf("unknown tls_method %q: want one of %s", v, methodNames())
}

func methodNames() string {
	var names []string
	for _, m := range methods {
		names = append(names, m.name)
	}
	return strings.Join(names, ", ")
}

// MethodName is the Kamailio tls_method spelling for a version range ("TLSv1.2+",
// "TLSv1.3", ...), or "" if no tls_method expresses it.
func MethodName(minVersion, maxVersion uint16) string {
	for _, m := range methods {
		if m.min == minVersion && m.max == maxVersion {
			return m.name
		}
	}
	return ""
}
