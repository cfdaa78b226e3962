package profile

import (
	"context"
	"maps"
	"time"
)

// DefaultWatchInterval is a suggested polling interval for [Store.Watch]: a renewed certificate
// is served within two intervals, and each tick costs one stat per watched file (plus a hash of
// the small ones).
const DefaultWatchInterval = 5 * time.Second

// Watch polls every file the last load read, or tried to read (the tls.cfg, every certificate,
// key, CA list, CA and CRL directory and each file in them, CRL, the flags' files and the
// ticket key file), every interval, and reloads when one changed: its existence, size, mtime,
// inode, or for files up to 64 KiB its contents. A change must be stable for one interval
// before reloading (debounce), so that a certificate and its key written one after the other
// are loaded together. After a failed reload the same files are not retried until they
// change again. onReload (may be nil) gets every reload's result; it runs on Watch's goroutine.
// Watch also calls RotateTicketKeys on every tick.
//
// Watch blocks until ctx is done, then returns; run it on its own goroutine. It uses no
// dependency beyond polling (no inotify), which also works for files replaced through
// symlinks (certbot's live/ directory) and on network file systems.
func (st *Store) Watch(ctx context.Context, interval time.Duration, onReload func(Change, error)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending map[string]fileFP // the changed state seen at the previous tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st.RotateTicketKeys(st.o.now())
		}
		st.mu.Lock()
		base := st.baseline
		st.mu.Unlock()
		cur := make(map[string]fileFP, len(base))
		for p := range base {
			cur[p] = statFP(p)
		}
		switch {
		case maps.Equal(cur, base):
			pending = nil
		case pending == nil || !maps.Equal(cur, pending):
			pending = cur // changed since the last tick: wait for it to settle
		default:
			pending = nil
			ch, err := st.Reload()
			if onReload != nil {
				onReload(ch, err)
			}
		}
	}
}
