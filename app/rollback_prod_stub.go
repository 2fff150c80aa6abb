package app

import (
	"context"
	"errors"

	"github.com/bookshop-ops/gantry/pipeline"
)

// rollbackProd is a placeholder until the prod workflow's rollback lands in
// app/promote.go; delete this file then.
func (a *App) rollbackProd(forceUnlock bool) []pipeline.Step {
	return []pipeline.Step{pipeline.StepFunc("rollback", func(context.Context, pipeline.Reporter) error {
		return errors.New("gantry rollback prod: not implemented yet")
	})}
}
