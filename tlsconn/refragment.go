package tlsconn

import "github.com/tlsmux/tlsmux/internal/record"

// helloFragment is the largest plaintext record refragment emits. crypto/tls's record buffer
// (rawInput) grows to hold the largest record it ever reads and never shrinks (golang/go#43563),
// and the ClientHello record is often the largest a SIP phone sends: a Go or OpenSSL 3.5 client
// with a post-quantum key share sends ~1.9 KB. 512 bytes plus the header fit the buffer's first
// allocation (crypto/tls grows it by the record header plus bytes.MinRead), so the handshake
// leaves rawInput at that size.
const helloFragment = 512

// refragment rewrites the leading plaintext handshake records of buf, which hold exactly one
// ClientHello, as records of at most helloFragment bytes, and appends everything after them
// unchanged. Handshake messages may be fragmented across records (RFC 8446 §5.1, RFC 5246 §6.2.1),
// and these records are not yet protected, so the peer's bytes mean the same to crypto/tls. If the
// records do not hold exactly one ClientHello (another message shares its last record), buf is
// returned unchanged: a key change must not fall inside a record we wrote. n is how many bytes of
// buf the ClientHello records took.
func refragment(dst, buf []byte) (out []byte, n int, ok bool) {
	var body []byte // concatenated handshake payload
	var vers uint16
	rest := buf
	msgLen := -1
	for {
		typ, v, n, ok := record.ParseHeader(rest)
		if !ok || typ != record.Handshake || len(rest) < record.HeaderLen+n {
			return nil, 0, false
		}
		if vers == 0 {
			vers = v
		}
		body = append(body, rest[record.HeaderLen:record.HeaderLen+n]...)
		rest = rest[record.HeaderLen+n:]
		if msgLen < 0 && len(body) >= record.HandshakeHeaderLen {
			msgLen = record.HandshakeHeaderLen + (int(body[1])<<16 | int(body[2])<<8 | int(body[3]))
		}
		if msgLen >= 0 && len(body) >= msgLen {
			break
		}
	}
	if len(body) != msgLen {
		return nil, 0, false
	}
	n = len(buf) - len(rest)
	for len(body) > 0 {
		k := min(len(body), helloFragment)
		dst = record.AppendHeader(dst, record.Handshake, vers, k)
		dst = append(dst, body[:k]...)
		body = body[k:]
	}
	return append(dst, rest...), n, true
}

// refragmentHello returns the pooled buffer holding b's bytes with the ClientHello re-framed, or b
// itself when refragment leaves it alone.
func refragmentHello(b *[]byte) *[]byte {
	out := getBuf()
	if r, _, ok := refragment((*out)[:0], *b); ok {
		*out = r
		putBuf(b)
		return out
	}
	putBuf(out)
	return b
}
