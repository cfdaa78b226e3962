// Command tlsbench is tlsmux's load generator: TLS clients on loopback that measure handshakes,
// idle connections, echo throughput and latency, reconnect storms and stalling clients against
// any TLS server, with an echoing SIP core to put behind it.
//
//	tlsbench backend   [-listen 127.0.0.1:0] [-proxy-protocol]
//	tlsbench handshake [-conns N] [-concurrency C] [-resume] ...
//	tlsbench idle      [-conns N] [-keepalive 30s] [-duration D] ...
//	tlsbench echo      [-conns N] [-size S] [-duration D] ...
//	tlsbench storm     [-conns N] [-auto] ...
//	tlsbench stall     [-conns M] [-concurrency C] [-size S] [-duration D] ...
//
// See package github.com/tlsmux/tlsmux/bench/load for the flags, the stdin/stdout protocol and
// the JSON result.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tlsmux/tlsmux/bench/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := load.Main(ctx, os.Args[1:], load.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
