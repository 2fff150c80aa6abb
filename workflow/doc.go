// Package workflow holds the steps of gantry's workflows, each a pipeline.Step with a
// real plan, reading top to bottom as they run: dev (dev.go, dev_deploy.go: preflight,
// metadata, login, build, push, deploy), promote (promote.go, promote_release.go,
// rollout_step.go: find snapshot, release, tag, rollout, publish) and rollback
// (dev_rollback.go, the rollout undo). It imports pipeline, config, meta, image and
// remote/*; never app, cli, ui or printer.
package workflow
