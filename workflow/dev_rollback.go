package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/image"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hoststate"
)

// rollbackChoice is what a dev rollback will start, and why.
type rollbackChoice struct {
	state  devhost.State
	repo   string
	prev   devhost.Image
	labels map[string]string
}

// planRollback picks the image a dev rollback starts: the newest image of the
// repository kept on the host older than the one the container runs. Plan and Run
// (under the lock) both call it, so the confirm names the image the run starts.
func planRollback(ctx context.Context, p DevParams, h *devhost.Client, repository func(ctx context.Context) (string, error)) (pipeline.StepPlan, rollbackChoice, error) {
	var ch rollbackChoice
	st, err := h.Survey(ctx)
	if err != nil {
		return pipeline.StepPlan{}, ch, err
	}
	ch.state = st
	cur := st.Current
	if cur != nil {
		ch.repo = repositoryOf(cur.Config.Image)
	}
	if ch.repo == "" {
		if ch.repo, err = repository(ctx); err != nil {
			return pipeline.StepPlan{}, ch, err
		}
	}
	imgs, err := h.Images(ctx, ch.repo)
	if err != nil {
		return pipeline.StepPlan{}, ch, err
	}
	target := p.Dev.Container + " on " + p.hostName()
	prev, ok := previousImage(imgs, cur)
	if !ok {
		plan := pipeline.Refusing("no earlier image of %s is kept on the host to roll back to (dev.keep_images keeps %d); deploy an older commit with gantry dev instead", ch.repo, p.Dev.KeepImages)
		plan.Target = target
		plan.Key = stateKey(st)
		return plan.With("runs now", describeRuns(cur)), ch, nil
	}
	ch.prev = prev
	if ch.labels, err = h.ImageLabels(ctx, prev.ID); err != nil {
		return pipeline.StepPlan{}, ch, err
	}
	plan := pipeline.Acting(fmt.Sprintf("start %s (%s) in place of %s on %s", prev.Ref(), devhost.ShortID(prev.ID), describeRuns(cur), p.hostName()))
	plan.Target = target
	if rec := st.Recovery(); rec != "" {
		plan = plan.Warn("%s first", rec)
	}
	plan = plan.With("host", p.hostName()).With("container", p.Dev.Container).With("runs now", describeRuns(cur)).
		With("image", prev.Ref()).With("version", ch.labels[LabelVersion]).With("sha", ch.labels[LabelRevision]).With("ports", p.Dev.Ports)
	plan = switchFacts(plan, p, h, st)
	plan.Key = prev.Ref() + "@" + devhost.ShortID(prev.ID) + " on " + stateKey(st)
	return plan, ch, nil
}

// DevRollback is the step of `gantry rollback dev`: under the dev lock, start the
// newest image of the repository kept on the host that is older than the one the
// container runs, with the same health check (and restore on failure) as a deploy.
// repository names the image repository when no container runs to tell it.
func DevRollback(p DevParams, repository func(ctx context.Context) (string, error)) pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		h, _, err := p.devHost(ctx, nopLogf)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		pl, _, err := planRollback(ctx, p, h, repository)
		return pl, err
	}
	return pipeline.NewStep("rollback", plan, func(ctx context.Context, r pipeline.Reporter) error {
		h, runner, err := p.devHost(ctx, r.Logf)
		if err != nil {
			return err
		}
		return locked(ctx, r, runner, p, p.lock(runner, "rollback"), func(ctx context.Context) (hoststate.AuditEntry, error) {
			entry := p.audit("", "")
			entry.Result = ResultRollback
			pl, ch, err := planRollback(ctx, p, h, repository)
			if err != nil {
				return entry, err
			}
			if pl.Action == pipeline.ActionRefuse {
				return entry, fmt.Errorf("%s", pl.Reason) // nothing was tried: no audit line
			}
			entry.Version = ch.prev.Tag
			entry.SHA = ch.labels[LabelRevision]
			r.Logf("rolling back to %s", ch.prev.Ref())
			old, err := h.Recover(ctx, ch.state)
			if err != nil {
				return entry, err
			}
			_, err = h.Replace(ctx, old, ch.prev.Ref(), "", map[string]string{
				"gantry.version":   ch.labels[LabelVersion],
				"gantry.sha":       ch.labels[LabelRevision],
				"gantry.image_tag": ch.prev.Tag,
				"gantry.ports":     p.Dev.Ports,
			})
			if err != nil {
				return entry, err
			}
			r.Set("image", ch.prev.Ref())
			r.Set("image_tag", ch.prev.Tag)
			r.Set("version", ch.labels[LabelVersion])
			r.Set("sha", ch.labels[LabelRevision])
			r.Set("url", p.url())
			return entry, nil
		})
	})
}

// previousImage picks the newest image older than the one cur runs (the newest of
// all when nothing runs, or the running image is not in the list).
func previousImage(imgs []devhost.Image, cur *devhost.Container) (devhost.Image, bool) {
	if len(imgs) == 0 {
		return devhost.Image{}, false
	}
	if cur == nil {
		return imgs[0], true
	}
	for i, im := range imgs {
		if devhost.SameImage(im.ID, cur.Image) {
			for _, older := range imgs[i+1:] {
				if !devhost.SameImage(older.ID, cur.Image) {
					return older, true
				}
			}
			return devhost.Image{}, false
		}
	}
	for _, im := range imgs {
		if !devhost.SameImage(im.ID, cur.Image) {
			return im, true
		}
	}
	return devhost.Image{}, false
}

// repositoryOf strips the tag or digest from an image reference ("" for an image
// ID such as sha256:…, or what is no reference).
func repositoryOf(ref string) string {
	r, err := image.Parse(ref)
	if err != nil || strings.HasPrefix(ref, "sha256:") {
		return ""
	}
	return r.Repository
}
