package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config is every tunable of the daemon. The zero value is not useful; start from Default.
type Config struct {
	// Listen is where TLS clients connect: "tls:IP:PORT", repeatable; IPv6 as "tls:[::1]:5061".
	// Default: tls:127.0.0.1:5061.
	Listen []Endpoint
	// Loops is the number of event loops; 0 means one per CPU. Default 0. At most 256 (gnet's cap).
	Loops int
	// ReusePort sets SO_REUSEPORT on the listeners so several tlsmux processes can share a port
	// (each loop then accepts on its own socket). Default false.
	ReusePort bool
	// MaxConnections caps client connections per process; new ones beyond it are closed on
	// accept and counted. Default 100000.
	MaxConnections int

	// Backend is the SIP core that receives the clear text: "tcp:IP:PORT". Default tcp:127.0.0.1:5060.
	Backend Endpoint
	// ProxyProtocol is the header sent first on each backend connection: none, v1 or v2. Default none.
	ProxyProtocol string
	// ProxyClientCert adds the client's certificate (DER) to the PROXY v2 header as
	// PP2_SUBTYPE_SSL_CLIENT_CERT. Default false.
	ProxyClientCert bool

	TLS       TLS
	Timeouts  Timeouts
	Queues    Queues
	Memory    Memory
	Admission Admission
	Debug     Debug
	Admin     Admin

	// LogLevel is debug, info, warn or error, or a Kamailio tls_log / debug number
	// (-1 error, 0 warn, 1-2 info, 3 debug). Default info.
	LogLevel string
}

// TLS is the default server profile, named after the Kamailio tls module parameters.
type TLS struct {
	ConfigFile         string // Kamailio tls.cfg profiles; empty: only the default profile from these flags
	TicketKeys         string // session ticket keys file, shared by instances and kept across reloads
	Certificate        string // PEM file; empty: a throwaway self-signed ECDSA P-256 certificate
	PrivateKey         string // PEM file; empty: the key is read from Certificate
	CAList             string // PEM file of CAs trusted for client certificates
	VerifyCertificate  bool   // verify client certificates that are presented. Default false
	RequireCertificate bool   // require a client certificate. Default false
	VerifyDepth        int    // maximum intermediate certificates in a client chain. Default 9
	CipherList         string // OpenSSL-style list; empty: Go's defaults
	TLSMethod          string // TLSv1.2+ (default), TLSv1.3, TLSv1.2, ...
	Curves             string // key exchange groups, e.g. X25519:P-256 (default) or X25519MLKEM768:X25519
	SessionCache       bool   // TLS session tickets (resumption). Default false, as Kamailio
	SendCloseNotify    bool   // send close_notify before closing a connection. Default false, as Kamailio
}

// Timeouts bound every phase of a connection. Each is a Timeout: seconds, a Go duration, or -1
// where "never" is allowed.
type Timeouts struct {
	Hello         Timeout // from accept until a whole ClientHello has arrived. Default 5s
	Handshake     Timeout // from the ClientHello until the handshake completes. Default 10s
	Connection    Timeout // idle connection timeout, any I/O extends it; -1 never. Default 10m (Kamailio connection_timeout)
	Send          Timeout // queued outbound bytes must make progress within this. Default 10s
	BackendDial   Timeout // connecting to the backend. Default 5s
	ShutdownGrace Timeout // on SIGTERM/SIGINT, time connections get to finish before they are closed. Default 10s
}

// Queues bounds the bytes held for connections.
type Queues struct {
	// MaxHandshakes caps TLS handshakes in flight across all loops; connections beyond it wait in
	// WaitHello (bounded by the hello timeout). Default 1024.
	MaxHandshakes int
	// ConCtWqMax is the per-connection clear-text queue: bytes from the phone held while the
	// backend connection is being set up (Kamailio con_ct_wq_max). Default 64KiB.
	ConCtWqMax Bytes
	// CtWqMax is the same, summed over all connections and loops (Kamailio ct_wq_max). Default 10MiB.
	CtWqMax Bytes
	// CtWqBlkSize is the block size queues are stored in (Kamailio ct_wq_blk_size). Default 4KiB.
	CtWqBlkSize Bytes
	// TCPConnWqMax caps bytes accepted for one socket that the kernel has not taken yet
	// (Kamailio tcp_conn_wq_max); over it the connection is closed. Default 256KiB.
	TCPConnWqMax Bytes
	// TCPWqMax is the same summed over every socket (Kamailio tcp_wq_max). Default 64MiB.
	TCPWqMax Bytes
	// MaxWaiting caps connections whose whole ClientHello waits for admission (a handshake
	// slot or a rate token), over all loops; the oldest are shed beyond it. Default 8192.
	MaxWaiting int
}

// Memory is the memory budget and Kamailio's low-memory thresholds.
type Memory struct {
	// Limit is the memory budget of the process; 0 means the cgroup limit if there is one, else
	// 90% of physical memory. The Go runtime's soft limit is set to it.
	Limit Bytes
	// LowMemThreshold1 (KiB of free budget; -1 derived from the budget, 0 off): below it new TLS
	// connections are refused before any crypto (Kamailio low_mem_threshold1).
	LowMemThreshold1 int
	// LowMemThreshold2 (KiB; -1 derived, 0 off): below it established connections are refused
	// new queue memory (Kamailio low_mem_threshold2).
	LowMemThreshold2 int
}

// Admin is the admin endpoint: JSON-RPC (Kamailio's tls.* and cfg.* methods) and /metrics.
type Admin struct {
	Addr   string // TCP host:port; empty: no TCP listener. Loopback unless Allow names more.
	Allow  string // comma-separated networks (CIDR) besides loopback allowed on Addr
	Socket string // Unix socket path; empty: none. Mode 0600.
}

// Debug holds settings for troubleshooting, all off by default.
type Debug struct {
	// KeylogFile, if set, receives the TLS secrets of every connection in the NSS key log format
	// (SSLKEYLOGFILE), so that a capture can be decrypted in Wireshark.
	KeylogFile string
}

// Admission limits the rate of handshakes and what one source may hold (storm control).
type Admission struct {
	HandshakeRate    float64 // full and resumed handshakes started per second, all loops; 0 = no limit
	HandshakeBurst   int     // tokens the rate may save up; 0 = one second's worth
	PerSourceConns   int     // connections open per source; 0 = no limit
	PerSourceRate    float64 // handshakes per second per source; 0 = no limit
	PerSourceBurst   int     // 0 = max(1, one second's worth)
	PerSourcePrefix4 int     // IPv4 sources aggregated by this prefix length. Default 32
	PerSourcePrefix6 int     // IPv6 sources aggregated by this prefix length. Default 64
	PerSourceTable   int     // sources tracked at most. Default 65536
}

// Endpoint is a transport and an address, as Kamailio's listen=tls:IP:PORT.
type Endpoint struct {
	Proto string // "tls" or "tcp"
	Addr  netip.AddrPort
}

func (e Endpoint) String() string {
	if !e.Addr.IsValid() {
		return ""
	}
	return e.Proto + ":" + e.Addr.String()
}

// ParseEndpoint parses "proto:IP:PORT" with IPv6 addresses in brackets.
func ParseEndpoint(s string) (Endpoint, error) {
	proto, addr, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Endpoint{}, fmt.Errorf("bad endpoint %q: want proto:IP:PORT, e.g. tls:127.0.0.1:5061", s)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return Endpoint{}, fmt.Errorf("bad endpoint %q: %q is not IP:PORT (IPv6 as [::1]:5061; names are not resolved)", s, addr)
	}
	return Endpoint{Proto: strings.ToLower(proto), Addr: ap}, nil
}

// Default returns the configuration used when no flag is given.
func Default() Config {
	return Config{
		Listen:         []Endpoint{{Proto: "tls", Addr: netip.MustParseAddrPort("127.0.0.1:5061")}},
		MaxConnections: 100000,
		Backend:        Endpoint{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")},
		ProxyProtocol:  "none",
		TLS: TLS{
			VerifyDepth: 9,
			TLSMethod:   "TLSv1.2+",
			Curves:      "X25519:P-256",
		},
		Timeouts: Timeouts{
			Hello:         Timeout(5 * time.Second),
			Handshake:     Timeout(10 * time.Second),
			Connection:    Timeout(10 * time.Minute),
			Send:          Timeout(10 * time.Second),
			BackendDial:   Timeout(5 * time.Second),
			ShutdownGrace: Timeout(10 * time.Second),
		},
		Queues: Queues{
			MaxHandshakes: 1024,
			ConCtWqMax:    64 << 10,
			CtWqMax:       10 << 20,
			CtWqBlkSize:   4 << 10,
			TCPConnWqMax:  256 << 10,
			TCPWqMax:      64 << 20,
			MaxWaiting:    8192,
		},
		Memory: Memory{LowMemThreshold1: -1, LowMemThreshold2: -1},
		Admission: Admission{
			PerSourcePrefix4: 32,
			PerSourcePrefix6: 64,
			PerSourceTable:   65536,
		},
		LogLevel: "info",
	}
}

// Validate reports every problem at once, each naming its flag. TLS settings are checked when the
// profile is built (package profile), which reports in the same style.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, a ...any) {
		errs = append(errs, fmt.Errorf("-%s: %s", flag, fmt.Sprintf(format, a...)))
	}
	if len(c.Listen) == 0 {
		bad("listen", "at least one listener is needed")
	}
	seen := map[netip.AddrPort]bool{}
	for _, l := range c.Listen {
		if l.Proto != "tls" {
			bad("listen", "%s: only tls listeners are supported", l)
		}
		if seen[l.Addr] {
			bad("listen", "%s given twice", l)
		}
		seen[l.Addr] = true
	}
	if c.Loops < 0 || c.Loops > 256 {
		bad("loops", "%d: want 0 (one per CPU) to 256", c.Loops)
	}
	if c.MaxConnections <= 0 {
		bad("max-connections", "%d: want a positive number", c.MaxConnections)
	}
	if c.Backend.Proto != "tcp" {
		bad("backend", "%q: want tcp:IP:PORT", c.Backend.String())
	}
	switch c.ProxyProtocol {
	case "none", "v1", "v2":
	default:
		bad("proxy-protocol", "%q: want none, v1 or v2", c.ProxyProtocol)
	}
	if c.ProxyClientCert && c.ProxyProtocol != "v2" {
		bad("proxy-client-cert", "needs -proxy-protocol v2 (v1 has no room for TLVs)")
	}
	if c.TLS.VerifyDepth < 1 {
		// The profile package reads 0 as "the default, 9" (zero values mean defaults there).
		bad("verify-depth", "%d: want 1 or more", c.TLS.VerifyDepth)
	}
	for _, t := range []struct {
		flag  string
		v     Timeout
		never bool
	}{
		{"hello-timeout", c.Timeouts.Hello, false},
		{"handshake-timeout", c.Timeouts.Handshake, false},
		{"connection-timeout", c.Timeouts.Connection, true},
		{"send-timeout", c.Timeouts.Send, false},
		{"backend-dial-timeout", c.Timeouts.BackendDial, false},
		{"shutdown-grace", c.Timeouts.ShutdownGrace, false},
	} {
		switch {
		case t.v < 0 && !t.never:
			bad(t.flag, "-1 (never) is not allowed here")
		case t.v == 0 && t.flag != "shutdown-grace":
			bad(t.flag, "0: want a positive duration")
		}
	}
	if c.Queues.MaxHandshakes <= 0 {
		bad("max-handshakes", "%d: want a positive number", c.Queues.MaxHandshakes)
	}
	for _, q := range []struct {
		flag string
		v    Bytes
	}{
		{"con-ct-wq-max", c.Queues.ConCtWqMax},
		{"ct-wq-max", c.Queues.CtWqMax},
		{"ct-wq-blk-size", c.Queues.CtWqBlkSize},
		{"tcp-conn-wq-max", c.Queues.TCPConnWqMax},
		{"tcp-wq-max", c.Queues.TCPWqMax},
	} {
		if q.v <= 0 {
			bad(q.flag, "%s: want a positive size", q.v)
		}
	}
	if c.Queues.ConCtWqMax > c.Queues.CtWqMax && c.Queues.CtWqMax > 0 {
		bad("con-ct-wq-max", "%s is larger than -ct-wq-max %s", c.Queues.ConCtWqMax, c.Queues.CtWqMax)
	}
	if c.Queues.CtWqBlkSize > 1<<20 {
		bad("ct-wq-blk-size", "%s: at most 1MiB", c.Queues.CtWqBlkSize)
	}
	if c.Queues.MaxWaiting <= 0 {
		bad("max-waiting", "%d: want a positive number", c.Queues.MaxWaiting)
	}
	if c.Memory.Limit < 0 {
		bad("mem-limit", "%s: want a size, or 0 for the cgroup limit / 90%% of physical memory", c.Memory.Limit)
	}
	for _, m := range []struct {
		flag string
		v    int
	}{{"low-mem-threshold1", c.Memory.LowMemThreshold1}, {"low-mem-threshold2", c.Memory.LowMemThreshold2}} {
		if m.v < -1 {
			bad(m.flag, "%d: want KiB, -1 (derived from the budget) or 0 (off)", m.v)
		}
		if c.Memory.Limit > 0 && int64(m.v)<<10 >= int64(c.Memory.Limit) {
			bad(m.flag, "%d KiB is not below -mem-limit %s: every connection would be refused", m.v, c.Memory.Limit)
		}
	}
	a := c.Admission
	for _, r := range []struct {
		flag string
		v    float64
	}{{"handshake-rate", a.HandshakeRate}, {"per-source-rate", a.PerSourceRate}} {
		if r.v < 0 || r.v != r.v {
			bad(r.flag, "%v: want a rate per second, 0 for no limit", r.v)
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"handshake-burst", a.HandshakeBurst}, {"per-source-conns", a.PerSourceConns}, {"per-source-burst", a.PerSourceBurst}} {
		if n.v < 0 || n.v > 1<<30 {
			bad(n.flag, "%d: want 0 to %d", n.v, 1<<30)
		}
	}
	if a.PerSourcePrefix4 < 1 || a.PerSourcePrefix4 > 32 {
		bad("per-source-prefix4", "%d: want 1 to 32", a.PerSourcePrefix4)
	}
	if a.PerSourcePrefix6 < 1 || a.PerSourcePrefix6 > 128 {
		bad("per-source-prefix6", "%d: want 1 to 128", a.PerSourcePrefix6)
	}
	if a.PerSourceTable < 1 {
		bad("per-source-table", "%d: want a positive number", a.PerSourceTable)
	}
	if _, err := c.Admin.AllowNets(); err != nil {
		bad("admin-allow", "%v", err)
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		bad("log-level", "%v", err)
	}
	return errors.Join(errs...)
}

// endpointList is the flag.Value of a repeatable endpoint flag: the first use replaces the default.
type endpointList struct {
	p   *[]Endpoint
	set bool
}

func (l *endpointList) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, e := range *l.p {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

func (l *endpointList) Set(v string) error {
	e, err := ParseEndpoint(v)
	if err != nil {
		return err
	}
	if !l.set {
		*l.p, l.set = nil, true
	}
	*l.p = append(*l.p, e)
	return nil
}

type endpointValue struct{ p *Endpoint }

func (v endpointValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v endpointValue) Set(s string) error {
	e, err := ParseEndpoint(s)
	if err != nil {
		return err
	}
	*v.p = e
	return nil
}

// AllowNets parses Allow.
func (a Admin) AllowNets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(a.Allow, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q: want networks in CIDR form, e.g. 10.0.0.0/8,fd00::/8", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
