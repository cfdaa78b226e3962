package profile

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// sniConfig has a plain section and server names of every mode on 192.0.2.1:5061, one more
// address, [server:any] sections and a default, each with its own certificate so that a
// handshake shows which profile served it.
const sniConfig = `
[server:default]
certificate = default.pem
private_key = default.key

[server:192.0.2.1:5061]
certificate = plain.pem
private_key = plain.key

[server:192.0.2.1:5061]
server_name = sip.example.com
certificate = exact.pem
private_key = exact.key

[server:192.0.2.1:5061]
server_name = example.com
server_name_mode = 2
certificate = sub.pem
private_key = sub.key

[server:192.0.2.1:5061]
server_name = b.example.com
server_name_mode = 2
certificate = subb.pem
private_key = subb.key

[server:192.0.2.1:5061]
server_name = example.org
server_name_mode = 1
certificate = org.pem
private_key = org.key

[server:[2001:db8::1]:5061]
certificate = v6.pem
private_key = v6.key

[server:any]
server_name = example.net
server_name_mode = 1
certificate = any.pem
private_key = any.key

[server:any]
server_name = sip.example.com
certificate = anyexact.pem
private_key = anyexact.key
`

var sniProfiles = []string{"default", "plain", "exact", "sub", "subb", "org", "v6", "any", "anyexact"}

func loadSNISet(t *testing.T, f *pkiFixture, extra string) *Set {
	t.Helper()
	for _, n := range sniProfiles {
		c, err := f.serverCA.Server(n + ".profile.test")
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM, err := testcert.CertKeyPEM(c)
		if err != nil {
			t.Fatal(err)
		}
		writeBytes(t, f.path(n+".pem"), certPEM)
		writeBytes(t, f.path(n+".key"), keyPEM)
	}
	set, err := Load(f.options(f.writeConfig(t, "tls.cfg", sniConfig+extra)))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// profileTag is which fixture certificate a profile serves ("exact", "any", ...).
func profileTag(p *Profile) string {
	return strings.TrimSuffix(p.Settings.Certificate[strings.LastIndexByte(p.Settings.Certificate, '/')+1:], ".pem")
}

var sniCases = []struct {
	local, sni, want string
}{
	{"192.0.2.1:5061", "sip.example.com", "exact"},
	{"192.0.2.1:5061", "SIP.Example.COM.", "exact"},         // case-insensitive, trailing dot
	{"192.0.2.1:5061", "a.sip.example.com", "sub"},          // mode 2 parent
	{"192.0.2.1:5061", "x.b.example.com", "subb"},           // the longest parent wins
	{"192.0.2.1:5061", "b.example.com", "sub"},              // mode 2 excludes the name itself, so its parent's
	{"192.0.2.1:5061", "example.com", "plain"},              // mode 2 excludes the apex
	{"192.0.2.1:5061", "example.org", "org"},                // mode 1: the name
	{"192.0.2.1:5061", "voice.example.org", "org"},          // mode 1: below it
	{"192.0.2.1:5061", "example.net", "any"},                // [server:any] beats the address's plain section
	{"192.0.2.1:5061", "a.example.net", "any"},              //
	{"192.0.2.1:5061", "", "plain"},                         // no SNI: the address's profile
	{"192.0.2.1:5061", "unknown.test", "plain"},             //
	{"[::ffff:192.0.2.1]:5061", "sip.example.com", "exact"}, // dual-stack socket
	{"192.0.2.1:5062", "sip.example.com", "anyexact"},       // other port: [server:any] only
	{"192.0.2.1:5062", "", "default"},                       //
	{"192.0.2.2:5061", "a.example.net", "any"},              //
	{"192.0.2.2:5061", "example.org", "default"},            // address-bound names stay there
	{"[2001:db8::1]:5061", "", "v6"},                        //
	{"[2001:db8::1%eth0]:5061", "", "v6"},                   // zone dropped
	{"[2001:db8::1]:5061", "a.example.net", "any"},          //
}

func TestMatch(t *testing.T) {
	f := newPKIFixture(t)
	set := loadSNISet(t, f, "")
	for _, tt := range sniCases {
		if got := profileTag(set.Match(netip.MustParseAddrPort(tt.local), tt.sni)); got != tt.want {
			t.Errorf("Match(%s, %q) = %s, want %s", tt.local, tt.sni, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		set.ServerConfig(netip.MustParseAddrPort("192.0.2.1:5061"))
		set.Match(netip.MustParseAddrPort("192.0.2.1:5061"), "Voice.Example.ORG")
	}); n != 0 {
		t.Errorf("ServerConfig+Match allocate %v times per connection", n)
	}
	hello := &tls.ClientHelloInfo{ServerName: "x.b.example.com"}
	sel := set.ServerConfig(netip.MustParseAddrPort("192.0.2.1:5061"))
	if n := testing.AllocsPerRun(100, func() { sel.GetConfigForClient(hello) }); n != 0 {
		t.Errorf("GetConfigForClient allocates %v times per connection", n)
	}
	// An address with nothing to refine gets its profile's config itself; so does every address
	// when there is no [server:any].
	set2, err := Load(f.options(f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\n[server:192.0.2.1:5061]\ncertificate = server.pem\nprivate_key = server.key\n")))
	if err != nil {
		t.Fatal(err)
	}
	for local, name := range map[string]string{"192.0.2.1:5061": "server:192.0.2.1:5061", "192.0.2.9:5061": "server:default"} {
		if got := set2.ServerConfig(netip.MustParseAddrPort(local)); got != set2.Profile(name).Config() || got.GetConfigForClient != nil {
			t.Errorf("%s: not the profile's own config", local)
		}
	}
}

// TestSNIHandshakes serves real handshakes on a loopback address listed in the file, through
// ServerConfig's per-address config, and checks that the certificate the client receives is
// the profile Match names.
func TestSNIHandshakes(t *testing.T) {
	f := newPKIFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// The same sections on the loopback address the test listens on.
	extra := strings.ReplaceAll(sniConfig[strings.Index(sniConfig, "[server:192.0.2.1:5061]"):strings.Index(sniConfig, "[server:[2001")],
		"192.0.2.1:5061", fmt.Sprintf("127.0.0.1:%d", port))
	extra = strings.NewReplacer("server_name = sip.example.com", "server_name = sip.example.com.lo",
		"server_name = example.com", "server_name = example.com.lo", "server_name = b.example.com", "server_name = b.example.com.lo",
		"server_name = example.org", "server_name = example.org.lo").Replace(extra)
	set := loadSNISet(t, f, extra)
	for _, sni := range []string{"sip.example.com.lo", "a.example.com.lo", "x.b.example.com.lo", "example.org.lo", "a.example.net", "", "nothing.test"} {
		for _, vers := range []uint16{tls12, tls13} {
			t.Run(sni+"/"+versionName(vers), func(t *testing.T) {
				done := make(chan netip.AddrPort, 1)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						done <- netip.AddrPort{}
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(handshakeSafetyTimeout))
					local := c.LocalAddr().(*net.TCPAddr).AddrPort()
					tc := tls.Server(c, set.ServerConfig(local))
					if tc.Handshake() == nil {
						io.WriteString(tc, serverGreeting)
					}
					done <- local
				}()
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(handshakeSafetyTimeout))
				cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: vers, MaxVersion: vers}
				tc := tls.Client(c, cfg)
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				got := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
				local := <-done
				want := profileTag(set.Match(local, sni)) + ".profile.test"
				if got != want {
					t.Errorf("SNI %q on %s: served %s, Match says %s", sni, local, got, want)
				}
			})
		}
	}
}

func TestClientMatch(t *testing.T) {
	f := newPKIFixture(t)
	set, err := Load(f.options(f.writeConfig(t, "tls.cfg", `
[client:default]
server_name = fallback.example.net

[client:192.0.2.9:5061]
server_id = carrier-a

[client:192.0.2.9:5061]
server_name = trunk.example.net

[client:any]
server_name = example.org
server_name_mode = 1
server_id = org
`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, remote, sni string
		want            string
		matched         bool
	}{
		{"Carrier-A", "203.0.113.1:5061", "", "client:192.0.2.9:5061", true}, // server_id first, whatever the address
		{"ORG", "192.0.2.9:5061", "trunk.example.net", "client:any/example.org,*.example.org", true},
		{"unknown", "192.0.2.9:5061", "trunk.example.net", "client:192.0.2.9:5061/trunk.example.net", true},
		{"", "192.0.2.9:5061", "", "client:192.0.2.9:5061", true},
		{"", "192.0.2.9:5061", "sip.example.org", "client:any/example.org,*.example.org", true},
		{"", "192.0.2.10:5061", "", "client:default", false},
	} {
		p, matched := set.Client(tt.id, netip.MustParseAddrPort(tt.remote), tt.sni)
		if p.Name != tt.want || matched != tt.matched {
			t.Errorf("Client(%q, %s, %q) = %s %v, want %s %v", tt.id, tt.remote, tt.sni, p.Name, matched, tt.want, tt.matched)
		}
	}
	def, _ := set.Client("", netip.MustParseAddrPort("192.0.2.10:5061"), "")
	if cfg := def.ClientConfig(""); cfg.ServerName != "fallback.example.net" || cfg.Renegotiation != tls.RenegotiateNever {
		t.Errorf("ClientConfig: SNI %q", cfg.ServerName)
	}
	if cfg := def.ClientConfig("other.example.net"); cfg.ServerName != "other.example.net" || def.Config().ServerName != "fallback.example.net" {
		t.Error("ClientConfig modified the base config")
	}
	defer func() {
		if recover() == nil {
			t.Error("ClientConfig on a server profile did not panic")
		}
	}()
	set.Profile("server:default").ClientConfig("")
}

func TestParseTicketKeys(t *testing.T) {
	hexKey := strings.Repeat("ab", 32)
	b64 := "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=" // 32 bytes of 0xab
	keys, err := ParseTicketKeys([]byte("# newest first\n\n" + strings.Repeat("01", 32) + "\n  " + b64[:43] + "  \n"))
	if err != nil || len(keys) != 2 || keys[0][0] != 1 || keys[1][0] != 0xab {
		t.Errorf("keys %x, %v", keys, err)
	}
	for text, want := range map[string]string{
		"":                                    "no key",
		"# only a comment\n":                  "no key",
		hexKey + "\n" + hexKey + "\n":         "line 2: same key as key 1",
		strings.Repeat("00", 32):              "line 1: the key is all zeros",
		"abcd":                                "line 1: 4 hexadecimal digits, want 64",
		"q6urq6urq6s=":                        "line 1: the key is 8 bytes, want 32",
		"not a key!":                          "line 1: not 64 hexadecimal digits nor base64",
		strings.Repeat("02", 16) + "\n" + b64: "line 1: 32 hexadecimal digits, want 64",
	} {
		if _, err := ParseTicketKeys([]byte(text)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
	var many strings.Builder
	for i := 1; i <= maxTicketKeys+1; i++ {
		fmt.Fprintf(&many, "%064x\n", i)
	}
	if _, err := ParseTicketKeys([]byte(many.String())); err == nil || !strings.Contains(err.Error(), "line 17: more than 16 keys") {
		t.Errorf("bound: %v", err)
	}
}

// FuzzParseTicketKeys: never panics; what it accepts is 1 to 16 distinct non-zero keys.
func FuzzParseTicketKeys(f *testing.F) {
	f.Add(strings.Repeat("ab", 32) + "\n# old\n" + strings.Repeat("cd", 32))
	f.Add("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n")
	f.Add("q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s\r\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := ParseTicketKeys([]byte(text))
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > maxTicketKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for i, k := range keys {
			if k == [32]byte{} || slices.Contains(keys[:i], k) {
				t.Fatalf("key %d zero or repeated", i)
			}
		}
	})
}
