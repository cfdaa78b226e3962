package profile

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Session ticket keys.
const (
	// maxTicketKeys bounds a -ticket-keys file: one key encrypts, the others only decrypt
	// tickets still in circulation, so a handful covers any rotation schedule.
	maxTicketKeys = 16
	// ticketKeyRotation and ticketKeyLifetime are crypto/tls's own policy for the keys it makes
	// (common.go), which the in-process keys follow: a new encrypting key every day, old keys
	// kept to decrypt for a week (crypto/tls also refuses tickets older than 7 days).
	ticketKeyRotation = 24 * time.Hour
	ticketKeyLifetime = 7 * 24 * time.Hour
)

// ParseTicketKeys parses a session ticket key file (-ticket-keys): one key per line, newest
// first, each 32 random bytes written as 64 hexadecimal digits or in base64 (standard or URL
// alphabet, padding optional); blank lines and lines starting with '#' are ignored. The first
// key encrypts new tickets; every key decrypts. Make one with `openssl rand -hex 32`.
//
// At most 16 keys; a key listed twice, or all zero, is an error. Errors name the line.
func ParseTicketKeys(data []byte) ([][32]byte, error) {
	var (
		keys [][32]byte
		errs []error
	)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, err := decodeTicketKey(line)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("line %d: %w", i+1, err))
			continue
		case k == [32]byte{}:
			errs = append(errs, fmt.Errorf("line %d: the key is all zeros: write 32 random bytes (openssl rand -hex 32)", i+1))
			continue
		case len(keys) == maxTicketKeys:
			errs = append(errs, fmt.Errorf("line %d: more than %d keys: drop the oldest (the last lines)", i+1, maxTicketKeys))
			return nil, errors.Join(errs...)
		}
		for j, prev := range keys {
			if bytes.Equal(prev[:], k[:]) {
				errs = append(errs, fmt.Errorf("line %d: same key as key %d", i+1, j+1))
			}
		}
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key: want one 32-byte key per line, in hex or base64, newest first (openssl rand -hex 32)")
	}
	return keys, nil
}

func decodeTicketKey(s string) ([32]byte, error) {
	var k [32]byte
	if b, err := hex.DecodeString(s); err == nil {
		if len(b) != 32 {
			return k, fmt.Errorf("%d hexadecimal digits, want 64 (32 bytes)", len(s))
		}
		copy(k[:], b)
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return k, fmt.Errorf("the key is %d bytes, want 32", len(b))
			}
			copy(k[:], b)
			return k, nil
		}
	}
	return k, errors.New("not 64 hexadecimal digits nor base64 of 32 bytes")
}

// deriveTicketKeys derives a profile's ticket keys from the shared secrets: HMAC-SHA256 keyed
// by each secret over the profile's name and what its peers were verified against. So
//   - every process holding the same secrets (a -ticket-keys file shared by instances behind
//     SO_REUSEPORT or a load balancer, or one process across reloads) derives the same keys,
//     and a ticket resumes wherever the same profile serves it;
//   - a ticket issued under one profile cannot resume under another (other SNI, other CAs):
//     crypto/tls would otherwise accept it, as it does not re-verify a resumed peer against the
//     new ClientCAs;
//   - changing a profile's CAs, verification mode or depth retires its tickets.
func deriveTicketKeys(secrets [][32]byte, name string, auth [32]byte) [][32]byte {
	out := make([][32]byte, len(secrets))
	for i, s := range secrets {
		m := hmac.New(sha256.New, s[:])
		m.Write([]byte("tlsmux session ticket key v1\x00"))
		m.Write([]byte(name))
		m.Write([]byte{0})
		m.Write(auth[:])
		m.Sum(out[i][:0])
	}
	return out
}
