package forward

import (
	"bufio"
	"encoding/hex"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/golden/*.txt from the encoder")

// goldenSep splits a golden file into the case (the Facts, as "key: value" lines) and the
// expected output (hex.Dump of the header, or "error: ..." ).
const goldenSep = "----------\n"

// TestGolden encodes each testdata/golden case and compares the bytes with the file. Review a
// diff after -update by reading the hex dump against the spec; the round trip through
// go-proxyproto runs on every case as well.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(data), goldenSep)
			if !ok {
				t.Fatalf("%s: no %q line", file, strings.TrimSpace(goldenSep))
			}
			p, f := parseGoldenCase(t, in)
			hdr, err := AppendHeader(nil, p, f)
			got := hex.Dump(hdr)
			if err != nil {
				got = "error: " + err.Error() + "\n"
			}
			if *update {
				if err := os.WriteFile(file, []byte(in+goldenSep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s: got\n%s\nwant\n%s", file, got, want)
			}
			if err == nil {
				checkRoundTrip(t, p, f, hdr)
			}
		})
	}
}

// parseGoldenCase reads "key: value" lines (values may be Go-quoted); # starts a comment.
func parseGoldenCase(t *testing.T, in string) (ProxyProtocol, Facts) {
	t.Helper()
	var (
		p ProxyProtocol
		f Facts
	)
	sc := bufio.NewScanner(strings.NewReader(in))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("line %q is not key: value", line)
		}
		val = strings.TrimSpace(val)
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			val = u
		}
		var err error
		switch key {
		case "proxy":
			p, err = ParseProxyProtocol(val)
		case "src":
			f.Src, err = netip.ParseAddrPort(val)
		case "dst":
			f.Dst, err = netip.ParseAddrPort(val)
		case "tls":
			f.TLS, err = strconv.ParseBool(val)
		case "version":
			f.Version = val
		case "cipher":
			f.Cipher = val
		case "sigalg":
			f.SigAlg = val
		case "keyalg":
			f.KeyAlg = val
		case "sni":
			f.SNI = val
		case "cn":
			f.ClientCN = val
		case "clientcert":
			f.ClientCert, err = strconv.ParseBool(val)
		case "resumed":
			f.Resumed, err = strconv.ParseBool(val)
		case "clientcertder":
			f.ClientCertDER, err = hex.DecodeString(strings.ReplaceAll(val, " ", ""))
		case "verify":
			var v uint64
			v, err = strconv.ParseUint(val, 10, 32)
			f.VerifyResult = uint32(v)
		default:
			t.Fatalf("unknown key %q", key)
		}
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	return p, f
}
