package load

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

// TestMain doubles as tlsbench's child process: a run with -procs re-executes
// os.Executable(), which in a test is this binary, with a subcommand as its first argument.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && isSubcommand(os.Args[1]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
		stop()
		os.Exit(code)
	}
	leakcheck.Main(m)
}
