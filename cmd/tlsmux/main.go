// Command tlsmux terminates TLS for SIP in front of a SIP core.
//
//	tlsmux [flags]        serve (see -help for every flag)
//	tlsmux demo [flags]   run tlsmux in front of a built-in SIP core with load on loopback
//
// Exit status: 0 after a clean shutdown (SIGTERM or SIGINT); 1 when serving fails (a listener
// cannot be bound, the loops stop with an error); 2 for a bad flag or setting, with every
// problem listed on stderr.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tlsmux/tlsmux/admin"
	"github.com/tlsmux/tlsmux/config"
	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/profile"
	"github.com/tlsmux/tlsmux/reactor"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "demo":
			return runDemo(args[1:], stdout, stderr)
		case "ctl":
			return admin.Ctl(args[1:], stdout, stderr)
		case demoPeer:
			return runDemoPeer(args[1:])
		}
	}
	// Catch the signals before anything can announce that we serve.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	return serve(args, stderr, sig, nil)
}

// serve parses args, serves until sig delivers a signal, and returns the exit status. started,
// if set, is called once the server listens (tests use it, and their own sig).
func serve(args []string, stderr io.Writer, sig chan os.Signal, started func(*reactor.Server)) int {
	cfg, code := parse("tlsmux", args, stderr)
	if code >= 0 {
		return code
	}
	log, level := newLeveledLogger(stderr, cfg.LogLevel)
	tcfg, info, err := buildProfile(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux: bad settings:\n%v\n", indent(err))
		return exitUsage
	}
	logProfile(log, info)
	if cfg.Debug.KeylogFile != "" {
		f, err := os.OpenFile(cfg.Debug.KeylogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "tlsmux: -keylog-file: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		tcfg.KeyLogWriter = f
		log.Warn("TLS SECRETS ARE BEING WRITTEN TO THE KEY LOG FILE: anyone who can read it and a capture can decrypt this traffic; use only for debugging",
			"keylog_file", cfg.Debug.KeylogFile)
	}
	store, err := newStore(cfg, serverProfile(cfg))
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux: bad TLS profiles:\n%v\n", indent(err))
		return exitUsage
	}
	lim := newLimits(cfg)
	opts := reactorOptions(cfg, tcfg, info, log)
	lim.apply(&opts)
	var rl *reloader
	if store != nil {
		opts.Profiles = store
		rl = &reloader{st: store, log: log}
		for _, w := range store.Current().Warnings() {
			log.Warn(w)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go rl.run(ctx)
	}
	srv, err := reactor.New(opts)
	if err == nil {
		lim.register(srv)
		registerLogLevel(srv, level)
		lim.logBudget(log)
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux: %v\n", err)
		return exitFailed
	}
	if cfg.Admin.Addr != "" || cfg.Admin.Socket != "" {
		d := &daemon{srv: srv, lim: lim, cfg: cfg, stop: sig, log: log}
		if rl != nil {
			d.reload, d.certs = rl.adminReload, rl.certs
		}
		allow, _ := cfg.Admin.AllowNets() // validated
		adm, err := admin.Serve(context.Background(), admin.Options{
			Addr: cfg.Admin.Addr, AllowNets: allow, UnixSocket: cfg.Admin.Socket, Target: d, Logger: log,
		})
		if err != nil {
			fmt.Fprintf(stderr, "tlsmux: %v\n", err)
			shutdown(srv, log, "admin endpoint failed", 0)
			return exitFailed
		}
		defer adm.Close()
		log.Info("admin endpoint", "addr", fmt.Sprint(adm.Addr()), "socket", adm.SocketPath())
	}
	log.Info("tlsmux serving", "listen", fmt.Sprint(srv.Addrs()), "backend", cfg.Backend.String(), "proxy_protocol", cfg.ProxyProtocol)
	if started != nil {
		started(srv)
	}
	got := <-sig
	return shutdown(srv, log, got.String(), cfg.Timeouts.ShutdownGrace.Duration())
}

func shutdown(srv *reactor.Server, log *slog.Logger, why string, grace time.Duration) int {
	log.Info("shutting down: no new connections; open ones get the grace period", "signal", why, "grace", grace)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(ctx)
	st := srv.Stats()
	log.Info("stopped", "accepted", st.Accepted, "handshakes", st.Handshakes, "closed", st.Closed, "dropped_bytes", st.DroppedBytes)
	if err != nil {
		log.Error("shutdown", "err", err)
		return exitFailed
	}
	return exitOK
}

// parse binds and parses the flags. It returns code -1 to go on, or an exit status.
func parse(name string, args []string, stderr io.Writer) (config.Config, int) {
	cfg := config.Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Bind(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, exitOK
		}
		return cfg, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (subcommands: demo)\n", name, fs.Arg(0))
		return cfg, exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: bad settings:\n%v\n", name, indent(err))
		return cfg, exitUsage
	}
	return cfg, -1
}

func indent(err error) string {
	var b []byte
	for _, line := range splitLines(err.Error()) {
		b = append(b, "  "...)
		b = append(b, line...)
		b = append(b, '\n')
	}
	return string(b[:max(len(b)-1, 0)])
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// newLeveledLogger is newLogger with its level in a LevelVar, so that tls.log can change it.
func newLeveledLogger(w io.Writer, level string) (*slog.Logger, *slog.LevelVar) {
	lvl, err := config.ParseLogLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	v := new(slog.LevelVar)
	v.Set(lvl)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: v})), v
}

// registerLogLevel adds Kamailio's tls.log (tls_log: a debug level number, 3 debug, 2-1 info, 0
// warning, negative errors) as a runtime setting.
func registerLogLevel(srv *reactor.Server, v *slog.LevelVar) {
	srv.AddParam("tls", "log", "level", "log level as a Kamailio number: 3 debug, 1-2 info, 0 warn, -1 error", -5, 3,
		func() int64 {
			switch l := v.Level(); {
			case l <= slog.LevelDebug:
				return 3
			case l <= slog.LevelInfo:
				return 2
			case l <= slog.LevelWarn:
				return 0
			}
			return -1
		},
		func(n int64) { l, _ := config.ParseLogLevel(fmt.Sprint(n)); v.Set(l) })
}

func newLogger(w io.Writer, level string) *slog.Logger {
	lvl, err := config.ParseLogLevel(level)
	if err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func buildProfile(cfg config.Config) (*tls.Config, profile.Info, error) {
	return serverProfile(cfg).Build(time.Now(), nil)
}

// serverProfile is the default server profile the flags describe.
func serverProfile(cfg config.Config) profile.Server {
	return profile.Server{
		Certificate:        cfg.TLS.Certificate,
		PrivateKey:         cfg.TLS.PrivateKey,
		CAList:             cfg.TLS.CAList,
		VerifyCertificate:  cfg.TLS.VerifyCertificate,
		RequireCertificate: cfg.TLS.RequireCertificate,
		VerifyDepth:        cfg.TLS.VerifyDepth,
		CipherList:         cfg.TLS.CipherList,
		TLSMethod:          cfg.TLS.TLSMethod,
		Curves:             cfg.TLS.Curves,
		SessionCache:       cfg.TLS.SessionCache,
	}
}

type profileInfo = profile.Info

func logProfile(log *slog.Logger, info profile.Info) {
	if info.Generated {
		log.Warn("no -certificate given: serving a throwaway self-signed ECDSA P-256 certificate; clients must pin it or skip verification",
			"sha256", info.Fingerprint)
	}
	for _, w := range info.Warnings {
		log.Warn(w)
	}
}

func reactorOptions(cfg config.Config, tcfg *tls.Config, info profile.Info, log *slog.Logger) reactor.Options {
	listen := make([]netip.AddrPort, len(cfg.Listen))
	for i, l := range cfg.Listen {
		listen[i] = l.Addr
	}
	pp, _ := forward.ParseProxyProtocol(cfg.ProxyProtocol) // validated
	idle := cfg.Timeouts.Connection.Duration()
	return reactor.Options{
		Listen:           listen,
		Loops:            cfg.Loops,
		ReusePort:        cfg.ReusePort,
		MaxConnections:   cfg.MaxConnections,
		Backend:          cfg.Backend.Addr,
		ProxyProtocol:    pp,
		TLS:              tcfg,
		ProfileName:      "server:default",
		LocalCert:        localCert(tcfg),
		ProxyClientCert:  cfg.ProxyClientCert,
		SigAlg:           info.SigAlg,
		KeyAlg:           info.KeyAlg,
		SendCloseNotify:  cfg.TLS.SendCloseNotify,
		HelloTimeout:     cfg.Timeouts.Hello.Duration(),
		HandshakeTimeout: cfg.Timeouts.Handshake.Duration(),
		IdleTimeout:      idle, // negative: never
		SendTimeout:      cfg.Timeouts.Send.Duration(),
		DialTimeout:      cfg.Timeouts.BackendDial.Duration(),
		MaxHandshakes:    cfg.Queues.MaxHandshakes,
		ConCtWqMax:       int(cfg.Queues.ConCtWqMax),
		CtWqMax:          int(cfg.Queues.CtWqMax),
		CtWqBlkSize:      int(cfg.Queues.CtWqBlkSize),
		TCPConnWqMax:     int(cfg.Queues.TCPConnWqMax),
		TCPWqMax:         int(cfg.Queues.TCPWqMax),
		MaxWaiting:       cfg.Queues.MaxWaiting,
		Logger:           log,
	}
}

// localCert describes our certificate for the $tls_my_* attributes, made once and shared by every
// connection.
func localCert(tcfg *tls.Config) *tlsconn.CertInfo {
	if len(tcfg.Certificates) == 0 || len(tcfg.Certificates[0].Certificate) == 0 {
		return nil
	}
	leaf := tcfg.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(tcfg.Certificates[0].Certificate[0]); err != nil {
			return nil
		}
	}
	return tlsconn.NewCertInfo(leaf, false)
}
