package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/pipeline"
)

// world is what fake steps plan against; a change between the confirm and the run
// makes the approved plan stale.
type world struct {
	digest atomic.Value
	ran    atomic.Int32
	plans  atomic.Int32
}

func (w *world) steps() []pipeline.Step {
	read := pipeline.NewStep("find snapshot", func(context.Context) (pipeline.StepPlan, error) {
		w.plans.Add(1)
		p := pipeline.Reading("snapshot 1.4.2-SNAPSHOT-abcdef0").With("digest", w.digest.Load().(string))
		p.Key = w.digest.Load().(string)
		return p, nil
	}, func(context.Context, pipeline.Reporter) error { return nil })
	act := pipeline.NewStep("rollout", func(context.Context) (pipeline.StepPlan, error) {
		p := pipeline.Acting("set image to " + w.digest.Load().(string))
		p.Target, p.Key = "deployment/django-app in default on prod", w.digest.Load().(string)
		return p, nil
	}, func(context.Context, pipeline.Reporter) error { w.ran.Add(1); return nil })
	return []pipeline.Step{read, act}
}

func testGlobals(stdin string) (*globals, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &globals{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, noColor: true,
		env: func(string) (string, bool) { return "", false }}, &out, &errb
}

// The confirm shows the plan; when the world changes before the run, the run stops
// with the stale message and changes nothing.
func TestConfirmStalePlanStops(t *testing.T) {
	w := &world{}
	w.digest.Store("sha256:aaaa")
	g, out, errb := testGlobals("y\n")
	steps := func() []pipeline.Step {
		s := w.steps()
		if w.plans.Load() > 0 {
			w.digest.Store("sha256:bbbb") // someone pushed another image after the confirm
		}
		return s
	}
	err := g.execute(context.Background(), workflowRun{name: "promote", steps: steps, masker: pipeline.NewMasker(), ask: true, question: "Promote?"})
	if !errors.Is(err, pipeline.ErrStale) || ExitCode(err) != ExitFailed {
		t.Fatalf("err = %v (exit %d), want a stale plan (exit 1)", err, ExitCode(err))
	}
	if !strings.Contains(errb.String(), "sha256:aaaa") || !strings.Contains(errb.String(), "deployment/django-app in default on prod") || !strings.Contains(errb.String(), "Promote? [y/N]") {
		t.Errorf("the confirm did not show the plan:\n%s", errb.String())
	}
	if !strings.Contains(out.String(), "the plan went stale") {
		t.Errorf("the run did not say the plan went stale:\n%s", out.String())
	}
	if w.ran.Load() != 0 {
		t.Fatal("a stale plan ran its side effect")
	}
}

// An unchanged world runs the approved plan; "n" runs nothing.
func TestConfirmRunsTheApprovedPlan(t *testing.T) {
	w := &world{}
	w.digest.Store("sha256:aaaa")
	g, out, _ := testGlobals("y\n")
	if err := g.execute(context.Background(), workflowRun{name: "promote", steps: w.steps, masker: pipeline.NewMasker(), ask: true, question: "Promote?"}); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if w.ran.Load() != 1 || !strings.Contains(out.String(), "set image to sha256:aaaa") {
		t.Fatalf("ran %d times:\n%s", w.ran.Load(), out)
	}
	g, _, _ = testGlobals("n\n")
	err := g.execute(context.Background(), workflowRun{name: "promote", steps: w.steps, masker: pipeline.NewMasker(), ask: true, question: "Promote?"})
	if ExitCode(err) != ExitBadInput || w.ran.Load() != 1 {
		t.Fatalf("declined: %v, ran %d", err, w.ran.Load())
	}
}

// A refused plan is shown, not asked about, and exits 1; --dry-run of it exits 1 too.
func TestRefusedPlanIsNotAsked(t *testing.T) {
	refuse := func() []pipeline.Step {
		return []pipeline.Step{pipeline.NewStep("release", func(context.Context) (pipeline.StepPlan, error) {
			return pipeline.Refusing("release v1.4.2 exists for another commit: bump the version"), nil
		}, func(context.Context, pipeline.Reporter) error { t.Error("a refused step ran"); return nil })}
	}
	g, _, errb := testGlobals("y\n")
	err := g.execute(context.Background(), workflowRun{name: "promote", steps: refuse, ask: true, question: "Promote?"})
	if ExitCode(err) != ExitFailed || strings.Contains(errb.String(), "[y/N]") || !strings.Contains(errb.String(), "bump the version") {
		t.Fatalf("err %v, stderr:\n%s", err, errb)
	}
	g, out, _ := testGlobals("")
	g.output = "json"
	err = g.execute(context.Background(), workflowRun{name: "promote", steps: refuse, dryRun: true})
	var plan struct {
		Type    string
		Refused bool
	}
	if ExitCode(err) != ExitFailed || json.Unmarshal(out.Bytes(), &plan) != nil || plan.Type != "plan" || !plan.Refused {
		t.Fatalf("dry run of a refused plan: %v\n%s", err, out)
	}
}

// `gantry dev --dry-run -o json` prints one plan object naming every step of the dev
// workflow, exits 0 exactly when it would run, and changes nothing.
func TestDevDryRunJSON(t *testing.T) {
	dir := appRepo(t, "[project]\nname='book-shop'\nversion='1.4.2'\n", "app = 'book-shop'\n[registry]\nkind = 'embedded'\n[dev]\ntarget = 'local'\n")
	data := t.TempDir()
	env := map[string]string{"GANTRY_DATA_DIR": data, "GANTRY_REGISTRY_HOST": "127.0.0.1:1"}
	code, out, errOut := run(t, env, "dev", "--dry-run", "-o", "json", "--ci", "--dir", dir)
	var plan struct {
		Type     string              `json:"type"`
		Workflow string              `json:"workflow"`
		Steps    []pipeline.StepPlan `json:"steps"`
		Refused  bool                `json:"refused"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("exit %d, not one JSON object (%v):\n%s\n%s", code, err, out, errOut)
	}
	cfg, err := config.Load(config.Options{Dir: dir, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := app.New(cfg, app.Options{Headless: true})
	want := a.Dev(app.DevOptions{})
	if plan.Type != "plan" || plan.Workflow != "dev" || len(plan.Steps) != len(want) {
		t.Fatalf("plan %+v, want %d steps", plan, len(want))
	}
	for i, s := range want {
		if plan.Steps[i].Step != s.Name() || plan.Steps[i].Summary == "" {
			t.Errorf("step %d = %+v, want %q with a summary", i, plan.Steps[i], s.Name())
		}
	}
	if (code == ExitOK) == plan.Refused || (code != ExitOK && code != ExitFailed) {
		t.Fatalf("exit %d for a plan refused=%v:\n%s", code, plan.Refused, errOut)
	}
}
