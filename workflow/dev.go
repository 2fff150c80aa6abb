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

	"github.com/bookshop-ops/gantry/remote/hoststate"

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

	// Who names the person or job deploying, for the lock and the audit log.
	Who string
	// ForceUnlock breaks a dev lock older than Dev.LockStale.
	ForceUnlock bool
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

// Login is the registry login step.
func (d *DevRun) Login() pipeline.Step {
	return pipeline.StepFunc("login", func(ctx context.Context, r pipeline.Reporter) error {
		c, err := d.credentials(ctx, r)
		if err != nil {
			return err
		}
		reg := d.reg
		if reg.Repository() == "" {
			return fmt.Errorf("registry login: the %s registry host is still unknown; set registry.host or registry.account_id", reg.Kind())
		}
		if err := meta.ValidateTag(d.Meta.ImageTag); err != nil {
			return err
		}
		d.image = reg.Repository() + ":" + d.Meta.ImageTag
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
		return nil
	})
}

// ErrTagTaken means IMAGE_TAG already names an image built from another commit.
var ErrTagTaken = errors.New("image tag already taken")

// inRegistry reports whether IMAGE_TAG is already in the registry, built from HEAD.
// That is how a re-run picks up where an earlier run stopped.
func (d *DevRun) inRegistry(ctx context.Context, r pipeline.Reporter) (bool, error) {
	labels, err := d.reg.Labels(ctx, d.Meta.ImageTag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return false, nil
	case err != nil:
		r.Logf("could not read %s from the registry (%v); building it", d.Meta.ImageTag, err)
		return false, nil
	}
	rev := labels[LabelRevision]
	if rev != d.Meta.Commit {
		return false, fmt.Errorf("%w: %s is in the registry already, built from commit %s, not %s; a snapshot tag is never overwritten",
			ErrTagTaken, d.Meta.ImageTag, orUnknown(rev), d.Meta.Commit)
	}
	if d.Meta.Dirty {
		// The image in the registry was built from the commit, this work tree differs.
		return false, nil
	}
	digest, err := registry.ManifestDigest(ctx, d.reg, d.Meta.ImageTag)
	if err != nil {
		return false, fmt.Errorf("read the digest of %s: %w", d.Meta.ImageTag, err)
	}
	d.digest = digest
	return true, nil
}

// Build is the image build step: build.prepare, then the engine's build with
// cache from the newest earlier snapshot.
func (d *DevRun) Build() pipeline.Step {
	return pipeline.StepFunc("build", func(ctx context.Context, r pipeline.Reporter) error {
		done, err := d.inRegistry(ctx, r)
		if err != nil {
			return err
		}
		if done {
			d.resumed = true
			r.Set("digest", d.digest)
			return pipeline.Skip("already in registry: %s (%s) was built from %s", d.Meta.ImageTag, d.digest, short7(d.Meta.Commit))
		}
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
		secrets, err := docker.ReadSecrets(d.p.Build.Secrets)
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
		r.Logf("building %s", d.image)
		id, err := eng.Build(ctx, opts, func(line string) { r.Logf("%s", line) })
		if err != nil {
			return err
		}
		d.imageID = id
		r.Logf("built %s (%s)", d.image, shortImageID(id))
		return nil
	})
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

// Push is the image push step; the digest is read back from the registry and checked.
func (d *DevRun) Push() pipeline.Step {
	return pipeline.StepFunc("push", func(ctx context.Context, r pipeline.Reporter) error {
		if d.resumed {
			return pipeline.Skip("already in registry: %s", d.digest)
		}
		eng, err := d.p.Engine()
		if err != nil {
			return err
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
	})
}

// Deploy is the deploy step: on the dev host, under the dev lock, pull the image,
// replace the container, check its health, prune old images and write the audit log.
func (d *DevRun) Deploy() pipeline.Step {
	return pipeline.StepFunc("deploy", func(ctx context.Context, r pipeline.Reporter) error {
		runner, err := d.p.Host(ctx)
		if err != nil {
			return err
		}
		h := newDevHost(runner, d.p, r)
		lock := d.p.lock(runner, d.Meta.ImageTag)
		return h.locked(ctx, lock, func(ctx context.Context) (hoststate.AuditEntry, error) {
			entry := hoststate.AuditEntry{Env: "dev", Who: d.p.Who, Version: d.Meta.ImageTag, SHA: d.Meta.Commit}
			c, err := d.credentials(ctx, r)
			if err != nil {
				return entry, err
			}
			if err := h.pull(ctx, d.image, c, d.digest); err != nil {
				return entry, err
			}
			labels := map[string]string{
				"gantry.version":   d.Meta.Version,
				"gantry.sha":       d.Meta.Commit,
				"gantry.image_tag": d.Meta.ImageTag,
				// A changed port map (dev.ports) must not pass for "already running".
				"gantry.ports": d.p.Dev.Ports,
			}
			old, err := h.current(ctx)
			if err != nil {
				return entry, err
			}
			if why, ok := h.serving(ctx, old, d.image, labels); ok {
				// A re-run after a deploy that went through: nothing changes on the
				// host, so no audit line either.
				entry.Version = ""
				r.Set("url", d.p.url())
				return entry, pipeline.Skip("%s", why)
			}
			done, err := h.replace(ctx, old, d.image, d.reg.Repository(), labels)
			if err != nil {
				return entry, err
			}
			h.prune(ctx, done.Images, done.ImageID)
			r.Set("url", d.p.url())
			return entry, nil
		})
	})
}

func (p *DevParams) lock(host hostexec.Runner, version string) *hoststate.Lock {
	return &hoststate.Lock{
		Host: host, Env: "dev", Who: p.Who, Version: version,
		Timeout: p.Dev.LockTimeout.Duration, Stale: p.Dev.LockStale.Duration,
		Force: p.ForceUnlock, Poll: p.LockPoll, Now: p.Now,
	}
}

func (p *DevParams) url() string {
	host := p.URLHost
	if host == "" {
		host = "127.0.0.1"
	}
	hp, _, _ := strings.Cut(p.Dev.Ports, ":")
	return "http://" + host + ":" + hp + "/"
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
// run prints can show them (and GitHub's printer masks them in the log).
func WithSecrets(step pipeline.Step, values ...string) pipeline.Step {
	return pipeline.StepFunc(step.Name(), func(ctx context.Context, r pipeline.Reporter) error {
		for _, v := range values {
			r.Secret(v)
		}
		return step.Run(ctx, r)
	})
}
