package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

// states lists a fake deployment's statuses, oldest first: "in_progress,success".
func states(d githubtest.Deployment) string {
	var out []string
	for _, s := range d.Statuses {
		out = append(out, s.State)
	}
	return strings.Join(out, ",")
}

func payloadOf(t *testing.T, d githubtest.Deployment) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.Payload, &m); err != nil {
		t.Fatalf("payload %s: %v", d.Payload, err)
	}
	return m
}

func lastStatus(d githubtest.Deployment) githubtest.DeploymentStatus {
	if len(d.Statuses) == 0 {
		return githubtest.DeploymentStatus{}
	}
	return d.Statuses[len(d.Statuses)-1]
}

// TestDevDeploymentsE2E: `gantry dev` with github.deployments on creates a GitHub
// deployment for dev at the commit, posts in_progress and success with the dev URL,
// and the next deploy's success marks the first inactive.
func TestDevDeploymentsE2E(t *testing.T) {
	key := sshEnv(t)
	t.Setenv("GANTRY_REGISTRY_USERNAME", "ci-robot")
	t.Setenv("GANTRY_REGISTRY_PASSWORD", plantedRegPassword)
	gh := githubtest.New(t)
	gh.AddRepo(prodGHRepo, true)
	t.Setenv("GH_TOKEN", gh.Token)
	t.Setenv("GITHUB_TOKEN", "")
	repoName := "bookshop-deployments-" + testbed.Suffix()
	peer := testbed.SSH(t)
	container := "dev-deployments-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)

	app := newAppRepo(t)
	toml := sshDevToml(ociSection(t, repoName), peer.Port, peer.KnownHosts, container, appPort, "") +
		fmt.Sprintf("\n[github]\nrepo = %q\napi_url = %q\ndeployments = true\n", prodGHRepo, gh.URL)
	app.write("gantry.toml", toml)
	first := app.commit("first")
	gh.AddCommit(prodGHRepo, first)

	r := gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "dev deploy")
	wantServing(t, appPort, first)
	noSecrets(t, r.Out, plantedRegPassword, key, gh.Token)
	ds := gh.Deployments(prodGHRepo)
	if len(ds) != 1 {
		t.Fatalf("deployments after the first deploy: %+v", ds)
	}
	d := ds[0]
	url := fmt.Sprintf("http://127.0.0.1:%d/", appPort)
	if d.Environment != "dev" || d.SHA != first || d.Ref != first || d.ProductionEnvironment || d.TransientEnvironment || states(d) != "in_progress,success" ||
		lastStatus(d).EnvironmentURL != url {
		t.Fatalf("dev deployment %+v (%s)", d, states(d))
	}
	pl := payloadOf(t, d)
	if pl["snapshot"] != meta.SnapshotTag("1.4.2", first) || pl["commit"] != first || !strings.HasPrefix(fmt.Sprint(pl["digest"]), "sha256:") {
		t.Fatalf("payload %v", pl)
	}
	if !strings.Contains(r.Out, "deployment") || !strings.Contains(r.Out, "GitHub deployment") {
		t.Errorf("the run does not say what it did with the deployment")
	}

	second := app.change("second")
	gh.AddCommit(prodGHRepo, second)
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "second dev deploy")
	wantServing(t, appPort, second)
	ds = gh.Deployments(prodGHRepo)
	if len(ds) != 2 || states(ds[0]) != "in_progress,success,inactive" || states(ds[1]) != "in_progress,success" || ds[1].SHA != second {
		t.Fatalf("after the second deploy: %s / %s", states(ds[0]), states(ds[1]))
	}

	// A deploy whose health check fails posts failure; the second stays active.
	dockerfile, err := os.ReadFile(filepath.Join(app.Dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	app.write("Dockerfile", string(dockerfile)+"ENV BOOKSHOP_BROKEN=1\n")
	app.write("gantry.toml", sshDevToml(ociSection(t, repoName), peer.Port, peer.KnownHosts, container, appPort, `health_timeout = "4s"`)+
		fmt.Sprintf("\n[github]\nrepo = %q\napi_url = %q\ndeployments = true\n", prodGHRepo, gh.URL))
	broken := app.commit("broken health")
	gh.AddCommit(prodGHRepo, broken)
	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 1, "broken dev deploy")
	wantServing(t, appPort, second)
	ds = gh.Deployments(prodGHRepo)
	if len(ds) != 3 || states(ds[1]) != "in_progress,success" || states(ds[2]) != "in_progress,failure" || ds[2].SHA != broken {
		t.Fatalf("after the failed deploy: %s / %s", states(ds[1]), states(ds[2]))
	}
	if desc := lastStatus(ds[2]).Description; !strings.Contains(desc, "deploy of "+meta.SnapshotTag("1.4.2", broken)+" failed") {
		t.Errorf("failure description %q", desc)
	}

	// What the TUI's Environments screen reads.
	p := &prodApp{appRepo: app, t: t}
	latest, err := p.app().LatestDeployment(context.Background(), "dev")
	if err != nil || latest == nil {
		t.Fatalf("LatestDeployment(dev) = %+v, %v", latest, err)
	}
	if latest.ID != ds[1].ID || latest.SHA != second || latest.Snapshot != meta.SnapshotTag("1.4.2", second) || latest.EnvironmentURL != url || latest.State != "success" {
		t.Fatalf("LatestDeployment(dev) = %+v", latest)
	}
}

// TestPromoteDeploymentsE2E: `gantry promote` reports the rollout to a production
// deployment: success with the release page; a rollout that never pulls posts
// failure and leaves the earlier deployment active; under GitHub Actions the job's
// own deployment gets the statuses instead of a second one.
func TestPromoteDeploymentsE2E(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	t.Setenv("GANTRY_GITHUB_DEPLOYMENTS", "true")
	ctx := context.Background()

	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	snap, digest := p.pushSnapshot("", "1.4.2", head)
	plan := p.plan("")
	if got := planActions(plan); got != "preflight=read metadata=read find snapshot=read release=act promote=act deployment=read rollout=act publish=act" {
		t.Fatalf("plan actions: %s", got)
	}
	if dp, _ := plan.Step("deployment"); !strings.Contains(dp.Summary, "create deployment for production at "+head[:7]) || dp.Fact("snapshot") != snap {
		t.Fatalf("deployment plan %+v", dp)
	}
	if len(p.gh.Deployments(prodGHRepo)) != 0 {
		t.Fatal("planning created a deployment")
	}
	r := gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote 1.4.2")
	ds := p.gh.Deployments(prodGHRepo)
	if len(ds) != 1 {
		t.Fatalf("deployments: %+v", ds)
	}
	good := ds[0]
	release := githubtest.WebURL + "/" + prodGHRepo + "/releases/tag/1.4.2"
	if good.Environment != "production" || !good.ProductionEnvironment || good.SHA != head || states(good) != "in_progress,success" || lastStatus(good).EnvironmentURL != release {
		t.Fatalf("prod deployment %+v (%s)", good, states(good))
	}
	if pl := payloadOf(t, good); pl["snapshot"] != snap || pl["digest"] != digest || pl["version"] != "1.4.2" || pl["commit"] != head {
		t.Fatalf("payload %v", pl)
	}

	// 1.4.3 never pulls: failure, and 1.4.2's deployment stays active.
	bad := p.setVersion("1.4.3")
	p.publish()
	nopull := "gantry/book-shop-nopull-" + testbed.Suffix()
	p.pushSnapshot(nopull, "1.4.3", bad)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", nopull)
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 1, "promote 1.4.3 (never pulls)")
	ds = p.gh.Deployments(prodGHRepo)
	if len(ds) != 2 || states(ds[0]) != "in_progress,success" || states(ds[1]) != "in_progress,failure" || ds[1].SHA != bad {
		t.Fatalf("after the failed rollout: %s / %s", states(ds[0]), states(ds[1]))
	}
	if desc := lastStatus(ds[1]).Description; !strings.Contains(desc, "failed") || len([]rune(desc)) > 140 {
		t.Fatalf("failure description %q", desc)
	}
	latest, err := p.app().LatestDeployment(ctx, "prod")
	if err != nil || latest == nil || latest.ID != good.ID || latest.Version != "1.4.2" || latest.EnvironmentURL != release {
		t.Fatalf("LatestDeployment(prod) after the failure = %+v, %v", latest, err)
	}

	// 1.4.4 from a job that declares `environment: production`: Actions made its deployment.
	fixed := p.setVersion("1.4.4")
	p.publish()
	snap4, _ := p.pushSnapshot("", "1.4.4", fixed)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", p.repoName)
	runID := fmt.Sprint(time.Now().UnixNano() % 1e9)
	runURL := githubtest.WebURL + "/" + prodGHRepo + "/actions/runs/" + runID
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_SERVER_URL", githubtest.WebURL)
	t.Setenv("GITHUB_REPOSITORY", prodGHRepo)
	t.Setenv("GITHUB_RUN_ID", runID)
	t.Setenv("GITHUB_SHA", fixed)
	t.Setenv("GANTRY_GITHUB_DEPLOYMENTS", "")
	os.Unsetenv("GANTRY_GITHUB_DEPLOYMENTS") // the default under Actions is on
	job := p.gh.AddDeployment(prodGHRepo, githubtest.Deployment{SHA: fixed, Ref: "main", Environment: "production", ProductionEnvironment: true,
		App: githubtest.ActionsApp, Creator: "github-actions[bot]",
		Statuses: []githubtest.DeploymentStatus{{State: "queued"}, {State: "in_progress", LogURL: runURL + "/job/1"}}})
	plan = p.plan("")
	if dp, _ := plan.Step("deployment"); dp.Fact("deployment") != fmt.Sprint(job.ID) || !strings.Contains(dp.Summary, "job's deployment") {
		t.Fatalf("deployment plan under Actions %+v", dp)
	}
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote 1.4.4 in a job with environment: production")
	ds = p.gh.Deployments(prodGHRepo)
	if len(ds) != 3 {
		t.Fatalf("a second deployment was created for the job: %d deployments", len(ds))
	}
	if states(ds[2]) != "queued,in_progress,in_progress,success" || lastStatus(ds[2]).LogURL != runURL || lastStatus(ds[2]).EnvironmentURL != githubtest.WebURL+"/"+prodGHRepo+"/releases/tag/1.4.4" {
		t.Fatalf("the job's deployment: %s %+v", states(ds[2]), lastStatus(ds[2]))
	}
	if states(ds[0]) != "in_progress,success,inactive" || states(ds[1]) != "in_progress,failure" {
		t.Fatalf("earlier deployments after 1.4.4: %s / %s", states(ds[0]), states(ds[1]))
	}
	if latest, err := p.app().LatestDeployment(ctx, "prod"); err != nil || latest == nil || latest.ID != job.ID || latest.SHA != fixed || latest.LogURL != runURL {
		t.Fatalf("LatestDeployment(prod) after 1.4.4 = %+v, %v (snapshot %s)", latest, err, snap4)
	}
}
