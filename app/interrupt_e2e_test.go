package app_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// helperEnv makes the test binary run gantry itself (see TestMain in main_test.go): a
// real process the tests can interrupt and kill, as GitHub Actions or a user would.
const helperEnv = "GANTRY_TEST_RUN_GANTRY"

// gantryProcess is gantry running as a child process, its output collected.
type gantryProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen chan struct{}
	want string
	done chan struct{}
}

// startGantry runs gantry in dir as a child process and signals seen once a line of its
// output contains want.
func startGantry(t *testing.T, dir, want string, args ...string) *gantryProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--dir", dir, "--output", "plain", "--no-color"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &gantryProcess{cmd: cmd, seen: make(chan struct{}), want: want, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), want) {
				once.Do(func() { close(p.seen) })
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

func (p *gantryProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitSeen waits until the process printed the line it waits for.
func (p *gantryProcess) waitSeen(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.seen:
	case <-p.done:
		t.Fatalf("gantry ended before printing %q:\n%s", p.want, p.output())
	case <-time.After(within):
		t.Fatalf("gantry did not print %q within %s:\n%s", p.want, within, p.output())
	}
}

// wait waits for the process to end and returns its exit code.
func (p *gantryProcess) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("gantry did not end within %s:\n%s", within, p.output())
	}
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return 0
}

// TestPromoteInterruptedProcess promotes a version whose pods never pull, as a real
// gantry process: SIGTERM (what GitHub sends a cancelled job) during `rollout status`
// undoes the rollout before the process exits; SIGKILL leaves the rollout stuck and the
// lock held, and a plain re-run takes the lock over once the dead run's lease expires,
// recognises the stuck rollout, puts the last good version back, and never publishes.
func TestPromoteInterruptedProcess(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	reg := testbed.Registry(t)
	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	_, digest := p.pushSnapshot("", "1.4.2", head)
	good := reg + "/" + p.repoName + ":v1.4.2@" + digest
	wantCode(t, gantry(t, p.Dir, "promote", "--ci"), 0, "promote 1.4.2")

	p.git("checkout", "-q", "dev")
	devTip := p.setVersion("1.4.3")
	p.git("checkout", "-q", "main")
	p.git("merge", "-q", "--ff-only", "dev")
	p.publish()
	nopull := "gantry/book-shop-nopull-" + testbed.Suffix()
	p.pushSnapshot(nopull, "1.4.3", devTip)
	t.Setenv("GANTRY_REGISTRY_REPOSITORY", nopull)

	servesGood := func(when string) {
		t.Helper()
		if d := p.deployment(); d.Images["django-container"] != good || p.readyPods()[good] != 2 {
			t.Fatalf("%s: deployment %+v, ready %v; want the last good %s serving", when, d, p.readyPods(), good)
		}
		if rel, ok := p.release("1.4.3"); ok && !rel.Draft {
			t.Fatalf("%s: release 1.4.3 was published although it never went live", when)
		}
		if l := p.latestRelease(); l != "1.4.2" {
			t.Fatalf("%s: latest release %q, want 1.4.2", when, l)
		}
	}

	// SIGTERM while `rollout status` waits on pods that never pull.
	run := startGantry(t, p.Dir, "kubectl rollout status", "promote", "--ci")
	run.waitSeen(t, 3*time.Minute)
	time.Sleep(500 * time.Millisecond)
	if err := run.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := run.wait(t, 2*time.Minute)
	out := run.output()
	t.Logf("SIGTERM run → %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "undoing it") {
		t.Fatalf("a SIGTERM during the rollout must undo it and fail (exit %d)", code)
	}
	servesGood("after SIGTERM")

	// SIGKILL: nothing of gantry runs any more; the rollout is left stuck, the lock held.
	run = startGantry(t, p.Dir, "kubectl rollout status", "promote", "--ci")
	run.waitSeen(t, 3*time.Minute)
	time.Sleep(500 * time.Millisecond)
	if err := run.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	run.wait(t, time.Minute)
	if d := p.deployment(); !strings.Contains(d.Images["django-container"], nopull) {
		t.Fatalf("after SIGKILL the deployment should be left on the broken image: %+v", d)
	}

	// A plain re-run converges with no manual step.
	start := time.Now()
	r := gantry(t, p.Dir, "promote", "--ci")
	took := time.Since(start)
	if r.Code != 1 {
		t.Fatalf("re-run of the never-pulling 1.4.3 exited %d, want 1 (it fails again, after putting 1.4.2 back)", r.Code)
	}
	for _, want := range []string{"took over the prod lock", "an earlier run left revision"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("re-run output lacks %q", want)
		}
	}
	servesGood("after the re-run")
	t.Logf("the re-run after SIGKILL took %s (lease expiry included)", took.Round(time.Second))
}
