package profile

import (
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ticketSecret is an in-process session ticket key (no -ticket-keys file).
type ticketSecret struct {
	key     [32]byte
	created time.Time
}

func newTicketSecret(random io.Reader, now time.Time) (ticketSecret, error) {
	if random == nil {
		random = rand.Reader
	}
	s := ticketSecret{created: now}
	if _, err := io.ReadFull(random, s.key[:]); err != nil {
		return s, fmt.Errorf("profile: session ticket key: %w", err)
	}
	return s, nil
}

// Store holds the current [Set] and replaces it on reload, atomically: connections being
// accepted keep the Set (and so the *tls.Config) they got, handshakes in progress finish with
// it, and established connections keep what they negotiated. No connection is dropped.
//
// Concurrency: Current may be called from any goroutine, event loops included (one atomic
// load). Reload, RotateTicketKeys and Watch may be called from any goroutine; reloads are
// serialised.
type Store struct {
	o   Options
	cur atomic.Pointer[Set]

	mu       sync.Mutex // serialises reloads; guards the fields below
	secrets  []ticketSecret
	baseline map[string]fileFP // every file the last load attempt read, as it read them
}

// NewStore loads the first Set. On error there is no Store: the daemon should exit with the
// error, which lists every problem.
func NewStore(o Options) (*Store, error) {
	st := &Store{o: o}
	if o.TicketKeys == "" {
		s, err := newTicketSecret(o.Rand, o.now())
		if err != nil {
			return nil, err
		}
		st.secrets = []ticketSecret{s}
	}
	set, fr, err := load(o, loadState{secrets: st.secrets})
	if err != nil {
		return nil, err
	}
	st.baseline = fr.fps
	st.cur.Store(set)
	return st, nil
}

// Current is the Set in force.
func (st *Store) Current() *Set { return st.cur.Load() }

// Change is what a reload changed.
type Change struct {
	Added   []string // names of new profiles
	Removed []string
	Changed []string // profiles whose settings, or the contents of a file they read, changed
	// Certificates lists the profiles whose certificate changed, with the old and new SHA-256
	// fingerprints ("" for none).
	Certificates []CertChange
	// TicketKeys is true when the session ticket keys changed (the -ticket-keys file).
	TicketKeys bool
	// Warnings are the new Set's warnings.
	Warnings []string
}

// CertChange is one profile's certificate replacement.
type CertChange struct {
	Profile  string
	Old, New string // Fingerprint format
}

// Empty reports a reload that changed nothing.
func (c Change) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 && !c.TicketKeys
}

func (c Change) String() string {
	if c.Empty() {
		return "no change"
	}
	var parts []string
	add := func(what string, names []string) {
		if len(names) > 0 {
			parts = append(parts, what+" "+strings.Join(names, ", "))
		}
	}
	add("added", c.Added)
	add("removed", c.Removed)
	add("changed", c.Changed)
	for _, cc := range c.Certificates {
		parts = append(parts, fmt.Sprintf("certificate of %s now %s", cc.Profile, cc.New))
	}
	if c.TicketKeys {
		parts = append(parts, "session ticket keys rotated")
	}
	return strings.Join(parts, "; ")
}

// Reload parses and loads everything again: the tls.cfg, every certificate, key, CA and CRL it
// names, the flags' profile's files and the ticket key file. Only when all of it is valid is
// the new Set swapped in, atomically; on any error the current Set stays and the error lists
// every problem (file:line for tls.cfg). Reload reads files: call it off the event loop
// (SIGHUP handler, Watch, the admin RPC).
func (st *Store) Reload() (Change, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	prev := st.cur.Load()
	ls := loadState{secrets: st.secrets}
	if p := prev.Profile("server:default"); p != nil && p.Settings.Source == "flags" {
		ls.generated = p.generated
	}
	set, fr, err := load(st.o, ls)
	st.baseline = fr.fps
	if err != nil {
		return Change{}, err
	}
	ch := diff(prev, set)
	st.cur.Store(set)
	return ch, nil
}

func diff(prev, next *Set) Change {
	var ch Change
	for _, p := range next.profiles {
		old := prev.byName[p.Name]
		switch {
		case old == nil:
			ch.Added = append(ch.Added, p.Name)
		case old.digest != p.digest:
			ch.Changed = append(ch.Changed, p.Name)
		}
		if old != nil && old.Info.Fingerprint != p.Info.Fingerprint {
			ch.Certificates = append(ch.Certificates, CertChange{Profile: p.Name, Old: old.Info.Fingerprint, New: p.Info.Fingerprint})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(prev.byName)) {
		if next.byName[name] == nil {
			ch.Removed = append(ch.Removed, name)
		}
	}
	ch.TicketKeys = prev.ticketSums != next.ticketSums
	ch.Warnings = next.Warnings()
	return ch
}

// RotateTicketKeys makes a new in-process session ticket key when the newest is a day old,
// drops keys older than a week, and applies the result to the current Set: crypto/tls's own
// rotation policy, which explicit keys turn off. It does nothing when a -ticket-keys file is
// used (rotate the file, then reload). Watch calls it on every tick; without Watch, call it
// from a timer (hourly is plenty). It reports whether the keys changed.
func (st *Store) RotateTicketKeys(now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.o.TicketKeys != "" || len(st.secrets) == 0 || now.Sub(st.secrets[0].created) < ticketKeyRotation {
		return false
	}
	s, err := newTicketSecret(st.o.Rand, now)
	if err != nil {
		return false // crypto/rand failing: keep the current keys
	}
	keep := []ticketSecret{s}
	for _, old := range st.secrets {
		if now.Sub(old.created) < ticketKeyLifetime && len(keep) < maxTicketKeys {
			keep = append(keep, old)
		}
	}
	st.secrets = keep
	keys := make([][32]byte, len(keep))
	for i, k := range keep {
		keys[i] = k.key
	}
	st.cur.Load().applyTicketKeys(keys)
	return true
}
