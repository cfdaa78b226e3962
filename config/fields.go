package config

import (
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Field describes one flag: its name, what it does, and what Kamailio and OpenSIPS call it.
type Field struct {
	Flag     string // without the dash
	Usage    string // unit, zero value, default meaning
	Kamailio string // equivalent parameter, "-" if none
	OpenSIPS string // equivalent parameter, "-" if none
	bind     func(fs *flag.FlagSet, name, usage string)
}

// fields lists every flag bound to the fields of c. Keep it in the order of the README table.
func fields(c *Config) []Field {
	str := func(p *string) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.StringVar(p, n, *p, u) }
	}
	boolean := func(p *bool) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.BoolVar(p, n, *p, u) }
	}
	integer := func(p *int) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.IntVar(p, n, *p, u) }
	}
	timeout := func(p *Timeout) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.TextVar(p, n, *p, u) }
	}
	float := func(p *float64) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.Float64Var(p, n, *p, u) }
	}
	bytes := func(p *Bytes) func(*flag.FlagSet, string, string) {
		return func(fs *flag.FlagSet, n, u string) { fs.TextVar(p, n, *p, u) }
	}
	return []Field{
		{"listen", "TLS listener tls:IP:PORT, repeatable (IPv6: tls:[::1]:5061)", "listen=tls:IP:PORT", "socket=tls:IP:PORT",
			func(fs *flag.FlagSet, n, u string) { fs.Var(&endpointList{p: &c.Listen}, n, u) }},
		{"loops", "event loops; 0 = one per CPU", "tcp_children", "tcp_workers", integer(&c.Loops)},
		{"reuse-port", "SO_REUSEPORT on listeners, so several processes share a port", "tcp_reuse_port", "-", boolean(&c.ReusePort)},
		{"max-connections", "client connections per process; more are closed on accept", "tls_max_connections", "tcp_max_connections", integer(&c.MaxConnections)},
		{"backend", "SIP core that receives the clear text, tcp:IP:PORT", "-", "-",
			func(fs *flag.FlagSet, n, u string) { fs.Var(endpointValue{&c.Backend}, n, u) }},
		{"proxy-protocol", "header on each backend connection: none, v1 or v2 (v2 carries TLS facts as TLVs)", "tcp_accept_haproxy (core side)", "PROXY protocol (4.0, core side)", str(&c.ProxyProtocol)},
		{"proxy-client-cert", "PROXY v2: send the client's certificate (DER, PP2_SUBTYPE_SSL_CLIENT_CERT 0x28); receivers cap the header size (go-proxyproto: 4 KiB)", "-", "-", boolean(&c.ProxyClientCert)},
		{"tls-config", "Kamailio tls.cfg file of server and client profiles ([server:IP:PORT], SNI, ...); reloaded on SIGHUP, tls.reload and file changes", "config (tls module)", "tls_mgm domains", str(&c.TLS.ConfigFile)},
		{"ticket-keys", "session ticket keys file (one key per line, newest first): resumption across reloads, restarts and instances", "-", "-", str(&c.TLS.TicketKeys)},
		{"certificate", "server certificate chain, PEM; empty = throwaway self-signed ECDSA P-256", "certificate", "certificate", str(&c.TLS.Certificate)},
		{"private-key", "private key, PEM (unencrypted); empty = read it from -certificate", "private_key", "private_key", str(&c.TLS.PrivateKey)},
		{"ca-list", "CAs trusted for client certificates, PEM", "ca_list", "ca_list", str(&c.TLS.CAList)},
		{"verify-certificate", "verify client certificates that are presented", "verify_certificate", "verify_cert", boolean(&c.TLS.VerifyCertificate)},
		{"require-certificate", "require a client certificate (verified, as Kamailio does: needs -ca-list)", "require_certificate", "require_cert", boolean(&c.TLS.RequireCertificate)},
		{"verify-depth", "maximum intermediates in a client chain", "verify_depth", "-", integer(&c.TLS.VerifyDepth)},
		{"cipher-list", "OpenSSL-style cipher list (TLS 1.2 suites; TLS 1.3 suites are fixed in Go); empty = Go defaults", "cipher_list", "ciphers_list", str(&c.TLS.CipherList)},
		{"tls-method", "protocol versions: TLSv1.2+, TLSv1.3, TLSv1.2, ... (SSLv2/SSLv3/SSLv23 refused)", "tls_method", "tls_method", str(&c.TLS.TLSMethod)},
		{"curves", "key exchange groups, e.g. X25519:P-256 or X25519MLKEM768:X25519", "-", "ec_curve", str(&c.TLS.Curves)},
		{"session-cache", "TLS session tickets (resumption)", "session_cache", "-", boolean(&c.TLS.SessionCache)},
		{"send-close-notify", "send close_notify before closing", "send_close_notify", "-", boolean(&c.TLS.SendCloseNotify)},
		{"hello-timeout", "from accept until the whole ClientHello has arrived", "-", "tls_handshake_timeout (part)", timeout(&c.Timeouts.Hello)},
		{"handshake-timeout", "from the ClientHello until the handshake completes", "-", "tls_handshake_timeout", timeout(&c.Timeouts.Handshake)},
		{"connection-timeout", "idle timeout, any I/O extends it; seconds or duration; -1 never", "connection_timeout", "tcp_connection_lifetime", timeout(&c.Timeouts.Connection)},
		{"send-timeout", "queued outbound bytes must make progress within this", "tcp_send_timeout", "tls_send_timeout", timeout(&c.Timeouts.Send)},
		{"backend-dial-timeout", "connecting to the backend", "tcp_connect_timeout", "tcp_connect_timeout", timeout(&c.Timeouts.BackendDial)},
		{"shutdown-grace", "on SIGTERM/SIGINT, time connections get before they are closed", "-", "-", timeout(&c.Timeouts.ShutdownGrace)},
		{"max-handshakes", "TLS handshakes in flight; more wait for their ClientHello's turn", "-", "-", integer(&c.Queues.MaxHandshakes)},
		{"con-ct-wq-max", "per-connection clear-text queue (bytes held until the backend is up)", "con_ct_wq_max", "-", bytes(&c.Queues.ConCtWqMax)},
		{"ct-wq-max", "clear-text queues summed over all connections", "ct_wq_max", "-", bytes(&c.Queues.CtWqMax)},
		{"ct-wq-blk-size", "block size of the clear-text queues", "ct_wq_blk_size", "-", bytes(&c.Queues.CtWqBlkSize)},
		{"tcp-conn-wq-max", "bytes queued for one socket that the kernel has not taken; over it the connection is closed", "tcp_conn_wq_max", "-", bytes(&c.Queues.TCPConnWqMax)},
		{"tcp-wq-max", "the same, summed over every socket; the write that would go over it closes its connection", "tcp_wq_max", "-", bytes(&c.Queues.TCPWqMax)},
		{"max-waiting", "whole ClientHellos waiting for a handshake slot or rate token; the oldest are shed beyond it", "-", "-", integer(&c.Queues.MaxWaiting)},
		{"mem-limit", "memory budget; 0 = the cgroup limit, else 90% of physical memory; also the Go runtime's soft limit", "shm_mem_size (-m)", "shm_mem_size (-m)", bytes(&c.Memory.Limit)},
		{"low-mem-threshold1", "KiB of free budget under which new TLS connections are refused before any crypto; -1 derived, 0 off", "low_mem_threshold1", "-", integer(&c.Memory.LowMemThreshold1)},
		{"low-mem-threshold2", "KiB of free budget under which established connections get no new queue memory; -1 derived, 0 off", "low_mem_threshold2", "-", integer(&c.Memory.LowMemThreshold2)},
		{"handshake-rate", "TLS handshakes started per second, all loops; 0 = no limit; beyond it ClientHellos wait", "-", "-", float(&c.Admission.HandshakeRate)},
		{"handshake-burst", "handshakes the rate may save up; 0 = one second's worth", "-", "-", integer(&c.Admission.HandshakeBurst)},
		{"per-source-conns", "connections open per source address (prefix); 0 = no limit", "tcp_max_connections (global only); pike", "-", integer(&c.Admission.PerSourceConns)},
		{"per-source-rate", "handshakes per second per source; 0 = no limit", "pike (sampling_time_unit, reqs_density_per_unit)", "pike", float(&c.Admission.PerSourceRate)},
		{"per-source-burst", "handshakes a source may save up; 0 = max(1, one second's worth)", "-", "-", integer(&c.Admission.PerSourceBurst)},
		{"per-source-prefix4", "IPv4 sources aggregated by this prefix length", "-", "-", integer(&c.Admission.PerSourcePrefix4)},
		{"per-source-prefix6", "IPv6 sources aggregated by this prefix length", "-", "-", integer(&c.Admission.PerSourcePrefix6)},
		{"per-source-table", "sources tracked at most; idle ones are evicted oldest first, a table full of live ones refuses new sources", "-", "-", integer(&c.Admission.PerSourceTable)},
		{"keylog-file", "append TLS secrets in the NSS key log format (Wireshark) to this file; debugging only, logged loudly", "keylog_file (5.8+)", "-", str(&c.Debug.KeylogFile)},
		{"admin", "admin endpoint host:port: JSON-RPC (tls.info, tls.list, tls.options, tls.reload, cfg.*) and /metrics; empty = off", "ctl/jsonrpcs", "mi_http / mi_fifo", str(&c.Admin.Addr)},
		{"admin-allow", "networks besides loopback allowed on -admin, comma-separated CIDR", "-", "-", str(&c.Admin.Allow)},
		{"admin-socket", "admin endpoint on a Unix socket (mode 0600) as well", "ctl binrpc socket", "mi_fifo", str(&c.Admin.Socket)},
		{"log-level", "debug, info, warn, error, or a Kamailio level number", "tls_log", "log_level", str(&c.LogLevel)},
	}
}

// Fields describes every flag with its default, for docs and tests.
func Fields() []Field {
	c := Default()
	return fields(&c)
}

// Default renders the default value of f as the flag package shows it.
func (f Field) Default() string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c := Default()
	for _, g := range fields(&c) {
		if g.Flag == f.Flag {
			g.bind(fs, g.Flag, g.Usage)
		}
	}
	if fl := fs.Lookup(f.Flag); fl != nil {
		return fl.DefValue
	}
	return ""
}

// Bind registers every flag on fs, writing into c. Values already in c are the defaults shown.
func Bind(fs *flag.FlagSet, c *Config) {
	for _, f := range fields(c) {
		usage := f.Usage
		if f.Kamailio != "-" || f.OpenSIPS != "-" {
			usage += fmt.Sprintf(" (Kamailio: %s; OpenSIPS: %s)", f.Kamailio, f.OpenSIPS)
		}
		f.bind(fs, f.Flag, usage)
	}
}

// ParseLogLevel maps a level name or a Kamailio debug number to a slog level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug", "dbg":
		return slog.LevelDebug, nil
	case "info", "notice":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn, error or a Kamailio level number (-5..3)", s)
	}
	switch {
	case n >= 3: // L_DBG
		return slog.LevelDebug, nil
	case n >= 1: // L_NOTICE, L_INFO
		return slog.LevelInfo, nil
	case n == 0: // L_WARN
		return slog.LevelWarn, nil
	default: // L_ERR and more severe
		return slog.LevelError, nil
	}
}

// FlagTable renders every flag as a Markdown table: flag, default, meaning, Kamailio and OpenSIPS
// equivalents. The README embeds it between <!-- flags:begin --> and <!-- flags:end -->.
func FlagTable() string {
	var b strings.Builder
	b.WriteString("| flag | default | meaning | Kamailio | OpenSIPS |\n|---|---|---|---|---|\n")
	for _, f := range Fields() {
		def := f.Default()
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s | %s |\n", f.Flag, def, f.Usage, code(f.Kamailio), code(f.OpenSIPS))
	}
	return b.String()
}

func code(s string) string {
	if s == "-" {
		return "—"
	}
	name, rest, _ := strings.Cut(s, " ")
	if rest != "" {
		return "`" + name + "` " + rest
	}
	return "`" + name + "`"
}
