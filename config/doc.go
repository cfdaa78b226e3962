// Package config is the one schema of every tlsmux tunable: its defaults, its command-line flags and
// their validation.
//
// Usage:
//
//	cfg := config.Default()
//	fs := flag.NewFlagSet("tlsmux", flag.ContinueOnError)
//	config.Bind(fs, &cfg)
//	if err := fs.Parse(os.Args[1:]); err != nil { ... }
//	if err := cfg.Validate(); err != nil { ... } // every problem at once, each naming its flag
//
// Names follow the Kamailio tls module (tls_method, verify_certificate, connection_timeout, ...) and
// Kamailio core TCP parameters (tcp_conn_wq_max, ...), in Go flag style with dashes; Fields lists each
// flag with its Kamailio and OpenSIPS equivalent, and the README table is checked against it.
//
// Precedence: defaults < flags given on the command line. (Files come with the tls.cfg issue.)
//
// Concurrency: a Config is a plain value; Bind and Validate run on one goroutine at startup.
// cmd/tlsmux translates a Config into the small option structs of the runtime packages, which never
// import this package.
//
// # Limitations
//
// No configuration file yet; every setting is a flag.
package config
