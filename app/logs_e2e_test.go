package app_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// startLoggingContainer runs the example server (built here, imported as a one-file
// image: no registry or network needed) as container name on the test bed's engine.
func startLoggingContainer(t *testing.T, dockerHost, name string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "book-shop")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = filepath.Join(testbed.ExampleApp(t), "server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example server: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: "book-shop", Mode: 0o755, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	image := "gantry-logs-test:" + strings.TrimPrefix(name, "logs-")
	imp := exec.Command("docker", "-H", dockerHost, "import", "--change", `ENTRYPOINT ["/book-shop"]`, "-", image)
	imp.Stdin = &layer
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("docker", "-H", dockerHost, "rm", "-f", name).Run()
		exec.Command("docker", "-H", dockerHost, "rmi", "-f", image).Run()
	})
	if out, err := exec.Command("docker", "-H", dockerHost, "run", "-d", "--name", name, image).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
}

// The console's dev log view reads the container's log over SSH with docker logs:
// the server's start line arrives, following keeps the command running, and closing
// the view (cancelling) ends it, recorded as cancelled in the command log.
func TestDevLogsOverSSH(t *testing.T) {
	sshEnv(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed")
	}
	peer := testbed.SSH(t)
	dockerHost := testbed.Docker(t)
	name := "logs-" + testbed.Suffix()
	startLoggingContainer(t, dockerHost, name)

	a := consoleApp(t, sshDevToml(ociSection(t, "book-shop-logs-"+testbed.Suffix()), peer.Port, peer.KnownHosts, name, testbed.FreePort(t), ""), t.Logf)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	var lines []string
	done := make(chan error, 1)
	go func() {
		done <- a.DevLogs(ctx, app.LogOptions{Tail: 500, Follow: true}, func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(lines, "\n")
		mu.Unlock()
		if strings.Contains(got, "listening on :8000") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the log stream ended early (%v) with %q", err, got)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start line in the log after 30s: %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("a followed log ended by itself: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("closing the view: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the log stream did not stop when cancelled")
	}
	var rec *hostexec.CommandRecord
	for _, r := range a.CommandLog() {
		if strings.Contains(r.Cmd, "logs --tail 500 --follow "+name) {
			rec = &r
			break
		}
	}
	if rec == nil || !rec.Cancelled || !strings.HasPrefix(rec.Host, "dev root@127.0.0.1") {
		t.Fatalf("command log has no cancelled docker logs over SSH: %+v", a.CommandLog())
	}
}

// Prod logs run kubectl logs on the prod host; a deployment that is not there is an
// error that names it (kubectl's own message), not an empty view.
func TestProdLogsOverSSH(t *testing.T) {
	sshEnv(t)
	peer := testbed.SSH(t)
	ns := "gantry-logs-" + testbed.Suffix()
	a := consoleApp(t, fmt.Sprintf(`app = "book-shop"
[prod]
host = %q
port = %d
user = %q
known_hosts = %q
kubectl = "microk8s kubectl"
namespace = %q
deployment = "django-app"
`, peer.Host, peer.Port, peer.User, peer.KnownHosts, ns), t.Logf)
	err := a.ProdLogs(t.Context(), app.LogOptions{Tail: 100}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "django-app") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err %v, want kubectl's not found for the deployment", err)
	}
	found := false
	for _, r := range a.CommandLog() {
		if strings.Contains(r.Cmd, "microk8s kubectl --namespace "+ns+" logs deploy/django-app --all-containers --prefix --tail 100") && r.ExitCode != 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("command log: %+v", a.CommandLog())
	}
}
