package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
	"github.com/bookshop-ops/gantry/workflow"
)

const deployRepo = "acme/book-shop"

func deploySHA(n int) string { return fmt.Sprintf("%040x", 0xd0000+n) }

type deployFixture struct {
	gh  *githubtest.Server
	api *github.Client
}

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	s := githubtest.New(t)
	s.AddRepo(deployRepo, true)
	for i := 1; i <= 3; i++ {
		s.AddCommit(deployRepo, deploySHA(i))
	}
	c, err := github.New(github.Options{Repo: deployRepo, APIURL: s.URL, Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	return &deployFixture{gh: s, api: c}
}

func (f *deployFixture) options(env string, commit string, run workflow.ActionsRun) workflow.DeploymentOptions {
	return workflow.DeploymentOptions{
		Environment: env, Production: env == "production", Workflow: "gantry test",
		API: func(context.Context) (workflow.DeploymentAPI, error) { return f.api, nil },
		Run: run,
		Info: func() workflow.DeploymentInfo {
			return workflow.DeploymentInfo{Commit: commit, Snapshot: "1.0.0-SNAPSHOT-x", Digest: "sha256:ab"}
		},
		EnvironmentURL: func(workflow.DeploymentInfo) string {
			return "http://" + env + ".example:8080/"
		},
	}
}

// runDeploy runs the deployment step and a wrapped step doing inner.
func runDeploy(t *testing.T, o workflow.DeploymentOptions, inner pipeline.RunFunc) (*pipelinetest.Recorder, error) {
	t.Helper()
	tr := workflow.NewDeploymentTracker(o)
	step := pipeline.NewStep("deploy", func(context.Context) (pipeline.StepPlan, error) {
		return pipeline.Acting("deploy it"), nil
	}, inner)
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{workflow.DeploymentStep(tr), workflow.WithDeployment(step, tr)}, rec)
	return rec, err
}

func states(d githubtest.Deployment) string {
	var out []string
	for _, s := range d.Statuses {
		out = append(out, s.State)
	}
	return strings.Join(out, ",")
}

func warnings(rec *pipelinetest.Recorder) []string {
	var out []string
	for _, e := range rec.Events() {
		if w, ok := e.(pipeline.Warning); ok {
			out = append(out, w.Text)
		}
	}
	return out
}

func TestDeploymentCreatedAndSucceeds(t *testing.T) {
	f := newDeployFixture(t)
	run := workflow.ActionsRun{ServerURL: "https://github.com", Repository: deployRepo, RunID: "4242", SHA: deploySHA(1)}
	rec, err := runDeploy(t, f.options("dev", deploySHA(1), run), func(context.Context, pipeline.Reporter) error { return nil })
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.Text())
	}
	ds := f.gh.Deployments(deployRepo)
	if len(ds) != 1 {
		t.Fatalf("deployments %+v", ds)
	}
	d := ds[0]
	if d.SHA != deploySHA(1) || d.Ref != deploySHA(1) || d.Environment != "dev" || d.ProductionEnvironment || d.TransientEnvironment || states(d) != "in_progress,success" {
		t.Fatalf("deployment %+v (%s)", d, states(d))
	}
	var payload map[string]any
	if err := json.Unmarshal(d.Payload, &payload); err != nil || payload["commit"] != deploySHA(1) || payload["snapshot"] != "1.0.0-SNAPSHOT-x" || payload["digest"] != "sha256:ab" {
		t.Fatalf("payload %s %v", d.Payload, err)
	}
	last := d.Statuses[1]
	if last.EnvironmentURL != "http://dev.example:8080/" || last.LogURL != "https://github.com/"+deployRepo+"/actions/runs/4242" {
		t.Fatalf("success status %+v", last)
	}
	if w := warnings(rec); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
}

func TestDeploymentFailureKeepsPreviousActive(t *testing.T) {
	f := newDeployFixture(t)
	ok := func(context.Context, pipeline.Reporter) error { return nil }
	if _, err := runDeploy(t, f.options("production", deploySHA(1), workflow.ActionsRun{}), ok); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("rollout of deployment/django-app timed out: " + strings.Repeat("pod not ready; ", 20))
	_, err := runDeploy(t, f.options("production", deploySHA(2), workflow.ActionsRun{}), func(context.Context, pipeline.Reporter) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("the step's error is the run's: %v", err)
	}
	ds := f.gh.Deployments(deployRepo)
	if len(ds) != 2 || states(ds[0]) != "in_progress,success" || states(ds[1]) != "in_progress,failure" {
		t.Fatalf("after a failure: %s / %s", states(ds[0]), states(ds[1]))
	}
	if !ds[1].ProductionEnvironment {
		t.Fatal("production deployment not marked production_environment")
	}
	fail := ds[1].Statuses[1]
	if n := len([]rune(fail.Description)); n > github.MaxStatusDescription || !strings.Contains(fail.Description, "timed out") {
		t.Fatalf("failure description (%d): %q", n, fail.Description)
	}
	// The next success supersedes the first: GitHub's auto_inactive.
	if _, err := runDeploy(t, f.options("production", deploySHA(3), workflow.ActionsRun{}), ok); err != nil {
		t.Fatal(err)
	}
	ds = f.gh.Deployments(deployRepo)
	if states(ds[0]) != "in_progress,success,inactive" || states(ds[1]) != "in_progress,failure" || states(ds[2]) != "in_progress,success" {
		t.Fatalf("after a later success: %s / %s / %s", states(ds[0]), states(ds[1]), states(ds[2]))
	}
}

func TestDeploymentReusesTheJobsDeployment(t *testing.T) {
	f := newDeployFixture(t)
	// Another run's deployment of the same commit, and this job's (its status links the run).
	f.gh.AddDeployment(deployRepo, githubtest.Deployment{SHA: deploySHA(1), Ref: "main", Environment: "production", App: githubtest.ActionsApp,
		Statuses: []githubtest.DeploymentStatus{{State: "success", LogURL: "https://github.com/" + deployRepo + "/actions/runs/99991/job/1"}}})
	job := f.gh.AddDeployment(deployRepo, githubtest.Deployment{SHA: deploySHA(1), Ref: "main", Environment: "production", App: githubtest.ActionsApp,
		Statuses: []githubtest.DeploymentStatus{{State: "queued"}, {State: "in_progress", LogURL: "https://github.com/" + deployRepo + "/actions/runs/9999/job/7"}}})
	run := workflow.ActionsRun{ServerURL: "https://github.com", Repository: deployRepo, RunID: "9999", SHA: deploySHA(1)}
	o := f.options("production", deploySHA(1), run)
	tr := workflow.NewDeploymentTracker(o)
	plan, err := workflow.DeploymentStep(tr).Plan(context.Background())
	if err != nil || !strings.Contains(plan.Summary, fmt.Sprintf("#%d", job.ID)) || plan.Fact("deployment") != fmt.Sprint(job.ID) {
		t.Fatalf("plan %+v %v", plan, err)
	}
	rec, err := runDeploy(t, o, func(context.Context, pipeline.Reporter) error { return nil })
	if err != nil {
		t.Fatalf("%v\n%s", err, rec.Text())
	}
	ds := f.gh.Deployments(deployRepo)
	if len(ds) != 2 {
		t.Fatalf("a second deployment was created: %+v", ds)
	}
	if states(ds[1]) != "queued,in_progress,in_progress,success" {
		t.Fatalf("the job's deployment: %s", states(ds[1]))
	}
	if states(ds[0]) != "success,inactive" {
		t.Fatalf("the other run's deployment: %s", states(ds[0]))
	}
}

func TestDeploymentNoJobDeploymentCreatesOne(t *testing.T) {
	f := newDeployFixture(t)
	// A deployment of the commit from another run (run 12345 is not 1234).
	f.gh.AddDeployment(deployRepo, githubtest.Deployment{SHA: deploySHA(1), Environment: "dev", App: githubtest.ActionsApp,
		Statuses: []githubtest.DeploymentStatus{{State: "in_progress", LogURL: "https://github.com/" + deployRepo + "/actions/runs/12345"}}})
	run := workflow.ActionsRun{ServerURL: "https://github.com", Repository: deployRepo, RunID: "1234", SHA: deploySHA(1)}
	if _, err := runDeploy(t, f.options("dev", deploySHA(1), run), func(context.Context, pipeline.Reporter) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ds := f.gh.Deployments(deployRepo); len(ds) != 2 || states(ds[1]) != "in_progress,success" {
		t.Fatalf("deployments %+v", ds)
	}
}

func TestDeploymentErrorsOnlyWarn(t *testing.T) {
	f := newDeployFixture(t)
	// The commit is unknown to GitHub: creating the deployment fails (422).
	o := f.options("dev", deploySHA(9), workflow.ActionsRun{})
	ran := false
	rec, err := runDeploy(t, o, func(context.Context, pipeline.Reporter) error { ran = true; return nil })
	if err != nil || !ran {
		t.Fatalf("a GitHub error failed the deploy: %v (ran %v)", err, ran)
	}
	w := warnings(rec)
	if len(w) != 1 || !strings.Contains(w[0], "GitHub deployment") {
		t.Fatalf("warnings %q", w)
	}
	// No API at all (no token): the plan warns, the deploy runs.
	o.API = func(context.Context) (workflow.DeploymentAPI, error) { return nil, github.ErrNoToken }
	ran = false
	rec, err = runDeploy(t, o, func(context.Context, pipeline.Reporter) error { ran = true; return nil })
	if err != nil || !ran || len(warnings(rec)) == 0 {
		t.Fatalf("no API: err %v ran %v warnings %q", err, ran, warnings(rec))
	}
}

func TestDeploymentStatusErrorOnlyWarns(t *testing.T) {
	f := newDeployFixture(t)
	tr := workflow.NewDeploymentTracker(f.options("dev", deploySHA(1), workflow.ActionsRun{}))
	step := workflow.WithDeployment(pipeline.NewStep("deploy", func(context.Context) (pipeline.StepPlan, error) {
		return pipeline.Acting("deploy it"), nil
	}, func(context.Context, pipeline.Reporter) error {
		// GitHub goes down after in_progress was posted.
		f.gh.Fail(fmt.Sprintf("/repos/%s/deployments/%d/statuses", deployRepo, tr.ID()), 502)
		return nil
	}), tr)
	rec := &pipelinetest.Recorder{}
	if _, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{workflow.DeploymentStep(tr), step}, rec); err != nil {
		t.Fatalf("a status error failed the deploy: %v", err)
	}
	if w := warnings(rec); len(w) != 1 || !strings.Contains(w[0], "502") {
		t.Fatalf("warnings %q", w)
	}
	if ds := f.gh.Deployments(deployRepo); len(ds) != 1 || states(ds[0]) != "in_progress" {
		t.Fatalf("deployments %+v", ds)
	}
}

func TestDeploymentSkippedDeployIsSuccess(t *testing.T) {
	f := newDeployFixture(t)
	_, err := runDeploy(t, f.options("dev", deploySHA(1), workflow.ActionsRun{}), func(context.Context, pipeline.Reporter) error {
		return pipeline.Skip("already runs it")
	})
	if err != nil {
		t.Fatal(err)
	}
	if ds := f.gh.Deployments(deployRepo); len(ds) != 1 || states(ds[0]) != "in_progress,success" {
		t.Fatalf("deployments %+v", ds)
	}
}

// TestDeploymentSupersedesProduction: where GitHub's auto_inactive spares production
// deployments (as its reference words it), gantry marks the earlier success inactive.
func TestDeploymentSupersedesProduction(t *testing.T) {
	s := githubtest.New(t, githubtest.WithLiteralAutoInactive())
	s.AddRepo(deployRepo, true)
	for i := 1; i <= 3; i++ {
		s.AddCommit(deployRepo, deploySHA(i))
	}
	c, err := github.New(github.Options{Repo: deployRepo, APIURL: s.URL, Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	f := &deployFixture{gh: s, api: c}
	ok := func(context.Context, pipeline.Reporter) error { return nil }
	for i := 1; i <= 3; i++ {
		rec, err := runDeploy(t, f.options("production", deploySHA(i), workflow.ActionsRun{}), ok)
		if err != nil || len(warnings(rec)) != 0 {
			t.Fatalf("run %d: %v %q", i, err, warnings(rec))
		}
	}
	ds := s.Deployments(deployRepo)
	if len(ds) != 3 || states(ds[0]) != "in_progress,success,inactive" || states(ds[1]) != "in_progress,success,inactive" || states(ds[2]) != "in_progress,success" {
		t.Fatalf("deployments: %s / %s / %s", states(ds[0]), states(ds[1]), states(ds[2]))
	}
	for _, d := range ds[:2] {
		if last := d.Statuses[len(d.Statuses)-1]; last.Auto || !strings.Contains(last.Description, "superseded by deployment") {
			t.Fatalf("deployment %d's inactive status: %+v", d.ID, last)
		}
	}
	// The first was handled by the second run: the third stopped at the second's inactive.
	posts := 0
	for _, r := range s.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, fmt.Sprintf("/deployments/%d/statuses", ds[0].ID)) {
			posts++
		}
	}
	if posts != 3 {
		t.Fatalf("%d statuses posted on the first deployment, want in_progress, success, inactive", posts)
	}
}
