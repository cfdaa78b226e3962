package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultAddr is where `tlsmux ctl` looks for the admin endpoint without -admin or -socket.
const DefaultAddr = "127.0.0.1:9061"

// Exit statuses of Ctl.
const (
	CtlOK          = 0 // the call succeeded
	CtlRPCError    = 1 // the endpoint answered with an error (printed), or not with JSON-RPC
	CtlUsage       = 2 // bad flags or arguments
	CtlUnreachable = 3 // no connection to the endpoint
)

// maxResponseBytes bounds what ctl reads: a page of 1000 connections is well under it.
const maxResponseBytes = 32 << 20

// Ctl is `tlsmux ctl`: a kamcmd-like client of the admin endpoint.
//
//	tlsmux ctl [-admin ADDR | -socket PATH] [-json] [-timeout D] METHOD [ARGS...]
//
// ARGS are typed as kamcmd types them: a decimal integer is sent as a number, anything else as a
// string, and an "s:" prefix forces a string ("s:5061"), "i:" an integer. When every argument is
// NAME=VALUE the params are sent by name (tls.list sni=sip.example.com limit=20), else by
// position. The result is printed as aligned text (an object as key/value lines, a list of
// objects as a table) or, with -json, as the raw JSON result. It returns the exit status: CtlOK,
// CtlRPCError, CtlUsage or CtlUnreachable.
func Ctl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlsmux ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", DefaultAddr, "admin endpoint `host:port` (the daemon's -admin)")
	socket := fs.String("socket", "", "admin Unix socket `path` (the daemon's -admin-socket); overrides -admin")
	raw := fs.Bool("json", false, "print the JSON result as it came, indented")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: tlsmux ctl [-admin host:port | -socket path] [-json] [-timeout d] METHOD [ARGS...]\n\n"+
			"Calls METHOD on a running tlsmux's admin endpoint (JSON-RPC 2.0), as kamcmd calls Kamailio's.\n"+
			"ARGS: integers are sent as numbers, the rest as strings; s:VALUE forces a string, i:VALUE an integer;\n"+
			"NAME=VALUE arguments send the params by name.\n\n"+
			"Examples:\n"+
			"  tlsmux ctl tls.info\n"+
			"  tlsmux ctl tls.list peer=192.0.2.0/24 verified=true limit=50\n"+
			"  tlsmux ctl cfg.set_now_int tls con_ct_wq_max 1048576\n"+
			"  tlsmux ctl cfg.get tls\n"+
			"  tlsmux ctl conn.close 1234 1\n"+
			"  tlsmux ctl system.listMethods\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return CtlOK
		}
		return CtlUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "tlsmux ctl: no METHOD given (tlsmux ctl system.listMethods lists them)")
		fs.Usage()
		return CtlUsage
	}
	method := fs.Arg(0)
	params, err := ParseArgs(fs.Args()[1:])
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux ctl: %v\n", err)
		return CtlUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "tlsmux ctl: -timeout must be positive")
		return CtlUsage
	}

	where, url, tr := *addr, "http://"+*addr+"/RPC", &http.Transport{DisableKeepAlives: true}
	hint := "is tlsmux running with -admin?"
	if *socket != "" {
		path := *socket
		where, url, hint = path, "http://unix/RPC", "is tlsmux running with -admin-socket?"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	}
	body, _ := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
		ID      int    `json:"id"`
	}{"2.0", method, params, 1})

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux ctl: bad -admin %q: %v\n", where, err)
		return CtlUsage
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			hint = "run as the daemon's user or a member of its group, or widen -admin-socket-mode"
		}
		fmt.Fprintf(stderr, "tlsmux ctl: cannot reach the admin endpoint at %s: %s — %s\n", where, netReason(err), hint)
		return CtlUnreachable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux ctl: reading the answer from %s: %s\n", where, netReason(err))
		return CtlUnreachable
	}
	if len(data) > maxResponseBytes {
		fmt.Fprintf(stderr, "tlsmux ctl: the answer from %s is over %d bytes; page with limit=...\n", where, maxResponseBytes)
		return CtlRPCError
	}
	var r struct {
		JSONRPC string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		Error   *struct {
			Code    int             `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.JSONRPC != "2.0" || (r.Result == nil && r.Error == nil) {
		fmt.Fprintf(stderr, "tlsmux ctl: %s did not answer JSON-RPC (HTTP %s): %s\n", where, resp.Status, firstLine(data))
		return CtlRPCError
	}
	if r.Error != nil {
		if *raw {
			out, _ := json.MarshalIndent(r.Error, "", "  ")
			fmt.Fprintf(stdout, "%s\n", out)
		}
		fmt.Fprintf(stderr, "tlsmux ctl: %s: %s (code %d)\n", method, sanitize(r.Error.Message), r.Error.Code)
		if len(r.Error.Data) > 0 && !*raw {
			if v, err := parseOrdered(r.Error.Data); err == nil {
				render(stderr, v)
			}
		}
		return CtlRPCError
	}
	if *raw {
		var b bytes.Buffer
		if err := json.Indent(&b, r.Result, "", "  "); err != nil {
			b.Write(r.Result)
		}
		b.WriteByte('\n')
		stdout.Write(b.Bytes())
		return CtlOK
	}
	v, err := parseOrdered(r.Result)
	if err != nil {
		fmt.Fprintf(stderr, "tlsmux ctl: the result from %s is not JSON: %v\n", where, err)
		return CtlRPCError
	}
	render(stdout, v)
	return CtlOK
}

// netReason is the short cause of a transport error: "connection refused", "no such file or
// directory", "i/o timeout".
func netReason(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "(empty body)"
	}
	return sanitize(clip(s))
}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// maxCtlArgs bounds the arguments ParseArgs accepts; no method takes more than a handful.
const maxCtlArgs = 64

// ParseArgs types command-line arguments as kamcmd does and returns the JSON-RPC params: nil
// for none, []any for positional, map[string]any when every argument is NAME=VALUE. A value
// is an int64 if it is a decimal integer that fits, else a string; "s:" forces a string and "i:"
// an integer (an error if it is not one).
func ParseArgs(args []string) (any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if len(args) > maxCtlArgs {
		return nil, fmt.Errorf("%d arguments; at most %d", len(args), maxCtlArgs)
	}
	named := 0
	for _, a := range args {
		if paramName.MatchString(a) {
			named++
		}
	}
	switch named {
	case 0:
		out := make([]any, len(args))
		for i, a := range args {
			v, err := typeArg(a)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %v", i+1, err)
			}
			out[i] = v
		}
		return out, nil
	case len(args):
		out := make(map[string]any, len(args))
		for _, a := range args {
			k, val, _ := strings.Cut(a, "=")
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%s given twice", k)
			}
			v, err := typeArg(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, errors.New("arguments mix NAME=VALUE and positional values; use one form (prefix a positional value containing '=' with s:)")
}

func typeArg(a string) (any, error) {
	switch {
	case strings.HasPrefix(a, "s:"):
		return a[2:], nil
	case strings.HasPrefix(a, "i:"):
		n, err := strconv.ParseInt(a[2:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a 64-bit integer", clip(a[2:]))
		}
		return n, nil
	}
	if n, err := strconv.ParseInt(a, 10, 64); err == nil {
		return n, nil
	}
	return a, nil
}
