package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/admin"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/syncbuf"
)

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func rpc(t *testing.T, addr, body string) rpcReply {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/RPC", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var r rpcReply
	require.NoError(t, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r), "JSON-RPC reply")
	return r
}

func call(t *testing.T, addr, method string, params any) json.RawMessage {
	t.Helper()
	p, err := json.Marshal(params)
	require.NoError(t, err)
	r := rpc(t, addr, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}`, method, p))
	require.Nil(t, r.Error, "%s: %+v", method, r.Error)
	return r.Result
}

// TestAdminAgainstDaemon drives the admin endpoint of a running tlsmux over HTTP while TLS
// connections are open: tls.info, tls.list with filters and a cursor walk, cfg.get and
// cfg.set_now_int changing behaviour at once, conn.close, errors, /metrics parsed by
// Prometheus's parser, tlsmux ctl, and core.shutdown ending the process.
func TestAdminAgainstDaemon(t *testing.T) {
	core, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{})
	require.NoError(t, err)
	defer core.Close()
	addr, logs, stop := startServe(t, "-listen", "tls:127.0.0.1:0", "-backend", "tcp:"+core.Addr().String(),
		"-admin", "127.0.0.1:0", "-shutdown-grace", "2s")
	m := regexp.MustCompile(`msg="admin endpoint" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, m, "admin endpoint logged:\n%s", logs.String())
	adm := m[1]

	const n = 30
	conns := make([]*tls.Conn, n)
	for i := range conns {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "sip.example.net"})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		msg := fmt.Sprintf("OPTIONS sip:core@example.net SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-%d\r\n"+
			"From: <sip:a@example.net>;tag=1\r\nTo: <sip:core@example.net>\r\nCall-ID: %d@admin\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", i, i)
		_, err = c.Write([]byte(msg))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err = c.Read(make([]byte, 2048)) // the core's 200
		require.NoError(t, err)
		conns[i] = c
	}

	var info admin.Info
	require.NoError(t, json.Unmarshal(call(t, adm, "tls.info", nil), &info))
	assert.EqualValues(t, n, info.OpenedConnections)
	assert.EqualValues(t, 100000, info.MaxConnections)
	assert.EqualValues(t, 64<<10, info.ConCtWqMax)
	assert.Positive(t, info.MemLimit, "the memory budget")

	// A cursor walk, 7 at a time, with a filter that matches all.
	type listed struct {
		Total       int    `json:"total"`
		NextCursor  string `json:"next_cursor"`
		Connections []struct {
			ID      uint64 `json:"id"`
			SNI     string `json:"sni"`
			State   string `json:"state"`
			Version string `json:"version"`
			BytesIn uint64 `json:"bytes_in"`
		} `json:"connections"`
	}
	seen := map[uint64]bool{}
	cursor := ""
	for {
		var l listed
		params := map[string]any{"limit": 7, "sni": "SIP.example.net"}
		if cursor != "" {
			params["cursor"] = cursor
		}
		require.NoError(t, json.Unmarshal(call(t, adm, "tls.list", params), &l))
		assert.Equal(t, n, l.Total)
		for _, c := range l.Connections {
			assert.False(t, seen[c.ID], "listed twice")
			seen[c.ID] = true
			assert.Equal(t, "proxying", c.State)
			assert.Equal(t, "TLSv1.3", c.Version)
			assert.Positive(t, c.BytesIn)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	assert.Len(t, seen, n)
	var none listed
	require.NoError(t, json.Unmarshal(call(t, adm, "tls.list", map[string]any{"peer": "10.0.0.0/8"}), &none))
	assert.Zero(t, none.Total, "no peer in 10/8")

	// conn.close: that client sees its connection end.
	var first listed
	require.NoError(t, json.Unmarshal(call(t, adm, "tls.list", map[string]any{"limit": 1}), &first))
	call(t, adm, "conn.close", []any{first.Connections[0].ID})
	r := rpc(t, adm, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"conn.close","params":[%d]}`, first.Connections[0].ID))
	require.NotNil(t, r.Error, "closing it again")
	assert.Equal(t, 404, r.Error.Code)

	// Errors name the problem.
	r = rpc(t, adm, `{"jsonrpc":"2.0","id":1,"method":"cfg.set_now_int","params":["tls","no_such",1]}`)
	require.NotNil(t, r.Error)
	assert.Equal(t, 404, r.Error.Code)
	r = rpc(t, adm, `{"jsonrpc":"2.0","id":1,"method":"cfg.set_now_int","params":["tls","send_close_notify",7]}`)
	require.NotNil(t, r.Error)
	assert.Contains(t, r.Error.Message, "send_close_notify")
	r = rpc(t, adm, `{"jsonrpc":"2.0","id":1,"method":`)
	require.NotNil(t, r.Error)
	assert.Equal(t, -32700, r.Error.Code)
	r = rpc(t, adm, `{"jsonrpc":"2.0","id":1,"method":"tls.nothing"}`)
	require.NotNil(t, r.Error)
	assert.Equal(t, -32601, r.Error.Code)

	// /metrics parses, and the counters show the connections.
	resp, err := http.Get("http://" + adm + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	resp.Body.Close()
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "/metrics in the Prometheus text format")
	require.Contains(t, fams, "tlsmux_handshakes_total")
	var hs float64
	for _, mt := range fams["tlsmux_handshakes_total"].Metric {
		hs += mt.GetCounter().GetValue()
	}
	assert.EqualValues(t, n, hs)
	require.Contains(t, fams, "tlsmux_accepted_total")
	assert.EqualValues(t, n, fams["tlsmux_accepted_total"].Metric[0].GetCounter().GetValue())

	// tlsmux ctl prints tls.info readably.
	var out, errb syncbuf.Buffer
	require.Equal(t, admin.CtlOK, admin.Ctl([]string{"-admin", adm, "tls.info"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "opened_connections")

	// cfg.set_now_int takes effect at once: an idle timeout of 1 s closes the idle clients.
	call(t, adm, "cfg.set_now_int", []any{"tls", "connection_timeout", 1})
	res := call(t, adm, "cfg.get", []any{"tls", "connection_timeout"})
	assert.Equal(t, "1", strings.TrimSpace(string(res)), "cfg.get: %s", res)
	deadline := time.Now().Add(10 * time.Second)
	for {
		require.NoError(t, json.Unmarshal(call(t, adm, "tls.info", nil), &info))
		if info.OpenedConnections == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "idle connections still open: %d", info.OpenedConnections)
		time.Sleep(50 * time.Millisecond) // polling the daemon's counter
	}

	// core.shutdown ends the process cleanly; ctl then cannot reach it.
	call(t, adm, "core.shutdown", nil)
	assert.Equal(t, exitOK, stop())
	var out2, errb2 syncbuf.Buffer
	assert.Equal(t, admin.CtlUnreachable, admin.Ctl([]string{"-admin", adm, "tls.info"}, &out2, &errb2))
	assert.Contains(t, errb2.String(), "cannot reach")
}
