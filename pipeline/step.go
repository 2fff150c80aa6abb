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
	Run(ctx context.Context, r Reporter) error
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

// StepFunc builds a Step from a name and a function.
func StepFunc(name string, run func(ctx context.Context, r Reporter) error) Step {
	return funcStep{name: name, run: run}
}

type funcStep struct {
	name string
	run  func(ctx context.Context, r Reporter) error
}

func (s funcStep) Name() string                              { return s.name }
func (s funcStep) Run(ctx context.Context, r Reporter) error { return s.run(ctx, r) }
