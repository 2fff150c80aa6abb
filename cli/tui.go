package cli

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
	"github.com/bookshop-ops/gantry/ui"
)

// runTUI opens the release console; without a terminal it points to --ci.
func runTUI(ctx context.Context, g *globals) error {
	if !g.interactive() {
		return badInput(errors.New("no terminal: the release console needs one; run a workflow headless instead, e.g. `gantry dev --ci` or `gantry promote --ci` (see gantry --help)"))
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	logf := func(string, ...any) {}
	if g.debug != "" {
		f, err := os.OpenFile(g.debug, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return badInput(fmt.Errorf("--debug %s: %w", g.debug, err))
		}
		defer f.Close()
		l := log.New(f, "gantry ", log.LstdFlags|log.Lmicroseconds)
		logf = l.Printf
	}
	// Warnings go to the debug log: nothing may write to the terminal under the UI.
	// An encrypted SSH key the agent lacks is asked for in the console itself.
	prompts := ui.NewPrompter()
	a, err := app.New(cfg, app.Options{Headless: false, AllowDirty: true, Warn: func(s string) { logf("warning: %s", s) }, Logf: logf, Env: g.env,
		PromptPassphrase: func(prompt string) ([]byte, error) { return prompts.Ask(ctx, prompt) }})
	if err != nil {
		return badInput(err)
	}
	defer a.Close()
	return ui.Run(ctx, &backend{app: a, logf: logf}, ui.Options{Debug: g.debug, Prompts: prompts})
}

// backend adapts the app's clients to what the console shows.
type backend struct {
	app  *app.App
	logf func(string, ...any)
}

var _ ui.Backend = (*backend)(nil)

func (b *backend) Project() ui.ProjectInfo {
	c := b.app.Cfg
	repo := c.Registry.Repository
	if c.Registry.Host != "" {
		repo = c.Registry.Host + "/" + repo
	} else if c.Registry.Kind == config.KindEmbedded {
		repo = "embedded/" + repo
	}
	return ui.ProjectInfo{App: c.App, Registry: repo, Mode: string(c.Registry.Kind)}
}

func toSnapshot(img registry.Image) ui.Snapshot {
	s := ui.Snapshot{Tag: img.Tag, Digest: img.Digest, PushedAt: img.PushedAt, Size: img.Size, Tags: img.Tags}
	if v, sha, ok := meta.ParseSnapshotTag(img.Tag); ok {
		s.Version, s.ShortSHA = v, sha
	} else if strings.HasPrefix(img.Tag, "v") {
		s.Version = strings.TrimPrefix(img.Tag, "v")
	}
	return s
}

func (b *backend) Snapshots(ctx context.Context, page func([]ui.Snapshot)) error {
	reg, err := b.app.Registry(ctx)
	if err != nil {
		return problem(err)
	}
	return problem(reg.List(ctx, func(imgs []registry.Image) error {
		out := make([]ui.Snapshot, 0, len(imgs))
		for _, img := range imgs {
			out = append(out, toSnapshot(img))
		}
		page(out)
		return nil
	}))
}

// Commits lists the branches' commits; the console badges them from its Snapshots listing.
func (b *backend) Commits(ctx context.Context) ([]ui.Commit, error) {
	commits, err := b.app.Commits(ctx)
	out := make([]ui.Commit, 0, len(commits))
	for _, c := range commits {
		out = append(out, ui.Commit{SHA: c.SHA, Subject: c.Subject, Author: c.Author, When: c.When, Branch: c.Branch, Released: strings.Join(c.Releases, ",")})
	}
	return out, problem(err)
}

func (b *backend) DevEnv(ctx context.Context) ui.DevEnv {
	st, err := b.app.DevStatus(ctx)
	health := devHealth(st.Health)
	if health != "" && st.Version != "" && !strings.Contains(st.Image, st.Version) {
		// Only when the image reference does not already say it (e.g. a digest).
		health += " · version " + st.Version
	}
	return ui.DevEnv{Target: st.Target, Container: st.Container, Image: st.Image, State: st.State, Running: st.Running, StartedAt: st.StartedAt, Health: health,
		ImageID: st.ImageID, Ports: b.app.Cfg.Dev.Ports, Traffic: devTraffic(st), GitHub: b.deployment(ctx, "dev"), Err: problem(err)}
}

// devTraffic says how the dev port reaches the app: directly, or through the proxy to
// the container that receives it, and whether the next deploy migrates the mode.
func devTraffic(st app.DevStatus) string {
	var s string
	switch {
	case st.Switch == "proxy":
		s = "proxy"
		if st.Proxy != "" {
			s += " (" + st.Proxy + ")"
		}
		if st.Receiving != "" {
			s += " → " + st.Receiving
		}
	case st.Switch != "":
		s = st.Switch
		if st.Receiving != "" && st.Receiving != st.Container {
			s += " → " + st.Receiving + " (left by an interrupted deploy; the next run recovers it)"
		}
	}
	if st.SwitchWant != "" && st.Switch != "" && st.SwitchWant != st.Switch {
		s += "; dev.switch = " + st.SwitchWant + ": the next deploy migrates"
	}
	return s
}

// deployment says what GitHub's Deployments record for env, when the app records them
// (github.deployments) or a repository is configured to read them from; "" otherwise.
func (b *backend) deployment(ctx context.Context, env string) string {
	if b.app.Cfg.GitHub.Repo == "" {
		return ""
	}
	d, err := b.app.LatestDeployment(ctx, env)
	switch {
	case err != nil:
		b.logf("github deployment of %s: %v", env, err)
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return "unknown: " + msg
	case d == nil:
		return "no deployment recorded"
	}
	what := d.Snapshot
	if what == "" {
		what = d.Version
	}
	if what == "" && len(d.SHA) >= 7 {
		what = d.SHA[:7]
	}
	s := d.State + " · " + what
	if !d.UpdatedAt.IsZero() {
		s += " · " + time.Since(d.UpdatedAt).Round(time.Second).String() + " ago"
	}
	return s
}

// devHealth turns the HTTP status the health path answered ("200", "000" or
// "unreachable" when nothing answers) into the console's words: "healthy" for
// a 2xx, else what went wrong.
func devHealth(answer string) string {
	answer = strings.TrimSpace(answer)
	switch {
	case answer == "":
		return ""
	case strings.Contains(answer, "unreachable") || strings.HasPrefix(answer, "000"):
		return "unreachable"
	case len(answer) >= 3 && answer[0] == '2' && strings.Trim(answer[:3], "0123456789") == "":
		return "healthy"
	case len(answer) >= 3 && strings.Trim(answer[:3], "0123456789") == "":
		return "unhealthy: HTTP " + answer
	}
	return answer
}

func (b *backend) ProdEnv(ctx context.Context) ui.ProdEnv {
	if b.app.Cfg.Prod.Host == "" {
		return ui.ProdEnv{Deployment: b.app.Cfg.Prod.Deployment,
			Err: fmt.Errorf("%w: prod.host is not set; set it in gantry.toml (or GANTRY_PROD_HOST) to see the prod deployment", ui.ErrNotConfigured)}
	}
	st, err := b.app.ProdStatus(ctx)
	return ui.ProdEnv{Deployment: st.Deployment, Image: st.Image, Ready: st.Ready, Desired: st.Desired, LastRollout: st.LastRollout,
		Namespace: st.Namespace, State: st.State, Revision: st.Revision, GitHub: b.deployment(ctx, "prod"), Err: problem(err)}
}

func (b *backend) History(ctx context.Context) ([]ui.AuditEntry, error) {
	entries, err := b.app.History(ctx, 200)
	out := make([]ui.AuditEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, ui.AuditEntry{When: e.When, Env: string(e.Env), Who: e.Who, Version: e.Version, SHA: e.SHA, Result: e.Result, App: e.App, Target: e.Target})
	}
	return out, problem(err)
}

func (b *backend) PlanDev(ctx context.Context) (pipeline.Plan, error) {
	return b.app.Plan(ctx, "dev", b.app.Dev(app.DevOptions{})), nil
}

func (b *backend) PlanPromote(ctx context.Context, snapshotTag string) (pipeline.Plan, error) {
	return b.app.Plan(ctx, "promote", b.app.Promote(app.PromoteOptions{Snapshot: snapshotTag})), nil
}

func (b *backend) PlanRollback(ctx context.Context, env string) (pipeline.Plan, error) {
	e, err := config.ParseEnv(env)
	if err != nil {
		return pipeline.Plan{}, err
	}
	return b.app.Plan(ctx, "rollback "+env, b.app.Rollback(e, false)), nil
}

// run runs fresh steps against the plan the user approved.
func (b *backend) run(ctx context.Context, workflow string, steps []pipeline.Step, approved pipeline.Plan, sink pipeline.Sink) error {
	_, err := b.app.Execute(ctx, workflow, steps, sink, &approved)
	return problem(err)
}

// problem classifies err for the console's fix hint (ui.Problem). It decides with
// errors.Is/As on the remote packages' typed errors, never on the message text;
// an error of no known kind passes unchanged.
func problem(err error) error {
	if err == nil {
		return nil
	}
	if k := problemKind(err); k != ui.ProblemOther {
		return &ui.Problem{Kind: k, Err: err}
	}
	return err
}

func problemKind(err error) ui.ProblemKind {
	var hostKey *sshhost.HostKeyError
	var knownKey *knownhosts.KeyError
	var rateLimit *github.RateLimitError
	var hostErr *app.HostError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &hostKey), errors.As(err, &knownKey):
		return ui.ProblemHostKey
	case errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrNoCredentials), errors.Is(err, docker.ErrUnauthorized):
		return ui.ProblemCredentials
	case errors.Is(err, github.ErrUnauthorized), errors.Is(err, github.ErrForbidden), errors.Is(err, github.ErrNoToken),
		errors.Is(err, github.ErrRateLimited), errors.As(err, &rateLimit):
		return ui.ProblemGitHub
	case errors.Is(err, sshhost.ErrConnLost), errors.Is(err, sshhost.ErrClosed), errors.As(err, &hostErr),
		errors.As(err, &opErr), errors.As(err, &dnsErr):
		return ui.ProblemUnreachable
	}
	return ui.ProblemOther
}

func (b *backend) RunDev(ctx context.Context, approved pipeline.Plan, sink pipeline.Sink) error {
	return b.run(ctx, "dev", b.app.Dev(app.DevOptions{}), approved, sink)
}

func (b *backend) RunPromote(ctx context.Context, snapshotTag string, approved pipeline.Plan, sink pipeline.Sink) error {
	return b.run(ctx, "promote", b.app.Promote(app.PromoteOptions{Snapshot: snapshotTag}), approved, sink)
}

func (b *backend) RunRollback(ctx context.Context, env string, approved pipeline.Plan, sink pipeline.Sink) error {
	e, err := config.ParseEnv(env)
	if err != nil {
		return err
	}
	return b.run(ctx, "rollback "+env, b.app.Rollback(e, false), approved, sink)
}

// NewBackend returns the console's backend over a (what `gantry` with no command opens),
// for embedding the console or driving it in tests.
func NewBackend(a *app.App, logf func(string, ...any)) ui.Backend {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &backend{app: a, logf: logf}
}

var (
	_ ui.LogStreamer   = (*backend)(nil)
	_ ui.CommandLogger = (*backend)(nil)
	_ ui.URLOpener     = (*backend)(nil)
)

// Logs streams the dev container's log (docker logs on the dev host) or the prod
// deployment's (kubectl logs on the prod host), following it until ctx ends.
func (b *backend) Logs(ctx context.Context, req ui.LogRequest, line func(string)) error {
	o := app.LogOptions{Tail: req.Tail, Since: req.Since, Follow: true, Pod: req.Pod}
	m := b.app.Masker()
	line = func(next func(string)) func(string) { return func(s string) { next(m.Mask(s)) } }(line)
	var err error
	if req.Env == "prod" {
		err = b.app.ProdLogs(ctx, o, line)
	} else {
		err = b.app.DevLogs(ctx, o, line)
	}
	return m.MaskError(err)
}

// Commands lists the commands and API requests the app ran, newest first, masked.
func (b *backend) Commands() []ui.CommandEntry {
	recs := b.app.CommandLog()
	out := make([]ui.CommandEntry, len(recs))
	for i, r := range recs {
		out[i] = ui.CommandEntry{Host: r.Host, Cmd: r.Cmd, Start: r.Start, Duration: r.Duration, ExitCode: r.ExitCode, Err: r.Err, Cancelled: r.Cancelled}
	}
	return out
}

func (b *backend) DevURL() string               { return b.app.DevURL() }
func (b *backend) ReleaseURL(tag string) string { return b.app.ReleaseURL(tag) }
func (b *backend) CommitURL(sha string) string  { return b.app.CommitURL(sha) }
