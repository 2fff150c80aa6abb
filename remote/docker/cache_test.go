package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freshEngine starts a private dockerd with an empty data root in a temp
// dir (about a second) and stops it when the test ends: a fresh CI runner.
func freshEngine(tb testing.TB) *Engine {
	tb.Helper()
	testDockerHost(tb) // the bed is up, so dockerd is installed
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		if os.Getenv("GANTRY_TESTBED_REQUIRED") != "" {
			tb.Fatal("dockerd not installed")
		}
		tb.Skip("dockerd not installed")
	}
	// Short: the socket path must stay under the 108-byte limit.
	dir, err := os.MkdirTemp("", "gbk-")
	if err != nil {
		tb.Fatal(err)
	}
	ns := "gantry-test-" + filepath.Base(dir)
	sock := filepath.Join(dir, "sock")
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "--host", "unix://"+sock,
		"--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"-plugins",
		"--insecure-registry", "127.0.0.0/8", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		os.RemoveAll(dir)
	})
	e, err := New("unix://" + sock)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := e.Ping(ctx)
		cancel()
		if err == nil {
			return e
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			tb.Fatalf("fresh dockerd did not start: %v\n%s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// depsDockerfile has a slow dependency step (the stand-in for pip install)
// under the app code, as a real Python image has.
const depsDockerfile = `FROM scratch AS deps
COPY probe /probe
COPY requirements.txt /deps/
RUN --network=none --mount=type=cache,target=/cache ["/probe", "count", "/cache/n", "/deps/installed"]
RUN --network=none ["/probe", "sleep", "4"]

FROM deps AS app
COPY app.py /app/
`

// vertexCached reports whether the log shows the step named like sub as CACHED.
func vertexCached(lines []string, sub string) (seen, cached bool) {
	num := ""
	for _, l := range lines {
		n, rest, _ := strings.Cut(l, " ")
		if num == "" && strings.Contains(rest, sub) {
			num, seen = n, true
			continue
		}
		if num != "" && n == num && rest == "CACHED" {
			cached = true
		}
	}
	return seen, cached
}

// TestBuildKitCacheFreshEngine builds on the bed's engine with the cache
// exported to the registry, then rebuilds an app-code-only change on a fresh
// engine: the dependency steps come from the registry cache.
func TestBuildKitCacheFreshEngine(t *testing.T) {
	bed := newTestEngine(t)
	reg := testRegistry(t)
	repo := reg + "/" + uniqueName("gantry-test/cache")
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": depsDockerfile, "requirements.txt": uniqueName("django"), "app.py": "v1\n"})
	copyProbe(t, dir)
	ctx := testContext(t)

	first := repo + ":1.0.0-SNAPSHOT-aaaaaaa"
	var logs logCollector
	opts := BuildOptions{ContextDir: dir, Tags: []string{first}, Cache: CacheRegistry, CacheRef: repo + ":buildcache"}
	if _, err := bed.Build(ctx, opts, logs.log); err != nil {
		t.Fatalf("first build: %v\n%s", err, strings.Join(logs.all(), "\n"))
	}
	t.Cleanup(func() { bed.ImageRemove(context.Background(), first) })
	if _, err := bed.Push(ctx, first, Auth{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("first build log:\n%s", strings.Join(logs.all(), "\n"))

	// App code changes; the fresh engine has nothing but the registry.
	writeTree(t, dir, map[string]string{"app.py": "v2\n"})
	fresh := freshEngine(t)
	second := repo + ":1.0.0-SNAPSHOT-bbbbbbb"
	var again logCollector
	opts.Tags = []string{second}
	opts.CacheFrom = []string{first} // the previous snapshot, for engines that can only import inline cache
	start := time.Now()
	id, err := fresh.Build(ctx, opts, again.log)
	withCache := time.Since(start)
	if err != nil {
		t.Fatalf("fresh build: %v\n%s", err, strings.Join(again.all(), "\n"))
	}
	lines := again.all()
	t.Logf("fresh build log:\n%s", strings.Join(lines, "\n"))
	for _, step := range []string{"--mount=type=cache", `"sleep", "4"]`} {
		if seen, cached := vertexCached(lines, step); !seen || !cached {
			t.Errorf("fresh engine: step %s seen=%v cached=%v\n%s", step, seen, cached, strings.Join(lines, "\n"))
		}
	}
	if seen, cached := vertexCached(lines, "COPY app.py"); !seen || cached {
		t.Errorf("the changed app code was not rebuilt:\n%s", strings.Join(lines, "\n"))
	}
	if got, _ := fileInImage(t, fresh, id, "/app/app.py"); got != "v2\n" {
		t.Errorf("app.py %q", got)
	}

	// The same rebuild on another fresh engine without the cache runs every step.
	cold := freshEngine(t)
	start = time.Now()
	if _, err := cold.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{second}}, nil); err != nil {
		t.Fatal(err)
	}
	without := time.Since(start)
	if withCache >= without {
		t.Errorf("the cached rebuild (%v) was not faster than the cold one (%v)", withCache, without)
	}
	t.Logf("fresh-engine rebuild: with registry cache %v, without %v (%.1fx)", withCache, without, without.Seconds()/withCache.Seconds())
}
