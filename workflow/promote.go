package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// PromoteRegistry is what the prod workflow needs from the image registry;
// registry.Registry implements it.
type PromoteRegistry interface {
	SnapshotImages
	// Tag adds newTag to srcTag's manifest without moving a layer, and never moves a tag.
	Tag(ctx context.Context, srcTag, newTag string) (registry.TagResult, error)
	// Repository is host/repo, the image name pods pull.
	Repository() string
}

// ReleaseAPI is what the release step needs from GitHub; *github.Client implements it.
type ReleaseAPI interface {
	ReleaseByTag(ctx context.Context, tag string) (*github.Release, error)
	ListReleases(ctx context.Context, limit int) ([]github.Release, error)
	GenerateNotes(ctx context.Context, tag, target, previousTag string) (name, body string, err error)
	CreateRelease(ctx context.Context, nr github.NewRelease) (*github.Release, error)
	TagCommit(ctx context.Context, tag string) (string, error)
}

// LockOptions configure an environment's deploy lock.
type LockOptions struct {
	Timeout, Stale time.Duration
	// Force breaks a stale lock (--force-unlock).
	Force bool
	// Poll is the wait between attempts on a held lock (HostLock's default when 0).
	Poll time.Duration
}

// ProdTarget is the Kubernetes deployment a promotion rolls out to.
type ProdTarget struct {
	// Kubectl is the words of the kubectl command on the host, e.g. ["microk8s", "kubectl"].
	Kubectl                          []string
	Namespace, Deployment, Container string
	// Manifest is the local path of the manifest applied before the image is set.
	Manifest string
	// PinDigest sets the image as repo:tag@digest, so pods run exactly the promoted bytes.
	PinDigest bool
	// UndoOnFailure runs `rollout undo` when the rollout fails.
	UndoOnFailure  bool
	RolloutTimeout time.Duration
	// Poll is how often pods are checked during a rollout (2s when 0).
	Poll time.Duration
	Lock LockOptions
}

// locked runs fn with the configured kubectl on host while holding the prod lock,
// which it releases on every exit path (a failed release only warns).
func (t ProdTarget) locked(ctx context.Context, r pipeline.Reporter, host hostexec.Runner, who, version string, now func() time.Time, fn func(k kubectl.Client) error) error {
	lock := &hoststate.Lock{Host: host, Env: "prod", Who: who, Version: version,
		Timeout: t.Lock.Timeout, Stale: t.Lock.Stale, Force: t.Lock.Force, Poll: t.Lock.Poll, Now: now}
	if err := lock.Acquire(ctx, r.Logf); err != nil {
		return err
	}
	defer func() {
		if err := lock.Release(ctx); err != nil {
			r.Logf("warning: %v", err)
		}
	}()
	return fn(kubectl.Client{Host: host, Command: t.Kubectl, Namespace: t.Namespace})
}

// PromoteOptions are the inputs of the prod workflow. The client functions are called
// when a step first needs them, so building the steps opens nothing.
type PromoteOptions struct {
	// Dir is the app's root (pyproject.toml, the git checkout).
	Dir string
	// RefuseDirty fails the metadata step on uncommitted changes.
	RefuseDirty bool
	// Checks run in the preflight step.
	Checks []Check
	// Secrets are masked from every event from the first step on (tokens, keys).
	Secrets []string
	// Snapshot is a snapshot tag chosen explicitly (--snapshot); empty finds HEAD's.
	Snapshot string
	// Lineages are extra revisions searched for HEAD's tree (squash merges), e.g. origin/dev.
	Lineages []string
	// TagFormat builds the release tag from the version, e.g. "{version}".
	TagFormat string
	Registry  func(ctx context.Context) (PromoteRegistry, error)
	GitHub    func(ctx context.Context) (ReleaseAPI, error)
	Repo      func(ctx context.Context) (GitHistory, error)
	Host      func(ctx context.Context) (hostexec.Runner, error)
	Prod      ProdTarget
	// Who names the person or job, for the lock and the audit log.
	Who string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (o PromoteOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Promotion is what the prod workflow's steps learn and hand on.
type Promotion struct {
	Meta     meta.Meta
	Snapshot Snapshot
	// ReleaseTag is the GitHub release's tag, PromotedTag the image tag v<version>.
	ReleaseTag, PromotedTag string
	ReleaseURL              string
	// Repository is host/repo; Image is what the deployment is set to.
	Repository, Image string
}

// Promote returns the prod workflow's steps: preflight, metadata, find snapshot,
// release, promote, rollout.
func Promote(o PromoteOptions) []pipeline.Step {
	return PromoteInto(o, &Promotion{})
}

// PromoteInto is Promote recording what the steps learn in p.
func PromoteInto(o PromoteOptions, p *Promotion) []pipeline.Step {
	return []pipeline.Step{
		withSecrets(Preflight(o.Checks), o.Secrets),
		Metadata(MetaOptions{Dir: o.Dir, RefuseDirty: o.RefuseDirty}, &p.Meta),
		FindSnapshotStep(o, p),
		ReleaseStep(o, p),
		PromoteTagStep(o, p),
		RolloutStep(o, p),
	}
}

// withSecrets registers values to mask before a step runs. Multi-line values (private
// keys) are registered line by line, as logs are.
func withSecrets(s pipeline.Step, secrets []string) pipeline.Step {
	return pipeline.StepFunc(s.Name(), func(ctx context.Context, r pipeline.Reporter) error {
		for _, v := range secrets {
			r.Secret(v)
			if strings.Contains(v, "\n") {
				for _, l := range strings.Split(v, "\n") {
					if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
						r.Secret(l)
					}
				}
			}
		}
		return s.Run(ctx, r)
	})
}

// ImageRef is what a deployment is set to: repo:tag@digest, or repo:tag when not pinned.
func ImageRef(repository, tag, digest string, pin bool) string {
	if pin && digest != "" {
		return repository + ":" + tag + "@" + digest
	}
	return repository + ":" + tag
}

// FindSnapshotStep finds the snapshot image built from HEAD's sources (or checks the
// one chosen with --snapshot).
func FindSnapshotStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.StepFunc("find snapshot", func(ctx context.Context, r pipeline.Reporter) error {
		if p.Meta.Commit == "" {
			return errors.New("find snapshot: no commit: the metadata step did not run")
		}
		reg, err := o.Registry(ctx)
		if err != nil {
			return err
		}
		g, err := o.Repo(ctx)
		if err != nil {
			return err
		}
		snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{
			Version:  p.Meta.Version,
			Head:     p.Meta.Commit,
			Explicit: o.Snapshot,
			Lineages: o.Lineages,
			Logf:     r.Logf,
		})
		if err != nil {
			return err
		}
		p.Snapshot = snap
		p.ReleaseTag = meta.ReleaseTag(o.TagFormat, p.Meta.Version)
		p.PromotedTag = meta.PromotedTag(p.Meta.Version)
		if err := meta.ValidateTag(p.PromotedTag); err != nil {
			return err
		}
		if err := github.ValidateTag(p.ReleaseTag); err != nil {
			return fmt.Errorf("release tag from github.tag_format: %w", err)
		}
		p.Repository = reg.Repository()
		if p.Repository == "" {
			return errors.New("find snapshot: the registry did not name its host; set registry.host")
		}
		p.Image = ImageRef(p.Repository, p.PromotedTag, snap.Digest, o.Prod.PinDigest)
		r.Logf("snapshot  %s", snap.Tag)
		r.Logf("digest    %s", snap.Digest)
		if snap.Commit != "" && snap.Commit != p.Meta.Commit {
			r.Logf("built from %s (%s)", snap.Commit, snap.Why)
		}
		r.Set("snapshot", snap.Tag)
		r.Set("digest", snap.Digest)
		return nil
	})
}

// PromoteTagStep gives the snapshot the tag v<version>: a manifest copy, no layer upload.
// A tag already on the same digest is skipped; one on another digest stops the run.
func PromoteTagStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.StepFunc("promote", func(ctx context.Context, r pipeline.Reporter) error {
		if p.Snapshot.Tag == "" {
			return errors.New("promote: no snapshot: the find snapshot step did not run")
		}
		reg, err := o.Registry(ctx)
		if err != nil {
			return err
		}
		res, err := reg.Tag(ctx, p.Snapshot.Tag, p.PromotedTag)
		if err != nil {
			// A *registry.TagMovedError says the release tag names another image: it never moves.
			return fmt.Errorf("promote %s as %s: %w", p.Snapshot.Tag, p.PromotedTag, err)
		}
		if res.Digest != "" && res.Digest != p.Snapshot.Digest {
			return fmt.Errorf("promote: %s now points at %s, not %s as when it was found: the snapshot tag moved; re-run to release what it names now",
				p.Snapshot.Tag, res.Digest, p.Snapshot.Digest)
		}
		// Both tags must name the same manifest now.
		got, err := reg.Resolve(ctx, p.PromotedTag)
		if err != nil {
			return fmt.Errorf("promote: verify %s: %w", p.PromotedTag, err)
		}
		src, err := reg.Resolve(ctx, p.Snapshot.Tag)
		if err != nil {
			return fmt.Errorf("promote: verify %s: %w", p.Snapshot.Tag, err)
		}
		if got != p.Snapshot.Digest || src != p.Snapshot.Digest {
			return fmt.Errorf("promote: after tagging, %s is %s and %s is %s; want both %s", p.PromotedTag, got, p.Snapshot.Tag, src, p.Snapshot.Digest)
		}
		r.Set("promoted_tag", p.PromotedTag)
		r.Set("tags", p.Snapshot.Tag+", "+p.PromotedTag)
		r.Set("image", p.Image)
		if res.AlreadyDone {
			return pipeline.Skip("%s already names %s (the same image)", p.PromotedTag, got)
		}
		r.Progress(res.BytesMoved, res.BytesMoved, "bytes")
		r.Logf("%s -> %s: %d bytes moved (the manifest, no layer)", p.Snapshot.Tag, p.PromotedTag, res.BytesMoved)
		r.Logf("both tags resolve to %s", got)
		return nil
	})
}

// changeCause is the change cause recorded on the deployment for a promotion.
func changeCause(p *Promotion) string {
	return fmt.Sprintf("gantry promote %s (%s, commit %s)", p.Meta.Version, p.Snapshot.Tag, p.Meta.ShortSHA)
}

// RolloutStep applies the manifest and sets the promoted image on the deployment over
// SSH, under the prod lock, watching the rollout and undoing it on failure.
func RolloutStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.StepFunc("rollout", func(ctx context.Context, r pipeline.Reporter) error {
		if p.Image == "" {
			return errors.New("rollout: no image: the earlier steps did not run")
		}
		host, err := o.Host(ctx)
		if err != nil {
			return err
		}
		return o.Prod.locked(ctx, r, host, o.Who, p.Meta.Version, o.Now, func(k kubectl.Client) error {
			out, err := deployImage(ctx, r, k, o.Prod, p.Image, changeCause(p))
			result := "ok: " + p.PromotedTag + " at revision " + out.after.Revision
			if err != nil {
				result = "failed: " + out.short
			}
			if aerr := hoststate.AppendAudit(ctx, host, hoststate.AuditEntry{When: o.now(), Env: "prod", Who: o.Who, Version: p.Meta.Version, SHA: p.Meta.Commit, Result: result}); aerr != nil {
				r.Logf("warning: %v", aerr)
			}
			if err != nil {
				r.Set("rollout", "failed: "+out.short)
				return err
			}
			r.Set("rollout", fmt.Sprintf("deployment/%s %d/%d ready at revision %s", o.Prod.Deployment, out.after.Ready, out.after.Desired, out.after.Revision))
			return nil
		})
	})
}
