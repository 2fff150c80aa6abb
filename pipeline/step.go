package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Step is one unit of a workflow, run in order by Run.
type Step interface {
	Name() string
	// Plan says, without side effects, what Run will do or why it skips or refuses.
	// Steps of one workflow share state: a plan may rely on the plans (and, during a run,
	// the runs) of the steps before it. The runner plans each step right before running
	// it, so Run acts on a fresh plan; Run re-checks its preconditions at the side effect.
	Plan(ctx context.Context) (StepPlan, error)
	// Run carries out the plan. It runs only when the plan reads or acts.
	Run(ctx context.Context, r Reporter) error
}

// PlanFunc computes a step's plan.
type PlanFunc func(ctx context.Context) (StepPlan, error)

// RunFunc runs a step.
type RunFunc func(ctx context.Context, r Reporter) error

// NewStep builds a Step from its name, its plan and its run.
func NewStep(name string, plan PlanFunc, run RunFunc) Step {
	return funcStep{name: name, plan: plan, run: run}
}

// Reporter is what a running step may tell the world. It is safe for concurrent use.
type Reporter interface {
	// Logf emits one log line (several if the text holds newlines).
	Logf(format string, args ...any)
	// Writer returns a writer that emits every line written to it as a log line.
	Writer() io.Writer
	// Progress reports done out of total units (total 0 when unknown).
	Progress(done, total int64, unit string)
	// Secret registers a value that is masked from every later log, error and summary.
	Secret(value string)
	// Set records a result of the run, e.g. Set("image_tag", tag).
	Set(key, value string)
	// Warn reports something the user must see (a ::warning:: under Actions).
	Warn(format string, args ...any)
}

// SkipError finishes a step as Skipped: its effect is already in place.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns an error that reports the step as Skipped with the reason.
func Skip(format string, args ...any) error {
	return &SkipError{Reason: fmt.Sprintf(format, args...)}
}

// IsSkip reports whether err says the step's effect was already in place.
func IsSkip(err error) bool {
	var s *SkipError
	return errors.As(err, &s)
}

// StepFunc builds a Step that acts without a plan of its own: its plan says only that it
// runs. For tests and wrappers; a workflow's steps say what they will do with NewStep.
func StepFunc(name string, run RunFunc) Step {
	return funcStep{name: name, run: run}
}

type funcStep struct {
	name string
	plan PlanFunc
	run  RunFunc
}

func (s funcStep) Name() string { return s.name }

func (s funcStep) Plan(ctx context.Context) (StepPlan, error) {
	if s.plan == nil {
		return Acting(s.name), nil
	}
	return s.plan(ctx)
}

func (s funcStep) Run(ctx context.Context, r Reporter) error { return s.run(ctx, r) }
