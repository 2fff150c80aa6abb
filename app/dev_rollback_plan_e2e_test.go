package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// TestDevRollbackPlanNamesTheImageItStarts: after two deploys, the rollback's plan
// (what the TUI's confirm shows) names the first image, and running that approved
// plan starts exactly that image; a deploy re-run plans a skip.
func TestDevRollbackPlanNamesTheImageItStarts(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	container := "dev-rbplan-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	repo := newAppRepo(t)
	repoName := "bookshop-rbplan-" + testbed.Suffix()
	repo.write("gantry.toml", sshDevToml(ociSection(t, repoName), peer.Port, peer.KnownHosts, container, appPort, ""))
	first := repo.commit("first")
	wantCode(t, gantry(t, repo.Dir, "dev", "--ci"), 0, "first deploy")
	second := repo.change("second")
	wantCode(t, gantry(t, repo.Dir, "dev", "--ci"), 0, "second deploy")

	cfg, err := config.Load(config.Options{Dir: repo.Dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()

	// The deploy of HEAD plans a skip: it already runs and answers healthy.
	dev := pipeline.PlanSteps(ctx, "dev", a.Dev(app.DevOptions{}), nil)
	for _, s := range dev.Steps {
		if s.Step == "deploy" && (s.Action != pipeline.ActionSkip || !strings.Contains(s.Reason, "answers healthy") || s.Fact("runs now") == "") {
			t.Errorf("deploy plan of what runs already: %+v", s)
		}
	}

	plan := pipeline.PlanSteps(ctx, "rollback", a.Rollback("dev", false), nil)
	var rb pipeline.StepPlan
	for _, s := range plan.Steps {
		if s.Step == "rollback" {
			rb = s
		}
	}
	tag1 := "1.4.2-SNAPSHOT-" + first[:7]
	if rb.Action != pipeline.ActionAct || !strings.HasSuffix(rb.Fact("image"), ":"+tag1) || !strings.Contains(rb.Summary, tag1) ||
		!strings.Contains(rb.Fact("runs now"), second[:7]) || rb.Fact("sha") != first || rb.Key == "" {
		t.Fatalf("rollback plan = %+v", rb)
	}
	rec := &pipelinetest.Recorder{}
	runner := &pipeline.Runner{Sink: rec, Approved: &plan}
	if _, err := runner.Run(ctx, "rollback", a.Rollback("dev", false)); err != nil {
		t.Fatalf("run the approved rollback: %v\n%s", err, rec.Text())
	}
	res, err := hostClient(t).Run(ctx, hostexec.Command("docker", "container", "inspect", "--format", "{{.Config.Image}}", container), hostexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(res.Stdout); got != rb.Fact("image") {
		t.Fatalf("the rollback started %q, its plan said %q", got, rb.Fact("image"))
	}
	wantServing(t, appPort, first)
}

// TestInsecureHostKeyWarnsEveryRun: insecure_ignore_host_key shows as a Warning
// event of the preflight step on every run.
func TestInsecureHostKeyWarnsEveryRun(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	repo := newAppRepo(t)
	toml := sshDevToml(ociSection(t, "bookshop-insecure-"+testbed.Suffix()), peer.Port, peer.KnownHosts, "dev-insecure-"+testbed.Suffix(), testbed.FreePort(t), "insecure_ignore_host_key = true")
	repo.write("gantry.toml", toml)
	repo.commit("insecure")
	cfg, err := config.Load(config.Options{Dir: repo.Dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if w := a.Warnings(); len(w) != 1 || !strings.Contains(w[0], "dev.insecure_ignore_host_key") {
		t.Fatalf("Warnings() = %q", w)
	}
	for i := 0; i < 2; i++ {
		rec := &pipelinetest.Recorder{}
		_, _ = (&pipeline.Runner{Sink: rec}).Run(context.Background(), "rollback", a.Rollback("dev", false)[:1])
		n := 0
		for _, e := range rec.Events() {
			if w, ok := e.(pipeline.Warning); ok && strings.Contains(w.Text, "insecure_ignore_host_key") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("run %d: %d host key warnings, want 1:\n%s", i, n, rec.Text())
		}
	}
}
