package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// DockerConfigDir is the docker CLI config folder gantry logs in with on the dev host,
// relative to the login user's home: the user's own ~/.docker/config.json is never
// touched, and gantry logs out again after the pull so no token stays on disk.
const DockerConfigDir = hoststate.StateDir + "/docker"

// stopTimeout is how long docker stop waits for the old container to exit cleanly.
const stopTimeout = "10"

// Audit results of a dev deploy or rollback.
const (
	ResultOK         = "ok"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled-back" // the deploy failed and the previous container serves again
	ResultRollback   = "rollback"    // gantry rollback put an earlier image back
)

// ErrRolledBack marks a deploy whose new container failed and whose previous
// container was started again: dev still serves the old version.
var ErrRolledBack = errors.New("rolled back to the previous container")

// RolledBackError is a failed deploy after which the previous container serves again.
type RolledBackError struct {
	Err      error
	Previous string // the image the restored container runs
}

func (e *RolledBackError) Error() string {
	return fmt.Sprintf("%v; the previous container (%s) is serving again", e.Err, e.Previous)
}

// Unwrap returns the failure that caused the rollback.
func (e *RolledBackError) Unwrap() error { return e.Err }

// Is makes RolledBackError match ErrRolledBack.
func (e *RolledBackError) Is(t error) bool { return t == ErrRolledBack }

// devHost drives the dev container through the docker CLI of the dev host. Every
// command goes over the one Runner; every value is a quoted word.
type devHost struct {
	run    hostexec.Runner
	docker []string
	cfg    config.Dev
	r      pipeline.Reporter
	poll   time.Duration
	now    func() time.Time
}

func newDevHost(run hostexec.Runner, p DevParams, r pipeline.Reporter) *devHost {
	words := strings.Fields(p.Dev.DockerCommand)
	if len(words) == 0 {
		words = []string{"docker"}
	}
	poll := p.HealthPoll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	return &devHost{run: run, docker: words, cfg: p.Dev, r: r, poll: poll, now: p.now}
}

// cmd is the docker CLI with args, each quoted.
func (h *devHost) cmd(args ...string) hostexec.Cmd {
	return hostexec.Command(append(slices.Clone(h.docker), args...)...)
}

// exec runs c from the login user's home (where gantry's state folder lives).
func (h *devHost) exec(ctx context.Context, c hostexec.Cmd, opts hostexec.RunOptions) (hostexec.Result, error) {
	return h.run.Run(ctx, hoststate.InHome(c), opts)
}

// loginNoise is what docker login says about storing the token unencrypted; gantry
// logs out right after the pull, so it would only mislead.
var loginNoise = regexp.MustCompile(`^(WARNING! Your (password|credentials) (will be|are) stored unencrypted|Configure a credential helper to remove this warning|https://docs\.docker\.com/.*credential)`)

// logLines returns RunOptions that show the command's output as log lines.
func (h *devHost) logLines(prefix string) hostexec.RunOptions {
	show := func(line string) {
		if strings.TrimSpace(line) != "" && !loginNoise.MatchString(line) {
			h.r.Logf("%s%s", prefix, line)
		}
	}
	return hostexec.RunOptions{OnStdout: show, OnStderr: show}
}

// locked runs fn holding the dev lock, releases the lock on every exit path and
// appends fn's audit entry with the result.
func (h *devHost) locked(ctx context.Context, lock *hoststate.Lock, fn func(ctx context.Context) (hoststate.AuditEntry, error)) (err error) {
	if err := lock.Acquire(ctx, h.r.Logf); err != nil {
		return err
	}
	h.r.Logf("took the %s lock on the host", lock.Env)
	defer func() {
		if rerr := lock.Release(ctx); rerr != nil {
			h.r.Logf("warning: %v; remove %s/locks/%s.lock on the host if it stays", rerr, hoststate.StateDir, lock.Env)
			err = errors.Join(err, rerr)
		}
	}()
	entry, err := fn(ctx)
	if entry.Version == "" {
		return err // nothing was tried on the host: nothing to audit
	}
	entry.When = h.now()
	switch {
	case err == nil && entry.Result == "":
		entry.Result = ResultOK
	case errors.Is(err, ErrRolledBack):
		entry.Result = ResultRolledBack
	case err != nil:
		entry.Result = ResultFailed
	}
	if aerr := hoststate.AppendAudit(ctx, h.run, entry); aerr != nil {
		h.r.Logf("warning: %v", aerr)
		if err == nil {
			err = aerr
		}
	} else {
		h.r.Logf("audit: %s %s %s", entry.Version, short7(entry.SHA), entry.Result)
	}
	return err
}

var pulledDigest = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})\s*$`)

// pull pulls image on the host in one command: docker login with the password on
// stdin (never in a command line) into gantry's own docker config folder, docker
// pull, and docker logout whatever the pull did, so no token stays on the host.
// want, when set, is the digest the pulled tag must have.
func (h *devHost) pull(ctx context.Context, image string, c registry.Credentials, want string) error {
	pull := h.cmd("--config", DockerConfigDir, "pull", image)
	cmd := pull
	opts := h.logLines("")
	if !c.Anonymous() {
		logout := h.cmd("--config", DockerConfigDir, "logout", c.Host).Silence()
		cmd = hostexec.Seq(
			hostexec.And(
				hostexec.Command("mkdir", "-p", DockerConfigDir),
				hostexec.Command("chmod", "700", DockerConfigDir),
				h.cmd("--config", DockerConfigDir, "login", c.Host, "--username", c.Username, "--password-stdin"),
				pull,
			),
			hostexec.Raw(`status=$?`),
			logout,
			hostexec.Raw(`exit "$status"`),
		)
		opts.Stdin = strings.NewReader(c.Password)
		h.r.Logf("logging in to %s and pulling %s on the host", c.Host, image)
	} else {
		h.r.Logf("pulling %s on the host", image)
	}
	res, err := h.exec(ctx, cmd, opts)
	if err != nil {
		var ee *hostexec.ExitError
		if !c.Anonymous() && !errors.As(err, &ee) {
			// Cut off before the logout ran: log out on the side.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = h.exec(lctx, h.cmd("--config", DockerConfigDir, "logout", c.Host).Silence(), hostexec.RunOptions{})
		}
		return fmt.Errorf("docker pull %s on the host: %w", image, err)
	}
	if m := pulledDigest.FindStringSubmatch(res.Stdout); m != nil && want != "" && m[1] != want {
		return fmt.Errorf("the host pulled %s as %s, but the registry holds %s: the tag moved during the deploy; re-run", image, m[1], want)
	}
	return nil
}

// devContainer is what docker inspect says about a container.
type devContainer struct {
	ID    string `json:"Id"`
	Name  string
	Image string // image ID
	State struct {
		Status   string
		Running  bool
		ExitCode int
	}
	RestartCount int
	Config       struct {
		Image  string // the reference it was created from
		Labels map[string]string
	}
}

// inspect describes the named containers (or IDs) in one command; absent ones are
// missing from the map.
func (h *devHost) inspect(ctx context.Context, names ...string) (map[string]*devContainer, error) {
	res, err := h.exec(ctx, h.cmd(append([]string{"container", "inspect"}, names...)...), hostexec.RunOptions{})
	if err != nil {
		var ee *hostexec.ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("inspect containers on the host: %w", err)
		}
		for _, line := range strings.Split(ee.Stderr, "\n") {
			if strings.TrimSpace(line) != "" && !strings.Contains(strings.ToLower(line), "no such") {
				return nil, fmt.Errorf("inspect containers on the host: %w", err)
			}
		}
	}
	var list []devContainer
	if out := strings.TrimSpace(res.Stdout); out != "" {
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, fmt.Errorf("inspect containers on the host: unexpected output: %v", err)
		}
	}
	found := map[string]*devContainer{}
	for i := range list {
		c := &list[i]
		for _, n := range names {
			if "/"+n == c.Name || strings.TrimPrefix(c.Name, "/") == n || strings.HasPrefix(c.ID, n) {
				found[n] = c
			}
		}
	}
	return found, nil
}

func describeContainer(c *devContainer) string {
	v := c.Config.Labels["gantry.image_tag"]
	if v == "" {
		v = c.Config.Image
	}
	return fmt.Sprintf("%s (%s, %s)", v, shortImageID(c.ID), c.State.Status)
}

// replaced is what replace leaves behind.
type replaced struct {
	// ImageID is the image the container now runs.
	ImageID string
	// Images are the host's images of the repository, newest first.
	Images []hostImage
}

// current is the container that runs now (nil when none does), after clearing up
// what an interrupted deploy left: a lone <name>-next is adopted as <name>, one beside
// <name> is removed.
func (h *devHost) current(ctx context.Context) (*devContainer, error) {
	name := h.cfg.Container
	next := name + "-next"
	found, err := h.inspect(ctx, name, next)
	if err != nil {
		return nil, err
	}
	old, stale := found[name], found[next]
	if stale != nil {
		if old == nil {
			// An earlier deploy was cut off between starting it and renaming it.
			h.r.Logf("adopting %s, left by an interrupted deploy, as %s", next, name)
			if _, err := h.exec(ctx, h.cmd("rename", stale.ID, name), hostexec.RunOptions{}); err != nil {
				return nil, fmt.Errorf("rename %s to %s on the host: %w", next, name, err)
			}
			old = stale
		} else {
			h.r.Logf("removing %s, left by an interrupted deploy", next)
			if _, err := h.exec(ctx, h.cmd("rm", "-f", stale.ID).Stdout2Null(), hostexec.RunOptions{}); err != nil {
				return nil, fmt.Errorf("remove %s on the host: %w", next, err)
			}
		}
	}
	if old != nil {
		h.r.Logf("%s runs %s", name, describeContainer(old))
	} else {
		h.r.Logf("no %s container yet", name)
	}
	return old, nil
}

// replace swaps old (what current returned; nil for none) for a new container
// running image, keeping downtime to a stop and a start: one command creates the new
// container (as <name>-next), stops the old one and starts the new one. The old
// container is removed only once the new one is healthy; otherwise it is started
// again. repo, if set, is listed in the same last command for pruning.
func (h *devHost) replace(ctx context.Context, old *devContainer, image, repo string, labels map[string]string) (replaced, error) {
	name := h.cfg.Container
	next := name + "-next"
	create := []string{"create", "--name", next, "-p", h.cfg.Ports, "--restart", "unless-stopped"}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		create = append(create, "--label", k+"="+labels[k])
	}
	create = append(create, image)
	sw := []hostexec.Cmd{h.cmd(create...)}
	if old != nil && old.State.Running {
		sw = append(sw, h.cmd("stop", "--time", stopTimeout, old.ID).Stdout2Null())
	}
	sw = append(sw, h.cmd("start", next).Stdout2Null())
	t0 := h.now()
	res, err := h.exec(ctx, hostexec.And(sw...), hostexec.RunOptions{})
	if err != nil {
		return replaced{}, h.restore(ctx, old, next, fmt.Errorf("replace the container on the host: %w", err))
	}
	newID := tailLine(res.Stdout)
	if newID == "" {
		newID = next
	}
	if old != nil && old.State.Running {
		h.r.Logf("created the new container, stopped the old one and started the new one in %s", h.now().Sub(t0).Round(time.Millisecond))
	} else {
		h.r.Logf("started the new container")
	}
	if err := h.healthy(ctx, newID); err != nil {
		return replaced{}, h.restore(ctx, old, next, err)
	}
	var fin []hostexec.Cmd
	if old != nil {
		fin = append(fin, h.cmd("rm", "-f", old.ID).Stdout2Null())
	}
	fin = append(fin, h.cmd("rename", next, name), h.cmd("container", "inspect", "--format", "{{.Image}}", name))
	if repo != "" {
		fin = append(fin, h.cmd("image", "ls", "--no-trunc", "--format", "{{json .}}", repo))
	}
	res, err = h.exec(ctx, hostexec.And(fin...), hostexec.RunOptions{})
	if err != nil {
		return replaced{}, fmt.Errorf("the new container is healthy but finishing the switch failed: %w", err)
	}
	h.r.Logf("%s now runs %s", name, image)
	out := strings.TrimSpace(res.Stdout)
	first, rest, _ := strings.Cut(out, "\n")
	done := replaced{ImageID: strings.TrimSpace(first)}
	if repo != "" {
		if done.Images, err = parseImages(rest); err != nil {
			h.r.Logf("warning: list images of %s: %v", repo, err)
		}
	}
	return done, nil
}

// serving reports whether c, the container that runs now, already runs image, made for the same
// commit, tag and port map (labels), and answers healthy right now (one probe, no waiting), so
// a re-run of a deploy that went through leaves it alone. Anything else, including
// any error finding out, means deploy.
func (h *devHost) serving(ctx context.Context, c *devContainer, image string, labels map[string]string) (string, bool) {
	name := h.cfg.Container
	if c == nil || !c.State.Running || c.RestartCount > 0 {
		return "", false
	}
	for _, k := range []string{"gantry.image_tag", "gantry.sha", "gantry.ports"} {
		if labels[k] == "" || c.Config.Labels[k] != labels[k] {
			return "", false
		}
	}
	res, err := h.exec(ctx, h.cmd("image", "inspect", "--format", "{{.Id}}", image), hostexec.RunOptions{})
	if err != nil || !sameImage(tailLine(res.Stdout), c.Image) {
		return "", false
	}
	if h.cfg.HealthPath == "" {
		return fmt.Sprintf("%s already runs %s (%s) and is up", name, labels["gantry.image_tag"], shortImageID(c.Image)), true
	}
	url := "http://127.0.0.1:" + h.hostPort() + h.cfg.HealthPath
	ok, detail, err := h.probe(ctx, url)
	if err != nil || !ok {
		h.r.Logf("%s runs %s but %s answers %s: replacing it", name, labels["gantry.image_tag"], url, detail)
		return "", false
	}
	return fmt.Sprintf("%s already runs %s (%s) and answers healthy", name, labels["gantry.image_tag"], shortImageID(c.Image)), true
}

// restore shows the new container's logs, removes it and starts the old one again,
// in one command. It runs even when ctx is cancelled, so dev keeps its app.
func (h *devHost) restore(ctx context.Context, old *devContainer, next string, cause error) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	back := []hostexec.Cmd{h.cmd("rm", "-f", next).Silence()}
	if old != nil && old.State.Running {
		back = append(back, h.cmd("start", old.ID).Stdout2Null())
	}
	h.r.Logf("last log lines of the new container:")
	cmd := hostexec.Seq(h.cmd("logs", "--tail", "50", next), hostexec.And(back...))
	if _, err := h.exec(bctx, cmd, h.logLines("  │ ")); err != nil {
		return fmt.Errorf("%w; putting the previous container back failed too: %v", cause, err)
	}
	if old == nil || !old.State.Running {
		h.r.Logf("removed the new container; no container was running before, so none is restored")
		return cause
	}
	h.r.Logf("removed the new container and started the previous one again: %s", describeContainer(old))
	return &RolledBackError{Err: cause, Previous: old.Config.Image}
}

// hostPort is the host side of dev.ports.
func (h *devHost) hostPort() string {
	hp, _, _ := strings.Cut(h.cfg.Ports, ":")
	return hp
}

// healthy waits for the new container to answer its health path with a 2xx, or to
// stay up for dev.uptime when there is no health path.
func (h *devHost) healthy(ctx context.Context, id string) error {
	start := h.now()
	if h.cfg.HealthPath == "" {
		return h.staysUp(ctx, id, start)
	}
	url := "http://127.0.0.1:" + h.hostPort() + h.cfg.HealthPath
	timeout := h.cfg.HealthTimeout.Duration
	h.r.Logf("health check: GET %s on the host, for up to %s", url, timeout)
	for attempt := 1; ; attempt++ {
		ok, detail, err := h.probe(ctx, url)
		if err != nil {
			return err
		}
		if ok {
			h.r.Logf("healthy after %s: %s", h.now().Sub(start).Round(time.Millisecond), detail)
			return nil
		}
		if attempt%4 == 0 {
			if err := h.stillUp(ctx, id); err != nil {
				return fmt.Errorf("health check of %s: %w (last answer: %s)", url, err, detail)
			}
		}
		if h.now().Sub(start) >= timeout {
			return fmt.Errorf("health check: %s gave no 2xx answer within %s (dev.health_timeout); last answer: %s", url, timeout, detail)
		}
		if err := sleepCtx(ctx, h.poll); err != nil {
			return err
		}
	}
}

// staysUp checks the container is still running, without restarts, after dev.uptime.
func (h *devHost) staysUp(ctx context.Context, id string, start time.Time) error {
	up := h.cfg.Uptime.Duration
	h.r.Logf("no dev.health_path: checking the container stays up for %s", up)
	for {
		if err := h.stillUp(ctx, id); err != nil {
			return fmt.Errorf("uptime check: %w", err)
		}
		if h.now().Sub(start) >= up {
			h.r.Logf("the container stayed up for %s", up)
			return nil
		}
		if err := sleepCtx(ctx, min(4*h.poll, up)); err != nil {
			return err
		}
	}
}

// stillUp fails when the container has exited or been restarted.
func (h *devHost) stillUp(ctx context.Context, id string) error {
	found, err := h.inspect(ctx, id)
	if err != nil {
		return err
	}
	c := found[id]
	switch {
	case c == nil:
		return errors.New("the new container is gone")
	case !c.State.Running:
		return fmt.Errorf("the new container exited with status %d", c.State.ExitCode)
	case c.RestartCount > 0:
		return fmt.Errorf("the new container crashed and was restarted %d time(s)", c.RestartCount)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// probeScript is a fixed script run with sh -c; every value arrives as an argument:
// $1 the URL, $2 the port, $3 the path, $4 bashGet. It prints the HTTP status code
// of GET $1 from the host, with curl, else wget, else bash's /dev/tcp.
const probeScript = `if command -v curl >/dev/null 2>&1; then
  exec curl -sS -o /dev/null -w '%{http_code}\n' --max-time 2 "$1"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O /dev/null -T 2 -t 1 "$1" && echo 200
elif command -v bash >/dev/null 2>&1; then
  exec bash -c "$4" gantry-health "$2" "$3"
else
  echo "the host has neither curl, wget nor bash to check the app's health" >&2
  exit 127
fi`

// bashGet prints the status code of GET $2 on 127.0.0.1:$1.
const bashGet = `exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
read -r -t 2 proto code rest <&3 || exit 8
printf '%s\n' "$code"`

// probe makes one health request from the host.
func (h *devHost) probe(ctx context.Context, url string) (ok bool, detail string, err error) {
	c := hostexec.Command("sh", "-c", probeScript, "gantry-health", url, h.hostPort(), h.cfg.HealthPath, bashGet)
	res, rerr := h.run.Run(ctx, c, hostexec.RunOptions{})
	if rerr != nil {
		var ee *hostexec.ExitError
		if !errors.As(rerr, &ee) {
			if ctx.Err() != nil {
				return false, "", ctx.Err()
			}
			return false, "", fmt.Errorf("health check: %w", rerr)
		}
		if ee.Code == 127 {
			return false, "", fmt.Errorf("health check: %s; install curl on the host, or remove dev.health_path to check that the container stays up", tailLine(ee.Stderr))
		}
		msg := tailLine(ee.Stderr)
		if msg == "" {
			msg = fmt.Sprintf("no answer (status %d)", ee.Code)
		}
		return false, msg, nil
	}
	code, _ := strconv.Atoi(tailLine(res.Stdout))
	return code >= 200 && code < 300, fmt.Sprintf("HTTP %d", code), nil
}

// hostImage is one line of docker image ls.
type hostImage struct {
	ID         string
	Repository string
	Tag        string
	CreatedAt  string
	created    time.Time
}

// ref names the image for docker rmi or docker create.
func (i hostImage) ref() string {
	if i.Tag == "" || i.Tag == "<none>" {
		return i.ID
	}
	return i.Repository + ":" + i.Tag
}

// images lists the host's images of repo, newest first.
func (h *devHost) images(ctx context.Context, repo string) ([]hostImage, error) {
	res, err := h.exec(ctx, h.cmd("image", "ls", "--no-trunc", "--format", "{{json .}}", repo), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images of %s on the host: %w", repo, err)
	}
	imgs, err := parseImages(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list images of %s on the host: %w", repo, err)
	}
	return imgs, nil
}

// parseImages reads docker image ls --format '{{json .}}' output, newest first.
func parseImages(out string) ([]hostImage, error) {
	var imgs []hostImage
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var im hostImage
		if err := json.Unmarshal([]byte(line), &im); err != nil {
			return nil, fmt.Errorf("unexpected output %q", line)
		}
		im.created, _ = time.Parse("2006-01-02 15:04:05 -0700 MST", im.CreatedAt)
		imgs = append(imgs, im)
	}
	sort.SliceStable(imgs, func(i, j int) bool { return imgs[i].created.After(imgs[j].created) })
	return imgs, nil
}

// sameImage compares image IDs with or without the sha256: prefix.
func sameImage(a, b string) bool {
	return a != "" && b != "" && strings.TrimPrefix(a, "sha256:") == strings.TrimPrefix(b, "sha256:")
}

// danglingMinAge is how old a dangling image must be before prune removes it. The
// classic builder's intermediate images are dangling while a build runs, so a prune
// of every dangling image breaks a build running on the same engine at that moment.
const danglingMinAge = "1h"

// prune keeps the newest dev.keep_images of imgs (and always the running image) for
// rollback and removes the rest, then dangling images older than danglingMinAge, in
// one command. Failures warn.
func (h *devHost) prune(ctx context.Context, imgs []hostImage, running string) {
	norm := func(id string) string { return strings.TrimPrefix(id, "sha256:") }
	keep := map[string]bool{}
	for _, im := range imgs { // newest first; several tags may share one image
		if len(keep) < h.cfg.KeepImages {
			keep[norm(im.ID)] = true
		}
	}
	if running != "" {
		keep[norm(running)] = true
	}
	var remove []string
	for _, im := range imgs {
		if !keep[norm(im.ID)] {
			remove = append(remove, im.ref())
		}
	}
	var cmds []hostexec.Cmd
	if len(remove) > 0 {
		h.r.Logf("pruning %d old image tag(s), keeping %d image(s) for rollback", len(remove), len(keep))
		// --no-prune: an old image's untagged parents may be what a build on the same
		// engine stands on right now; the age-gated prune below takes them later.
		cmds = append(cmds, h.cmd(append([]string{"rmi", "--no-prune"}, remove...)...).Stdout2Null())
	}
	cmds = append(cmds, h.cmd("image", "prune", "--force", "--filter", "until="+danglingMinAge))
	res, err := h.exec(ctx, hostexec.Seq(cmds...), hostexec.RunOptions{})
	if err != nil {
		h.r.Logf("warning: prune: %v", err)
		return
	}
	if msg := tailLine(res.Stderr); msg != "" {
		h.r.Logf("warning: prune: %s", msg)
	}
	if l := tailLine(res.Stdout); l != "" {
		h.r.Logf("dangling images: %s", l)
	}
}

// tailLine is the last non-empty line of s, trimmed.
func tailLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}
