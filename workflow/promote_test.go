package workflow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

const ghRepo = "acme/book-shop"

// promoteBed wires the prod workflow to real peers: the Debian registry (oci), the
// GitHub fake, and the SSH host whose kubectl drives the test cluster.
type promoteBed struct {
	t        *testing.T
	repo     *histRepo
	regHost  string // host images are pushed to (the registry, or a proxy in front of it)
	repoName string
	reg      registry.Registry
	gh       *githubtest.Server
	ghc      *github.Client
	host     *sshhost.Client
	kube     kubectl.Client
	opts     PromoteOptions
}

// newPromoteBed prepares an app repository at version 1.0.0 with the example manifest,
// and a registry repository named after repoName (its name decides how kwok runs pods).
func newPromoteBed(t *testing.T, repoName string) *promoteBed {
	t.Helper()
	b := &promoteBed{t: t, regHost: testbed.Registry(t), repoName: uniq(repoName)}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(registry.EnvUsername, "")
	t.Setenv(registry.EnvPassword, "")
	b.host = prodHost(t)
	b.kube = kubeNamespace(t, b.host)
	b.gh = githubtest.New(t)
	b.gh.AddRepo(ghRepo, true)
	var err error
	if b.ghc, err = github.New(github.Options{Repo: ghRepo, APIURL: b.gh.URL, Token: b.gh.Token}); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(testManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	b.repo = newHistRepo(t)
	b.commit("initial", map[string]string{
		"pyproject.toml":       "[project]\nname = \"book-shop\"\nversion = \"1.0.0\"\n",
		"k8s/app-prod.yaml":    string(manifest),
		"bookshop/__init__.py": "",
	})
	b.openRegistry()
	b.opts = PromoteOptions{
		Dir:       b.repo.dir,
		TagFormat: "{version}",
		Lineages:  []string{"dev"},
		Registry:  func(context.Context) (PromoteRegistry, error) { return b.reg, nil },
		GitHub:    func(context.Context) (ReleaseAPI, error) { return b.ghc, nil },
		Repo:      func(ctx context.Context) (GitHistory, error) { return git.Open(ctx, b.repo.dir) },
		Host:      func(context.Context) (hostexec.Runner, error) { return b.host, nil },
		Prod:      testTarget(b.kube, filepath.Join(b.repo.dir, "k8s/app-prod.yaml")),
		Who:       "tester",
		Secrets:   []string{b.gh.Token},
	}
	return b
}

func (b *promoteBed) openRegistry() {
	b.t.Helper()
	reg, err := registry.New(context.Background(), config.Registry{Kind: config.KindOCI, Host: b.regHost, Repository: b.repoName}, registry.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reg = reg
}

// commit commits on the current branch and tells the GitHub fake about it.
func (b *promoteBed) commit(msg string, files map[string]string) string {
	b.t.Helper()
	sha := b.repo.commit(msg, files)
	b.gh.AddCommit(ghRepo, sha)
	return sha
}

// pushSnapshot pushes a small image for commit as the dev workflow would, with the
// revision label, and returns its tag and digest.
func (b *promoteBed) pushSnapshot(commit string) (string, string) {
	b.t.Helper()
	tag := meta.SnapshotTag("1.0.0", commit)
	return tag, pushImage(b.t, testbed.Registry(b.t)+"/"+b.repoName+":"+tag, map[string]string{RevisionLabel: commit})
}

func pushImage(t testing.TB, ref string, labels map[string]string) string {
	t.Helper()
	img := testbed.RandomImage(t, 2048, 2, labels, time.Time{})
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return digestOf(t, img)
}

func digestOf(t testing.TB, img v1.Image) string {
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func (b *promoteBed) run() (*pipelinetest.Recorder, map[string]string, error) {
	b.t.Helper()
	rec := &pipelinetest.Recorder{}
	sum, err := pipeline.Run(context.Background(), "promote", Promote(b.opts), rec)
	return rec, sum, err
}

// statuses lists each step's outcome, e.g. "release=skipped".
func statuses(rec *pipelinetest.Recorder) string {
	var parts []string
	for _, f := range rec.Finished() {
		parts = append(parts, f.Name+"="+f.Status.String())
	}
	return strings.Join(parts, " ")
}

// logText is every log line and error of a run, without the Secret events that carry
// raw values on purpose.
func logText(rec *pipelinetest.Recorder) string {
	var b strings.Builder
	for _, e := range rec.Events() {
		switch e := e.(type) {
		case pipeline.StepLog:
			b.WriteString(e.Line + "\n")
		case pipeline.StepFinished:
			b.WriteString(e.Reason + "\n")
			if e.Err != nil {
				b.WriteString(e.Err.Error() + "\n")
			}
		case pipeline.RunFinished:
			for _, k := range e.Keys {
				b.WriteString(k + "=" + e.Summary[k] + "\n")
			}
			if e.Err != nil {
				b.WriteString(e.Err.Error() + "\n")
			}
		}
	}
	return b.String()
}

func TestPromoteWorkflowOnRealPeers(t *testing.T) {
	b := newPromoteBed(t, "gantry/book-shop")
	// A feature branch merged with a merge commit; the snapshot was built on dev.
	b.repo.git("checkout", "-q", "-b", "dev")
	devTip := b.commit("Add the catalogue", map[string]string{"bookshop/catalogue.py": "BOOKS = []\n"})
	b.repo.git("checkout", "-q", "main")
	b.repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from acme/dev", "dev")
	head := b.repo.head()
	b.gh.AddCommit(ghRepo, head)
	b.gh.AddPR(ghRepo, 7, "Add the catalogue", "alice", head)
	snapTag, digest := b.pushSnapshot(devTip)

	rec, sum, err := b.run()
	if err != nil {
		t.Fatalf("%v\n%s", err, logText(rec))
	}
	if got := statuses(rec); got != "preflight=succeeded metadata=succeeded find snapshot=succeeded release=succeeded promote=succeeded rollout=succeeded publish=succeeded" {
		t.Fatalf("statuses: %s", got)
	}
	image := b.reg.Repository() + ":v1.0.0@" + digest
	for k, want := range map[string]string{
		"release_tag": "1.0.0", "digest": digest, "image": image, "promoted_tag": "v1.0.0",
		"tags": snapTag + ", v1.0.0", "snapshot": snapTag,
		"release_url": githubtest.WebURL + "/" + ghRepo + "/releases/tag/1.0.0",
	} {
		if sum[k] != want {
			t.Errorf("summary %s = %q, want %q", k, sum[k], want)
		}
	}
	rels := b.gh.Releases(ghRepo)
	if len(rels) != 1 || rels[0].TagName != "1.0.0" || rels[0].TargetCommitish != head || rels[0].Prerelease || rels[0].Draft {
		t.Fatalf("releases = %+v", rels)
	}
	for _, want := range []string{"* Add the catalogue by @alice", "- Snapshot: `" + snapTag + "`", "- Digest: `" + digest + "`", "- Built from: " + devTip + " (merge parent with HEAD's tree)"} {
		if !strings.Contains(rels[0].Body, want) {
			t.Errorf("release notes lack %q:\n%s", want, rels[0].Body)
		}
	}
	if c, _ := b.gh.TagCommit(ghRepo, "1.0.0"); c != head {
		t.Errorf("git tag 1.0.0 is on %s, want HEAD %s", c, head)
	}
	if d, err := b.reg.Resolve(context.Background(), "v1.0.0"); err != nil || d != digest {
		t.Fatalf("v1.0.0 = %s %v, want %s", d, err, digest)
	}
	dep, err := b.kube.Deployment(context.Background(), "django-app")
	if err != nil || dep.Images["django-container"] != image || dep.Ready != 2 || !strings.Contains(dep.ChangeCause, "gantry promote 1.0.0 ("+snapTag) {
		t.Fatalf("deployment = %+v %v", dep, err)
	}
	if !strings.Contains(sum["rollout"], "2/2 ready at revision 1") {
		t.Errorf("rollout summary %q", sum["rollout"])
	}
	entries, err := prodAudit(context.Background(), b.host, b.opts.Prod, 20)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range entries {
		audited = audited || (e.Env == "prod" && e.SHA == head && e.Version == "1.0.0" && e.Result == "ok: v1.0.0 at revision 1")
	}
	if !audited {
		t.Errorf("no audit line for %s in %+v", head, entries)
	}
	if strings.Contains(logText(rec), b.gh.Token) {
		t.Error("the GitHub token appears in the run's output")
	}

	// Running it again duplicates nothing.
	rec, _, err = b.run()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, logText(rec))
	}
	if got := statuses(rec); got != "preflight=succeeded metadata=succeeded find snapshot=succeeded release=skipped promote=skipped rollout=skipped publish=skipped" {
		t.Fatalf("re-run statuses: %s", got)
	}
	if n := len(b.gh.Releases(ghRepo)); n != 1 {
		t.Fatalf("%d releases after a re-run", n)
	}
	if dep, _ := b.kube.Deployment(context.Background(), "django-app"); dep.Revision != "1" {
		t.Fatalf("re-run made revision %s", dep.Revision)
	}
}

// faultProxy sits in front of the registry and fails the next manifest PUT when armed.
type faultProxy struct {
	failPut atomic.Bool
	puts    atomic.Int64
	host    string
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	fp := &faultProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			fp.puts.Add(1)
			if fp.failPut.CompareAndSwap(true, false) {
				// 503 would be retried by the client; a denial is not.
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"errors":[{"code":"DENIED","message":"write quota exceeded"}]}`))
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	fp.host = strings.TrimPrefix(srv.URL, "http://")
	return fp
}

func TestPromoteRerunAfterFailureAtEachStep(t *testing.T) {
	b := newPromoteBed(t, "gantry/book-shop")
	proxy := newFaultProxy(t, b.regHost)
	b.regHost = proxy.host
	b.openRegistry()
	head := b.repo.head()
	// Preflight: GitHub answers 503 for the repository.
	b.opts.Checks = []Check{{Name: "GitHub release permission", Run: b.ghc.CheckReleasePermission}}
	ghPath := "/repos/" + ghRepo
	ctx := context.Background()
	assertNothing := func(when string) {
		t.Helper()
		if n := len(b.gh.Releases(ghRepo)); n != 0 {
			t.Fatalf("%s: %d releases", when, n)
		}
		if _, err := b.reg.Resolve(ctx, "v1.0.0"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("%s: v1.0.0 exists (%v)", when, err)
		}
	}

	b.gh.Fail(ghPath, http.StatusServiceUnavailable)
	rec, _, err := b.run()
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "GitHub release permission") || statuses(rec) != "preflight=failed" {
		t.Fatalf("preflight failure: %v (%s)", err, statuses(rec))
	}
	assertNothing("after the preflight failure")
	b.gh.Fail(ghPath, 0)

	// Find snapshot: the dev workflow has not pushed HEAD's snapshot yet.
	rec, _, err = b.run()
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), meta.SnapshotTag("1.0.0", head)) {
		t.Fatalf("no snapshot: %v (%s)", err, statuses(rec))
	}
	assertNothing("after the snapshot failure")
	snapTag, digest := b.pushSnapshot(head)

	// Release: GitHub's notes endpoint fails.
	notes := ghPath + "/releases/generate-notes"
	b.gh.Fail(notes, http.StatusBadGateway)
	rec, _, err = b.run()
	if err == nil || statuses(rec) != "preflight=succeeded metadata=succeeded find snapshot=succeeded release=failed" {
		t.Fatalf("release failure: %v (%s)", err, statuses(rec))
	}
	assertNothing("after the release failure")
	b.gh.Fail(notes, 0)

	// Promote: the registry refuses the manifest PUT once.
	proxy.failPut.Store(true)
	rec, _, err = b.run()
	if err == nil || !strings.HasSuffix(statuses(rec), "release=succeeded promote=failed") {
		t.Fatalf("promote failure: %v (%s)", err, statuses(rec))
	}

	// Rollout: the namespace is gone (kubectl apply fails).
	ns := b.kube.Namespace
	b.kube.Namespace = uniq("gantry-missing")
	b.opts.Prod.Namespace = b.kube.Namespace
	rec, _, err = b.run()
	var ke *kubectl.Error
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "not found") || !strings.HasSuffix(statuses(rec), "release=skipped promote=succeeded rollout=failed") {
		t.Fatalf("rollout failure: %v (%s)\n%s", err, statuses(rec), logText(rec))
	}
	b.kube.Namespace, b.opts.Prod.Namespace = ns, ns

	rec, sum, err := b.run()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, logText(rec))
	}
	if got := statuses(rec); got != "preflight=succeeded metadata=succeeded find snapshot=succeeded release=skipped promote=skipped rollout=succeeded publish=succeeded" {
		t.Fatalf("final statuses: %s", got)
	}
	// One release, one promoted tag on the snapshot's digest, one revision.
	if rels := b.gh.Releases(ghRepo); len(rels) != 1 || rels[0].TargetCommitish != head {
		t.Fatalf("releases: %+v", rels)
	}
	var tags []string
	if err := b.reg.List(ctx, func(page []registry.Image) error {
		for _, im := range page {
			tags = append(tags, im.Tag+"="+im.Digest)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || !strings.Contains(strings.Join(tags, " "), snapTag+"="+digest) || !strings.Contains(strings.Join(tags, " "), "v1.0.0="+digest) {
		t.Fatalf("registry tags: %v", tags)
	}
	if puts := proxy.puts.Load(); puts != 2 {
		t.Errorf("%d manifest PUTs, want 2 (one refused, one done)", puts)
	}
	dep, err := b.kube.Deployment(ctx, "django-app")
	if err != nil || dep.Revision != "1" || dep.Ready != 2 || sum["image"] != dep.Images["django-container"] {
		t.Fatalf("deployment: %+v %v", dep, err)
	}
}

func TestPromoteRefusesToMoveAnything(t *testing.T) {
	ctx := context.Background()
	t.Run("release of this version exists for another commit", func(t *testing.T) {
		b := newPromoteBed(t, "gantry/book-shop")
		first := b.repo.head()
		b.gh.AddRelease(ghRepo, githubtest.Release{TagName: "1.0.0", TargetCommitish: first})
		head := b.commit("more work, same version", map[string]string{"bookshop/more.py": "x = 1\n"})
		b.pushSnapshot(head)
		rec, _, err := b.run()
		if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "already exists for "+first) || !strings.Contains(err.Error(), "bump the version in pyproject.toml") {
			t.Fatalf("err = %v", err)
		}
		if !strings.HasSuffix(statuses(rec), "release=failed") {
			t.Fatalf("statuses: %s", statuses(rec))
		}
		if _, err := b.reg.Resolve(ctx, "v1.0.0"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("v1.0.0 was created: %v", err)
		}
	})
	t.Run("v1.0.0 already names another image", func(t *testing.T) {
		b := newPromoteBed(t, "gantry/book-shop")
		b.pushSnapshot(b.repo.head())
		other := pushImage(t, b.regHost+"/"+b.repoName+":v1.0.0", nil)
		rec, _, err := b.run()
		// Refused before any effect: no release, no draft.
		if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "a release tag never moves") {
			t.Fatalf("err = %v", err)
		}
		if n := len(b.gh.Releases(ghRepo)); n != 0 {
			t.Fatalf("%d releases or drafts created although the plan refused", n)
		}
		if !strings.HasSuffix(statuses(rec), "find snapshot=succeeded release=failed") {
			t.Fatalf("statuses: %s", statuses(rec))
		}
		if d, _ := b.reg.Resolve(ctx, "v1.0.0"); d != other {
			t.Fatalf("v1.0.0 moved to %s", d)
		}
		if _, err := b.kube.Deployment(ctx, "django-app"); !errors.Is(err, kubectl.ErrDeploymentNotFound) {
			t.Fatalf("rolled out although the promotion stopped: %v", err)
		}
	})
}

func TestPromotePrereleaseAndSquash(t *testing.T) {
	b := newPromoteBed(t, "gantry/book-shop")
	b.gh.AddRelease(ghRepo, githubtest.Release{TagName: "0.9.0", TargetCommitish: b.repo.head()})
	b.repo.git("checkout", "-q", "-b", "dev")
	devTip := b.commit("Bump to 1.1.0rc1", map[string]string{"pyproject.toml": "[project]\nname = \"book-shop\"\nversion = \"1.1.0rc1\"\n"})
	b.repo.git("checkout", "-q", "main")
	b.repo.git("merge", "-q", "--squash", "dev")
	head := b.commit("Release candidate (#9)", nil)
	tag := meta.SnapshotTag("1.1.0rc1", devTip)
	digest := pushImage(t, b.regHost+"/"+b.repoName+":"+tag, map[string]string{RevisionLabel: devTip})
	b.opts.Prod.PinDigest = false
	rec, sum, err := b.run()
	if err != nil {
		t.Fatalf("%v\n%s", err, logText(rec))
	}
	rels := b.gh.Releases(ghRepo)
	last := rels[len(rels)-1]
	if len(rels) != 2 || last.TagName != "1.1.0rc1" || !last.Prerelease || last.TargetCommitish != head {
		t.Fatalf("releases: %+v", rels)
	}
	// GitHub's notes list no pull request here, so gantry lists the commits since 0.9.0.
	for _, want := range []string{"compare/0.9.0...1.1.0rc1", "## Commits since 0.9.0", "Release candidate (#9)"} {
		if !strings.Contains(last.Body, want) {
			t.Errorf("notes lack %q:\n%s", want, last.Body)
		}
	}
	if sum["digest"] != digest || sum["image"] != b.reg.Repository()+":v1.1.0rc1" {
		t.Fatalf("summary: %v", sum)
	}
	if !strings.Contains(logText(rec), "commit on dev with HEAD's tree") {
		t.Errorf("log does not say how the snapshot was found:\n%s", logText(rec))
	}
}

func TestPromoteMasksSecrets(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"
	token := "ghp_plantedTOKEN1234567890abcdef"
	rec := &pipelinetest.Recorder{}
	step := WithSecrets(pipeline.StepFunc("x", func(ctx context.Context, r pipeline.Reporter) error {
		r.Logf("token %s", token)
		r.Logf("key line b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW")
		return errors.New("failed with " + token)
	}), token, key)
	_, err := pipeline.Run(context.Background(), "t", []pipeline.Step{step}, rec)
	out := logText(rec) + err.Error()
	if strings.Contains(out, token) || strings.Contains(out, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE") {
		t.Fatalf("secret shown:\n%s", out)
	}
	if strings.Count(out, pipeline.Mask) < 3 {
		t.Fatalf("expected masks in:\n%s", out)
	}
}
