package profile

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"github.com/tlsmux/tlsmux/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// secureTLS12 is crypto/tls's secure TLS 1.0–1.2 set, which is also its default.
func secureTLS12() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		if !isTLS13(cs.ID) {
			ids = append(ids, cs.ID)
		}
	}
	return ids
}

func sameSet(a, b []uint16) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestParseCiphers(t *testing.T) {
	const (
		ecdsaGCM128 = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
		ecdsaGCM256 = tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
		rsaGCM128   = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		rsaGCM256   = tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
		rsaChaCha   = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
		ecdsaChaCha = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	)
	var (
		secure   = secureTLS12()
		rsaOnly  = slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return suiteByID[id].tags&tAECDSA != 0 })
		aesOnly  = slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return suiteByID[id].tags&tCHACHA20 != 0 })
		noSHA1   = slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return suiteByID[id].tags&tSHA1 != 0 })
		gcm4     = []uint16{ecdsaGCM128, ecdsaGCM256, rsaGCM128, rsaGCM256}
		mozilla  = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
		tls13all = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}
	)
	tests := []struct {
		in            string
		suites        []uint16 // compared as sets; nil means nil
		ordered       bool     // compare suites in order
		tls13         []uint16
		insecure      []uint16
		unimplemented []string
		err           []string // substrings, one per expected error
	}{
		{in: ""},
		{in: "  :, "},
		{in: "ECDHE-ECDSA-AES128-GCM-SHA256", suites: []uint16{ecdsaGCM128}},
		{in: "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256", suites: []uint16{ecdsaGCM128}, tls13: []uint16{tls.TLS_AES_128_GCM_SHA256}},
		{in: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ecdhe-rsa-chacha20-poly1305", suites: []uint16{rsaGCM256, rsaChaCha}, ordered: true},
		{in: "ECDHE-RSA-CHACHA20-POLY1305 ECDHE-RSA-AES256-GCM-SHA384", suites: []uint16{rsaChaCha, rsaGCM256}, ordered: true},
		{in: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305:TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", suites: []uint16{rsaChaCha, ecdsaChaCha}},
		{in: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", suites: []uint16{rsaGCM128}},
		{in: "DEFAULT", suites: secure},
		{in: "HIGH:!aNULL:!MD5", suites: secure},
		{in: "ALL:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!3DES:!MD5:!PSK:@STRENGTH", suites: secure},
		{in: "default:@SECLEVEL=2", suites: secure},
		{in: "DEFAULT:!SSLv2:!SSLv3", suites: secure},
		{in: "DEFAULT:!ECDSA", suites: rsaOnly},
		{in: "DEFAULT:!CHACHA20", suites: aesOnly},
		{in: "DEFAULT:!SHA1", suites: noSHA1},
		{in: "ECDHE+AESGCM", suites: gcm4},
		{in: "EECDH+AESGCM:EDH+AESGCM", suites: gcm4, unimplemented: []string{"EDH+AESGCM"}},
		{in: "AESGCM+ECDSA", suites: []uint16{ecdsaGCM128, ecdsaGCM256}},
		{in: "AES", suites: slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return suiteByID[id].tags&tAES == 0 })},
		{in: "TLSv1.2", suites: append(slices.Clone(gcm4), rsaChaCha, ecdsaChaCha)},
		{in: "CHACHA20:+AES", suites: []uint16{rsaChaCha, ecdsaChaCha}},
		{in: "DEFAULT:-ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-SHA", suites: secure},
		{in: "DEFAULT:-ECDHE-RSA-AES128-SHA", suites: slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return id == tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA })},
		{in: "!ECDHE-RSA-AES128-SHA:DEFAULT", suites: slices.DeleteFunc(slices.Clone(secure), func(id uint16) bool { return id == tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA })},
		{in: "AES128-SHA", suites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}, insecure: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}},
		{in: "DEFAULT:DES-CBC3-SHA:RC4-SHA:ECDHE-ECDSA-AES128-SHA256",
			suites:   append(slices.Clone(secure), tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256),
			insecure: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_RC4_128_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}},
		{in: "!RC4:RC4-SHA:ECDHE-RSA-AES128-GCM-SHA256", suites: []uint16{rsaGCM128}},
		{in: "TLS_AES_128_GCM_SHA256", suites: []uint16{}, tls13: []uint16{tls.TLS_AES_128_GCM_SHA256}},
		{in: "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", suites: []uint16{}, tls13: tls13all},
		{in: mozilla, suites: []uint16{ecdsaGCM128, rsaGCM128, ecdsaGCM256, rsaGCM256, ecdsaChaCha, rsaChaCha}, ordered: true,
			unimplemented: []string{"DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"}},
		{in: "DEFAULT:!DHE-RSA-AES128-GCM-SHA256:!TLS_AES_128_CCM_SHA256", suites: secure},
		{in: "TLS_AES_128_CCM_SHA256:DEFAULT", suites: secure, unimplemented: []string{"TLS_AES_128_CCM_SHA256"}},

		{in: "FOO", err: []string{`unknown cipher "FOO"`}},
		{in: "FOO:DEFAULT:BAR", err: []string{`unknown cipher "FOO"`, `unknown cipher "BAR"`}},
		{in: "!aNULL", err: []string{"only removes or reorders suites"}},
		{in: "+AES:-RC4", err: []string{"only removes or reorders suites"}},
		{in: "kRSA", err: []string{`"kRSA" selects only cipher suites that crypto/tls treats as insecure`}},
		{in: "RC4", err: []string{"treats as insecure"}},
		{in: "SSLv3", err: []string{"treats as insecure"}},
		{in: "EXPORT:DEFAULT", suites: secure, unimplemented: []string{"EXPORT"}},
		{in: "ECDHE+PSK", err: []string{"no suite that crypto/tls implements (not implemented: ECDHE+PSK)"}},
		{in: "DEFAULT:!TLS_AES_128_GCM_SHA256", err: []string{"always enables the TLS 1.3 suites"}},
		{in: "DEFAULT:@FOO", err: []string{`unknown cipher directive "@FOO"`}},
		{in: "@SECLEVEL=9:DEFAULT", err: []string{"directive"}},
		{in: "!@STRENGTH:DEFAULT", err: []string{"directive"}},
		{in: "ECDHE+FOO", err: []string{`unknown cipher class "FOO" in "ECDHE+FOO"`}},
		{in: "ECDHE+ECDHE-RSA-AES128-SHA", err: []string{"'+' joins classes"}},
		{in: "ECDHE+", err: []string{`unknown cipher class "" in "ECDHE+"`}},
		{in: "!", err: []string{"empty cipher element"}},
		{in: "DHE-RSA-AES128-GCM-SHA256", err: []string{"no suite that crypto/tls implements (not implemented: DHE-RSA-AES128-GCM-SHA256)"}},
		{in: "DEFAULT:!DEFAULT", err: []string{"selects no cipher suite"}},
		{in: "ECDHE-ECDSA-AES128-GCM-SHA256:!ECDSA", err: []string{"selects no cipher suite"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := ParseCiphers(tt.in)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("no error, got %+v", c)
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				if got := len(strings.Split(err.Error(), "\n")); got != len(tt.err) {
					t.Errorf("%d errors, want %d: %v", got, len(tt.err), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tt.suites == nil) != (c.Suites == nil) {
				t.Fatalf("Suites = %#v, want %#v", c.Suites, tt.suites)
			}
			if tt.ordered && !slices.Equal(c.Suites, tt.suites) || !sameSet(c.Suites, tt.suites) {
				t.Errorf("Suites = %s, want %s", suiteList(c.Suites), suiteList(tt.suites))
			}
			if !slices.Equal(c.TLS13, tt.tls13) {
				t.Errorf("TLS13 = %v, want %v", c.TLS13, tt.tls13)
			}
			if !sameSet(c.Insecure, tt.insecure) {
				t.Errorf("Insecure = %s, want %s", suiteList(c.Insecure), suiteList(tt.insecure))
			}
			if !slices.Equal(c.Unimplemented, tt.unimplemented) {
				t.Errorf("Unimplemented = %v, want %v", c.Unimplemented, tt.unimplemented)
			}
			if got, _ := ParseCipherList(tt.in); !slices.Equal(got, c.Suites) {
				t.Errorf("ParseCipherList = %v, ParseCiphers.Suites = %v", got, c.Suites)
			}
		})
	}
}

func suiteList(ids []uint16) string {
	var names []string
	for _, id := range ids {
		names = append(names, tls.CipherSuiteName(id))
	}
	return "[" + strings.Join(names, " ") + "]"
}

// TestSuiteTableComplete keeps the table in step with crypto/tls: every suite Go implements
// has an OpenSSL name, the right insecure flag, and names and classes that agree.
func TestSuiteTableComplete(t *testing.T) {
	insecure := map[uint16]bool{}
	all := tls.CipherSuites()
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.ID] = true
		all = append(all, cs)
	}
	for _, cs := range all {
		if isTLS13(cs.ID) {
			if suiteNames[cs.Name] != cs.ID {
				t.Errorf("TLS 1.3 suite %s not parsed", cs.Name)
			}
			continue
		}
		s, ok := suiteByID[cs.ID]
		if !ok {
			t.Errorf("%s (%#04x) has no OpenSSL name", cs.Name, cs.ID)
			continue
		}
		if s.insecure != insecure[cs.ID] {
			t.Errorf("%s: insecure = %v", cs.Name, s.insecure)
		}
		for _, name := range []string{s.name, cs.Name, strings.ToLower(s.name)} {
			if id, ok := suiteNames[strings.ToUpper(name)]; !ok || id != cs.ID {
				t.Errorf("%s does not parse to %s", name, cs.Name)
			}
		}
		if unimplementedSuites[strings.ToUpper(s.name)] {
			t.Errorf("%s is both implemented and unimplemented", s.name)
		}
		// The OpenSSL name and the IANA name must describe the same suite.
		iana, ossl := cs.Name, s.name
		checks := []struct {
			tag        tag
			iana, ossl bool
		}{
			{tKECDHE, strings.HasPrefix(iana, "TLS_ECDHE_"), strings.HasPrefix(ossl, "ECDHE-")},
			{tKRSA, strings.HasPrefix(iana, "TLS_RSA_"), !strings.HasPrefix(ossl, "ECDHE-")},
			{tAECDSA, strings.Contains(iana, "_ECDSA_"), strings.Contains(ossl, "-ECDSA-")},
			{tAES128, strings.Contains(iana, "_AES_128_"), strings.Contains(ossl, "AES128")},
			{tAES256, strings.Contains(iana, "_AES_256_"), strings.Contains(ossl, "AES256")},
			{tAESGCM, strings.Contains(iana, "_GCM_"), strings.Contains(ossl, "-GCM-")},
			{tCHACHA20, strings.Contains(iana, "CHACHA20"), strings.Contains(ossl, "CHACHA20")},
			{t3DES, strings.Contains(iana, "3DES"), strings.Contains(ossl, "DES-CBC3")},
			{tRC4, strings.Contains(iana, "RC4"), strings.Contains(ossl, "RC4")},
			{tSHA1, strings.HasSuffix(iana, "_SHA"), strings.HasSuffix(ossl, "-SHA")},
			{tSHA256, strings.HasSuffix(iana, "_CBC_SHA256"), strings.HasSuffix(ossl, "-SHA256") && !strings.Contains(ossl, "GCM")},
		}
		for _, c := range checks {
			has := s.tags&c.tag != 0
			if c.iana != has || c.ossl != has {
				t.Errorf("%s / %s: tag %#x: IANA %v, OpenSSL %v, table %v", iana, ossl, c.tag, c.iana, c.ossl, has)
			}
		}
		if s.tags&(tKRSA|tKECDHE) == 0 || s.tags&(tARSA|tAECDSA) == 0 || s.tags&(tSSLv3|tTLSv1|tTLSv12) == 0 {
			t.Errorf("%s: incomplete tags %#x", ossl, s.tags)
		}
		// TLS 1.2-only suites must not claim an older origin (and vice versa).
		tls12Only := slices.Equal(cs.SupportedVersions, []uint16{tls.VersionTLS12})
		if tls12Only != (s.tags&tTLSv12 != 0) {
			t.Errorf("%s: TLSv1.2 class %v, crypto/tls versions %v", ossl, s.tags&tTLSv12 != 0, cs.SupportedVersions)
		}
	}
	if n := len(suiteTable); n != len(all)-3 {
		t.Errorf("table has %d suites, crypto/tls %d (TLS 1.0–1.2)", n, len(all)-3)
	}
	c, err := ParseCiphers("DEFAULT")
	if err != nil || !sameSet(c.Suites, secureTLS12()) {
		t.Errorf("DEFAULT = %s, %v; want crypto/tls's secure set", suiteList(c.Suites), err)
	}
}

// formatCiphers writes a parse result back as a cipher list, for round trips.
func formatCiphers(c Ciphers) string {
	var names []string
	for _, id := range c.Suites {
		names = append(names, suiteByID[id].name)
	}
	for _, id := range c.TLS13 {
		names = append(names, tls.CipherSuiteName(id))
	}
	return strings.Join(names, ":")
}

func FuzzParseCiphers(f *testing.F) {
	for _, s := range []string{
		"", "DEFAULT", "HIGH:!aNULL:!MD5", "ECDHE+AESGCM:!ECDSA", "AES128-SHA:DEFAULT:-AES",
		"TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256", "@STRENGTH:+RC4:ALL",
		"DHE-RSA-AES128-GCM-SHA256,ecdhe-rsa-aes256-sha TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
		"kRSA+AES128+SHA1", "!!", "+-!@", "ECDHE++AES",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCiphers(s)
		if err != nil {
			if c.Suites != nil || c.TLS13 != nil {
				t.Fatalf("error %v with a result %+v", err, c)
			}
			return
		}
		if c.Suites == nil {
			if len(splitList(s)) != 0 || c.TLS13 != nil || c.Insecure != nil {
				t.Fatalf("nil Suites for %q: %+v", s, c)
			}
			return
		}
		if len(c.Suites) == 0 && len(c.TLS13) == 0 {
			t.Fatalf("%q selected nothing without an error", s)
		}
		seen := map[uint16]bool{}
		for _, id := range c.Suites {
			if suiteByID[id] == nil || seen[id] {
				t.Fatalf("%q: bad or repeated suite %#04x", s, id)
			}
			seen[id] = true
		}
		for _, id := range c.Insecure {
			if !seen[id] || !suiteByID[id].insecure {
				t.Fatalf("%q: Insecure %#04x", s, id)
			}
		}
		for _, id := range c.TLS13 {
			if !isTLS13(id) {
				t.Fatalf("%q: TLS13 %#04x", s, id)
			}
		}
		again, err := ParseCiphers(formatCiphers(c))
		if err != nil || !slices.Equal(again.Suites, c.Suites) || !slices.Equal(again.TLS13, c.TLS13) || !slices.Equal(again.Insecure, c.Insecure) {
			t.Fatalf("round trip of %q via %q: %+v, %v; want %+v", s, formatCiphers(c), again, err, c)
		}
	})
}
