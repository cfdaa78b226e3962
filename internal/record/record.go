// Package record parses the TLS record layer framing that arrives before any key is agreed: record
// headers (RFC 8446 §5.1, RFC 5246 §6.2.1) and the ClientHello handshake message that may span several
// records (RFC 8446 §4, §5.1: "Handshake messages MAY be coalesced into a single TLSPlaintext record or
// fragmented across several records").
//
// tlsconn uses it to check, before spending any CPU on cryptography, that a new connection speaks TLS
// and to know when a whole ClientHello is buffered, and to find record boundaries in a ciphertext
// stream. Its functions read the bytes they are given, allocate nothing and never panic on any
// bytes (fuzzed); HelloScanner.Scan panics only if its caller's buffer shrinks, which is a bug.
//
// Usage, as a server accumulates a client's first bytes in buf:
//
//	s := record.HelloScanner{Max: 16389}
//	buf = append(buf, p...)
//	need, err := s.Scan(buf) // err: ErrNotTLS (plain SIP), ErrOverflow, ErrTooBig, ...
//	if err == nil && need == 0 {
//		// a whole ClientHello is in buf: start the handshake
//	}
//
// Concurrency: the functions are safe to call from any goroutine; a HelloScanner belongs to one
// goroutine at a time.
//
// # Limitations
//
// Only framing is checked: record header fields and the 4-byte handshake message header. The body of
// the ClientHello is not parsed (crypto/tls does that once the handshake starts). SSLv2-compatible
// hellos (first byte 0x80) are reported as not TLS, as crypto/tls refuses them too.
package record

import (
	"errors"
	"strconv"
)

// ContentType is the TLS record content type (RFC 8446 §5.1).
type ContentType uint8

// Content types that may appear on the wire.
const (
	ChangeCipherSpec ContentType = 20
	Alert            ContentType = 21
	Handshake        ContentType = 22
	ApplicationData  ContentType = 23
)

// String returns the RFC name of t.
func (t ContentType) String() string {
	switch t {
	case ChangeCipherSpec:
		return "change_cipher_spec"
	case Alert:
		return "alert"
	case Handshake:
		return "handshake"
	case ApplicationData:
		return "application_data"
	}
	return "content_type(" + strconv.Itoa(int(t)) + ")"
}

const (
	// HeaderLen is the length of a record header: type, legacy version, length (RFC 8446 §5.1).
	HeaderLen = 5
	// MaxPlaintext is the largest fragment a record may carry (2^14, RFC 8446 §5.1).
	MaxPlaintext = 1 << 14
	// MaxCiphertext is the largest record length accepted: 2^14 + 2048 (RFC 5246 §6.2.3). TLS 1.3
	// lowers it to 2^14 + 256 for protected records (RFC 8446 §5.2); crypto/tls applies the
	// larger bound until a version is negotiated, and so do we, so that we never refuse a hello
	// that crypto/tls would take.
	MaxCiphertext = MaxPlaintext + 2048

	// HandshakeHeaderLen is the length of a handshake message header: type and uint24 length
	// (RFC 8446 §4).
	HandshakeHeaderLen = 4
	// TypeClientHello is the handshake message type of a ClientHello (RFC 8446 §4).
	TypeClientHello = 1
)

// Errors returned by ScanClientHello and ClientHelloComplete. Each one maps to one refusal reason
// and alert in tlsconn; they are returned as is (never wrapped) so callers may compare with ==.
var (
	// ErrNotTLS: the first byte is not a handshake record (0x16). Typically plain SIP sent to the
	// TLS port, or an SSLv2 hello. No alert is useful: the peer does not speak TLS.
	ErrNotTLS = errors.New("record: first byte is not a TLS handshake record")
	// ErrVersion: a record's legacy_record_version major byte is not 3 (RFC 8446 §5.1 and
	// Appendix D: every TLS version and SSL 3.0 use 3.x).
	ErrVersion = errors.New("record: record version is not 3.x")
	// ErrOverflow: a record declares a length above MaxCiphertext (RFC 8446 §5.1: terminate
	// with record_overflow).
	ErrOverflow = errors.New("record: record length exceeds 2^14+2048")
	// ErrEmpty: a zero-length handshake record (RFC 8446 §5.1: "Implementations MUST NOT send
	// zero-length fragments of Handshake types").
	ErrEmpty = errors.New("record: zero-length handshake record")
	// ErrNotHandshake: a record of another type arrives before the ClientHello is complete
	// (RFC 8446 §5.1: handshake messages MUST NOT be interleaved with other record types).
	ErrNotHandshake = errors.New("record: non-handshake record inside the ClientHello")
	// ErrNotClientHello: the first handshake message is not a ClientHello (RFC 8446 §4.1.2: the
	// client sends a ClientHello first).
	ErrNotClientHello = errors.New("record: first handshake message is not a ClientHello")
	// ErrTooBig: the ClientHello and its record headers cannot fit in HelloScanner.Max bytes.
	ErrTooBig = errors.New("record: ClientHello exceeds the size limit")
)

// ParseHeader parses the record header at the start of b. ok is false when b holds fewer than
// HeaderLen bytes. No field is validated.
func ParseHeader(b []byte) (typ ContentType, vers uint16, length int, ok bool) {
	if len(b) < HeaderLen {
		return 0, 0, 0, false
	}
	return ContentType(b[0]), uint16(b[1])<<8 | uint16(b[2]), int(b[3])<<8 | int(b[4]), true
}

// AppendHeader appends a record header to dst.
func AppendHeader(dst []byte, typ ContentType, vers uint16, length int) []byte {
	return append(dst, byte(typ), byte(vers>>8), byte(vers), byte(length>>8), byte(length))
}

// ClientHelloComplete reports whether buf, the first bytes a client sent, holds a whole ClientHello
// message. err is non-nil as soon as the bytes present prove the stream is not a valid start of a
// TLS handshake; see ScanClientHello.
func ClientHelloComplete(buf []byte) (complete bool, err error) {
	need, err := ScanClientHello(buf)
	return err == nil && need == 0, err
}

// ScanClientHello checks the framing of buf, the first bytes a client sent, and returns how many
// more bytes are needed before a whole ClientHello message is buffered: 0 when it is complete, else a
// lower bound (it counts missing message and header bytes of records it can see, not the headers of
// records yet to come). Bytes after the end of the ClientHello message are not examined: crypto/tls
// reads them.
//
// Every complete record header is checked (type, version major, length) and so is each partial one
// as far as it goes, so plain text is refused after its first byte.
func ScanClientHello(buf []byte) (need int, err error) {
	var s HelloScanner
	return s.Scan(buf)
}

// HelloScanner is ScanClientHello made incremental, for a buffer that grows: each Scan resumes where
// the previous one stopped, so feeding a hello in n pieces costs O(len) in total, not O(n·len) (a
// client sending one-byte records must not make us rescan thousands of them on every read). The
// zero value is ready to use.
//
// With Max set, the scanner also refuses a hello that cannot fit in Max bytes (ErrTooBig), at the
// first byte of the stream that proves it: where the message length is read, or where a record
// ends with the message incomplete and too little room left for another header and the rest. The
// verdict therefore depends only on the bytes, never on how they were split across Scans, and a
// caller that stores at most Max bytes sees ErrTooBig at the latest when its buffer is full.
type HelloScanner struct {
	// Max bounds the bytes up to the end of the ClientHello, record headers included; 0 means
	// no bound. Set it before the first Scan.
	Max int

	off      int // bytes of the stream already scanned
	inRecord int // fragment bytes of the current record not yet scanned; 0 at a record boundary
	started  bool
	msgHdr   [HandshakeHeaderLen]byte
	msgHdrN  int // bytes of the handshake message header seen
	msgLeft  int // message body bytes still to see, once msgHdrN == HandshakeHeaderLen
	err      error
	done     bool
}

// Scan is ScanClientHello over buf, which must start with the bytes given to every earlier Scan of
// s (the buffer may only grow). Once Scan has returned an error or 0, it keeps returning them.
func (s *HelloScanner) Scan(buf []byte) (need int, err error) {
	if s.err != nil || s.done {
		return 0, s.err
	}
	if len(buf) < s.off {
		panic("record: HelloScanner.Scan on a shorter buffer")
	}
	need, err = s.scan(buf)
	if err != nil {
		s.err = err
	} else if need == 0 {
		s.done = true
	}
	return need, err
}

func (s *HelloScanner) scan(buf []byte) (need int, err error) {
	for {
		if s.inRecord == 0 {
			// At a record boundary with the message incomplete: another header and the missing
			// bytes must still fit.
			if s.Max > 0 && s.off+HeaderLen+s.missing() > s.Max {
				return 0, ErrTooBig
			}
			b := buf[s.off:]
			if err := checkPartialHeader(b, !s.started); err != nil {
				return 0, err
			}
			// checkPartialHeader has refused every type but Handshake and every version but 3.x.
			_, _, length, ok := ParseHeader(b)
			if !ok {
				if s.Max > 0 && len(buf) >= s.Max {
					return 0, ErrTooBig
				}
				return s.missing() + HeaderLen - len(b), nil
			}
			if length > MaxCiphertext {
				return 0, ErrOverflow
			}
			if length == 0 {
				return 0, ErrEmpty
			}
			s.started = true
			s.off += HeaderLen
			s.inRecord = length
		}
		for s.inRecord > 0 && s.off < len(buf) {
			if s.msgHdrN < HandshakeHeaderLen {
				s.msgHdr[s.msgHdrN] = buf[s.off]
				s.msgHdrN++
				s.off++
				s.inRecord--
				if s.msgHdrN == 1 && s.msgHdr[0] != TypeClientHello {
					return 0, ErrNotClientHello
				}
				if s.msgHdrN == HandshakeHeaderLen {
					s.msgLeft = int(s.msgHdr[1])<<16 | int(s.msgHdr[2])<<8 | int(s.msgHdr[3])
					if s.msgLeft == 0 {
						return 0, nil
					}
					if s.Max > 0 && s.off+s.msgLeft > s.Max {
						return 0, ErrTooBig
					}
				}
				continue
			}
			k := min(s.msgLeft, s.inRecord, len(buf)-s.off)
			s.msgLeft -= k
			s.inRecord -= k
			s.off += k
			if s.msgLeft == 0 {
				return 0, nil
			}
		}
		if s.inRecord > 0 {
			// The record is cut short by the end of buf; the rest of it is needed at least.
			if s.Max > 0 && len(buf) >= s.Max {
				return 0, ErrTooBig
			}
			return max(s.missing(), 1), nil
		}
	}
}

// missing is the number of handshake message bytes not yet seen, as far as the header tells.
func (s *HelloScanner) missing() int {
	if s.msgHdrN < HandshakeHeaderLen {
		return HandshakeHeaderLen - s.msgHdrN
	}
	return s.msgLeft
}

// checkPartialHeader validates the header bytes present at the start of b, however few.
func checkPartialHeader(b []byte, first bool) error {
	if len(b) >= 1 && ContentType(b[0]) != Handshake {
		if first {
			return ErrNotTLS
		}
		return ErrNotHandshake
	}
	if len(b) >= 2 && b[1] != 3 {
		return ErrVersion
	}
	return nil
}
