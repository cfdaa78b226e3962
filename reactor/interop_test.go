package reactor_test

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/syncbuf"
	"github.com/tlsmux/tlsmux/reactor"
)

// sClient runs `openssl s_client` against e with args added, sends each message on its stdin
// and checks that the echo on its stdout is the same bytes, then closes stdin, which makes
// s_client send close_notify and exit (-no_ign_eof). It returns what s_client printed on stderr:
// with -brief, the protocol version and cipher as OpenSSL names them.
func sClient(t *testing.T, e *env, args []string, msgs ...[]byte) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH")
	}
	caFile, err := e.pki.WriteCAFile(t.TempDir())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"s_client",
		"-connect", e.addr,
		"-CAfile", caFile,
		"-servername", "sip.example.net",
		"-verify_return_error", // fail the handshake unless tlsmux's certificate verifies
		"-quiet",               // nothing but the peer's data on stdout...
		"-brief",               // ...and a summary of the session on stderr
		"-no_ign_eof",          // after -quiet: end the session when stdin ends
		"-nocommands",          // never read a line of SIP as a command letter (R, K, Q)
	}, args...)...)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := false
	defer func() {
		if !exited {
			cancel() // kills s_client
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("openssl s_client stderr:\n%s", stderr.String())
		}
	}()
	for i, msg := range msgs {
		_, err := stdin.Write(msg)
		require.NoError(t, err, "message %d to s_client", i)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(stdout, got) // ends with EOF if s_client dies or ctx kills it
		require.NoError(t, err, "echo of message %d (%d bytes) from s_client", i, len(msg))
		require.True(t, bytes.Equal(msg, got), "echo of message %d (%d bytes) differs", i, len(msg))
	}
	require.NoError(t, stdin.Close())
	rest, err := io.ReadAll(stdout)
	require.NoError(t, err)
	assert.Empty(t, rest, "s_client printed more than the echoes")
	exited = true
	require.NoError(t, cmd.Wait(), "s_client's exit status")
	return stderr.String()
}

// briefField returns the value of a "Name: value" line of s_client's -brief summary.
func briefField(t testing.TB, summary, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: (.*)$`).FindStringSubmatch(summary)
	require.NotNil(t, m, "no %q in the s_client summary:\n%s", name, summary)
	return m[1]
}

// TestOpenSSLClient: OpenSSL's s_client, another TLS stack than crypto/tls and the one many
// phones and SBCs embed, verifies tlsmux's certificate, its SIP crosses to the core and back
// byte for byte, and the version and cipher tlsmux tells the core in PROXY v2 are spelled as
// OpenSSL itself prints them.
func TestOpenSSLClient(t *testing.T) {
	var co sipcore.Options
	conns := coreConns(&co)
	e := start(t, setup{core: co, opts: func(o *reactor.Options) { o.ProxyProtocol = forward.V2 }})
	for i, v := range []struct{ flag, name string }{
		{"-tls1_2", "TLSv1.2"},
		{"-tls1_3", "TLSv1.3"},
	} {
		t.Run(v.name, func(t *testing.T) {
			summary := sClient(t, e, []string{v.flag},
				sipMessage(t, 10*i, 300), sipMessage(t, 10*i+1, 4000), sipMessage(t, 10*i+2, 40000))
			assert.Equal(t, "OK", briefField(t, summary, "Verification"))
			assert.Equal(t, v.name, briefField(t, summary, "Protocol version"))
			ci := nextConn(t, conns)
			ssl, ok := tlvparse.FindSSL(ci.TLVs)
			require.True(t, ok, "no PP2_TYPE_SSL")
			version, _ := ssl.SSLVersion()
			assert.Equal(t, v.name, version, "SSL_VERSION")
			cipher, _ := ssl.SSLCipher()
			assert.Equal(t, briefField(t, summary, "Ciphersuite"), cipher, "SSL_CIPHER, as OpenSSL names it")
			assert.Equal(t, "127.0.0.1", ci.Source.Addr().String(), "source address")
			waitFor(t, "tlsmux to count s_client's close_notify", func() bool {
				return e.srv.Stats().Closed["client_closed"] == uint64(i+1)
			})
		})
	}
}

// TestOpenSSLClientCertificate: s_client presents a client certificate to the mTLS profile.
func TestOpenSSLClientCertificate(t *testing.T) {
	e, _, conns := startMTLS(t)
	dir := t.TempDir()
	certFile, keyFile, err := e.pki.WriteClientFiles(dir, "alice")
	require.NoError(t, err)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		t.Run(v, func(t *testing.T) {
			sClient(t, e, []string{v, "-cert", certFile, "-key", keyFile}, sipMessage(t, 0, 500))
			ssl, ok := tlvparse.FindSSL(nextConn(t, conns).TLVs)
			require.True(t, ok, "no PP2_TYPE_SSL")
			cn, _ := ssl.ClientCN()
			assert.Equal(t, "alice", cn)
			assert.True(t, ssl.Verified())
			assert.True(t, ssl.ClientCertConn())
		})
	}
}
