package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bookshop-ops/gantry/remote/kubectl"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// histRepo is a real git repository for history tests.
type histRepo struct {
	t   testing.TB
	dir string
}

func newHistRepo(t testing.TB) *histRepo {
	t.Helper()
	h := &histRepo{t: t, dir: t.TempDir()}
	h.git("init", "-q", "-b", "main")
	h.git("config", "user.email", "dev@example.com")
	h.git("config", "user.name", "Dev")
	h.git("config", "commit.gpgsign", "false")
	return h
}

func (h *histRepo) git(args ...string) string {
	h.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", h.dir}, args...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (h *histRepo) write(path, content string) {
	h.t.Helper()
	p := filepath.Join(h.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// commit writes files and commits them, returning the new HEAD.
func (h *histRepo) commit(msg string, files map[string]string) string {
	h.t.Helper()
	for p, c := range files {
		h.write(p, c)
	}
	h.git("add", "-A")
	h.git("commit", "-q", "--allow-empty", "-m", msg)
	return h.git("rev-parse", "HEAD")
}

func (h *histRepo) head() string { return h.git("rev-parse", "HEAD") }

// memImages is an in-memory registry for snapshot-finding unit tests. The promotion
// itself is tested against the real registries.
type memImages struct {
	mu       sync.Mutex
	repo     string
	digests  map[string]string
	labels   map[string]map[string]string
	resolved []string
}

func newMemImages() *memImages {
	return &memImages{repo: "registry.test/book-shop", digests: map[string]string{}, labels: map[string]map[string]string{}}
}

func (m *memImages) add(tag, revision string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := "sha256:" + strings.Repeat(fmt.Sprintf("%x", len(m.digests)%16), 64)
	m.digests[tag] = d
	if revision != "" {
		m.labels[tag] = map[string]string{RevisionLabel: revision}
	}
	return d
}

func (m *memImages) Resolve(_ context.Context, tag string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resolved = append(m.resolved, tag)
	d, ok := m.digests[tag]
	if !ok {
		return "", fmt.Errorf("resolve %s: %w", tag, registry.ErrNotFound)
	}
	return d, nil
}

func (m *memImages) Labels(_ context.Context, tag string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.digests[tag]; !ok {
		return nil, fmt.Errorf("labels of %s: %w", tag, registry.ErrNotFound)
	}
	return m.labels[tag], nil
}

// uniq returns prefix-<8 hex>, keeping tests that share a peer apart.
func uniq(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// logReporter is a Reporter that keeps what a step reports.
type logReporter struct {
	mu      sync.Mutex
	logs    []string
	secrets []string
	set     map[string]string
}

func (r *logReporter) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *logReporter) Writer() io.Writer { return io.Discard }

func (r *logReporter) Progress(done, total int64, unit string) {}

func (r *logReporter) Warn(format string, args ...any) { r.Logf("warning: "+format, args...) }

func (r *logReporter) Secret(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, v)
}

func (r *logReporter) Set(k, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[string]string{}
	}
	r.set[k] = v
}

func (r *logReporter) Text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

// prodHost dials the test bed's SSH host, whose `microk8s kubectl` reaches the test cluster.
func prodHost(t testing.TB) *sshhost.Client {
	t.Helper()
	p := testbed.SSH(t)
	c, err := sshhost.Dial(context.Background(), sshhost.Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts})
	if err != nil {
		t.Fatalf("dial %s: %v", p, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kubeNamespace creates a namespace of its own for a test on the real cluster and
// deletes it afterwards.
func kubeNamespace(t testing.TB, host hostexec.Runner) kubectl.Client {
	t.Helper()
	testbed.Kubeconfig(t)
	ns := uniq("gantry-prod")
	k := kubectl.Client{Host: host, Command: []string{"microk8s", "kubectl"}}
	if _, err := k.Run(context.Background(), hostexec.RunOptions{}, "create", "namespace", ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		k.Run(context.Background(), hostexec.RunOptions{}, "delete", "namespace", ns, "--wait=false")
	})
	k.Namespace = ns
	return k
}

// testManifest is the example app's manifest without its fixed node port, so tests in
// several namespaces can apply it side by side.
func testManifest(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("../examples/book-shop/k8s/app-prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.Contains(l, "nodePort:") {
			keep = append(keep, l)
		}
	}
	p := filepath.Join(t.TempDir(), "app-prod.yaml")
	if err := os.WriteFile(p, []byte(strings.Join(keep, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
