package reactor

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// tunables are the settings that may change while the server runs (an admin RPC's
// cfg.set_now_int, a reload). The loops read them with one atomic load where they are used, so
// a change applies to every connection at its next event without touching connections from a
// foreign goroutine. The wq and memguard settings live in their own atomics (wq.Budget,
// memguard.Admission); Params reaches them there.
type tunables struct {
	hello, handshake, idle, send, dial atomic.Int64 // time.Duration; idle < 0: never
	tcpConnWqMax                       atomic.Int64 // bytes per socket not yet taken by the kernel
	maxConnections                     atomic.Int64
	maxWaiting                         atomic.Int64 // ClientHellos waiting for admission, all loops
	closeNotify                        atomic.Bool
}

func (t *tunables) init(o *Options) {
	t.hello.Store(int64(o.HelloTimeout))
	t.handshake.Store(int64(o.HandshakeTimeout))
	t.idle.Store(int64(o.IdleTimeout))
	t.send.Store(int64(o.SendTimeout))
	t.dial.Store(int64(o.DialTimeout))
	t.tcpConnWqMax.Store(int64(o.TCPConnWqMax))
	t.maxConnections.Store(int64(o.MaxConnections))
	t.maxWaiting.Store(int64(o.MaxWaiting))
	t.closeNotify.Store(o.SendCloseNotify)
}

func (s *Server) helloTimeout() time.Duration     { return time.Duration(s.tune.hello.Load()) }
func (s *Server) handshakeTimeout() time.Duration { return time.Duration(s.tune.handshake.Load()) }
func (s *Server) idleTimeout() time.Duration      { return time.Duration(s.tune.idle.Load()) }
func (s *Server) sendTimeout() time.Duration      { return time.Duration(s.tune.send.Load()) }

// Param is one setting an operator may read, and change while the server runs when Set is
// non-nil. Group and Name are Kamailio's where Kamailio has the setting (cfg.set_now_int tls
// con_ct_wq_max 65536), so scripts written for kamcmd carry over; settings of tlsmux's own are
// in group "tlsmux".
type Param struct {
	Group, Name string
	Unit        string // "bytes", "KiB", "s", "ms", "count", "per_s", "bool"
	Doc         string
	Min, Max    int64 // accepted range of Set
	get         func() int64
	set         func(int64)
}

// Value returns the current value in Unit.
func (p *Param) Value() int64 { return p.get() }

// Runtime reports whether the setting can be changed while running.
func (p *Param) Runtime() bool { return p.set != nil }

// ErrUnknownParam is wrapped by Set and Get for a group and name no Param has.
var ErrUnknownParam = fmt.Errorf("reactor: unknown parameter")

// Params lists every setting, sorted by group and name.
func (s *Server) Params() []*Param {
	out := make([]*Param, 0, len(s.params))
	for _, p := range s.params {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Get returns the value of group.name in its unit.
func (s *Server) Get(group, name string) (int64, error) {
	p, ok := s.params[group+"."+name]
	if !ok {
		return 0, fmt.Errorf("%w %s.%s", ErrUnknownParam, group, name)
	}
	return p.get(), nil
}

// Set changes group.name to v (in the Param's unit) at once, for every connection. Safe from
// any goroutine. It refuses unknown names, read-only settings and values out of range, naming
// the problem, and changes nothing then.
func (s *Server) Set(group, name string, v int64) error {
	p, ok := s.params[group+"."+name]
	switch {
	case !ok:
		return fmt.Errorf("%w %s.%s", ErrUnknownParam, group, name)
	case p.set == nil:
		return fmt.Errorf("reactor: %s.%s cannot be changed while running", group, name)
	case v < p.Min || v > p.Max:
		return fmt.Errorf("reactor: %s.%s = %d is out of range [%d, %d] (%s)", group, name, v, p.Min, p.Max, p.Unit)
	}
	p.set(v)
	if s.log != nil {
		s.log.Info("setting changed", "param", group+"."+name, "value", v, "unit", p.Unit)
	}
	return nil
}

// AddParam registers a setting owned outside the reactor (the daemon's log level, say) so that
// Params, Get and Set cover it. Call it before Start.
func (s *Server) AddParam(group, name, unit, doc string, min, max int64, get func() int64, set func(int64)) {
	s.params[group+"."+name] = &Param{Group: group, Name: name, Unit: unit, Doc: doc, Min: min, Max: max, get: get, set: set}
}

const maxInt64 = int64(^uint64(0) >> 1)

// registerParams builds the table of settings the reactor owns.
func (s *Server) registerParams() {
	s.params = map[string]*Param{}
	// acc is a setting's getter and setter.
	type acc struct {
		get func() int64
		set func(int64)
	}
	dur := func(a *atomic.Int64, unit time.Duration) acc {
		return acc{func() int64 {
			d := a.Load()
			if d < 0 {
				return -1
			}
			return d / int64(unit)
		}, func(v int64) {
			if v < 0 {
				a.Store(-1)
				return
			}
			a.Store(v * int64(unit))
		}}
	}
	i64 := func(a *atomic.Int64) acc { return acc{a.Load, a.Store} }
	add := func(group, name, unit, doc string, min, max int64, a acc) {
		s.AddParam(group, name, unit, doc, min, max, a.get, a.set)
	}
	t := &s.tune
	// Kamailio tls module (cfg group "tls").
	add("tls", "con_ct_wq_max", "bytes", "clear text queued for one connection while its peer is not ready; -1 none", -1, maxInt64,
		acc{s.ctwq.ConnLimit, s.ctwq.SetConnLimit})
	add("tls", "ct_wq_max", "bytes", "clear text queued by all connections together; -1 none", -1, maxInt64,
		acc{s.ctwq.Limit, s.ctwq.SetLimit})
	add("tls", "ct_wq_blk_size", "bytes", "block size of clear-text queues created from now on", 64, 1<<20,
		acc{func() int64 { return int64(s.ctwq.BlockSize()) }, func(v int64) { s.ctwq.SetBlockSize(int(v)) }})
	add("tls", "connection_timeout", "s", "idle connection timeout; any I/O extends it; -1 never", -1, 1<<31,
		func() acc {
			idle := dur(&t.idle, time.Second)
			return acc{idle.get, func(v int64) {
				idle.set(v)
				// Timers are armed for the old deadline; re-arm them so that a shorter timeout
				// applies now, not when the old one would have fired.
				s.eachLoop(func(l *loop) {
					l.now = time.Now()
					for c := l.head.next; c != &l.head; c = c.next {
						if c.phase == phaseDialing || c.phase == phaseProxying {
							c.rescheduleIdle()
						}
					}
				})
			}}
		}())
	add("tls", "send_close_notify", "bool", "send close_notify before closing an established connection", 0, 1,
		acc{func() int64 { return b2i(t.closeNotify.Load()) }, func(v int64) { t.closeNotify.Store(v != 0) }})
	// Kamailio core tcp settings (cfg group "tcp").
	add("tcp", "conn_wq_max", "bytes", "bytes accepted for one socket that the kernel has not taken yet (tcp_conn_wq_max)", 1, maxInt64,
		i64(&t.tcpConnWqMax))
	add("tcp", "wq_max", "bytes", "the same, summed over every socket (tcp_wq_max); -1 none", -1, maxInt64,
		acc{s.sendq.Limit, s.sendq.SetLimit})
	add("tcp", "send_timeout", "s", "queued outbound bytes must make progress within this", 1, 1<<31,
		dur(&t.send, time.Second))
	add("tcp", "max_connections", "count", "client connections; more are closed at accept", 1, 1<<31,
		i64(&t.maxConnections))
	// tlsmux's own.
	add("tlsmux", "hello_timeout", "ms", "from accept until a whole ClientHello has arrived", 1, 1<<31,
		dur(&t.hello, time.Millisecond))
	add("tlsmux", "handshake_timeout", "ms", "from the ClientHello until the handshake completes", 1, 1<<31,
		dur(&t.handshake, time.Millisecond))
	add("tlsmux", "backend_dial_timeout", "ms", "connecting to the backend", 1, 1<<31,
		dur(&t.dial, time.Millisecond))
	add("tlsmux", "max_handshakes", "count", "TLS handshakes in flight, all loops; more wait in WaitHello", 1, 1<<31,
		acc{func() int64 { return int64(s.adm.Max()) }, func(v int64) { s.adm.SetMax(int(v)); s.kickWaiters(nil) }})
	add("tlsmux", "max_waiting", "count", "whole ClientHellos waiting for admission, all loops; the oldest are shed beyond it", 1, 1<<31,
		i64(&t.maxWaiting))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
