package docker

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// testDockerHost is the test bed's dockerd, or skips.
func testDockerHost(tb testing.TB) string {
	tb.Helper()
	return testbed.Docker(tb)
}

// testRegistry is the test bed's plain-http registry (127.0.0.1:PORT), or skips.
func testRegistry(tb testing.TB) string {
	tb.Helper()
	return testbed.Registry(tb)
}

// newTestEngine connects to the test dockerd and checks it answers.
func newTestEngine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := New(testDockerHost(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	if err := e.Ping(testContext(tb)); err != nil {
		tb.Fatal(err)
	}
	return e
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// uniqueName makes image names and file contents that no other test run shares,
// so that the engine's cache from earlier runs cannot satisfy a test.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
	probeDir  string
)

// probeBinary builds testdata/probe as a static binary, once per test binary.
func probeBinary(tb testing.TB) string {
	tb.Helper()
	probeOnce.Do(func() {
		probeDir, probeErr = os.MkdirTemp("", "gantry-probe-")
		if probeErr != nil {
			return
		}
		probePath = filepath.Join(probeDir, "probe")
		cmd := exec.Command("go", "build", "-trimpath", "-o", probePath, "./testdata/probe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = errors.New("build probe: " + err.Error() + ": " + string(out))
		}
	})
	if probeErr != nil {
		tb.Fatal(probeErr)
	}
	return probePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if probeDir != "" {
		os.RemoveAll(probeDir)
	}
	os.Exit(code)
}

// writeTree creates files (slash paths relative to dir) with the given contents.
func writeTree(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// copyProbe puts the probe binary into the context directory as "probe".
func copyProbe(tb testing.TB, dir string) {
	tb.Helper()
	data, err := os.ReadFile(probeBinary(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), data, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// fileInImage reads path from the image's filesystem through a created
// (never started) container; ok is false when the path is absent.
func fileInImage(tb testing.TB, e *Engine, imageID, path string) (content string, ok bool) {
	tb.Helper()
	ctx := testContext(tb)
	c, err := e.cli.ContainerCreate(ctx, &container.Config{Image: imageID, Cmd: []string{"/probe", "true"}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		tb.Fatal(err)
	}
	defer e.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	rc, _, err := e.cli.CopyFromContainer(ctx, c.ID, path)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", false
		}
		tb.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		tb.Fatal(err)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data), true
}

// logCollector gathers log lines; safe for concurrent use.
type logCollector struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCollector) log(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, line)
}

func (c *logCollector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

func (c *logCollector) contains(sub string) bool {
	for _, l := range c.all() {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// cachedSteps maps each classic-builder step's instruction ("COPY . /app")
// to whether it used the cache.
func cachedSteps(lines []string) map[string]bool {
	steps := map[string]bool{}
	step := ""
	for _, l := range lines {
		if loc := stepLine.FindStringIndex(l); loc != nil {
			step = l[loc[1]:]
			steps[step] = false
			continue
		}
		if step != "" && strings.Contains(l, "Using cache") {
			steps[step] = true
		}
	}
	return steps
}
