package workflow

import (
	"context"
	"strings"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/hoststate"
)

// Deploy is the deploy step: on the dev host, under the dev lock, pull the image,
// replace the container, check its health, prune old images and write the audit log.
func (d *DevRun) Deploy() pipeline.Step {
	return pipeline.StepFunc("deploy", func(ctx context.Context, r pipeline.Reporter) error {
		runner, err := d.p.Host(ctx)
		if err != nil {
			return err
		}
		h := newDevHost(runner, d.p, r)
		lock := d.p.lock(runner, d.Meta.ImageTag)
		return h.locked(ctx, lock, func(ctx context.Context) (hoststate.AuditEntry, error) {
			entry := hoststate.AuditEntry{Env: "dev", Who: d.p.Who, Version: d.Meta.ImageTag, SHA: d.Meta.Commit}
			c, err := d.credentials(ctx, r)
			if err != nil {
				return entry, err
			}
			if err := h.pull(ctx, d.image, c, d.digest); err != nil {
				return entry, err
			}
			labels := map[string]string{
				"gantry.version":   d.Meta.Version,
				"gantry.sha":       d.Meta.Commit,
				"gantry.image_tag": d.Meta.ImageTag,
				// A changed port map (dev.ports) must not pass for "already running".
				"gantry.ports": d.p.Dev.Ports,
			}
			old, err := h.current(ctx)
			if err != nil {
				return entry, err
			}
			if why, ok := h.serving(ctx, old, d.image, labels); ok {
				// A re-run after a deploy that went through: nothing changes on the
				// host, so no audit line either.
				entry.Version = ""
				r.Set("url", d.p.url())
				return entry, pipeline.Skip("%s", why)
			}
			done, err := h.replace(ctx, old, d.image, d.reg.Repository(), labels)
			if err != nil {
				return entry, err
			}
			h.prune(ctx, done.Images, done.ImageID)
			r.Set("url", d.p.url())
			return entry, nil
		})
	})
}

func (p *DevParams) lock(host hostexec.Runner, version string) *hoststate.Lock {
	return &hoststate.Lock{
		Host: host, Env: "dev", Who: p.Who, Version: version,
		Timeout: p.Dev.LockTimeout.Duration, Stale: p.Dev.LockStale.Duration,
		Force: p.ForceUnlock, Poll: p.LockPoll, Now: p.Now,
	}
}

func (p *DevParams) url() string {
	host := p.URLHost
	if host == "" {
		host = "127.0.0.1"
	}
	hp, _, _ := strings.Cut(p.Dev.Ports, ":")
	return "http://" + host + ":" + hp + "/"
}
