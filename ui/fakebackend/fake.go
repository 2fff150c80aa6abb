// Package fakebackend is an in-memory ui.Backend for tests and the demo. Its
// workflows run through the real pipeline runner with simulated steps, so the
// UI sees exactly the events a real run emits.
package fakebackend

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/ui"
)

// Registry is the repository the fake pretends to list.
const Registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookshop"

// Head is what the fake's dev deploy builds and where it deploys it.
type Head struct {
	Commit, Subject, Tag, Target string
	Dirty                        bool
}

// Backend is a scripted ui.Backend. Set fields before handing it to the UI;
// afterwards use its methods, which lock.
type Backend struct {
	mu sync.Mutex

	Info       ui.ProjectInfo
	Snaps      []ui.Snapshot // newest first
	PageSize   int           // snapshots per page; 0 means 1000
	PageDelay  time.Duration // pause before each page
	CommitList []ui.Commit
	Dev        ui.DevEnv
	Prod       ui.ProdEnv
	Audit      []ui.AuditEntry
	// Head is the commit a dev deploy would build.
	Head Head
	// Log and ProdLog are what Logs streams (nil: LogLines(50) for both);
	// LastLogRequest is the last request Logs got.
	Log, ProdLog   []string
	LastLogRequest ui.LogRequest
	// CommandList is what Commands returns (nil: a few sample commands).
	CommandList []ui.CommandEntry

	// Errs makes a method fail: keys are method names ("Snapshots", "Commits",
	// "DevEnv", "ProdEnv", "History", "PlanDev", "PlanPromote", "PlanRollback").
	Errs map[string]error
	// Block makes a method wait for its context to end (to test timeouts).
	Block map[string]bool
	// StepDelay is how long each simulated workflow step takes; 0 is instant.
	StepDelay time.Duration
	// FailStep names a workflow step that fails halfway.
	FailStep string
	// HoldStep names a workflow step that stops halfway until Release is
	// called or the run is cancelled.
	HoldStep string
	release  chan struct{}
	// Now is the clock used for new snapshots and audit entries.
	Now func() time.Time

	calls  []string
	runErr error // what the last Run* returned
	runCtx error // the last run's context error when it returned
}

// New returns a backend holding n snapshots and matching commits, environments
// and audit entries, all dated relative to now.
func New(n int, now time.Time) *Backend {
	b := &Backend{
		Info: ui.ProjectInfo{App: "bookshop", Registry: Registry, Mode: "ecr"},
		Now:  func() time.Time { return now },
	}
	b.Snaps = Snapshots(n, now)
	newest := ui.Snapshot{}
	if n > 0 {
		newest = b.Snaps[0]
	}
	var released ui.Snapshot
	for _, s := range b.Snaps {
		if rel := releaseTag(s); rel != "" {
			released = s
			break
		}
	}
	b.Dev = ui.DevEnv{
		Target: "ec2-user@10.0.1.23", Container: "dev-app", Image: Registry + ":" + newest.Tag,
		State: "running", Running: true, StartedAt: now.Add(-3*time.Hour - 12*time.Minute), Health: "healthy",
		ImageID: "sha256:" + hexOf("image", 0)[:64], Ports: "8080:8000",
	}
	b.Prod = ui.ProdEnv{
		Deployment: "django-app", Image: Registry + ":" + releaseTag(released), Ready: 3, Desired: 3,
		LastRollout: "rolled out " + releaseTag(released) + " " + now.Add(-26*time.Hour).Format("2006-01-02 15:04"),
		Namespace:   "default", State: "rolled out", Revision: "7",
	}
	b.CommitList = commitsFor(b.Snaps, now)
	b.Audit = auditFor(b.Snaps, now)
	if n > 0 {
		head := b.CommitList[0]
		b.Head = Head{
			Commit: head.SHA, Subject: head.Subject, Tag: newest.Version + "-SNAPSHOT-" + head.SHA[:7],
			Target: b.Dev.Target,
		}
	}
	return b
}

// Snapshots generates n snapshots, newest first: a new patch version every 20
// pushes, 17 minutes apart; the newest of each older version is released.
func Snapshots(n int, now time.Time) []ui.Snapshot {
	out := make([]ui.Snapshot, n)
	groups := (n + 19) / 20
	for i := range out {
		g := i / 20
		ver := versionFor(groups - 1 - g)
		sha := hexOf("commit", i)[:7]
		tag := ver + "-SNAPSHOT-" + sha
		s := ui.Snapshot{
			Tag: tag, Version: ver, ShortSHA: sha,
			Digest:   "sha256:" + hexOf("digest", i),
			PushedAt: now.Add(-time.Duration(i)*17*time.Minute - 3*time.Minute),
			Size:     120_000_000 + int64(i%37)*1_234_567,
			Tags:     []string{tag},
		}
		if g > 0 && i%20 == 0 {
			s.Tags = append(s.Tags, "v"+ver)
		}
		out[i] = s
	}
	return out
}

func versionFor(g int) string { return fmt.Sprintf("1.%d.%d", g/10, g%10) }

func hexOf(kind string, i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", kind, i))
	return fmt.Sprintf("%x", sum)
}

func releaseTag(s ui.Snapshot) string {
	for _, t := range s.Tags {
		if strings.HasPrefix(t, "v") {
			return t
		}
	}
	return ""
}

var subjects = []string{
	"Add wishlist page", "Fix ISBN validation for 979 prefixes", "Bump Django to 5.1.4",
	"Cache the catalogue query", "Show stock levels on book pages", "Refactor checkout view",
	"Translate the footer", "Speed up search with trigram index", "Fix currency rounding",
	"Add healthcheck endpoint", "Log slow requests", "Remove unused fixtures",
}

var authors = []string{"Ana Lima", "Bo Chen", "Chidi Okafor", "Dana Weiss"}

func commitsFor(snaps []ui.Snapshot, now time.Time) []ui.Commit {
	var out []ui.Commit
	// The newest commit has no snapshot yet: a deploy would build it.
	if len(snaps) > 0 {
		out = append(out, ui.Commit{SHA: hexOf("commit", -1)[:40], Subject: "Tidy the admin list filters",
			Author: authors[0], When: now.Add(-90 * time.Second), Branch: "dev"})
	}
	for i := 0; i < len(snaps) && i < 40; i++ {
		s := snaps[i]
		c := ui.Commit{SHA: hexOf("commit", i)[:40], Subject: subjects[i%len(subjects)], Author: authors[i%len(authors)],
			When: s.PushedAt.Add(-2 * time.Minute), Branch: "dev", SnapshotTag: s.Tag}
		out = append(out, c)
		if rel := releaseTag(s); rel != "" {
			out = append(out, ui.Commit{SHA: hexOf("merge", i)[:40], Subject: "Merge dev into main for " + rel,
				Author: authors[(i+1)%len(authors)], When: s.PushedAt.Add(time.Minute), Branch: "main", SnapshotTag: s.Tag, Released: rel})
		}
	}
	return out
}

func auditFor(snaps []ui.Snapshot, now time.Time) []ui.AuditEntry {
	var out []ui.AuditEntry
	for i := 0; i < len(snaps) && i < 100; i++ {
		s := snaps[i]
		if i%3 == 0 {
			out = append(out, ui.AuditEntry{When: s.PushedAt.Add(time.Minute), Env: "dev", Who: authors[i%len(authors)],
				Version: s.Tag, SHA: s.ShortSHA, Result: "deployed", App: "bookshop", Target: "dev-app"})
		}
		if rel := releaseTag(s); rel != "" {
			out = append(out, ui.AuditEntry{When: s.PushedAt.Add(30 * time.Minute), Env: "prod", Who: authors[(i+2)%len(authors)],
				Version: rel, SHA: s.ShortSHA, Result: "promoted", App: "bookshop", Target: "default/django-app"})
		}
	}
	if len(out) > 4 {
		out[4].Result = "failed: rollout timed out"
	}
	return out
}

// SetErrs replaces Errs while the UI may be calling the backend.
func (b *Backend) SetErrs(errs map[string]error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Errs = errs
}

// Calls lists the methods called so far, in order.
func (b *Backend) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// Called reports whether method was called.
func (b *Backend) Called(method string) bool { return slices.Contains(b.Calls(), method) }

// LastRun returns what the last Run* returned and its context's error then.
func (b *Backend) LastRun() (err, ctxErr error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runErr, b.runCtx
}

func (b *Backend) enter(ctx context.Context, method string) error {
	b.mu.Lock()
	b.calls = append(b.calls, method)
	err, block := b.Errs[method], b.Block[method]
	b.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// Project implements ui.Backend.
func (b *Backend) Project() ui.ProjectInfo { return b.Info }

// Snapshots implements ui.Backend.
func (b *Backend) Snapshots(ctx context.Context, page func([]ui.Snapshot)) error {
	if err := b.enter(ctx, "Snapshots"); err != nil {
		return fmt.Errorf("list images in %s: %w", b.Info.Registry, err)
	}
	b.mu.Lock()
	snaps := slices.Clone(b.Snaps)
	size, delay := b.PageSize, b.PageDelay
	b.mu.Unlock()
	if size <= 0 {
		size = 1000
	}
	// A registry lists in no particular order; the UI sorts.
	for start := 0; start < len(snaps); start += size {
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		page(snaps[start:min(start+size, len(snaps))])
	}
	return nil
}

// Commits implements ui.Backend.
func (b *Backend) Commits(ctx context.Context) ([]ui.Commit, error) {
	if err := b.enter(ctx, "Commits"); err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.CommitList), nil
}

// DevEnv implements ui.Backend.
func (b *Backend) DevEnv(ctx context.Context) ui.DevEnv {
	if err := b.enter(ctx, "DevEnv"); err != nil {
		return ui.DevEnv{Target: b.Dev.Target, Err: fmt.Errorf("ssh %s: %w", b.Dev.Target, err)}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Dev
}

// ProdEnv implements ui.Backend.
func (b *Backend) ProdEnv(ctx context.Context) ui.ProdEnv {
	if err := b.enter(ctx, "ProdEnv"); err != nil {
		return ui.ProdEnv{Deployment: b.Prod.Deployment, Err: fmt.Errorf("kubectl get deployment: %w", err)}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Prod
}

// History implements ui.Backend.
func (b *Backend) History(ctx context.Context) ([]ui.AuditEntry, error) {
	if err := b.enter(ctx, "History"); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.Audit), nil
}

// PlanDev implements ui.Backend: the plan of the steps RunDev runs.
func (b *Backend) PlanDev(ctx context.Context) (pipeline.Plan, error) {
	if err := b.enter(ctx, "PlanDev"); err != nil {
		return pipeline.Plan{}, fmt.Errorf("plan dev deploy: %w", err)
	}
	return pipeline.PlanSteps(ctx, "dev", b.devSteps(), nil), nil
}

// PlanPromote implements ui.Backend: the plan of the steps RunPromote runs.
func (b *Backend) PlanPromote(ctx context.Context, tag string) (pipeline.Plan, error) {
	if err := b.enter(ctx, "PlanPromote"); err != nil {
		return pipeline.Plan{}, fmt.Errorf("plan promote %s: %w", tag, err)
	}
	steps, err := b.promoteSteps(tag)
	if err != nil {
		return pipeline.Plan{}, err
	}
	return pipeline.PlanSteps(ctx, "promote", steps, nil), nil
}

// PlanRollback implements ui.Backend: the plan of the steps RunRollback runs.
func (b *Backend) PlanRollback(ctx context.Context, env string) (pipeline.Plan, error) {
	if err := b.enter(ctx, "PlanRollback"); err != nil {
		return pipeline.Plan{}, fmt.Errorf("plan rollback %s: %w", env, err)
	}
	return pipeline.PlanSteps(ctx, "rollback "+env, b.rollbackSteps(env), nil), nil
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	return d[:min(12, len(d))]
}

func (b *Backend) find(tag string) (ui.Snapshot, bool) {
	for _, s := range b.Snaps {
		if s.Tag == tag || slices.Contains(s.Tags, tag) {
			return s, true
		}
	}
	return ui.Snapshot{}, false
}

func (b *Backend) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// locked reads the fake's state under its lock (plans run while the UI calls in).
func (b *Backend) locked(fn func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn()
}

// devSteps are the simulated dev workflow; each plan reads the fake's state when asked.
func (b *Backend) devSteps() []pipeline.Step {
	var h Head
	var inRegistry bool
	var runsNow string
	b.locked(func() {
		h = b.Head
		_, inRegistry = b.find(h.Tag)
		runsNow = b.Dev.Image
	})
	build := pipeline.Acting("build "+h.Tag).With("commit", shortSHA(h.Commit)+"  "+h.Subject)
	push := pipeline.Acting("push " + h.Tag)
	if inRegistry {
		build = pipeline.Skipping("%s is already in the registry", h.Tag)
		push = pipeline.Skipping("%s is already in the registry", h.Tag)
	}
	if h.Dirty {
		build = build.Warn("the working tree has uncommitted changes: they are NOT in the image")
	}
	build.Key, push.Key = h.Tag, h.Tag
	push.Target = Registry
	deploy := pipeline.Acting("replace the dev-app container with "+h.Tag).With("runs now", runsNow)
	deploy.Target, deploy.Key = "container dev-app on "+h.Target, runsNow
	if runsNow == Registry+":"+h.Tag {
		deploy = pipeline.Skipping("dev-app already runs %s", h.Tag)
		deploy.Key = runsNow
	}
	meta := pipeline.Reading("version "+strings.SplitN(h.Tag, "-", 2)[0]+" at "+shortSHA(h.Commit)).With("image tag", h.Tag)
	meta.Key = h.Commit
	steps := []pipeline.Step{
		b.step("read version", meta, 2, func(r pipeline.Reporter) error {
			r.Set("image_tag", h.Tag)
			return nil
		}, say("pyproject.toml: version = %q", h.Tag)),
		b.step("aws auth", pipeline.Reading("check the AWS identity"), 2, nil, say("caller arn:aws:iam::123456789012:user/deployer")),
		b.step("ecr login", pipeline.Reading("log in to "+Registry), 2, nil, say("logged in to %s", Registry)),
		b.step("build image", build, 40, nil, count("Step %d/40 : RUN pip install -r requirements.txt")),
		b.pushStep(push, h.Tag),
		b.step("deploy on dev host", deploy, 8, func(r pipeline.Reporter) error {
			r.Set("container", "dev-app")
			return nil
		}, say("ssh %s: docker run -d --name dev-app -p 8080:8000 …", h.Target)),
		pipeline.NewStep("remove old images", func(context.Context) (pipeline.StepPlan, error) {
			return pipeline.Skipping("no unused images"), nil
		}, func(context.Context, pipeline.Reporter) error { return nil }),
	}
	return steps
}

// RunDev implements ui.Backend: a simulated dev workflow, run against the approved plan.
func (b *Backend) RunDev(ctx context.Context, approved pipeline.Plan, sink pipeline.Sink) error {
	b.enter(ctx, "RunDev")
	var h Head
	b.locked(func() { h = b.Head })
	err := b.finishRun(ctx, "dev", b.devSteps(), approved, sink)
	if err == nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.find(h.Tag); !ok && len(b.Snaps) > 0 {
			s := ui.Snapshot{Tag: h.Tag, Version: b.Snaps[0].Version, ShortSHA: h.Commit[:7],
				Digest: "sha256:" + hexOf("digest", -int(b.now().Unix())), PushedAt: b.now(), Size: 131_000_000, Tags: []string{h.Tag}}
			b.Snaps = append([]ui.Snapshot{s}, b.Snaps...)
			if len(b.CommitList) > 0 {
				b.CommitList[0].SnapshotTag = h.Tag
			}
		}
		b.Dev.Image = Registry + ":" + h.Tag
		b.Dev.StartedAt = b.now()
		b.Audit = append(b.Audit, ui.AuditEntry{When: b.now(), Env: "dev", Who: "you", Version: h.Tag, SHA: shortSHA(h.Commit), Result: "deployed"})
	}
	return err
}

const notesPreview = "## What's changed\n* Add wishlist page (#412)\n* Fix ISBN validation for 979 prefixes (#415)\n* Bump Django to 5.1.4 (#417)\n* Cache the catalogue query (#418)\n* Translate the footer (#421)"

// commitsPreview is the release plan's "commits" fact: what prod gains.
const commitsPreview = "3287d41 Add wishlist page (#412)\n69fdd62 Fix ISBN validation for 979 prefixes (#415)\n566a44a Bump Django to 5.1.4 (#417)\nc7918bd Cache the catalogue query\n1941ef8 Translate the footer (#421)"

// promoteSteps are the simulated prod workflow for tag.
func (b *Backend) promoteSteps(tag string) ([]pipeline.Step, error) {
	var s ui.Snapshot
	var ok, newest bool
	var other, runsNow, deployment string
	b.locked(func() {
		s, ok = b.find(tag)
		newest = len(b.Snaps) > 0 && b.Snaps[0].Tag == s.Tag
		for _, o := range b.Snaps {
			if o.Digest != s.Digest && slices.Contains(o.Tags, "v"+s.Version) {
				other = o.Digest
			}
		}
		runsNow, deployment = b.Prod.Image, b.Prod.Deployment
	})
	if !ok {
		return nil, fmt.Errorf("plan promote: no image tagged %s", tag)
	}
	rel := "v" + s.Version
	find := pipeline.Reading("snapshot "+s.Tag).With("digest", s.Digest)
	find.Key = s.Digest
	if !newest {
		find = find.Warn("this is not the newest snapshot")
	}
	release := pipeline.Acting("create GitHub release "+rel+" on "+s.ShortSHA).With("notes", notesPreview).
		With("commits", commitsPreview).
		Warn("database migrations changed since v1.1.3 (prod): shop/migrations/0007_wishlist.py; the old pods serve during the rollout, so they must stay compatible")
	release.Target = "github.com/bookshop-ops/bookshop"
	tagPlan := pipeline.Acting("tag " + rel + " → " + shortDigest(s.Digest) + ", no layer upload")
	switch {
	case other != "":
		tagPlan = pipeline.Refusing("%s already names %s: a release tag never moves; bump the version", rel, shortDigest(other))
	case slices.Contains(s.Tags, rel):
		tagPlan = pipeline.Skipping("%s already names this image", rel)
	}
	tagPlan.Target, tagPlan.Key = Registry, s.Digest
	setImage := pipeline.Acting("set image "+Registry+":"+rel).With("container", "django-container").With("runs now", runsNow)
	setImage.Target, setImage.Key = "deployment/"+deployment+" in default on prod", runsNow
	steps := []pipeline.Step{
		b.step("read version", pipeline.Reading("version "+s.Version), 2, nil, say("version %s", s.Version)),
		b.step("find snapshot", find, 2, func(r pipeline.Reporter) error {
			r.Set("digest", s.Digest)
			return nil
		}, say("found %s", s.Tag)),
		b.step("create GitHub release", release, 4, func(r pipeline.Reporter) error {
			r.Set("release_url", "https://github.com/bookshop-ops/bookshop/releases/tag/"+rel)
			return nil
		}, say("notes: %d commits since the last release", 12)),
		pipeline.NewStep("tag "+rel, func(context.Context) (pipeline.StepPlan, error) { return tagPlan, nil },
			func(ctx context.Context, r pipeline.Reporter) error {
				if err := sleep(ctx, b.StepDelay/2); err != nil {
					return err
				}
				r.Set("tags", s.Tag+", "+rel)
				r.Logf("put manifest %s → %s", rel, s.Digest)
				return nil
			}),
		b.step("apply k8s/app-prod.yaml", pipeline.Acting("apply the manifest k8s/app-prod.yaml"), 3, nil, say("deployment.apps/django-app configured")),
		b.step("set image", setImage, 2, nil, say("deployment.apps/django-app image updated")),
		b.step("rollout status", pipeline.Reading("wait for the rollout of deployment/"+deployment), 10, nil, count("Waiting for deployment \"django-app\" rollout to finish: %d of 10 checks...")),
	}
	return steps, nil
}

// RunPromote implements ui.Backend: a simulated prod workflow, run against the approved plan.
func (b *Backend) RunPromote(ctx context.Context, tag string, approved pipeline.Plan, sink pipeline.Sink) error {
	b.enter(ctx, "RunPromote")
	steps, err := b.promoteSteps(tag)
	if err != nil {
		b.record(ctx, err)
		return err
	}
	var s ui.Snapshot
	b.locked(func() { s, _ = b.find(tag) })
	rel := "v" + s.Version
	err = b.finishRun(ctx, "prod", steps, approved, sink)
	if err == nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i := range b.Snaps {
			if b.Snaps[i].Digest == s.Digest && !slices.Contains(b.Snaps[i].Tags, rel) {
				b.Snaps[i].Tags = append(b.Snaps[i].Tags, rel)
			}
		}
		b.Prod.Image = Registry + ":" + rel
		b.Prod.LastRollout = "rolled out " + rel + " " + b.now().Format("2006-01-02 15:04")
		b.Audit = append(b.Audit, ui.AuditEntry{When: b.now(), Env: "prod", Who: "you", Version: rel, SHA: s.ShortSHA, Result: "promoted"})
	}
	return err
}

// previous is what env ran before what it runs now, per the fake's audit log.
func (b *Backend) previous(env string) (now, prev string) {
	b.locked(func() {
		now = b.Dev.Image
		if env == "prod" {
			now = b.Prod.Image
		}
		var at time.Time
		for _, e := range b.Audit {
			if e.Env == env && (e.Result == "deployed" || e.Result == "promoted") && !strings.HasSuffix(now, ":"+e.Version) && e.When.After(at) {
				prev, at = Registry+":"+e.Version, e.When
			}
		}
	})
	return now, prev
}

// rollbackSteps are the simulated rollback of env.
func (b *Backend) rollbackSteps(env string) []pipeline.Step {
	now, prev := b.previous(env)
	target := "container dev-app on " + b.Dev.Target
	if env == "prod" {
		target = "deployment/" + b.Prod.Deployment + " in default on prod"
	}
	back := pipeline.Acting("go back to "+prev).With("runs now", now).With("goes back to", prev)
	if prev == "" {
		back = pipeline.Refusing("no earlier %s deploy is recorded: there is nothing to go back to", env).With("runs now", now)
	}
	back.Target, back.Key = target, now+" → "+prev
	return []pipeline.Step{
		b.step("find previous image", pipeline.Reading("read the "+env+" audit log"), 2, nil, say("audit log: previous %s deploy", env)),
		b.step("set image", back, 2, nil, say("image updated")),
		b.step("rollout status", pipeline.Reading("wait until it serves"), 6, nil, count("Waiting for rollout: check %d of 6")),
	}
}

// RunRollback implements ui.Backend: a simulated rollback, run against the approved plan.
func (b *Backend) RunRollback(ctx context.Context, env string, approved pipeline.Plan, sink pipeline.Sink) error {
	b.enter(ctx, "RunRollback")
	_, prev := b.previous(env)
	err := b.finishRun(ctx, env+"-rollback", b.rollbackSteps(env), approved, sink)
	if err == nil {
		b.mu.Lock()
		if env == "prod" {
			b.Prod.Image = prev
		} else {
			b.Dev.Image = prev
		}
		_, version, _ := strings.Cut(prev, ":")
		b.Audit = append(b.Audit, ui.AuditEntry{When: b.now(), Env: env, Who: "you", Version: version, Result: "rolled back"})
		b.mu.Unlock()
	}
	return err
}

func (b *Backend) finishRun(ctx context.Context, workflow string, steps []pipeline.Step, approved pipeline.Plan, sink pipeline.Sink) error {
	// The runner shares the fake's clock so step durations are reproducible.
	r := &pipeline.Runner{Sink: sink, Now: b.Now, Approved: &approved}
	_, err := r.Run(ctx, workflow, steps)
	b.record(ctx, err)
	return err
}

func (b *Backend) record(ctx context.Context, err error) {
	b.mu.Lock()
	b.runErr, b.runCtx = err, ctx.Err()
	b.mu.Unlock()
}

// step simulates a step that plans plan and logs n lines, line(1)…line(n), over StepDelay.
func (b *Backend) step(name string, plan pipeline.StepPlan, n int, then func(pipeline.Reporter) error, line func(i int) string) pipeline.Step {
	return pipeline.NewStep(name, func(context.Context) (pipeline.StepPlan, error) { return plan, nil }, func(ctx context.Context, r pipeline.Reporter) error {
		for i := 1; i <= n; i++ {
			if err := sleep(ctx, b.StepDelay/time.Duration(n)); err != nil {
				return err
			}
			r.Logf("%s", line(i))
			if err := b.midway(ctx, name, i, n); err != nil {
				return err
			}
		}
		if then != nil {
			return then(r)
		}
		return nil
	})
}

func (b *Backend) pushStep(plan pipeline.StepPlan, tag string) pipeline.Step {
	return pipeline.NewStep("push image", func(context.Context) (pipeline.StepPlan, error) { return plan, nil }, func(ctx context.Context, r pipeline.Reporter) error {
		const total = int64(131_000_000)
		const chunks = 20
		r.Logf("The push refers to repository [%s]", Registry)
		for i := int64(1); i <= chunks; i++ {
			if err := sleep(ctx, b.StepDelay/chunks); err != nil {
				return err
			}
			r.Progress(total*i/chunks, total, "bytes")
			if err := b.midway(ctx, "push image", int(i), chunks); err != nil {
				return err
			}
		}
		r.Logf("%s: digest: sha256:%s size: 2204", tag, hexOf("digest", 0)[:64])
		return nil
	})
}

// say logs the same text on every line.
func say(format string, args ...any) func(int) string {
	text := fmt.Sprintf(format, args...)
	return func(int) string { return text }
}

// count logs format with the line number.
func count(format string) func(int) string {
	return func(i int) string { return fmt.Sprintf(format, i) }
}

// midway fails or holds step name at its middle line i of n.
func (b *Backend) midway(ctx context.Context, name string, i, n int) error {
	if i != n/2+1 {
		return nil
	}
	if b.FailStep == name {
		return errors.New(name + ": exit status 1")
	}
	if b.HoldStep == name {
		select {
		case <-b.releaseCh():
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
	}
	return nil
}

func (b *Backend) releaseCh() chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release == nil {
		b.release = make(chan struct{})
	}
	return b.release
}

// Release lets a held step continue.
func (b *Backend) Release() { close(b.releaseCh()) }

func shortSHA(s string) string { return s[:min(7, len(s))] }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
