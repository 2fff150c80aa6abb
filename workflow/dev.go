package workflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// OCI image labels the build sets.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelCreated  = "org.opencontainers.image.created"
)

// Build arguments gantry passes to every build, besides build.args.
const (
	ArgVersion  = "VERSION"
	ArgCommit   = "COMMIT"
	ArgImageTag = "IMAGE_TAG"
)

// DevEngine is what the dev workflow needs of the local Docker engine.
type DevEngine interface {
	Build(ctx context.Context, opts docker.BuildOptions, log func(string)) (string, error)
	Push(ctx context.Context, ref string, auth docker.Auth, progress func(docker.Progress), log func(string)) (string, error)
	Pull(ctx context.Context, ref string, auth docker.Auth, progress func(docker.Progress), log func(string)) error
}

// DevParams configure one run of the dev workflow. The client functions are called
// when a step first needs them (the app opens each client once).
type DevParams struct {
	// Dir is the app's root: build.prepare runs there and build.context is relative to it.
	Dir   string
	Build config.Build
	Dev   config.Dev

	Registry func(ctx context.Context) (registry.Registry, error)
	Engine   func() (DevEngine, error)
	// Host is the dev host's command runner: one SSH connection, or this machine.
	Host func(ctx context.Context) (hostexec.Runner, error)
	// RemoteURL returns the git remote's URL, the default image source label ("" if none).
	RemoteURL func(ctx context.Context) string

	// App is the app's name: the dev lock and audit log are the app's own on the host.
	App string
	// LockLease is how long the dev lock's lease lasts unrenewed (hoststate.DefaultLease).
	LockLease time.Duration
	// Who names the person or job deploying, for the lock and the audit log.
	Who string
	// ForceUnlock takes the dev lock even from a live-looking holder (with a warning).
	ForceUnlock bool
	// Env looks up environment variables for build secrets (default os.LookupEnv).
	Env func(string) (string, bool)
	// URLHost is the dev host's name as users reach it, for the summary's url.
	URLHost string

	// Now is the clock (default time.Now).
	Now func() time.Time
	// LockPoll, HealthPoll tune waiting (defaults 2s and 250ms); tests shorten them.
	LockPoll, HealthPoll time.Duration
}

func (p *DevParams) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// DevRun is the state the steps of one dev run share: what metadata found, which
// image was built and pushed, and the registry login.
type DevRun struct {
	p DevParams
	// Meta is filled by the metadata step.
	Meta meta.Meta

	reg     registry.Registry
	image   string // <registry repository>:<IMAGE_TAG>
	digest  string // manifest digest in the registry
	imageID string // local image ID after the build
	resumed bool   // the registry already holds IMAGE_TAG built from HEAD
}

// NewDevRun starts the shared state of one dev run.
func NewDevRun(p DevParams) *DevRun { return &DevRun{p: p} }

// Image is the image reference the run builds, pushes and deploys ("" before login).
func (d *DevRun) Image() string { return d.image }

// registry opens the registry once per run.
func (d *DevRun) registry(ctx context.Context) (registry.Registry, error) {
	if d.reg != nil {
		return d.reg, nil
	}
	reg, err := d.p.Registry(ctx)
	if err != nil {
		return nil, err
	}
	d.reg = reg
	return reg, nil
}

// credentials logs in (the registry caches a token until it is about to expire, so a
// later call refreshes an expired one) and registers the password as a secret.
func (d *DevRun) credentials(ctx context.Context, r pipeline.Reporter) (registry.Credentials, error) {
	reg, err := d.registry(ctx)
	if err != nil {
		return registry.Credentials{}, err
	}
	c, err := reg.Login(ctx)
	if err != nil {
		return registry.Credentials{}, fmt.Errorf("registry login: %w", err)
	}
	r.Secret(c.Password)
	if c.Host == "" {
		c.Host = reg.Host()
	}
	return c, nil
}

func engineAuth(c registry.Credentials) docker.Auth {
	if c.Anonymous() {
		return docker.Auth{}
	}
	return docker.Auth{Username: c.Username, Password: c.Password, ServerAddress: c.Host}
}

// Labels a build from a dirty work tree carries besides the OCI ones: that it is one,
// and the hash of the content it was built from (the tag's last part).
const (
	LabelDirty   = "gantry.dirty"
	LabelContent = "gantry.content"
)

// target opens the registry and names the image the run builds, pushes and deploys.
func (d *DevRun) target(ctx context.Context) (registry.Registry, error) {
	reg, err := d.registry(ctx)
	if err != nil {
		return nil, err
	}
	if reg.Repository() == "" {
		return nil, fmt.Errorf("registry login: the %s registry host is still unknown; set registry.host or registry.account_id", reg.Kind())
	}
	if err := meta.ValidateTag(d.Meta.ImageTag); err != nil {
		return nil, err
	}
	d.image = reg.Repository() + ":" + d.Meta.ImageTag
	return reg, nil
}

// Login is the registry login step. It changes nothing: its plan names the registry and
// the image; its run logs in (the build and push log in again should the token expire).
func (d *DevRun) Login() pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		reg, err := d.target(ctx)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		p := pipeline.Reading(fmt.Sprintf("log in to the %s registry %s", reg.Kind(), reg.Host()))
		p.Target = reg.Repository()
		p = p.With("registry", string(reg.Kind())+" "+reg.Host()).With("image tag", d.Meta.ImageTag).With("image", d.image)
		p.Key = d.image
		return p, nil
	}
	run := func(ctx context.Context, r pipeline.Reporter) error {
		c, err := d.credentials(ctx, r)
		if err != nil {
			return err
		}
		reg := d.reg
		switch {
		case c.Anonymous():
			r.Logf("%s registry %s needs no credentials", reg.Kind(), reg.Host())
		case c.ExpiresAt.IsZero():
			r.Logf("logged in to %s as %s", c.Host, c.Username)
		default:
			r.Logf("logged in to %s as %s (token valid until %s)", c.Host, c.Username, c.ExpiresAt.UTC().Format(time.RFC3339))
		}
		r.Set("image_tag", d.Meta.ImageTag)
		r.Set("image", d.image)
		// A re-run that finds the image skips build and push without running them, so
		// the digest of the run's result is reported here.
		if digest, err := d.lookup(ctx); err == nil && digest != "" {
			r.Set("digest", digest)
		}
		return nil
	}
	return pipeline.NewStep("login", plan, run)
}

// ErrTagTaken means IMAGE_TAG already names an image built from other sources.
var ErrTagTaken = errors.New("image tag already taken")

// errTagUnknown means the registry could not say whether it holds IMAGE_TAG.
var errTagUnknown = errors.New("cannot tell whether the registry holds the tag")

// lookup says what the registry holds under IMAGE_TAG: nothing (""), this build's image
// (its digest: a re-run picks up where an earlier run stopped), an image of other
// sources (ErrTagTaken: snapshot tags are write-once, it is never replaced), or it
// cannot tell (errTagUnknown).
func (d *DevRun) lookup(ctx context.Context) (string, error) {
	tag := d.Meta.ImageTag
	digest, err := registry.ManifestDigest(ctx, d.reg, tag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%w: read %s: %v", errTagUnknown, tag, err)
	}
	labels, err := d.reg.Labels(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("%w: %s is in the registry (%s) but its labels cannot be read (%v); a snapshot tag is never moved to another image: re-run when the registry answers",
			ErrTagTaken, tag, digest, err)
	}
	rev := labels[LabelRevision]
	if rev != d.Meta.Commit {
		return "", fmt.Errorf("%w: %s is in the registry already (%s), built from commit %s, not %s; a snapshot tag is never moved to another image: bump the version in pyproject.toml, or remove the stray tag from the registry",
			ErrTagTaken, tag, digest, orUnknown(rev), d.Meta.Commit)
	}
	dirty, content := labels[LabelDirty] == "true", labels[LabelContent]
	switch {
	case dirty && !d.Meta.Dirty:
		return "", fmt.Errorf("%w: %s is in the registry already (%s), built from a dirty work tree on top of %s, not from the commit; a snapshot tag is never moved to another image: make a new commit (it gets a tag of its own)",
			ErrTagTaken, tag, digest, short7(rev))
	case d.Meta.Dirty && (!dirty || content != d.Meta.ContentHash):
		return "", fmt.Errorf("%w: %s is in the registry already (%s) but its labels do not name this work tree's content %s; a tag is never moved to another image: remove the stray tag from the registry",
			ErrTagTaken, tag, digest, d.Meta.ContentHash)
	}
	return digest, nil
}

// imagePlan is the one decision of the build and push steps: skip when the registry
// holds this build's image, refuse when the tag names another image, else act. It
// records a digest it found for the steps after it.
func (d *DevRun) imagePlan(ctx context.Context, act string) (pipeline.StepPlan, error) {
	reg, err := d.target(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	tag := d.Meta.ImageTag
	digest, err := d.lookup(ctx)
	var p pipeline.StepPlan
	switch {
	case errors.Is(err, ErrTagTaken):
		p = pipeline.Refusing("%v", err)
	case err != nil:
		p = pipeline.Acting(act).Warn("%v; building it: the push checks again that the tag is free", err)
	case digest != "":
		d.digest = digest
		p = pipeline.Skipping("already in registry: %s (%s) was %s", tag, digest, d.Meta.Contents())
	default:
		p = pipeline.Acting(act)
	}
	p.Target = d.image
	p = p.With("image tag", tag).With("image", d.image).With("registry", string(reg.Kind())+" "+reg.Host()).
		With("commit", d.Meta.Commit).With("contents", d.Meta.Contents()).With("digest", digest)
	if d.Meta.Dirty {
		p = p.With("dirty build", "yes: content "+d.Meta.ContentHash+", tagged "+tag+" (never promoted)")
	} else {
		p = p.With("dirty build", "no")
	}
	// What the decision rests on: the tag and the tree the image holds.
	p.Key = tag + "@" + d.Meta.Tree
	return p, nil
}

// promotedWarning warns when the version was released already: the registry holds its
// release tag, so this snapshot can reach dev but never prod under this version.
func (d *DevRun) promotedWarning(ctx context.Context, p pipeline.StepPlan) pipeline.StepPlan {
	rel := meta.PromotedTag(d.Meta.Version)
	if _, err := d.reg.Resolve(ctx, rel); err == nil {
		p = p.Warn("version %s was already promoted (the registry holds %s): this snapshot deploys to dev but can never be released as %s; bump the version in pyproject.toml",
			d.Meta.Version, rel, d.Meta.Version)
	}
	return p
}

// Build is the image build step: build.prepare, then the engine's build with
// cache from the newest earlier snapshot.
func (d *DevRun) Build() pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		p, err := d.imagePlan(ctx, fmt.Sprintf("build %s (%s)", d.Meta.ImageTag, d.Meta.Contents()))
		if err != nil {
			return p, err
		}
		if d.Meta.Dirty {
			p = p.Warn("uncommitted changes ARE in the image: %d change(s) on top of %s; it is tagged %s and can never be promoted",
				len(d.Meta.Changes), d.Meta.ShortSHA, d.Meta.ImageTag)
		}
		return d.promotedWarning(ctx, p), nil
	}
	run := func(ctx context.Context, r pipeline.Reporter) error {
		eng, err := d.p.Engine()
		if err != nil {
			return err
		}
		if err := d.prepare(ctx, r); err != nil {
			return err
		}
		var cacheFrom []string
		if prev := d.previousSnapshot(ctx, r); prev != "" {
			ref := d.reg.Repository() + ":" + prev
			c, err := d.credentials(ctx, r)
			if err == nil {
				err = eng.Pull(ctx, ref, engineAuth(c), nil, nil)
			}
			if err != nil {
				r.Logf("no build cache: pulling %s failed: %v", prev, err)
			} else {
				r.Logf("using %s as build cache", prev)
				cacheFrom = []string{ref}
			}
		}
		// Build secrets are masked before any build output can show them.
		lookup := d.p.Env
		if lookup == nil {
			lookup = os.LookupEnv
		}
		secrets, err := docker.ReadSecretsFrom(d.p.Build.Secrets, lookup)
		if err != nil {
			return err
		}
		for _, v := range docker.SecretValues(secrets) {
			r.Secret(v)
		}
		var cacheAuth registry.Credentials
		if c := d.p.Build.Cache; c != "" && c != docker.CacheOff && c != docker.CacheLocal {
			cacheAuth, _ = d.credentials(ctx, r) // the login step has logged in; without it the cache is only not imported
		}
		opts := docker.BuildOptions{
			ContextDir: filepath.Join(d.p.Dir, d.p.Build.Context),
			Dockerfile: d.p.Build.Dockerfile,
			Tags:       []string{d.image},
			Args:       d.buildArgs(r),
			Target:     d.p.Build.Target,
			Labels:     d.labels(ctx),
			CacheFrom:  cacheFrom,
			Platform:   d.p.Build.Platform,
			Secrets:    secrets,
			Cache:      d.p.Build.Cache,
			CacheRef:   d.reg.Repository() + ":buildcache",
			Auth:       engineAuth(cacheAuth),
		}
		r.Logf("building %s (%s)", d.image, d.Meta.Contents())
		id, err := eng.Build(ctx, opts, func(line string) { r.Logf("%s", line) })
		if err != nil {
			return err
		}
		d.imageID = id
		r.Logf("built %s (%s)", d.image, shortImageID(id))
		return nil
	}
	return pipeline.NewStep("build", plan, run)
}

func (d *DevRun) buildArgs(r pipeline.Reporter) map[string]string {
	args := maps.Clone(d.p.Build.Args)
	if args == nil {
		args = map[string]string{}
	}
	auto := map[string]string{ArgVersion: d.Meta.Version, ArgCommit: d.Meta.Commit, ArgImageTag: d.Meta.ImageTag}
	for k, v := range auto {
		if old, ok := args[k]; ok && old != v {
			r.Logf("build.args.%s is set by gantry: using %q", k, v)
		}
		args[k] = v
	}
	return args
}

func (d *DevRun) labels(ctx context.Context) map[string]string {
	l := map[string]string{
		LabelVersion:  d.Meta.Version,
		LabelRevision: d.Meta.Commit,
		LabelCreated:  d.p.now().UTC().Format(time.RFC3339),
	}
	if d.Meta.Dirty {
		l[LabelDirty] = "true"
		l[LabelContent] = d.Meta.ContentHash
	}
	src := d.p.Build.Source
	if src == "" && d.p.RemoteURL != nil {
		src = SourceURL(d.p.RemoteURL(ctx))
	}
	if src != "" {
		l[LabelSource] = src
	}
	return l
}

// SourceURL turns a git remote URL into a browsable source URL without credentials:
// https://user:token@host/x.git and git@host:x.git both become https://host/x.
func SourceURL(remote string) string {
	remote = strings.TrimSpace(remote)
	if remote == "" {
		return ""
	}
	if !strings.Contains(remote, "://") {
		// scp-like syntax: [user@]host:path
		at := strings.LastIndex(remote, "@")
		hostPath := remote[at+1:]
		host, path, ok := strings.Cut(hostPath, ":")
		if !ok || host == "" || strings.Contains(host, "/") {
			return ""
		}
		remote = "https://" + host + "/" + strings.TrimPrefix(path, "/")
	}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" {
		return ""
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	if u.Scheme == "ssh" || u.Scheme == "git" {
		u.Scheme = "https"
		u.Host = u.Hostname()
	}
	u.Path = strings.TrimSuffix(u.Path, ".git")
	return u.String()
}

// errListDone stops a listing early.
var errListDone = errors.New("found")

// previousSnapshot is the newest snapshot tag in the registry other than this run's.
func (d *DevRun) previousSnapshot(ctx context.Context, r pipeline.Reporter) string {
	var prev string
	err := d.reg.List(ctx, func(page []registry.Image) error {
		for _, img := range page {
			if _, _, ok := meta.ParseSnapshotTag(img.Tag); ok && img.Tag != d.Meta.ImageTag {
				prev = img.Tag
				return errListDone
			}
		}
		// Pages are sorted within themselves only; the first one is enough for a cache hint.
		return errListDone
	})
	if err != nil && !errors.Is(err, errListDone) {
		r.Logf("no build cache: listing the registry failed: %v", err)
		return ""
	}
	if prev == "" {
		r.Logf("no earlier snapshot in the registry to use as build cache")
	}
	return prev
}

// prepare runs build.prepare with sh -c in the app folder, streaming its output.
func (d *DevRun) prepare(ctx context.Context, r pipeline.Reporter) error {
	script := strings.TrimSpace(d.p.Build.Prepare)
	if script == "" {
		return nil
	}
	r.Logf("$ %s", script)
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = d.p.Dir
	cmd.Env = append(os.Environ(), ArgVersion+"="+d.Meta.Version, ArgCommit+"="+d.Meta.Commit, ArgImageTag+"="+d.Meta.ImageTag)
	w := r.Writer()
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so cancelling reaches whatever the script started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("build.prepare: %w", ctx.Err())
		}
		return fmt.Errorf("build.prepare failed (%v); fix the command in gantry.toml or the code it builds", err)
	}
	return nil
}

// Push is the image push step. Snapshot tags are write-once: right before the push the
// registry must not hold the tag yet (another run may have pushed it since the plan),
// and after it the digest is read back and checked.
func (d *DevRun) Push() pipeline.Step {
	plan := func(ctx context.Context) (pipeline.StepPlan, error) {
		reg, err := d.target(ctx)
		if err != nil {
			return pipeline.StepPlan{}, err
		}
		return d.imagePlan(ctx, fmt.Sprintf("push %s to %s", d.Meta.ImageTag, reg.Repository()))
	}
	run := func(ctx context.Context, r pipeline.Reporter) error {
		eng, err := d.p.Engine()
		if err != nil {
			return err
		}
		switch digest, err := d.lookup(ctx); {
		case err != nil:
			return fmt.Errorf("push %s: %w; nothing was pushed", d.Meta.ImageTag, err)
		case digest != "":
			// Another run of the same sources pushed it meanwhile: theirs stays.
			d.digest = digest
			r.Set("digest", digest)
			return pipeline.Skip("already in registry: %s (%s) was pushed meanwhile by another run of the same sources; the tag is left as it is", d.Meta.ImageTag, digest)
		}
		c, err := d.credentials(ctx, r)
		if err != nil {
			return err
		}
		r.Logf("pushing %s", d.image)
		var last docker.Progress
		pushed, err := eng.Push(ctx, d.image, engineAuth(c),
			func(p docker.Progress) { last = p; r.Progress(p.Done, p.Total, "bytes") },
			func(line string) { r.Logf("%s", line) })
		if err != nil {
			if errors.Is(err, docker.ErrUnauthorized) {
				return fmt.Errorf("%w; check the registry credentials and that they may push to %s", err, d.reg.Repository())
			}
			return err
		}
		got, err := registry.ManifestDigest(ctx, d.reg, d.Meta.ImageTag)
		if err != nil {
			return fmt.Errorf("read back %s after the push: %w", d.Meta.ImageTag, err)
		}
		if got != pushed {
			return fmt.Errorf("the registry serves %s as %s, but the push wrote %s: another push raced this one; re-run", d.Meta.ImageTag, got, pushed)
		}
		d.digest = pushed
		r.Logf("pushed %s (%s, %d bytes sent)", d.image, pushed, last.Total)
		r.Set("digest", pushed)
		return nil
	}
	return pipeline.NewStep("push", plan, run)
}

func short7(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// WithSecrets registers values as secrets before step runs, so that nothing the
// run prints can show them (and GitHub's printer masks them in the log). A multi-line
// value (a private key) is registered line by line too, as logs are. Its plan is the
// step's own, with the values masked (a plan is shown before anything runs).
func WithSecrets(step pipeline.Step, values ...string) pipeline.Step {
	var all []string
	for _, v := range values {
		all = append(all, v)
		if strings.Contains(v, "\n") {
			for _, l := range strings.Split(v, "\n") {
				if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
					all = append(all, l)
				}
			}
		}
	}
	m := pipeline.NewMasker()
	for _, v := range all {
		m.Add(v)
	}
	return secretStep{Step: step, values: all, m: m}
}

type secretStep struct {
	pipeline.Step
	values []string
	m      *pipeline.Masker
}

func (s secretStep) Plan(ctx context.Context) (pipeline.StepPlan, error) {
	p, err := s.Step.Plan(ctx)
	if err != nil {
		return p, s.m.MaskError(err)
	}
	return pipeline.MaskPlan(p, s.m), nil
}

func (s secretStep) Run(ctx context.Context, r pipeline.Reporter) error {
	for _, v := range s.values {
		r.Secret(v)
	}
	return s.Step.Run(ctx, r)
}
