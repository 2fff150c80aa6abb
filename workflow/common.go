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
}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name string
	Err  error
}

// RunChecks runs every check (all of them, so the user sees every problem at once).
func RunChecks(ctx context.Context, checks []Check) []CheckResult {
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		out[i] = CheckResult{Name: c.Name, Err: c.Run(ctx)}
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
func Preflight(checks []Check) pipeline.Step {
	return pipeline.StepFunc("preflight", func(ctx context.Context, r pipeline.Reporter) error {
		var failed []CheckResult
		for _, res := range RunChecks(ctx, checks) {
			if res.Err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.Logf("✗ %s: %v", res.Name, res.Err)
				failed = append(failed, res)
				continue
			}
			r.Logf("✓ %s", res.Name)
		}
		if len(failed) > 0 {
			return &PreflightError{Failed: failed}
		}
		return nil
	})
}

// ErrDirty means the app folder has uncommitted changes where they are refused.
var ErrDirty = errors.New("uncommitted changes")

// MetaOptions configure the metadata step.
type MetaOptions struct {
	Dir string
	// RefuseDirty fails the step on uncommitted changes (headless runs without --allow-dirty).
	RefuseDirty bool
}

// Metadata reads version and commit into *m and reports them.
func Metadata(opts MetaOptions, m *meta.Meta) pipeline.Step {
	return pipeline.StepFunc("metadata", func(ctx context.Context, r pipeline.Reporter) error {
		got, err := meta.Read(ctx, opts.Dir)
		if err != nil {
			return err
		}
		*m = got
		r.Logf("version   %s (%s)", got.Version, got.Source)
		r.Logf("commit    %s", got.Commit)
		r.Logf("image tag %s", got.ImageTag)
		if got.Dirty {
			shown := got.Changes
			if len(shown) > 5 {
				shown = shown[:5]
			}
			r.Logf("work tree has %d uncommitted change(s): %s", len(got.Changes), strings.Join(shown, ", "))
			if opts.RefuseDirty {
				return fmt.Errorf("%w in the app folder: the image would not match commit %s; commit or stash them, or pass --allow-dirty", ErrDirty, got.ShortSHA)
			}
		}
		r.Set("version", got.Version)
		r.Set("sha", got.Commit)
		return nil
	})
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
