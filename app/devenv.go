package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hoststate"
)

// DevStatus is what runs on the dev target now.
type DevStatus struct {
	Target    string
	Container string
	Image     string
	ImageID   string
	State     string
	Running   bool
	StartedAt time.Time
	Version   string
	SHA       string
	// Health is the HTTP status the health path answered ("200"), "unreachable" (with
	// what the probe said) when nothing answered, or "" when no health path is set.
	Health string
	// Switch is the mode the host runs in now ("direct" or "proxy"), SwitchWant the
	// configured dev.switch (they differ until the next deploy migrates).
	Switch, SwitchWant string
	// Proxy is the proxy container's state ("running", "exited", "absent"; "" in
	// direct mode without one), ProxyImage its image.
	Proxy, ProxyImage string
	// Upstream is what the proxy dials ("<id>:<port>"), Receiving the container that
	// receives the port's traffic (its name, "" when none does).
	Upstream, Receiving string
}

// devHost is the dev container's client over the dev host, configured as the deploy
// step configures it (the same docker command words, container, ports, health path).
func (a *App) devHost(ctx context.Context) (*devhost.Client, error) {
	host, err := a.Host(ctx, config.EnvDev)
	if err != nil {
		return nil, err
	}
	d := a.Cfg.Dev
	return devhost.New(host, devhost.Config{
		Docker: devhost.DockerWords(d.DockerCommand), Container: d.Container, Ports: d.Ports,
		HealthPath: d.HealthPath, HealthTimeout: d.HealthTimeout.Duration, Uptime: d.Uptime.Duration,
		KeepImages: d.KeepImages, Switch: d.Switch, ProxyImage: d.ProxyImage, Drain: d.Drain.Duration,
		Logf: a.opts.Logf,
	}), nil
}

// DevStatus reads the dev container's state with docker inspect on the dev target.
// An engine that cannot be reached is an error, never "absent".
func (a *App) DevStatus(ctx context.Context) (DevStatus, error) {
	d := a.Cfg.Dev
	st := DevStatus{Target: d.Target, Container: d.Container}
	if d.Target == config.TargetSSH {
		st.Target = fmt.Sprintf("%s@%s", d.User, d.Host)
	}
	h, err := a.devHost(ctx)
	if err != nil {
		return st, err
	}
	sv, err := h.Survey(ctx)
	if err != nil {
		return st, fmt.Errorf("dev container %s: %w", d.Container, err)
	}
	st.Switch, st.SwitchWant, st.Upstream = sv.SwitchNow(), d.Switch, sv.Upstream
	switch {
	case sv.Proxy != nil:
		st.Proxy, st.ProxyImage = sv.Proxy.State.Status, sv.Proxy.Config.Image
	case d.Switch == config.SwitchProxy:
		st.Proxy = "absent"
	}
	if live := sv.Live(); live != nil {
		st.Receiving = strings.TrimPrefix(live.Name, "/")
	}
	c := sv.Current
	if c == nil {
		st.State = "absent"
		return st, nil
	}
	st.Image, st.ImageID, st.State, st.Running, st.StartedAt = c.Config.Image, c.Image, c.State.Status, c.State.Running, c.State.StartedAt
	st.Version, st.SHA = c.Config.Labels["gantry.version"], c.Config.Labels["gantry.sha"]
	if url := h.HealthURL(); url != "" && st.Running {
		ok, detail, err := h.Probe(ctx, url)
		switch {
		case err != nil:
			st.Health = "unreachable: " + err.Error()
		case strings.HasPrefix(detail, "HTTP ") && detail != "HTTP 0":
			st.Health = strings.TrimPrefix(detail, "HTTP ")
		case ok:
			st.Health = "200"
		default:
			st.Health = "unreachable: " + detail
		}
	}
	return st, nil
}

// History reads this app's audit logs on the dev and prod hosts (and the old
// host-wide log's lines of those environments), newest first.
func (a *App) History(ctx context.Context, limit int) ([]hoststate.AuditEntry, error) {
	var all []hoststate.AuditEntry
	var errs []string
	type place struct {
		env    config.Env
		target string
	}
	places := []place{{config.EnvDev, hoststate.DevTarget(a.Cfg.Dev.Container)}}
	if a.Cfg.Prod.Host != "" {
		places = append(places, place{config.EnvProd, hoststate.ProdTarget(a.Cfg.Prod.Namespace, a.Cfg.Prod.Deployment)})
	}
	seen := map[string]bool{}
	for _, p := range places {
		h, err := a.Host(ctx, p.env)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		entries, err := hoststate.ReadAppAudit(ctx, h, a.Cfg.App, p.env, []string{p.target}, limit)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p.env, err))
			continue
		}
		for _, e := range entries {
			// Dev and prod may be one host sharing the old log; keep each line once.
			k := e.When.String() + string(e.Env) + e.Version + e.Result + e.Who
			if !seen[k] {
				seen[k] = true
				all = append(all, e)
			}
		}
	}
	sortAudit(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	if len(errs) > 0 && len(all) == 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return all, nil
}

func sortAudit(e []hoststate.AuditEntry) {
	sort.SliceStable(e, func(i, j int) bool { return e[i].When.After(e[j].When) })
}
