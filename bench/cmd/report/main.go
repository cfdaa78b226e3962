// Command report measures tlsmux against the goroutine-per-connection baseline proxy on this
// machine and prints a Markdown table of ratios (package bench/report).
//
//	go run ./bench/cmd/report [-quick] [-out DIR]
//
// It builds tlsmux, tlsbench and the baseline from the tree, runs every scenario against each
// in turn, prints the table on stdout, writes it with two SVG charts into DIR, and shows
// progress on stderr. -quick takes under three minutes on two cores, the full run under
// fifteen. Exit status: 0 when every scenario was measured (clients failing against a target
// are a result, listed in the notes), 1 when one could not be or a target did not exit cleanly
// (the report is still printed), 2 for bad flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tlsmux/tlsmux/bench/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "the short run: under 3 minutes, memory at 1,000 connections only")
	out := fs.String("out", filepath.Join(os.TempDir(), "tlsmux-report"), "directory for report.md, memory.svg and latency.svg")
	// -tiny is the smoke test's plan, a few connections per scenario: not a measurement.
	tiny := fs.Bool("tiny", false, "")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench/cmd/report [-quick] [-out DIR]\n\n"+
			"Measures tlsmux against a goroutine-per-connection Go TLS proxy on this machine and prints a Markdown table of ratios.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage != "" {
				fmt.Fprintf(stderr, "  -%s\n    \t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "report: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	plan := report.Full()
	switch {
	case *tiny:
		plan = report.Tiny()
	case *quick:
		plan = report.Quick()
	}
	rep, err := report.Run(ctx, report.Options{Plan: plan, Progress: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.Markdown())
	if err := rep.WriteFiles(*out); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "report: wrote %s, %s and %s\n", filepath.Join(*out, "report.md"),
		filepath.Join(*out, "memory.svg"), filepath.Join(*out, "latency.svg"))
	if rep.Failed() {
		fmt.Fprintln(stderr, "report: some scenarios could not be measured; see the FAILURE notes")
		return 1
	}
	return 0
}
