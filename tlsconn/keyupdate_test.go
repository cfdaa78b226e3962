package tlsconn

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// keyLog collects the secrets a Go peer logs through tls.Config.KeyLogWriter (NSS key log format).
type keyLog struct {
	mu    sync.Mutex
	lines []string
}

func (k *keyLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lines = append(k.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

func (k *keyLog) secret(t *testing.T, label string) []byte {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, l := range k.lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == label {
			b, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the key log", label)
	return nil
}

// sealer13 is a hand-built TLS 1.3 record protection layer (RFC 8446 §5.2, §5.3, §7.1-7.3) for the
// client's write direction: the Go client has no API to send a KeyUpdate, so the test writes the
// client's records itself from its logged traffic secret.
type sealer13 struct {
	hash   func() hash.Hash
	keyLen int
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

func newSealer13(t *testing.T, suite uint16, secret []byte) *sealer13 {
	s := &sealer13{secret: secret}
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		s.hash, s.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		s.hash, s.keyLen = sha512.New384, 32
	default:
		t.Skipf("suite %s: this test only builds AES-GCM records", tls.CipherSuiteName(suite))
	}
	s.rekey(t)
	return s
}

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
func (s *sealer13) expandLabel(t *testing.T, secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := []byte{byte(n >> 8), byte(n), byte(len(full))}
	info = append(info, full...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(s.hash, secret, string(info), n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *sealer13) rekey(t *testing.T) {
	block, err := aes.NewCipher(s.expandLabel(t, s.secret, "key", s.keyLen))
	if err != nil {
		t.Fatal(err)
	}
	if s.aead, err = cipher.NewGCM(block); err != nil {
		t.Fatal(err)
	}
	s.iv = s.expandLabel(t, s.secret, "iv", 12)
	s.seq = 0
}

// update moves to the next traffic secret, as after sending a KeyUpdate (RFC 8446 §7.2).
func (s *sealer13) update(t *testing.T) {
	s.secret = s.expandLabel(t, s.secret, "traffic upd", s.hash().Size())
	s.rekey(t)
}

// seal returns one protected record carrying content of the given inner type (RFC 8446 §5.2).
func (s *sealer13) seal(typ byte, content []byte) []byte {
	inner := append(append([]byte{}, content...), typ)
	n := len(inner) + s.aead.Overhead()
	hdr := []byte{23, 3, 3, byte(n >> 8), byte(n)}
	nonce := append([]byte{}, s.iv...)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(s.seq >> (8 * i))
	}
	s.seq++
	return s.aead.Seal(append([]byte{}, hdr...), nonce, inner, hdr)
}

func keyUpdateMsg(requested bool) []byte {
	b := []byte{24, 0, 0, 1, 0} // key_update (RFC 8446 §4.6.3)
	if requested {
		b[4] = 1
	}
	return b
}

// TestKeyUpdate: the client updates its keys twice after the handshake, the first time asking
// for an update in return and with the KeyUpdate message split across two records. The server must
// decrypt everything under the right keys at any feeding granularity, answer with its own
// KeyUpdate and keep writing under its new key, which the Go client must accept.
func TestKeyUpdate(t *testing.T) {
	for _, sp := range splitters {
		t.Run(sp.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				kl := &keyLog{}
				cli := clientConfig()
				cli.KeyLogWriter = kl
				tc := newServerTest(t, serverConfig(), cli, Options{})
				tc.split = sp.fn()
				tc.handshake()
				s := newSealer13(t, tc.c.Attrs().CipherSuite, kl.secret(t, "CLIENT_TRAFFIC_SECRET_0"))

				var stream []byte
				stream = append(stream, s.seal(23, []byte("A-before-update"))...)
				ku := keyUpdateMsg(true)
				stream = append(stream, s.seal(22, ku[:2])...)
				stream = append(stream, s.seal(22, ku[2:])...)
				s.update(t)
				stream = append(stream, s.seal(23, []byte("B-after-update"))...)
				stream = append(stream, s.seal(22, keyUpdateMsg(false))...)
				s.update(t)
				stream = append(stream, s.seal(23, []byte("C-after-second-update"))...)

				tc.feed(stream)
				if tc.err != nil {
					t.Fatalf("Feed: %v", tc.err)
				}
				tc.wantPlain("across two key updates", []byte("A-before-updateB-after-updateC-after-second-update"))
				if tc.c.Pending() == 0 {
					t.Fatal("no KeyUpdate answer in the output")
				}
				tc.write([]byte("reply-under-new-key"))
				tc.pump()
				tc.wantPeerGot("after our KeyUpdate", []byte("reply-under-new-key"))
				if err := tc.peerReadErr(); err != nil {
					t.Fatalf("peer: %v", err)
				}
			})
		})
	}
}

// TestKeyUpdateWithTrailingHandshake: a KeyUpdate followed by more handshake bytes in the same
// record is refused (RFC 8446 §5.1: a KeyUpdate must end its record; CVE-2025-61730). crypto/tls
// fails that Read without making the error sticky, so the Conn must: Feed never reads again.
func TestKeyUpdateWithTrailingHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kl := &keyLog{}
		cli := clientConfig()
		cli.KeyLogWriter = kl
		tc := newServerTest(t, serverConfig(), cli, Options{})
		tc.handshake()
		s := newSealer13(t, tc.c.Attrs().CipherSuite, kl.secret(t, "CLIENT_TRAFFIC_SECRET_0"))
		bad := append(keyUpdateMsg(false), 24, 0)
		tc.feed(s.seal(22, bad))
		tc.wantErr("KeyUpdate with trailing bytes", ReasonProtocol, UnexpectedMessage)
		// Under the old key this record would decrypt; the Conn must not even try.
		next := s.seal(23, []byte("after"))
		if plain, err := tc.c.Feed(next, nil); err != tc.err || len(plain) != 0 {
			t.Fatalf("Feed after the error: %q %v", plain, err)
		}
		if out := tc.c.AppendOutput(nil); len(out) == 0 {
			t.Fatal("no alert in the output")
		}
	})
}
