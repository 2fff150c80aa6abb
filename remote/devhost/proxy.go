package devhost

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// Switch modes (dev.switch): how a deploy hands the host port to the new container.
const (
	// SwitchDirect publishes the port on the app container: stop the old, start the new.
	SwitchDirect = "direct"
	// SwitchProxy puts a Caddy container on the port; app containers run on a private
	// network and the proxy's upstream moves once the new one is healthy.
	SwitchProxy = "proxy"
)

// proxyConfigPath is where the proxy container keeps the config gantry writes.
const proxyConfigPath = "/gantry/caddy.json"

// proxyListen is the port Caddy listens on inside its container.
const proxyListen = "80"

// LabelRole marks the proxy container (value "proxy").
const LabelRole = "gantry.role"

// ProxyName is the proxy container's name: <container>-proxy.
func (h *Client) ProxyName() string { return h.cfg.Container + "-proxy" }

// Network is the private network of the app containers and the proxy: gantry-<container>.
func (h *Client) Network() string { return "gantry-" + h.cfg.Container }

// proxyMode reports whether dev.switch is proxy.
func (h *Client) proxyMode() bool { return h.cfg.Switch == SwitchProxy }

// containerPort is the container side of dev.ports.
func (h *Client) containerPort() string {
	_, cp, _ := strings.Cut(h.cfg.Ports, ":")
	return cp
}

// caddyConfig is the proxy's whole JSON config: the admin API on the container's
// loopback only, one plain-HTTP server on :80 to upstream, and a grace period of
// dev.drain for the connections of the config it replaces.
func caddyConfig(upstream string, drain time.Duration) []byte {
	cfg := map[string]any{
		"admin": map[string]any{"listen": "localhost:2019"},
		"apps": map[string]any{"http": map[string]any{
			"grace_period": drain.String(),
			"servers": map[string]any{"gantry": map[string]any{
				"listen":          []string{":" + proxyListen},
				"automatic_https": map[string]any{"disable": true},
				"routes": []any{map[string]any{"handle": []any{map[string]any{
					"handler":   "reverse_proxy",
					"upstreams": []any{map[string]any{"dial": upstream}},
				}}}},
			}},
		}},
	}
	b, _ := json.Marshal(cfg)
	return b
}

// configTar is a tar stream holding the proxy config at proxyConfigPath, for docker cp -.
func configTar(body []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "gantry/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
	_ = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(proxyConfigPath, "/"), Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write(body)
	_ = tw.Close()
	return &buf
}

// upstreamOf reads the dial address ("<id>:<port>") out of the proxy's config
// (docker cp's tar stream of proxyConfigPath).
func upstreamOf(tarStream string) (string, error) {
	tr := tar.NewReader(strings.NewReader(tarStream))
	for {
		hd, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("read the proxy config: %w", err)
		}
		if hd.Typeflag != tar.TypeReg {
			continue
		}
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []struct {
								Upstreams []struct{ Dial string }
							}
						}
					}
				}
			}
		}
		if err := json.NewDecoder(tr).Decode(&cfg); err != nil {
			return "", fmt.Errorf("read the proxy config: %w", err)
		}
		for _, s := range cfg.Apps.HTTP.Servers {
			for _, r := range s.Routes {
				for _, hd := range r.Handle {
					for _, u := range hd.Upstreams {
						return u.Dial, nil
					}
				}
			}
		}
		return "", errors.New("read the proxy config: no upstream in it")
	}
}

// readUpstream asks the proxy container which upstream it sends traffic to.
func (h *Client) readUpstream(ctx context.Context) (string, error) {
	res, err := h.exec(ctx, h.cmd("cp", h.ProxyName()+":"+proxyConfigPath, "-"), hostexec.RunOptions{})
	if err != nil {
		return "", fmt.Errorf("read the proxy config of %s: %w", h.ProxyName(), err)
	}
	return upstreamOf(res.Stdout)
}

// Receives reports whether the proxy upstream dial ("<id>:<port>") names c.
func Receives(upstream string, c *Container) bool {
	host, _, _ := strings.Cut(upstream, ":")
	return c != nil && host != "" && strings.HasPrefix(c.ID, host)
}

// Live is the container that receives the port's traffic: the proxy's upstream in
// proxy mode (nil when the proxy names neither), else the running current container.
func (s State) Live() *Container {
	if s.Proxy != nil && s.Proxy.State.Running {
		for _, c := range []*Container{s.Current, s.Next} {
			if Receives(s.Upstream, c) {
				return c
			}
		}
		return nil
	}
	if s.Current != nil && s.Current.State.Running {
		return s.Current
	}
	return nil
}

// SwitchNow is the switch mode the host runs in now: proxy when the proxy
// container runs, else direct.
func (s State) SwitchNow() string {
	if s.Proxy != nil && s.Proxy.State.Running {
		return SwitchProxy
	}
	return SwitchDirect
}

// networkIP is c's address on the app network.
func (h *Client) networkIP(ctx context.Context, id string) (string, error) {
	res, err := h.exec(ctx, h.cmd("container", "inspect", "--format",
		`{{with index .NetworkSettings.Networks "`+h.Network()+`"}}{{.IPAddress}}{{end}}`, id), hostexec.RunOptions{})
	if err != nil {
		return "", fmt.Errorf("find the new container's address on %s: %w", h.Network(), err)
	}
	ip := TailLine(res.Stdout)
	if ip == "" {
		return "", fmt.Errorf("the new container has no address on %s", h.Network())
	}
	return ip, nil
}

// replaceProxy starts image beside old on the app network, health-checks it there,
// points the proxy at it (starting the proxy on the host port first if the host ran
// direct: the adoption), lets old drain for dev.drain, then stops and removes old.
// A failed health check removes the new container and changes nothing else.
func (h *Client) replaceProxy(ctx context.Context, old *Container, image, repo string, labels map[string]string) (Replaced, error) {
	name, next, proxy := h.cfg.Container, h.cfg.Container+"-next", h.ProxyName()
	found, err := h.Inspect(ctx, proxy)
	if err != nil {
		return Replaced{}, err
	}
	px := found[proxy]
	proxyUp := px != nil && px.State.Running
	create := []string{"create", "--name", next, "--network", h.Network(), "--restart", "unless-stopped"}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		create = append(create, "--label", k+"="+labels[k])
	}
	create = append(create, image)
	start := hostexec.And(
		hostexec.Or(h.cmd("network", "inspect", h.Network()).Silence(), h.cmd("network", "create", h.Network()).Stdout2Null()),
		h.cmd(create...),
		h.cmd("start", next).Stdout2Null(),
	)
	res, err := h.exec(ctx, start, hostexec.RunOptions{})
	if err != nil {
		return Replaced{}, h.dropNext(ctx, old, next, fmt.Errorf("start the new container on %s: %w", h.Network(), err))
	}
	newID := TailLine(res.Stdout)
	h.logf("started the new container %s beside the running one, on %s", ShortID(newID), h.Network())
	ip, err := h.networkIP(ctx, newID)
	if err == nil {
		err = h.healthyAt(ctx, newID, ip, h.containerPort())
	}
	if err != nil {
		return Replaced{}, h.dropNext(ctx, old, next, err)
	}
	upstream := ShortID(newID) + ":" + h.containerPort()
	body := caddyConfig(upstream, h.cfg.Drain)
	if proxyUp {
		t0 := h.now()
		sw := hostexec.And(
			h.cmd("cp", "-", proxy+":/"),
			h.cmd("exec", proxy, "caddy", "reload", "--config", proxyConfigPath),
		)
		if _, err := h.exec(ctx, sw, hostexec.RunOptions{Stdin: configTar(body)}); err != nil {
			return Replaced{}, h.dropNext(ctx, old, next, fmt.Errorf("switch the proxy %s to the new container: %w", proxy, err))
		}
		h.logf("switched the proxy's upstream to %s in %s", upstream, h.now().Sub(t0).Round(time.Millisecond))
		if old != nil && old.State.Running && h.cfg.Drain > 0 {
			h.logf("draining the previous container for %s (dev.drain)", h.cfg.Drain)
			if err := sleepCtx(ctx, h.cfg.Drain); err != nil {
				h.logf("drain cut short: %v", err)
			}
		}
	} else {
		// Adoption (or a first deploy): the proxy takes the host port, which the old
		// direct container holds until it stops, so the proxy is created and given its
		// config first and the stop and the start run back to back in one command.
		prep := []hostexec.Cmd{}
		if px != nil {
			prep = append(prep, h.cmd("rm", "-f", proxy).Stdout2Null())
		}
		prep = append(prep,
			h.cmd("create", "--name", proxy, "--network", h.Network(), "-p", h.hostPort()+":"+proxyListen,
				"--restart", "unless-stopped", "--label", LabelRole+"=proxy", h.cfg.ProxyImage,
				"caddy", "run", "--config", proxyConfigPath).Stdout2Null(),
			h.cmd("cp", "-", proxy+":/"),
		)
		opts := h.logLines("")
		opts.Stdin = configTar(body)
		if _, err := h.exec(ctx, hostexec.And(prep...), opts); err != nil {
			h.rmQuiet(ctx, proxy)
			return Replaced{}, h.dropNext(ctx, old, next, fmt.Errorf("create the proxy %s from %s: %w", proxy, h.cfg.ProxyImage, err))
		}
		var sw []hostexec.Cmd
		if old != nil && old.State.Running {
			sw = append(sw, h.cmd("stop", "--time", stopTimeout, old.ID).Stdout2Null())
		}
		sw = append(sw, h.cmd("start", proxy).Stdout2Null())
		t0 := h.now()
		_, err := h.exec(ctx, hostexec.And(sw...), hostexec.RunOptions{})
		if err == nil {
			err = h.waitPort(ctx)
		}
		if err != nil {
			err = fmt.Errorf("start the proxy %s on port %s: %w", proxy, h.hostPort(), err)
			h.logf("last log lines of the proxy:")
			_, _ = h.exec(context.WithoutCancel(ctx), h.cmd("logs", "--tail", "20", proxy), h.logLines("  │ "))
			h.rmQuiet(ctx, proxy)
			if old != nil && old.State.Running {
				h.startQuiet(ctx, old.ID)
			}
			return Replaced{}, h.dropNext(ctx, old, next, err)
		}
		if old != nil && old.State.Running {
			h.logf("adopted the port: stopped the direct container and the proxy answered in %s", h.now().Sub(t0).Round(time.Millisecond))
		} else {
			h.logf("started the proxy %s on port %s", proxy, h.hostPort())
		}
	}
	return h.finish(ctx, old, next, name, repo, image, old != nil && old.State.Running)
}

// finish stops and removes old, renames next to name (the proxy dials the container's
// ID, which a rename keeps) and reads what now runs.
func (h *Client) finish(ctx context.Context, old *Container, next, name, repo, image string, stop bool) (Replaced, error) {
	var fin []hostexec.Cmd
	if old != nil {
		if stop {
			fin = append(fin, h.cmd("stop", "--time", stopTimeout, old.ID).Stdout2Null())
		}
		fin = append(fin, h.cmd("rm", "-f", old.ID).Stdout2Null())
	}
	fin = append(fin, h.cmd("rename", next, name), h.cmd("container", "inspect", "--format", "{{.Image}}", name))
	if repo != "" {
		fin = append(fin, h.cmd("image", "ls", "--no-trunc", "--format", "{{json .}}", repo))
	}
	res, err := h.exec(ctx, hostexec.And(fin...), hostexec.RunOptions{})
	if err != nil {
		return Replaced{}, fmt.Errorf("the new container serves but finishing the switch failed: %w", err)
	}
	h.logf("%s now runs %s", name, image)
	out := strings.TrimSpace(res.Stdout)
	first, rest, _ := strings.Cut(out, "\n")
	done := Replaced{ImageID: strings.TrimSpace(first)}
	if repo != "" {
		if done.Images, err = ParseImages(rest); err != nil {
			h.logf("warning: list images of %s: %v", repo, err)
		}
		done.Images = h.byBuildTime(ctx, done.Images)
	}
	return done, nil
}

// dropNext shows the new container's logs and removes it; the running version was
// not touched, so a running old container still serves.
func (h *Client) dropNext(ctx context.Context, old *Container, next string, cause error) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	h.logf("last log lines of the new container:")
	cmd := hostexec.Seq(h.cmd("logs", "--tail", "50", next), h.cmd("rm", "-f", next).Silence())
	if _, err := h.exec(bctx, cmd, h.logLines("  │ ")); err != nil {
		return fmt.Errorf("%w; removing the new container failed too: %v", cause, err)
	}
	if old == nil || !old.State.Running {
		h.logf("removed the new container; nothing served before")
		return cause
	}
	h.logf("removed the new container; the running one was not touched: %s", Describe(old))
	return &RolledBackError{Err: cause, Previous: old.Config.Image}
}

func (h *Client) rmQuiet(ctx context.Context, id string) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = h.exec(bctx, h.cmd("rm", "-f", id).Silence(), hostexec.RunOptions{})
}

func (h *Client) startQuiet(ctx context.Context, id string) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, _ = h.exec(bctx, h.cmd("start", id).Silence(), hostexec.RunOptions{})
}

// waitPort waits until the host port answers the health path (any HTTP answer when
// there is none), for up to dev.health_timeout.
func (h *Client) waitPort(ctx context.Context) error {
	path := h.cfg.HealthPath
	if path == "" {
		path = "/"
	}
	url := "http://127.0.0.1:" + h.hostPort() + path
	start := h.now()
	for {
		ok, detail, err := h.probeAt(ctx, url, "127.0.0.1", h.hostPort(), path)
		if err != nil {
			return err
		}
		if ok || (h.cfg.HealthPath == "" && strings.HasPrefix(detail, "HTTP ") && detail != "HTTP 0") {
			return nil
		}
		if h.now().Sub(start) >= h.cfg.HealthTimeout {
			return fmt.Errorf("%s gave no answer within %s; last: %s", url, h.cfg.HealthTimeout, detail)
		}
		if err := sleepCtx(ctx, min(h.poll, 50*time.Millisecond)); err != nil {
			return err
		}
	}
}

// ProxyStatus is what doctor and the Environments view say about the proxy.
type ProxyStatus struct {
	Running  bool
	Image    string
	Upstream string // dial address the proxy sends traffic to
	Admin    bool   // the admin API answered inside the container
	Detail   string // why not, when something is off
}

// Proxy inspects the proxy container, its upstream and its admin API (reached with
// caddy's own client inside the container: it listens on the container's loopback only).
func (h *Client) Proxy(ctx context.Context) (ProxyStatus, error) {
	found, err := h.Inspect(ctx, h.ProxyName())
	if err != nil {
		return ProxyStatus{}, err
	}
	px := found[h.ProxyName()]
	if px == nil {
		return ProxyStatus{Detail: "no " + h.ProxyName() + " container"}, nil
	}
	st := ProxyStatus{Running: px.State.Running, Image: px.Config.Image}
	if !st.Running {
		st.Detail = h.ProxyName() + " is " + px.State.Status
		return st, nil
	}
	if st.Upstream, err = h.readUpstream(ctx); err != nil {
		st.Detail = err.Error()
	}
	// caddy reload goes through the admin API; with the config unchanged Caddy
	// leaves the running config alone, so this only asks whether the API answers.
	if _, err := h.exec(ctx, h.cmd("exec", h.ProxyName(), "caddy", "reload", "--config", proxyConfigPath), hostexec.RunOptions{}); err != nil {
		st.Detail = fmt.Sprintf("admin API: %v", err)
	} else {
		st.Admin = true
	}
	return st, nil
}

// CheckProxy is doctor's check of the proxy mode: no proxy yet passes (the next
// deploy creates it, adopting a direct container); a proxy that exists must run, own
// the host port (its port map and an answer through it) and answer on its admin API.
func (h *Client) CheckProxy(ctx context.Context) error {
	found, err := h.Inspect(ctx, h.ProxyName())
	if err != nil {
		return err
	}
	px := found[h.ProxyName()]
	if px == nil {
		return nil
	}
	st, err := h.Proxy(ctx)
	if err != nil {
		return err
	}
	switch {
	case !st.Running:
		return fmt.Errorf("%s: nothing serves port %s; run gantry dev to start it again", st.Detail, h.hostPort())
	case !st.Admin:
		return fmt.Errorf("the proxy %s runs but %s; check its logs (docker logs %s)", h.ProxyName(), st.Detail, h.ProxyName())
	case st.Upstream == "":
		return fmt.Errorf("the proxy %s has no upstream: %s", h.ProxyName(), st.Detail)
	}
	res, err := h.exec(ctx, h.cmd("port", h.ProxyName(), proxyListen+"/tcp"), hostexec.RunOptions{})
	if err != nil || !strings.Contains(res.Stdout, ":"+h.hostPort()) {
		return fmt.Errorf("the proxy %s does not own port %s (docker port says %q): remove it (docker rm -f %s) and run gantry dev", h.ProxyName(), h.hostPort(), strings.TrimSpace(res.Stdout), h.ProxyName())
	}
	path := h.cfg.HealthPath
	if path == "" {
		path = "/"
	}
	url := "http://127.0.0.1:" + h.hostPort() + path
	if ok, detail, err := h.probeAt(ctx, url, "127.0.0.1", h.hostPort(), path); err != nil || (!ok && h.cfg.HealthPath != "") {
		return fmt.Errorf("the proxy %s sends port %s to %s, but %s answers %s%s", h.ProxyName(), h.hostPort(), st.Upstream, url, detail, errOrNil(err))
	}
	return nil
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
