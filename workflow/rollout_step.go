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

	"github.com/bookshop-ops/gantry/image"
	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/github"
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
		// Cancelled (SIGINT, SIGTERM, the TUI): undo like a failure, in a context the
		// cancellation does not reach, so the last good version serves again.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.RolloutTimeout+time.Minute)
		defer cancel()
		r.Logf("cancelled during the rollout: undoing it")
		ctx = dctx
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
func ImageVersion(ref string) string {
	r, err := image.Parse(ref)
	if err != nil {
		return ""
	}
	return r.Version()
}

// RolloutStep applies the manifest and sets the promoted image on the deployment over
// SSH, under the prod lock, watching the rollout and undoing it on failure or
// cancellation. A rollout an earlier run left stuck is undone to the last good revision
// first. Plan and run decide with the same functions; the run decides again under the
// lock, so the older of two racing promotions stops.
func RolloutStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.NewStep("rollout", func(ctx context.Context) (pipeline.StepPlan, error) {
		if p.Image == "" {
			return pipeline.StepPlan{}, errors.New("rollout: no image: the earlier steps did not plan")
		}
		return rolloutPlan(o, p, readProd(ctx, o)), nil
	}, func(ctx context.Context, r pipeline.Reporter) error {
		return runRollout(ctx, o, p, r)
	})
}

// rolloutDone reports whether prod already runs the image, rolled out.
func rolloutDone(p *Promotion, st ProdState) bool {
	return st.Exists && !st.Stuck && st.RolledOut && st.Image == p.Image
}

func rolloutPlan(o PromoteOptions, p *Promotion, st ProdState) pipeline.StepPlan {
	var plan pipeline.StepPlan
	set := fmt.Sprintf("set deployment/%s %s=%s and watch the rollout", o.Prod.Deployment, o.Prod.Container, p.Image)
	switch reason := prodRefusal(o, p, st); {
	case reason != "":
		plan = pipeline.Refusing("%s", reason)
	case rolloutDone(p, st):
		plan = pipeline.Skipping("deployment/%s already runs %s, rolled out at revision %s", o.Prod.Deployment, p.Image, st.Revision)
	case st.Stuck && st.HasGood:
		plan = pipeline.Acting(fmt.Sprintf("undo the stuck rollout of revision %s to revision %d, then %s", st.Revision, st.Good.Revision, set))
		plan = plan.Warn("an earlier run left revision %s (%s) not available: it is undone to revision %d (%s) first",
			st.Revision, st.StuckImage, st.Good.Revision, st.Good.Images[o.Prod.Container])
	case st.Stuck:
		plan = pipeline.Acting(set)
		plan = plan.Warn("an earlier run left revision %s (%s) not available, and no earlier good revision is kept to undo it to", st.Revision, st.StuckImage)
	default:
		plan = pipeline.Acting(set)
	}
	plan.Target = prodTargetName(o.Prod)
	undo := "undo to what runs now"
	if !o.Prod.UndoOnFailure {
		undo = "leave it (prod.undo_on_failure = false)"
	}
	plan = plan.With("image", p.Image).With("runs now", st.Describe()).With("on failure", undo)
	if st.Version != "" && o.AllowDowngrade {
		if c, ok := compareVersions(p.Meta.Version, st.Version); ok && c < 0 {
			plan = plan.Warn("downgrade from %s to %s allowed with --allow-downgrade", st.Version, p.Meta.Version)
		}
	}
	plan.Key = p.Image + " over " + st.Describe()
	return plan
}

func runRollout(ctx context.Context, o PromoteOptions, p *Promotion, r pipeline.Reporter) error {
	host, err := o.Host(ctx)
	if err != nil {
		return err
	}
	audit := func(result string) {
		o.Prod.audit(ctx, r, host, hoststate.AuditEntry{When: o.now(), Who: o.Who, Version: p.Meta.Version, SHA: p.ReleaseCommit, Result: result})
	}
	return o.Prod.locked(ctx, r, host, o.Who, p.Meta.Version, o.Now, func(k kubectl.Client) error {
		// The plan's decision again, under the lock.
		st, err := prodStateOf(ctx, k, o.Prod)
		if err != nil {
			return fmt.Errorf("read deployment/%s: %w", o.Prod.Deployment, err)
		}
		if reason := prodRefusal(o, p, st); reason != "" {
			audit("refused: " + reason)
			return &pipeline.RefusedError{Reason: reason}
		}
		if rolloutDone(p, st) {
			return pipeline.Skip("deployment/%s already runs %s, rolled out at revision %s", o.Prod.Deployment, p.Image, st.Revision)
		}
		note := ""
		if c, ok := compareVersions(p.Meta.Version, st.Version); ok && c < 0 && st.Version != "" {
			note = " (downgrade from " + st.Version + ", --allow-downgrade)"
			r.Warn("downgrading prod from %s to %s (--allow-downgrade)", st.Version, p.Meta.Version)
		}
		if st.Stuck && st.HasGood {
			if err := undoStuck(ctx, r, k, o.Prod, st); err != nil {
				audit("failed: cannot undo the stuck revision " + st.Revision)
				return err
			}
			audit(fmt.Sprintf("undone: stuck revision %s (%s) left by an earlier run", st.Revision, st.StuckImage))
		}
		out, err := deployImage(ctx, r, k, o.Prod, p.Image, changeCause(p))
		if err != nil {
			what := "failed: " + out.short
			if ctx.Err() != nil {
				what = "was cancelled: " + out.short
			}
			audit(what + note)
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			markDraftFailed(dctx, o, p, what, r)
			cancel()
			r.Set("rollout", what)
			return err
		}
		audit("ok: " + p.PromotedTag + " at revision " + out.after.Revision + note)
		r.Set("rollout", fmt.Sprintf("deployment/%s %d/%d ready at revision %s", o.Prod.Deployment, out.after.Ready, out.after.Desired, out.after.Revision))
		r.Set("image", p.Image)
		return nil
	})
}

// undoStuck marks the revision an earlier run left stuck as failed (so no rollback goes
// back to it) and undoes it to the last good revision.
func undoStuck(ctx context.Context, r pipeline.Reporter, k kubectl.Client, t ProdTarget, st ProdState) error {
	r.Logf("an earlier run left revision %s (%s) not available: undoing it to revision %d (%s)",
		st.Revision, st.StuckImage, st.Good.Revision, st.Good.Images[t.Container])
	if err := k.MarkRevision(ctx, t.Deployment, st.Selector, st.Revision, "stuck rollout left by an earlier run"); err != nil {
		r.Logf("warning: mark revision %s as failed: %v", st.Revision, err)
	}
	if _, err := undoRollout(ctx, r, k, t, strconv.Itoa(st.Good.Revision)); err != nil {
		return fmt.Errorf("undo the stuck rollout of revision %s: %w", st.Revision, err)
	}
	return nil
}

// RollbackProdOptions are the inputs of `gantry rollback prod`.
type RollbackProdOptions struct {
	Checks []Check
	Host   func(ctx context.Context) (hostexec.Runner, error)
	Prod   ProdTarget
	// GitHub moves "latest" to the release of the version that runs again (nil skips it).
	GitHub func(ctx context.Context) (ReleaseAPI, error)
	// TagFormat builds the release tag from a version.
	TagFormat string
	Who       string
	Now       func() time.Time
}

// rollbackDecision is where `rollback prod` goes.
type rollbackDecision struct {
	before kubectl.DeploymentState
	target kubectl.ReplicaSetState
}

// decideRollback picks the revision to go back to: the newest earlier one that runs
// another image and did not fail.
func decideRollback(ctx context.Context, k kubectl.Client, t ProdTarget) (rollbackDecision, string, error) {
	var d rollbackDecision
	before, err := k.Deployment(ctx, t.Deployment)
	if errors.Is(err, kubectl.ErrDeploymentNotFound) {
		return d, fmt.Sprintf("deployment/%s does not exist: nothing to roll back; promote first", t.Deployment), nil
	}
	if err != nil {
		return d, "", err
	}
	d.before = before
	rss, err := k.ReplicaSets(ctx, t.Deployment, before.Selector)
	if err != nil {
		return d, "", err
	}
	target, ok := kubectl.RollbackRevision(rss, before, t.Container)
	if !ok {
		return d, fmt.Sprintf("deployment/%s has no earlier revision that runs another image and did not fail (%d revision(s) kept): nothing to roll back to", t.Deployment, len(rss)), nil
	}
	d.target = target
	return d, "", nil
}

func rollbackPlan(t ProdTarget, d rollbackDecision, refusal string) pipeline.StepPlan {
	if refusal != "" {
		p := pipeline.Refusing("%s", refusal)
		p.Target = prodTargetName(t)
		return p
	}
	from, to := d.before.Images[t.Container], d.target.Images[t.Container]
	p := pipeline.Acting(fmt.Sprintf("roll back from %s (revision %s) to %s (revision %d)",
		orUnknown(ImageVersion(from)), d.before.Revision, orUnknown(ImageVersion(to)), d.target.Revision))
	p.Target = prodTargetName(t)
	p = p.With("runs now", from+" at revision "+d.before.Revision).
		With("revision", strconv.Itoa(d.target.Revision)).With("version", ImageVersion(to)).With("image", to).
		With("change cause", d.target.ChangeCause)
	p.Key = d.before.Revision + "->" + strconv.Itoa(d.target.Revision)
	return p
}

// RollbackProd returns the steps of `gantry rollback prod`: preflight, then `rollout
// undo` to the revision its plan names, watched like a rollout, under the prod lock,
// with an audit line; then GitHub's latest release follows the version that runs.
func RollbackProd(o RollbackProdOptions) []pipeline.Step {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var version string
	kube := func(ctx context.Context) (kubectl.Client, hostexec.Runner, error) {
		host, err := o.Host(ctx)
		if err != nil {
			return kubectl.Client{}, nil, err
		}
		return kubectl.Client{Host: host, Command: o.Prod.Kubectl, Namespace: o.Prod.Namespace}, host, nil
	}
	undo := pipeline.NewStep("rollout undo", func(ctx context.Context) (pipeline.StepPlan, error) {
		k, _, err := kube(ctx)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		d, refusal, err := decideRollback(ctx, k, o.Prod)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		version = ImageVersion(d.target.Images[o.Prod.Container])
		return rollbackPlan(o.Prod, d, refusal), nil
	}, func(ctx context.Context, r pipeline.Reporter) error {
		_, host, err := kube(ctx)
		if err != nil {
			return err
		}
		return o.Prod.locked(ctx, r, host, o.Who, "rollback", o.Now, func(k kubectl.Client) error {
			d, refusal, err := decideRollback(ctx, k, o.Prod)
			if err != nil {
				return err
			}
			if refusal != "" {
				return &pipeline.RefusedError{Reason: refusal}
			}
			before, target := d.before, d.target
			r.Logf("running now: %s", before.Describe(o.Prod.Container))
			r.Logf("going back to revision %d: %s=%s %s", target.Revision, o.Prod.Container, target.Images[o.Prod.Container], target.ChangeCause)
			after, uerr := undoRollout(ctx, r, k, o.Prod, strconv.Itoa(target.Revision))
			result := "rollback: failed"
			v := ImageVersion(before.Images[o.Prod.Container])
			if uerr == nil {
				v = ImageVersion(after.Images[o.Prod.Container])
				result = "rollback: ok at revision " + after.Revision
			}
			o.Prod.audit(ctx, r, host, hoststate.AuditEntry{When: now(), Who: o.Who, Version: v, Result: result})
			if uerr != nil {
				return fmt.Errorf("rollback deployment/%s: %w", o.Prod.Deployment, uerr)
			}
			version = v
			r.Set("image", after.Images[o.Prod.Container])
			r.Set("rollout", fmt.Sprintf("deployment/%s %d/%d ready at revision %s", o.Prod.Deployment, after.Ready, after.Desired, after.Revision))
			return nil
		})
	})
	latest := pipeline.NewStep("latest release", func(ctx context.Context) (pipeline.StepPlan, error) {
		return planLatest(ctx, o, version)
	}, func(ctx context.Context, r pipeline.Reporter) error {
		gh, err := o.GitHub(ctx)
		if err != nil {
			return err
		}
		tag := meta.ReleaseTag(o.TagFormat, version)
		rel, err := gh.FindRelease(ctx, tag)
		if err != nil || rel.Draft || rel.Prerelease {
			r.Logf("no published release %s to mark latest; left as it is", tag)
			return pipeline.Skip("no published release %s", tag)
		}
		if _, err := gh.UpdateRelease(ctx, rel.ID, github.ReleaseUpdate{MakeLatest: "true"}); err != nil {
			return fmt.Errorf("mark release %s latest: %w", tag, err)
		}
		r.Logf("release %s is the latest again: %s", tag, rel.HTMLURL)
		r.Set("release_url", rel.HTMLURL)
		return nil
	})
	steps := []pipeline.Step{Preflight(o.Checks), undo}
	if o.GitHub != nil {
		steps = append(steps, latest)
	}
	return steps
}

// planLatest decides whether GitHub's latest release moves to version's release.
func planLatest(ctx context.Context, o RollbackProdOptions, version string) (pipeline.StepPlan, error) {
	if version == "" {
		return pipeline.Skipping("the version that runs after the rollback has no vX.Y.Z tag: latest release left as it is"), nil
	}
	tag := meta.ReleaseTag(o.TagFormat, version)
	gh, err := o.GitHub(ctx)
	if err != nil {
		// The rollback itself does not need GitHub: say so, do not fail it.
		return pipeline.Skipping("cannot reach GitHub (%v): latest release left as it is", err).With("release", tag).Warn("GitHub's latest release was not moved to %s: %v", tag, err), nil
	}
	rel, err := gh.FindRelease(ctx, tag)
	switch {
	case errors.Is(err, github.ErrNotFound):
		return pipeline.Skipping("no release %s: latest release left as it is", tag).With("release", tag), nil
	case err != nil:
		return pipeline.Skipping("cannot read release %s (%v): latest release left as it is", tag, err).With("release", tag).Warn("GitHub's latest release was not moved to %s: %v", tag, err), nil
	case rel.Draft || rel.Prerelease:
		return pipeline.Skipping("release %s is a draft or prerelease: latest release left as it is", tag).With("release", tag), nil
	}
	p := pipeline.Acting("mark release "+tag+" as GitHub's latest").With("release", tag).With("url", rel.HTMLURL)
	p.Key = tag
	return p, nil
}
