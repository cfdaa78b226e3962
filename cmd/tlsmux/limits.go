package main

import (
	"log/slog"
	"math"
	"os"

	"github.com/tlsmux/tlsmux/config"
	"github.com/tlsmux/tlsmux/memguard"
	"github.com/tlsmux/tlsmux/reactor"
)

// limits are the admission controls beyond the reactor's own: the memory guard, the global
// handshake rate and the per-source limits. All three are always made (a rate of 0 and zero
// source limits cost one atomic load per decision) so that cfg.set can turn them on while
// running.
type limits struct {
	guard   *memguard.Guard
	rate    *memguard.RateLimiter
	sources *memguard.Sources
}

func newLimits(cfg config.Config) limits {
	kib := func(v int) int64 {
		if v < 0 {
			return -1 // derived from the budget
		}
		return int64(v) << 10
	}
	return limits{
		guard: memguard.NewGuard(memguard.GuardOptions{
			Limit:      int64(cfg.Memory.Limit),
			Threshold1: kib(cfg.Memory.LowMemThreshold1),
			Threshold2: kib(cfg.Memory.LowMemThreshold2),
		}),
		rate: memguard.NewRateLimiter(cfg.Admission.HandshakeRate, cfg.Admission.HandshakeBurst),
		// Validated with the rest of the config (config.Validate covers the same ranges).
		sources: mustSources(cfg.Admission),
	}
}

func mustSources(a config.Admission) *memguard.Sources {
	return memguard.NewSources(memguard.SourceLimits{
		Conns: a.PerSourceConns, Rate: a.PerSourceRate, Burst: a.PerSourceBurst,
		Prefix4: a.PerSourcePrefix4, Prefix6: a.PerSourcePrefix6, Table: a.PerSourceTable,
	})
}

func (l limits) apply(o *reactor.Options) {
	o.Guard, o.HandshakeRate, o.Sources = l.guard, l.rate, l.sources
}

// logBudget sets the Go runtime's soft memory limit to the budget and says where it came from.
func (l limits) logBudget(log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" { // an operator's explicit GOMEMLIMIT wins
		l.guard.ApplyRuntimeLimit()
	}
	st := l.guard.State()
	log.Info("memory budget", "limit", st.Limit, "source", st.LimitSource,
		"low_mem_threshold1", st.Threshold1, "low_mem_threshold2", st.Threshold2)
}

// register adds the limits' runtime settings to the server's table, under Kamailio's names
// where it has them (tls.low_mem_threshold1/2, in KiB as Kamailio's are).
func (l limits) register(srv *reactor.Server) {
	g, r, s := l.guard, l.rate, l.sources
	state := g.State
	srv.AddParam("tls", "low_mem_threshold1", "KiB", "free memory under which new TLS connections are refused; -1 derived, 0 off",
		-1, math.MaxInt64>>10,
		func() int64 { return state().Threshold1 >> 10 },
		func(v int64) { g.SetThreshold1(kibOrDerived(v)) })
	srv.AddParam("tls", "low_mem_threshold2", "KiB", "free memory under which established connections get no new queue memory; -1 derived, 0 off",
		-1, math.MaxInt64>>10,
		func() int64 { return state().Threshold2 >> 10 },
		func(v int64) { g.SetThreshold2(kibOrDerived(v)) })
	srv.AddParam("tlsmux", "mem_limit", "bytes", "memory budget; 0 = the cgroup limit or 90% of physical memory",
		0, math.MaxInt64,
		func() int64 { return state().Limit },
		func(v int64) { g.SetLimit(v) }) // ApplyRuntimeLimit, if it was applied, follows SetLimit
	srv.AddParam("tlsmux", "handshake_rate", "per_s", "TLS handshakes started per second, all loops; 0 no limit", 0, 1<<30,
		func() int64 { v, _ := r.Rate(); return int64(v) },
		func(v int64) { _, b := r.Rate(); r.SetRate(float64(v), b) })
	srv.AddParam("tlsmux", "handshake_burst", "count", "handshakes the rate may save up; 0 one second's worth", 0, 1<<30,
		func() int64 { _, b := r.Rate(); return int64(b) },
		func(v int64) { rate, _ := r.Rate(); r.SetRate(rate, int(v)) })
	srv.AddParam("tlsmux", "per_source_conns", "count", "connections open per source; 0 no limit", 0, 1<<30,
		func() int64 { return int64(s.Limits().Conns) },
		func(v int64) { lim := s.Limits(); lim.Conns = int(v); _ = s.SetLimits(lim) })
	srv.AddParam("tlsmux", "per_source_rate", "per_s", "handshakes per second per source; 0 no limit", 0, 1<<30,
		func() int64 { return int64(s.Limits().Rate) },
		func(v int64) { lim := s.Limits(); lim.Rate, lim.Burst = float64(v), 0; _ = s.SetLimits(lim) })
}

func kibOrDerived(v int64) int64 {
	if v < 0 {
		return -1
	}
	return v << 10
}
