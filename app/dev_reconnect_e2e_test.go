package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/cli"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/hoststate"
	"github.com/bookshop-ops/gantry/workflow"
)

// cutProxy forwards TCP connections to target; cut closes every open one, and
// while down it refuses new ones, as a host that dropped off the network.
type cutProxy struct {
	l     net.Listener
	dials atomic.Int64
	down  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			p.dials.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *cutProxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

// cut drops every open connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// triggerWriter collects output and calls fire once, synchronously, when a line
// containing on is written: the step that logged it has not gone on yet.
type triggerWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	on   string
	fire func()
	done bool
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && w.on != "" && strings.Contains(w.buf.String(), w.on) {
		w.done = true
		w.fire()
	}
	return len(p), nil
}

func gantryCut(t *testing.T, dir, on string, fire func(), args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := &triggerWriter{on: on, fire: fire}
	code := cli.Execute(ctx, append([]string{"--dir", dir, "--output", "plain", "--no-color"}, args...), strings.NewReader(""), w, w, os.LookupEnv)
	out := w.buf.String()
	t.Logf("gantry %s → %d\n%s", strings.Join(args, " "), code, out)
	return run{Code: code, Out: out}
}

func lockHeld(t *testing.T, container string) (hoststate.LockHolder, bool) {
	t.Helper()
	l := &hoststate.Lock{Host: hostClient(t), App: "book-shop", Target: hoststate.DevTarget(container), Env: "dev"}
	h, ok, err := l.ReadHolder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h, ok
}

// TestDevSurvivesDroppedConnection drops the SSH connection as the health check
// starts. With the host still reachable, gantry dials again and the deploy goes
// through. With the host gone for good, the run fails and leaves the half-switched
// state (old container stopped, <name>-next running unverified) and its lock; a
// plain re-run within 60 s takes over the expired lease, health-checks <name>-next,
// adopts it, frees the lock and writes the audit line.
func TestDevSurvivesDroppedConnection(t *testing.T) {
	sshEnv(t)
	proxy := newCutProxy(t, testbed.SSH(t).Addr)
	container := "dev-cut-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	repo := "bookshop-cut-" + testbed.Suffix()
	toml := strings.Replace(sshDevToml(ociSection(t, repo), proxy.Port(), knownHostsFor(t, proxy.Port(), nil), container, appPort, ""),
		`lock_timeout = "3s"`, `lock_timeout = "60s"`, 1)

	a := newAppRepo(t)
	a.write("gantry.toml", toml)
	first := a.commit("first")
	r := gantry(t, a.Dir, "dev", "--ci")
	wantCode(t, r, 0, "first deploy")
	wantServing(t, appPort, first)

	// 1. The connection drops once; the host stays reachable.
	second := a.change("second")
	dials := proxy.dials.Load()
	r = gantryCut(t, a.Dir, "health check: GET", proxy.cut, "dev", "--ci")
	wantCode(t, r, 0, "deploy across a dropped connection")
	if n := proxy.dials.Load() - dials; n < 2 {
		t.Errorf("the run dialled %d time(s); a dropped connection must be dialled again", n)
	}
	wantServing(t, appPort, second)
	wantAudit(t, second, workflow.ResultOK)
	if h, held := lockHeld(t, container); held {
		t.Fatalf("lock left after the deploy: %+v", h)
	}

	// 2. The host drops off the network during the health check and stays away
	// until the run has given up.
	third := a.change("third")
	r = gantryCut(t, a.Dir, "health check: GET", func() { proxy.down.Store(true); proxy.cut() }, "dev", "--ci")
	if r.Code == 0 {
		t.Fatalf("the deploy succeeded with the host unreachable")
	}
	cutAt := time.Now()
	proxy.down.Store(false)
	if _, held := lockHeld(t, container); !held {
		t.Fatalf("the cut-off run's lock is gone; the test needs it to test the take-over")
	}
	res, err := hostClient(t).Run(context.Background(), hostexec.Command("docker", "ps", "--format", "{{.Names}}", "--filter", "name="+container), hostexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Stdout, container+"-next") {
		t.Fatalf("no half-switched state left (running: %q)", res.Stdout)
	}

	r = gantry(t, a.Dir, "dev", "--ci")
	wantCode(t, r, 0, "re-run after the interrupted deploy")
	if took := time.Since(cutAt); took > 60*time.Second {
		t.Errorf("the re-run converged %s after the cut, want within 60s", took.Round(time.Second))
	}
	for _, want := range []string{"took over the dev lock", "left by an interrupted deploy", "adopting " + container + "-next"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("re-run output lacks %q", want)
		}
	}
	wantServing(t, appPort, third)
	wantAudit(t, third, workflow.ResultOK)
	if h, held := lockHeld(t, container); held {
		t.Fatalf("lock left after the re-run: %+v", h)
	}
}

// TestDevTwoAppsDeployAtOnce deploys two apps (own names, containers) on one host at
// the same time: their locks are their own, neither waits for the other.
func TestDevTwoAppsDeployAtOnce(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	type one struct {
		dir, sha, container string
		port                int
	}
	var apps []one
	for i := 0; i < 2; i++ {
		container := fmt.Sprintf("dev-two%d-%s", i, testbed.Suffix())
		removeContainers(t, container)
		port := testbed.FreePort(t)
		a := newAppRepo(t)
		toml := sshDevToml(ociSection(t, "bookshop-two-"+testbed.Suffix()), peer.Port, peer.KnownHosts, container, port, "")
		toml = strings.Replace(toml, `app = "book-shop"`, fmt.Sprintf(`app = "book-shop-%d"`, i), 1)
		a.write("gantry.toml", toml)
		// A Dockerfile of its own: concurrent classic builds of one Dockerfile share
		// intermediate images on the shared engine.
		df, err := os.ReadFile(a.Dir + "/Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		a.write("Dockerfile", string(df)+"LABEL gantry.test.app="+container+"\n")
		apps = append(apps, one{dir: a.Dir, sha: a.commit("two apps"), container: container, port: port})
		// Build and push first: what runs at the same time below is the deploy.
		wantCode(t, gantry(t, a.Dir, "dev", "--ci", "--no-deploy"), 0, fmt.Sprintf("build app %d", i))
	}
	var wg sync.WaitGroup
	runs := make([]run, len(apps))
	for i := range apps {
		wg.Add(1)
		go func() { defer wg.Done(); runs[i] = gantry(t, apps[i].dir, "dev", "--ci") }()
	}
	wg.Wait()
	for i, a := range apps {
		wantCode(t, runs[i], 0, fmt.Sprintf("app %d", i))
		if strings.Contains(runs[i].Out, "waiting for the dev lock") {
			t.Errorf("app %d waited for the other's lock", i)
		}
		wantServing(t, a.port, a.sha)
	}
}

// TestDevStatusDockerWordsAndEngineErrors reads the Environments screen's dev status
// with a multi-word docker command (as "sudo docker" would be), and with an engine
// that cannot be reached: that is an error naming the engine, not "absent".
func TestDevStatusDockerWordsAndEngineErrors(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	container := "dev-status-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	repo := newAppRepo(t)
	toml := sshDevToml(ociSection(t, "bookshop-status-"+testbed.Suffix()), peer.Port, peer.KnownHosts, container, appPort, `docker = "env docker"`)
	repo.write("gantry.toml", toml)
	sha := repo.commit("status")
	r := gantry(t, repo.Dir, "dev", "--ci")
	wantCode(t, r, 0, "deploy with docker = \"env docker\"")

	status := func(docker string) (app.DevStatus, error) {
		cfg, err := config.Load(config.Options{Dir: repo.Dir})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Dev.DockerCommand = docker
		a, err := app.New(cfg, app.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		return a.DevStatus(context.Background())
	}
	st, err := status("env docker")
	if err != nil {
		t.Fatalf("status with docker = \"env docker\": %v", err)
	}
	if !st.Running || st.State != "running" || st.SHA != sha || st.Health != "200" {
		t.Fatalf("status = %+v", st)
	}
	st, err = status("env DOCKER_HOST=unix:///nonexistent/docker.sock docker")
	if err == nil || st.State == "absent" {
		t.Fatalf("unreachable engine: status %+v, err %v; want an error", st, err)
	}
	if !strings.Contains(err.Error(), "nonexistent") && !strings.Contains(strings.ToLower(err.Error()), "cannot connect") {
		t.Errorf("the error does not show the engine's complaint: %v", err)
	}
}
