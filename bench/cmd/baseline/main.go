// Command baseline is the TLS proxy a Go developer writes first (package bench/baseline), run
// by `bench/cmd/report` beside tlsmux so that every figure is reported as a ratio against it.
//
//	baseline -listen 127.0.0.1:0 -backend 127.0.0.1:5060 -certificate cert.pem -private-key key.pem
//
// It prints `LISTEN addr` on stdout once it accepts connections, and exits 0 on SIGTERM or
// SIGINT after closing every connection; 1 when it cannot serve; 2 for bad flags.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tlsmux/tlsmux/bench/baseline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "TLS listener IP:PORT (a tls: prefix is accepted, as tlsmux writes it)")
	backend := fs.String("backend", "", "backend IP:PORT (a tcp: prefix is accepted); required")
	certFile := fs.String("certificate", "", "server certificate chain, PEM; required")
	keyFile := fs.String("private-key", "", "private key, PEM; empty = read it from -certificate")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *backend == "" || *certFile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "baseline: -backend and -certificate are required, and no arguments are taken")
		return 2
	}
	if *keyFile == "" {
		*keyFile = *certFile
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "baseline: %v\n", err)
		return 2
	}
	// The standard library's defaults: TLS 1.2 and 1.3, Go's curve and cipher preferences,
	// session tickets on.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	p, err := baseline.Listen(strings.TrimPrefix(*listen, "tls:"), strings.TrimPrefix(*backend, "tcp:"), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "baseline: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "LISTEN %s\n", p.Addr())
	<-sig
	if err := p.Close(); err != nil {
		fmt.Fprintf(stderr, "baseline: close: %v\n", err)
	}
	return 0
}
