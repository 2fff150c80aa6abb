package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hoststate"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/localhost"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// devLog is a Reporter for calling the deploy helpers directly.
type devLog struct {
	mu      sync.Mutex
	lines   []string
	secrets []string
	set     map[string]string
}

func (l *devLog) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}
func (l *devLog) Writer() io.Writer               { return io.Discard }
func (l *devLog) Progress(_, _ int64, _ string)   {}
func (l *devLog) Warn(format string, args ...any) { l.Logf("warning: "+format, args...) }

func (l *devLog) Secret(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets = append(l.secrets, v)
}
func (l *devLog) Set(k, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set == nil {
		l.set = map[string]string{}
	}
	l.set[k] = v
}
func (l *devLog) Text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// fakeDocker is a docker CLI stand-in script for a real shell: it records every
// invocation's argv (and login's stdin) exactly as received and answers like docker
// for a host where no container exists yet.
const fakeDocker = `#!/bin/sh
log="$FAKE_DOCKER_LOG"
for a in "$@"; do printf '%s\0' "$a" >>"$log"; done
printf '\036' >>"$log"
case "$*" in
  *" login "*) cat >"$log.stdin"; echo "Login pipeline.Succeeded" ;;
  *" pull "*) echo "Digest: sha256:$(printf '%064d' 1)"; echo "Status: Downloaded newer image" ;;
  "container inspect --format {{.Image}} "*) echo "sha256:$(printf '%064d' 2)" ;;
  "container inspect"*) for n in "$@"; do case "$n" in container|inspect) ;; *) echo "Error response from daemon: No such container: $n" >&2 ;; esac; done; echo '[]'; exit 1 ;;
  "create "*) echo "0123456789abcdef" ;;
  "image ls"*) ;;
  "image prune"*) echo "Total reclaimed space: 0B" ;;
esac
exit 0
`

// fakeDockerHost writes fakeDocker to a temp folder and returns its path and log.
func fakeDockerHost(t *testing.T) (docker, log string) {
	t.Helper()
	dir := t.TempDir()
	docker = filepath.Join(dir, "docker")
	if err := os.WriteFile(docker, []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "calls")
	t.Setenv("FAKE_DOCKER_LOG", log)
	return docker, log
}

// calls reads the fake docker's recorded invocations.
func calls(t *testing.T, log string) [][]string {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, rec := range strings.Split(strings.TrimSuffix(string(data), "\x1e"), "\x1e") {
		args := strings.Split(strings.TrimSuffix(rec, "\x00"), "\x00")
		out = append(out, args)
	}
	return out
}

// healthServer answers the health path on a free 127.0.0.1 port.
func healthServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	return port
}

// replaceCurrent replaces what runs now, as a deploy does: current, then replace.
func replaceCurrent(t *testing.T, h *devhost.Client, image, repo string, labels map[string]string) (devhost.Replaced, error) {
	t.Helper()
	old, err := h.Current(context.Background())
	if err != nil {
		t.Fatalf("the current container: %v", err)
	}
	return h.Replace(context.Background(), old, image, repo, labels)
}

func testDevConfig(docker, port string) config.Dev {
	return config.Dev{
		Container: "dev-app", Ports: port + ":8000", HealthPath: "/healthz",
		HealthTimeout: config.Duration{Duration: 2 * time.Second}, Uptime: config.Duration{Duration: time.Second},
		KeepImages: 3, LockTimeout: config.Duration{Duration: time.Second}, LockStale: config.Duration{Duration: time.Minute},
		DockerCommand: docker,
	}
}

// TestDevHostQuotesEveryValue runs a deploy through a real shell with values built to
// break out of quoting: each must reach docker as exactly one argument, and the
// password only on stdin.
func TestDevHostQuotesEveryValue(t *testing.T) {
	docker, log := fakeDockerHost(t)
	t.Setenv("HOME", t.TempDir())
	port := healthServer(t, http.StatusOK)
	pwned := filepath.Join(t.TempDir(), "pwned")
	evil := fmt.Sprintf(`$(touch %[1]s)'"; touch %[1]s; echo `+"`touch %[1]s`", pwned)
	p := DevParams{Dev: testDevConfig(docker, port), HealthPoll: 10 * time.Millisecond}
	rep := &devLog{}
	h := newDevHost(localhost.Host{}, p, rep)

	creds := registry.Credentials{Host: "registry.example:5000", Username: "AWS " + evil, Password: "s3cret " + evil}
	image := "registry.example:5000/book-shop:1.0.0-SNAPSHOT-abcdef0"
	if err := h.Pull(context.Background(), image, creds, ""); err != nil {
		t.Fatalf("pull: %v\n%s", err, rep.Text())
	}
	done, err := replaceCurrent(t, h, image, "registry.example:5000/book-shop", map[string]string{"gantry.version": evil, "gantry.sha": "abc"})
	if err != nil {
		t.Fatalf("replace: %v\n%s", err, rep.Text())
	}
	if done.ImageID != "sha256:"+strings.Repeat("0", 63)+"2" {
		t.Errorf("image ID = %q", done.ImageID)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a value was run as a command")
	}
	got := calls(t, log)
	var login, create []string
	for _, c := range got {
		if slices.Contains(c, "login") {
			login = c
		}
		if c[0] == "create" {
			create = c
		}
		for _, a := range c {
			if strings.Contains(a, "s3cret") {
				t.Errorf("the password is in docker's argv: %q", c)
			}
		}
	}
	wantLogin := []string{"--config", DockerConfigDir, "login", creds.Host, "--username", creds.Username, "--password-stdin"}
	if !slices.Equal(login, wantLogin) {
		t.Errorf("login argv = %q, want %q", login, wantLogin)
	}
	stdin, err := os.ReadFile(log + ".stdin")
	if err != nil || string(stdin) != creds.Password {
		t.Errorf("login stdin = %q (%v), want the password", stdin, err)
	}
	if !slices.Contains(create, "gantry.version="+evil) || create[len(create)-1] != image {
		t.Errorf("create argv = %q", create)
	}
	// The logout ran after the pull, in the same command.
	var verbs []string
	for _, c := range got {
		verbs = append(verbs, strings.Join(slices.DeleteFunc(slices.Clone(c), func(s string) bool {
			return strings.HasPrefix(s, "--config") || s == DockerConfigDir
		})[:1], ""))
	}
	if i, j := slices.Index(verbs, "pull"), slices.Index(verbs, "logout"); i < 0 || j < i {
		t.Errorf("docker calls %v: want pull then logout", verbs)
	}
}

// scriptedHost answers commands by the first matching substring and records them.
type scriptedHost struct {
	mu    sync.Mutex
	cmds  []string
	reply func(cmd string) (hostexec.Result, error)
}

func (s *scriptedHost) Run(ctx context.Context, c hostexec.Cmd, _ hostexec.RunOptions) (hostexec.Result, error) {
	s.mu.Lock()
	s.cmds = append(s.cmds, c.String())
	s.mu.Unlock()
	return s.reply(c.String())
}

func (s *scriptedHost) ran(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.cmds, func(c string) bool { return strings.Contains(c, sub) })
}

func exitErr(cmd string, code int, stderr string) error {
	return hostexec.NewExitError(hostexec.Raw(cmd), code, "", stderr)
}

const oldContainerJSON = `[{"Id":"0ldc0ntainer0000","Name":"/dev-app","Image":"sha256:aaaa","State":{"Status":"running","Running":true},"Config":{"Image":"repo:1.0.0-SNAPSHOT-1111111","Labels":{"gantry.image_tag":"1.0.0-SNAPSHOT-1111111"}}}]`

func TestDevReplaceRestoresPreviousOnFailedHealth(t *testing.T) {
	host := &scriptedHost{reply: func(cmd string) (hostexec.Result, error) {
		switch {
		case strings.Contains(cmd, "'container' 'inspect' 'dev-app' 'dev-app-next'") || strings.Contains(cmd, "container inspect dev-app dev-app-next"):
			return hostexec.Result{Stdout: oldContainerJSON}, exitErr(cmd, 1, "Error: No such container: dev-app-next")
		case strings.Contains(cmd, "create"):
			return hostexec.Result{Stdout: "newc0ntainer\n"}, nil
		case strings.Contains(cmd, "gantry-health"):
			return hostexec.Result{Stdout: "503\n"}, nil
		case strings.Contains(cmd, "container inspect newc0ntainer"):
			return hostexec.Result{Stdout: `[{"Id":"newc0ntainer","Name":"/dev-app-next","State":{"Status":"running","Running":true}}]`}, nil
		}
		return hostexec.Result{}, nil
	}}
	p := DevParams{Dev: testDevConfig("docker", "18080"), HealthPoll: time.Millisecond}
	p.Dev.HealthTimeout.Duration = 20 * time.Millisecond
	rep := &devLog{}
	_, err := replaceCurrent(t, newDevHost(host, p, rep), "repo:2.0.0-SNAPSHOT-2222222", "repo", nil)
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("err = %v, want a rollback\n%s", err, rep.Text())
	}
	if !strings.Contains(err.Error(), "HTTP 503") || !strings.Contains(err.Error(), "repo:1.0.0-SNAPSHOT-1111111") {
		t.Errorf("error %q should give the last answer and the restored image", err)
	}
	for _, want := range []string{"docker stop --time 10 0ldc0ntainer0000 >/dev/null && docker start dev-app-next", "docker logs --tail 50 dev-app-next", "docker rm -f dev-app-next >/dev/null 2>&1 && docker start 0ldc0ntainer0000"} {
		if !host.ran(want) {
			t.Errorf("no command %q in\n%s", want, strings.Join(host.cmds, "\n"))
		}
	}
	if host.ran("rename") || host.ran("rm -f 0ldc0ntainer0000") {
		t.Errorf("the old container was removed or the new one kept:\n%s", strings.Join(host.cmds, "\n"))
	}
}

func TestDevReplaceAdoptsInterruptedNext(t *testing.T) {
	host := &scriptedHost{reply: func(cmd string) (hostexec.Result, error) {
		switch {
		case strings.Contains(cmd, "container inspect dev-app dev-app-next"):
			return hostexec.Result{Stdout: `[{"Id":"interrupted0","Name":"/dev-app-next","State":{"Status":"running","Running":true},"Config":{"Image":"repo:1"}}]`},
				exitErr(cmd, 1, "Error: No such container: dev-app")
		case strings.Contains(cmd, "create"):
			return hostexec.Result{Stdout: "newc0ntainer\n"}, nil
		case strings.Contains(cmd, "gantry-health"):
			return hostexec.Result{Stdout: "200\n"}, nil
		case strings.Contains(cmd, "--format '{{.Image}}'"):
			return hostexec.Result{Stdout: "sha256:bbbb\n"}, nil
		}
		return hostexec.Result{}, nil
	}}
	p := DevParams{Dev: testDevConfig("docker", "18080"), HealthPoll: time.Millisecond}
	done, err := replaceCurrent(t, newDevHost(host, p, &devLog{}), "repo:2", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if done.ImageID != "sha256:bbbb" {
		t.Errorf("image = %q", done.ImageID)
	}
	for _, want := range []string{"docker rename interrupted0 dev-app", "docker stop --time 10 interrupted0", "docker rm -f interrupted0 >/dev/null && docker rename dev-app-next dev-app"} {
		if !host.ran(want) {
			t.Errorf("no command %q in\n%s", want, strings.Join(host.cmds, "\n"))
		}
	}
}

func TestDevPruneKeepsNewestAndRunning(t *testing.T) {
	host := &scriptedHost{reply: func(string) (hostexec.Result, error) { return hostexec.Result{}, nil }}
	p := DevParams{Dev: testDevConfig("docker", "18080")}
	p.Dev.KeepImages = 2
	imgs, err := devhost.ParseImages(strings.Join([]string{
		`{"ID":"sha256:5555","Repository":"r","Tag":"5","CreatedAt":"2024-05-05 10:00:00 +0000 UTC"}`,
		`{"ID":"sha256:1111","Repository":"r","Tag":"1","CreatedAt":"2024-05-01 10:00:00 +0000 UTC"}`,
		`{"ID":"sha256:4444","Repository":"r","Tag":"4","CreatedAt":"2024-05-04 10:00:00 +0000 UTC"}`,
		`{"ID":"sha256:4444","Repository":"r","Tag":"4b","CreatedAt":"2024-05-04 10:00:00 +0000 UTC"}`,
		`{"ID":"sha256:3333","Repository":"r","Tag":"<none>","CreatedAt":"2024-05-03 10:00:00 +0000 UTC"}`,
	}, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if imgs[0].Tag != "5" || imgs[len(imgs)-1].Tag != "1" {
		t.Fatalf("not newest first: %+v", imgs)
	}
	newDevHost(host, p, &devLog{}).Prune(context.Background(), imgs, "1111")
	want := "docker rmi --no-prune sha256:3333 >/dev/null; docker image prune --force --filter until=1h"
	if !host.ran(want) {
		t.Errorf("prune ran\n%s\nwant %q (keep 5, 4 and the running 1)", strings.Join(host.cmds, "\n"), want)
	}
}

// TestDevProbeTools checks the health probe with each tool the host may have: curl,
// wget, or only bash. It runs the real probe script in a shell whose PATH holds just
// that tool.
func TestDevProbeTools(t *testing.T) {
	okPort := healthServer(t, http.StatusOK)
	badPort := healthServer(t, http.StatusServiceUnavailable)
	for _, tool := range []string{"curl", "wget", "bash"} {
		t.Run(tool, func(t *testing.T) {
			bin := t.TempDir()
			for _, name := range []string{"sh", tool} {
				path, err := exec.LookPath(name)
				if err != nil {
					t.Skipf("%s not installed", name)
				}
				if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("PATH", bin)
			for port, want := range map[string]bool{okPort: true, badPort: false} {
				h := newDevHost(localhost.Host{}, DevParams{Dev: testDevConfig("docker", port)}, &devLog{})
				ok, detail, err := h.Probe(context.Background(), "http://127.0.0.1:"+port+"/healthz")
				if err != nil || ok != want {
					t.Errorf("%s on :%s: ok=%v (%s), err=%v; want ok=%v", tool, port, ok, detail, err, want)
				}
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		bin := t.TempDir()
		sh, _ := exec.LookPath("sh")
		_ = os.Symlink(sh, filepath.Join(bin, "sh"))
		t.Setenv("PATH", bin)
		h := newDevHost(localhost.Host{}, DevParams{Dev: testDevConfig("docker", okPort)}, &devLog{})
		_, _, err := h.Probe(context.Background(), "http://127.0.0.1:"+okPort+"/healthz")
		if err == nil || !strings.Contains(err.Error(), "install curl") {
			t.Errorf("err = %v, want one that says to install curl", err)
		}
	})
}

func TestDevPullRefusesMovedTag(t *testing.T) {
	docker, _ := fakeDockerHost(t)
	t.Setenv("HOME", t.TempDir())
	h := newDevHost(localhost.Host{}, DevParams{Dev: testDevConfig(docker, "1")}, &devLog{})
	err := h.Pull(context.Background(), "r:t", registry.Credentials{}, "sha256:"+strings.Repeat("9", 64))
	if err == nil || !strings.Contains(err.Error(), "the tag moved") {
		t.Fatalf("err = %v", err)
	}
}

func TestDevLockedAuditsAndReleases(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	p := DevParams{App: "shop", Dev: testDevConfig("docker", "1"), Who: "tester"}
	rep := &devLog{}
	lockDir := filepath.Join(home, hoststate.Dir("shop", hoststate.DevTarget(p.Dev.Container)), "lock")
	auditFile := filepath.Join(home, hoststate.AuditPath("shop", hoststate.DevTarget(p.Dev.Container)))
	boom := &RolledBackError{Err: errors.New("health"), Previous: "r:1"}
	err := locked(context.Background(), rep, localhost.Host{}, p, p.lock(localhost.Host{}, "2"), func(ctx context.Context) (hoststate.AuditEntry, error) {
		if _, err := os.Stat(filepath.Join(lockDir, "owner")); err != nil {
			t.Errorf("lock not held inside: %v", err)
		}
		return p.audit("2", "abc"), boom
	})
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(lockDir); !os.IsNotExist(err) {
		t.Errorf("lock left behind: %v", err)
	}
	data, _ := os.ReadFile(auditFile)
	e := hoststate.ParseAudit(string(data), 1)
	if len(e) != 1 || e[0].Result != ResultRolledBack || e[0].Who != "tester" {
		t.Errorf("audit = %q", data)
	}
	// Nothing tried (no version): no audit line.
	_ = locked(context.Background(), rep, localhost.Host{}, p, p.lock(localhost.Host{}, "3"), func(ctx context.Context) (hoststate.AuditEntry, error) {
		return hoststate.AuditEntry{}, errors.New("nothing to roll back to")
	})
	data2, _ := os.ReadFile(auditFile)
	if !bytes.Equal(data, data2) {
		t.Errorf("an audit line was written for a run that tried nothing: %q", data2)
	}
}

func TestPreviousImageAndRepository(t *testing.T) {
	imgs := []devhost.Image{{ID: "sha256:3", Tag: "3"}, {ID: "sha256:2", Tag: "2"}, {ID: "sha256:1", Tag: "1"}}
	cur := &devhost.Container{Image: "sha256:2"}
	if p, ok := previousImage(imgs, cur); !ok || p.Tag != "1" {
		t.Errorf("previous of 2 = %+v %v, want 1", p, ok)
	}
	cur.Image = "sha256:1"
	if _, ok := previousImage(imgs, cur); ok {
		t.Errorf("the oldest image has no previous")
	}
	if p, ok := previousImage(imgs, nil); !ok || p.Tag != "3" {
		t.Errorf("nothing running: %+v, want the newest", p)
	}
	for ref, want := range map[string]string{
		"127.0.0.1:5000/book-shop:1.0.0-SNAPSHOT-abcdef0": "127.0.0.1:5000/book-shop",
		"127.0.0.1:5000/book-shop":                        "127.0.0.1:5000/book-shop",
		"r/x@" + fakeDigest:                               "r/x",
		"r/x@sha256:abc":                                  "", // not a digest
		"sha256:abc":                                      "",
	} {
		if got := repositoryOf(ref); got != want {
			t.Errorf("repositoryOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

// newDevHost is the dev host client a step of p would use, logging to r.
func newDevHost(run hostexec.Runner, p DevParams, r pipeline.Reporter) *devhost.Client {
	return devhost.New(run, p.hostConfig(r.Logf))
}
