package cli

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/registry"
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
	a, err := app.New(cfg, app.Options{Headless: false, AllowDirty: true, Warn: func(s string) { logf("warning: %s", s) }, Logf: logf})
	if err != nil {
		return badInput(err)
	}
	defer a.Close()
	return ui.Run(ctx, &backend{app: a, logf: logf}, ui.Options{Debug: g.debug})
}

// backend adapts the app's clients to what the console shows.
type backend struct {
	app  *app.App
	logf func(string, ...any)

	mu   sync.Mutex
	tags map[string]string // sha7 → snapshot tag, from the last listing
}

var _ ui.Backend = (*backend)(nil)

func (b *backend) Project() ui.ProjectInfo {
	c := b.app.Cfg
	repo := c.Registry.Repository
	if c.Registry.Host != "" {
		repo = c.Registry.Host + "/" + repo
	} else if c.Registry.Kind == "embedded" {
		repo = "embedded/" + repo
	}
	return ui.ProjectInfo{App: c.App, Registry: repo, Mode: c.Registry.Kind}
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
		return err
	}
	tags := map[string]string{}
	err = reg.List(ctx, func(imgs []registry.Image) error {
		out := make([]ui.Snapshot, 0, len(imgs))
		for _, img := range imgs {
			s := toSnapshot(img)
			if s.ShortSHA != "" {
				tags[s.ShortSHA] = s.Tag
			}
			out = append(out, s)
		}
		page(out)
		return nil
	})
	b.mu.Lock()
	b.tags = tags
	b.mu.Unlock()
	return err
}

// snapshotTags returns sha7 → tag, listing the registry when no listing is cached.
func (b *backend) snapshotTags(ctx context.Context) map[string]string {
	b.mu.Lock()
	tags := b.tags
	b.mu.Unlock()
	if tags != nil {
		return tags
	}
	if err := b.Snapshots(ctx, func([]ui.Snapshot) {}); err != nil {
		b.logf("snapshots for commits: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tags
}

func (b *backend) Commits(ctx context.Context) ([]ui.Commit, error) {
	repo, err := b.app.Repo(ctx)
	if err != nil {
		return nil, err
	}
	released, err := repo.TagsByCommit(ctx)
	if err != nil {
		return nil, err
	}
	snaps := b.snapshotTags(ctx)
	var out []ui.Commit
	seen := map[string]bool{}
	found := false
	for _, branch := range []string{b.app.Cfg.Prod.DevBranch, "main"} {
		ref := ""
		for _, cand := range []string{branch, "origin/" + branch} {
			if repo.HasRef(ctx, cand) {
				ref = cand
				break
			}
		}
		if ref == "" {
			continue
		}
		found = true
		commits, err := repo.Log(ctx, ref, 50)
		if err != nil {
			return nil, err
		}
		for _, c := range commits {
			key := branch + c.SHA
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, ui.Commit{SHA: c.SHA, Subject: c.Subject, Author: c.Author, When: c.When, Branch: branch,
				SnapshotTag: snaps[git.ShortSHA(c.SHA)], Released: strings.Join(released[c.SHA], ",")})
		}
	}
	if !found {
		// Neither dev nor main exists (e.g. another branch layout): show HEAD's history.
		commits, err := repo.Log(ctx, "HEAD", 50)
		if err != nil {
			return nil, err
		}
		branch := repo.Branch(ctx)
		for _, c := range commits {
			out = append(out, ui.Commit{SHA: c.SHA, Subject: c.Subject, Author: c.Author, When: c.When, Branch: branch,
				SnapshotTag: snaps[git.ShortSHA(c.SHA)], Released: strings.Join(released[c.SHA], ",")})
		}
	}
	return out, nil
}

func (b *backend) DevEnv(ctx context.Context) ui.DevEnv {
	st, err := b.app.DevStatus(ctx)
	health := devHealth(st.Health)
	if health != "" && st.Version != "" && !strings.Contains(st.Image, st.Version) {
		// Only when the image reference does not already say it (e.g. a digest).
		health += " · version " + st.Version
	}
	return ui.DevEnv{Target: st.Target, Container: st.Container, Image: st.Image, State: st.State, Running: st.Running, StartedAt: st.StartedAt, Health: health, Err: err}
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
	return ui.ProdEnv{Deployment: st.Deployment, Image: st.Image, Ready: st.Ready, Desired: st.Desired, LastRollout: st.LastRollout, Err: err}
}

func (b *backend) History(ctx context.Context) ([]ui.AuditEntry, error) {
	entries, err := b.app.History(ctx, 200)
	out := make([]ui.AuditEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, ui.AuditEntry{When: e.When, Env: e.Env, Who: e.Who, Version: e.Version, SHA: e.SHA, Result: e.Result})
	}
	return out, err
}

func (b *backend) PlanDev(ctx context.Context) (ui.Head, error) {
	m, err := meta.Read(ctx, b.app.Cfg.Dir)
	if err != nil {
		return ui.Head{}, err
	}
	subject := ""
	if repo, err := b.app.Repo(ctx); err == nil {
		if c, err := repo.Log(ctx, m.Commit, 1); err == nil && len(c) == 1 {
			subject = c[0].Subject
		}
	}
	target := b.app.Cfg.Dev.Target
	if target == "ssh" {
		target = b.app.Cfg.Dev.User + "@" + b.app.Cfg.Dev.Host
	}
	return ui.Head{Commit: m.Commit, Subject: subject, Tag: m.ImageTag, Target: target, Dirty: m.Dirty}, nil
}

func (b *backend) PlanPromote(ctx context.Context, snapshotTag string) (ui.PromotePlan, error) {
	p, err := b.app.PlanPromote(ctx, snapshotTag)
	if err != nil {
		return ui.PromotePlan{}, err
	}
	return ui.PromotePlan{Snapshot: p.Snapshot, Digest: p.Digest, ReleaseTag: p.ReleaseTag, PromotedTag: p.PromotedTag,
		NotesPreview: p.NotesPreview, Deployment: p.Deployment, Container: p.Container, Image: p.Image, Warnings: p.Warnings}, nil
}

// run runs a workflow and logs its events to the debug log as plain text too.
func (b *backend) run(ctx context.Context, workflow string, steps []pipeline.Step, sink pipeline.Sink) error {
	_, err := pipeline.Run(ctx, workflow, steps, sink)
	b.mu.Lock()
	b.tags = nil // a run may have pushed or promoted: list again next time
	b.mu.Unlock()
	return err
}

func (b *backend) RunDev(ctx context.Context, sink pipeline.Sink) error {
	return b.run(ctx, "dev", b.app.Dev(app.DevOptions{}), sink)
}

func (b *backend) RunPromote(ctx context.Context, snapshotTag string, sink pipeline.Sink) error {
	return b.run(ctx, "promote", b.app.Promote(app.PromoteOptions{Snapshot: snapshotTag}), sink)
}

func (b *backend) RunRollback(ctx context.Context, env string, sink pipeline.Sink) error {
	return b.run(ctx, "rollback "+env, b.app.Rollback(env, false), sink)
}
