package cli

import (
	"testing"

	"github.com/bookshop-ops/gantry/pipeline"
)

func TestExitCodeOfRefusals(t *testing.T) {
	refused := func(step string) error {
		return &reportedError{&pipeline.StepError{Step: step, Err: &pipeline.RefusedError{Reason: "no"}}}
	}
	for step, want := range map[string]int{"preflight": ExitBadInput, "metadata": ExitBadInput, "build": ExitFailed, "release": ExitFailed} {
		if got := ExitCode(refused(step)); got != want {
			t.Errorf("refused %s: exit %d, want %d", step, got, want)
		}
	}
}
