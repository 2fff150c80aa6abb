package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/workflow"
)

// buildOnlyApp is the example app with an oci registry section of its own, for
// build-and-push runs (--no-deploy) against the test registry.
func buildOnlyApp(t *testing.T) (*appRepo, string) {
	t.Helper()
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	t.Setenv("GANTRY_WHO", "e2e-tester")
	repoName := "bookshop-dirty-" + testbed.Suffix()
	a := newAppRepo(t)
	a.write("gantry.toml", sshDevToml(ociSection(t, repoName), 22, "/dev/null", "dev-unused", 18080, ""))
	a.commit("config")
	return a, repoName
}

// registryOf opens the app's configured registry, as promote would.
func registryOf(t *testing.T, dir string) registry.Registry {
	t.Helper()
	cfg, err := config.Load(config.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	reg, err := a.Registry(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestDevDirtyThenCleanThenPromote: a dirty build gets a tag of its own; a clean run
// of the same commit builds the commit's snapshot (it does not take the dirty image
// for it); promote's snapshot search finds the clean image and refuses the dirty tag.
func TestDevDirtyThenCleanThenPromote(t *testing.T) {
	a, repoName := buildOnlyApp(t)
	head := a.git("rev-parse", "HEAD")
	a.write("NOTES.md", "uncommitted notes "+testbed.Suffix()+"\n")
	dbg := filepath.Join(t.TempDir(), "debug.log")

	r := gantry(t, a.Dir, "--debug", dbg, "dev", "--ci", "--allow-dirty", "--no-deploy")
	wantCode(t, r, 0, "dirty build")
	clean := meta.SnapshotTag("1.4.2", head)
	m, err := meta.Read(context.Background(), a.Dir)
	if err != nil || !m.Dirty {
		t.Fatalf("meta %+v, %v", m, err)
	}
	dirty := m.ImageTag
	if !strings.HasPrefix(dirty, clean+"-dirty.") || !meta.IsDirtyTag(dirty) {
		t.Fatalf("dirty tag %q", dirty)
	}
	for _, want := range []string{"image_tag: " + dirty, "uncommitted changes ARE in the image", "can never be promoted", "built from the work tree: 1 uncommitted change(s) on top of " + head[:7]} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("dirty run output lacks %q", want)
		}
	}
	reg := testbed.Registry(t)
	if !inRegistry(t, reg, repoName, dirty) || inRegistry(t, reg, repoName, clean) {
		t.Fatalf("after the dirty build: %s in the registry %v, %s %v; want only the dirty tag",
			dirty, inRegistry(t, reg, repoName, dirty), clean, inRegistry(t, reg, repoName, clean))
	}
	images := registryOf(t, a.Dir)
	ctx := context.Background()
	labels, err := images.Labels(ctx, dirty)
	if err != nil || labels[workflow.LabelDirty] != "true" || labels[workflow.LabelContent] != m.ContentHash || labels[workflow.LabelRevision] != head {
		t.Fatalf("labels of %s: %v, %v", dirty, labels, err)
	}
	// --debug: the headless run's events and the clients' log lines are in the file.
	log, err := os.ReadFile(dbg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pushed " + testbed.Registry(t) + "/" + repoName + ":" + dirty, "gantry "} {
		if !strings.Contains(string(log), want) {
			t.Errorf("--debug file lacks %q:\n%s", want, log)
		}
	}

	// The work tree is clean again: the commit's own snapshot is built, not skipped.
	if err := os.Remove(filepath.Join(a.Dir, "NOTES.md")); err != nil {
		t.Fatal(err)
	}
	r = gantry(t, a.Dir, "dev", "--ci", "--no-deploy")
	wantCode(t, r, 0, "clean build")
	if strings.Contains(r.Out, "already in registry") || !strings.Contains(r.Out, "image_tag: "+clean) {
		t.Fatalf("the clean run skipped or built another tag:\n%s", r.Out)
	}
	cleanLabels, err := images.Labels(ctx, clean)
	if err != nil || cleanLabels[workflow.LabelDirty] != "" || cleanLabels[workflow.LabelRevision] != head {
		t.Fatalf("labels of %s: %v, %v", clean, cleanLabels, err)
	}
	dirtyDigest, _ := registry.ManifestDigest(ctx, images, dirty)
	cleanDigest, _ := registry.ManifestDigest(ctx, images, clean)
	if dirtyDigest == "" || dirtyDigest == cleanDigest {
		t.Fatalf("digests: dirty %q, clean %q", dirtyDigest, cleanDigest)
	}

	g, err := git.Open(ctx, a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := workflow.FindSnapshot(ctx, g, images, workflow.SnapshotSearch{Version: "1.4.2", Head: head})
	if err != nil || snap.Tag != clean || snap.Digest != cleanDigest {
		t.Fatalf("promote's snapshot: %+v, %v; want %s (%s)", snap, err, clean, cleanDigest)
	}
	_, err = workflow.FindSnapshot(ctx, g, images, workflow.SnapshotSearch{Version: "1.4.2", Head: head, Explicit: dirty})
	if err == nil || !strings.Contains(err.Error(), "dirty work tree") || !strings.Contains(err.Error(), "never promoted") {
		t.Fatalf("--snapshot %s: %v, want a refusal naming the dirty build", dirty, err)
	}
}

// TestDevWarnsWhenVersionWasPromoted: the registry holds v1.4.2; gantry dev of a new
// commit still builds and pushes its snapshot, and its plan and run warn with the fix.
func TestDevWarnsWhenVersionWasPromoted(t *testing.T) {
	a, repoName := buildOnlyApp(t)
	r := gantry(t, a.Dir, "dev", "--ci", "--no-deploy")
	wantCode(t, r, 0, "first build")
	if strings.Contains(r.Out, "already promoted") {
		t.Fatalf("a warning before any promotion:\n%s", r.Out)
	}
	images := registryOf(t, a.Dir)
	ctx := context.Background()
	if _, err := images.Tag(ctx, meta.SnapshotTag("1.4.2", a.git("rev-parse", "HEAD")), "v1.4.2"); err != nil {
		t.Fatal(err)
	}
	sha := a.change("after the release")
	want := "version 1.4.2 was already promoted (the registry holds v1.4.2)"

	cfg, err := config.Load(config.Options{Dir: a.Dir})
	if err != nil {
		t.Fatal(err)
	}
	ap, err := app.New(cfg, app.Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	plan := pipeline.PlanSteps(pctx, "dev", ap.Dev(app.DevOptions{NoDeploy: true}), nil)
	if w := strings.Join(plan.Warnings(), "\n"); !strings.Contains(w, want) || !strings.Contains(w, "bump the version in pyproject.toml") || plan.Refused() {
		t.Fatalf("plan warnings %q (refused %v)", w, plan.Refused())
	}

	r = gantry(t, a.Dir, "dev", "--ci", "--no-deploy", "--output", "json")
	wantCode(t, r, 0, "build after the release")
	var warnings []string
	sc := bufio.NewScanner(strings.NewReader(r.Out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct{ Type, Text string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Type == "warning" {
			warnings = append(warnings, rec.Text)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], want) {
		t.Fatalf("warning events %q", warnings)
	}
	if !inRegistry(t, testbed.Registry(t), repoName, meta.SnapshotTag("1.4.2", sha)) {
		t.Errorf("the snapshot of %s was not pushed", sha[:7])
	}
}
