package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// DockerConfigDir is the docker CLI config folder gantry logs in with on the dev host,
// relative to the login user's home: the user's own ~/.docker/config.json is never
// touched, and gantry logs out again after the pull so no token stays on disk.
const DockerConfigDir = StateDir + "/docker"

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
	run    sshhost.Runner
	docker []string
	cfg    config.Dev
	r      Reporter
	poll   time.Duration
	now    func() time.Time
}

func newDevHost(run sshhost.Runner, p DevParams, r Reporter) *devHost {
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
func (h *devHost) cmd(args ...string) sshhost.Cmd {
	return sshhost.Command(append(slices.Clone(h.docker), args...)...)
}

// exec runs c from the login user's home (where gantry's state folder lives).
func (h *devHost) exec(ctx context.Context, c sshhost.Cmd, opts sshhost.RunOptions) (sshhost.Result, error) {
	return h.run.Run(ctx, inHome(c), opts)
}

// logLines returns RunOptions that show the command's output as log lines.
func (h *devHost) logLines(prefix string) sshhost.RunOptions {
	show := func(line string) {
		if strings.TrimSpace(line) != "" {
			h.r.Logf("%s%s", prefix, line)
		}
	}
	return sshhost.RunOptions{OnStdout: show, OnStderr: show}
}

// locked runs fn holding the dev lock, releases the lock on every exit path and
// appends fn's audit entry with the result.
func (h *devHost) locked(ctx context.Context, lock *HostLock, fn func(ctx context.Context) (AuditEntry, error)) (err error) {
	if err := lock.Acquire(ctx, h.r.Logf); err != nil {
		return err
	}
	h.r.Logf("took the %s lock on the host", lock.Env)
	defer func() {
		if rerr := lock.Release(ctx); rerr != nil {
			h.r.Logf("warning: %v; remove %s/locks/%s.lock on the host if it stays", rerr, StateDir, lock.Env)
			err = errors.Join(err, rerr)
		}
	}()
	entry, err := fn(ctx)
	entry.When = h.now()
	switch {
	case err == nil && entry.Result == "":
		entry.Result = ResultOK
	case errors.Is(err, ErrRolledBack):
		entry.Result = ResultRolledBack
	case err != nil:
		entry.Result = ResultFailed
	}
	if aerr := AppendAudit(ctx, h.run, entry); aerr != nil {
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

// pull logs in with the password on stdin (never in a command line), pulls image
// and logs out again. want, when set, is the digest the pulled tag must have.
func (h *devHost) pull(ctx context.Context, image string, c registry.Credentials, want string) error {
	if !c.Anonymous() {
		login := sshhost.And(
			sshhost.Command("mkdir", "-p", DockerConfigDir),
			sshhost.Command("chmod", "700", DockerConfigDir),
			h.cmd("--config", DockerConfigDir, "login", c.Host, "--username", c.Username, "--password-stdin"),
		)
		opts := h.logLines("")
		opts.Stdin = strings.NewReader(c.Password)
		if _, err := h.exec(ctx, login, opts); err != nil {
			return fmt.Errorf("docker login %s on the host: %w", c.Host, err)
		}
		defer func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if _, err := h.exec(lctx, h.cmd("--config", DockerConfigDir, "logout", c.Host).Silence(), sshhost.RunOptions{}); err != nil {
				h.r.Logf("warning: docker logout %s on the host: %v", c.Host, err)
			}
		}()
	}
	h.r.Logf("pulling %s on the host", image)
	res, err := h.exec(ctx, h.cmd("--config", DockerConfigDir, "pull", image), h.logLines(""))
	if err != nil {
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

func noSuchObject(stderr string) bool {
	return strings.Contains(strings.ToLower(stderr), "no such")
}

// inspect describes the container name; nil when there is none.
func (h *devHost) inspect(ctx context.Context, name string) (*devContainer, error) {
	res, err := h.exec(ctx, h.cmd("container", "inspect", name), sshhost.RunOptions{})
	if err != nil {
		var ee *sshhost.ExitError
		if errors.As(err, &ee) && noSuchObject(ee.Stderr) {
			return nil, nil
		}
		return nil, fmt.Errorf("inspect container %s on the host: %w", name, err)
	}
	var list []devContainer
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil || len(list) == 0 {
		return nil, fmt.Errorf("inspect container %s on the host: unexpected output", name)
	}
	return &list[0], nil
}

func describeContainer(c *devContainer) string {
	v := c.Config.Labels["gantry.image_tag"]
	if v == "" {
		v = c.Config.Image
	}
	return fmt.Sprintf("%s (%s, %s)", v, shortImageID(c.ID), c.State.Status)
}

// replace swaps the container for a new one running image, keeping downtime to a
// stop and a start: the new container is created first (as <name>-next), the old
// one stopped and the new one started in one command; the old one is removed only
// once the new one is healthy, else it is started again. It returns the image ID
// the container now runs.
func (h *devHost) replace(ctx context.Context, image string, labels map[string]string) (string, error) {
	name := h.cfg.Container
	next := name + "-next"
	old, err := h.inspect(ctx, name)
	if err != nil {
		return "", err
	}
	stale, err := h.inspect(ctx, next)
	if err != nil {
		return "", err
	}
	if stale != nil {
		if old == nil {
			// An earlier deploy was stopped between starting it and renaming it.
			h.r.Logf("adopting %s left by an interrupted deploy as %s", next, name)
			if _, err := h.exec(ctx, h.cmd("rename", stale.ID, name), sshhost.RunOptions{}); err != nil {
				return "", fmt.Errorf("rename %s to %s on the host: %w", next, name, err)
			}
			old = stale
		} else {
			h.r.Logf("removing %s left by an interrupted deploy", next)
			if _, err := h.exec(ctx, h.cmd("rm", "-f", stale.ID).Stdout2Null(), sshhost.RunOptions{}); err != nil {
				return "", fmt.Errorf("remove %s on the host: %w", next, err)
			}
		}
	}
	if old != nil {
		h.r.Logf("%s runs %s", name, describeContainer(old))
	} else {
		h.r.Logf("no %s container yet", name)
	}

	args := []string{"create", "--name", next, "-p", h.cfg.Ports, "--restart", "unless-stopped"}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range labels {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		args = append(args, "--label", k+"="+labels[k])
	}
	args = append(args, image)
	res, err := h.exec(ctx, h.cmd(args...), sshhost.RunOptions{})
	if err != nil {
		return "", fmt.Errorf("create the new container on the host: %w", err)
	}
	newID := tailLine(res.Stdout)
	if newID == "" {
		return "", errors.New("create the new container on the host: docker printed no container ID")
	}

	var sw []sshhost.Cmd
	if old != nil && old.State.Running {
		sw = append(sw, h.cmd("stop", "--time", stopTimeout, old.ID).Stdout2Null())
	}
	sw = append(sw, h.cmd("start", newID).Stdout2Null())
	t0 := h.now()
	if _, err := h.exec(ctx, sshhost.And(sw...), sshhost.RunOptions{}); err != nil {
		return "", h.restore(ctx, old, newID, fmt.Errorf("start %s on the host: %w", image, err))
	}
	if old != nil && old.State.Running {
		h.r.Logf("stopped the old container and started the new one in %s", h.now().Sub(t0).Round(time.Millisecond))
	} else {
		h.r.Logf("started the new container")
	}
	if err := h.healthy(ctx, newID); err != nil {
		return "", h.restore(ctx, old, newID, err)
	}
	fin := []sshhost.Cmd{}
	if old != nil {
		fin = append(fin, h.cmd("rm", "-f", old.ID).Stdout2Null())
	}
	fin = append(fin, h.cmd("rename", newID, name), h.cmd("container", "inspect", "--format", "{{.Image}}", newID))
	res, err = h.exec(ctx, sshhost.And(fin...), sshhost.RunOptions{})
	if err != nil {
		return "", fmt.Errorf("the new container is healthy but finishing the switch failed: %w", err)
	}
	h.r.Logf("%s now runs %s", name, image)
	return tailLine(res.Stdout), nil
}

// restore shows the new container's logs, removes it and starts the old one again.
// It runs to the end even when ctx is cancelled, so dev is never left without its app.
func (h *devHost) restore(ctx context.Context, old *devContainer, newID string, cause error) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	h.r.Logf("last log lines of the new container:")
	if _, err := h.exec(bctx, h.cmd("logs", "--tail", "50", newID), h.logLines("  │ ")); err != nil {
		h.r.Logf("  (no logs: %v)", err)
	}
	steps := []sshhost.Cmd{h.cmd("rm", "-f", newID).Stdout2Null()}
	if old != nil && old.State.Running {
		steps = append(steps, h.cmd("start", old.ID).Stdout2Null())
	}
	if _, err := h.exec(bctx, sshhost.And(steps...), sshhost.RunOptions{}); err != nil {
		return fmt.Errorf("%w; putting the previous container back failed too: %v", cause, err)
	}
	if old == nil || !old.State.Running {
		h.r.Logf("removed the new container; there was no running container to restore")
		return cause
	}
	h.r.Logf("removed the new container and started the previous one (%s) again", describeContainer(old))
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
	tool, err := h.httpTool(ctx)
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + h.hostPort() + h.cfg.HealthPath
	timeout := h.cfg.HealthTimeout.Duration
	h.r.Logf("health check: GET %s with %s on the host, for up to %s", url, tool, timeout)
	for attempt := 1; ; attempt++ {
		ok, detail, err := h.probe(ctx, tool, url)
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
	c, err := h.inspect(ctx, id)
	if err != nil {
		return err
	}
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

// httpTool finds what can make an HTTP request on the host: curl, wget, or bash's /dev/tcp.
func (h *devHost) httpTool(ctx context.Context) (string, error) {
	has := func(tool string) sshhost.Cmd {
		return sshhost.And(sshhost.Command("command", "-v", tool).Silence(), sshhost.Command("echo", tool))
	}
	res, err := h.run.Run(ctx, sshhost.Or(has("curl"), has("wget"), has("bash"), sshhost.Command("echo", "none")), sshhost.RunOptions{})
	if err != nil {
		return "", fmt.Errorf("look for curl on the host: %w", err)
	}
	tool := tailLine(res.Stdout)
	if tool == "none" || tool == "" {
		return "", errors.New("the host has neither curl, wget nor bash to check the app's health; install curl there, or remove dev.health_path to check that the container stays up")
	}
	return tool, nil
}

// bashGet is a fixed script (its values arrive as $1 and $2) that prints the HTTP
// status line of GET $2 on 127.0.0.1:$1.
const bashGet = `exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
IFS= read -r -t 2 line <&3 || exit 8
printf '%s\n' "$line"`

var statusLine = regexp.MustCompile(`^HTTP/\d(?:\.\d)? (\d{3})`)

// probe makes one health request from the host.
func (h *devHost) probe(ctx context.Context, tool, url string) (ok bool, detail string, err error) {
	var c sshhost.Cmd
	switch tool {
	case "curl":
		c = sshhost.Command("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", url)
	case "wget":
		c = sshhost.Command("wget", "-q", "-O", "/dev/null", "-T", "2", "-t", "1", url)
	default:
		c = sshhost.Command("bash", "-c", bashGet, "gantry-health", h.hostPort(), h.cfg.HealthPath)
	}
	res, rerr := h.run.Run(ctx, c, sshhost.RunOptions{})
	if rerr != nil {
		var ee *sshhost.ExitError
		if !errors.As(rerr, &ee) {
			if ctx.Err() != nil {
				return false, "", ctx.Err()
			}
			return false, "", fmt.Errorf("health check: %w", rerr)
		}
		msg := tailLine(ee.Stderr)
		if msg == "" {
			msg = fmt.Sprintf("%s exited with status %d", tool, ee.Code)
		}
		return false, msg, nil
	}
	switch tool {
	case "curl":
		code, _ := strconv.Atoi(tailLine(res.Stdout))
		return code >= 200 && code < 300, "HTTP " + tailLine(res.Stdout), nil
	case "wget":
		return true, "HTTP 2xx", nil
	default:
		m := statusLine.FindStringSubmatch(tailLine(res.Stdout))
		if m == nil {
			return false, "no HTTP status line", nil
		}
		code, _ := strconv.Atoi(m[1])
		return code >= 200 && code < 300, "HTTP " + m[1], nil
	}
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
	res, err := h.exec(ctx, h.cmd("image", "ls", "--no-trunc", "--format", "{{json .}}", repo), sshhost.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images of %s on the host: %w", repo, err)
	}
	var out []hostImage
	for _, line := range strings.Split(res.Stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var im hostImage
		if err := json.Unmarshal([]byte(line), &im); err != nil {
			return nil, fmt.Errorf("list images of %s on the host: unexpected output %q", repo, line)
		}
		im.created, _ = time.Parse("2006-01-02 15:04:05 -0700 MST", im.CreatedAt)
		out = append(out, im)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].created.After(out[j].created) })
	return out, nil
}

// sameImage compares image IDs with or without the sha256: prefix.
func sameImage(a, b string) bool {
	return a != "" && b != "" && strings.TrimPrefix(a, "sha256:") == strings.TrimPrefix(b, "sha256:")
}

// prune keeps the newest dev.keep_images images of repo (and always the running one)
// for rollback, removes the rest and then dangling images. Failures only warn.
func (h *devHost) prune(ctx context.Context, repo, running string) {
	imgs, err := h.images(ctx, repo)
	if err != nil {
		h.r.Logf("warning: prune: %v", err)
		return
	}
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
	if len(remove) > 0 {
		h.r.Logf("pruning %d old image tag(s) of %s, keeping %d image(s)", len(remove), repo, len(keep))
		if _, err := h.exec(ctx, h.cmd(append([]string{"rmi"}, remove...)...).Stdout2Null(), sshhost.RunOptions{}); err != nil {
			h.r.Logf("warning: prune: %v", err)
		}
	}
	if res, err := h.exec(ctx, h.cmd("image", "prune", "--force"), sshhost.RunOptions{}); err != nil {
		h.r.Logf("warning: prune dangling images: %v", err)
	} else if l := tailLine(res.Stdout); l != "" {
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
