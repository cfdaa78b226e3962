package record

import (
	"bytes"
	"testing"
)

func TestParseHeader(t *testing.T) {
	typ, vers, n, ok := ParseHeader([]byte{22, 3, 1, 0x01, 0x02, 9})
	if !ok || typ != Handshake || vers != 0x0301 || n != 0x102 {
		t.Fatalf("ParseHeader = %v %x %d %v", typ, vers, n, ok)
	}
	if _, _, _, ok := ParseHeader([]byte{22, 3, 1, 0}); ok {
		t.Fatal("ParseHeader accepted 4 bytes")
	}
	if got := AppendHeader(nil, Alert, 0x0303, 2); !bytes.Equal(got, []byte{21, 3, 3, 0, 2}) {
		t.Fatalf("AppendHeader = % x", got)
	}
	if Handshake.String() != "handshake" || ContentType(99).String() != "content_type(99)" {
		t.Fatal("ContentType.String")
	}
}

func hs(body ...byte) []byte { return append([]byte{22, 3, 1, 0, byte(len(body))}, body...) }

func TestScanClientHello(t *testing.T) {
	hello := []byte{1, 0, 0, 3, 0xa, 0xb, 0xc} // ClientHello of 3 body bytes
	cases := []struct {
		name string
		in   []byte
		need int
		err  error
	}{
		{"empty", nil, 9, nil},
		{"one record", hs(hello...), 0, nil},
		{"trailing bytes ignored", append(hs(hello...), 0xff, 0xff), 0, nil},
		{"record header only", hs(hello...)[:5], 4, nil},
		{"partial header", []byte{22, 3}, 7, nil},
		{"message header split", append(hs(1, 0), hs(0, 3, 0xa, 0xb, 0xc)...), 0, nil},
		{"after split header", hs(1, 0), 7, nil}, // 2 header bytes and the next record header
		{"body cut", hs(hello...)[:9], 3, nil},
		{"body spans records", append(hs(1, 0, 0, 3, 0xa), hs(0xb)...), 6, nil},
		{"empty ClientHello", hs(1, 0, 0, 0), 0, nil},
		{"plain SIP", []byte("OPTIONS"), 0, ErrNotTLS},
		{"SIP first byte", []byte("O"), 0, ErrNotTLS},
		{"SSLv2", []byte{0x80, 0x2e}, 0, ErrNotTLS},
		{"version 2", []byte{22, 2}, 0, ErrVersion},
		{"second record version", append(hs(1, 0), 22, 4), 0, ErrVersion},
		{"overflow", []byte{22, 3, 1, 0x48, 1}, 0, ErrOverflow},
		{"max length ok", []byte{22, 3, 1, 0x48, 0}, 4, nil},
		{"zero length", []byte{22, 3, 1, 0, 0}, 0, ErrEmpty},
		{"not ClientHello", hs(2, 0, 0, 0), 0, ErrNotClientHello},
		{"alert after partial hello", append(hs(1, 0), 21), 0, ErrNotHandshake},
		{"CCS after partial hello", append(hs(1, 0), 20, 3, 3, 0, 1, 1), 0, ErrNotHandshake},
	}
	for _, tcase := range cases {
		t.Run(tcase.name, func(t *testing.T) {
			need, err := ScanClientHello(tcase.in)
			if err != tcase.err || need != tcase.need {
				t.Fatalf("ScanClientHello = %d, %v; want %d, %v", need, err, tcase.need, tcase.err)
			}
			complete, err := ClientHelloComplete(tcase.in)
			if err != tcase.err || complete != (tcase.err == nil && tcase.need == 0) {
				t.Fatalf("ClientHelloComplete = %v, %v", complete, err)
			}
			// Incremental scanning, one byte at a time, reaches the same verdict.
			var s HelloScanner
			var need2 int
			var err2 error
			for i := 0; i <= len(tcase.in); i++ {
				if need2, err2 = s.Scan(tcase.in[:i]); err2 != nil {
					break
				}
			}
			if err2 != tcase.err || (err2 == nil && need2 != tcase.need) {
				t.Fatalf("incremental Scan = %d, %v", need2, err2)
			}
		})
	}
}

// checkScan holds the invariants of ScanClientHello on any input, shared by the fuzz target.
func checkScan(t *testing.T, data []byte, step int) {
	need, err := ScanClientHello(data)
	if need < 0 || (err != nil && need != 0) {
		t.Fatalf("ScanClientHello = %d, %v", need, err)
	}
	// Monotonic: every prefix that is complete or refused gives the same verdict on the whole.
	// And need is a lower bound: no prefix shorter than len+need completes.
	var s HelloScanner
	for i := 0; i <= len(data); i += step {
		pn, perr := ScanClientHello(data[:i])
		sn, serr := s.Scan(data[:i])
		if pn != sn || perr != serr {
			t.Fatalf("prefix %d: stateless %d,%v; incremental %d,%v", i, pn, perr, sn, serr)
		}
		if perr != nil {
			if perr != err {
				t.Fatalf("prefix %d refused with %v, whole input with %v", i, perr, err)
			}
			return
		}
		if pn == 0 {
			if err != nil || need != 0 {
				t.Fatalf("prefix %d complete, whole input %d, %v", i, need, err)
			}
			return
		}
		if i+pn > len(data) {
			continue
		}
		if n, e := ScanClientHello(data[:i+pn-1]); e == nil && n == 0 && pn > 1 {
			t.Fatalf("prefix %d needs %d, but %d bytes complete it", i, pn, i+pn-1)
		}
	}
}

// checkMax: with a size limit, the verdict is the same whether the bytes come at once or one at a
// time, and a caller storing at most Max bytes gets one by then.
func checkMax(t *testing.T, data []byte, limit int) {
	whole := HelloScanner{Max: limit}
	wn, werr := whole.Scan(data[:min(len(data), limit)])
	inc := HelloScanner{Max: limit}
	var in int
	var ierr error
	for i := 0; i <= min(len(data), limit); i++ {
		if in, ierr = inc.Scan(data[:i]); ierr != nil || in == 0 {
			break
		}
	}
	if wn != in || werr != ierr {
		t.Fatalf("Max %d: whole %d,%v; byte by byte %d,%v", limit, wn, werr, in, ierr)
	}
	if len(data) >= limit && werr == nil && wn != 0 {
		t.Fatalf("Max %d: %d bytes given, still %d needed and no ErrTooBig", limit, len(data), wn)
	}
}

func TestScanMax(t *testing.T) {
	hello := hs(1, 0, 0, 3, 0xa, 0xb, 0xc) // 12 bytes
	for limit := 1; limit <= 14; limit++ {
		var s HelloScanner
		s.Max = limit
		need, err := s.Scan(hello[:min(len(hello), limit)])
		switch {
		case limit >= 12 && (err != nil || need != 0):
			t.Errorf("Max %d: %d, %v; want complete", limit, need, err)
		case limit < 12 && err != ErrTooBig:
			t.Errorf("Max %d: %d, %v; want ErrTooBig", limit, need, err)
		}
		checkMax(t, hello, limit)
	}
	// Found where the record ends: no room for another header.
	split := append(hs(1, 0, 0, 3, 0xa), hs(0xb, 0xc)...) // 10 + 7 bytes
	var s HelloScanner
	s.Max = 16
	if _, err := s.Scan(split[:10]); err != ErrTooBig {
		t.Errorf("split hello, Max 16: %v at the record boundary", err)
	}
}

func FuzzScanClientHello(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 7, 1, 0, 0, 3, 0xa, 0xb, 0xc}, uint8(1))
	f.Add([]byte{22, 3, 1, 0, 2, 1, 0, 22, 3, 1, 0, 5, 0, 3, 0xa, 0xb, 0xc}, uint8(3))
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\n"), uint8(1))
	f.Add([]byte{22, 3, 1, 0x48, 1}, uint8(1))
	f.Add([]byte{22, 3, 1, 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		checkScan(t, data, 1+int(step%16))
		checkMax(t, data, 1+int(step)*4)
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 5})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, vers, n, ok := ParseHeader(data)
		if ok != (len(data) >= HeaderLen) {
			t.Fatalf("ok = %v for %d bytes", ok, len(data))
		}
		if !ok {
			return
		}
		// Round trip through AppendHeader.
		if got := AppendHeader(nil, typ, vers, n); !bytes.Equal(got, data[:HeaderLen]) {
			t.Fatalf("AppendHeader(ParseHeader(% x)) = % x", data[:HeaderLen], got)
		}
		if n > 0xffff {
			t.Fatalf("length %d", n)
		}
	})
}
