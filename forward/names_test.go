package forward

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// opensslNames is the oracle for CipherName, copied by hand from OpenSSL's TLS1_TXT_* and
// SSL3_TXT_* macros (include/openssl/tls1.h, ssl3.h) rather than derived from our code.
var opensslNames = map[uint16]string{
	0x1301: "TLS_AES_128_GCM_SHA256",
	0x1302: "TLS_AES_256_GCM_SHA384",
	0x1303: "TLS_CHACHA20_POLY1305_SHA256",
	0xc02b: "ECDHE-ECDSA-AES128-GCM-SHA256",
	0xc02c: "ECDHE-ECDSA-AES256-GCM-SHA384",
	0xc02f: "ECDHE-RSA-AES128-GCM-SHA256",
	0xc030: "ECDHE-RSA-AES256-GCM-SHA384",
	0xcca8: "ECDHE-RSA-CHACHA20-POLY1305",
	0xcca9: "ECDHE-ECDSA-CHACHA20-POLY1305",
	0xc009: "ECDHE-ECDSA-AES128-SHA",
	0xc00a: "ECDHE-ECDSA-AES256-SHA",
	0xc013: "ECDHE-RSA-AES128-SHA",
	0xc014: "ECDHE-RSA-AES256-SHA",
	0xc023: "ECDHE-ECDSA-AES128-SHA256",
	0xc027: "ECDHE-RSA-AES128-SHA256",
	0xc012: "ECDHE-RSA-DES-CBC3-SHA",
	0xc007: "ECDHE-ECDSA-RC4-SHA",
	0xc011: "ECDHE-RSA-RC4-SHA",
	0x009c: "AES128-GCM-SHA256",
	0x009d: "AES256-GCM-SHA384",
	0x002f: "AES128-SHA",
	0x0035: "AES256-SHA",
	0x003c: "AES128-SHA256",
	0x000a: "DES-CBC3-SHA",
	0x0005: "RC4-SHA",
}

// TestCipherNameEveryGoSuite: every suite crypto/tls can negotiate has its OpenSSL name.
func TestCipherNameEveryGoSuite(t *testing.T) {
	suites := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	for _, s := range suites {
		want, ok := opensslNames[s.ID]
		if !ok {
			t.Errorf("crypto/tls has %s (%#04x): add its OpenSSL name to CipherName and this table", s.Name, s.ID)
			continue
		}
		if got := CipherName(s.ID); got != want {
			t.Errorf("CipherName(%s) = %q, want %q", s.Name, got, want)
		}
	}
	if len(suites) != len(opensslNames) {
		t.Errorf("crypto/tls lists %d suites, the table %d", len(suites), len(opensslNames))
	}
}

func TestCipherNameFallback(t *testing.T) {
	for _, id := range []uint16{0x0000, 0x00ff, 0xc0ff, 0xffff} {
		if got, want := CipherName(id), tls.CipherSuiteName(id); got != want {
			t.Errorf("CipherName(%#04x) = %q, want crypto/tls's %q", id, got, want)
		}
	}
}

// TestCipherNameMatchesOpenSSL asks the installed openssl, when there is one, for the names of
// the suites it still knows (OpenSSL 3 builds usually lack RC4 and 3DES).
func TestCipherNameMatchesOpenSSL(t *testing.T) {
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl binary")
	}
	out, err := exec.Command(path, "ciphers", "-V", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
	if err != nil {
		t.Skipf("openssl ciphers: %v", err)
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "          0xC0,0x2B - ECDHE-ECDSA-AES128-GCM-SHA256  TLSv1.2 Kx=ECDH ..."
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "-" {
			continue
		}
		hi, lo, ok := strings.Cut(fields[0], ",")
		if !ok {
			continue
		}
		h, err1 := strconv.ParseUint(strings.TrimPrefix(hi, "0x"), 16, 8)
		l, err2 := strconv.ParseUint(strings.TrimPrefix(lo, "0x"), 16, 8)
		if err1 != nil || err2 != nil {
			continue
		}
		id := uint16(h<<8 | l)
		if _, ours := opensslNames[id]; !ours {
			continue
		}
		seen++
		if got := CipherName(id); got != fields[2] {
			t.Errorf("CipherName(%#04x) = %q, openssl says %q", id, got, fields[2])
		}
	}
	if seen == 0 {
		t.Skip("openssl listed none of Go's suites")
	}
	t.Logf("%d of %d names checked against openssl", seen, len(opensslNames))
}

func TestNamesDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		_ = CipherName(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	}); n != 0 {
		t.Errorf("%v allocs, want 0", n)
	}
}
