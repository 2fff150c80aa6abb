// Package devhost drives the dev container through the docker CLI of the dev host
// (or this machine): inspect, pull, replace with a health check, recover, images, prune.
// Like every remote/* package it never imports workflow, app, cli or ui.
package devhost

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

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// DockerConfigDir is the docker CLI config folder gantry logs in with on the dev host,
// relative to the login user's home: the user's own ~/.docker/config.json is never
// touched, and gantry logs out again after the pull so no token stays on disk.
const DockerConfigDir = hoststate.StateDir + "/docker"

// stopTimeout is how long docker stop waits for the old container to exit cleanly.
const stopTimeout = "10"

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

// Config says how to reach the dev container on the host.
type Config struct {
	// Docker is the docker CLI's command words, e.g. ["sudo", "docker"] (default ["docker"]).
	Docker []string
	// Container is the container's name; Ports its port map (host:container).
	Container string
	Ports     string
	// HealthPath is probed on the host port (none: the container must stay up for Uptime).
	HealthPath    string
	HealthTimeout time.Duration
	Uptime        time.Duration
	// KeepImages is how many of the repository's images Prune keeps for rollback.
	KeepImages int
	// Switch is how a deploy hands over the port: SwitchDirect (default) or SwitchProxy.
	Switch string
	// ProxyImage is the Caddy image of the proxy container (proxy mode).
	ProxyImage string
	// Drain is how long the previous container keeps serving its in-flight requests
	// after the proxy switched away from it.
	Drain time.Duration
	// Poll is the wait between health probes (default 250ms).
	Poll time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logf receives progress lines (default: dropped).
	Logf func(format string, args ...any)
}

// DockerWords splits a configured docker command ("sudo docker") into words.
func DockerWords(command string) []string {
	w := strings.Fields(command)
	if len(w) == 0 {
		return []string{"docker"}
	}
	return w
}

// Client drives the dev container through the docker CLI of the dev host. Every
// command goes over the one Runner; every value is a quoted word.
type Client struct {
	run    hostexec.Runner
	docker []string
	cfg    Config
	poll   time.Duration
	now    func() time.Time
	logf   func(string, ...any)
}

// New returns a client for the container cfg names, over run.
func New(run hostexec.Runner, cfg Config) *Client {
	words := cfg.Docker
	if len(words) == 0 {
		words = []string{"docker"}
	}
	poll := cfg.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Client{run: run, docker: slices.Clone(words), cfg: cfg, poll: poll, now: now, logf: logf}
}

// Config returns the client's configuration.
func (h *Client) Config() Config { return h.cfg }

// cmd is the docker CLI with args, each quoted.
func (h *Client) cmd(args ...string) hostexec.Cmd {
	return hostexec.Command(append(slices.Clone(h.docker), args...)...)
}

// exec runs c from the login user's home (where gantry's state folder lives).
func (h *Client) exec(ctx context.Context, c hostexec.Cmd, opts hostexec.RunOptions) (hostexec.Result, error) {
	return h.run.Run(ctx, hoststate.InHome(c), opts)
}

// loginNoise is what docker login says about storing the token unencrypted; gantry
// logs out right after the pull, so it would only mislead.
var loginNoise = regexp.MustCompile(`^(WARNING! Your (password|credentials) (will be|are) stored unencrypted|Configure a credential helper to remove this warning|https://docs\.docker\.com/.*credential)`)

// logLines returns RunOptions that show the command's output as log lines.
func (h *Client) logLines(prefix string) hostexec.RunOptions {
	show := func(line string) {
		if strings.TrimSpace(line) != "" && !loginNoise.MatchString(line) {
			h.logf("%s%s", prefix, line)
		}
	}
	return hostexec.RunOptions{OnStdout: show, OnStderr: show}
}

var pulledDigest = regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})\s*$`)

// pull pulls image on the host in one command: docker login with the password on
// stdin (never in a command line) into gantry's own docker config folder, docker
// pull, and docker logout whatever the pull did, so no token stays on the host.
// want, when set, is the digest the pulled tag must have.
func (h *Client) Pull(ctx context.Context, image string, c registry.Credentials, want string) error {
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
		h.logf("logging in to %s and pulling %s on the host", c.Host, image)
	} else {
		h.logf("pulling %s on the host", image)
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

// Container is what docker inspect says about a container.
type Container struct {
	ID    string `json:"Id"`
	Name  string
	Image string // image ID
	State struct {
		Status    string
		Running   bool
		ExitCode  int
		StartedAt time.Time
	}
	RestartCount int
	Config       struct {
		Image  string // the reference it was created from
		Labels map[string]string
	}
}

// inspect describes the named containers (or IDs) in one command; absent ones are
// missing from the map.
func (h *Client) Inspect(ctx context.Context, names ...string) (map[string]*Container, error) {
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
	var list []Container
	if out := strings.TrimSpace(res.Stdout); out != "" {
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, fmt.Errorf("inspect containers on the host: unexpected output: %v", err)
		}
	}
	found := map[string]*Container{}
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

func Describe(c *Container) string {
	v := c.Config.Labels["gantry.image_tag"]
	if v == "" {
		v = c.Config.Image
	}
	return fmt.Sprintf("%s (%s, %s)", v, ShortID(c.ID), c.State.Status)
}

// Replaced is what replace leaves behind.
type Replaced struct {
	// ImageID is the image the container now runs.
	ImageID string
	// Images are the host's images of the repository, newest first.
	Images []Image
}

// State is what the host has under the container's name, and what an interrupted
// deploy left as <name>-next (nil when nothing).
type State struct {
	Name          string
	Current, Next *Container
	// Proxy is the proxy container (nil when none); Upstream what it dials ("<id>:<port>").
	Proxy    *Container
	Upstream string
}

// Survey inspects <name>, <name>-next and <name>-proxy (and the proxy's upstream); it
// changes nothing.
func (h *Client) Survey(ctx context.Context) (State, error) {
	name := h.cfg.Container
	found, err := h.Inspect(ctx, name, name+"-next", h.ProxyName())
	if err != nil {
		return State{}, err
	}
	s := State{Name: name, Current: found[name], Next: found[name+"-next"], Proxy: found[h.ProxyName()]}
	if s.Proxy != nil && s.Proxy.State.Running {
		if s.Upstream, err = h.readUpstream(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Recovery says what Recover will do about a <name>-next an interrupted deploy left
// ("" when there is none).
func (s State) Recovery() string {
	next := s.Name + "-next"
	switch {
	case s.Next == nil:
		return ""
	case s.Proxy != nil && s.Proxy.State.Running && Receives(s.Upstream, s.Next):
		return fmt.Sprintf("recover: the proxy already sends traffic to %s (%s), left by an interrupted deploy: remove the previous %s and adopt it as %s", next, Describe(s.Next), s.Name, s.Name)
	case s.Proxy != nil && s.Proxy.State.Running:
		return fmt.Sprintf("recover: remove %s (%s), left by an interrupted deploy before the proxy switched to it", next, Describe(s.Next))
	case s.Current != nil && s.Current.State.Running:
		return fmt.Sprintf("recover: remove %s (%s), left by an interrupted deploy beside the running %s", next, Describe(s.Next), s.Name)
	case !s.Next.State.Running:
		if s.Current != nil {
			return fmt.Sprintf("recover: remove %s (%s), left by an interrupted deploy, and start %s (%s) again", next, Describe(s.Next), s.Name, Describe(s.Current))
		}
		return fmt.Sprintf("recover: remove %s (%s), left by an interrupted deploy", next, Describe(s.Next))
	case s.Current != nil:
		return fmt.Sprintf("recover: %s (%s) left by an interrupted deploy runs unverified: health-check it and adopt it as %s, or remove it and start %s (%s) again", next, Describe(s.Next), s.Name, s.Name, Describe(s.Current))
	}
	return fmt.Sprintf("recover: %s (%s) left by an interrupted deploy runs unverified: health-check it and adopt it as %s, or remove it", next, Describe(s.Next), s.Name)
}

// Current surveys and recovers: the container that runs now (nil when none does).
func (h *Client) Current(ctx context.Context) (*Container, error) {
	s, err := h.Survey(ctx)
	if err != nil {
		return nil, err
	}
	return h.Recover(ctx, s)
}

// Recover settles what an interrupted deploy left (see Recovery) and returns the
// container that runs under the name now (nil when none does). A running <name>-next
// whose old container is stopped or gone is health-checked: healthy, it is adopted as
// <name> (the old one removed); not, it is removed and the old one started again.
func (h *Client) Recover(ctx context.Context, s State) (*Container, error) {
	name, next := s.Name, s.Name+"-next"
	if s.Next != nil {
		cur, stale := s.Current, s.Next
		adopt := false
		if s.Proxy != nil && s.Proxy.State.Running && Receives(s.Upstream, stale) {
			// The proxy switched before the interruption: next is what serves.
			adopt = true
		} else if stale.State.Running && (cur == nil || !cur.State.Running) && (s.Proxy == nil || !s.Proxy.State.Running) {
			// Direct mode: the port is next's already; a running proxy, though, never
			// switched to next, so next is removed and the proxy's upstream stays.
			h.logf("%s, left by an interrupted deploy, runs unverified: checking its health", next)
			if err := h.healthyOf(ctx, stale.ID); err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				h.logf("%s is not healthy (%v)", next, err)
			} else {
				adopt = true
			}
		}
		var cmds []hostexec.Cmd
		if adopt {
			if cur != nil {
				cmds = append(cmds, h.cmd("rm", "-f", cur.ID).Stdout2Null())
			}
			cmds = append(cmds, h.cmd("rename", stale.ID, name))
			h.logf("adopting %s as %s: it answers healthy", next, name)
		} else {
			cmds = append(cmds, h.cmd("rm", "-f", stale.ID).Stdout2Null())
			if cur != nil && !cur.State.Running {
				cmds = append(cmds, h.cmd("start", cur.ID).Stdout2Null())
				h.logf("removing %s and starting %s (%s) again", next, name, Describe(cur))
			} else {
				h.logf("removing %s, left by an interrupted deploy", next)
			}
		}
		if _, err := h.exec(ctx, hostexec.And(cmds...), hostexec.RunOptions{}); err != nil {
			return nil, fmt.Errorf("recover from the interrupted deploy (%s) on the host: %w", next, err)
		}
		switch {
		case adopt:
			c := *stale
			c.Name = "/" + name
			s.Current = &c
		case cur != nil && !cur.State.Running:
			c := *cur
			c.State.Running, c.State.Status = true, "running"
			s.Current = &c
		}
	}
	if s.Current != nil {
		h.logf("%s runs %s", name, Describe(s.Current))
	} else {
		h.logf("no %s container yet", name)
	}
	return s.Current, nil
}

// replace swaps old (what current returned; nil for none) for a new container
// running image, keeping downtime to a stop and a start: one command creates the new
// container (as <name>-next), stops the old one and starts the new one. The old
// container is removed only once the new one is healthy; otherwise it is started
// again. repo, if set, is listed in the same last command for pruning.
func (h *Client) Replace(ctx context.Context, old *Container, image, repo string, labels map[string]string) (Replaced, error) {
	if h.proxyMode() {
		return h.replaceProxy(ctx, old, image, repo, labels)
	}
	name := h.cfg.Container
	next := name + "-next"
	// A proxy left from dev.switch = "proxy" holds the port: it stops with the old
	// container (the migration back to direct) and is removed once the new one is healthy.
	found, err := h.Inspect(ctx, h.ProxyName())
	if err != nil {
		return Replaced{}, err
	}
	px := found[h.ProxyName()]
	var stopped *Container // the proxy this switch stops, started again on failure
	if px != nil && px.State.Running {
		stopped = px
	}
	create := []string{"create", "--name", next, "-p", h.cfg.Ports, "--restart", "unless-stopped"}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		create = append(create, "--label", k+"="+labels[k])
	}
	create = append(create, image)
	sw := []hostexec.Cmd{h.cmd(create...)}
	if px != nil && px.State.Running {
		sw = append(sw, h.cmd("stop", "--time", stopTimeout, px.ID).Stdout2Null())
	}
	if old != nil && old.State.Running {
		sw = append(sw, h.cmd("stop", "--time", stopTimeout, old.ID).Stdout2Null())
	}
	sw = append(sw, h.cmd("start", next).Stdout2Null())
	t0 := h.now()
	res, err := h.exec(ctx, hostexec.And(sw...), hostexec.RunOptions{})
	if err != nil {
		return Replaced{}, h.restore(ctx, old, stopped, next, fmt.Errorf("replace the container on the host: %w", err))
	}
	newID := TailLine(res.Stdout)
	if newID == "" {
		newID = next
	}
	if old != nil && old.State.Running {
		h.logf("created the new container, stopped the old one and started the new one in %s", h.now().Sub(t0).Round(time.Millisecond))
	} else {
		h.logf("started the new container")
	}
	if err := h.Healthy(ctx, newID); err != nil {
		return Replaced{}, h.restore(ctx, old, stopped, next, err)
	}
	if px != nil {
		h.logf("back to dev.switch = \"direct\": removing the proxy %s and the network %s", h.ProxyName(), h.Network())
		if _, err := h.exec(ctx, hostexec.Seq(h.cmd("rm", "-f", px.ID).Stdout2Null(), h.cmd("network", "rm", h.Network()).Silence()), hostexec.RunOptions{}); err != nil {
			h.logf("warning: remove the proxy: %v", err)
		}
	}
	return h.finish(ctx, old, next, name, repo, image, false)
}

// serving reports whether c, the container that runs now, already runs image, made for the same
// commit, tag and port map (labels), and answers healthy right now (one probe, no waiting), so
// a re-run of a deploy that went through leaves it alone. Anything else, including
// any error finding out, means deploy.
func (h *Client) Serving(ctx context.Context, c *Container, image string, labels map[string]string) (string, bool) {
	name := h.cfg.Container
	if c == nil || !c.State.Running || c.RestartCount > 0 {
		return "", false
	}
	for _, k := range []string{"gantry.image_tag", "gantry.sha", "gantry.ports"} {
		if labels[k] == "" || c.Config.Labels[k] != labels[k] {
			return "", false
		}
	}
	// The switch mode must match too: turning dev.switch on or off migrates.
	found, err := h.Inspect(ctx, h.ProxyName())
	if err != nil {
		return "", false
	}
	px := found[h.ProxyName()]
	if h.proxyMode() {
		if px == nil || !px.State.Running {
			return "", false
		}
		up, err := h.readUpstream(ctx)
		if err != nil || !Receives(up, c) {
			return "", false
		}
	} else if px != nil {
		return "", false
	}
	res, err := h.exec(ctx, h.cmd("image", "inspect", "--format", "{{.Id}}", image), hostexec.RunOptions{})
	if err != nil || !SameImage(TailLine(res.Stdout), c.Image) {
		return "", false
	}
	if h.cfg.HealthPath == "" {
		return fmt.Sprintf("%s already runs %s (%s) and is up", name, labels["gantry.image_tag"], ShortID(c.Image)), true
	}
	url := "http://127.0.0.1:" + h.hostPort() + h.cfg.HealthPath
	ok, detail, err := h.Probe(ctx, url)
	if err != nil || !ok {
		h.logf("%s runs %s but %s answers %s: replacing it", name, labels["gantry.image_tag"], url, detail)
		return "", false
	}
	return fmt.Sprintf("%s already runs %s (%s) and answers healthy", name, labels["gantry.image_tag"], ShortID(c.Image)), true
}

// restore shows the new container's logs, removes it and starts the old one again,
// in one command. It runs even when ctx is cancelled, so dev keeps its app.
// proxy, when set, is a proxy the switch stopped: it is started again too.
func (h *Client) restore(ctx context.Context, old, proxy *Container, next string, cause error) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	back := []hostexec.Cmd{h.cmd("rm", "-f", next).Silence()}
	if old != nil && old.State.Running {
		back = append(back, h.cmd("start", old.ID).Stdout2Null())
	}
	if proxy != nil {
		back = append(back, h.cmd("start", proxy.ID).Stdout2Null())
	}
	h.logf("last log lines of the new container:")
	cmd := hostexec.Seq(h.cmd("logs", "--tail", "50", next), hostexec.And(back...))
	if _, err := h.exec(bctx, cmd, h.logLines("  │ ")); err != nil {
		return fmt.Errorf("%w; putting the previous container back failed too: %v", cause, err)
	}
	if old == nil || !old.State.Running {
		h.logf("removed the new container; no container was running before, so none is restored")
		return cause
	}
	h.logf("removed the new container and started the previous one again: %s", Describe(old))
	return &RolledBackError{Err: cause, Previous: old.Config.Image}
}

// HealthURL is the URL the health probe asks on the host ("" without a health path).
func (h *Client) HealthURL() string {
	if h.cfg.HealthPath == "" {
		return ""
	}
	return "http://127.0.0.1:" + h.hostPort() + h.cfg.HealthPath
}

// hostPort is the host side of dev.ports.
func (h *Client) hostPort() string {
	hp, _, _ := strings.Cut(h.cfg.Ports, ":")
	return hp
}

// healthy waits for the new container to answer its health path with a 2xx, or to
// stay up for dev.uptime when there is no health path.
func (h *Client) Healthy(ctx context.Context, id string) error {
	return h.healthyAt(ctx, id, "127.0.0.1", h.hostPort())
}

// healthyOf checks container id where it listens: on the app network in proxy mode,
// on the host port in direct mode.
func (h *Client) healthyOf(ctx context.Context, id string) error {
	if !h.proxyMode() {
		return h.Healthy(ctx, id)
	}
	ip, err := h.networkIP(ctx, id)
	if err != nil {
		return err
	}
	return h.healthyAt(ctx, id, ip, h.containerPort())
}

// healthyAt waits for container id to answer the health path on addr:port from the
// host (the container's own address on the app network in proxy mode: the host
// reaches a bridge network's containers directly).
func (h *Client) healthyAt(ctx context.Context, id, addr, port string) error {
	start := h.now()
	if h.cfg.HealthPath == "" {
		return h.staysUp(ctx, id, start)
	}
	url := "http://" + addr + ":" + port + h.cfg.HealthPath
	timeout := h.cfg.HealthTimeout
	h.logf("health check: GET %s on the host, for up to %s", url, timeout)
	for attempt := 1; ; attempt++ {
		ok, detail, err := h.probeAt(ctx, url, addr, port, h.cfg.HealthPath)
		if err != nil && errors.Is(err, sshhost.ErrConnLost) && ctx.Err() == nil && h.now().Sub(start) < timeout {
			// A probe is a GET: when the connection drops under it, ask again (the
			// runner dials anew) instead of taking a lost connection for an unhealthy app.
			h.logf("the connection dropped during the health probe (%v); probing again", err)
			if err := sleepCtx(ctx, h.poll); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if ok {
			h.logf("healthy after %s: %s", h.now().Sub(start).Round(time.Millisecond), detail)
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
func (h *Client) staysUp(ctx context.Context, id string, start time.Time) error {
	up := h.cfg.Uptime
	h.logf("no dev.health_path: checking the container stays up for %s", up)
	for {
		if err := h.stillUp(ctx, id); err != nil {
			return fmt.Errorf("uptime check: %w", err)
		}
		if h.now().Sub(start) >= up {
			h.logf("the container stayed up for %s", up)
			return nil
		}
		if err := sleepCtx(ctx, min(4*h.poll, up)); err != nil {
			return err
		}
	}
}

// stillUp fails when the container has exited or been restarted.
func (h *Client) stillUp(ctx context.Context, id string) error {
	found, err := h.Inspect(ctx, id)
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
// $1 the URL, $2 the port, $3 the path, $4 bashGet, $5 the address. It prints the HTTP status code
// of GET $1 from the host, with curl, else wget, else bash's /dev/tcp.
const probeScript = `if command -v curl >/dev/null 2>&1; then
  exec curl --globoff -sS -o /dev/null -w '%{http_code}\n' --max-time 2 "$1"
elif command -v wget >/dev/null 2>&1; then
  wget -q -O /dev/null -T 2 -t 1 "$1" && echo 200
elif command -v bash >/dev/null 2>&1; then
  exec bash -c "$4" gantry-health "$2" "$3" "$5"
else
  echo "the host has neither curl, wget nor bash to check the app's health" >&2
  exit 127
fi`

// bashGet prints the status code of GET $2 on $3:$1.
const bashGet = `exec 3<>"/dev/tcp/$3/$1" || exit 7
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "$3" >&3
read -r -t 2 proto code rest <&3 || exit 8
printf '%s\n' "$code"`

// probe makes one health request from the host.
func (h *Client) Probe(ctx context.Context, url string) (ok bool, detail string, err error) {
	return h.probeAt(ctx, url, "127.0.0.1", h.hostPort(), h.cfg.HealthPath)
}

// probeAt makes one health request from the host to url (addr:port path).
func (h *Client) probeAt(ctx context.Context, url, addr, port, path string) (ok bool, detail string, err error) {
	c := hostexec.Command("sh", "-c", probeScript, "gantry-health", url, port, path, bashGet, addr)
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
			return false, "", fmt.Errorf("health check: %s; install curl on the host, or remove dev.health_path to check that the container stays up", TailLine(ee.Stderr))
		}
		msg := TailLine(ee.Stderr)
		if msg == "" {
			msg = fmt.Sprintf("no answer (status %d)", ee.Code)
		}
		return false, msg, nil
	}
	code, _ := strconv.Atoi(TailLine(res.Stdout))
	return code >= 200 && code < 300, fmt.Sprintf("HTTP %d", code), nil
}

// Image is one line of docker image ls.
type Image struct {
	ID         string
	Repository string
	Tag        string
	CreatedAt  string
	created    time.Time
}

// RemoveImage removes ref from the host after a deploy of it failed, leaving its
// parents (a running build may stand on them) and any image a container still uses;
// the registry keeps it. A failure only warns.
func (h *Client) RemoveImage(ctx context.Context, ref string) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := h.exec(bctx, h.cmd("rmi", "--no-prune", ref).Stdout2Null(), hostexec.RunOptions{}); err != nil {
		h.logf("warning: remove the failed image %s: %v", ref, err)
		return
	}
	h.logf("removed the failed image %s from the host (the registry keeps it)", ref)
}

// ref names the image for docker rmi or docker create.
func (i Image) Ref() string {
	if i.Tag == "" || i.Tag == "<none>" {
		return i.ID
	}
	return i.Repository + ":" + i.Tag
}

// images lists the host's images of repo, newest first.
func (h *Client) Images(ctx context.Context, repo string) ([]Image, error) {
	res, err := h.exec(ctx, h.cmd("image", "ls", "--no-trunc", "--format", "{{json .}}", repo), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images of %s on the host: %w", repo, err)
	}
	imgs, err := ParseImages(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("list images of %s on the host: %w", repo, err)
	}
	return h.byBuildTime(ctx, imgs), nil
}

// buildLabel is the build time gantry stamps on every image it builds.
const buildLabel = "org.opencontainers.image.created"

// byBuildTime orders imgs newest build first, by gantry's build label: the engine's own
// created time has a second's precision and BuildKit carries it over from cached
// layers, so two builds of the same app code tie, and rollback and prune would pick
// among them by chance. Ties fall back to the created time, then the image ID, so the
// order (and every plan made from it) is the same each time it is read.
func (h *Client) byBuildTime(ctx context.Context, imgs []Image) []Image {
	if len(imgs) < 2 {
		return imgs
	}
	ids := make([]string, 0, len(imgs))
	seen := map[string]bool{}
	for _, im := range imgs {
		if !seen[im.ID] {
			seen[im.ID] = true
			ids = append(ids, im.ID)
		}
	}
	args := append([]string{"image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "` + buildLabel + `"}}`}, ids...)
	built := map[string]time.Time{}
	if res, err := h.exec(ctx, h.cmd(args...), hostexec.RunOptions{}); err != nil {
		h.logf("warning: read the build times of %d image(s): %v", len(ids), err)
	} else {
		for _, line := range strings.Split(res.Stdout, "\n") {
			id, at, ok := strings.Cut(strings.TrimSpace(line), " ")
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(at)); ok && err == nil {
				built[strings.TrimPrefix(id, "sha256:")] = t
			}
		}
	}
	sort.SliceStable(imgs, func(i, j int) bool {
		a, b := imgs[i], imgs[j]
		ba, bb := built[strings.TrimPrefix(a.ID, "sha256:")], built[strings.TrimPrefix(b.ID, "sha256:")]
		switch {
		case !ba.Equal(bb):
			return ba.After(bb)
		case !a.created.Equal(b.created):
			return a.created.After(b.created)
		case a.ID != b.ID:
			return a.ID > b.ID
		}
		return a.Tag > b.Tag
	})
	return imgs
}

// parseImages reads docker image ls --format '{{json .}}' output, newest first.
func ParseImages(out string) ([]Image, error) {
	var imgs []Image
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var im Image
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
func SameImage(a, b string) bool {
	return a != "" && b != "" && strings.TrimPrefix(a, "sha256:") == strings.TrimPrefix(b, "sha256:")
}

// danglingMinAge is how old a dangling image must be before prune removes it. The
// classic builder's intermediate images are dangling while a build runs, so a prune
// of every dangling image breaks a build running on the same engine at that moment.
const danglingMinAge = "1h"

// prune keeps the newest dev.keep_images of imgs (and always the running image) for
// rollback and removes the rest, then dangling images older than danglingMinAge, in
// one command. Failures warn.
func (h *Client) Prune(ctx context.Context, imgs []Image, running string) {
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
			remove = append(remove, im.Ref())
		}
	}
	var cmds []hostexec.Cmd
	if len(remove) > 0 {
		h.logf("pruning %d old image tag(s), keeping %d image(s) for rollback", len(remove), len(keep))
		// --no-prune: an old image's untagged parents may be what a build on the same
		// engine stands on right now; the age-gated prune below takes them later.
		cmds = append(cmds, h.cmd(append([]string{"rmi", "--no-prune"}, remove...)...).Stdout2Null())
	}
	cmds = append(cmds, h.cmd("image", "prune", "--force", "--filter", "until="+danglingMinAge))
	res, err := h.exec(ctx, hostexec.Seq(cmds...), hostexec.RunOptions{})
	if err != nil {
		h.logf("warning: prune: %v", err)
		return
	}
	if msg := TailLine(res.Stderr); msg != "" {
		h.logf("warning: prune: %s", msg)
	}
	if l := TailLine(res.Stdout); l != "" {
		h.logf("dangling images: %s", l)
	}
}

// tailLine is the last non-empty line of s, trimmed.
func TailLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// ShortID is an image or container ID without sha256: and cut to 12 characters.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ImageLabels reads an image's labels on the host.
func (h *Client) ImageLabels(ctx context.Context, ref string) (map[string]string, error) {
	res, err := h.exec(ctx, h.cmd("image", "inspect", "--format", "{{json .Config.Labels}}", ref), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect image %s on the host: %w", ref, err)
	}
	labels := map[string]string{}
	if s := TailLine(res.Stdout); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &labels); err != nil {
			return nil, fmt.Errorf("inspect image %s on the host: unexpected output", ref)
		}
	}
	return labels, nil
}
