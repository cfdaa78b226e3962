package reactor_test

import (
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/profile"
	"github.com/tlsmux/tlsmux/reactor"
)

// lateProfiles is a reactor.Options.Profiles whose store is set after the server is made (the
// test env makes the PKI the clients trust when it starts the server).
type lateProfiles struct{ st atomic.Pointer[profile.Store] }

func (l *lateProfiles) Current() *profile.Set { return l.st.Load().Current() }

// TestReloadUnderLoad reloads the profiles 1,000 times, alternating two certificates, while good
// clients connect, echo and reconnect: no client fails (no dropped connection, no failed
// handshake), and the heap after the reloads is within a small margin of the heap before.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 reloads under load: not with -short")
	}
	profiles := &lateProfiles{}
	e := start(t, setup{opts: func(o *reactor.Options) { o.Profiles = profiles }})
	dir := t.TempDir()
	var certs [2][2]string
	for i := range certs {
		var err error
		certs[i][0], certs[i][1], err = e.pki.WriteServerFiles(dir, "sip.example.net")
		require.NoError(t, err)
	}
	cfgFile := filepath.Join(dir, "tls.cfg")
	write := func(i int) {
		require.NoError(t, os.WriteFile(cfgFile, []byte("[server:default]\ncertificate = "+certs[i][0]+
			"\nprivate_key = "+certs[i][1]+"\n"), 0o600))
	}
	write(0)
	store, err := profile.NewStore(profile.Options{File: cfgFile})
	require.NoError(t, err)
	profiles.st.Store(store)

	load := startGoodLoad(t, e, 4)
	load.waitProgress(t)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 1000 {
		write((i + 1) % 2)
		_, err := store.Reload()
		require.NoError(t, err, "reload %d", i)
		if i%250 == 0 {
			load.waitProgress(t) // handshakes keep happening across the reloads
		}
	}
	load.waitProgress(t)
	after := heap()
	load.stopAndCheck(t)
	st := e.srv.Stats()
	assert.Zero(t, st.Closed["handshake_failed"], "no handshake failed")
	assert.Zero(t, st.Closed["tls_error"])
	assert.Less(t, after, before+2<<20, "heap after 1,000 reloads: %d, before %d", after, before)
	t.Logf("1,000 reloads under load: heap %d KiB before, %d KiB after; %d handshakes; closes %v",
		before>>10, after>>10, st.Handshakes, st.Closed)
}
