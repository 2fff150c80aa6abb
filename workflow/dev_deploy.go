package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/hoststate"
)

// DockerConfigDir is the docker CLI config folder gantry logs in with on the dev host.
const DockerConfigDir = devhost.DockerConfigDir

// Audit results of a dev deploy or rollback.
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled-back" // the deploy failed and the previous container serves again
	ResultRollback   = "rollback"    // gantry rollback put an earlier image back
)

// ErrRolledBack marks a deploy whose new container failed and whose previous
// container was started again: dev still serves the old version.
var ErrRolledBack = devhost.ErrRolledBack

// RolledBackError is a failed deploy after which the previous container serves again.
type RolledBackError = devhost.RolledBackError

// hostConfig is the dev host client's configuration, logging to logf.
func (p *DevParams) hostConfig(logf func(string, ...any)) devhost.Config {
	return devhost.Config{
		Docker:        devhost.DockerWords(p.Dev.DockerCommand),
		Container:     p.Dev.Container,
		Ports:         p.Dev.Ports,
		HealthPath:    p.Dev.HealthPath,
		HealthTimeout: p.Dev.HealthTimeout.Duration,
		Uptime:        p.Dev.Uptime.Duration,
		KeepImages:    p.Dev.KeepImages,
		Switch:        p.Dev.Switch,
		ProxyImage:    p.Dev.ProxyImage,
		Drain:         p.Dev.Drain.Duration,
		Poll:          p.HealthPoll,
		Now:           p.Now,
		Logf:          logf,
	}
}

// devHost opens the dev host's runner and a container client over it.
func (p *DevParams) devHost(ctx context.Context, logf func(string, ...any)) (*devhost.Client, hostexec.Runner, error) {
	runner, err := p.Host(ctx)
	if err != nil {
		return nil, nil, err
	}
	return devhost.New(runner, p.hostConfig(logf)), runner, nil
}

// hostName names the dev host for plans: user@host, or this machine.
func (p *DevParams) hostName() string {
	if p.Dev.Target == config.TargetLocal || p.Dev.Host == "" {
		return "this machine"
	}
	if p.Dev.User != "" {
		return p.Dev.User + "@" + p.Dev.Host
	}
	return p.Dev.Host
}

func nopLogf(string, ...any) {}

// describeRuns says what runs in c for a plan ("nothing" when c is nil).
func describeRuns(c *devhost.Container) string {
	if c == nil {
		return "nothing"
	}
	return devhost.Describe(c)
}

// stateKey identifies what runs now (and what an interrupted deploy left).
func stateKey(s devhost.State) string {
	id := func(c *devhost.Container) string {
		if c == nil {
			return "-"
		}
		return devhost.ShortID(c.ID) + "/" + devhost.ShortID(c.Image)
	}
	return id(s.Current) + " next=" + id(s.Next)
}

// deployTarget is the image the deploy starts and the metadata it is labelled with:
// what the login and metadata steps found, or (before they ran, in a dry run) HEAD's
// metadata read here, without keeping it, and the registry repository with IMAGE_TAG.
func (d *DevRun) deployTarget(ctx context.Context) (string, meta.Meta, error) {
	m := d.Meta
	if m.ImageTag == "" {
		var err error
		if m, err = meta.Read(ctx, d.p.Dir); err != nil {
			return "", m, err
		}
	}
	if d.image != "" {
		return d.image, m, nil
	}
	reg, err := d.registry(ctx)
	if err != nil {
		return "", m, err
	}
	if reg.Repository() == "" {
		return "", m, fmt.Errorf("the %s registry host is unknown: set registry.host or registry.account_id", reg.Kind())
	}
	return reg.Repository() + ":" + m.ImageTag, m, nil
}

// deployLabels are the labels the dev container gets; a changed port map
// (dev.ports) must not pass for "already running".
func (d *DevRun) deployLabels(m meta.Meta) map[string]string {
	return map[string]string{
		"gantry.version":   m.Version,
		"gantry.sha":       m.Commit,
		"gantry.image_tag": m.ImageTag,
		"gantry.ports":     d.p.Dev.Ports,
	}
}

// planDeploy decides the deploy from what the host runs: recover what an interrupted
// deploy left, skip when the container already runs the image and answers healthy,
// else replace it. Plan and Run (under the lock) both call it.
func (d *DevRun) planDeploy(ctx context.Context, h *devhost.Client) (pipeline.StepPlan, devhost.State, error) {
	image, m, err := d.deployTarget(ctx)
	if err != nil {
		return pipeline.StepPlan{}, devhost.State{}, err
	}
	st, err := h.Survey(ctx)
	if err != nil {
		return pipeline.StepPlan{}, st, err
	}
	name := d.p.Dev.Container
	replace := fmt.Sprintf("replace %s (runs %s) with %s on %s", name, describeRuns(st.Current), m.ImageTag, d.p.hostName())
	var plan pipeline.StepPlan
	switch rec := st.Recovery(); {
	case rec != "":
		plan = pipeline.Acting(rec + "; then " + replace + " unless the recovered container already runs it")
	default:
		if why, ok := h.Serving(ctx, st.Current, image, d.deployLabels(m)); ok {
			plan = pipeline.Skipping("%s", why)
		} else {
			plan = pipeline.Acting(replace)
		}
	}
	plan.Target = name + " on " + d.p.hostName()
	plan = plan.With("host", d.p.hostName()).With("container", name).With("runs now", describeRuns(st.Current))
	if st.Next != nil {
		plan = plan.With("left by an interrupted deploy", name+"-next: "+devhost.Describe(st.Next))
	}
	plan = plan.With("image", image).With("ports", d.p.Dev.Ports)
	plan = switchFacts(plan, d.p, h, st)
	plan.Key = image + " on " + stateKey(st)
	return plan, st, nil
}

// switchFacts says how the port changes hands: the switch mode (and a migration
// between modes), the proxy, and the upstream now → new.
func switchFacts(plan pipeline.StepPlan, p DevParams, h *devhost.Client, st devhost.State) pipeline.StepPlan {
	want, now := p.Dev.Switch, st.SwitchNow()
	if want == "" {
		want = devhost.SwitchDirect
	}
	if plan.Action == pipeline.ActionSkip {
		return plan.With("switch", now)
	}
	live := "nothing"
	if c := st.Live(); c != nil {
		live = strings.TrimPrefix(c.Name, "/") + " (" + devhost.ShortID(c.ID) + ")"
	}
	switch {
	case want == devhost.SwitchProxy && now == devhost.SwitchProxy:
		plan = plan.With("switch", "proxy: start the new container beside on "+h.Network()+", health-check it there, switch the proxy, drain the old for "+p.Dev.Drain.Duration.String())
		plan = plan.With("proxy", h.ProxyName()+" ("+st.Proxy.Config.Image+", running) on port "+hostPortOf(p.Dev.Ports))
		plan = plan.With("upstream", live+" → the new "+p.Dev.Container)
	case want == devhost.SwitchProxy:
		plan = plan.With("switch", "direct → proxy (adoption): start the new container on "+h.Network()+", health-check it, then stop the direct container and start the proxy on the port at once (a gap of about a stop and a start)")
		plan = plan.With("proxy", "create "+h.ProxyName()+" from "+p.Dev.ProxyImage+" on port "+hostPortOf(p.Dev.Ports))
		plan = plan.With("upstream", "none (port published by "+live+") → the new "+p.Dev.Container)
	case now == devhost.SwitchProxy:
		plan = plan.With("switch", "proxy → direct: stop the proxy and the old container, start the new one on the port; remove the proxy once it is healthy")
		plan = plan.With("proxy", "remove "+h.ProxyName()+" and the network "+h.Network())
		plan = plan.With("upstream", live+" → none (the new "+p.Dev.Container+" publishes the port)")
	default:
		plan = plan.With("switch", "direct: stop the old container, start the new one on the same port, then health-check it")
	}
	return plan
}

func hostPortOf(ports string) string {
	hp, _, _ := strings.Cut(ports, ":")
	return hp
}

// Deploy is the deploy step: on the dev host, under the dev lock, pull the image,
// replace the container, check its health, prune old images and write the audit log.
func (d *DevRun) Deploy() pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		h, _, err := d.p.devHost(ctx, nopLogf)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		p, _, err := d.planDeploy(ctx, h)
		return p, err
	}
	return pipeline.NewStep("deploy", plan, func(ctx context.Context, r pipeline.Reporter) error {
		h, runner, err := d.p.devHost(ctx, r.Logf)
		if err != nil {
			return err
		}
		lock := d.p.lock(runner, d.Meta.ImageTag)
		return locked(ctx, r, runner, d.p, lock, func(ctx context.Context) (hoststate.AuditEntry, error) {
			entry := d.p.audit(d.Meta.ImageTag, d.Meta.Commit)
			c, err := d.credentials(ctx, r)
			if err != nil {
				return entry, err
			}
			if err := h.Pull(ctx, d.image, c, d.digest); err != nil {
				return entry, err
			}
			// Re-check under the lock: another run may have changed the host since the plan.
			p, st, err := d.planDeploy(ctx, h)
			if err != nil {
				return entry, err
			}
			if p.Action == pipeline.ActionSkip {
				// A re-run after a deploy that went through: nothing changes on the
				// host, so no audit line either.
				entry.Version = ""
				r.Set("url", d.p.url())
				return entry, pipeline.Skip("%s", p.Reason)
			}
			old, err := h.Recover(ctx, st)
			if err != nil {
				return entry, err
			}
			if st.Next != nil {
				if why, ok := h.Serving(ctx, old, d.image, d.deployLabels(d.Meta)); ok {
					r.Logf("recovered: %s", why)
					r.Set("url", d.p.url())
					return entry, nil
				}
			}
			done, err := h.Replace(ctx, old, d.image, d.reg.Repository(), d.deployLabels(d.Meta))
			if err != nil {
				if errors.Is(err, ErrRolledBack) {
					// The image failed its health check here: it must not stay behind as
					// the "previous image" a rollback or prune would pick.
					h.RemoveImage(ctx, d.image)
				}
				return entry, err
			}
			h.Prune(ctx, done.Images, done.ImageID)
			r.Set("url", d.p.url())
			return entry, nil
		})
	})
}

// audit starts the dev audit entry of this app's container.
func (p *DevParams) audit(version, sha string) hoststate.AuditEntry {
	return hoststate.AuditEntry{Env: config.EnvDev, Who: p.Who, Version: version, SHA: sha, App: p.App, Target: hoststate.DevTarget(p.Dev.Container)}
}

// locked runs fn holding the dev lock, releases the lock on every exit path and
// appends fn's audit entry with the result. Release and audit run detached from
// ctx's cancellation, so an interrupted run still frees the lock and records itself.
func locked(ctx context.Context, r pipeline.Reporter, host hostexec.Runner, p DevParams, lock *hoststate.Lock, fn func(ctx context.Context) (hoststate.AuditEntry, error)) (err error) {
	if err := lock.Acquire(ctx, r.Logf); err != nil {
		return err
	}
	r.Logf("took the %s lock on the host (%s)", lock.Env, lock.Path())
	defer func() {
		if rerr := lock.Release(ctx); rerr != nil {
			if errors.Is(rerr, hoststate.ErrLost) {
				r.Warn("%v", rerr)
			} else {
				r.Warn("%v; it frees itself when its lease expires (%s)", rerr, hoststate.DefaultLease)
			}
			err = errors.Join(err, rerr)
		}
	}()
	// A lock taken over while held (its lease lapsed, or --force-unlock) stops the run:
	// someone else acts on the environment now.
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lock.LostC():
			cancel(lock.Lost())
		case <-fctx.Done():
		}
	}()
	entry, err := fn(fctx)
	if cause := context.Cause(fctx); err != nil && errors.Is(cause, hoststate.ErrLost) {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	if entry.Version == "" {
		return err // nothing was tried on the host: nothing to audit
	}
	entry.When = p.now()
	switch {
	case err == nil && entry.Result == "":
		entry.Result = ResultOK
	case errors.Is(err, ErrRolledBack):
		entry.Result = ResultRolledBack
	case err != nil:
		entry.Result = ResultFailed
	}
	if aerr := hoststate.AppendAudit(ctx, host, entry); aerr != nil {
		r.Warn("%v", aerr)
		if err == nil {
			err = aerr
		}
	} else {
		r.Logf("audit: %s %s %s", entry.Version, short7(entry.SHA), entry.Result)
	}
	return err
}

func (p *DevParams) lock(host hostexec.Runner, version string) *hoststate.Lock {
	return &hoststate.Lock{
		Host: host, App: p.App, Target: hoststate.DevTarget(p.Dev.Container), Env: config.EnvDev, Who: p.Who, Version: version,
		Timeout: p.Dev.LockTimeout.Duration, Lease: p.LockLease,
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
