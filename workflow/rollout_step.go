package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// rolloutOutcome is what a rollout did, for the summary and the audit log.
type rolloutOutcome struct {
	after kubectl.DeploymentState
	// short is a one-line reason for the audit log when the rollout failed.
	short string
}

// RolloutFailedError is a failed rollout and what was done about it.
type RolloutFailedError struct {
	Err error
	// Restored describes the state `rollout undo` brought back ("" when nothing was undone).
	Restored string
	// Note says why nothing was undone, or that the undo itself failed.
	Note string
}

func (e *RolloutFailedError) Error() string {
	msg := e.Err.Error()
	if e.Restored != "" {
		msg += "; undone: the deployment runs " + e.Restored + " again"
	}
	if e.Note != "" {
		msg += "; " + e.Note
	}
	return msg
}

func (e *RolloutFailedError) Unwrap() error { return e.Err }

// Is makes RolloutFailedError match ErrRolloutFailed.
func (e *RolloutFailedError) Is(t error) bool { return t == kubectl.ErrRolloutFailed }

func lineLogger(r pipeline.Reporter) func(string) {
	return func(s string) {
		if s = strings.TrimRight(s, " \r"); s != "" {
			r.Logf("%s", s)
		}
	}
}

// deployImage applies the manifest (with image and change cause filled in), sets the
// image, records the change cause and watches the rollout; on failure it undoes it when
// configured. A re-run with the same image changes nothing and finds the rollout done.
func deployImage(ctx context.Context, r pipeline.Reporter, k kubectl.Client, t ProdTarget, image, cause string) (rolloutOutcome, error) {
	var out rolloutOutcome
	d := t.Deployment
	before, err := k.Deployment(ctx, d)
	hadBefore := err == nil
	switch {
	case errors.Is(err, kubectl.ErrDeploymentNotFound):
		r.Logf("deployment/%s does not exist yet: the manifest creates it", d)
	case err != nil:
		out.short = "cannot read the deployment"
		return out, err
	default:
		r.Logf("running now: %s", before.Describe(t.Container))
	}
	known := map[string]bool{}
	if hadBefore {
		pods, err := k.Pods(ctx, before.Selector)
		if err != nil {
			out.short = "cannot list pods"
			return out, err
		}
		known = kubectl.PodUIDs(pods)
	}

	if t.Manifest != "" {
		raw, err := os.ReadFile(t.Manifest)
		if err != nil {
			out.short = "cannot read the manifest"
			return out, fmt.Errorf("read manifest: %w", err)
		}
		name := filepath.Base(t.Manifest)
		manifest, found, err := kubectl.PrepareManifest(name, raw, d, t.Container, t.Namespace, image, cause)
		if err != nil {
			out.short = "bad manifest"
			return out, err
		}
		if !found {
			r.Logf("%s has no container %s in deployment %s: only `set image` changes it", name, t.Container, d)
		}
		r.Logf("$ kubectl apply -f - < %s", name)
		if _, err := k.Run(ctx, hostexec.RunOptions{Stdin: bytes.NewReader(manifest), OnStdout: lineLogger(r), OnStderr: lineLogger(r)}, "apply", "--filename", "-"); err != nil {
			out.short = "apply failed"
			return out, err
		}
	}
	r.Logf("$ kubectl set image deployment/%s %s=%s", d, t.Container, image)
	if _, err := k.Run(ctx, hostexec.RunOptions{OnStdout: lineLogger(r), OnStderr: lineLogger(r)}, "set", "image", "deployment/"+d, t.Container+"="+image); err != nil {
		out.short = "set image failed"
		return out, err
	}
	if _, err := k.Run(ctx, hostexec.RunOptions{OnStderr: lineLogger(r)}, "annotate", "deployment/"+d, kubectl.ChangeCauseAnnotation+"="+cause, "--overwrite"); err != nil {
		out.short = "annotate failed"
		return out, err
	}
	selector := before.Selector
	if !hadBefore {
		now, err := k.Deployment(ctx, d)
		if err != nil {
			out.short = "cannot read the deployment"
			return out, err
		}
		selector = now.Selector
	}
	r.Logf("$ kubectl rollout status deployment/%s --timeout %s", d, t.RolloutTimeout)
	werr := k.WatchRollout(ctx, kubectl.Watch{Deployment: d, Timeout: t.RolloutTimeout, Poll: t.Poll, Selector: selector, Known: known, Log: r.Logf})
	if werr == nil {
		after, err := k.Deployment(ctx, d)
		if err != nil {
			out.short = "cannot read the deployment"
			return out, err
		}
		out.after = after
		if err := k.MarkRevision(ctx, d, selector, after.Revision, ""); err != nil {
			r.Logf("warning: clear %s on revision %s: %v", kubectl.FailedAnnotation, after.Revision, err)
		}
		r.Logf("rolled out: %s", after.Describe(t.Container))
		return out, nil
	}
	out.short = failureReason(werr)
	if ctx.Err() != nil {
		return out, werr
	}
	var stuck *kubectl.StuckPodsError
	if errors.As(werr, &stuck) {
		for _, p := range stuck.Problems {
			r.Logf("✗ %s", p)
		}
	}
	fail := &RolloutFailedError{Err: werr}
	// Mark the failed revision so a later `gantry rollback prod` never picks it.
	if now, err := k.Deployment(ctx, d); err == nil && now.Revision != before.Revision {
		if err := k.MarkRevision(ctx, d, selector, now.Revision, out.short); err != nil {
			r.Logf("warning: mark revision %s as failed: %v", now.Revision, err)
		}
	}
	switch {
	case !t.UndoOnFailure:
		fail.Note = "left as it is (prod.undo_on_failure = false); `gantry rollback prod` undoes it"
	case !hadBefore:
		fail.Note = fmt.Sprintf("nothing to undo: this was deployment/%s's first rollout", d)
	default:
		restored, err := undoRollout(ctx, r, k, t, before.Revision)
		if err != nil {
			fail.Note = fmt.Sprintf("undo failed too: %v; run `gantry rollback prod` or fix it with kubectl", err)
			out.short += "; undo failed"
		} else {
			fail.Restored = restored.Describe(t.Container)
			out.after = restored
			out.short += "; undone to revision " + restored.Revision
		}
	}
	return out, fail
}

// undoRollout runs `rollout undo` to revision (the previous one when empty) and waits for
// it to be ready again.
func undoRollout(ctx context.Context, r pipeline.Reporter, k kubectl.Client, t ProdTarget, revision string) (kubectl.DeploymentState, error) {
	d := t.Deployment
	now, err := k.Deployment(ctx, d)
	if err != nil {
		return kubectl.DeploymentState{}, err
	}
	pods, err := k.Pods(ctx, now.Selector)
	if err != nil {
		return kubectl.DeploymentState{}, err
	}
	args := []string{"rollout", "undo", "deployment/" + d}
	if revision != "" {
		args = append(args, "--to-revision", revision)
	}
	r.Logf("$ kubectl %s", strings.Join(args, " "))
	if _, err := k.Run(ctx, hostexec.RunOptions{OnStdout: lineLogger(r), OnStderr: lineLogger(r)}, args...); err != nil {
		return kubectl.DeploymentState{}, err
	}
	r.Logf("$ kubectl rollout status deployment/%s --timeout %s", d, t.RolloutTimeout)
	if err := k.WatchRollout(ctx, kubectl.Watch{Deployment: d, Timeout: t.RolloutTimeout, Poll: t.Poll, Selector: now.Selector, Known: kubectl.PodUIDs(pods), Log: r.Logf}); err != nil {
		return kubectl.DeploymentState{}, err
	}
	after, err := k.Deployment(ctx, d)
	if err != nil {
		return kubectl.DeploymentState{}, err
	}
	r.Logf("restored: %s", after.Describe(t.Container))
	return after, nil
}

// failureReason shortens a rollout failure for the audit log.
func failureReason(err error) string {
	var stuck *kubectl.StuckPodsError
	if errors.As(err, &stuck) && len(stuck.Problems) > 0 {
		return stuck.Problems[0].Reason
	}
	var st *kubectl.RolloutStatusError
	if errors.As(err, &st) {
		return "rollout did not complete"
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	return "rollout failed"
}

// ImageVersion guesses the version from an image reference such as repo:v1.2.3@sha256:…
// ("" when it has no tag).
func ImageVersion(image string) string {
	image, _, _ = strings.Cut(image, "@")
	// Only the last path element holds the tag; "host:5000/repo" has a port, not a tag.
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	_, tag, ok := strings.Cut(image, ":")
	if !ok {
		return ""
	}
	return strings.TrimPrefix(tag, "v")
}

// RollbackProdOptions are the inputs of `gantry rollback prod`.
type RollbackProdOptions struct {
	Checks []Check
	Host   func(ctx context.Context) (hostexec.Runner, error)
	Prod   ProdTarget
	Who    string
	Now    func() time.Time
}

// RollbackProd returns the steps of `gantry rollback prod`: preflight, then `rollout
// undo` watched like a rollout, under the prod lock, with an audit line.
func RollbackProd(o RollbackProdOptions) []pipeline.Step {
	return []pipeline.Step{
		Preflight(o.Checks),
		pipeline.StepFunc("rollout undo", func(ctx context.Context, r pipeline.Reporter) error {
			now := o.Now
			if now == nil {
				now = time.Now
			}
			host, err := o.Host(ctx)
			if err != nil {
				return err
			}
			return o.Prod.locked(ctx, r, host, o.Who, "rollback", o.Now, func(k kubectl.Client) error {
				before, err := k.Deployment(ctx, o.Prod.Deployment)
				if err != nil {
					return err
				}
				r.Logf("running now: %s", before.Describe(o.Prod.Container))
				rss, err := k.ReplicaSets(ctx, o.Prod.Deployment, before.Selector)
				if err != nil {
					return err
				}
				target, ok := kubectl.RollbackRevision(rss, before, o.Prod.Container)
				if !ok {
					return fmt.Errorf("deployment/%s has no earlier revision that runs another image and did not fail (%d revision(s) kept): nothing to roll back to", o.Prod.Deployment, len(rss))
				}
				r.Logf("going back to revision %d: %s=%s %s", target.Revision, o.Prod.Container, target.Images[o.Prod.Container], target.ChangeCause)
				after, uerr := undoRollout(ctx, r, k, o.Prod, strconv.Itoa(target.Revision))
				result := "rollback: failed"
				version := ImageVersion(before.Images[o.Prod.Container])
				if uerr == nil {
					version = ImageVersion(after.Images[o.Prod.Container])
					result = "rollback: ok at revision " + after.Revision
				}
				if aerr := hoststate.AppendAudit(ctx, host, hoststate.AuditEntry{When: now(), Env: "prod", Who: o.Who, Version: version, Result: result}); aerr != nil {
					r.Logf("warning: %v", aerr)
				}
				if uerr != nil {
					return fmt.Errorf("rollback deployment/%s: %w", o.Prod.Deployment, uerr)
				}
				r.Set("image", after.Images[o.Prod.Container])
				r.Set("rollout", fmt.Sprintf("deployment/%s %d/%d ready at revision %s", o.Prod.Deployment, after.Ready, after.Desired, after.Revision))
				return nil
			})
		}),
	}
}
