package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// devFakeRegistry is a registry.Registry with a scripted repository.
type devFakeRegistry struct {
	mu       sync.Mutex
	logins   int
	labels   map[string]map[string]string // tag → labels
	digests  map[string]string            // tag → digest served over V2
	images   []registry.Image
	password func(n int) string
	released map[string]string // release tag → digest, read through Resolve (as promote writes it)
}

func (f *devFakeRegistry) Kind() config.RegistryKind { return config.KindOCI }
func (f *devFakeRegistry) Host() string              { return "reg.example:5000" }
func (f *devFakeRegistry) Repository() string        { return "reg.example:5000/book-shop" }
func (f *devFakeRegistry) Login(context.Context) (registry.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins++
	return registry.Credentials{Host: f.Host(), Username: "AWS", Password: f.password(f.logins), ExpiresAt: time.Now().Add(time.Hour)}, nil
}
func (f *devFakeRegistry) List(ctx context.Context, fn func([]registry.Image) error) error {
	if len(f.images) == 0 {
		return nil
	}
	return fn(f.images)
}
func (f *devFakeRegistry) Resolve(ctx context.Context, tag string) (string, error) {
	if !strings.HasPrefix(tag, "v") {
		return "", errors.New("Resolve must not be used for a snapshot: the digest is read over V2")
	}
	if d, ok := f.released[tag]; ok {
		return d, nil
	}
	return "", fmt.Errorf("%s: %w", tag, registry.ErrNotFound)
}
func (f *devFakeRegistry) ManifestDigest(ctx context.Context, tag string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.digests[tag]; ok {
		return d, nil
	}
	return "", fmt.Errorf("%s: %w", tag, registry.ErrNotFound)
}
func (f *devFakeRegistry) Labels(ctx context.Context, tag string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l, ok := f.labels[tag]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("%s: %w", tag, registry.ErrNotFound)
}
func (f *devFakeRegistry) Tag(context.Context, string, string) (registry.TagResult, error) {
	return registry.TagResult{}, errors.New("not used")
}
func (f *devFakeRegistry) Check(context.Context) error { return nil }

// devFakeEngine records builds, pushes and pulls.
type devFakeEngine struct {
	reg    *devFakeRegistry
	builds []docker.BuildOptions
	pushes []docker.Auth
	pulls  []string
	digest string // what a push reports
	// afterBuild and afterPush let another run act in between (races).
	afterBuild, afterPush func()
}

func (e *devFakeEngine) Build(ctx context.Context, o docker.BuildOptions, log func(string)) (string, error) {
	e.builds = append(e.builds, o)
	log("Step 1/1 : FROM scratch")
	if e.afterBuild != nil {
		e.afterBuild()
	}
	return "sha256:0123456789abcdef0123", nil
}

func (e *devFakeEngine) Push(ctx context.Context, ref string, a docker.Auth, progress func(docker.Progress), log func(string)) (string, error) {
	e.pushes = append(e.pushes, a)
	progress(docker.Progress{Done: 50, Total: 100})
	progress(docker.Progress{Done: 100, Total: 100})
	// A tool echoing the password must not leak it: the step registered it as a secret.
	log("pushed with " + a.Password)
	tag := ref[strings.LastIndex(ref, ":")+1:]
	e.reg.mu.Lock()
	if e.reg.digests == nil {
		e.reg.digests = map[string]string{}
	}
	if _, ok := e.reg.digests[tag]; !ok {
		e.reg.digests[tag] = e.digest
	}
	e.reg.mu.Unlock()
	if e.afterPush != nil {
		e.afterPush()
	}
	return e.digest, nil
}

func (e *devFakeEngine) Pull(ctx context.Context, ref string, a docker.Auth, progress func(docker.Progress), log func(string)) error {
	e.pulls = append(e.pulls, ref)
	return nil
}

const devTestCommit = "abcdef0123456789abcdef0123456789abcdef01"

func devTestRun(reg *devFakeRegistry, eng *devFakeEngine, dirty bool) *DevRun {
	d := NewDevRun(DevParams{
		Dir:      "/nonexistent",
		Build:    config.Build{Dockerfile: "Dockerfile", Context: ".", Args: map[string]string{"PIP_INDEX": "https://pypi.example", "VERSION": "user-set"}, Target: "runtime"},
		Registry: func(context.Context) (registry.Registry, error) { return reg, nil },
		Engine:   func() (DevEngine, error) { return eng, nil },
		RemoteURL: func(context.Context) string {
			return "https://bot:ghp_token@github.com/acme/book-shop.git"
		},
		Now: func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) },
	})
	d.Meta = meta.Meta{Version: "1.4.2", Commit: devTestCommit, ShortSHA: devTestCommit[:7], ImageTag: meta.SnapshotTag("1.4.2", devTestCommit), Tree: "c1ea4e0000"}
	if dirty {
		d.Meta.Dirty, d.Meta.Changes, d.Meta.Tree = true, []string{"a.py", "b.py", "new.txt"}, "d1a7e00000"
		d.Meta.ContentHash = d.Meta.Tree
		d.Meta.ImageTag = meta.DirtyTag("1.4.2", devTestCommit, d.Meta.ContentHash)
	}
	return d
}

func runDev(t *testing.T, d *DevRun) (*pipelinetest.Recorder, map[string]string, error) {
	t.Helper()
	rec := &pipelinetest.Recorder{}
	sum, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), d.Push()}, rec)
	return rec, sum, err
}

func TestDevBuildAndPush(t *testing.T) {
	reg := &devFakeRegistry{
		password: func(n int) string { return fmt.Sprintf("token-number-%d-xyz", n) },
		images: []registry.Image{
			{Tag: "v1.4.1"},
			{Tag: "1.4.1-SNAPSHOT-1111111"},
			{Tag: "1.4.0-SNAPSHOT-0000000"},
		},
	}
	eng := &devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("d", 64)}
	rec, sum, err := runDev(t, devTestRun(reg, eng, false))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rec.Text())
	}
	if len(eng.builds) != 1 {
		t.Fatalf("%d builds", len(eng.builds))
	}
	b := eng.builds[0]
	tag := "1.4.2-SNAPSHOT-abcdef0"
	wantArgs := map[string]string{"PIP_INDEX": "https://pypi.example", "VERSION": "1.4.2", "COMMIT": devTestCommit, "IMAGE_TAG": tag}
	for k, v := range wantArgs {
		if b.Args[k] != v {
			t.Errorf("build arg %s = %q, want %q", k, b.Args[k], v)
		}
	}
	wantLabels := map[string]string{LabelVersion: "1.4.2", LabelRevision: devTestCommit, LabelSource: "https://github.com/acme/book-shop", LabelCreated: "2024-05-01T12:00:00Z"}
	for k, v := range wantLabels {
		if b.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, b.Labels[k], v)
		}
	}
	if len(b.Tags) != 1 || b.Tags[0] != "reg.example:5000/book-shop:"+tag || b.Target != "runtime" {
		t.Errorf("tags %v target %q", b.Tags, b.Target)
	}
	prev := "reg.example:5000/book-shop:1.4.1-SNAPSHOT-1111111"
	if len(b.CacheFrom) != 1 || b.CacheFrom[0] != prev || len(eng.pulls) != 1 || eng.pulls[0] != prev {
		t.Errorf("cache from %v after pulls %v, want the newest snapshot %s", b.CacheFrom, eng.pulls, prev)
	}
	if sum["digest"] != eng.digest || sum["image_tag"] != tag || sum["image"] != "reg.example:5000/book-shop:"+tag {
		t.Errorf("summary = %v", sum)
	}
	// The push logged in again (a token may have expired since the login step).
	if len(eng.pushes) != 1 || eng.pushes[0].Password == "token-number-1-xyz" || eng.pushes[0].Username != "AWS" {
		t.Errorf("push auth = %v, want the refreshed token", eng.pushes)
	}
	var shown strings.Builder // everything but the Secret events, which carry values on purpose
	secrets := 0
	for _, e := range rec.Events() {
		if _, ok := e.(pipeline.Secret); ok {
			secrets++
			continue
		}
		fmt.Fprintf(&shown, "%#v\n", e)
	}
	text := shown.String()
	if secrets != 3 {
		t.Errorf("%d secrets registered, want one per login (3)", secrets)
	}
	if strings.Contains(text, "token-number-") || !strings.Contains(text, "pushed with ***") {
		t.Errorf("a registry password shows in the events:\n%s", text)
	}
	if strings.Contains(text, "ghp_token") {
		t.Errorf("the remote's credentials show in the events")
	}
	var progress int
	for _, e := range rec.Events() {
		if p, ok := e.(pipeline.StepProgress); ok && p.Unit == "bytes" && p.Total == 100 {
			progress++
		}
	}
	if progress != 2 {
		t.Errorf("%d byte progress events, want 2", progress)
	}
}

func TestDevResumeSkipsBuildAndPush(t *testing.T) {
	tag := "1.4.2-SNAPSHOT-abcdef0"
	reg := &devFakeRegistry{
		password: func(int) string { return "pw-123456" },
		labels:   map[string]map[string]string{tag: {LabelRevision: devTestCommit}},
		digests:  map[string]string{tag: "sha256:" + strings.Repeat("e", 64)},
	}
	eng := &devFakeEngine{reg: reg}
	d := devTestRun(reg, eng, false)
	// The skip is decided in the plan, before anything runs.
	plan := pipeline.PlanSteps(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), d.Push()}, nil)
	for _, name := range []string{"build", "push"} {
		p, _ := plan.Step(name)
		if p.Action != pipeline.ActionSkip || !strings.Contains(p.Reason, "already in registry: "+tag) || !strings.Contains(p.Reason, "built from commit abcdef0") ||
			p.Fact("digest") != reg.digests[tag] || p.Key != tag+"@c1ea4e0000" {
			t.Errorf("%s plan = %+v", name, p)
		}
	}
	rec, sum, err := runDev(t, devTestRun(reg, eng, false))
	if err != nil {
		t.Fatal(err)
	}
	fin := rec.Finished()
	if fin[1].Status != pipeline.Skipped || fin[2].Status != pipeline.Skipped || !strings.Contains(fin[1].Reason, "already in registry") {
		t.Errorf("build/push: %+v %+v", fin[1], fin[2])
	}
	if len(eng.builds)+len(eng.pushes) != 0 {
		t.Errorf("built or pushed although the registry had the image")
	}
	if sum["digest"] != reg.digests[tag] {
		t.Errorf("digest = %q", sum["digest"])
	}
}

// TestDevDirtyBuildHasItsOwnTag: a dirty work tree never reuses, skips to or moves the
// commit's snapshot tag; its image says what it holds and the plan warns.
func TestDevDirtyBuildHasItsOwnTag(t *testing.T) {
	clean := "1.4.2-SNAPSHOT-abcdef0"
	dirtyTag := "1.4.2-SNAPSHOT-abcdef0-dirty.d1a7e00000"
	cleanDigest := "sha256:" + strings.Repeat("e", 64)
	reg := &devFakeRegistry{
		password: func(int) string { return "pw-123456" },
		labels:   map[string]map[string]string{clean: {LabelRevision: devTestCommit}},
		digests:  map[string]string{clean: cleanDigest},
	}
	eng := &devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("f", 64)}
	d := devTestRun(reg, eng, true)
	plan := pipeline.PlanSteps(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), d.Push()}, nil)
	b, _ := plan.Step("build")
	if b.Action != pipeline.ActionAct || b.Fact("image tag") != dirtyTag ||
		b.Fact("contents") != "built from the work tree: 3 uncommitted change(s) on top of abcdef0" || !strings.HasPrefix(b.Fact("dirty build"), "yes") {
		t.Fatalf("build plan = %+v", b)
	}
	if w := strings.Join(b.Warnings, "\n"); !strings.Contains(w, "uncommitted changes ARE in the image") || !strings.Contains(w, "tagged "+dirtyTag+" and can never be promoted") {
		t.Errorf("build warnings = %q", w)
	}
	rec, sum, err := runDev(t, devTestRun(reg, eng, true))
	if err != nil {
		t.Fatalf("dirty run: %v\n%s", err, rec.Text())
	}
	if len(eng.builds) != 1 || eng.builds[0].Tags[0] != "reg.example:5000/book-shop:"+dirtyTag {
		t.Fatalf("builds = %+v", eng.builds)
	}
	if l := eng.builds[0].Labels; l[LabelDirty] != "true" || l[LabelContent] != "d1a7e00000" || l[LabelRevision] != devTestCommit {
		t.Errorf("labels = %v", l)
	}
	if reg.digests[clean] != cleanDigest || reg.digests[dirtyTag] != eng.digest || sum["image_tag"] != dirtyTag {
		t.Errorf("registry %v, summary %v", reg.digests, sum)
	}
	warned := 0
	for _, e := range rec.Events() {
		if w, ok := e.(pipeline.Warning); ok && strings.Contains(w.Text, "can never be promoted") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d dirty warnings in the run, want 1", warned)
	}

	// A re-run of the same content finds its own image.
	reg.labels[dirtyTag] = eng.builds[0].Labels
	eng2 := &devFakeEngine{reg: reg}
	if rec, _, err := runDev(t, devTestRun(reg, eng2, true)); err != nil || len(eng2.builds) != 0 || rec.Finished()[1].Status != pipeline.Skipped {
		t.Errorf("dirty re-run: err %v, %d builds", err, len(eng2.builds))
	}
	// A clean image under a dirty tag (or the reverse) is refused, not reused.
	reg.labels[dirtyTag] = map[string]string{LabelRevision: devTestCommit}
	if _, _, err := runDev(t, devTestRun(reg, &devFakeEngine{reg: reg}, true)); !errors.Is(err, pipeline.ErrRefused) {
		t.Errorf("dirty tag without the dirty labels: %v", err)
	}
	reg.labels[clean] = map[string]string{LabelRevision: devTestCommit, LabelDirty: "true", LabelContent: "0000000000"}
	if _, _, err := runDev(t, devTestRun(reg, &devFakeEngine{reg: reg}, false)); !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "built from a dirty work tree") {
		t.Errorf("clean tag holding a dirty build: %v", err)
	}
}

func TestDevRefusesTagFromAnotherCommit(t *testing.T) {
	tag := "1.4.2-SNAPSHOT-abcdef0"
	reg := &devFakeRegistry{
		password: func(int) string { return "pw-123456" },
		labels:   map[string]map[string]string{tag: {LabelRevision: "abcdef0999999999999999999999999999999999"}},
		digests:  map[string]string{tag: "sha256:" + strings.Repeat("9", 64)},
	}
	eng := &devFakeEngine{reg: reg}
	d := devTestRun(reg, eng, false)
	plan := pipeline.PlanSteps(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), d.Push()}, nil)
	if b, _ := plan.Step("build"); b.Action != pipeline.ActionRefuse || !strings.Contains(b.Reason, "built from commit abcdef0999") || !strings.Contains(b.Reason, "never moved") {
		t.Errorf("build plan = %+v", b)
	}
	_, _, err := runDev(t, devTestRun(reg, eng, false))
	if !errors.Is(err, pipeline.ErrRefused) || len(eng.builds) != 0 {
		t.Fatalf("err = %v, builds %d", err, len(eng.builds))
	}
}

// racedStep runs race between its step's plan and its run.
type racedStep struct {
	pipeline.Step
	race func()
}

func (s racedStep) Plan(ctx context.Context) (pipeline.StepPlan, error) {
	p, err := s.Step.Plan(ctx)
	s.race()
	return p, err
}

// TestDevPushNeverMovesASnapshotTag: another run pushes the tag after this run's build,
// before its push is planned (the plan refuses or skips) or between the push's plan and
// its run (the run re-checks): either way the tag is left alone.
func TestDevPushNeverMovesASnapshotTag(t *testing.T) {
	tag := "1.4.2-SNAPSHOT-abcdef0"
	theirs := "sha256:" + strings.Repeat("7", 64)
	for _, when := range []string{"before the push plan", "between plan and push"} {
		for name, rev := range map[string]string{"other commit": "abcdef0999999999999999999999999999999999", "same commit": devTestCommit} {
			t.Run(when+"/"+name, func(t *testing.T) {
				reg := &devFakeRegistry{password: func(int) string { return "pw-123456" }, digests: map[string]string{}, labels: map[string]map[string]string{}}
				eng := &devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("a", 64)}
				race := func() {
					reg.mu.Lock()
					reg.digests[tag], reg.labels[tag] = theirs, map[string]string{LabelRevision: rev}
					reg.mu.Unlock()
				}
				d := devTestRun(reg, eng, false)
				push := d.Push()
				if when == "before the push plan" {
					eng.afterBuild = race
				} else {
					push = racedStep{Step: push, race: race}
				}
				rec := &pipelinetest.Recorder{}
				sum, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), push}, rec)
				if len(eng.pushes) != 0 || reg.digests[tag] != theirs {
					t.Fatalf("pushed %d time(s); the tag is at %s", len(eng.pushes), reg.digests[tag])
				}
				if rev == devTestCommit {
					// The same sources: this run converges on their image.
					if err != nil || rec.Finished()[2].Status != pipeline.Skipped || d.digest != theirs {
						t.Fatalf("err %v, digest %s", err, d.digest)
					}
					if when != "before the push plan" && sum["digest"] != theirs {
						t.Errorf("summary %v", sum)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), "built from commit abcdef0999") {
					t.Fatalf("err = %v", err)
				}
				if when == "before the push plan" && !errors.Is(err, pipeline.ErrRefused) {
					t.Errorf("the push plan did not refuse: %v", err)
				}
				if when != "before the push plan" && (!errors.Is(err, ErrTagTaken) || !strings.Contains(err.Error(), "nothing was pushed")) {
					t.Errorf("the push's re-check: %v", err)
				}
			})
		}
	}
}

func TestDevPushChecksDigest(t *testing.T) {
	tag := "1.4.2-SNAPSHOT-abcdef0"
	reg := &devFakeRegistry{password: func(int) string { return "pw-123456" }, digests: map[string]string{}}
	eng := &devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("a", 64)}
	// Someone else's push lands between ours and the read-back.
	eng.afterPush = func() {
		reg.mu.Lock()
		reg.digests[tag] = "sha256:" + strings.Repeat("b", 64)
		reg.mu.Unlock()
	}
	_, _, err := runDev(t, devTestRun(reg, eng, false))
	if err == nil || !strings.Contains(err.Error(), "another push raced") {
		t.Fatalf("err = %v", err)
	}
}

// TestDevWarnsOfAPromotedVersion: the registry holds v<version>; the plan and the run
// warn with the fix, and the snapshot is still built and pushed.
func TestDevWarnsOfAPromotedVersion(t *testing.T) {
	reg := &devFakeRegistry{password: func(int) string { return "pw-123456" }, released: map[string]string{"v1.4.2": "sha256:" + strings.Repeat("1", 64)}}
	eng := &devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("a", 64)}
	d := devTestRun(reg, eng, false)
	plan := pipeline.PlanSteps(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build(), d.Push()}, nil)
	want := "version 1.4.2 was already promoted (the registry holds v1.4.2)"
	if w := strings.Join(plan.Warnings(), "\n"); !strings.Contains(w, want) || !strings.Contains(w, "bump the version in pyproject.toml") || plan.Refused() {
		t.Errorf("plan warnings = %q", w)
	}
	rec, _, err := runDev(t, devTestRun(reg, eng, false))
	if err != nil || len(eng.pushes) != 1 {
		t.Fatalf("err %v, %d pushes", err, len(eng.pushes))
	}
	var warned []string
	for _, e := range rec.Events() {
		if w, ok := e.(pipeline.Warning); ok {
			warned = append(warned, w.Text)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], want) {
		t.Errorf("warning events = %q", warned)
	}
	// Not yet released: no warning.
	reg.released = nil
	if p := pipeline.PlanSteps(context.Background(), "dev", []pipeline.Step{d.Login(), d.Build()}, nil); len(p.Warnings()) != 0 {
		t.Errorf("warnings for an unreleased version: %q", p.Warnings())
	}
}

func TestSourceURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://x-access-token:ghs_abc@github.com/acme/book-shop.git": "https://github.com/acme/book-shop",
		"git@github.com:acme/book-shop.git":                            "https://github.com/acme/book-shop",
		"ssh://git@github.com:22/acme/book-shop.git":                   "https://github.com/acme/book-shop",
		"https://gitlab.example/acme/book-shop":                        "https://gitlab.example/acme/book-shop",
		"/srv/git/book-shop.git":                                       "",
		"":                                                             "",
	} {
		if got := SourceURL(in); got != want {
			t.Errorf("SourceURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithSecretsMasksBeforeTheStep(t *testing.T) {
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{
		WithSecrets(pipeline.StepFunc("preflight", func(ctx context.Context, r pipeline.Reporter) error {
			return errors.New("key line AAAAC3NzaC1lZDI1NTE5 leaked")
		}), "AAAAC3NzaC1lZDI1NTE5"),
	}, rec)
	if err == nil || strings.Contains(err.Error(), "AAAAC3NzaC1lZDI1NTE5") {
		t.Fatalf("err = %v", err)
	}
	if fin := rec.Finished(); len(fin) != 1 || fin[0].Name != "preflight" {
		t.Errorf("finished = %+v", fin)
	}
}

// TestWithSecretsKeepsThePlan: the wrapped step's plan decides (a failed preflight
// refuses, the run stops before later steps), with the secret masked in it.
func TestWithSecretsKeepsThePlan(t *testing.T) {
	secret := "AAAAC3NzaC1lZDI1NTE5"
	checks := []Check{{Name: "ssh key", Run: func(context.Context) error { return errors.New("key " + secret + " is refused") }}}
	later := false
	steps := []pipeline.Step{
		WithSecrets(Preflight(checks), secret),
		pipeline.StepFunc("build", func(context.Context, pipeline.Reporter) error { later = true; return nil }),
	}
	plan := pipeline.PlanSteps(context.Background(), "dev", steps, nil)
	p, _ := plan.Step("preflight")
	if p.Action != pipeline.ActionRefuse || !strings.Contains(p.Reason, "ssh key") || strings.Contains(fmt.Sprint(p), secret) {
		t.Fatalf("preflight plan = %+v", p)
	}
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "dev", steps, rec)
	if !errors.Is(err, pipeline.ErrRefused) || later || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v, later step ran: %v", err, later)
	}
}
