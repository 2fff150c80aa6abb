package app_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// benchSetup prepares an app repository deploying over SSH to the test host with an
// anonymous oci registry (the test registry), and returns it with its app port.
// extraDev adds [dev] keys.
func benchSetup(b *testing.B, container string, extraDev ...string) (*appRepo, int) {
	b.Helper()
	peer := testbed.SSH(b)
	b.Setenv("DOCKER_HOST", testbed.Docker(b))
	b.Setenv("SSH_AUTH_SOCK", "")
	b.Setenv("GANTRY_SSH_KEY", "")
	b.Setenv("GANTRY_WHO", "bench")
	removeContainers(b, container, container+"-proxy")
	b.Cleanup(func() {
		cmd := exec.Command("docker", "network", "rm", "gantry-"+container)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+testbed.Docker(b))
		_ = cmd.Run()
	})
	port := testbed.FreePort(b)
	app := newAppRepo(b)
	reg := fmt.Sprintf("[registry]\nkind = \"oci\"\nrepository = %q\nhost = %q", "bookshop-bench-"+testbed.Suffix(), testbed.Registry(b))
	extra := append([]string{fmt.Sprintf("key = %q", peer.KeyFile)}, extraDev...)
	app.write("gantry.toml", sshDevToml(reg, peer.Port, peer.KnownHosts, container, port, strings.Join(extra, "\n")))
	app.commit("bench")
	return app, port
}

// benchProxyImage is the test bed's stand-in for caddy:2 (scripts/testbed/caddy-image.sh).
func benchProxyImage(b testing.TB) string {
	b.Helper()
	const image = "gantry-test/caddy:2"
	env := append(os.Environ(), "DOCKER_HOST="+testbed.Docker(b))
	cmd := exec.Command("docker", "image", "inspect", image)
	cmd.Env = env
	if cmd.Run() == nil {
		return image
	}
	cmd = exec.Command("../scripts/testbed/caddy-image.sh", image)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", image, err, out)
	}
	return image
}

// poller hits url without keep-alive. A failure window runs from the start of a
// failed request to the start of the next request that succeeds: from then on the
// app serves again, even if that request is slow.
type poller struct {
	url  string
	stop chan struct{}
	done sync.WaitGroup

	mu         sync.Mutex
	maxFailed  time.Duration
	maxLatency time.Duration // slowest successful request
	failures   int
	requests   int
}

func startPoller(url string) *poller {
	p := &poller{url: url, stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		var failingSince time.Time
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			t := time.Now()
			resp, err := client.Get(p.url)
			ok := err == nil && resp.StatusCode/100 == 2
			if err == nil {
				resp.Body.Close()
			}
			took := time.Since(t)
			p.mu.Lock()
			p.requests++
			if !ok {
				p.failures++
				if failingSince.IsZero() {
					failingSince = t
				}
			} else {
				p.maxLatency = max(p.maxLatency, took)
				if !failingSince.IsZero() {
					p.maxFailed = max(p.maxFailed, t.Sub(failingSince))
					failingSince = time.Time{}
				}
			}
			p.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return p
}

func (p *poller) finish() (maxFailed, maxLatency time.Duration, failures, requests int) {
	close(p.stop)
	p.done.Wait()
	return p.maxFailed, p.maxLatency, p.failures, p.requests
}

// BenchmarkDevDeployDowntime deploys already-built images (build and push are
// skipped) over SSH while a poller hits the app every 20 ms, for an app that listens
// at once and one that sleeps 3 s first (BOOKSHOP_START_DELAY), with dev.switch =
// "direct", dev.switch = "proxy", and the seed's script (benchScript: pull, stop,
// rm, run). It reports the longest window of failed requests, the failed requests
// per deploy and the slowest successful request. Targets for proxy: 0 failed, none
// slower than 1 s.
func BenchmarkDevDeployDowntime(b *testing.B) {
	for _, variant := range []struct{ name, dockerfile string }{
		{"instant", ""},
		{"slow-start", "ENV BOOKSHOP_START_DELAY=3s\n"},
	} {
		for _, mode := range []string{"direct", "proxy", "script"} {
			b.Run(variant.name+"/"+mode, func(b *testing.B) {
				benchDowntime(b, variant.dockerfile, mode)
			})
		}
	}
}

func benchDowntime(b *testing.B, dockerfileExtra, mode string) {
	container := "dev-bench-down-" + testbed.Suffix()
	var extra []string
	if mode == "proxy" {
		extra = append(extra, "switch = \"proxy\"", fmt.Sprintf("proxy_image = %q", benchProxyImage(b)), "drain = \"1s\"")
	}
	app, port := benchSetup(b, container, extra...)
	if dockerfileExtra != "" {
		df, err := os.ReadFile(app.Dir + "/Dockerfile")
		if err != nil {
			b.Fatal(err)
		}
		app.write("Dockerfile", string(df)+dockerfileExtra)
		app.commit("slow start")
	}
	first := app.git("rev-parse", "HEAD")
	if r := gantry(b, app.Dir, "dev", "--ci"); r.Code != 0 {
		b.Fatalf("first deploy failed:\n%s", r.Out)
	}
	second := app.change("second")
	if r := gantry(b, app.Dir, "dev", "--ci", "--no-deploy"); r.Code != 0 {
		b.Fatalf("build of the second commit failed:\n%s", r.Out)
	}
	peer := testbed.SSH(b)
	deploy := func() (string, int) {
		if mode != "script" {
			r := gantry(b, app.Dir, "dev", "--ci")
			if r.Code == 0 && !strings.Contains(r.Out, "build skipped: already in registry") {
				return "rebuilt the image:\n" + r.Out, 1
			}
			return r.Out, r.Code
		}
		cmd := exec.Command("bash", "-c", benchScript)
		cmd.Env = append(os.Environ(),
			"APP_DIR="+app.Dir, "REGISTRY="+testbed.Registry(b),
			"SSH_KEY="+peer.KeyFile, fmt.Sprintf("SSH_PORT=%d", peer.Port), "SSH_KNOWN_HOSTS="+peer.KnownHosts,
			"CONTAINER="+container, fmt.Sprintf("APP_PORT=%d", port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v\n%s", err, out), 1
		}
		return string(out), 0
	}
	shas := []string{first, second}
	var worst, slowest time.Duration
	var failures, requests int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		app.git("checkout", "-q", "--detach", shas[i%2])
		p := startPoller(fmt.Sprintf("http://127.0.0.1:%d/", port))
		time.Sleep(100 * time.Millisecond)
		b.StartTimer()
		out, code := deploy()
		b.StopTimer()
		time.Sleep(200 * time.Millisecond)
		w, l, f, n := p.finish()
		if code != 0 {
			b.Fatalf("deploy %d failed:\n%s", i, out)
		}
		worst, slowest, failures, requests = max(worst, w), max(slowest, l), failures+f, requests+n
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max-failed-ms")
	// A request that reaches docker-proxy just before the new container's network is
	// up waits for TCP's SYN retransmission (about 1 s) and then succeeds.
	b.ReportMetric(float64(slowest.Milliseconds()), "max-request-ms")
	b.ReportMetric(float64(failures)/float64(b.N), "failed-requests/op")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// benchScript is the seed's deploy on the host as a shell script: pull the image
// gantry built for HEAD, stop and remove the container, run the new one, wait for
// health. (The seed's build, DOCKER_BUILDKIT=0 docker build, cannot build the
// example's Dockerfile any more: it uses RUN --mount.)
const benchScript = `set -euo pipefail
cd "$APP_DIR"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n1)
SHA=$(git rev-parse HEAD)
REPO=$(sed -n 's/^repository = "\(.*\)"/\1/p' gantry.toml | head -n1)
IMAGE="$REGISTRY/$REPO:$VERSION-SNAPSHOT-${SHA:0:7}"
remote() {
  ssh -n -i "$SSH_KEY" -p "$SSH_PORT" -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
    -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR root@127.0.0.1 "$@"
}
remote "docker pull $IMAGE" >/dev/null
remote "docker stop $CONTAINER || true" >/dev/null 2>&1
remote "docker rm $CONTAINER || true" >/dev/null 2>&1
remote "docker run -d --name $CONTAINER -p $APP_PORT:8000 --restart unless-stopped $IMAGE" >/dev/null
for _ in $(seq 1 240); do
  if remote "curl -fsS -o /dev/null http://127.0.0.1:$APP_PORT/healthz"; then break; fi
  sleep 0.25
done
`

// BenchmarkDevWallTime times a whole gantry dev run (build, push, deploy over SSH)
// on a fresh commit, and benchScript's deploy of an image gantry built beforehand
// (untimed) with the docker and ssh CLIs, and reports both side by side.
func BenchmarkDevWallTime(b *testing.B) {
	peer := testbed.SSH(b)
	gantryContainer := "dev-bench-g-" + testbed.Suffix()
	app, port := benchSetup(b, gantryContainer)
	scriptContainer := "dev-bench-s-" + testbed.Suffix()
	scriptApp, scriptPort := benchSetup(b, scriptContainer)
	// Warm both paths (Go build cache, base layers) before measuring.
	if r := gantry(b, app.Dir, "dev", "--ci"); r.Code != 0 {
		b.Fatalf("warm-up gantry dev failed:\n%s", r.Out)
	}
	runScript := func() time.Duration {
		b.StopTimer()
		if r := gantry(b, scriptApp.Dir, "dev", "--ci", "--no-deploy"); r.Code != 0 {
			b.Fatalf("build for the script failed:\n%s", r.Out)
		}
		b.StartTimer()
		cmd := exec.Command("bash", "-c", benchScript)
		cmd.Env = append(os.Environ(),
			"APP_DIR="+scriptApp.Dir, "REGISTRY="+testbed.Registry(b),
			"SSH_KEY="+peer.KeyFile, fmt.Sprintf("SSH_PORT=%d", peer.Port), "SSH_KNOWN_HOSTS="+peer.KnownHosts,
			"CONTAINER="+scriptContainer, fmt.Sprintf("APP_PORT=%d", scriptPort))
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("script: %v\n%s", err, out)
		}
		return time.Since(t0)
	}
	runScript()
	var gantryTotal, scriptTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		app.change(fmt.Sprintf("gantry %d", i))
		b.StartTimer()
		t0 := time.Now()
		r := gantry(b, app.Dir, "dev", "--ci")
		gantryTotal += time.Since(t0)
		if r.Code != 0 {
			b.Fatalf("gantry dev failed:\n%s", r.Out)
		}
		b.StopTimer()
		scriptApp.change(fmt.Sprintf("script %d", i))
		b.StartTimer()
		scriptTotal += runScript()
	}
	b.StopTimer()
	if body, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || !strings.Contains(body, app.git("rev-parse", "HEAD")) {
		b.Errorf("gantry's deploy does not serve HEAD: %q %v", body, err)
	}
	if body, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", scriptPort)); err != nil || !strings.Contains(body, scriptApp.git("rev-parse", "HEAD")) {
		b.Errorf("the script's deploy does not serve HEAD: %q %v", body, err)
	}
	b.ReportMetric(gantryTotal.Seconds()/float64(b.N), "gantry-s/op")
	b.ReportMetric(scriptTotal.Seconds()/float64(b.N), "script-deploy-s/op")
}
