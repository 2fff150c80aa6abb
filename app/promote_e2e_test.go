package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
	"github.com/bookshop-ops/gantry/remote/hoststate"
)

const prodGHRepo = "acme/book-shop"

// prodApp is the example book-shop set up for the prod workflow against the test bed:
// registry, GitHub fake, and a namespace of its own on the cluster behind the SSH host.
type prodApp struct {
	*appRepo
	t        *testing.T
	gh       *githubtest.Server
	kube     kubectl.Client
	repoName string
	sshKey   string
	ghSeen   map[string]bool
}

func newProdApp(t *testing.T, registrySection func(repo string) string) *prodApp {
	t.Helper()
	testbed.Kubeconfig(t)
	p := &prodApp{t: t, repoName: "gantry/book-shop-" + testbed.Suffix(), ghSeen: map[string]bool{}}
	p.sshKey = sshEnv(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	p.gh = githubtest.New(t)
	p.gh.AddRepo(prodGHRepo, true)
	t.Setenv("GH_TOKEN", p.gh.Token)
	t.Setenv("GITHUB_TOKEN", "")
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", "")
	os.Unsetenv("GANTRY_REGISTRY_REPOSITORY")

	host := hostClient(t)
	ns := "gantry-e2e-" + testbed.Suffix()
	p.kube = kubectl.Client{Host: host, Command: []string{"microk8s", "kubectl"}}
	if _, err := p.kube.Run(context.Background(), hostexec.RunOptions{}, "create", "namespace", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kube.Run(context.Background(), hostexec.RunOptions{}, "--namespace", ns, "delete", "deployment", "django-app", "--wait=false")
		kubectl.Client{Host: host, Command: p.kube.Command}.Run(context.Background(), hostexec.RunOptions{}, "delete", "namespace", ns, "--wait=false")
	})
	p.kube.Namespace = ns

	p.appRepo = newAppRepo(t)
	peer := testbed.SSH(t)
	p.write("gantry.toml", fmt.Sprintf(`app = "book-shop"

%s

[prod]
host = %q
port = %d
user = %q
known_hosts = %q
kubectl = "microk8s kubectl"
namespace = %q
rollout_timeout = "2m"
lock_timeout = "3m"

[github]
repo = %q
api_url = %q
`, registrySection(p.repoName), peer.Host, peer.Port, peer.User, peer.KnownHosts, ns, prodGHRepo, p.gh.URL))
	// The example's Service pins node port 30080; tests in several namespaces share the
	// cluster, so let Kubernetes pick one.
	manifest, err := os.ReadFile(filepath.Join(p.Dir, "k8s", "app-prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(manifest), "\n") {
		if !strings.Contains(l, "nodePort:") {
			keep = append(keep, l)
		}
	}
	p.write("k8s/app-prod.yaml", strings.Join(keep, "\n"))
	p.commit("Configure prod")
	p.publish()
	return p
}

// publish tells the GitHub fake about every local commit, oldest first, as a push would.
func (p *prodApp) publish() {
	p.t.Helper()
	for _, sha := range strings.Fields(p.git("rev-list", "--reverse", "--topo-order", "HEAD")) {
		if !p.ghSeen[sha] {
			p.ghSeen[sha] = true
			p.gh.AddCommit(prodGHRepo, sha)
		}
	}
}

// setVersion changes pyproject.toml's version on the current branch and commits.
func (p *prodApp) setVersion(v string) string {
	p.t.Helper()
	data, err := os.ReadFile(filepath.Join(p.Dir, "pyproject.toml"))
	if err != nil {
		p.t.Fatal(err)
	}
	cur, _, err := meta.ReadVersion(p.Dir)
	if err != nil {
		p.t.Fatal(err)
	}
	p.write("pyproject.toml", strings.Replace(string(data), `version = "`+cur+`"`, `version = "`+v+`"`, 1))
	return p.commit("Release " + v)
}

// pushSnapshot pushes what the dev workflow would have for commit: the snapshot tag in
// repo (default: the configured one) with the revision label.
func (p *prodApp) pushSnapshot(repo, version, commit string) (string, string) {
	p.t.Helper()
	if repo == "" {
		repo = p.repoName
	}
	tag := meta.SnapshotTag(version, commit)
	img := testbed.RandomImage(p.t, 4096, 2, map[string]string{workflow.RevisionLabel: commit}, time.Time{})
	ref, err := name.ParseReference(testbed.Registry(p.t) + "/" + repo + ":" + tag)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		p.t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return tag, d.String()
}

func (p *prodApp) deployment() kubectl.DeploymentState {
	p.t.Helper()
	d, err := p.kube.Deployment(context.Background(), "django-app")
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

// readyPods counts the deployment's ready pods per image.
func (p *prodApp) readyPods() map[string]int {
	p.t.Helper()
	pods, err := p.kube.Pods(context.Background(), "app=django-app")
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]int{}
	for _, pod := range pods {
		for _, c := range pod.Containers {
			if c.Ready && !pod.Deleting {
				out[c.Image]++
			}
		}
	}
	return out
}

func (p *prodApp) releases() []githubtest.Release { return p.gh.Releases(prodGHRepo) }

// app opens the app the way the TUI does.
func (p *prodApp) app() *app.App {
	p.t.Helper()
	cfg, err := config.Load(config.Options{Dir: p.Dir})
	if err != nil {
		p.t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { a.Close() })
	return a
}

// plan is what the TUI's confirm screen and --dry-run show.
func (p *prodApp) plan(snapshot string) pipeline.Plan {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := p.app()
	return a.Plan(ctx, "promote", a.Promote(app.PromoteOptions{Snapshot: snapshot}))
}

// planActions lists each step's planned action, e.g. "release=skip".
func planActions(pl pipeline.Plan) string {
	var parts []string
	for _, s := range pl.Steps {
		parts = append(parts, s.Step+"="+s.Action.String())
	}
	return strings.Join(parts, " ")
}

// latestRelease is the tag GitHub calls latest ("" when none).
func (p *prodApp) latestRelease() string {
	p.t.Helper()
	c, err := github.New(github.Options{Repo: prodGHRepo, APIURL: p.gh.URL, Token: p.gh.Token})
	if err != nil {
		p.t.Fatal(err)
	}
	rel, err := c.LatestRelease(context.Background())
	if err != nil {
		return ""
	}
	return rel.TagName
}

// release is the fake's release of tag.
func (p *prodApp) release(tag string) (githubtest.Release, bool) {
	for _, r := range p.releases() {
		if r.TagName == tag {
			return r, true
		}
	}
	return githubtest.Release{}, false
}

func (p *prodApp) status() app.ProdStatus {
	p.t.Helper()
	a := p.app()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := a.ProdStatus(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	return st
}

// TestPromoteE2E drives `gantry promote --ci` and `gantry rollback prod --ci` through the
// CLI against the real peers: a release that rolls out, one whose image never pulls, one
// that crash-loops (both stopped early and undone while the old pods keep serving), a
// re-run, and rollbacks.
func TestPromoteE2E(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	reg := testbed.Registry(t)

	// 1.4.2: fast-forward of main to dev; its snapshot was built on dev.
	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	snap, digest := p.pushSnapshot("", "1.4.2", head)
	if st := p.status(); st.State != "absent" || st.Deployment != "django-app" {
		t.Fatalf("status before the first rollout: %+v", st)
	}
	image := reg + "/" + p.repoName + ":v1.4.2@" + digest
	plan := p.plan("")
	rp, _ := plan.Step("release")
	if got := planActions(plan); got != "preflight=read metadata=read find snapshot=read release=act promote=act rollout=act publish=act" {
		t.Fatalf("plan actions: %s\n%+v", got, plan.Refusals())
	}
	if plan.Fact("snapshot") != snap || plan.Fact("digest") != digest || !strings.HasPrefix(rp.Fact("release"), "1.4.2 (absent") || rp.Fact("image tag") != "v1.4.2" ||
		plan.Fact("image") != image || !strings.Contains(rp.Fact("prod"), "deployment/django-app (container django-container)") || plan.Fact("why") != "HEAD" ||
		len(plan.Warnings()) != 0 || !strings.Contains(rp.Fact("notes"), "**Full Changelog**") || rp.Fact("runs now") != "nothing (the deployment does not exist yet)" {
		t.Fatalf("plan: %+v", plan)
	}
	if len(p.releases()) != 0 {
		t.Fatal("planning created a release")
	}
	r := gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote 1.4.2")
	for _, want := range []string{snap, "release_url", githubtest.WebURL + "/" + prodGHRepo + "/releases/tag/1.4.2", image, "successfully rolled out"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	noSecrets(t, r.Out, p.gh.Token, p.sshKey)
	if rels := p.releases(); len(rels) != 1 || rels[0].TargetCommitish != head || rels[0].Draft {
		t.Fatalf("releases: %+v", rels)
	}
	if l := p.latestRelease(); l != "1.4.2" {
		t.Fatalf("latest release %q", l)
	}
	if d := p.deployment(); d.Images["django-container"] != image || d.Ready != 2 {
		t.Fatalf("deployment after 1.4.2: %+v", d)
	}
	// What the TUI shows for prod, read from the cluster.
	st := p.status()
	if st.Image != image || st.Version != "1.4.2" || st.Ready != 2 || st.Desired != 2 || st.State != "rolled out" ||
		st.Revision != "1" || !strings.Contains(st.LastRollout, "revision 1: gantry promote 1.4.2 ("+snap) {
		t.Fatalf("prod status: %+v", st)
	}
	entries := prodAuditFor(t, p.kube, head)
	if len(entries) == 0 || entries[0].Env != "prod" || entries[0].Who != "e2e-tester" || entries[0].Result != "ok: v1.4.2 at revision 1" {
		t.Fatalf("audit: %+v", entries)
	}

	plan = p.plan(snap)
	if plan.Fact("why") != "chosen with --snapshot" || planActions(plan) != "preflight=read metadata=read find snapshot=read release=skip promote=skip rollout=skip publish=skip" ||
		!strings.Contains(plan.Fact("runs now"), "1.4.2") {
		t.Fatalf("plan after promoting: %s %+v", planActions(plan), plan)
	}

	// Re-running duplicates nothing.
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "re-run of 1.4.2")
	if len(p.releases()) != 1 || p.deployment().Revision != "1" || !strings.Contains(r.Out, "already exists") || !strings.Contains(r.Out, "already runs") {
		t.Fatalf("re-run duplicated something: %d releases, revision %s", len(p.releases()), p.deployment().Revision)
	}

	// 1.4.3 merged with a merge commit; its image never pulls.
	p.git("checkout", "-q", "dev")
	devTip := p.setVersion("1.4.3")
	p.git("checkout", "-q", "main")
	p.git("merge", "-q", "--no-ff", "-m", "Merge pull request #12 from acme/dev", "dev")
	p.publish()
	nopull := "gantry/book-shop-nopull-" + testbed.Suffix()
	p.pushSnapshot(nopull, "1.4.3", devTip)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", nopull)
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 1, "promote 1.4.3 (never pulls)")
	for _, want := range []string{"ImagePullBackOff", "Back-off pulling image", "undone: the deployment runs django-container=" + image} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if d := p.deployment(); d.Images["django-container"] != image || p.readyPods()[image] != 2 {
		t.Fatalf("after the undone 1.4.3: %+v, ready %v", d, p.readyPods())
	}
	// A re-run fails the same way and adds no second release or tag.
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 1, "re-run of 1.4.3")
	if n := len(p.releases()); n != 2 {
		t.Fatalf("%d releases after re-running 1.4.3", n)
	}
	// Its release stays a draft that says why; 1.4.2 stays the latest.
	if rel, ok := p.release("1.4.3"); !ok || !rel.Draft || !strings.Contains(rel.Body, "Not published") || p.latestRelease() != "1.4.2" {
		t.Fatalf("1.4.3 release %+v, latest %q", rel, p.latestRelease())
	}

	// 1.4.4 squash-merged; it crash-loops.
	p.git("checkout", "-q", "dev")
	devTip = p.setVersion("1.4.4")
	p.git("checkout", "-q", "main")
	p.git("merge", "-q", "--squash", "dev")
	p.commit("Release 1.4.4 (#13)")
	p.publish()
	crash := "gantry/book-shop-crashloop-" + testbed.Suffix()
	p.pushSnapshot(crash, "1.4.4", devTip)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", crash)
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 1, "promote 1.4.4 (crash-loops)")
	for _, want := range []string{"commit on dev with HEAD's tree", "CrashLoopBackOff", "restarts", "undone: the deployment runs django-container=" + image} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if p.readyPods()[image] != 2 || p.status().Version != "1.4.2" {
		t.Fatalf("after the undone 1.4.4: ready %v, status %+v", p.readyPods(), p.status())
	}

	// Nothing healthy to go back to: the earlier revisions are the failed ones.
	r = gantry(t, p.Dir, "rollback", "prod", "--ci")
	wantCode(t, r, 1, "rollback with only failed revisions behind")
	if !strings.Contains(r.Out, "nothing to roll back to") || p.status().Version != "1.4.2" {
		t.Fatalf("rollback went somewhere: %+v", p.status())
	}

	// 1.4.5 is healthy; rolling back goes to 1.4.2, skipping the failed revisions.
	// After a squash merge the team resets dev to main.
	p.git("checkout", "-q", "dev")
	p.git("reset", "-q", "--hard", "main")
	p.setVersion("1.4.5")
	p.git("checkout", "-q", "main")
	p.git("merge", "-q", "--ff", "dev")
	p.publish()
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", p.repoName)
	p.pushSnapshot("", "1.4.5", p.git("rev-parse", "HEAD"))
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote 1.4.5")
	if st := p.status(); st.Version != "1.4.5" || st.Ready != 2 {
		t.Fatalf("after 1.4.5: %+v", st)
	}
	if l := p.latestRelease(); l != "1.4.5" {
		t.Fatalf("latest after 1.4.5: %q", l)
	}
	a := p.app()
	rb := a.Plan(context.Background(), "rollback prod", a.Rollback("prod", false))
	if up, _ := rb.Step("rollout undo"); up.Action != pipeline.ActionAct || up.Fact("version") != "1.4.2" || up.Fact("revision") == "" || !strings.Contains(up.Summary, "to 1.4.2 (revision ") {
		t.Fatalf("rollback plan: %+v", rb)
	}
	r = gantry(t, p.Dir, "rollback", "prod", "--ci")
	wantCode(t, r, 0, "rollback prod")
	if l := p.latestRelease(); l != "1.4.2" {
		t.Fatalf("latest after the rollback to 1.4.2: %q", l)
	}
	if st := p.status(); st.Image != image || st.Ready != 2 || !strings.Contains(st.LastRollout, "gantry promote 1.4.2") {
		t.Fatalf("after the rollback: %+v", st)
	}
	noSecrets(t, r.Out, p.gh.Token, p.sshKey)
	if rels := p.releases(); len(rels) != 4 {
		t.Fatalf("releases: %d, want 1.4.2 to 1.4.5", len(rels))
	}
}

// TestPromoteE2EECR promotes through ECR (moto) with the labels read from the registry
// host, as with a real ECR repository.
func TestPromoteE2EECR(t *testing.T) {
	repo := "gantry/book-shop-ecr-" + testbed.Suffix()
	p := newProdApp(t, func(string) string { return ecrSection(t, repo) })
	p.repoName = repo
	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	tag := meta.SnapshotTag("1.4.2", head)
	img := testbed.RandomImage(t, 4096, 2, map[string]string{workflow.RevisionLabel: head}, time.Time{})
	ref, _ := name.ParseReference(testbed.Registry(t) + "/" + repo + ":" + tag)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	c := testbed.MotoECR(t)
	testbed.PutECRImage(t, c, repo, tag, img)
	r := gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote through ECR")
	noSecrets(t, r.Out, p.gh.Token, p.sshKey, plantedAWSSecret)
	out, err := c.DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || len(out.ImageDetails) != 1 || len(out.ImageDetails[0].ImageTags) != 2 {
		t.Fatalf("ECR images: %+v %v", out, err)
	}
	want := testbed.Registry(t) + "/" + repo + ":v1.4.2@" + aws.ToString(out.ImageDetails[0].ImageDigest)
	if dep := p.deployment(); dep.Images["django-container"] != want || dep.Ready != 2 {
		t.Fatalf("deployment: %+v, want %s", dep, want)
	}
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "re-run through ECR")
	if !strings.Contains(r.Out, "already") || len(p.releases()) != 1 {
		t.Fatalf("re-run: %d releases", len(p.releases()))
	}
}

// prodAuditFor is the prod audit log of the test app's deployment, entries for sha.
func prodAuditFor(t testing.TB, k kubectl.Client, sha string) []hoststate.AuditEntry {
	t.Helper()
	all, err := hoststate.ReadAppAudit(context.Background(), k.Host, "book-shop", "-", []string{hoststate.ProdTarget(k.Namespace, "django-app")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []hoststate.AuditEntry
	for _, e := range all {
		if e.SHA == sha {
			out = append(out, e)
		}
	}
	return out
}
