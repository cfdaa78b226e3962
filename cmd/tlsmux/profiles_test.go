package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/testcert"
)

// TestProfilesAndReload: with -tls-config, the server profile is chosen by SNI; tls.reload swaps
// in a new certificate for new connections while an open connection keeps working; a broken
// file is refused and the old profiles stay.
func TestProfilesAndReload(t *testing.T) {
	core, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{})
	require.NoError(t, err)
	defer core.Close()
	dir := t.TempDir()
	pki := testcert.MustNew()
	aCert, aKey, err := pki.WriteServerFiles(dir, "a.example.net")
	require.NoError(t, err)
	bCert, bKey, err := pki.WriteServerFiles(dir, "b.example.net")
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "tls.cfg")
	write := func(bKeyFile string) {
		require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(
			"[server:default]\ncertificate = %s\nprivate_key = %s\n\n[server:any]\nserver_name = b.example.net\ncertificate = %s\nprivate_key = %s\n",
			aCert, aKey, bCert, bKeyFile)), 0o600))
	}
	write(bKey)
	addr, logs, stop := startServe(t, "-listen", "tls:127.0.0.1:0", "-backend", "tcp:"+core.Addr().String(),
		"-tls-config", cfgFile, "-admin", "127.0.0.1:0", "-shutdown-grace", "1s")
	m := regexp.MustCompile(`msg="admin endpoint" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, m)
	adm := m[1]
	leaf := func(sni string) string {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool(), ServerName: sni})
		require.NoError(t, err, sni)
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames[0]
	}
	assert.Equal(t, "a.example.net", leaf("a.example.net"), "default profile")
	assert.Equal(t, "b.example.net", leaf("b.example.net"), "SNI profile")

	held, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool(), ServerName: "b.example.net"})
	require.NoError(t, err)
	defer held.Close()

	// A new certificate for b: reloaded through the RPC.
	b2Cert, b2Key, err := pki.WriteServerFiles(dir, "b.example.net", "b2.example.net")
	require.NoError(t, err)
	require.NoError(t, os.Rename(b2Cert, bCert))
	require.NoError(t, os.Rename(b2Key, bKey))
	var res struct {
		Changed []string `json:"changed"`
	}
	require.NoError(t, json.Unmarshal(call(t, adm, "tls.reload", nil), &res))
	assert.NotEmpty(t, res.Changed)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pki.Pool(), ServerName: "b.example.net"})
	require.NoError(t, err)
	assert.Contains(t, c.ConnectionState().PeerCertificates[0].DNSNames, "b2.example.net", "new connections get the new certificate")
	c.Close()

	// A broken file: refused, and the profiles in force keep serving.
	write(filepath.Join(dir, "missing.key"))
	r := rpc(t, adm, `{"jsonrpc":"2.0","id":1,"method":"tls.reload"}`)
	require.NotNil(t, r.Error, "a reload naming a missing key fails")
	assert.Equal(t, "b.example.net", leaf("b.example.net"))
	_, err = held.Write([]byte("\r\n\r\n")) // the connection from before the reloads still works
	assert.NoError(t, err)
	assert.Equal(t, exitOK, stop())
}
