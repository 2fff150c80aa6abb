// Package cli is gantry's command line: the commands, their flags, exit statuses
// and the choice between the TUI and the headless printers, plus the TUI's backend
// adapter (tui.go: app's types to ui's, errors classified for ui). It may import
// every gantry package; nothing imports it but main.
package cli

import (
	"errors"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/git"
)

// Exit statuses.
const (
	ExitOK       = 0
	ExitFailed   = 1 // a step failed
	ExitBadInput = 2 // bad input or configuration; nothing was started
)

// ErrBadInput marks errors in what the user gave gantry (flags, files, the repository).
var ErrBadInput = errors.New("bad input")

// inputError wraps an error as bad input.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Unwrap() error        { return e.err }
func (e inputError) Is(target error) bool { return target == ErrBadInput }

func badInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// ExitCode maps an error to gantry's exit status.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrBadInput), errors.Is(err, config.ErrInvalid), errors.Is(err, meta.ErrBadVersion),
		errors.Is(err, git.ErrNotRepo), errors.Is(err, git.ErrNoCommits), errors.Is(err, workflow.ErrPreflight), errors.Is(err, workflow.ErrDirty):
		return ExitBadInput
	case refusedAt(err, "preflight", "metadata"):
		// A failed check or refused work tree, now said by the step's plan: nothing
		// was changed and the fix is the user's, as before plans.
		return ExitBadInput
	default:
		return ExitFailed
	}
}

// refusedAt reports whether err is the refusal of one of the named steps.
func refusedAt(err error, steps ...string) bool {
	var se *pipeline.StepError
	if !errors.As(err, &se) || !errors.Is(err, pipeline.ErrRefused) {
		return false
	}
	for _, s := range steps {
		if se.Step == s {
			return true
		}
	}
	return false
}
