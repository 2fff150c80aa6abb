package docker

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// exampleApp copies examples/book-shop and compiles its server as build.prepare does.
func exampleApp(t testing.TB) string {
	t.Helper()
	dir := testbed.ExampleApp(t)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "../dist/book-shop", ".")
	cmd.Dir = filepath.Join(dir, "server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prepare: %v\n%s", err, out)
	}
	return dir
}

// TestExampleBuildKit builds the example app's Dockerfile (cache mount, COPY
// --chmod/--link) offline, runs it, and rebuilds a code-only change with the
// dependency stage cached.
func TestExampleBuildKit(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	dir := exampleApp(t)
	// Unique dependencies: no earlier run's cache can satisfy the first build.
	deps := uniqueName("django")
	pyproject := filepath.Join(dir, "pyproject.toml")
	data, err := os.ReadFile(pyproject)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"pyproject.toml": strings.Replace(string(data), `"django>=5.0"`, `"`+deps+`"`, 1)})
	tag := uniqueName("gantry-test/example") + ":1"
	var logs logCollector
	id, err := e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag}, Args: map[string]string{"VERSION": "1.4.2"}}, logs.log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs.all(), "\n"))
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), tag) })
	if !logs.contains("building wheels") {
		t.Errorf("the deps step did not run:\n%s", strings.Join(logs.all(), "\n"))
	}
	if got, _ := fileInImage(t, e, id, "/deps/installed.txt"); got != deps+"\n" {
		t.Errorf("installed deps %q", got)
	}
	if _, ok := fileInImage(t, e, id, "/root/.cache/pip"); ok {
		t.Error("the pip cache mount is in the image")
	}

	// The server starts and keeps serving.
	if code := runFor(t, e, tag, 2*time.Second); code != -1 {
		t.Errorf("server exited (%d) instead of serving", code)
	}

	// A code change (the binary the deps stage also runs): the step runs again
	// and finds its wheels in the cache mount the engine kept.
	bin := filepath.Join(dir, "dist", "book-shop")
	f, err := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(uniqueName("code"))
	f.Close()
	var again logCollector
	if _, err := e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag}}, again.log); err != nil {
		t.Fatal(err)
	}
	if !again.contains("using cached wheels") {
		t.Errorf("rebuild did not use the cache mount:\n%s", strings.Join(again.all(), "\n"))
	}
}

// runFor starts the image and returns its exit code if it stops within d,
// else -1 (still running; it is removed).
func runFor(t *testing.T, e *Engine, image string, d time.Duration) int {
	t.Helper()
	ctx := testContext(t)
	c, err := e.cli.ContainerCreate(ctx, &container.Config{Image: image}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	waitC, errC := e.cli.ContainerWait(ctx, c.ID, container.WaitConditionNextExit)
	if err := e.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-waitC:
		return int(w.StatusCode)
	case err := <-errC:
		t.Fatal(err)
	case <-time.After(d):
	}
	return -1
}
