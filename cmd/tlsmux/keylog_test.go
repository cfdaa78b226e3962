package main

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/sipcore"
	"github.com/tlsmux/tlsmux/internal/syncbuf"
	"github.com/tlsmux/tlsmux/reactor"
)

// startServe runs the real serve path with args in this process and returns the listening
// address; stop sends it SIGTERM through its own signal channel and returns the exit status.
func startServe(t *testing.T, args ...string) (addr string, logs *syncbuf.Buffer, stop func() int) {
	t.Helper()
	logs = &syncbuf.Buffer{}
	sig := make(chan os.Signal, 1)
	started := make(chan *reactor.Server, 1)
	code := make(chan int, 1)
	go func() { code <- serve(args, logs, sig, func(s *reactor.Server) { started <- s }) }()
	select {
	case s := <-started:
		addr = s.Addrs()[0].String()
	case c := <-code:
		t.Fatalf("serve exited with %d:\n%s", c, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs.String())
	}
	var once sync.Once
	status := exitFailed
	stop = func() int {
		once.Do(func() {
			select {
			case sig <- syscall.SIGTERM:
			default: // one is pending already (core.shutdown sent it)
			}
			select {
			case status = <-code:
			case <-time.After(20 * time.Second):
				t.Errorf("no exit after SIGTERM:\n%s", logs.String())
			}
		})
		return status
	}
	t.Cleanup(func() { stop() })
	return addr, logs, stop
}

// recorder keeps a copy of every byte read from the connection: a capture of what the server
// sent, as tshark would have it.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// TestKeylogDecryptsCapture: with -keylog-file, the secrets tlsmux logs decrypt a capture of its
// traffic. The capture is the byte stream the client received; the server's application traffic
// secret from the log gives the record key and IV (RFC 8446 §7.3), which must open the record
// that carries the echoed SIP message.
func TestKeylogDecryptsCapture(t *testing.T) {
	core, err := sipcore.Listen("127.0.0.1:0", sipcore.Options{})
	require.NoError(t, err)
	defer core.Close()
	keylog := filepath.Join(t.TempDir(), "keys.log")
	addr, logs, stop := startServe(t, "-listen", "tls:127.0.0.1:0", "-backend", "tcp:"+core.Addr().String(),
		"-keylog-file", keylog, "-shutdown-grace", "1s")
	assert.Contains(t, logs.String(), "TLS SECRETS ARE BEING WRITTEN", "logged loudly")

	raw, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	rec := &recorder{Conn: raw}
	c := tls.Client(rec, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	msg := []byte("OPTIONS sip:core@example.net SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-k1\r\n" +
		"From: <sip:a@example.net>;tag=1\r\nTo: <sip:core@example.net>\r\nCall-ID: keylog@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	_, err = c.Write(msg)
	require.NoError(t, err)
	reply := make([]byte, 4096)
	n, err := c.Read(reply)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(reply[:n], []byte("SIP/2.0 200")), "the core answered: %q", reply[:n])
	if cs := c.ConnectionState().CipherSuite; cs != tls.TLS_AES_128_GCM_SHA256 {
		t.Skipf("negotiated %s; this check decrypts AES-128-GCM only", tls.CipherSuiteName(cs))
	}
	require.Equal(t, exitOK, stop(), "stopped, so the key log is complete")

	secret := keylogSecret(t, keylog, "SERVER_TRAFFIC_SECRET_0")
	key := expandLabel(t, secret, "key", 16)
	iv := expandLabel(t, secret, "iv", 12)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)

	// Walk the captured records; the application-data records under the server's traffic key
	// are numbered from 0 after those under its handshake key, which this key does not open.
	rec.mu.Lock()
	stream := bytes.Clone(rec.got.Bytes())
	rec.mu.Unlock()
	var seq uint64
	var found bool
	for len(stream) >= 5 {
		hdr := stream[:5]
		l := int(binary.BigEndian.Uint16(hdr[3:]))
		require.LessOrEqual(t, 5+l, len(stream), "whole records")
		body := stream[5 : 5+l]
		stream = stream[5+l:]
		if hdr[0] != 0x17 {
			continue // ServerHello, ChangeCipherSpec
		}
		nonce := bytes.Clone(iv)
		for i := range 8 {
			nonce[4+i] ^= byte(seq >> (56 - 8*i))
		}
		plain, err := aead.Open(nil, nonce, body, hdr)
		if err != nil {
			continue // a handshake-key record
		}
		seq++
		plain = bytes.TrimRight(plain, "\x00")
		if plain[len(plain)-1] == 0x17 && bytes.HasPrefix(plain, []byte("SIP/2.0 200")) {
			found = true
		}
	}
	assert.True(t, found, "the logged secret decrypts the core's answer in the capture")
}

// keylogSecret returns the secret of the one line with label in an NSS key log file.
func keylogSecret(t *testing.T, path, label string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "secrets are readable by the owner only")
	var secrets [][]byte
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == label {
			s, err := hex.DecodeString(fields[2])
			require.NoError(t, err)
			secrets = append(secrets, s)
		}
	}
	require.Len(t, secrets, 1, "one connection, one %s line", label)
	return secrets[0]
}

// expandLabel is HKDF-Expand-Label of RFC 8446 §7.1 with SHA-256 and an empty context.
func expandLabel(t *testing.T, secret []byte, label string, n int) []byte {
	t.Helper()
	full := "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(full))}
	info = append(info, full...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	require.NoError(t, err)
	return out
}
