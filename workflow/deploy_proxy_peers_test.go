package workflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// testProxyImage is the test bed's stand-in for caddy:2, built once per engine by
// scripts/testbed/caddy-image.sh (FROM scratch, Debian's caddy binary).
const testProxyImage = "gantry-test/caddy:2"

var proxyImageOnce sync.Once

// proxyImage makes sure testProxyImage is on the bed's engine.
func proxyImage(t *testing.T) string {
	t.Helper()
	dockerHost := testbed.Docker(t)
	var err error
	var out []byte
	proxyImageOnce.Do(func() {
		cmd := exec.Command("docker", "image", "inspect", testProxyImage)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost)
		if cmd.Run() == nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		cmd = exec.Command(filepath.Join(filepath.Dir(file), "..", "scripts", "testbed", "caddy-image.sh"), testProxyImage)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost)
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("build %s: %v\n%s", testProxyImage, err, out)
	}
	return testProxyImage
}

// proxyDevConfig is peerDevConfig in proxy mode: its proxy and network go at the end too.
func proxyDevConfig(t *testing.T, host *sshhost.Client, prefix string) config.Dev {
	cfg := peerDevConfig(t, host, prefix)
	cfg.Switch, cfg.ProxyImage, cfg.Drain = config.SwitchProxy, proxyImage(t), config.Duration{Duration: 500 * time.Millisecond}
	cfg.HealthTimeout.Duration = 20 * time.Second
	t.Cleanup(func() {
		_, _ = host.Run(context.Background(), hostexec.Seq(
			hostexec.Command("docker", "rm", "-f", cfg.Container, cfg.Container+"-next", cfg.Container+"-proxy").Silence(),
			hostexec.Command("docker", "network", "rm", "gantry-"+cfg.Container).Silence()), hostexec.RunOptions{})
	})
	return cfg
}

// poller GETs url every 20ms (a fresh connection each time, as a browser reload
// would) and counts what failed and the slowest answer.
type poller struct {
	url    string
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	total  int
	failed []string
	slow   time.Duration
	bodies map[string]int
	// gap is the longest run of consecutive failures, first to last.
	gapStart time.Time
	maxGap   time.Duration
}

func startPoller(url string) *poller {
	p := &poller{url: url, stop: make(chan struct{}), done: make(chan struct{}), bodies: map[string]int{}}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			t0 := time.Now()
			resp, err := client.Get(p.url)
			d := time.Since(t0)
			var body string
			if err == nil {
				b := make([]byte, 200)
				n, _ := resp.Body.Read(b)
				body = strings.TrimSpace(string(b[:n]))
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
			}
			p.mu.Lock()
			p.total++
			p.slow = max(p.slow, d)
			if err != nil {
				p.failed = append(p.failed, err.Error())
				if p.gapStart.IsZero() {
					p.gapStart = t0
				}
				p.maxGap = max(p.maxGap, time.Since(p.gapStart))
			} else {
				p.gapStart = time.Time{}
				p.bodies[body]++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// halt stops polling and returns the counts.
func (p *poller) halt() (total int, failed []string, slowest, maxGap time.Duration) {
	close(p.stop)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.failed, p.slow, p.maxGap
}

func proxyLabels(tag, ports string) map[string]string {
	return map[string]string{"gantry.image_tag": tag, "gantry.sha": tag, "gantry.version": "1.0.0", "gantry.ports": ports}
}

// TestDevHostProxySwitchOverSSH walks one dev host through the proxy mode's life on
// the SSH test host, with a poller on the port every 20 ms: a direct container is
// adopted (the gap is measured), two versions (one that takes 3 s before it listens)
// are deployed with zero failed requests, a version that fails its health check
// leaves the running one serving and is removed, prune spares the proxy and its
// image, a rollback switches back the same way, and direct mode migrates back.
func TestDevHostProxySwitchOverSSH(t *testing.T) {
	host := testHost(t)
	repo := "gantry-test/" + randomName("proxy-")
	v1 := bookshopImage(t, repo, "v1", "ENV APP_VERSION=v1")
	v2 := bookshopImage(t, repo, "v2", "ENV APP_VERSION=v2 BOOKSHOP_START_DELAY=3s")
	v3 := bookshopImage(t, repo, "v3", "ENV APP_VERSION=v3")
	broken := bookshopImage(t, repo, "broken", "ENV APP_VERSION=broken BOOKSHOP_BROKEN=1")
	cfg := proxyDevConfig(t, host, "dev-proxy-")
	name := cfg.Container
	direct := cfg
	direct.Switch = config.SwitchDirect
	url := "http://127.0.0.1:" + hostPortOf(cfg.Ports) + "/"
	hostFn := func(context.Context) (hostexec.Runner, error) { return host, nil }
	pd := DevParams{Dev: direct, HealthPoll: 50 * time.Millisecond, Host: hostFn, App: name, Who: "test"}
	pp := DevParams{Dev: cfg, HealthPoll: 50 * time.Millisecond, Host: hostFn, App: name, Who: "test"}
	deploy := func(p DevParams, image, tag string) (devhost.Replaced, *devLog, error) {
		rep := &devLog{}
		done, err := replaceCurrent(t, newDevHost(host, p, rep), image, repo, proxyLabels(tag, p.Dev.Ports))
		return done, rep, err
	}
	survey := func() devhost.State {
		s, err := newDevHost(host, pp, &devLog{}).Survey(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	if _, rep, err := deploy(pd, v1, "v1"); err != nil {
		t.Fatalf("direct deploy of v1: %v\n%s", err, rep.Text())
	}

	// Adoption: direct → proxy.
	pl := startPoller(url)
	_, rep, err := deploy(pp, v3, "v3")
	total, failed, slowest, gap := pl.halt()
	if err != nil {
		t.Fatalf("adoption deploy of v3: %v\n%s", err, rep.Text())
	}
	t.Logf("adoption direct → proxy: %d requests, %d failed, longest outage %s, slowest %s", total, len(failed), gap.Round(time.Millisecond), slowest.Round(time.Millisecond))
	if gap > 2*time.Second {
		t.Errorf("the adoption left the port without an answer for %s", gap)
	}
	s := survey()
	if s.SwitchNow() != devhost.SwitchProxy || s.Live() == nil || s.Live() != s.Current || s.Current.Config.Labels["gantry.image_tag"] != "v3" || s.Next != nil {
		t.Fatalf("after the adoption: %+v, live %+v", s, s.Live())
	}

	if err := newDevHost(host, pp, &devLog{}).CheckProxy(context.Background()); err != nil {
		t.Errorf("doctor's proxy check after the adoption: %v", err)
	}
	if ps, err := newDevHost(host, pp, &devLog{}).Proxy(context.Background()); err != nil || !ps.Running || !ps.Admin || !devhost.Receives(ps.Upstream, s.Current) {
		t.Errorf("proxy status: %+v, %v", ps, err)
	}

	// Proxy deploys, slow then instant: zero failed requests, none slower than 1 s.
	for _, v := range []struct{ image, tag string }{{v2, "v2"}, {v1, "v1"}} {
		pl := startPoller(url)
		time.Sleep(200 * time.Millisecond)
		_, rep, err := deploy(pp, v.image, v.tag)
		time.Sleep(200 * time.Millisecond)
		total, failed, slowest, _ := pl.halt()
		if err != nil {
			t.Fatalf("proxy deploy of %s: %v\n%s", v.tag, err, rep.Text())
		}
		t.Logf("proxy deploy of %s: %d requests, %d failed, slowest %s", v.tag, total, len(failed), slowest.Round(time.Millisecond))
		if len(failed) > 0 || slowest > time.Second || total < 20 {
			t.Errorf("proxy deploy of %s: %d of %d requests failed (%q), slowest %s\n%s", v.tag, len(failed), total, failed, slowest, rep.Text())
		}
		if got := pl.bodies; len(got) == 0 {
			t.Errorf("no answers recorded")
		}
		if s := survey(); s.Live() == nil || s.Live().Config.Labels["gantry.image_tag"] != v.tag {
			t.Fatalf("after the deploy of %s the proxy sends traffic to %+v", v.tag, s.Live())
		}
		if !strings.Contains(rep.Text(), "draining the previous container") {
			t.Errorf("no drain in the log:\n%s", rep.Text())
		}
	}

	// The re-run check: v1 behind the proxy already serves in proxy mode; in direct
	// mode the same container must be migrated.
	before := survey()
	if why, ok := newDevHost(host, pp, &devLog{}).Serving(context.Background(), before.Current, v1, proxyLabels("v1", cfg.Ports)); !ok {
		t.Errorf("v1 behind the proxy is not seen as serving in proxy mode")
	} else if !strings.Contains(why, "answers healthy") {
		t.Errorf("serving: %q", why)
	}
	if _, ok := newDevHost(host, pd, &devLog{}).Serving(context.Background(), before.Current, v1, proxyLabels("v1", cfg.Ports)); ok {
		t.Errorf("v1 behind the proxy passes for serving in direct mode: the migration back would be skipped")
	}

	// A failed health check touches nothing: v1 keeps serving, the new one is gone.
	pl = startPoller(url)
	_, rep, err = deploy(pp, broken, "broken")
	total, failed, _, _ = pl.halt()
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("deploying a broken image: %v, want the running one left serving\n%s", err, rep.Text())
	}
	if len(failed) > 0 {
		t.Errorf("the failed deploy made %d of %d requests fail: %q", len(failed), total, failed)
	}
	after := survey()
	if after.Next != nil || after.Current == nil || after.Current.ID != before.Current.ID || after.Upstream != before.Upstream {
		t.Fatalf("after the failed deploy: %+v, before: %+v", after, before)
	}
	// As the deploy step does after a failed health check: the failed image goes.
	newDevHost(host, pp, &devLog{}).RemoveImage(context.Background(), broken)

	// Prune keeps one image: the serving one; the proxy and its image stay.
	pk := pp
	pk.Dev.KeepImages = 1
	h := newDevHost(host, pk, &devLog{})
	imgs, err := h.Images(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	h.Prune(context.Background(), imgs, after.Current.Image)
	if s := survey(); s.Proxy == nil || !s.Proxy.State.Running || s.Live() == nil {
		t.Fatalf("after prune: the proxy %+v, live %+v", s.Proxy, s.Live())
	}
	if _, err := host.Run(context.Background(), hostexec.Command("docker", "image", "inspect", "--format", "{{.Id}}", proxyImage(t)), hostexec.RunOptions{}); err != nil {
		t.Fatalf("prune removed the proxy image: %v", err)
	}
	// Only v1 (serving) stays for what follows, whichever of the images whose created
	// times tie prune kept: the rollback target below is then known.
	_, _ = host.Run(context.Background(), hostexec.Command("docker", "rmi", "--no-prune", v2, v3), hostexec.RunOptions{})
	// Rebuild v3 (prune took it) on top of v1 with the classic builder, whose images
	// carry the build time (BuildKit's here all carry one fixed time), and deploy it:
	// v1 is then the older image to roll back to.
	build := exec.Command("docker", "build", "-q", "-t", repo+":v3", "-")
	build.Env = append(os.Environ(), "DOCKER_HOST="+testbed.Docker(t), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader("FROM " + v1 + "\nENV APP_VERSION=v3\nLABEL org.opencontainers.image.revision=v3\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("rebuild v3: %v\n%s", err, out)
	}
	if _, rep, err := deploy(pp, v3, "v3"); err != nil {
		t.Fatalf("proxy deploy of v3: %v\n%s", err, rep.Text())
	}

	// Rollback dev in proxy mode: v1 starts beside, health-checked, switched.
	pl = startPoller(url)
	rec := &pipelinetest.Recorder{}
	_, err = (&pipeline.Runner{Sink: rec}).Run(context.Background(), "rollback", []pipeline.Step{DevRollback(pp, func(context.Context) (string, error) { return repo, nil })})
	total, failed, slowest, _ = pl.halt()
	if err != nil {
		t.Fatalf("rollback in proxy mode: %v", err)
	}
	t.Logf("rollback in proxy mode: %d requests, %d failed, slowest %s", total, len(failed), slowest.Round(time.Millisecond))
	if len(failed) > 0 || slowest > time.Second {
		t.Errorf("rollback: %d of %d requests failed (%q), slowest %s", len(failed), total, failed, slowest)
	}
	if s := survey(); s.Live() == nil || s.Live().Config.Labels["gantry.image_tag"] != "v1" || s.SwitchNow() != devhost.SwitchProxy {
		t.Fatalf("after the rollback the proxy sends traffic to %+v", s.Live())
	}

	// Back to direct: the proxy and the network go, the container publishes the port.
	pl = startPoller(url)
	_, rep, err = deploy(pd, v3, "v3")
	total, failed, _, gap = pl.halt()
	if err != nil {
		t.Fatalf("deploy back to direct: %v\n%s", err, rep.Text())
	}
	t.Logf("migration proxy → direct: %d requests, %d failed, longest outage %s", total, len(failed), gap.Round(time.Millisecond))
	s = survey()
	if s.Proxy != nil || s.SwitchNow() != devhost.SwitchDirect || s.Current == nil || s.Current.Config.Labels["gantry.image_tag"] != "v3" {
		t.Fatalf("after the migration back: %+v", s)
	}
	if body, err := testbed.Get(url); err != nil || !strings.Contains(body, "v3") {
		t.Fatalf("GET %s after the migration back: %q, %v", url, body, err)
	}
}

// TestSwitchFacts: the deploy plan says the switch mode, the proxy and the upstream
// now → new, for a proxy deploy, the adoption and the migration back.
func TestSwitchFacts(t *testing.T) {
	cur := &devhost.Container{ID: "0123456789abcdef", Name: "/dev-app"}
	cur.State.Running = true
	proxy := &devhost.Container{ID: "ffff"}
	proxy.State.Running = true
	proxy.Config.Image = "caddy:2"
	withProxy := devhost.State{Name: "dev-app", Current: cur, Proxy: proxy, Upstream: "0123456789ab:8000"}
	direct := devhost.State{Name: "dev-app", Current: cur}
	for _, c := range []struct {
		mode string
		st   devhost.State
		want []string
	}{
		{config.SwitchProxy, withProxy, []string{"switch=proxy: start the new container beside on gantry-dev-app", "proxy=dev-app-proxy (caddy:2, running) on port 8080", "upstream=dev-app (0123456789ab) → the new dev-app"}},
		{config.SwitchProxy, direct, []string{"switch=direct → proxy (adoption)", "proxy=create dev-app-proxy from caddy:2 on port 8080", "upstream=none (port published by dev-app (0123456789ab)) → the new dev-app"}},
		{config.SwitchDirect, withProxy, []string{"switch=proxy → direct", "proxy=remove dev-app-proxy and the network gantry-dev-app", "upstream=dev-app (0123456789ab) → none"}},
		{config.SwitchDirect, direct, []string{"switch=direct: stop the old container"}},
	} {
		p := DevParams{Dev: config.Dev{Container: "dev-app", Ports: "8080:8000", Switch: c.mode, ProxyImage: "caddy:2", Drain: config.Duration{Duration: 5 * time.Second}}}
		h := devhost.New(nil, p.hostConfig(nopLogf))
		plan := switchFacts(pipeline.Acting("deploy"), p, h, c.st)
		var got []string
		for _, f := range plan.Facts {
			got = append(got, f.Name+"="+f.Value)
		}
		all := strings.Join(got, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s on %s: facts\n%s\nmiss %q", c.mode, c.st.SwitchNow(), all, w)
			}
		}
	}
}
