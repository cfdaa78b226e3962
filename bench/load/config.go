package load

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Subcommands.
const (
	Backend   = "backend"
	Handshake = "handshake"
	Idle      = "idle"
	Echo      = "echo"
	Storm     = "storm"
	Stall     = "stall"
)

// Scenarios lists the subcommands that drive a target (all but Backend).
var Scenarios = []string{Handshake, Idle, Echo, Storm, Stall}

// Limits on one process (bench contract: a process holds at most 20,000 file descriptors).
const (
	// PerProc is how many connections -procs 0 gives each process at most.
	PerProc = 9000
	// MaxPerProc is the most connections open at once that one process accepts: one fd each,
	// with room left under 20,000 for the runtime, the listener and the pipes.
	MaxPerProc = 19000
	// SpreadAbove is the number of connections open at once above which -src defaults to
	// DefaultSrc: one source address has ~28,000 ephemeral ports (32768-60999), and bound
	// sockets (as the spread uses) cannot share them.
	SpreadAbove = 20000
	// DefaultSrc is the source spread used above SpreadAbove connections.
	DefaultSrc = "127.0.0.2-127.0.0.250"
)

// Config is one tlsbench run: the subcommand and its flags. DefaultConfig fills it; Bind
// binds a flag to each field; Check validates and resolves it.
type Config struct {
	// Scenario is the subcommand: Backend or one of Scenarios.
	Scenario string

	// Target is the TLS server, host:port on loopback (127.0.0.0/8, ::1 or localhost).
	// Default 127.0.0.1:5061, tlsmux's default listener.
	Target string
	// ServerName is sent as SNI and checked against the certificate; "" means Target's host.
	ServerName string
	// CA is a PEM file of CAs to verify the server's certificate against. At most one of CA,
	// Pin and Insecure; none means the system roots.
	CA string
	// Pin is the SHA-256 of the server's leaf certificate (DER) in hex, colons allowed: the
	// certificate is accepted if and only if it matches (tlsmux logs it for its throwaway one).
	Pin string
	// Insecure skips verification of the server's certificate.
	Insecure bool

	// Conns is N: handshake, the handshakes to make; idle and storm, the connections to hold;
	// echo, the connections echoing at once (when -conns is not given, -concurrency is taken);
	// stall, M, the stallers (unless -stallers is given: then the echo connections).
	// Default 100.
	Conns int
	// Concurrency is C: handshake, the workers; idle, echo and storm, the connections being
	// made at once during the ramp-up; stall, the echo connections (unless -stallers is given).
	// Default 50.
	Concurrency int
	// Stallers is stall's M when given (then Conns is the echo connections and Concurrency
	// bounds their ramp-up); when not given, Conns is M.
	Stallers int
	// Size is the size of each SIP message in bytes, whole message (echo, stall). Default 1024;
	// at least 350 (the headers).
	Size int
	// Duration: idle, the hold after all are established; echo, the measured window; stall,
	// both windows (half without stallers, half with); storm, the longest wait for GO.
	// Default 10s.
	Duration time.Duration
	// Timeout bounds each step of a connection: connect and handshake, a REGISTER or a
	// message's round trip, a keepalive's pong. Default 10s.
	Timeout time.Duration
	// KeepAlive is the interval of RFC 5626 CRLFCRLF keepalives on held connections (idle,
	// storm). Default 30s; zero sends none.
	KeepAlive time.Duration
	// Resume keeps a TLS session cache per worker, so handshakes after each worker's first
	// resume the session (the server must issue tickets: tlsmux -session-cache).
	Resume bool
	// Auto starts a storm as soon as all are established, without waiting for GO.
	Auto bool
	// Src is the source addresses, a range "127.0.0.2-127.0.0.250" or a list
	// "127.0.0.2,127.0.0.3", all loopback; connection i uses address i mod len. "" lets the
	// system choose, or means DefaultSrc above SpreadAbove connections.
	Src string
	// Procs is how many child processes share the connections; 0 means as many as needed for
	// at most PerProc connections each (1 up to PerProc).
	Procs int
	// JSON prints the Result as one JSON object instead of a summary.
	JSON bool

	// Backend only.

	// Listen is where the backend listens, loopback. Default 127.0.0.1:0.
	Listen string
	// ProxyProtocol makes the backend expect a PROXY v1/v2 header on each connection.
	ProxyProtocol bool
	// MaxConns bounds the backend's connections. Default 19000 (the fd limit).
	MaxConns int

	// Between processes (set by a parent for its children, not by hand).

	// Child is this process's number (1..P) among its parent's children; 0 for a top-level run.
	Child int
	// First is the index of this process's first connection in the whole run, so that the
	// source spread continues across processes.
	First int

	set map[string]bool // flags given on the command line
}

// DefaultConfig returns the defaults for scenario.
func DefaultConfig(scenario string) Config {
	return Config{
		Scenario:    scenario,
		Target:      "127.0.0.1:5061",
		Conns:       100,
		Concurrency: 50,
		Size:        1024,
		Duration:    10 * time.Second,
		Timeout:     10 * time.Second,
		KeepAlive:   30 * time.Second,
		Listen:      "127.0.0.1:0",
		MaxConns:    MaxPerProc,
	}
}

// Bind defines c's flags on fs, with c's values as defaults.
func (c *Config) Bind(fs *flag.FlagSet) {
	if c.Scenario == Backend {
		fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on, loopback host:port")
		fs.BoolVar(&c.ProxyProtocol, "proxy-protocol", c.ProxyProtocol, "expect a PROXY v1/v2 header on each connection (tlsmux -proxy-protocol v1|v2)")
		fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "connections at most; more are closed at once")
		return
	}
	fs.StringVar(&c.Target, "target", c.Target, "TLS server, loopback host:port")
	fs.StringVar(&c.ServerName, "servername", c.ServerName, "SNI and name to verify; empty: the target's host")
	fs.StringVar(&c.CA, "ca", c.CA, "PEM file of CAs that verify the server certificate")
	fs.StringVar(&c.Pin, "pin", c.Pin, "SHA-256 of the server's leaf certificate, hex (colons allowed)")
	fs.BoolVar(&c.Insecure, "insecure", c.Insecure, "do not verify the server certificate")
	fs.IntVar(&c.Conns, "conns", c.Conns, "N: handshakes to make (handshake), connections to hold (idle, storm) or to echo on (echo); stall: stallers M")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "C: workers (handshake), connections made at once (idle, echo, storm); stall: echo connections")
	fs.IntVar(&c.Stallers, "stallers", c.Stallers, "stall: stallers M (then -conns is the echo connections); 0: -conns")
	fs.Var((*byteSize)(&c.Size), "size", "bytes per SIP message, e.g. 1024 or 16KiB (echo, stall)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "idle: hold after READY; echo: measured window; stall: both windows; storm: longest wait for GO")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on each step: connect+handshake, a round trip, a pong")
	fs.DurationVar(&c.KeepAlive, "keepalive", c.KeepAlive, "CRLFCRLF keepalive interval on held connections (idle, storm); 0: none")
	fs.BoolVar(&c.Resume, "resume", c.Resume, "TLS session cache per worker: resumed handshakes after each worker's first")
	fs.BoolVar(&c.Auto, "auto", c.Auto, "storm: drop and reconnect as soon as all are established, without waiting for GO")
	fs.StringVar(&c.Src, "src", c.Src, "source addresses, 127.0.0.2-127.0.0.250 or a,b,c; default: the system's, or "+DefaultSrc+" above 20000 connections")
	fs.IntVar(&c.Procs, "procs", c.Procs, "child processes sharing the connections; 0: enough for at most 9000 each")
	fs.BoolVar(&c.JSON, "json", c.JSON, "print the result as one JSON object on stdout")
	fs.IntVar(&c.Child, "child", c.Child, "internal: this process is child number n of a tlsbench parent")
	fs.IntVar(&c.First, "first", c.First, "internal: index of this process's first connection in the whole run")
}

// ParseArgs parses a command line (subcommand first) into a Config, checked. Usage and errors
// are written to stderr as well as returned; flag.ErrHelp is returned for -help.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	if len(args) == 0 || !isSubcommand(args[0]) {
		usage(stderr)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
			return Config{}, flag.ErrHelp
		}
		err := errors.New("tlsbench: want a subcommand: backend, " + strings.Join(Scenarios, ", "))
		fmt.Fprintln(stderr, err)
		return Config{}, err
	}
	c := DefaultConfig(args[0])
	fs := flag.NewFlagSet("tlsbench "+c.Scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.Bind(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return c, err // the flag package has said so on stderr
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("tlsbench %s: unexpected argument %q", c.Scenario, fs.Arg(0))
		fmt.Fprintln(stderr, err)
		return c, err
	}
	c.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	if err := c.Check(); err != nil {
		fmt.Fprintf(stderr, "tlsbench %s: bad flags:\n  %s\n", c.Scenario, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return c, err
	}
	return c, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: tlsbench <subcommand> [flags]   (tlsbench <subcommand> -help lists the flags)

  backend     the demo SIP core (echo) on -listen; prints "BACKEND addr"; serves until stdin closes or SIGTERM
  handshake   -conns new TCP+TLS connections, -concurrency workers, each closed after its handshake
  idle        hold -conns connections with keepalives; prints "READY n", holds -duration or until stdin closes
  echo        -conns connections echo -size-byte SIP messages for -duration, every byte checked
  storm       establish -conns, print "READY n", wait for "GO" on stdin (or -auto), drop all and reconnect
  stall       echo load of -concurrency connections without, then with, -conns stallers
`)
}

func isSubcommand(s string) bool {
	return s == Backend || contains(Scenarios, s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Check validates c, reporting every problem at once, each naming its flag.
func (c *Config) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !isSubcommand(c.Scenario) {
		bad("tlsbench: unknown subcommand %q", c.Scenario)
	}
	if c.Scenario == Backend {
		if err := checkLoopback(c.Listen); err != nil {
			bad("-listen: %v", err)
		}
		if c.MaxConns < 1 {
			bad("-max-conns: %d is not positive", c.MaxConns)
		}
		return errors.Join(errs...)
	}
	if err := checkLoopback(c.Target); err != nil {
		bad("-target: %v", err)
	}
	n := 0
	for _, on := range []bool{c.CA != "", c.Pin != "", c.Insecure} {
		if on {
			n++
		}
	}
	if n > 1 {
		bad("-ca, -pin, -insecure: give one at most")
	}
	if c.Pin != "" {
		if _, err := parsePin(c.Pin); err != nil {
			bad("-pin: %v", err)
		}
	}
	if c.Conns < 1 {
		bad("-conns: %d is not positive", c.Conns)
	}
	if c.Concurrency < 1 {
		bad("-concurrency: %d is not positive", c.Concurrency)
	}
	if c.Stallers < 0 {
		bad("-stallers: %d is negative", c.Stallers)
	}
	if c.Size < minSize {
		bad("-size: %d is below %d bytes (the headers)", c.Size, minSize)
	}
	if c.Duration <= 0 {
		bad("-duration: %v is not positive", c.Duration)
	}
	if c.Timeout <= 0 {
		bad("-timeout: %v is not positive", c.Timeout)
	}
	if c.KeepAlive < 0 {
		bad("-keepalive: %v is negative", c.KeepAlive)
	}
	if c.Procs < 0 {
		bad("-procs: %d is negative", c.Procs)
	}
	if c.Child < 0 || c.First < 0 {
		bad("-child, -first: negative")
	}
	if c.Src != "" {
		if _, err := ParseSrc(c.Src); err != nil {
			bad("-src: %v", err)
		}
	}
	if len(errs) == 0 {
		open := c.Open()
		if p := c.procs(); open > p*MaxPerProc {
			bad("-procs: %d connections open at once over %d process(es) is more than %d each (the 20,000 fd limit); raise -procs or leave it 0", open, p, MaxPerProc)
		}
	}
	return errors.Join(errs...)
}

// minSize is the smallest -size accepted: the headers of the largest message the builder
// makes (connection 9,999,999, CSeq 4294967295) take 339 bytes.
const minSize = 350

// Loads returns the counts a scenario runs with, resolving the aliases: conns is N (the
// handshakes, or the connections held or echoing; stall: the echo connections), workers is C
// where it applies, stallers is stall's M.
func (c *Config) Loads() (conns, workers, stallers int) {
	switch c.Scenario {
	case Echo:
		if !c.set["conns"] && c.set["concurrency"] {
			return c.Concurrency, c.Concurrency, 0
		}
		return c.Conns, min(c.Concurrency, c.Conns), 0
	case Stall:
		if c.Stallers > 0 || c.set["stallers"] {
			return c.Conns, min(c.Concurrency, c.Conns), c.Stallers
		}
		return c.Concurrency, c.Concurrency, c.Conns
	default:
		return c.Conns, min(c.Concurrency, c.Conns), 0
	}
}

// Open is the most connections the run holds open at once, over all its processes.
func (c *Config) Open() int {
	conns, workers, stallers := c.Loads()
	if c.Scenario == Handshake {
		return workers
	}
	return conns + stallers
}

// procs is how many processes the run uses.
func (c *Config) procs() int {
	switch {
	case c.Child > 0:
		return 1
	case c.Procs > 0:
		return c.Procs
	}
	return max(1, (c.Open()+PerProc-1)/PerProc)
}

// src is the -src value in effect: as given, or DefaultSrc above SpreadAbove connections.
func (c *Config) src() string {
	if c.Src == "" && c.Open() > SpreadAbove {
		return DefaultSrc
	}
	return c.Src
}

// srcAddrs returns the source addresses to bind, nil for the system's choice.
func (c *Config) srcAddrs() []netip.Addr {
	s := c.src()
	if s == "" {
		return nil
	}
	addrs, _ := ParseSrc(s) // checked
	// Continue the spread where the processes before this one stopped.
	k := c.First % len(addrs)
	return append(addrs[k:len(addrs):len(addrs)], addrs[:k]...)
}

// ParseSrc parses a -src value: an inclusive range of IPv4 addresses "a-b" or a comma list,
// all in 127.0.0.0/8, at most 65,536.
func ParseSrc(s string) ([]netip.Addr, error) {
	loop := netip.MustParsePrefix("127.0.0.0/8")
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		if !loop.Contains(a) || !loop.Contains(b) {
			return nil, fmt.Errorf("%s is not in 127.0.0.0/8", part)
		}
		if b.Less(a) {
			return nil, fmt.Errorf("%s: range ends before it starts", part)
		}
		for x := a; ; x = x.Next() {
			if len(out) == 1<<16 {
				return nil, errors.New("more than 65536 addresses")
			}
			out = append(out, x)
			if x == b {
				break
			}
		}
	}
	return out, nil
}

// checkLoopback accepts host:port with a loopback IP or "localhost": the generator never
// leaves the machine.
func checkLoopback(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: %w", port, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("host %q is not an IP address or localhost", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address (tlsbench stays on 127.0.0.0/8)", ip)
	}
	return nil
}

// parsePin decodes a SHA-256 fingerprint written in hex, with or without colons.
func parsePin(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%d bytes, a SHA-256 has 32", len(b))
	}
	return b, nil
}

// byteSize is a flag.Value of a byte count: "1024", "16KiB", "1MiB" (also "k", "KB", "M").
type byteSize int

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	return strconv.Itoa(int(*b))
}

func (b *byteSize) Set(s string) error {
	num := strings.TrimRight(s, "KMGiBkmgb")
	mult := 1
	switch strings.ToLower(strings.TrimSpace(s[len(num):])) {
	case "", "b":
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	default:
		return fmt.Errorf("unknown unit in %q", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 || n > 1<<30/mult {
		return fmt.Errorf("bad size %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}
