package profile

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/tlscfg from the current output")

// goldenSep separates a golden file's tls.cfg from the expected output: a line of dashes.
var goldenSep = regexp.MustCompile(`(?m)^-{3,}\n`)

// TestGolden loads every testdata/tlscfg/*.txt: the tls.cfg above the line of dashes, against
// the fixture PKI (files named server.pem, ca.pem, crl.pem, ... in the config's directory), and
// compares the profiles, warnings or errors with the text below it. -update rewrites them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/tlscfg/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	f := newPKIFixture(t)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			parts := goldenSep.Split(string(data), 2)
			if len(parts) != 2 {
				t.Fatalf("%s: no line of dashes", file)
			}
			input, want := parts[0], parts[1]
			cfg := f.writeConfig(t, "tls.cfg", input)
			set, err := Load(f.options(cfg))
			got := f.stable(renderLoad(set, err, f.dir))
			if *update {
				sep := goldenSep.FindString(string(data))
				if err := os.WriteFile(file, []byte(input+sep+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s: output differs (-update rewrites it)\n--- got\n%s--- want\n%s", file, got, want)
			}
		})
	}
}

// renderLoad prints a load's result with the fixture directory removed from paths.
func renderLoad(set *Set, err error, dir string) string {
	var b strings.Builder
	if err != nil {
		b.WriteString("errors:\n")
		for _, e := range splitJoined(err) {
			b.WriteString("  " + e.Error() + "\n")
		}
	} else {
		for _, p := range set.Profiles() {
			b.WriteString(renderProfile(p))
		}
		if w := set.Warnings(); len(w) > 0 {
			b.WriteString("warnings:\n")
			for _, line := range w {
				b.WriteString("  " + line + "\n")
			}
		}
	}
	return strings.ReplaceAll(b.String(), dir+"/", "")
}

func renderProfile(p *Profile) string {
	var b strings.Builder
	s := &p.Settings
	fmt.Fprintf(&b, "%s (%s)\n", p.Name, s.Source)
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %s = %s\n", k, v)
		}
	}
	kv("tls_method", s.TLSMethod)
	kv("certificate", s.Certificate)
	kv("private_key", s.PrivateKey)
	kv("ca_list", s.CAList)
	kv("ca_dir", s.CADir)
	kv("crl", s.CRL)
	kv("crl_dir", s.CRLDir)
	kv("cipher_list", s.CipherList)
	kv("curves", s.Curves)
	kv("server_id", s.ServerID)
	kv("verify_client", s.VerifyClient.String())
	cfg := p.Config()
	a := s.auth()
	fmt.Fprintf(&b, "  => versions %s-%s", strings.TrimPrefix(versionLabel(cfg.MinVersion), "TLS "), strings.TrimPrefix(versionLabel(cfg.MaxVersion), "TLS "))
	if s.Role == RoleServer {
		fmt.Fprintf(&b, ", client auth %v", cfg.ClientAuth)
	} else {
		verify := "off"
		switch {
		case a.noCA:
			verify = "informational"
		case a.request:
			verify = "required"
		}
		fmt.Fprintf(&b, ", server verification %s", verify)
		if s.MatchWildcard {
			b.WriteString(" (wildcards allowed)")
		}
	}
	if a.request {
		fmt.Fprintf(&b, ", verify_depth %d", s.VerifyDepth)
	}
	if p.ver.crls != nil {
		fmt.Fprintf(&b, ", %d CRLs", p.ver.crls.count)
		if !s.CRLCheckAll {
			b.WriteString(" (leaf only)")
		}
	}
	if s.SessionCache {
		b.WriteString(", session cache")
	}
	if p.Info.Generated {
		b.WriteString(", generated certificate")
	}
	b.WriteString("\n")
	return b.String()
}

func versionLabel(v uint16) string {
	switch v {
	case 0x0301:
		return "1.0"
	case 0x0302:
		return "1.1"
	case 0x0303:
		return "1.2"
	case 0x0304:
		return "1.3"
	}
	return strconv.Itoa(int(v))
}

// TestParseLimits checks that each parser bound is enforced and reported.
func TestParseLimits(t *testing.T) {
	big := strings.Repeat("# padding\n", maxConfigSize/10+1)
	if _, err := parseConfig("tls.cfg", []byte(big)); err == nil || !strings.Contains(err.Error(), "more than the 1048576") {
		t.Errorf("size: %v", err)
	}
	long := "[server:default]\ncertificate = " + strings.Repeat("x", maxLineLen) + "\n"
	if _, err := parseConfig("tls.cfg", []byte(long)); err == nil || !strings.Contains(err.Error(), "tls.cfg:2: [server:default] line is") {
		t.Errorf("line: %v", err)
	}
	var many strings.Builder
	for i := 0; i <= maxSections; i++ {
		fmt.Fprintf(&many, "[server:any]\nserver_name = h%d.example.com\n", i)
	}
	if _, err := parseConfig("tls.cfg", []byte(many.String())); err == nil || !strings.Contains(err.Error(), "more than 4096 sections") {
		t.Errorf("sections: %v", err)
	}
	var bad strings.Builder
	bad.WriteString("[server:default]\n")
	for i := 0; i < 2*maxErrors; i++ {
		bad.WriteString("nonsense = 1\n")
	}
	_, err := parseConfig("tls.cfg", []byte(bad.String()))
	if errs := splitJoined(err); len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Error(), "stopped checking") {
		t.Errorf("errors: %d, last %v", len(errs), errs[len(errs)-1])
	}
}

// TestParseValues checks value syntax: quoting, escapes, comments, Kamailio's booleans.
func TestParseValues(t *testing.T) {
	for _, tt := range []struct{ line, value, err string }{
		{`k = v`, "v", ""},
		{`k=v # comment`, "v", ""},
		{`k = "a b # c"`, "a b # c", ""},
		{`k = "a\"b\\c\n"`, "a\"b\\c\n", ""},
		{`k = a\ b\#c`, "a b#c", ""},
		{`k = "unterminated`, "", "missing closing"},
		{`k = a b`, "", `unexpected "b"`},
		{`k = "a" b`, "", `unexpected "b"`},
		{`k =`, "", "value missing"},
		{`k = # nothing`, "", "value missing"},
		{`k = ""`, "", "value missing"},
		{`k = a\`, "", "line continuations"},
		{`k = a\q`, "", `unsupported escape \q`},
		{`k v`, "", "want key = value"},
		{`k-x = v`, "", "bad key"},
	} {
		_, v, err := parseOption(tt.line)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil || v != tt.value {
			t.Errorf("%s: %q, %v; want %q", tt.line, v, err, tt.value)
		}
	}
	for word, want := range kamailioBools {
		for _, w := range []string{word, strings.ToUpper(word)} {
			ss, _, err := parseSettings("/etc/tls.cfg", []byte("[server:default]\ncertificate = c.pem\nverify_certificate = "+w+"\n"), "/")
			if err != nil || ss[0].VerifyCertificate != want {
				t.Errorf("%s: %v %v", w, ss, err)
			}
		}
	}
}

// TestResolvePath checks Kamailio's three path rules.
func TestResolvePath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/etc/ssl/a.pem", "/etc/ssl/a.pem"},
		{"./a.pem", "/run/cwd/a.pem"},
		{"../a.pem", "/run/a.pem"},
		{".hidden.pem", "/run/cwd/.hidden.pem"}, // Kamailio: anything starting with '.'
		{"a.pem", "/etc/tlsmux/a.pem"},
		{"sub/a.pem", "/etc/tlsmux/sub/a.pem"},
	} {
		if got := resolvePath(tt.in, "/etc/tlsmux/tls.cfg", "/run/cwd"); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.in, got, tt.want)
		}
	}
}

// formatSettings writes settings back as a tls.cfg, every value quoted: the round trip of
// FuzzParse.
func formatSettings(ss []Settings) string {
	var b strings.Builder
	q := func(v string) string {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
		return `"` + r.Replace(v) + `"`
	}
	yn := map[bool]string{true: "yes", false: "no"}
	for _, s := range ss {
		target := s.Addr.String()
		switch s.Target {
		case TargetDefault:
			target = "default"
		case TargetAny:
			target = "any"
		}
		fmt.Fprintf(&b, "[%s:%s]\n", s.Role, target)
		for _, kv := range [][2]string{
			{"tls_method", s.TLSMethod}, {"certificate", s.Certificate}, {"private_key", s.PrivateKey},
			{"ca_list", s.CAList}, {"ca_dir", s.CADir}, {"crl", s.CRL}, {"crl_dir", s.CRLDir},
			{"cipher_list", s.CipherList}, {"curves", s.Curves}, {"server_name", s.ServerName},
			{"server_id", s.ServerID}, {"verify_client", s.VerifyClient.String()},
		} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "%s = %s\n", kv[0], q(kv[1]))
			}
		}
		fmt.Fprintf(&b, "verify_certificate = %s\nrequire_certificate = %s\nsession_cache = %s\ncrl_check_all = %s\n",
			yn[s.VerifyCertificate], yn[s.RequireCertificate], yn[s.SessionCache], yn[s.CRLCheckAll])
		if s.Role == RoleClient {
			fmt.Fprintf(&b, "match_wildcard = %s\n", yn[s.MatchWildcard])
		}
		if s.ServerName != "" {
			fmt.Fprintf(&b, "server_name_mode = %d\n", s.ServerNameMode)
		}
		fmt.Fprintf(&b, "verify_depth = %d\n\n", s.VerifyDepth)
	}
	return b.String()
}

// stripSource strips what depends on where a setting was written.
func stripSource(ss []Settings) []Settings {
	out := make([]Settings, len(ss))
	for i, s := range ss {
		s.lines, s.header, s.Source = nil, 0, ""
		out[i] = s
	}
	return out
}

// FuzzParse parses arbitrary tls.cfg text: it must never panic, and whatever it accepts must
// survive a round trip through formatSettings unchanged.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/tlscfg/*.txt")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err == nil {
			f.Add(goldenSep.Split(string(data), 2)[0])
		}
	}
	f.Add("[server:[::1]:5061]\nserver_name = \"a\\tb\"\n")
	f.Add("[ c : all ]\nserver_name=x\nserver_id = \"#\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		ss, _, err := parseSettings("/etc/tlsmux/tls.cfg", []byte(text), "/run")
		if err != nil {
			return
		}
		again, _, err := parseSettings("/etc/tlsmux/tls.cfg", []byte(formatSettings(ss)), "/run")
		if err != nil {
			t.Fatalf("reformatted config fails: %v\n%s", err, formatSettings(ss))
		}
		if a, b := stripSource(ss), stripSource(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%s", a, b, formatSettings(ss))
		}
	})
}
