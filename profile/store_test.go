package profile

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tlsmux/tlsmux/internal/testcert"
)

// writeServerPair writes a new server certificate of the fixture's CA for host to name.pem
// and name.key, and returns its fingerprint.
func writeServerPair(t testing.TB, f *pkiFixture, name, host string) string {
	t.Helper()
	c, err := f.serverCA.Server(host)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := testcert.CertKeyPEM(c)
	if err != nil {
		t.Fatal(err)
	}
	writeBytes(t, f.path(name+".pem"), certPEM)
	writeBytes(t, f.path(name+".key"), keyPEM)
	return Fingerprint(c.Leaf.Raw)
}

func TestReloadChanges(t *testing.T) {
	f := newPKIFixture(t)
	writeServerPair(t, f, "a", "a.example.com")
	cfg := f.writeConfig(t, "tls.cfg", `
[server:default]
certificate = a.pem
private_key = a.key

[server:10.0.0.1:5061]
certificate = server.pem
private_key = server.key
`)
	st, err := NewStore(f.options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	first := st.Current()

	ch, err := st.Reload()
	if err != nil || !ch.Empty() || ch.String() != "no change" {
		t.Fatalf("reload without change: %+v, %v", ch, err)
	}
	if st.Current() == first {
		t.Error("Reload kept the old Set")
	}

	// A renewed certificate (certbot-style: same file names, new contents).
	fp := writeServerPair(t, f, "a", "a.example.com")
	ch, err = st.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Changed, []string{"server:default"}) || len(ch.Certificates) != 1 || ch.Certificates[0].New != fp ||
		ch.Certificates[0].Old != first.Profile("server:default").Info.Fingerprint {
		t.Errorf("renewal: %+v", ch)
	}
	if got := st.Current().ServerConfig(mustAddrPort("10.9.9.9:5061")).Certificates[0].Leaf; Fingerprint(got.Raw) != fp {
		t.Error("the new certificate is not served")
	}

	// Sections added and removed.
	f.writeConfig(t, "tls.cfg", `
[server:default]
certificate = a.pem
private_key = a.key

[server:any]
server_name = sip.example.com
certificate = server.pem
private_key = server.key
`)
	ch, err = st.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Added, []string{"server:any/sip.example.com"}) || !slices.Equal(ch.Removed, []string{"server:10.0.0.1:5061"}) || len(ch.Changed) != 0 {
		t.Errorf("added/removed: %+v", ch)
	}
	if !strings.Contains(ch.String(), "added server:any/sip.example.com; removed server:10.0.0.1:5061") {
		t.Errorf("String: %s", ch)
	}

	// A broken file: every problem reported, the current set kept.
	good := st.Current()
	f.writeConfig(t, "tls.cfg", `
[server:default]
certificate = a.pem
private_key = missing.key
colour = blue

[server:any]
certificate = server.pem
private_key = server.key
`)
	_, err = st.Reload()
	if err == nil {
		t.Fatal("broken config loaded")
	}
	for _, want := range []string{`tls.cfg:5: [server:default] unknown key "colour"`, "tls.cfg:7: [server:any] server_name: required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if st.Current() != good {
		t.Error("a failed reload replaced the set")
	}
	// A missing file: reported with the key's line.
	f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = a.pem\nprivate_key = missing.key\n")
	if _, err := st.Reload(); err == nil || !strings.Contains(err.Error(), "tls.cfg:3: [server:default] private_key: open") {
		t.Errorf("missing key: %v", err)
	}
	if st.Current() != good {
		t.Error("a failed reload replaced the set")
	}
}

// TestReloadGeneratedCertificateKept: without a certificate the flags' profile serves a
// generated one, which must not change at every reload (clients pin it).
func TestReloadGeneratedCertificateKept(t *testing.T) {
	st, err := NewStore(Options{})
	if err != nil {
		t.Fatal(err)
	}
	fp := st.Current().Profile("server:default").Info.Fingerprint
	ch, err := st.Reload()
	if err != nil || !ch.Empty() || st.Current().Profile("server:default").Info.Fingerprint != fp {
		t.Errorf("change %+v, err %v", ch, err)
	}
}

// TestReloadConcurrentReaders swaps sets while other goroutines pick configs, as event loops
// do; run with -race.
func TestReloadConcurrentReaders(t *testing.T) {
	f := newPKIFixture(t)
	st := newSNIStore(t, f, "")
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			hello := &tls.ClientHelloInfo{ServerName: "a.example.net"}
			for !stop.Load() {
				set := st.Current()
				cfg := set.ServerConfig(mustAddrPort("192.0.2.1:5061"))
				if c, err := cfg.GetConfigForClient(hello); err != nil || c != set.Match(mustAddrPort("192.0.2.1:5061"), hello.ServerName).Config() {
					t.Error("selector and Match disagree")
					return
				}
			}
		})
	}
	for range 50 {
		if _, err := st.Reload(); err != nil {
			t.Error(err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
}

func newSNIStore(t *testing.T, f *pkiFixture, ticketKeys string) *Store {
	t.Helper()
	loadSNISet(t, f, "") // writes the certificates
	o := f.options(f.path("tls.cfg"))
	o.TicketKeys = ticketKeys
	st, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// oneSession is a client session cache holding one session for every server name: it lets a
// client present a ticket issued under one SNI with another.
type oneSession struct{ s *tls.ClientSessionState }

func (c *oneSession) Get(string) (*tls.ClientSessionState, bool) { return c.s, c.s != nil }
func (c *oneSession) Put(_ string, s *tls.ClientSessionState) {
	if s != nil {
		c.s = s
	}
}

// TestTicketsAcrossReloads checks session resumption with a -ticket-keys file: across
// reloads, across Stores (instances) sharing the file, after a key rotation, not after the key
// is removed, and never from one profile to another.
func TestTicketsAcrossReloads(t *testing.T) {
	f := newPKIFixture(t)
	k1, k2 := strings.Repeat("11", 32), strings.Repeat("22", 32)
	keys := f.path("tickets.keys")
	writeBytes(t, keys, []byte("# tlsmux session ticket keys, newest first\n"+k1+"\n"))
	extra := "\n[server:any]\nserver_name = a.example.com\nsession_cache = yes\ncertificate = server.pem\nprivate_key = server.key\n" +
		"\n[server:any]\nserver_name = b.example.com\nsession_cache = yes\ncertificate = server.pem\nprivate_key = server.key\n"
	loadSNISet(t, f, extra)
	o := f.options(f.path("tls.cfg"))
	o.TicketKeys = keys
	st, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	local := mustAddrPort("127.0.0.1:5061") // no section: the [server:any] selector
	for _, vers := range []uint16{tls12, tls13} {
		t.Run(versionName(vers), func(t *testing.T) {
			writeBytes(t, keys, []byte(k1+"\n"))
			if _, err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			cache := &oneSession{}
			client := func(sni string) *tls.Config {
				return &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: vers, MaxVersion: vers, ClientSessionCache: cache}
			}
			resumed := func(set *Set, sni string) bool {
				t.Helper()
				r := connect(t, set.ServerConfig(local), client(sni))
				if r.clientErr != nil || r.serverErr != nil {
					t.Fatalf("%s: client %v, server %v", sni, r.clientErr, r.serverErr)
				}
				return r.serverState.DidResume
			}
			if resumed(st.Current(), "a.example.com") {
				t.Fatal("resumed without a ticket")
			}
			if !resumed(st.Current(), "a.example.com") {
				t.Error("no resumption on the same set")
			}
			if _, err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			if !resumed(st.Current(), "a.example.com") {
				t.Error("no resumption after a reload with the same key file")
			}
			other, err := NewStore(o) // another instance sharing the file
			if err != nil {
				t.Fatal(err)
			}
			if !resumed(other.Current(), "a.example.com") {
				t.Error("no resumption on another instance sharing the key file")
			}
			saved := cache.s
			if resumed(st.Current(), "b.example.com") {
				t.Error("a ticket of server:any/a.example.com resumed under b.example.com")
			}
			cache.s = saved
			writeBytes(t, keys, []byte(k2+"\n"+k1+"\n")) // rotation: k2 encrypts, k1 still decrypts
			if ch, err := st.Reload(); err != nil || !ch.TicketKeys {
				t.Fatalf("rotation: %+v %v", ch, err)
			}
			if !resumed(st.Current(), "a.example.com") {
				t.Error("an old-key ticket did not resume after the rotation")
			}
			cache.s = saved
			writeBytes(t, keys, []byte(k2+"\n")) // k1 retired
			if _, err := st.Reload(); err != nil {
				t.Fatal(err)
			}
			if resumed(st.Current(), "a.example.com") {
				t.Error("a ticket of a removed key resumed")
			}
		})
	}
	writeBytes(t, keys, []byte("zz\n"))
	if _, err := st.Reload(); err == nil || !strings.Contains(err.Error(), "ticket keys "+keys+": line 1:") {
		t.Errorf("bad key file: %v", err)
	}
	if st.RotateTicketKeys(time.Now().Add(30 * 24 * time.Hour)) {
		t.Error("RotateTicketKeys rotated keys that come from a file")
	}
}

// TestTicketsInProcess: without a key file, tickets survive reloads (keys kept by the Store),
// RotateTicketKeys follows crypto/tls's policy (daily, a week of decryption), and a profile
// whose CAs change retires its tickets.
func TestTicketsInProcess(t *testing.T) {
	f := newPKIFixture(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	cfg := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\nsession_cache = yes\nverify_client = optional\nca_list = ca.pem\n")
	o := f.options(cfg)
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	st, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	local := mustAddrPort("127.0.0.1:5061")
	cache := &oneSession{}
	client := &tls.Config{ServerName: "sip.example.com", RootCAs: f.serverCA.Pool(), ClientSessionCache: cache, MaxVersion: tls13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &f.good, nil }}
	resumed := func() bool {
		t.Helper()
		r := connect(t, st.Current().ServerConfig(local), client)
		if r.clientErr != nil || r.serverErr != nil {
			t.Fatalf("client %v, server %v", r.clientErr, r.serverErr)
		}
		return r.serverState.DidResume
	}
	resumed()
	saved := cache.s
	if _, err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if !resumed() {
		t.Error("no resumption across a reload with in-process keys")
	}
	start := time.Unix(0, now.Load())
	if st.RotateTicketKeys(start.Add(time.Hour)) {
		t.Error("rotated before a day")
	}
	if !st.RotateTicketKeys(start.Add(25 * time.Hour)) {
		t.Error("not rotated after a day")
	}
	cache.s = saved
	if !resumed() {
		t.Error("a ticket of the previous key did not resume after a rotation")
	}
	if !st.RotateTicketKeys(start.Add(9 * 24 * time.Hour)) {
		t.Error("not rotated after nine days")
	}
	cache.s = saved
	if resumed() {
		t.Error("a ticket of a key older than a week resumed")
	}
	// Changing what clients were verified against retires the profile's tickets.
	resumed()
	f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = server.pem\nprivate_key = server.key\nsession_cache = yes\nverify_client = optional\nca_dir = cadir\n")
	if _, err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if resumed() {
		t.Error("a session verified against the old CAs resumed")
	}
}

// TestReloadHeap reloads 1,000 times and checks that the heap comes back to where it was: a
// reload must not leak (Kamailio's and OpenSIPS's reloads are documented to).
func TestReloadHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 reloads")
	}
	f := newPKIFixture(t)
	writeServerPair(t, f, "a", "a.example.com")
	writeServerPair(t, f, "b", "b.example.com")
	variant := func(i int) string {
		name := []string{"a", "b"}[i%2]
		return fmt.Sprintf(`
[server:default]
certificate = %[1]s.pem
private_key = %[1]s.key
ca_list = ca.pem
crl = crl.pem
verify_client = optional
session_cache = yes

[server:any]
server_name = sip%[2]d.example.com
certificate = %[1]s.pem
private_key = %[1]s.key

[client:default]
ca_list = server-ca.pem
verify_client = on
`, name, i%2)
	}
	cfg := f.writeConfig(t, "tls.cfg", variant(0))
	st, err := NewStore(f.options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	reload := func(i int) {
		f.writeConfig(t, "tls.cfg", variant(i))
		ch, err := st.Reload()
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Added) != 1 || len(ch.Removed) != 1 || len(ch.Certificates) != 1 {
			t.Fatalf("reload %d: %+v", i, ch)
		}
	}
	for i := 1; i <= 20; i++ { // warm up: caches, map growth
		reload(i)
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := 21; i <= 1020; i++ {
		reload(i)
	}
	after := heap()
	const margin = 512 << 10
	t.Logf("heap before %d KiB, after 1,000 reloads %d KiB", before>>10, after>>10)
	if after > before+margin {
		t.Errorf("heap grew by %d KiB over 1,000 reloads (margin %d KiB)", (after-before)>>10, margin>>10)
	}
}

// TestWatch runs Watch in a testing/synctest bubble: a change is loaded once it has been stable
// for one interval; a failed reload is not retried until the files change again; ctx stops it.
func TestWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newPKIFixture(t)
		writeServerPair(t, f, "a", "a.example.com")
		cfg := f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = a.pem\nprivate_key = a.key\n")
		st, err := NewStore(f.options(cfg))
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			ch  Change
			err error
		}
		results := make(chan result, 16)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			st.Watch(ctx, time.Second, func(ch Change, err error) { results <- result{ch, err} })
		}()
		tick := func(n int) { // let n ticks pass, landing between them
			time.Sleep(time.Duration(n) * time.Second)
			synctest.Wait()
		}
		got := func() []result {
			var rs []result
			for len(results) > 0 {
				rs = append(rs, <-results)
			}
			return rs
		}
		time.Sleep(500 * time.Millisecond)
		tick(3)
		if rs := got(); len(rs) != 0 {
			t.Fatalf("reloads without a change: %+v", rs)
		}

		fp := writeServerPair(t, f, "a", "a.example.com")
		tick(1)
		if rs := got(); len(rs) != 0 {
			t.Fatalf("reloaded at the first tick after the change: %+v", rs)
		}
		tick(1)
		rs := got()
		if len(rs) != 1 || rs[0].err != nil || len(rs[0].ch.Certificates) != 1 || rs[0].ch.Certificates[0].New != fp {
			t.Fatalf("renewal: %+v", rs)
		}

		// A file still being written at every tick is not loaded until it settles.
		for i := range 3 {
			f.writeConfig(t, "tls.cfg", fmt.Sprintf("[server:default]\ncertificate = a.pem\nprivate_key = a.key\n# edit %d\n", i))
			tick(1)
		}
		if rs := got(); len(rs) != 0 {
			t.Fatalf("reloaded an unsettled file: %+v", rs)
		}
		tick(1)
		if rs := got(); len(rs) != 1 || rs[0].err != nil {
			t.Fatalf("settled edit: %+v", rs)
		}

		// A broken file: one failed reload, not retried while nothing changes.
		f.writeConfig(t, "tls.cfg", "[server:default]\ncertificate = a.pem\nprivate_key = nowhere.key\n")
		tick(2)
		if rs := got(); len(rs) != 1 || rs[0].err == nil {
			t.Fatalf("broken file: %+v", rs)
		}
		tick(5)
		if rs := got(); len(rs) != 0 {
			t.Fatalf("failed reload retried: %+v", rs)
		}
		// Creating the missing file fixes it.
		writeBytes(t, f.path("nowhere.key"), mustRead(t, f.path("a.key")))
		tick(2)
		if rs := got(); len(rs) != 1 || rs[0].err != nil {
			t.Fatalf("fixed by creating the file: %+v", rs)
		}
		if p := st.Current().Profile("server:default"); p.Settings.PrivateKey != f.path("nowhere.key") {
			t.Errorf("serving %s", p.Settings.PrivateKey)
		}
		cancel()
		<-done
	})
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadErrorsAll checks that the flags' profile and the file report problems together.
func TestLoadErrorsAll(t *testing.T) {
	f := newPKIFixture(t)
	cfg := f.writeConfig(t, "tls.cfg", "[server:10.0.0.1:5061]\ncertificate = server.pem\nprivate_key = other.key\n")
	o := f.options(cfg)
	o.Default = Server{Certificate: f.path("missing.pem")}
	_, err := Load(o)
	var ce *ConfigError
	var se *SettingError
	if !errors.As(err, &ce) || !errors.As(err, &se) || se.Flag != "-certificate" || ce.Line != 3 || ce.Key != "private_key" {
		t.Errorf("%v", err)
	}
	if _, err := Load(Options{File: f.path("nope.cfg")}); err == nil || !strings.Contains(err.Error(), "tls config: open") {
		t.Errorf("missing file: %v", err)
	}
}
