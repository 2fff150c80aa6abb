package workflow

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/hoststate"
	"github.com/bookshop-ops/gantry/remote/kubectl"
)

// pushSnap pushes a snapshot of version built from commit to the bed's current repository.
func (b *promoteBed) pushSnap(version, commit string) (string, string) {
	b.t.Helper()
	tag := meta.SnapshotTag(version, commit)
	return tag, pushImage(b.t, b.regHost+"/"+b.repoName+":"+tag, map[string]string{RevisionLabel: commit})
}

// useRepo points the bed at another registry repository (its name decides how kwok
// runs its pods: "nopull", "crashloop").
func (b *promoteBed) useRepo(name string) {
	b.t.Helper()
	b.repoName = name
	b.openRegistry()
}

func (b *promoteBed) setVersion(v string) string {
	b.t.Helper()
	return b.commit("Bump to "+v, map[string]string{"pyproject.toml": "[project]\nname = \"book-shop\"\nversion = \"" + v + "\"\n"})
}

// plan is the dry run of the prod workflow as the bed is now.
func (b *promoteBed) plan() pipeline.Plan {
	b.t.Helper()
	return pipeline.PlanSteps(context.Background(), "promote", Promote(b.opts), nil)
}

// planAndRun plans the workflow, runs fresh steps, and checks that every step did what
// its plan said.
func (b *promoteBed) planAndRun() (pipeline.Plan, *pipelinetest.Recorder, map[string]string, error) {
	b.t.Helper()
	plan := b.plan()
	// The run executes the approved plan: a step whose fresh plan disagrees would stop it.
	rec := &pipelinetest.Recorder{}
	sum, err := (&pipeline.Runner{Sink: rec, Approved: &plan}).Run(context.Background(), "promote", Promote(b.opts))
	if errors.Is(err, pipeline.ErrStale) {
		b.t.Fatalf("the approved plan went stale with nothing changed: %v", err)
	}
	checkVerdicts(b.t, plan, rec)
	return plan, rec, sum, err
}

// checkVerdicts asserts that the run did what the plan said for every step: read and act
// succeed, skip is skipped, refuse fails with ErrRefused, and nothing runs after a refusal.
func checkVerdicts(t *testing.T, plan pipeline.Plan, rec *pipelinetest.Recorder) {
	t.Helper()
	fin := rec.Finished()
	for i, sp := range plan.Steps {
		if i >= len(fin) {
			if i == 0 || (fin[len(fin)-1].Status != pipeline.Failed) {
				t.Errorf("step %s planned %s but did not run (%s)", sp.Step, sp.Action, statuses(rec))
			}
			return
		}
		f := fin[i]
		if f.Name != sp.Step {
			t.Fatalf("step %d ran %s, planned %s", i, f.Name, sp.Step)
		}
		want := map[pipeline.Action]pipeline.Status{pipeline.ActionRead: pipeline.Succeeded, pipeline.ActionAct: pipeline.Succeeded,
			pipeline.ActionSkip: pipeline.Skipped, pipeline.ActionRefuse: pipeline.Failed}[sp.Action]
		if f.Status != want {
			t.Errorf("step %s planned %s (%s) but finished %s: %v", sp.Step, sp.Action, sp.Summary, f.Status, f.Err)
		}
		if sp.Action == pipeline.ActionRefuse && !errors.Is(f.Err, pipeline.ErrRefused) {
			t.Errorf("step %s refused in the plan but failed with %v", sp.Step, f.Err)
		}
	}
}

func actions(p pipeline.Plan) string {
	var parts []string
	for _, s := range p.Steps {
		parts = append(parts, s.Step+"="+s.Action.String())
	}
	return strings.Join(parts, " ")
}

func warnings(rec *pipelinetest.Recorder) string {
	var out []string
	for _, e := range rec.Events() {
		if w, ok := e.(pipeline.Warning); ok {
			out = append(out, w.Text)
		}
	}
	return strings.Join(out, "\n")
}

func TestPromotePlanIsWhatRuns(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// setup prepares the bed and returns the plan actions expected.
		setup func(t *testing.T, b *promoteBed) string
		check func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error)
	}{{
		name: "fresh release",
		setup: func(t *testing.T, b *promoteBed) string {
			b.pushSnap("1.0.0", b.repo.head())
			return "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act"
		},
		check: func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error) {
			rp, _ := plan.Step("release")
			for _, f := range []string{"release", "snapshot", "digest", "image tag", "prod", "runs now", "notes"} {
				if rp.Fact(f) == "" {
					t.Errorf("release plan lacks fact %q: %+v", f, rp.Facts)
				}
			}
			if rp.Key != "1.0.0@"+b.repo.head() || !strings.Contains(rp.Fact("release"), "absent") {
				t.Errorf("release plan: key %q, release %q", rp.Key, rp.Fact("release"))
			}
			rels := b.gh.Releases(ghRepo)
			if len(rels) != 1 || rels[0].Draft {
				t.Fatalf("releases after the run: %+v", rels)
			}
			if latest, err := b.ghc.LatestRelease(ctx); err != nil || latest.TagName != "1.0.0" {
				t.Fatalf("latest = %+v %v", latest, err)
			}
		},
	}, {
		name: "re-run",
		setup: func(t *testing.T, b *promoteBed) string {
			b.pushSnap("1.0.0", b.repo.head())
			if rec, _, err := b.run(); err != nil {
				t.Fatalf("first run: %v\n%s", err, logText(rec))
			}
			return "preflight=read metadata=read find snapshot=read release=skip promote=skip rollout=skip publish=skip"
		},
	}, {
		name: "merge commit",
		setup: func(t *testing.T, b *promoteBed) string {
			b.repo.git("checkout", "-q", "-b", "dev")
			devTip := b.commit("Add the catalogue", map[string]string{"bookshop/catalogue.py": "BOOKS = []\n"})
			b.repo.git("checkout", "-q", "main")
			b.repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/dev", "dev")
			b.gh.AddCommit(ghRepo, b.repo.head())
			b.pushSnap("1.0.0", devTip)
			return "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act"
		},
	}, {
		name: "squash merge",
		setup: func(t *testing.T, b *promoteBed) string {
			b.repo.git("checkout", "-q", "-b", "dev")
			devTip := b.commit("Add the catalogue", map[string]string{"bookshop/catalogue.py": "BOOKS = []\n"})
			b.repo.git("checkout", "-q", "main")
			b.repo.git("merge", "-q", "--squash", "dev")
			b.commit("Add the catalogue (#8)", nil)
			b.pushSnap("1.0.0", devTip)
			return "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act"
		},
	}, {
		name: "explicit snapshot of another commit",
		setup: func(t *testing.T, b *promoteBed) string {
			old := b.repo.head()
			tag, _ := b.pushSnap("1.0.0", old)
			b.commit("Unreleased work", map[string]string{"bookshop/wip.py": "x = 1\n"})
			b.opts.Snapshot = tag
			return "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act"
		},
		check: func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error) {
			built := b.repo.git("rev-parse", "HEAD~1")
			rels := b.gh.Releases(ghRepo)
			if len(rels) != 1 || rels[0].TargetCommitish != built || rels[0].Draft {
				t.Fatalf("releases: %+v, want one on %s", rels, built)
			}
			if c, _ := b.gh.TagCommit(ghRepo, "1.0.0"); c != built {
				t.Errorf("git tag 1.0.0 on %s, want %s (the snapshot's commit)", c, built)
			}
			if !strings.Contains(warnings(rec), "not HEAD") || !strings.Contains(strings.Join(plan.Warnings(), "\n"), "not HEAD") {
				t.Errorf("no warning that the release is not at HEAD: %q", warnings(rec))
			}
			if !strings.Contains(rels[0].Body, "not HEAD") {
				t.Errorf("notes do not say the release is not HEAD:\n%s", rels[0].Body)
			}
			// A re-run converges.
			plan2, rec2, _, err2 := b.planAndRun()
			if err2 != nil || actions(plan2) != "preflight=read metadata=read find snapshot=read release=skip promote=skip rollout=skip publish=skip" {
				t.Fatalf("re-run: %v %s (%s)", err2, actions(plan2), statuses(rec2))
			}
		},
	}, {
		name: "migrations since prod",
		setup: func(t *testing.T, b *promoteBed) string {
			b.pushSnap("1.0.0", b.repo.head())
			if rec, _, err := b.run(); err != nil {
				t.Fatalf("first run: %v\n%s", err, logText(rec))
			}
			b.commit("Add stock levels (#9)", map[string]string{"bookshop/migrations/0002_stock.py": "from django.db import migrations\n"})
			b.pushSnap("1.1.0", b.setVersion("1.1.0"))
			return "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act"
		},
		check: func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error) {
			rp, _ := plan.Step("release")
			if !strings.Contains(rp.Fact("commits"), "Add stock levels (#9)") {
				t.Errorf("commits between prod and the candidate: %q", rp.Fact("commits"))
			}
			want := "database migrations changed since 1.0.0 (prod): bookshop/migrations/0002_stock.py"
			if !strings.Contains(strings.Join(rp.Warnings, "\n"), want) || !strings.Contains(warnings(rec), want) {
				t.Errorf("no migration warning in the plan %q or the run %q", rp.Warnings, warnings(rec))
			}
		},
	}, {
		name: "tag conflict",
		setup: func(t *testing.T, b *promoteBed) string {
			b.pushSnap("1.0.0", b.repo.head())
			pushImage(t, b.regHost+"/"+b.repoName+":v1.0.0", nil)
			return "preflight=read metadata=read find snapshot=read release=refuse promote=refuse rollout=act publish=act"
		},
		check: func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error) {
			if n := len(b.gh.Releases(ghRepo)); n != 0 {
				t.Fatalf("%d releases or drafts although the plan refused", n)
			}
		},
	}, {
		name: "release on another commit",
		setup: func(t *testing.T, b *promoteBed) string {
			b.gh.AddRelease(ghRepo, githubtest.Release{TagName: "1.0.0", TargetCommitish: b.repo.head()})
			b.pushSnap("1.0.0", b.commit("more work, same version", map[string]string{"bookshop/more.py": "x = 1\n"}))
			return "preflight=read metadata=read find snapshot=read release=refuse promote=act rollout=act publish=refuse"
		},
		check: func(t *testing.T, b *promoteBed, plan pipeline.Plan, rec *pipelinetest.Recorder, err error) {
			if _, err := b.reg.Resolve(ctx, "v1.0.0"); err == nil {
				t.Fatal("v1.0.0 was created although the release refused")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newPromoteBed(t, "gantry/book-shop")
			want := tc.setup(t, b)
			plan, rec, _, err := b.planAndRun()
			if got := actions(plan); got != want {
				t.Fatalf("plan %s\nwant %s\n%+v", got, want, plan.Refusals())
			}
			if plan.Refused() != (err != nil) {
				t.Fatalf("plan refused=%v, run err %v\n%s", plan.Refused(), err, logText(rec))
			}
			if plan.Refused() && !errors.Is(err, pipeline.ErrRefused) {
				t.Fatalf("refused plan, run failed otherwise: %v", err)
			}
			if tc.check != nil {
				tc.check(t, b, plan, rec, err)
			}
		})
	}
}

func TestPromoteFailedRolloutKeepsTheDraft(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"nopull", "crashloop"} {
		t.Run(kind, func(t *testing.T) {
			b := newPromoteBed(t, "gantry/book-shop")
			b.pushSnap("1.0.0", b.repo.head())
			if rec, _, err := b.run(); err != nil {
				t.Fatalf("good release: %v\n%s", err, logText(rec))
			}
			good, _ := b.kube.Deployment(ctx, "django-app")
			b.useRepo(uniq("gantry/book-shop-" + kind))
			head := b.setVersion("1.1.0")
			b.pushSnap("1.1.0", head)
			// The plan cannot know the image will not start: the run fails where it acts.
			plan := b.plan()
			rec, _, err := b.run()
			if !errors.Is(err, kubectl.ErrRolloutFailed) || statuses(rec) != "preflight=succeeded metadata=succeeded find snapshot=succeeded release=succeeded promote=succeeded rollout=failed" {
				t.Fatalf("err %v (%s)\n%s", err, statuses(rec), logText(rec))
			}
			if actions(plan) != "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act" {
				t.Fatalf("plan %s", actions(plan))
			}
			var draft *githubtest.Release
			for _, r := range b.gh.Releases(ghRepo) {
				if r.TagName == "1.1.0" {
					r := r
					draft = &r
				}
			}
			if draft == nil || !draft.Draft || !strings.Contains(draft.Body, "Not published") {
				t.Fatalf("1.1.0 release = %+v, want a draft saying it was not published", draft)
			}
			if latest, err := b.ghc.LatestRelease(ctx); err != nil || latest.TagName != "1.0.0" {
				t.Fatalf("latest = %+v %v, want 1.0.0", latest, err)
			}
			d, _ := b.kube.Deployment(ctx, "django-app")
			if d.Images["django-container"] != good.Images["django-container"] || d.Ready != 2 {
				t.Fatalf("prod after the failure: %+v", d)
			}
			entries, _ := prodAudit(ctx, b.host, b.opts.Prod, 50)
			if !auditHas(entries, head, "failed: ") {
				t.Fatalf("no failed audit line for %s: %+v", head, entries)
			}
		})
	}
}

func auditHas(entries []hoststate.AuditEntry, sha, prefix string) bool {
	for _, e := range entries {
		if e.Env == "prod" && (sha == "" || e.SHA == sha) && strings.HasPrefix(e.Result, prefix) {
			return true
		}
	}
	return false
}

func TestPromoteRefusesDowngrade(t *testing.T) {
	ctx := context.Background()
	b := newPromoteBed(t, "gantry/book-shop")
	older := b.repo.head()
	b.pushSnap("1.0.0", older)
	newer := b.setVersion("1.1.0")
	b.pushSnap("1.1.0", newer)
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("promote 1.1.0: %v\n%s", err, logText(rec))
	}
	before, _ := b.kube.Deployment(ctx, "django-app")
	b.repo.git("checkout", "-q", older)

	plan, rec, _, err := b.planAndRun()
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "prod runs 1.1.0, newer than 1.0.0") || !strings.Contains(err.Error(), "gantry rollback prod") || !strings.Contains(err.Error(), "--allow-downgrade") {
		t.Fatalf("err = %v (%s)", err, statuses(rec))
	}
	if rp, _ := plan.Step("rollout"); rp.Action != pipeline.ActionRefuse {
		t.Fatalf("rollout plan %+v", rp)
	}
	if after, _ := b.kube.Deployment(ctx, "django-app"); after.Revision != before.Revision || after.Images["django-container"] != before.Images["django-container"] {
		t.Fatalf("prod changed: %+v", after)
	}
	if n := len(b.gh.Releases(ghRepo)); n != 1 {
		t.Fatalf("%d releases after the refused downgrade", n)
	}

	b.opts.AllowDowngrade = true
	plan, rec, _, err = b.planAndRun()
	if err != nil {
		t.Fatalf("--allow-downgrade: %v\n%s", err, logText(rec))
	}
	if !strings.Contains(strings.Join(plan.Warnings(), "\n"), "downgrade") {
		t.Errorf("plan does not warn of the downgrade: %v", plan.Warnings())
	}
	if d, _ := b.kube.Deployment(ctx, "django-app"); ImageVersion(d.Images["django-container"]) != "1.0.0" {
		t.Fatalf("prod runs %s", d.Images["django-container"])
	}
	entries, _ := prodAudit(ctx, b.host, b.opts.Prod, 50)
	found := false
	for _, e := range entries {
		found = found || (e.SHA == older && strings.Contains(e.Result, "downgrade from 1.1.0"))
	}
	if !found {
		t.Fatalf("the downgrade is not audited: %+v", entries)
	}
}

// cancelOnLog is a sink that cancels the run when a log line contains a text.
type cancelOnLog struct {
	pipelinetest.Recorder
	text   string
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelOnLog) Emit(e pipeline.Event) {
	c.Recorder.Emit(e)
	if l, ok := e.(pipeline.StepLog); ok && strings.Contains(l.Line, c.text) {
		c.once.Do(c.cancel)
	}
}

func TestPromoteCancelledRolloutIsUndoneAndConverges(t *testing.T) {
	ctx := context.Background()
	b := newPromoteBed(t, "gantry/book-shop")
	goodRepo := b.repoName
	b.pushSnap("1.0.0", b.repo.head())
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("good release: %v\n%s", err, logText(rec))
	}
	good, _ := b.kube.Deployment(ctx, "django-app")

	b.useRepo(uniq("gantry/book-shop-nopull"))
	head := b.setVersion("1.1.0")
	b.pushSnap("1.1.0", head)
	b.opts.Prod.Poll = 20e9 // the stuck-pod check must not end the wait before the cancel
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &cancelOnLog{text: "$ kubectl rollout status", cancel: cancel}
	_, err := pipeline.Run(cctx, "promote", Promote(b.opts), sink)
	var se *pipeline.StepError
	if !errors.As(err, &se) || !se.Cancelled || se.Step != "rollout" {
		t.Fatalf("err = %v\n%s", err, logText(&sink.Recorder))
	}
	d, _ := b.kube.Deployment(ctx, "django-app")
	if d.Images["django-container"] != good.Images["django-container"] || d.Ready != 2 {
		t.Fatalf("after the cancel prod runs %+v\n%s", d, logText(&sink.Recorder))
	}
	if rel, err := b.ghc.FindRelease(ctx, "1.1.0"); err != nil || !rel.Draft || !strings.Contains(rel.Body, "was cancelled") {
		t.Fatalf("1.1.0 = %+v %v, want a draft saying the rollout was cancelled", rel, err)
	}
	entries, _ := prodAudit(ctx, b.host, b.opts.Prod, 50)
	if !auditHas(entries, head, "was cancelled") {
		t.Fatalf("no audit line for the cancelled rollout: %+v", entries)
	}
	// The lock was released in spite of the cancel: a plain re-run, with the image
	// fixed, converges on the same draft.
	b.opts.Prod.Poll = 0
	b.useRepo(goodRepo)
	b.pushSnap("1.1.0", head)
	plan, rec, _, err := b.planAndRun()
	if err != nil || actions(plan) != "preflight=read metadata=read find snapshot=read release=skip promote=act rollout=act publish=act" {
		t.Fatalf("re-run: %v %s\n%s", err, actions(plan), logText(rec))
	}
	rel, err := b.ghc.FindRelease(ctx, "1.1.0")
	if err != nil || rel.Draft || strings.Contains(rel.Body, "Not published") {
		t.Fatalf("1.1.0 after the re-run: %+v %v", rel, err)
	}
	if n := len(b.gh.Releases(ghRepo)); n != 2 {
		t.Fatalf("%d releases, want 1.0.0 and 1.1.0", n)
	}
}

func TestPromoteRerunUndoesAStuckRollout(t *testing.T) {
	ctx := context.Background()
	b := newPromoteBed(t, "gantry/book-shop")
	b.pushSnap("1.0.0", b.repo.head())
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("good release: %v\n%s", err, logText(rec))
	}
	good, _ := b.kube.Deployment(ctx, "django-app")
	// A killed gantry: the image was set, nothing watched or undid it.
	broken := "registry.test/" + uniq("book-shop-nopull") + ":v1.1.0@" + fakeDigest
	if _, err := b.kube.Run(ctx, hostexec.RunOptions{}, "set", "image", "deployment/django-app", "django-container="+broken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		d, _ := b.kube.Deployment(ctx, "django-app")
		return d.Revision == "2"
	})

	plan, rec, _, err := b.planAndRun()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, logText(rec))
	}
	rp, _ := plan.Step("rollout")
	if rp.Action != pipeline.ActionAct || !strings.Contains(rp.Summary, "undo the stuck rollout of revision 2 to revision 1") {
		t.Fatalf("rollout plan: %+v", rp)
	}
	d, _ := b.kube.Deployment(ctx, "django-app")
	if d.Images["django-container"] != good.Images["django-container"] || d.Ready != 2 {
		t.Fatalf("prod after the re-run: %+v", d)
	}
	rss, err := b.kube.ReplicaSets(ctx, "django-app", d.Selector)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss {
		if rs.Images["django-container"] == broken && rs.Failed == "" {
			t.Fatalf("the broken revision is not marked failed: %+v", rs)
		}
	}
	if target, ok := kubectl.RollbackRevision(rss, d, "django-container"); ok && target.Images["django-container"] == broken {
		t.Fatalf("a rollback would go to the broken revision: %+v", target)
	}
}

func TestRollbackProdPlansAndMovesLatest(t *testing.T) {
	ctx := context.Background()
	b := newPromoteBed(t, "gantry/book-shop")
	b.pushSnap("1.0.0", b.repo.head())
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("1.0.0: %v\n%s", err, logText(rec))
	}
	b.pushSnap("1.1.0", b.setVersion("1.1.0"))
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("1.1.0: %v\n%s", err, logText(rec))
	}
	if latest, _ := b.ghc.LatestRelease(ctx); latest == nil || latest.TagName != "1.1.0" {
		t.Fatalf("latest before the rollback: %+v", latest)
	}
	ro := RollbackProdOptions{
		Host:      b.opts.Host,
		Prod:      b.opts.Prod,
		GitHub:    b.opts.GitHub,
		TagFormat: "{version}",
		Who:       "tester",
	}
	plan := pipeline.PlanSteps(ctx, "rollback prod", RollbackProd(ro), nil)
	up, _ := plan.Step("rollout undo")
	if up.Action != pipeline.ActionAct || up.Fact("revision") != "1" || up.Fact("version") != "1.0.0" || !strings.Contains(up.Summary, "from 1.1.0 (revision 2) to 1.0.0 (revision 1)") {
		t.Fatalf("rollback plan: %+v", up)
	}
	rec := &pipelinetest.Recorder{}
	if _, err := pipeline.Run(ctx, "rollback prod", RollbackProd(ro), rec); err != nil {
		t.Fatalf("rollback: %v\n%s", err, logText(rec))
	}
	checkVerdicts(t, plan, rec)
	if d, _ := b.kube.Deployment(ctx, "django-app"); ImageVersion(d.Images["django-container"]) != "1.0.0" {
		t.Fatalf("prod runs %s after the rollback", d.Images["django-container"])
	}
	latest, err := b.ghc.LatestRelease(ctx)
	if err != nil || latest.TagName != "1.0.0" {
		t.Fatalf("latest after the rollback: %+v %v", latest, err)
	}
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 150; i++ {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("timed out waiting")
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.0.0", "1.1.0", -1, true},
		{"1.10.0", "1.9.3", 1, true},
		{"1.2", "1.2.0", 0, true},
		{"1.2.0rc1", "1.2.0", -1, true},
		{"1.2.0rc2", "1.2.0rc1", 1, true},
		{"1.2.0b1", "1.2.0rc1", -1, true},
		{"1.2.0-beta.2", "1.2.0", -1, true},
		{"2.0.0.dev1", "1.9.9", 1, true},
		{"latest", "1.0.0", 0, false},
	} {
		got, ok := compareVersions(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("compareVersions(%q, %q) = %d %v, want %d %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStripFailedNote(t *testing.T) {
	body := "notes\n"
	marked := body + "\n\n" + failedNoteMarker + "\n> **Not published:** …\n"
	if got, ok := stripFailedNote(marked); !ok || got != body {
		t.Fatalf("strip = %q %v", got, ok)
	}
	if _, ok := stripFailedNote(body); ok {
		t.Fatal("stripped a note that was not there")
	}
}

// prodAudit reads the audit log of the target's app and deployment (not the old
// host-wide log other tests write to).
func prodAudit(ctx context.Context, host hostexec.Runner, t ProdTarget, limit int) ([]hoststate.AuditEntry, error) {
	return hoststate.ReadAppAudit(ctx, host, t.App, "-", []string{t.stateTarget()}, limit)
}

func TestPromoteApprovedPlanGoesStaleWhenHeadMoves(t *testing.T) {
	b := newPromoteBed(t, "gantry/book-shop")
	b.pushSnap("1.0.0", b.repo.head())
	plan := b.plan()
	if plan.Refused() {
		t.Fatalf("plan refused: %+v", plan.Refusals())
	}
	b.commit("moved on after the confirm", map[string]string{"bookshop/late.py": "x = 1\n"})
	rec := &pipelinetest.Recorder{}
	_, err := (&pipeline.Runner{Sink: rec, Approved: &plan}).Run(context.Background(), "promote", Promote(b.opts))
	if !errors.Is(err, pipeline.ErrStale) || statuses(rec) != "preflight=succeeded metadata=failed" {
		t.Fatalf("err = %v (%s)", err, statuses(rec))
	}
	if n := len(b.gh.Releases(ghRepo)); n != 0 {
		t.Fatalf("%d releases after a stale plan", n)
	}
}

func TestRolloutRefusesWithoutProd(t *testing.T) {
	p := &Promotion{Meta: meta.Meta{Version: "1.0.0"}, Image: "r/x:v1.0.0"}
	o := PromoteOptions{}
	plan := rolloutPlan(o, p, readProd(context.Background(), o))
	if plan.Action != pipeline.ActionRefuse || !strings.Contains(plan.Reason, "set the [prod] section in gantry.toml") {
		t.Fatalf("plan = %+v", plan)
	}
	o.Prod = ProdTarget{Deployment: "d", Container: "c"}
	o.Host = func(context.Context) (hostexec.Runner, error) {
		return nil, errors.New("dial prod.example:22: connection refused")
	}
	plan = rolloutPlan(o, p, readProd(context.Background(), o))
	if plan.Action != pipeline.ActionRefuse || !strings.Contains(plan.Reason, "connection refused") || !strings.Contains(plan.Reason, "check prod.host") {
		t.Fatalf("plan = %+v", plan)
	}
}

// Two promotions race: the older one planned while prod was empty, the newer one rolled
// out meanwhile; the older one's rollout decides again under the lock and stops.
func TestPromoteOlderOfTwoRacingRunsStopsUnderTheLock(t *testing.T) {
	ctx := context.Background()
	b := newPromoteBed(t, "gantry/book-shop")
	older := b.repo.head()
	b.pushSnap("1.0.0", older)
	b.pushSnap("1.1.0", b.setVersion("1.1.0"))
	b.repo.git("checkout", "-q", older)
	p := &Promotion{}
	steps := PromoteInto(b.opts, p)
	if plan := pipeline.PlanSteps(ctx, "promote", steps, nil); plan.Refused() {
		t.Fatalf("the older promotion refused while prod was empty: %+v", plan.Refusals())
	}
	b.repo.git("checkout", "-q", "main")
	if rec, _, err := b.run(); err != nil {
		t.Fatalf("promote 1.1.0: %v\n%s", err, logText(rec))
	}
	before, _ := b.kube.Deployment(ctx, "django-app")
	r := &logReporter{}
	err := steps[5].Run(ctx, r)
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "prod runs 1.1.0, newer than 1.0.0") {
		t.Fatalf("older rollout under the lock: %v\n%s", err, r.Text())
	}
	if after, _ := b.kube.Deployment(ctx, "django-app"); after.Revision != before.Revision || after.Images["django-container"] != before.Images["django-container"] {
		t.Fatalf("prod changed: %+v", after)
	}
}

// A wrapper that drops plans (StepFunc around Run) must not skip the checks.
func TestPreflightChecksRunWithoutPlan(t *testing.T) {
	called := 0
	inner := Preflight([]Check{{Name: "registry answers", Run: func(context.Context) error { called++; return errors.New("connection refused; check registry.host") }}})
	wrapped := pipeline.StepFunc(inner.Name(), inner.Run)
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "t", []pipeline.Step{wrapped}, rec)
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "registry answers: connection refused") || called != 1 {
		t.Fatalf("err = %v, checks run %d times", err, called)
	}
	// Planned and run: the checks run once, in the plan.
	called = 0
	inner = Preflight([]Check{{Name: "ok", Run: func(context.Context) error { called++; return nil }}})
	if _, err := pipeline.Run(context.Background(), "t", []pipeline.Step{inner}, rec); err != nil || called != 1 {
		t.Fatalf("err = %v, checks run %d times", err, called)
	}
}
