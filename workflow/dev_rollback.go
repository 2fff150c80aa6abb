package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// DevRollback is the step of `gantry rollback dev`: under the dev lock, start the
// newest image of the repository kept on the host that is older than the one the
// container runs, with the same health check (and restore on failure) as a deploy.
// repository names the image repository when no container runs to tell it.
func DevRollback(p DevParams, repository func(ctx context.Context) (string, error)) pipeline.Step {
	return pipeline.StepFunc("rollback", func(ctx context.Context, r pipeline.Reporter) error {
		runner, err := p.Host(ctx)
		if err != nil {
			return err
		}
		h := newDevHost(runner, p, r)
		return h.locked(ctx, p.lock(runner, "rollback"), func(ctx context.Context) (hoststate.AuditEntry, error) {
			entry := hoststate.AuditEntry{Env: "dev", Who: p.Who, Result: ResultRollback}
			found, err := h.inspect(ctx, p.Dev.Container)
			if err != nil {
				return entry, err
			}
			cur := found[p.Dev.Container]
			repo := ""
			if cur != nil {
				repo = repositoryOf(cur.Config.Image)
			}
			if repo == "" {
				if repo, err = repository(ctx); err != nil {
					return entry, err
				}
			}
			imgs, err := h.images(ctx, repo)
			if err != nil {
				return entry, err
			}
			prev, ok := previousImage(imgs, cur)
			if !ok {
				entry.Version = "" // nothing was tried: no audit line
				return entry, fmt.Errorf("no earlier image of %s is kept on the host to roll back to (dev.keep_images keeps %d); deploy an older commit with gantry dev instead", repo, p.Dev.KeepImages)
			}
			labels, err := h.imageLabels(ctx, prev.ID)
			if err != nil {
				return entry, err
			}
			entry.Version = prev.Tag
			entry.SHA = labels[LabelRevision]
			r.Logf("rolling back to %s", prev.ref())
			old, err := h.current(ctx)
			if err != nil {
				return entry, err
			}
			_, err = h.replace(ctx, old, prev.ref(), "", map[string]string{
				"gantry.version":   labels[LabelVersion],
				"gantry.sha":       labels[LabelRevision],
				"gantry.image_tag": prev.Tag,
				"gantry.ports":     p.Dev.Ports,
			})
			if err != nil {
				return entry, err
			}
			r.Set("image", prev.ref())
			r.Set("image_tag", prev.Tag)
			r.Set("version", labels[LabelVersion])
			r.Set("sha", labels[LabelRevision])
			r.Set("url", p.url())
			return entry, nil
		})
	})
}

// previousImage picks the newest image older than the one cur runs (the newest of
// all when nothing runs, or the running image is not in the list).
func previousImage(imgs []hostImage, cur *devContainer) (hostImage, bool) {
	if len(imgs) == 0 {
		return hostImage{}, false
	}
	if cur == nil {
		return imgs[0], true
	}
	for i, im := range imgs {
		if sameImage(im.ID, cur.Image) {
			for _, older := range imgs[i+1:] {
				if !sameImage(older.ID, cur.Image) {
					return older, true
				}
			}
			return hostImage{}, false
		}
	}
	for _, im := range imgs {
		if !sameImage(im.ID, cur.Image) {
			return im, true
		}
	}
	return hostImage{}, false
}

// repositoryOf strips the tag or digest from an image reference.
func repositoryOf(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	if strings.HasPrefix(ref, "sha256") {
		return ""
	}
	return ref
}

// imageLabels reads an image's labels on the host.
func (h *devHost) imageLabels(ctx context.Context, ref string) (map[string]string, error) {
	res, err := h.exec(ctx, h.cmd("image", "inspect", "--format", "{{json .Config.Labels}}", ref), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect image %s on the host: %w", ref, err)
	}
	labels := map[string]string{}
	if s := tailLine(res.Stdout); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &labels); err != nil {
			return nil, fmt.Errorf("inspect image %s on the host: unexpected output", ref)
		}
	}
	return labels, nil
}
