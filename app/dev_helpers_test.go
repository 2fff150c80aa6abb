package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"golang.org/x/crypto/ssh"

	"github.com/bookshop-ops/gantry/cli"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// Planted secrets: none of them may ever appear in gantry's output.
const (
	plantedAWSSecret   = "planted-aws-secret-Zq8Xk2LmP0"
	plantedRegPassword = "planted-registry-password-Hy7Wq3"
)

// appRepo is a copy of the example book-shop in a temp git repository.
type appRepo struct {
	t   testing.TB
	Dir string
}

func newAppRepo(t testing.TB) *appRepo {
	t.Helper()
	dir := testbed.ExampleApp(t)
	r := &appRepo{t: t, Dir: dir}
	r.git("init", "-q", "-b", "dev")
	r.git("remote", "add", "origin", "https://ci-user:not-a-real-token@github.com/acme/book-shop.git")
	r.commit("initial")
	return r
}

func (r *appRepo) git(args ...string) string {
	r.t.Helper()
	return testbed.Git(r.t, r.Dir, args...)
}

func (r *appRepo) write(rel, content string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.Dir, rel), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// commit commits everything and returns the new HEAD.
func (r *appRepo) commit(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// change makes a new commit that changes the server source, and returns HEAD.
func (r *appRepo) change(msg string) string {
	r.t.Helper()
	f, err := os.OpenFile(filepath.Join(r.Dir, "server", "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	fmt.Fprintf(f, "\n// %s %s\n", msg, testbed.Suffix())
	f.Close()
	return r.commit(msg)
}

// run is one gantry invocation.
type run struct {
	Code int
	Out  string
}

// gantry runs the CLI in-process with the process environment (the AWS SDK and the
// SSH key lookup read it too, so tests set it with t.Setenv).
func gantry(t testing.TB, dir string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	w := &lockedWriter{w: &out}
	code := cli.Execute(ctx, append([]string{"--dir", dir, "--output", "plain", "--no-color"}, args...), strings.NewReader(""), w, w, os.LookupEnv)
	t.Logf("gantry %s → %d\n%s", strings.Join(args, " "), code, out.String())
	return run{Code: code, Out: out.String()}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// noSecrets fails when any planted secret (or a line of the SSH key) shows in out.
func noSecrets(t testing.TB, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, part := range strings.Split(s, "\n") {
			part = strings.TrimSpace(part)
			if len(part) < 8 || strings.HasPrefix(part, "-----") {
				continue
			}
			if strings.Contains(out, part) {
				t.Errorf("output holds a secret value (%.6s…)", part)
			}
		}
	}
}

// createECRRepo creates a repository in moto.
// mirrorToMoto records repo:tag of the test registry in moto, as real ECR records
// every push: the test bed's pushes reach the Debian registry, which moto never sees.
func mirrorToMoto(t testing.TB, repo, tag string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+testbed.Registry(t)+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	defer resp.Body.Close()
	manifest, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get the manifest of %s:%s: %s %v", repo, tag, resp.Status, err)
	}
	testbed.PutECRManifest(t, testbed.MotoECR(t), repo, tag, manifest, resp.Header.Get("Content-Type"))
}

func createECRRepo(t testing.TB, name string) {
	t.Helper()
	testbed.CreateECRRepo(t, testbed.MotoECR(t), name, false)
}

// inRegistry reports whether the test registry serves repo:tag.
func inRegistry(t testing.TB, registry, repo, tag string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// hostClient dials the test SSH host for checks.
func hostClient(t testing.TB) *sshhost.Client {
	t.Helper()
	p := testbed.SSH(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sshhost.Dial(ctx, sshhost.Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts})
	if err != nil {
		t.Fatalf("dial the test host: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// auditFor returns the host's audit entries for sha, newest first.
func auditFor(t testing.TB, host hostexec.Runner, sha string) []hoststate.AuditEntry {
	t.Helper()
	// Every target's log of the test app (named book-shop in every test's gantry.toml),
	// and the old host-wide log callers naming no app still write.
	res, err := host.Run(context.Background(), hostexec.Raw(`cd "$HOME" && cat .gantry/book-shop/*/audit.log .gantry/audit.log 2>/dev/null; true`), hostexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := hoststate.ParseAudit(res.Stdout, 0)
	sort.SliceStable(all, func(i, j int) bool { return all[i].When.After(all[j].When) })
	var out []hoststate.AuditEntry
	for _, e := range all {
		if e.SHA == sha {
			out = append(out, e)
		}
	}
	return out
}

// removeContainers removes the test's containers from the test engine at the end.
func removeContainers(t testing.TB, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		args := []string{"rm", "-f"}
		for _, n := range names {
			args = append(args, n, n+"-next")
		}
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+testbed.Docker(t))
		_ = cmd.Run()
	})
}

// countingProxy forwards TCP connections to target and counts them.
type countingProxy struct {
	l     net.Listener
	dials atomic.Int64
}

func newCountingProxy(t testing.TB, target string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.dials.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return p
}

func (p *countingProxy) Port() int { return p.l.Addr().(*net.TCPAddr).Port }

// knownHostsFor writes a known_hosts file that vouches for the test host's key at
// 127.0.0.1:port (the key is the host's own unless key is set).
func knownHostsFor(t testing.TB, port int, key ssh.PublicKey) string {
	t.Helper()
	line := ""
	if key != nil {
		line = fmt.Sprintf("[127.0.0.1]:%d %s", port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
	} else {
		data, err := os.ReadFile(testbed.SSH(t).KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(strings.TrimSpace(string(data)))
		if len(f) < 3 {
			t.Fatalf("unexpected known_hosts %q", data)
		}
		line = fmt.Sprintf("[127.0.0.1]:%d %s %s", port, f[1], f[2])
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func otherHostKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sshDevToml is a gantry.toml with the given registry section and an ssh dev target.
func sshDevToml(registry string, sshPort int, knownHosts, container string, appPort int, extraDev string) string {
	if !strings.Contains(extraDev, "health_timeout") {
		extraDev += "\nhealth_timeout = \"15s\""
	}
	return fmt.Sprintf(`app = "book-shop"

%s

[build]
prepare = "cd server && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o ../dist/book-shop ."

[dev]
target = "ssh"
host = "127.0.0.1"
port = %d
user = "root"
known_hosts = %q
container = %q
ports = "%d:8000"
health_path = "/healthz"
lock_timeout = "3s"
%s
`, registry, sshPort, knownHosts, container, appPort, extraDev)
}
