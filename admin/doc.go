// Package admin is tlsmux's runtime control and observability endpoint: JSON-RPC 2.0 over HTTP
// with the method names and result fields of Kamailio's RPC (tls.info, tls.list, tls.options,
// tls.reload, cfg.get, cfg.set_now_int, ...), Prometheus metrics on /metrics, and `tlsmux ctl`,
// a kamcmd-like client. Operators who drive Kamailio with kamcmd or its JSON-RPC and scrape it
// into Prometheus find the same names here; rpc.md beside this file specifies every method,
// parameter, result field, error and metric.
//
// admin reaches the daemon only through the [Target] interface it declares: it imports none of
// reactor, memguard, wq, profile or tlsconn (ARCHITECTURE.md §2). cmd/tlsmux implements Target
// over them; the tests implement it with a fake.
//
// # Access
//
// The TCP listener serves loopback peers (127.0.0.0/8, ::1) and the networks named in
// Options.AllowNets, and answers any other peer with HTTP 403 and a JSON-RPC error (code 403),
// logged at most once per 10 seconds with a count of the others. The optional Unix socket serves
// anyone who can open it: it is created with Options.UnixMode (0600 by default) before it
// appears at its path, so there is no moment when it is more open than that. There is no
// authentication beyond that: the endpoint can close connections and shut the daemon down,
// so keep it on loopback or a management network.
//
// Every call of a method that changes the daemon (cfg.set*, conn.close, tls.reload,
// core.shutdown) is logged at Info with the peer and the params, successful or not.
//
// # Bounds
//
// Request bodies (64 KiB), batches (32 requests), requests served at once (4, more get HTTP
// 503), open connections per listener (64), read, write and idle times (10 s, 30 s, 60 s), a
// tls.list page (1000 connections, 100 by default), its offset (100,000; the cursor has no
// limit), the SANs shown per connection (16), the errors a failed reload lists (100), the series
// of a labelled metric family (256), and on the client side what ctl reads (32 MiB) and its
// arguments (64). The first five are Options fields; the others are constants.
//
// # Concurrency
//
// [Serve] starts one goroutine per listener (net/http's Serve) and net/http starts one per
// connection; [Server.Close] (or the end of Serve's context) stops them all and returns once
// they have exited. The Target is called from request goroutines, up to MaxConcurrent at once.
// [Ctl] and [ParseArgs] are plain functions, safe for concurrent use.
//
// # Usage
//
// In cmd/tlsmux:
//
//	adm, err := admin.Serve(ctx, admin.Options{
//		Addr:       cfg.Admin,      // -admin 127.0.0.1:9061
//		AllowNets:  cfg.AdminAllow, // -admin-allow 10.20.0.0/16
//		UnixSocket: cfg.AdminSocket,
//		Target:     daemonTarget{srv, guard, profiles}, // implements admin.Target
//		Logger:     log,
//	})
//	if err != nil { ... }
//	defer adm.Close()
//
// and `tlsmux ctl ...` is os.Exit(admin.Ctl(os.Args[2:], os.Stdout, os.Stderr)).
//
// # Limitations
//
//   - No authentication and no TLS on the endpoint: access is by source address and file
//     permissions only. Put it behind an SSH tunnel or a management VLAN for remote use.
//   - tls.list costs one walk of the connection table per page (and per MaxPageSize of
//     offset): fine for an operator or a script paging through 100,000 connections, not for
//     polling. Use /metrics for anything periodic.
//   - A page is a snapshot of each event loop taken at slightly different moments, and a
//     connection's counters are as of that moment.
//   - tls.options returns a list of settings with their units and ranges, not Kamailio's flat
//     object; `cfg.get tls` returns the flat object.
//   - /metrics reads /proc/self/fd for process_open_fds, one entry per socket: a few
//     milliseconds per scrape at 100,000 connections.
//   - /metrics builds a fresh metrics.Set per scrape and relies on VictoriaMetrics/metrics not
//     writing metadata lines (its default): a call to metrics.ExposeMetadata(true) elsewhere in
//     the process would duplicate the HELP/TYPE lines. The go_* and process_* series carry no
//     TYPE lines and parse as untyped.
package admin
