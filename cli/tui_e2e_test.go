package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/uitest"
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

	rec := uitest.Record(&backend{app: a, logf: t.Logf})
	c := uitest.Start(t, rec.Console(), 110, 30)

	// Snapshots loads first, from an empty registry.
	c.WaitFor("the empty Snapshots screen", time.Minute, func(s string) bool {
		return strings.Contains(s, "0 images") && strings.Contains(s, "no images in the registry yet") && !strings.Contains(s, "⟳")
	})
	if first := firstLine(c.Screen()); !strings.Contains(first, "embedded") || !strings.Contains(first, repoName) {
		t.Errorf("header %q does not name the embedded registry and %s", first, repoName)
	}

	// d opens the confirmation with the plan the run will execute; nothing runs yet.
	c.Keys("d")
	c.WaitFor("the dev plan", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "Deploy to dev?") && strings.Contains(s, "y/enter deploy")
	})
	plan := c.Screen()
	approved := rec.Planned()
	if len(approved.Steps) == 0 || approved.Refused() {
		t.Fatalf("the dev plan %+v is empty or refuses:\n%s", approved, plan)
	}
	for _, sp := range approved.Steps {
		if !uitest.HasLine(plan, sp.Step, uitest.Clip(sp.Summary, 30)) {
			t.Errorf("the confirm screen has no line for step %q (%q):\n%s", sp.Step, sp.Summary, plan)
		}
		if sp.Target != "" && !uitest.HasLine(plan, "target", uitest.Clip(sp.Target, 30)) {
			t.Errorf("the confirm screen does not show the target %q of %q:\n%s", sp.Target, sp.Step, plan)
		}
	}
	if out, _ := exec.Command("docker", "-H", dockerHost, "inspect", container).CombinedOutput(); !strings.Contains(string(out), "No such") && strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("%s exists before the deploy was confirmed:\n%s", container, out)
	}

	// y starts the run; the Run screen shows its steps until it ends.
	c.Keys("y")
	c.WaitFor("the run to start", 30*time.Second, func(s string) bool { return strings.Contains(s, "running") })
	c.WaitFor("the run to end", 8*time.Minute, func(s string) bool {
		return strings.Contains(s, "✓ succeeded in") || strings.Contains(s, "✗ failed at") || strings.Contains(s, "⊘ cancelled at")
	})
	done := c.Screen()
	if !strings.Contains(done, "✓ succeeded in") {
		t.Fatalf("the dev deploy did not succeed:\n%s", done)
	}
	// The run carried out the plan the confirm showed: each step planned the same
	// action, target and key at run time.
	rec.SameAsApproved(t, approved)
	for _, want := range []string{"dev deploy succeeded", tag} {
		if !strings.Contains(done, want) {
			t.Errorf("the finished Run screen lacks %q:\n%s", want, done)
		}
	}
	if strings.Contains(done, "✗") {
		t.Errorf("the finished Run screen shows a failed step:\n%s", done)
	}

	// Snapshots, refreshed with r, lists the new snapshot badged DEV.
	c.Keys("1")
	c.WaitFor("the Snapshots screen", 10*time.Second, func(s string) bool { return strings.Contains(s, "newest first") })
	c.Keys("r")
	c.WaitFor("the new snapshot badged DEV", time.Minute, func(s string) bool {
		return !strings.Contains(s, "⟳") && uitest.HasLine(s, tag, sha[:7], "DEV")
	})
	if s := c.Screen(); !strings.Contains(s, "1 image") {
		t.Errorf("Snapshots does not count one image:\n%s", s)
	}

	// Environments shows the container running the snapshot.
	c.Keys("3")
	c.WaitFor("dev running the snapshot", time.Minute, func(s string) bool {
		return strings.Contains(s, "Environments") && uitest.HasLine(s, "container", container, "● running") &&
			uitest.HasLine(s, "image", tag) && uitest.HasLine(s, "health", "healthy")
	})
	// The example has no prod host: that is shown as not set up, not as a failure.
	if s := c.Screen(); !uitest.HasLine(s, "not configured: prod.host is not set") || !uitest.HasLine(s, "dev "+tag, "prod not configured") {
		t.Errorf("Environments does not show prod as not configured:\n%s", s)
	}

	// l opens the dev container's log (docker logs --follow on the dev target): it
	// holds the line the example server prints when it starts; / finds it.
	c.Keys("l")
	c.WaitFor("the server's start line in the log", time.Minute, func(s string) bool {
		return strings.Contains(s, "dev container log") && uitest.HasLine(s, "book-shop 1.4.2", sha[:7], "listening on")
	})
	if s := c.Screen(); !strings.Contains(s, "● following") {
		t.Errorf("the log view does not follow the log:\n%s", s)
	}
	c.Keys("/listen")
	c.Keys("\r")
	c.WaitFor("the search hit", 10*time.Second, func(s string) bool { return strings.Contains(s, "match 1/1") })
	c.Keys("\x1b") // clears the query
	time.Sleep(200 * time.Millisecond)
	c.Keys("\x1b") // closes the view
	c.WaitFor("the log view to close", 10*time.Second, func(s string) bool { return strings.Contains(s, "Environments") })
	if !waitStreamClosed(a, 10*time.Second) {
		t.Error("the docker logs command did not end when the view closed")
	}

	// @ lists the commands gantry ran on the dev target, the log stream among them.
	c.Keys("@")
	c.WaitFor("the command log", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "Command log") && uitest.HasLine(s, "dev (local)", "container inspect") && uitest.HasLine(s, "⊘", "cancelled", "dev (local)", "logs", container)
	})
	c.Keys("\x1b")
	time.Sleep(200 * time.Millisecond)

	// History shows the deploy.
	c.Keys("5")
	c.WaitFor("the deploy in History", time.Minute, func(s string) bool {
		return strings.Contains(s, "History") && uitest.HasLine(s, "dev", "tui-tester", tag)
	})
	if s := c.Screen(); !uitest.HasLine(s, "1 deploy, promote or rollback") || !uitest.HasLine(s, "dev", tag, sha[:7], "ok") {
		t.Errorf("History does not show the one deploy:\n%s", s)
	}

	// q quits; the program ends and the deployed app keeps serving.
	c.Keys("q")
	final := c.Wait(30 * time.Second)
	if _, ok := final.(*ui.Model); !ok {
		t.Errorf("the program ended with a %T, want *ui.Model", final)
	}
	if c.Written() == 0 {
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

	rec := uitest.Record(&backend{app: a, logf: t.Logf})
	c := uitest.Start(t, rec.Console(), 120, 40)
	c.WaitFor("the Snapshots screen", time.Minute, func(s string) bool { return strings.Contains(s, "2 images") })
	c.Keys("3")
	c.WaitFor("Environments", 30*time.Second, func(s string) bool { return strings.Contains(s, "Environments") && strings.Contains(s, second[:7]) })
	c.Keys("b")
	c.WaitFor("the rollback plan", time.Minute, func(s string) bool {
		return strings.Contains(s, "Roll back dev?") && (strings.Contains(s, "y/enter roll back") || strings.Contains(s, "will not run"))
	})
	confirm := c.Screen()
	approved := rec.Planned()
	if approved.Refused() || len(approved.Steps) == 0 {
		t.Fatalf("the rollback plan %+v refuses or is empty:\n%s", approved, confirm)
	}
	for _, sp := range approved.Steps {
		if !uitest.HasLine(confirm, sp.Step) {
			t.Errorf("the confirm has no line for step %q:\n%s", sp.Step, confirm)
		}
		if sp.Target != "" && !uitest.HasLine(confirm, "target", uitest.Clip(sp.Target, 30)) {
			t.Errorf("the confirm does not show the target %q of %q:\n%s", sp.Target, sp.Step, confirm)
		}
	}
	if running() == "" {
		t.Fatal("dev-app is gone before the rollback was confirmed")
	}
	c.Keys("y")
	c.WaitFor("the rollback to end", 5*time.Minute, func(s string) bool {
		return strings.Contains(s, "✓ succeeded in") || strings.Contains(s, "✗ failed at")
	})
	if s := c.Screen(); !strings.Contains(s, "✓ succeeded in") {
		t.Fatalf("the rollback did not succeed:\n%s", s)
	}
	rec.SameAsApproved(t, approved)
	if img := running(); !strings.Contains(img, first[:7]) {
		t.Fatalf("after the rollback %s runs %q, want the snapshot of %s", container, img, first[:7])
	}
	c.Keys("q")
	c.Wait(30 * time.Second)
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
