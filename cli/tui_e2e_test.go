package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/ui"
)

// TestTUIDevDeployEndToEnd drives the real console over the real backend on the
// embedded default (in-process registry, local Docker engine of the test bed):
// the user sees an empty registry, deploys HEAD to dev with d then y, watches the
// run finish, finds the new snapshot badged DEV, the container running on
// Environments and the deploy in History, and quits; the app then answers.
func TestTUIDevDeployEndToEnd(t *testing.T) {
	dockerHost := testbed.Docker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		if testbed.Required() {
			t.Fatal("the docker CLI is not installed although the test bed needs it")
		}
		t.Skip("the docker CLI is not installed: the local dev target needs it")
	}
	t.Setenv("DOCKER_HOST", dockerHost)
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		t.Setenv("GOCACHE", strings.TrimSpace(string(out))) // HOME moves below
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GANTRY_DATA_DIR", t.TempDir())
	regAddr := fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t))
	repoName := "book-shop-tui-" + testbed.Suffix()
	t.Setenv("GANTRY_REGISTRY_KIND", "embedded")
	t.Setenv("GANTRY_REGISTRY_HOST", regAddr)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", repoName)
	t.Setenv("GANTRY_DEV_TARGET", "local")
	container := "dev-tui-" + testbed.Suffix()
	t.Setenv("GANTRY_DEV_CONTAINER", container)
	appPort := testbed.FreePort(t)
	t.Setenv("GANTRY_DEV_PORTS", fmt.Sprintf("%d:8000", appPort))
	t.Setenv("GANTRY_WHO", "tui-tester")
	tuiCleanupEngine(t, dockerHost, container, regAddr+"/"+repoName)

	dir := tuiBookShop(t)
	sha := gitIn(t, dir, "rev-parse", "HEAD")
	tag := "1.4.2-SNAPSHOT-" + sha[:7]

	// The same wiring as runTUI, minus the terminal check.
	cfg, err := config.Load(config.Options{Dir: dir, Env: os.LookupEnv})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.Registry.Kind != "embedded" || cfg.Dev.Target != "local" {
		t.Fatalf("config: registry %q, dev target %q; want embedded and local", cfg.Registry.Kind, cfg.Dev.Target)
	}
	a, err := app.New(cfg, app.Options{AllowDirty: true, Warn: func(s string) { t.Logf("warning: %s", s) }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })

	rec := &recordingBackend{backend: &backend{app: a, logf: t.Logf}}
	c := startConsole(t, rec, 110, 30)

	// Snapshots loads first, from an empty registry.
	c.waitFor("the empty Snapshots screen", time.Minute, func(s string) bool {
		return strings.Contains(s, "0 images") && strings.Contains(s, "no images in the registry yet") && !strings.Contains(s, "⟳")
	})
	if first := firstLine(c.screen()); !strings.Contains(first, "embedded") || !strings.Contains(first, repoName) {
		t.Errorf("header %q does not name the embedded registry and %s", first, repoName)
	}

	// d opens the confirmation with the plan the run will execute; nothing runs yet.
	c.keys("d")
	c.waitFor("the dev plan", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "Deploy to dev?") && strings.Contains(s, "y/enter deploy")
	})
	plan := c.screen()
	approved := rec.planned()
	if len(approved.Steps) == 0 || approved.Refused() {
		t.Fatalf("the dev plan %+v is empty or refuses:\n%s", approved, plan)
	}
	for _, sp := range approved.Steps {
		if !hasLine(plan, sp.Step, clip(sp.Summary, 30)) {
			t.Errorf("the confirm screen has no line for step %q (%q):\n%s", sp.Step, sp.Summary, plan)
		}
		if sp.Target != "" && !hasLine(plan, "target", clip(sp.Target, 30)) {
			t.Errorf("the confirm screen does not show the target %q of %q:\n%s", sp.Target, sp.Step, plan)
		}
	}
	if out, _ := exec.Command("docker", "-H", dockerHost, "inspect", container).CombinedOutput(); !strings.Contains(string(out), "No such") && strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("%s exists before the deploy was confirmed:\n%s", container, out)
	}

	// y starts the run; the Run screen shows its steps until it ends.
	c.keys("y")
	c.waitFor("the run to start", 30*time.Second, func(s string) bool { return strings.Contains(s, "running") })
	c.waitFor("the run to end", 8*time.Minute, func(s string) bool {
		return strings.Contains(s, "✓ succeeded in") || strings.Contains(s, "✗ failed at") || strings.Contains(s, "⊘ cancelled at")
	})
	done := c.screen()
	if !strings.Contains(done, "✓ succeeded in") {
		t.Fatalf("the dev deploy did not succeed:\n%s", done)
	}
	// The run carried out the plan the confirm showed: each step planned the same
	// action, target and key at run time.
	rec.sameAsApproved(t, approved)
	for _, want := range []string{"dev deploy succeeded", tag} {
		if !strings.Contains(done, want) {
			t.Errorf("the finished Run screen lacks %q:\n%s", want, done)
		}
	}
	if strings.Contains(done, "✗") {
		t.Errorf("the finished Run screen shows a failed step:\n%s", done)
	}

	// Snapshots, refreshed with r, lists the new snapshot badged DEV.
	c.keys("1")
	c.waitFor("the Snapshots screen", 10*time.Second, func(s string) bool { return strings.Contains(s, "newest first") })
	c.keys("r")
	c.waitFor("the new snapshot badged DEV", time.Minute, func(s string) bool {
		return !strings.Contains(s, "⟳") && hasLine(s, tag, sha[:7], "DEV")
	})
	if s := c.screen(); !strings.Contains(s, "1 image") {
		t.Errorf("Snapshots does not count one image:\n%s", s)
	}

	// Environments shows the container running the snapshot.
	c.keys("3")
	c.waitFor("dev running the snapshot", time.Minute, func(s string) bool {
		return strings.Contains(s, "Environments") && hasLine(s, "container", container, "● running") &&
			hasLine(s, "image", tag) && hasLine(s, "health", "healthy")
	})
	// The example has no prod host: that is shown as not set up, not as a failure.
	if s := c.screen(); !hasLine(s, "not configured: prod.host is not set") || !hasLine(s, "dev "+tag, "prod not configured") {
		t.Errorf("Environments does not show prod as not configured:\n%s", s)
	}

	// l opens the dev container's log (docker logs --follow on the dev target): it
	// holds the line the example server prints when it starts; / finds it.
	c.keys("l")
	c.waitFor("the server's start line in the log", time.Minute, func(s string) bool {
		return strings.Contains(s, "dev container log") && hasLine(s, "book-shop 1.4.2", sha[:7], "listening on")
	})
	if s := c.screen(); !strings.Contains(s, "● following") {
		t.Errorf("the log view does not follow the log:\n%s", s)
	}
	c.keys("/listen")
	c.keys("\r")
	c.waitFor("the search hit", 10*time.Second, func(s string) bool { return strings.Contains(s, "match 1/1") })
	c.keys("\x1b") // clears the query
	time.Sleep(200 * time.Millisecond)
	c.keys("\x1b") // closes the view
	c.waitFor("the log view to close", 10*time.Second, func(s string) bool { return strings.Contains(s, "Environments") })
	if !waitStreamClosed(rec.backend.app, 10*time.Second) {
		t.Error("the docker logs command did not end when the view closed")
	}

	// @ lists the commands gantry ran on the dev target, the log stream among them.
	c.keys("@")
	c.waitFor("the command log", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "Command log") && hasLine(s, "dev (local)", "container inspect") && hasLine(s, "⊘", "cancelled", "dev (local)", "logs", container)
	})
	c.keys("\x1b")
	time.Sleep(200 * time.Millisecond)

	// History shows the deploy.
	c.keys("5")
	c.waitFor("the deploy in History", time.Minute, func(s string) bool {
		return strings.Contains(s, "History") && hasLine(s, "dev", "tui-tester", tag)
	})
	if s := c.screen(); !hasLine(s, "1 deploy, promote or rollback") || !hasLine(s, "dev", tag, sha[:7], "ok") {
		t.Errorf("History does not show the one deploy:\n%s", s)
	}

	// q quits; the program ends and the deployed app keeps serving.
	c.keys("q")
	final := c.wait(30 * time.Second)
	if _, ok := final.(*ui.Model); !ok {
		t.Errorf("the program ended with a %T, want *ui.Model", final)
	}
	if c.out.Len() == 0 {
		t.Error("the program rendered nothing to its output")
	}
	body, err := testbed.Get(fmt.Sprintf("http://127.0.0.1:%d/", appPort))
	if err != nil {
		t.Fatalf("the app on :%d does not answer after the console quit: %v", appPort, err)
	}
	if !strings.Contains(body, "1.4.2") || !strings.Contains(body, sha) {
		t.Fatalf("the app on :%d answers %q, want version 1.4.2 and commit %s", appPort, body, sha)
	}
}

// TestTUIRollbackDevEndToEnd deploys two commits to the local dev target, then rolls
// dev back in the console: the confirm shows the plan (every step, its target), the
// run plans the very same steps, targets and keys, and dev-app then runs the first
// commit's snapshot again.
func TestTUIRollbackDevEndToEnd(t *testing.T) {
	dockerHost := testbed.Docker(t)
	if _, err := exec.LookPath("docker"); err != nil {
		if testbed.Required() {
			t.Fatal("the docker CLI is not installed although the test bed needs it")
		}
		t.Skip("the docker CLI is not installed: the local dev target needs it")
	}
	t.Setenv("DOCKER_HOST", dockerHost)
	if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		t.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GANTRY_DATA_DIR", t.TempDir())
	regAddr := fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t))
	repoName := "book-shop-tui-rb-" + testbed.Suffix()
	t.Setenv("GANTRY_REGISTRY_KIND", "embedded")
	t.Setenv("GANTRY_REGISTRY_HOST", regAddr)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", repoName)
	t.Setenv("GANTRY_DEV_TARGET", "local")
	container := "dev-tui-rb-" + testbed.Suffix()
	t.Setenv("GANTRY_DEV_CONTAINER", container)
	t.Setenv("GANTRY_DEV_PORTS", fmt.Sprintf("%d:8000", testbed.FreePort(t)))
	t.Setenv("GANTRY_WHO", "tui-tester")
	tuiCleanupEngine(t, dockerHost, container, regAddr+"/"+repoName)

	dir := tuiBookShop(t)
	first := gitIn(t, dir, "rev-parse", "HEAD")
	cfg, err := config.Load(config.Options{Dir: dir, Env: os.LookupEnv})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(cfg, app.Options{AllowDirty: true, Warn: func(s string) { t.Logf("warning: %s", s) }, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	deploy := func() {
		t.Helper()
		if _, err := a.Execute(t.Context(), "dev", a.Dev(app.DevOptions{}), pipeline.SinkFunc(func(pipeline.Event) {}), nil); err != nil {
			t.Fatalf("dev deploy: %v", err)
		}
	}
	deploy()
	if err := os.WriteFile(dir+"/CHANGES.md", []byte("second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "second")
	second := gitIn(t, dir, "rev-parse", "HEAD")
	deploy()
	running := func() string {
		out, _ := exec.Command("docker", "-H", dockerHost, "inspect", "--format", "{{.Config.Image}}", container).Output()
		return strings.TrimSpace(string(out))
	}
	if img := running(); !strings.Contains(img, second[:7]) {
		t.Fatalf("after two deploys %s runs %q, want the snapshot of %s", container, img, second[:7])
	}

	rec := &recordingBackend{backend: &backend{app: a, logf: t.Logf}}
	c := startConsole(t, rec, 120, 40)
	c.waitFor("the Snapshots screen", time.Minute, func(s string) bool { return strings.Contains(s, "2 images") })
	c.keys("3")
	c.waitFor("Environments", 30*time.Second, func(s string) bool { return strings.Contains(s, "Environments") && strings.Contains(s, second[:7]) })
	c.keys("b")
	c.waitFor("the rollback plan", time.Minute, func(s string) bool {
		return strings.Contains(s, "Roll back dev?") && (strings.Contains(s, "y/enter roll back") || strings.Contains(s, "will not run"))
	})
	confirm := c.screen()
	approved := rec.planned()
	if approved.Refused() || len(approved.Steps) == 0 {
		t.Fatalf("the rollback plan %+v refuses or is empty:\n%s", approved, confirm)
	}
	for _, sp := range approved.Steps {
		if !hasLine(confirm, sp.Step) {
			t.Errorf("the confirm has no line for step %q:\n%s", sp.Step, confirm)
		}
		if sp.Target != "" && !hasLine(confirm, "target", clip(sp.Target, 30)) {
			t.Errorf("the confirm does not show the target %q of %q:\n%s", sp.Target, sp.Step, confirm)
		}
	}
	if running() == "" {
		t.Fatal("dev-app is gone before the rollback was confirmed")
	}
	c.keys("y")
	c.waitFor("the rollback to end", 5*time.Minute, func(s string) bool {
		return strings.Contains(s, "✓ succeeded in") || strings.Contains(s, "✗ failed at")
	})
	if s := c.screen(); !strings.Contains(s, "✓ succeeded in") {
		t.Fatalf("the rollback did not succeed:\n%s", s)
	}
	rec.sameAsApproved(t, approved)
	if img := running(); !strings.Contains(img, first[:7]) {
		t.Fatalf("after the rollback %s runs %q, want the snapshot of %s", container, img, first[:7])
	}
	c.keys("q")
	c.wait(30 * time.Second)
}

// console is a real tea.Program over the console model: keys go in through its
// input as a terminal would send them, and the screen is read from the model.
type console struct {
	t    *testing.T
	p    *tea.Program
	in   *io.PipeWriter
	out  *syncBuffer
	done chan tea.Model
	err  error

	mu   sync.Mutex
	text string // the last frame, without ANSI codes
}

// consolePing makes the program render a fresh frame into console.text.
type consolePing struct{}

func startConsole(t *testing.T, b ui.Backend, w, h int) *console {
	t.Helper()
	pr, pw := io.Pipe()
	c := &console{t: t, in: pw, out: &syncBuffer{}, done: make(chan tea.Model, 1)}
	// Bubble Tea v2 writes only what changed to its output, so the screen is
	// read from the model's View, on the program's goroutine, before each message.
	filter := func(m tea.Model, msg tea.Msg) tea.Msg {
		text := ansi.Strip(m.View().Content)
		c.mu.Lock()
		c.text = text
		c.mu.Unlock()
		return msg
	}
	c.p = tea.NewProgram(ui.New(b, ui.Options{}), tea.WithInput(pr), tea.WithOutput(c.out),
		tea.WithWindowSize(w, h), tea.WithoutSignalHandler(), tea.WithFilter(filter))
	go func() {
		m, err := c.p.Run()
		c.err = err
		c.done <- m
	}()
	t.Cleanup(func() {
		c.p.Kill()
		_ = pr.Close()
		_ = pw.Close()
	})
	return c
}

// keys types s into the program's input, byte by byte as a terminal sends keys.
func (c *console) keys(s string) {
	c.t.Helper()
	if _, err := c.in.Write([]byte(s)); err != nil {
		c.t.Fatalf("type %q: %v", s, err)
	}
}

func (c *console) screen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text
}

// waitFor polls the rendered screen until cond holds or d passes.
func (c *console) waitFor(what string, d time.Duration, cond func(screen string) bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		select {
		case <-c.done:
			c.t.Fatalf("the program ended (%v) while waiting for %s; last screen:\n%s", c.err, what, c.screen())
		default:
		}
		c.p.Send(consolePing{})
		time.Sleep(25 * time.Millisecond)
		s := c.screen()
		if cond(s) {
			c.t.Logf("%s:\n%s", what, s)
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", d, what, s)
		}
	}
}

// wait returns the final model once the program ends.
func (c *console) wait(d time.Duration) tea.Model {
	c.t.Helper()
	select {
	case m := <-c.done:
		if c.err != nil {
			c.t.Fatalf("program: %v", c.err)
		}
		return m
	case <-time.After(d):
		c.t.Fatalf("the program did not end within %s; screen:\n%s", d, c.screen())
		return nil
	}
}

// syncBuffer is the program's output; the renderer writes from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	n  int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += len(p)
	return len(p), nil
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// hasLine reports whether one line of screen contains every part.
func hasLine(screen string, parts ...string) bool {
	for _, l := range strings.Split(screen, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// tuiBookShop copies examples/book-shop (without build output) into a new git
// repository on branch dev with one commit, and returns its folder.
func tuiBookShop(t *testing.T) string {
	t.Helper()
	dir := testbed.ExampleApp(t)
	gitIn(t, dir, "init", "-q", "-b", "dev")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

// tuiCleanupEngine removes the test's containers and images from the test engine at the end.
func tuiCleanupEngine(t *testing.T, dockerHost, container, imageRepo string) {
	t.Helper()
	t.Cleanup(func() {
		docker := func(args ...string) string {
			out, _ := exec.Command("docker", append([]string{"-H", dockerHost}, args...)...).Output()
			return strings.TrimSpace(string(out))
		}
		docker("rm", "-f", container, container+"-next")
		if ids := strings.Fields(docker("images", "-q", "--filter", "reference="+imageRepo)); len(ids) > 0 {
			// --no-prune: parents may be shared with a build another test runs now.
			docker(append([]string{"rmi", "-f", "--no-prune"}, ids...)...)
		}
	})
}

// recordingBackend keeps the plan the confirm got and the plans the run's steps made.
type recordingBackend struct {
	*backend
	mu   sync.Mutex
	plan pipeline.Plan
	ran  []pipeline.StepPlan
}

func (r *recordingBackend) PlanDev(ctx context.Context) (pipeline.Plan, error) {
	p, err := r.backend.PlanDev(ctx)
	r.mu.Lock()
	r.plan = p
	r.mu.Unlock()
	return p, err
}

func (r *recordingBackend) PlanRollback(ctx context.Context, env string) (pipeline.Plan, error) {
	p, err := r.backend.PlanRollback(ctx, env)
	r.mu.Lock()
	r.plan = p
	r.mu.Unlock()
	return p, err
}

func (r *recordingBackend) RunDev(ctx context.Context, approved pipeline.Plan, sink pipeline.Sink) error {
	return r.backend.RunDev(ctx, approved, r.recorder(sink))
}

func (r *recordingBackend) RunRollback(ctx context.Context, env string, approved pipeline.Plan, sink pipeline.Sink) error {
	return r.backend.RunRollback(ctx, env, approved, r.recorder(sink))
}

// recorder passes events on to sink and keeps every StepPlanned's plan.
func (r *recordingBackend) recorder(sink pipeline.Sink) pipeline.Sink {
	return pipeline.SinkFunc(func(e pipeline.Event) {
		if sp, ok := e.(pipeline.StepPlanned); ok {
			r.mu.Lock()
			r.ran = append(r.ran, sp.Plan)
			r.mu.Unlock()
		}
		sink.Emit(e)
	})
}

// sameAsApproved fails t unless the run planned exactly the approved steps: the
// same step, action, target and key, one by one.
func (r *recordingBackend) sameAsApproved(t *testing.T, approved pipeline.Plan) {
	t.Helper()
	ran := r.ranPlans()
	if len(ran) != len(approved.Steps) {
		t.Fatalf("the run planned %d steps, the confirm showed %d", len(ran), len(approved.Steps))
	}
	for i, sp := range approved.Steps {
		if ran[i].Step != sp.Step || ran[i].Target != sp.Target || ran[i].Key != sp.Key || !ran[i].Agrees(sp) {
			t.Errorf("step %d: the confirm showed %q %s → %q [%s], the run did %q %s → %q [%s]", i, sp.Step, sp.Action, sp.Target, sp.Key, ran[i].Step, ran[i].Action, ran[i].Target, ran[i].Key)
		}
	}
}

func (r *recordingBackend) planned() pipeline.Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan
}

func (r *recordingBackend) ranPlans() []pipeline.StepPlan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.StepPlan(nil), r.ran...)
}

// clip keeps the start of s that fits a narrow column of the confirm.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// waitStreamClosed reports whether the app recorded a finished `docker logs` command
// (the record is written when the command ends) within d.
func waitStreamClosed(a *app.App, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, r := range a.CommandLog() {
			if strings.Contains(r.Cmd, " logs ") && strings.Contains(r.Cmd, "--follow") {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
