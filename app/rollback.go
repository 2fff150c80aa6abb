package app

import (
	"context"
	"fmt"

	"github.com/bookshop-ops/gantry/config"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/pipeline"
)

// Rollback returns the steps that put the previous version back on env: for dev the
// previous image kept on the host, for prod a rollout undo.
func (a *App) Rollback(env config.Env, forceUnlock bool) []pipeline.Step {
	switch env {
	case config.EnvDev:
		return a.rollbackDev(forceUnlock)
	case config.EnvProd:
		return a.rollbackProd(forceUnlock)
	}
	return []pipeline.Step{pipeline.StepFunc("rollback", func(context.Context, pipeline.Reporter) error {
		return fmt.Errorf("unknown environment %q: use dev or prod", env)
	})}
}

// rollbackDev checks the dev host, then starts the previous image kept there.
func (a *App) rollbackDev(forceUnlock bool) []pipeline.Step {
	repository := func(ctx context.Context) (string, error) {
		reg, err := a.Registry(ctx)
		if err != nil {
			return "", err
		}
		if reg.Repository() == "" {
			return "", fmt.Errorf("the %s registry host is unknown: set registry.host or registry.account_id", reg.Kind())
		}
		return reg.Repository(), nil
	}
	return []pipeline.Step{
		a.WithWarnings(workflow.WithSecrets(workflow.Preflight([]workflow.Check{a.devHostCheck()}), a.envSecrets()...)),
		workflow.DevRollback(a.devParams(forceUnlock), repository),
	}
}
