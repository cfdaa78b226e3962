package forward

import (
	"fmt"
	"strconv"
	"strings"
)

// ProxyProtocol selects the PROXY protocol header written at the start of each backend
// connection. The zero value is None.
type ProxyProtocol uint8

const (
	// None writes no header: the core sees tlsmux's address as the client.
	None ProxyProtocol = iota
	// V1 writes the text header (addresses only).
	V1
	// V2 writes the binary header with the TLS facts in TLVs.
	V2
)

// String returns the configuration spelling: "none", "v1" or "v2".
func (p ProxyProtocol) String() string {
	switch p {
	case None:
		return "none"
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "ProxyProtocol(" + strconv.Itoa(int(p)) + ")"
}

// ParseProxyProtocol parses "none", "v1" or "v2" (any letter case). The error names the value.
func ParseProxyProtocol(s string) (ProxyProtocol, error) {
	switch strings.ToLower(s) {
	case "none":
		return None, nil
	case "v1":
		return V1, nil
	case "v2":
		return V2, nil
	}
	return None, fmt.Errorf("forward: unknown PROXY protocol %q (want none, v1 or v2)", s)
}

// MarshalText implements encoding.TextMarshaler, so a config struct can print the mode.
func (p ProxyProtocol) MarshalText() ([]byte, error) {
	if p > V2 {
		return nil, fmt.Errorf("forward: invalid %v", p)
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so flag.TextVar and config files can set
// the mode with [ParseProxyProtocol]'s spelling.
func (p *ProxyProtocol) UnmarshalText(b []byte) error {
	v, err := ParseProxyProtocol(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
