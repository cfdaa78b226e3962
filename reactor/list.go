package reactor

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tlsmux/tlsmux/forward"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// ConnInfo describes one client connection for the admin listing (Kamailio's tls.list).
type ConnInfo struct {
	ID          uint64
	Peer, Local netip.AddrPort
	Phase       string // hello, handshaking, dialing, proxying, closing
	SNI         string
	Profile     string
	Version     string // TLSv1.3, ...
	Cipher      string // IANA name
	PeerCN      string
	PeerSANs    []string // DNS names, IP addresses, URIs, emails of the peer's certificate
	Verified    bool
	Resumed     bool
	Age, Idle   time.Duration
	BytesIn     uint64 // clear text from the phone to the core
	BytesOut    uint64 // clear text from the core to the phone
	CtQueued    int    // bytes in its clear-text queue (Kamailio's ct_wq_size)
	Queued      int    // bytes waiting: clear-text queue and both sockets' outbound buffers
}

// ConnFilter selects connections; the zero value selects all.
type ConnFilter struct {
	Peer     netip.Prefix // the peer's address is in it
	SNI      string       // equal, case-insensitively
	Verified *bool        // the peer certificate was verified (or not)
	Profile  string
}

func (f *ConnFilter) match(ci *ConnInfo) bool {
	switch {
	case f.Peer.IsValid() && !f.Peer.Contains(ci.Peer.Addr().Unmap()):
		return false
	case f.SNI != "" && !strings.EqualFold(f.SNI, ci.SNI):
		return false
	case f.Verified != nil && *f.Verified != ci.Verified:
		return false
	case f.Profile != "" && f.Profile != ci.Profile:
		return false
	}
	return true
}

// MaxListPage bounds one page of Conns, whatever the caller asks for.
const MaxListPage = 1000

// Conns returns up to limit connections matching f whose id is above after, in id order, and
// the total number of matching connections. Paging by id (a cursor) is stable while
// connections come and go: a connection is listed at most once, and every connection that stays
// open is listed. It runs on every loop in turn (a walk of its connections), so it costs O(open
// connections) per page: for the admin interface, not for a hot path.
func (s *Server) Conns(f ConnFilter, after uint64, limit int) (page []ConnInfo, total int) {
	limit = min(max(limit, 1), MaxListPage)
	now := time.Now()
	type part struct {
		list  []ConnInfo
		total int
	}
	parts := perLoop(s, func(l *loop) (p part) {
		for c := l.head.next; c != &l.head; c = c.next {
			if c.phase >= phaseClosing {
				continue
			}
			ci := c.info(now)
			if !f.match(&ci) {
				continue
			}
			p.total++
			// Each loop's list is in accept order, so ids rise along it: past the first limit
			// ids above the cursor, the rest cannot make the page.
			if ci.ID > after && len(p.list) < limit {
				p.list = append(p.list, ci)
			}
		}
		return p
	})
	for _, p := range parts {
		page = append(page, p.list...)
		total += p.total
	}
	slices.SortFunc(page, func(a, b ConnInfo) int { return int(int64(a.ID - b.ID)) })
	if len(page) > limit {
		page = page[:limit]
	}
	return page, total
}

// info is the listing entry of c. Loop only.
func (c *conn) info(now time.Time) ConnInfo {
	ci := ConnInfo{
		ID:       c.id,
		Phase:    c.phase.String(),
		Age:      now.Sub(time.Unix(0, c.born)),
		Idle:     now.Sub(c.lastIO),
		BytesIn:  c.bytesIn,
		BytesOut: c.bytesOut,
		Queued:   c.outbound(),
	}
	if c.pending != nil {
		ci.CtQueued = c.pending.Len()
		ci.Queued += ci.CtQueued
	}
	if c.clOpen {
		ci.Peer, ci.Local = addrPort(c.cl.RemoteAddr()), localAddrPort(c.cl)
	}
	if c.established {
		a := c.tc.Attrs()
		ci.SNI, ci.Version, ci.Cipher = a.SNI, a.VersionName(), forward.CipherName(a.CipherSuite)
		ci.PeerCN, ci.Verified, ci.Resumed, ci.Profile = a.PeerCN, a.Verified, a.Resumed, a.Profile
		if a.Peer != nil {
			for _, k := range [...]tlsconn.SANKind{tlsconn.SANDNS, tlsconn.SANIP, tlsconn.SANURI, tlsconn.SANEmail} {
				ci.PeerSANs = append(ci.PeerSANs, a.Peer.SANs(k)...)
			}
		}
	}
	return ci
}

// ErrNoConn is returned by CloseConn for an id that is not open.
var ErrNoConn = errors.New("reactor: no such connection")

// CloseConn closes connection id, with close_notify first if closeNotify (and the connection is
// established), counted as closed by the admin ("admin"). Safe from any goroutine.
func (s *Server) CloseConn(id uint64, closeNotify bool) error {
	found := perLoop(s, func(l *loop) bool {
		l.now = time.Now()
		for c := l.head.next; c != &l.head; c = c.next {
			if c.id == id && c.phase < phaseClosing {
				c.adminNotify = closeNotify
				c.close(ReasonAdmin, nil)
				c.finish()
				return true
			}
		}
		return false
	})
	if slices.Contains(found, true) {
		return nil
	}
	return fmt.Errorf("%w: %d", ErrNoConn, id)
}

// Drain starts a graceful shutdown from any goroutine (the admin's core.shutdown): new
// connections are refused from now on, as after SIGTERM; the caller still calls Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether the server refuses new connections.
func (s *Server) Draining() bool { return s.draining.Load() }
