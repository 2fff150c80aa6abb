package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
)

// planned is a step whose plan is read from *plan each time, so a test can change the
// world between planning and running.
func planned(name string, plan *pipeline.StepPlan, ran *[]string) pipeline.Step {
	return pipeline.NewStep(name,
		func(context.Context) (pipeline.StepPlan, error) { return *plan, nil },
		func(context.Context, pipeline.Reporter) error { *ran = append(*ran, name); return nil })
}

func TestRunnerFollowsThePlan(t *testing.T) {
	var ran []string
	a := pipeline.Acting("build 1.0.0")
	b := pipeline.Skipping("already in registry")
	c := pipeline.Refusing("v1.0.0 names another image; bump the version")
	d := pipeline.Acting("deploy")
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "t", []pipeline.Step{
		planned("a", &a, &ran), planned("b", &b, &ran), planned("c", &c, &ran), planned("d", &d, &ran),
	}, rec)
	if !errors.Is(err, pipeline.ErrRefused) || !strings.Contains(err.Error(), "bump the version") {
		t.Fatalf("err = %v, want the refusal", err)
	}
	if strings.Join(ran, ",") != "a" {
		t.Fatalf("ran %v; only a acts (b skips, c refuses, d never starts)", ran)
	}
	fin := rec.Finished()
	if len(fin) != 3 || fin[0].Status != pipeline.Succeeded || fin[1].Status != pipeline.Skipped || fin[1].Reason != "already in registry" || fin[2].Status != pipeline.Failed {
		t.Fatalf("finished %+v", fin)
	}
	var plans int
	for _, e := range rec.Events() {
		if p, ok := e.(pipeline.StepPlanned); ok {
			plans++
			if p.Plan.Step == "" {
				t.Errorf("planned event without the step name: %+v", p)
			}
		}
	}
	if plans != 3 {
		t.Errorf("%d StepPlanned events, want 3", plans)
	}
}

func TestPlanStepsMarksLaterFailuresBlocked(t *testing.T) {
	var ran []string
	ok := pipeline.Reading("read metadata")
	ref := pipeline.Refusing("prod is not configured: set prod.host")
	failing := pipeline.NewStep("later", func(context.Context) (pipeline.StepPlan, error) {
		return pipeline.StepPlan{}, errors.New("no snapshot: the earlier step did not run")
	}, nil)
	m := pipeline.NewMasker()
	m.Add("s3cr3t-value")
	leaky := pipeline.Acting("log in with s3cr3t-value")
	plan := pipeline.PlanSteps(context.Background(), "t", []pipeline.Step{
		planned("meta", &ok, &ran), planned("leak", &leaky, &ran), planned("check", &ref, &ran), failing,
	}, m)
	if len(ran) != 0 {
		t.Fatalf("planning ran %v", ran)
	}
	got := []pipeline.Action{}
	for _, s := range plan.Steps {
		got = append(got, s.Action)
	}
	want := []pipeline.Action{pipeline.ActionRead, pipeline.ActionAct, pipeline.ActionRefuse, pipeline.ActionBlocked}
	if len(got) != len(want) {
		t.Fatalf("actions %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("actions %v, want %v", got, want)
		}
	}
	if !plan.Refused() || plan.Steps[3].Step != "later" {
		t.Fatalf("plan %+v", plan)
	}
	if strings.Contains(plan.Steps[1].Summary, "s3cr3t") {
		t.Fatalf("plan leaks a secret: %q", plan.Steps[1].Summary)
	}
}

func TestStaleApprovedPlanStopsBeforeTheEffect(t *testing.T) {
	var ran []string
	tag := pipeline.Acting("tag v1.0.0")
	tag.Key = "sha256:aaa"
	steps := []pipeline.Step{planned("promote", &tag, &ran)}
	approved := pipeline.PlanSteps(context.Background(), "t", steps, nil)

	// Someone else promoted the same image meanwhile: the fresh plan skips, same key.
	tag = pipeline.Skipping("v1.0.0 already names sha256:aaa")
	tag.Key = "sha256:aaa"
	rn := &pipeline.Runner{Sink: &pipelinetest.Recorder{}, Approved: &approved}
	if _, err := rn.Run(context.Background(), "t", steps); err != nil {
		t.Fatalf("a converged step must pass: %v", err)
	}

	// The snapshot moved to another digest: the approved plan is stale.
	tag = pipeline.Acting("tag v1.0.0")
	tag.Key = "sha256:bbb"
	_, err := rn.Run(context.Background(), "t", steps)
	var stale *pipeline.StaleError
	if !errors.As(err, &stale) || !errors.Is(err, pipeline.ErrStale) {
		t.Fatalf("err = %v, want a StaleError", err)
	}
	if len(ran) != 0 {
		t.Fatalf("a stale plan ran %v", ran)
	}
}
