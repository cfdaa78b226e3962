package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tlsmux/tlsmux/config"
	"github.com/tlsmux/tlsmux/internal/loadgen"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/reactor"
)

// demoPeer is the hidden subcommand the demo runs as a child process: the demo SIP core and the
// TLS clients. Keeping them out of the tlsmux process makes its memory figure tlsmux's own.
const demoPeer = "__demo-peer"

// runDemo runs tlsmux in front of a built-in SIP core, drives TLS clients through it, prints a
// summary and keeps serving until interrupted (or exits at once with -exit).
func runDemo(args []string, stdout, stderr io.Writer) int {
	cfg := config.Default()
	fs := flag.NewFlagSet("tlsmux demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Bind(fs, &cfg)
	conns := fs.Int("conns", 300, "TLS clients to drive through tlsmux (each holds its connection until all are open)")
	concurrency := fs.Int("concurrency", 50, "clients connecting at once")
	messages := fs.Int("messages", 20, "SIP messages each client sends after its REGISTER; the core echoes them")
	size := fs.Int("size", 1024, "bytes per SIP message")
	exit := fs.Bool("exit", false, "exit after the summary instead of serving until interrupted")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tlsmux demo [flags]\n\nRuns tlsmux on loopback in front of a built-in SIP core and drives TLS clients through it.\nEvery tlsmux flag applies; -backend is replaced by the demo core.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tlsmux demo: bad settings:\n%v\n", indent(err))
		return exitUsage
	}
	if *conns < 1 || *concurrency < 1 || *messages < 0 || *size < 256 {
		fmt.Fprintln(stderr, "tlsmux demo: -conns and -concurrency must be at least 1, -messages at least 0, -size at least 256")
		return exitUsage
	}
	if *conns > 9000 {
		// The peer holds 2 fds per connection, tlsmux 2: stay inside a 20,000-fd process limit.
		fmt.Fprintln(stderr, "tlsmux demo: -conns is at most 9000 (each process holds 2 fds per connection under a 20,000 limit; the bench tool spreads more over processes)")
		return exitUsage
	}
	log := newLogger(stderr, cfg.LogLevel)

	// 1. The demo SIP core, in the peer process.
	peer, err := startPeer(cfg.ProxyProtocol != "none")
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux demo: %v\n", err)
		return exitFailed
	}
	defer peer.stop()
	cfg.Backend = config.Endpoint{Proto: "tcp", Addr: peer.coreAddr}

	// 2. tlsmux itself, in this process.
	tcfg, info, err := buildProfile(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux demo: bad settings:\n%v\n", indent(err))
		return exitUsage
	}
	logProfile(log, info)
	srv, err := startDemoServer(cfg, tcfg, info, log)
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux demo: %v\n", err)
		return exitFailed
	}
	addr := srv.Addrs()[0].String()
	fmt.Fprintf(stdout, "tlsmux demo: tlsmux on %s (loops: %d) -> demo SIP core on %s\n", addr, loopsOf(cfg), peer.coreAddr)
	fmt.Fprintf(stdout, "driving %d TLS clients (%d at once): REGISTER, %d x %d-byte messages each, then hold until all are open...\n",
		*conns, *concurrency, *messages, *size)

	// 3. Load, from the peer process; measure our RSS while every connection is open.
	runtime.GC()
	before := rssBytes()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	heapBefore := ms0.HeapAlloc
	leaf := tcfg.Certificates[0].Leaf
	if leaf == nil {
		leaf, _ = x509.ParseCertificate(tcfg.Certificates[0].Certificate[0])
	}
	pin := sha256.Sum256(leaf.Raw)
	report, held, err := peer.load(addr, hex.EncodeToString(pin[:]), *conns, *concurrency, *messages, *size, func() {
		runtime.GC()
		after := rssBytes()
		st := srv.Stats()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n := float64(max(st.Open, 1))
		fmt.Fprintf(stdout, "all %d connections open: tlsmux RSS %.1f MiB, %.1f KiB per TLS connection with its backend connection "+
			"(Go heap in use %.1f KiB per connection; RSS before the load %.1f MiB)\n",
			st.Open, float64(after)/(1<<20), float64(after-before)/1024/n, float64(ms.HeapAlloc-heapBefore)/1024/n, float64(before)/(1<<20))
	})
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux demo: load: %v\n", err)
	}
	fmt.Fprint(stdout, report)
	st := srv.Stats()
	fmt.Fprintf(stdout, "tlsmux: accepted %d, handshakes %d, closed %v, dropped bytes %v\n", st.Accepted, st.Handshakes, st.Closed, st.DroppedBytes)
	if err != nil || !held {
		code := shutdown(srv, log, "demo failed", time.Second)
		return max(code, exitFailed)
	}
	if *exit {
		return shutdown(srv, log, "-exit", cfg.Timeouts.ShutdownGrace.Duration())
	}
	fmt.Fprintf(stdout, "\ntlsmux keeps serving on %s; try it by hand:\n  openssl s_client -connect %s -quiet\n"+
		"then type a SIP request (OPTIONS and REGISTER are answered, anything else is echoed). Ctrl-C stops.\n", addr, addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	got := <-sig
	return shutdown(srv, log, got.String(), cfg.Timeouts.ShutdownGrace.Duration())
}

func loopsOf(cfg config.Config) int {
	if cfg.Loops > 0 {
		return cfg.Loops
	}
	return runtime.NumCPU()
}

// startDemoServer starts tlsmux on the configured listener, or on a free port when that one is
// taken (the demo must work on a machine where 5061 is in use).
func startDemoServer(cfg config.Config, tcfg *tls.Config, info profileInfo, log *slog.Logger) (*reactor.Server, error) {
	srv, err := reactor.New(reactorOptions(cfg, tcfg, info, log))
	if err == nil {
		err = srv.Start()
	}
	if err == nil {
		return srv, nil
	}
	if len(cfg.Listen) != 1 || cfg.Listen[0].Addr.Port() == 0 {
		return nil, err
	}
	log.Warn("listener busy; using a free port", "listen", cfg.Listen[0].String(), "err", err)
	cfg.Listen[0].Addr = netip.AddrPortFrom(cfg.Listen[0].Addr.Addr(), 0)
	srv, err = reactor.New(reactorOptions(cfg, tcfg, info, log))
	if err == nil {
		err = srv.Start()
	}
	return srv, err
}

// rssBytes is this process's resident set size, from /proc/self/statm.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// peer is the child process running the demo SIP core and the load.
type peer struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Scanner
	coreAddr netip.AddrPort
}

func startPeer(proxyProtocol bool) (*peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, demoPeer, "-proxy-protocol="+strconv.FormatBool(proxyProtocol))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the demo peer: %w", err)
	}
	p := &peer{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	line, ok := p.next()
	addr, err := netip.ParseAddrPort(strings.TrimPrefix(line, "CORE "))
	if !ok || err != nil {
		p.stop()
		return nil, fmt.Errorf("demo peer did not start its SIP core (said %q)", line)
	}
	p.coreAddr = addr
	return p, nil
}

func (p *peer) next() (string, bool) {
	if !p.out.Scan() {
		return "", false
	}
	return p.out.Text(), true
}

// load asks the peer to run the load; onHeld runs while every connection is open. It returns
// the peer's report text and whether all connections were held at once.
func (p *peer) load(target, pin string, conns, concurrency, messages, size int, onHeld func()) (string, bool, error) {
	fmt.Fprintf(p.in, "LOAD %s %s %d %d %d %d\n", target, pin, conns, concurrency, messages, size)
	var report strings.Builder
	held := false
	for {
		line, ok := p.next()
		if !ok {
			return report.String(), held, errors.New("demo peer exited")
		}
		switch {
		case line == "HELD":
			held = true
			onHeld()
			fmt.Fprintln(p.in, "RELEASE")
		case line == "END":
			return report.String(), held, nil
		case strings.HasPrefix(line, "ERROR "):
			return report.String(), held, errors.New(strings.TrimPrefix(line, "ERROR "))
		default:
			report.WriteString(line + "\n")
		}
	}
}

func (p *peer) stop() {
	p.in.Close() // the peer exits when its stdin closes
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// runDemoPeer is the child process: it serves the demo SIP core and runs loads on request,
// speaking a line protocol on stdin/stdout. It exits when stdin closes.
func runDemoPeer(args []string) int {
	fs := flag.NewFlagSet(demoPeer, flag.ContinueOnError)
	pp := fs.Bool("proxy-protocol", false, "expect a PROXY header on each connection")
	if fs.Parse(args) != nil {
		return exitUsage
	}
	core, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{ProxyProtocol: *pp, PingAfterRegister: true, MaxConns: 20000})
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo peer: %v\n", err)
		return exitFailed
	}
	defer core.Close()
	fmt.Printf("CORE %s\n", core.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 7 || f[0] != "LOAD" {
			continue
		}
		n := func(s string) int { v, _ := strconv.Atoi(s); return v }
		peerLoad(in, f[1], f[2], n(f[3]), n(f[4]), n(f[5]), n(f[6]), core)
	}
	return exitOK
}

func peerLoad(in *bufio.Scanner, target, pin string, conns, concurrency, messages, size int, core *sipcore.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	go func() {
		// Wait for the parent's RELEASE after HELD, then end the holds.
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		for in.Scan() {
			if in.Text() == "RELEASE" {
				break
			}
		}
		cancel()
	}()
	heldOnce := make(chan struct{}, 1)
	cfg := &tls.Config{
		InsecureSkipVerify: true, // the demo's throwaway certificate is pinned below instead
		CurvePreferences:   demoClientCurves(),
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if hex.EncodeToString(sum[:]) != pin {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}
	rep, err := loadgen.Run(ctx, loadgen.Options{
		Target: target, TLS: cfg, Conns: conns, Concurrency: concurrency, Messages: messages, Size: size,
		Hold: time.Minute, Timeout: 20 * time.Second,
		OnHold: func(held int) {
			if held == conns {
				select {
				case heldOnce <- struct{}{}:
					fmt.Println("HELD")
					close(release)
				default:
				}
			}
		},
	})
	if rep != nil {
		st := core.Stats()
		fmt.Print(indentText(rep.String()))
		fmt.Printf("  demo core: %d REGISTER, %d echoed, %d OPTIONS sent to the phones over their connections (%d answered)\n",
			st.Registers, st.Echoed, st.OptionsSent, st.OptionsAnswered)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Printf("ERROR %v\n", err)
		return
	}
	fmt.Println("END")
}

func indentText(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// demoClientCurves is what the demo clients offer: X25519 and P-256, like the SIP phones of today
// (OpenSSL 1.1/3.0, mbedTLS). TLSMUX_DEMO_PQ=1 makes them offer Go's default instead, whose
// X25519MLKEM768 key share makes the ClientHello 1.2 KB larger; crypto/tls keeps a buffer of the
// largest handshake message for the connection's life, so that costs ~1.3 KiB per connection.
func demoClientCurves() []tls.CurveID {
	if os.Getenv("TLSMUX_DEMO_PQ") != "" {
		return nil
	}
	return []tls.CurveID{tls.X25519, tls.CurveP256}
}
