package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/image"
	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
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
	// FindRelease returns tag's published release, else its draft, else github.ErrNotFound.
	FindRelease(ctx context.Context, tag string) (*github.Release, error)
	UpdateRelease(ctx context.Context, id int64, u github.ReleaseUpdate) (*github.Release, error)
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
	// HostName is user@host of the prod machine, for plans.
	HostName string
	// App names the app: the host keeps its lock and audit log per app and target.
	App string
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

// prodTargetName names the deployment for plans: "deployment/django-app in default on prod".
func prodTargetName(t ProdTarget) string {
	ns := t.Namespace
	if ns == "" {
		ns = "the default namespace"
	}
	out := "deployment/" + t.Deployment + " (container " + t.Container + ") in " + ns
	if t.HostName != "" {
		out += " on " + t.HostName
	}
	return out
}

// stateTarget keys the host's lock and audit log: one per namespace and deployment.
func (t ProdTarget) stateTarget() string { return hoststate.ProdTarget(t.Namespace, t.Deployment) }

// audit appends an entry to the target's audit log, even when ctx is cancelled.
func (t ProdTarget) audit(ctx context.Context, r pipeline.Reporter, host hostexec.Runner, e hoststate.AuditEntry) {
	e.Env, e.App, e.Target = config.EnvProd, t.App, t.stateTarget()
	if err := hoststate.AppendAudit(context.WithoutCancel(ctx), host, e); err != nil {
		r.Logf("warning: %v", err)
	}
}

// locked runs fn with the configured kubectl on host while holding the prod lock,
// which it releases on every exit path (a failed release only warns).
func (t ProdTarget) locked(ctx context.Context, r pipeline.Reporter, host hostexec.Runner, who, version string, now func() time.Time, fn func(k kubectl.Client) error) error {
	lock := &hoststate.Lock{Host: host, App: t.App, Target: t.stateTarget(), Env: config.EnvProd, Who: who, Version: version,
		Timeout: t.Lock.Timeout, Stale: t.Lock.Stale, Force: t.Lock.Force, Poll: t.Lock.Poll, Now: now}
	if err := lock.Acquire(ctx, r.Logf); err != nil {
		return err
	}
	defer func() {
		// Released even when the run was cancelled.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
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
	// ReleaseRepo is owner/name of the GitHub repository, for plans.
	ReleaseRepo string
	Registry    func(ctx context.Context) (PromoteRegistry, error)
	GitHub      func(ctx context.Context) (ReleaseAPI, error)
	Repo        func(ctx context.Context) (GitHistory, error)
	Host        func(ctx context.Context) (hostexec.Runner, error)
	Prod        ProdTarget
	// AllowDowngrade rolls out a version older than the one prod runs (--allow-downgrade);
	// the audit line says so.
	AllowDowngrade bool
	// Who names the person or job, for the lock and the audit log.
	Who string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Deployment, when set, reports the rollout to a GitHub deployment (github.deployments);
	// its Info is filled from the promotion.
	Deployment *DeploymentOptions
}

func (o PromoteOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Promotion is what the prod workflow's steps learn and hand on. Each step's plan fills
// in what it found, so the next step's plan builds on it in a dry run and in a run alike.
type Promotion struct {
	Meta     meta.Meta
	Snapshot Snapshot
	// ReleaseTag is the GitHub release's tag, PromotedTag the image tag v<version>.
	ReleaseTag, PromotedTag string
	ReleaseURL              string
	// ReleaseCommit is the commit the release is tagged at: HEAD, or the commit an
	// explicit --snapshot was built from.
	ReleaseCommit string
	// Repository is host/repo; Image is what the deployment is set to.
	Repository, Image string
	// Release is the release (draft or published) the release step found or created.
	Release ReleaseState
	// Prod is what prod ran when the release step planned.
	Prod ProdState

	snapshotLog []string
	notes       releaseNotes
}

// Promote returns the prod workflow's steps: preflight, metadata, find snapshot,
// release (a draft), promote (the image tag), rollout, publish.
func Promote(o PromoteOptions) []pipeline.Step {
	return PromoteInto(o, &Promotion{})
}

// PromoteInto is Promote recording what the steps learn in p.
func PromoteInto(o PromoteOptions, p *Promotion) []pipeline.Step {
	steps := []pipeline.Step{
		WithSecrets(Preflight(o.Checks), o.Secrets...),
		Metadata(MetaOptions{Dir: o.Dir, RefuseDirty: o.RefuseDirty}, &p.Meta),
		FindSnapshotStep(o, p),
		ReleaseStep(o, p),
		PromoteTagStep(o, p),
	}
	rollout := RolloutStep(o, p)
	if o.Deployment != nil {
		t := NewDeploymentTracker(promoteDeployment(*o.Deployment, p))
		steps = append(steps, DeploymentStep(t))
		rollout = WithDeployment(rollout, t)
	}
	return append(steps, rollout, PublishStep(o, p))
}

// ImageRef is what a deployment is set to: repo:tag@digest, or repo:tag when not pinned.
func ImageRef(repository, tag, digest string, pin bool) string {
	if !pin {
		digest = ""
	}
	return image.New(repository, tag, digest).String()
}

// FindSnapshotStep finds the snapshot image built from HEAD's sources (or checks the
// one chosen with --snapshot). It only reads: its plan does the search.
func FindSnapshotStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.NewStep("find snapshot", func(ctx context.Context) (pipeline.StepPlan, error) {
		return planSnapshot(ctx, o, p)
	}, func(ctx context.Context, r pipeline.Reporter) error {
		for _, l := range p.snapshotLog {
			r.Logf("%s", l)
		}
		snap := p.Snapshot
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

// planSnapshot searches the snapshot and records it, the tags and the image in p.
func planSnapshot(ctx context.Context, o PromoteOptions, p *Promotion) (pipeline.StepPlan, error) {
	if p.Meta.Commit == "" {
		return pipeline.StepPlan{}, errors.New("find snapshot: no commit: the metadata step did not plan")
	}
	p.ReleaseTag = meta.ReleaseTag(o.TagFormat, p.Meta.Version)
	p.PromotedTag = meta.PromotedTag(p.Meta.Version)
	if err := meta.ValidateTag(p.PromotedTag); err != nil {
		return pipeline.Refusing("%v", err), nil
	}
	if err := github.ValidateTag(p.ReleaseTag); err != nil {
		return pipeline.Refusing("release tag from github.tag_format: %v", err), nil
	}
	reg, err := o.Registry(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	g, err := o.Repo(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	p.snapshotLog = nil
	snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{
		Version:  p.Meta.Version,
		Head:     p.Meta.Commit,
		Explicit: o.Snapshot,
		Lineages: o.Lineages,
		Logf:     func(f string, a ...any) { p.snapshotLog = append(p.snapshotLog, fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		if ctx.Err() != nil {
			return pipeline.StepPlan{}, err
		}
		return pipeline.Refusing("%v", err), nil
	}
	p.Snapshot = snap
	p.Repository = reg.Repository()
	if p.Repository == "" {
		return pipeline.Refusing("the registry did not name its host; set registry.host"), nil
	}
	p.Image = ImageRef(p.Repository, p.PromotedTag, snap.Digest, o.Prod.PinDigest)
	p.ReleaseCommit = p.Meta.Commit
	if o.Snapshot != "" && snap.Commit != "" {
		// An explicit snapshot is released at the commit it was built from.
		p.ReleaseCommit = snap.Commit
	}
	plan := pipeline.Reading(fmt.Sprintf("release snapshot %s (%s)", snap.Tag, snap.Why)).
		With("snapshot", snap.Tag).With("digest", snap.Digest).With("built from", snap.Commit).With("why", snap.Why).With("image", p.Image)
	for _, w := range snap.Warnings {
		plan = plan.Warn("%s", w)
	}
	if p.ReleaseCommit != p.Meta.Commit {
		plan = plan.Warn("--snapshot %s was built from %s, not HEAD %s: the release is tagged at %s", snap.Tag, git.ShortSHA(p.ReleaseCommit), git.ShortSHA(p.Meta.Commit), git.ShortSHA(p.ReleaseCommit))
	}
	plan.Key = snap.Tag + "@" + snap.Digest
	return plan, nil
}

// PromoteTagStep gives the snapshot the tag v<version>: a manifest copy, no layer upload.
// A tag already on the same digest is skipped; one on another digest refuses.
func PromoteTagStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.NewStep("promote", func(ctx context.Context) (pipeline.StepPlan, error) {
		return planTag(ctx, o, p)
	}, func(ctx context.Context, r pipeline.Reporter) error {
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
		if res.AlreadyDone {
			return pipeline.Skip("%s already names %s (the same image)", p.PromotedTag, got)
		}
		r.Progress(res.BytesMoved, res.BytesMoved, "bytes")
		r.Logf("%s -> %s: %d bytes moved (the manifest, no layer)", p.Snapshot.Tag, p.PromotedTag, res.BytesMoved)
		r.Logf("both tags resolve to %s", got)
		return nil
	})
}

// planTag decides the image tag: skip when v<version> already names the snapshot's
// digest, refuse when it names another.
func planTag(ctx context.Context, o PromoteOptions, p *Promotion) (pipeline.StepPlan, error) {
	if p.Snapshot.Tag == "" {
		return pipeline.StepPlan{}, errors.New("promote: no snapshot: the find snapshot step did not plan")
	}
	reg, err := o.Registry(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	have, refusal, err := decideTag(ctx, reg, p)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	var plan pipeline.StepPlan
	switch {
	case refusal != "":
		plan = pipeline.Refusing("%s", refusal)
	case have != "":
		plan = pipeline.Skipping("%s already names %s (the same image)", p.PromotedTag, have)
	default:
		plan = pipeline.Acting(fmt.Sprintf("tag %s as %s (a manifest copy)", p.Snapshot.Tag, p.PromotedTag))
	}
	plan.Target = p.Repository
	plan = plan.With("snapshot", p.Snapshot.Tag).With("digest", p.Snapshot.Digest).With("image tag", p.PromotedTag)
	if have != "" {
		plan = plan.With(p.PromotedTag+" now", have)
	} else {
		plan = plan.With(p.PromotedTag+" now", "absent")
	}
	plan.Key = p.PromotedTag + "@" + p.Snapshot.Digest
	return plan, nil
}

// decideTag reads what v<version> names now and refuses it on another digest.
func decideTag(ctx context.Context, reg PromoteRegistry, p *Promotion) (have, refusal string, err error) {
	d, err := reg.Resolve(ctx, p.PromotedTag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return "", "", nil
	case err != nil:
		return "", "", fmt.Errorf("look for %s: %w", p.PromotedTag, err)
	case d != p.Snapshot.Digest:
		return d, fmt.Sprintf("%s already names %s, not the snapshot's %s: a release tag never moves to another image; bump the version in pyproject.toml",
			p.PromotedTag, d, p.Snapshot.Digest), nil
	}
	return d, "", nil
}

// changeCause is the change cause recorded on the deployment for a promotion.
func changeCause(p *Promotion) string {
	return fmt.Sprintf("gantry promote %s (%s, commit %s)", p.Meta.Version, p.Snapshot.Tag, git.ShortSHA(p.ReleaseCommit))
}
