package workflow

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"strings"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/meta"
)

// Check is one preflight check: it changes nothing and says how to fix a failure.
type Check struct {
	Name string
	// Run returns nil when the check passes. Its error should say what to fix.
	Run func(ctx context.Context) error
	// Inspect, if set, replaces Run: it also returns what the user should know of a
	// passing check (a note shown beside "ok") and warnings that do not fail it.
	Inspect func(ctx context.Context) (note string, warnings []string, err error)
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name string
	Err  error
	// Note and Warnings come from a check's Inspect.
	Note     string
	Warnings []string
}

// RunChecks runs every check (all of them, so the user sees every problem at once).
func RunChecks(ctx context.Context, checks []Check) []CheckResult {
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		res := CheckResult{Name: c.Name}
		if c.Inspect != nil {
			res.Note, res.Warnings, res.Err = c.Inspect(ctx)
		} else {
			res.Err = c.Run(ctx)
		}
		out[i] = res
	}
	return out
}

// PreflightError lists the checks that failed.
type PreflightError struct{ Failed []CheckResult }

func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d preflight check(s) failed, nothing was changed:", len(e.Failed))
	for _, f := range e.Failed {
		fmt.Fprintf(&b, "\n  %s: %v", f.Name, f.Err)
	}
	return b.String()
}

// Is makes PreflightError match ErrPreflight.
func (e *PreflightError) Is(target error) bool { return target == ErrPreflight }

// Preflight is the first step of both workflows: every check, before any side effect.
// Its plan runs the checks (they only look) and refuses, listing every failure, when one
// fails; its run reports the results the plan found, so no check runs twice.
func Preflight(checks []Check) pipeline.Step {
	var results []CheckResult
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		results = RunChecks(ctx, checks)
		if err := ctx.Err(); err != nil {
			return pipeline.StepPlan{}, err
		}
		return preflightPlan(results), nil
	}
	run := func(ctx context.Context, r pipeline.Reporter) error {
		if results == nil && len(checks) > 0 {
			// Run without Plan (a wrapper that drops plans): the same decision, here.
			p, err := plan(ctx)
			if err != nil {
				return err
			}
			if p.Action == pipeline.ActionRefuse {
				return &pipeline.RefusedError{Reason: p.Reason}
			}
		}
		for _, res := range results {
			r.Logf("✓ %s", res.Name)
		}
		return nil
	}
	return pipeline.NewStep("preflight", plan, run)
}

// preflightPlan turns check results into the step's plan: a refusal naming every failed
// check and its fix, or a read listing the checks that passed.
func preflightPlan(results []CheckResult) pipeline.StepPlan {
	var failed []CheckResult
	for _, res := range results {
		if res.Err != nil {
			failed = append(failed, res)
		}
	}
	if len(failed) > 0 {
		p := pipeline.Refusing("%s", (&PreflightError{Failed: failed}).Error())
		p.Summary = fmt.Sprintf("refuse: %d of %d preflight check(s) failed", len(failed), len(results))
		for _, f := range failed {
			p = p.With("✗ "+f.Name, f.Err.Error())
		}
		return p
	}
	p := pipeline.Reading(fmt.Sprintf("%d preflight check(s) pass", len(results)))
	for _, res := range results {
		v := "ok"
		if res.Note != "" {
			v += " (" + res.Note + ")"
		}
		p = p.With("✓ "+res.Name, v)
		for _, w := range res.Warnings {
			p = p.Warn("%s: %s", res.Name, w)
		}
	}
	return p
}

// ErrDirty means the app folder has uncommitted changes where they are refused.
var ErrDirty = errors.New("uncommitted changes")

// MetaOptions configure the metadata step.
type MetaOptions struct {
	Dir string
	// RefuseDirty fails the step on uncommitted changes (headless runs without --allow-dirty).
	RefuseDirty bool
}

// Metadata reads version and commit into *m and reports them. Its plan reads them (so
// the steps after it can plan on them), refuses uncommitted changes where they are
// refused, and is keyed on commit and version: HEAD moving between an approved plan and
// the run makes the run stop as stale.
func Metadata(opts MetaOptions, m *meta.Meta) pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		got, err := meta.Read(ctx, opts.Dir)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		*m = got
		return metadataPlan(opts, got), nil
	}
	run := func(ctx context.Context, r pipeline.Reporter) error {
		if m.Commit == "" {
			// Run without Plan (a wrapper that drops plans): the same decision, here.
			p, err := plan(ctx)
			if err != nil {
				return err
			}
			if p.Action == pipeline.ActionRefuse {
				return &pipeline.RefusedError{Reason: p.Reason}
			}
		}
		got := *m
		r.Logf("version   %s (%s)", got.Version, got.Source)
		r.Logf("commit    %s", got.Commit)
		r.Logf("image tag %s", got.ImageTag)
		if got.Dirty {
			r.Logf("work tree has %d uncommitted change(s): %s", len(got.Changes), strings.Join(firstChanges(got.Changes), ", "))
		}
		r.Set("version", got.Version)
		r.Set("sha", got.Commit)
		return nil
	}
	return pipeline.NewStep("metadata", plan, run)
}

// metadataPlan decides the metadata step: a read of version and commit, or a refusal of
// uncommitted changes.
func metadataPlan(opts MetaOptions, got meta.Meta) pipeline.StepPlan {
	var p pipeline.StepPlan
	if got.Dirty && opts.RefuseDirty {
		p = pipeline.Refusing("%s in the app folder (%s): a headless run builds and releases commits only; commit or stash them, or pass --allow-dirty (the image is then tagged as a dirty build of %s that can never be promoted)",
			ErrDirty, strings.Join(firstChanges(got.Changes), ", "), got.ShortSHA)
	} else {
		p = pipeline.Reading(fmt.Sprintf("version %s at commit %s", got.Version, got.ShortSHA))
	}
	p = p.With("version", got.Version+" ("+string(got.Source)+")").With("commit", got.Commit).With("image tag", got.ImageTag)
	if got.Dirty {
		p = p.With("uncommitted", fmt.Sprintf("%d change(s): %s", len(got.Changes), strings.Join(firstChanges(got.Changes), ", "))).With("contents", got.Contents())
		if !opts.RefuseDirty {
			p = p.Warn("uncommitted changes: %s (%s)", got.Contents(), strings.Join(firstChanges(got.Changes), ", "))
		}
	}
	p.Key = got.Commit + "+" + got.Version
	if got.Dirty {
		// Uncommitted changes are part of what the image is built from.
		p.Key += "+dirty:" + strings.Join(got.Changes, ",")
	}
	return p
}

func firstChanges(c []string) []string {
	if len(c) > 5 {
		return c[:5]
	}
	return c
}

// ErrPreflight marks a run stopped by a failed preflight check: nothing was changed.
var ErrPreflight = errors.New("preflight failed")

// Who names the person or job running gantry, for locks and the audit log.
func Who(env func(string) string) string {
	if a := env("GITHUB_ACTOR"); a != "" {
		run := env("GITHUB_RUN_ID")
		if run != "" {
			return a + " (actions run " + run + ")"
		}
		return a + " (actions)"
	}
	for _, k := range []string{"GANTRY_WHO", "USER", "LOGNAME"} {
		if v := env(k); v != "" {
			return v
		}
	}
	// Containers and CI shells often set neither USER nor LOGNAME.
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
