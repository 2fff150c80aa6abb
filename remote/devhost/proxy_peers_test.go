package devhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/localhost"
)

// dockerCLI runs the docker CLI against the test engine.
func dockerCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return TailLine(string(out)) // after any warning the engine adds
}

// TestProxyRecoversInterruptedSwitch: on this machine's engine in proxy mode, a -next
// left before the proxy switched to it is removed (the proxy keeps its upstream); one
// the proxy already sends traffic to is adopted as the container and the old one removed.
func TestProxyRecoversInterruptedSwitch(t *testing.T) {
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "book-shop"), ".")
	build.Dir = filepath.Join("..", "..", "examples", "book-shop", "server")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example server: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nLABEL gantry.test.build="+testbed.Suffix()+"\nCOPY book-shop /book-shop\nENTRYPOINT [\"/book-shop\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "gantry-test/devhost-recover-" + testbed.Suffix() + ":one"
	cmd := exec.Command("docker", "build", "-q", "-t", image, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", image, err, out)
	}
	proxyImage := "gantry-test/caddy:2"
	if exec.Command("docker", "image", "inspect", proxyImage).Run() != nil {
		if out, err := exec.Command("../../scripts/testbed/caddy-image.sh", proxyImage).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", proxyImage, err, out)
		}
	}
	name := "devhost-recover-" + testbed.Suffix()
	t.Cleanup(func() {
		_ = exec.Command("docker", "rm", "-f", name, name+"-next", name+"-proxy").Run()
		_ = exec.Command("docker", "network", "rm", "gantry-"+name).Run()
		_ = exec.Command("docker", "rmi", image).Run()
	})
	var log strings.Builder
	h := New(localhost.Host{}, Config{Container: name, Ports: strconv.Itoa(testbed.FreePort(t)) + ":8000", HealthPath: "/healthz",
		HealthTimeout: 20 * time.Second, KeepImages: 3, Switch: SwitchProxy, ProxyImage: proxyImage, Poll: 50 * time.Millisecond,
		Logf: func(f string, a ...any) { log.WriteString(strings.TrimSpace(fmt.Sprintf(f, a...)) + "\n") }})
	ctx := context.Background()
	labels := map[string]string{"gantry.image_tag": "one", "gantry.sha": "one", "gantry.ports": h.cfg.Ports}
	if _, err := h.Replace(ctx, nil, image, "", labels); err != nil {
		t.Fatalf("first proxy deploy: %v\n%s", err, log.String())
	}
	s, err := h.Survey(ctx)
	if err != nil || s.Live() != s.Current || s.Current == nil {
		t.Fatalf("after the first deploy: %+v, %v\n%s", s, err, log.String())
	}
	first := s.Current.ID

	// Interrupted before the switch: a -next beside, the proxy on the current one.
	dockerCLI(t, "", "run", "-d", "--name", name+"-next", "--network", h.Network(), image)
	s, err = h.Survey(ctx)
	if err != nil || !strings.Contains(s.Recovery(), "before the proxy switched") {
		t.Fatalf("recovery of an unswitched -next: %q, %v", s.Recovery(), err)
	}
	cur, err := h.Recover(ctx, s)
	if err != nil || cur == nil || cur.ID != first {
		t.Fatalf("recover: %+v, %v\n%s", cur, err, log.String())
	}
	if s, _ := h.Survey(ctx); s.Next != nil || s.Live() == nil || s.Live().ID != first {
		t.Fatalf("after recovering the unswitched -next: %+v", s)
	}

	// Interrupted after the switch: the proxy sends traffic to -next.
	nextID := dockerCLI(t, "", "run", "-d", "--name", name+"-next", "--network", h.Network(), image)
	if _, err := h.exec(ctx, hostexec.And(h.cmd("cp", "-", h.ProxyName()+":/"), h.cmd("exec", h.ProxyName(), "caddy", "reload", "--config", proxyConfigPath)),
		hostexec.RunOptions{Stdin: configTar(caddyConfig(ShortID(nextID)+":8000", 0))}); err != nil {
		t.Fatal(err)
	}
	s, err = h.Survey(ctx)
	if err != nil || !strings.Contains(s.Recovery(), "already sends traffic") {
		t.Fatalf("recovery of a switched -next: %q, %v", s.Recovery(), err)
	}
	cur, err = h.Recover(ctx, s)
	if err != nil || cur == nil || cur.ID != nextID {
		t.Fatalf("recover: %+v, %v\n%s", cur, err, log.String())
	}
	s, _ = h.Survey(ctx)
	if s.Next != nil || s.Current == nil || s.Current.ID != nextID || s.Live() != s.Current {
		t.Fatalf("after adopting the switched -next: %+v", s)
	}
	if found, _ := h.Inspect(ctx, first); found[first] != nil {
		t.Errorf("the old container %s is still there", ShortID(first))
	}
	if body, err := testbed.Get("http://127.0.0.1:" + h.hostPort() + "/"); err != nil || !strings.Contains(body, "book-shop") {
		t.Errorf("the port after the recovery: %q, %v", body, err)
	}
}
