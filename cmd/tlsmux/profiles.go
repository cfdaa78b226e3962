package main

import (
	"context"

	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tlsmux/tlsmux/admin"
	"github.com/tlsmux/tlsmux/config"
	"github.com/tlsmux/tlsmux/profile"
)

// newStore loads the tls.cfg profiles (with the flags' profile as the default server profile)
// when -tls-config or -ticket-keys is given; nil otherwise, and the flags' profile alone serves.
func newStore(cfg config.Config, def profile.Server) (*profile.Store, error) {
	if cfg.TLS.ConfigFile == "" && cfg.TLS.TicketKeys == "" {
		return nil, nil
	}
	return profile.NewStore(profile.Options{File: cfg.TLS.ConfigFile, TicketKeys: cfg.TLS.TicketKeys, Default: def})
}

// reloader reloads the profiles on SIGHUP, on changes of the files they name (polled), and for
// the admin's tls.reload; a failed reload keeps the profiles in force and says what failed.
type reloader struct {
	st  *profile.Store
	log *slog.Logger
}

func (r reloader) report(ch profile.Change, err error) {
	if err != nil {
		r.log.Error("TLS profiles not reloaded; the previous ones stay in force", "err", err)
		return
	}
	r.log.Info("TLS profiles reloaded", "change", ch.String())
	for _, w := range ch.Warnings {
		r.log.Warn(w)
	}
}

// run serves SIGHUP and the file watch until ctx ends.
func (r reloader) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go r.st.Watch(ctx, profile.DefaultWatchInterval, r.report)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.report(r.st.Reload())
		}
	}
}

// adminReload is tls.reload.
func (r reloader) adminReload() (admin.ReloadResult, error) {
	ch, err := r.st.Reload()
	r.report(ch, err)
	if err != nil {
		return admin.ReloadResult{}, err
	}
	res := admin.ReloadResult{Profiles: len(r.st.Current().Profiles()), Warnings: ch.Warnings}
	if s := ch.String(); s != "" {
		res.Changed = strings.Split(s, "\n")
	}
	return res, nil
}

// certs lists the certificate each server profile serves, for the expiry metric.
func (r reloader) certs() []admin.CertExpiry {
	var out []admin.CertExpiry
	for _, p := range r.st.Current().Profiles() {
		if !p.Info.NotAfter.IsZero() {
			out = append(out, admin.CertExpiry{Profile: p.Name, NotAfter: p.Info.NotAfter})
		}
	}
	return out
}
