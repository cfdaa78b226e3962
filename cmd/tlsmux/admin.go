package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tlsmux/tlsmux/admin"
	"github.com/tlsmux/tlsmux/config"
	"github.com/tlsmux/tlsmux/reactor"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// daemon is the admin.Target of a running tlsmux: the reactor, the limits and the profiles, seen
// through the admin package's own types (admin imports none of the daemon's packages).
type daemon struct {
	srv  *reactor.Server
	lim  limits
	cfg  config.Config
	stop chan<- os.Signal // core.shutdown sends SIGTERM here, as the signal would arrive
	log  *slog.Logger

	// reload reloads the TLS profiles; nil while there is nothing to reload.
	reload func() (admin.ReloadResult, error)
	// certs lists the certificate each profile serves, for the expiry metric.
	certs func() []admin.CertExpiry

	reloadsOK, reloadsFailed atomic.Uint64
	shutdownOnce             sync.Once
}

var _ admin.Target = (*daemon)(nil)

func (d *daemon) Info() admin.Info {
	st := d.srv.Stats()
	get := func(group, name string) int64 { v, _ := d.srv.Get(group, name); return v }
	g := d.lim.guard.State()
	return admin.Info{
		MaxConnections:            get("tcp", "max_connections"),
		OpenedConnections:         st.Open,
		ClearTextWriteQueuedBytes: st.CtWqUsed,
		ConCtWqMax:                get("tls", "con_ct_wq_max"),
		CtWqMax:                   get("tls", "ct_wq_max"),
		SendQueued:                st.SendqUsed,
		TCPConnWqMax:              get("tcp", "conn_wq_max"),
		TCPWqMax:                  get("tcp", "wq_max"),
		HandshakesInFlight:        int64(st.HandshakesInFlight),
		HandshakesWaiting:         st.Waiting,
		MaxHandshakes:             get("tlsmux", "max_handshakes"),
		MemLimit:                  g.Limit,
		MemInUse:                  g.InUse,
		MemFree:                   g.Free,
		LowMemThreshold1:          g.Threshold1,
		LowMemThreshold2:          g.Threshold2,
		LowMem1:                   g.Low1,
		LowMem2:                   g.Low2,
		Draining:                  d.srv.Draining(),
	}
}

func (d *daemon) List(q admin.ListQuery) (admin.ListPage, error) {
	f := reactor.ConnFilter{Peer: q.Filter.Peer, SNI: q.Filter.SNI, Verified: q.Filter.Verified, Profile: q.Filter.Profile}
	page, total := d.srv.Conns(f, q.After, q.Limit)
	out := admin.ListPage{Total: total, Conns: make([]admin.Conn, len(page))}
	for i, c := range page {
		out.Conns[i] = admin.Conn{
			ID: c.ID, Peer: c.Peer, Local: c.Local, State: c.Phase, SNI: c.SNI, Profile: c.Profile,
			Version: c.Version, Cipher: c.Cipher, PeerCN: c.PeerCN, PeerSANs: c.PeerSANs,
			Verified: c.Verified, Resumed: c.Resumed, Age: c.Age, Idle: c.Idle,
			BytesIn: c.BytesIn, BytesOut: c.BytesOut, CtQueued: int64(c.CtQueued), Queued: int64(c.Queued),
		}
	}
	return out, nil
}

// Options lists the runtime settings (the reactor's table, which the limits and the log level
// added to) and, read-only, the settings that need a restart or a reload.
func (d *daemon) Options() []admin.Option {
	var out []admin.Option
	for _, p := range d.srv.Params() {
		out = append(out, admin.Option{Group: p.Group, Name: p.Name, Int: p.Value(), Unit: p.Unit, Doc: p.Doc,
			Runtime: p.Runtime(), Min: p.Min, Max: p.Max})
	}
	c := d.cfg
	str := func(group, name, v, doc string) {
		out = append(out, admin.Option{Group: group, Name: name, IsString: true, Str: v, Doc: doc})
	}
	listen := make([]string, len(c.Listen))
	for i, l := range c.Listen {
		listen[i] = l.String()
	}
	str("core", "listen", strings.Join(listen, ","), "TLS listeners (restart to change)")
	str("core", "backend", c.Backend.String(), "the SIP core (restart to change)")
	str("core", "proxy_protocol", c.ProxyProtocol, "PROXY header on backend connections (restart to change)")
	str("tls", "certificate", c.TLS.Certificate, "default profile's certificate (tls.reload)")
	str("tls", "private_key", c.TLS.PrivateKey, "default profile's key (tls.reload)")
	str("tls", "ca_list", c.TLS.CAList, "CAs for client certificates (tls.reload)")
	str("tls", "cipher_list", c.TLS.CipherList, "OpenSSL-style cipher list (tls.reload)")
	str("tls", "tls_method", c.TLS.TLSMethod, "protocol versions (tls.reload)")
	str("tls", "curves", c.TLS.Curves, "key exchange groups (tls.reload)")
	str("tls", "config", c.TLS.ConfigFile, "tls.cfg profiles file (tls.reload)")
	// Sort as the interface promises: by group, then name.
	slices.SortFunc(out, func(a, b admin.Option) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.Name, b.Name))
	})
	return out
}

func (d *daemon) Set(group, name string, v int64) error {
	err := d.srv.Set(group, name, v)
	if errors.Is(err, reactor.ErrUnknownParam) {
		return fmt.Errorf("%w: %v", admin.ErrNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", admin.ErrBadValue, err)
	}
	return nil
}

func (d *daemon) Reload() (admin.ReloadResult, error) {
	if d.reload == nil {
		return admin.ReloadResult{}, fmt.Errorf("%w: no profiles to reload", admin.ErrUnavailable)
	}
	r, err := d.reload()
	if err != nil {
		d.reloadsFailed.Add(1)
		return r, err
	}
	d.reloadsOK.Add(1)
	return r, nil
}

func (d *daemon) CloseConn(id uint64, closeNotify bool) error {
	err := d.srv.CloseConn(id, closeNotify)
	if errors.Is(err, reactor.ErrNoConn) {
		return fmt.Errorf("%w: connection %d is not open", admin.ErrNotFound, id)
	}
	return err
}

// Shutdown drains as SIGTERM does; the serving goroutine sees the signal and exits after the
// grace period.
func (d *daemon) Shutdown() error {
	d.shutdownOnce.Do(func() {
		d.srv.Drain()
		d.log.Info("shutdown requested through the admin interface")
		select {
		case d.stop <- syscall.SIGTERM:
		default: // a signal is already pending
		}
	})
	return nil
}

// reason groups: which close reasons are admission refusals, queue refusals, dial failures, and
// handshake failures, for /metrics.
var (
	admissionReasons = []string{"lowmem1", "handshake_busy", "handshake_rate", "wait_shed", "per_source", "source_table_full", "max_connections"}
	queueReasons     = []string{"wq_conn_full", "wq_global_full", "send_queue_full", "send_global_full", "send_timeout", "lowmem2"}
	dialReasons      = map[string]string{"backend_refused": "refused", "backend_timeout": "timeout", "backend_error": "error"}
	hsFailReasons    = []string{"handshake_failed", "handshake_timeout", "hello_timeout", "not_tls", "bad_record", "record_overflow", "hello_too_big", "buffer_full"}
)

func (d *daemon) Metrics() admin.Snapshot {
	st := d.srv.Stats()
	m := d.srv.Metrics()
	pick := func(names []string) map[string]uint64 {
		out := map[string]uint64{}
		for _, n := range names {
			out[n] = st.Closed[n]
		}
		return out
	}
	snap := admin.Snapshot{
		Accepted:           st.Accepted,
		ConnsByState:       m.ConnsByPhase,
		HandshakeFailures:  pick(hsFailReasons),
		HandshakeSeconds:   histogram(m.HandshakeLatency),
		BytesIn:            st.BytesIn,
		BytesOut:           st.BytesOut,
		Closed:             st.Closed,
		AdmissionRefused:   pick(admissionReasons),
		QueueRefused:       pick(queueReasons),
		DroppedBytes:       st.DroppedBytes,
		Reloads:            map[string]uint64{"ok": d.reloadsOK.Load(), "failed": d.reloadsFailed.Load()},
		BackendDialSeconds: histogram(m.DialLatency),
	}
	g := d.lim.guard.State()
	snap.LowMem1Entries, snap.LowMem2Entries = g.Low1Entries, g.Low2Entries
	snap.BackendDialFailures = map[string]uint64{}
	for r, label := range dialReasons {
		snap.BackendDialFailures[label] = st.Closed[r]
	}
	for k, n := range m.Handshakes {
		a := tlsconn.Attrs{Version: k.Version, CipherSuite: k.Cipher}
		snap.Handshakes = append(snap.Handshakes, admin.HandshakeCount{Version: a.VersionName(), Cipher: a.CipherName(), Resumed: k.Resumed, N: n})
	}
	if d.certs != nil {
		snap.Certificates = d.certs()
	}
	return snap
}

func histogram(h reactor.Histogram) admin.Histogram {
	return admin.Histogram{Bounds: reactor.LatencyBounds[:], Counts: h.Counts[:], Sum: h.Sum}
}
