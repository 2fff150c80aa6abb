package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// bookshopImage builds the example book-shop server into an image on the test
// engine, with extra Dockerfile lines, and returns its tag.
func bookshopImage(t *testing.T, repo, tag string, extra ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "examples", "book-shop", "server")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "book-shop"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example server: %v\n%s", err, out)
	}
	// The first LABEL keeps the classic builder from sharing intermediate images with
	// other tests' builds: a test removing its images would pull them from under
	// another test's build on the shared engine.
	df := "FROM scratch\nLABEL gantry.test.build=" + randomName("") + "\nCOPY book-shop /book-shop\nEXPOSE 8000\nENTRYPOINT [\"/book-shop\"]\n" + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := docker.New(testbed.Docker(t))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ref := repo + ":" + tag
	if _, err := eng.Build(context.Background(), docker.BuildOptions{ContextDir: dir, Tags: []string{ref},
		Labels: map[string]string{LabelVersion: "1.0.0", LabelRevision: tag}}, nil); err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	return ref
}

func testHost(t *testing.T) *sshhost.Client {
	t.Helper()
	p := testbed.SSH(t)
	c, err := sshhost.Dial(context.Background(), sshhost.Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// peerDevConfig is a dev config for the SSH test host: a container of its own
// (removed at the end) published on a free port.
func peerDevConfig(t *testing.T, host *sshhost.Client, prefix string) config.Dev {
	t.Helper()
	cfg := testDevConfig("docker", strconv.Itoa(testbed.FreePort(t)))
	cfg.Container = randomName(prefix)
	t.Cleanup(func() {
		_, _ = host.Run(context.Background(), hostexec.Command("docker", "rm", "-f", cfg.Container, cfg.Container+"-next"), hostexec.RunOptions{})
	})
	return cfg
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestDevHostUptimeCheckOverSSH replaces containers on the SSH test host with no
// health path: a container that stays up is kept, one that crash-loops is replaced
// by the previous one again, with its logs shown.
func TestDevHostUptimeCheckOverSSH(t *testing.T) {
	host := testHost(t)
	repo := "gantry-test/" + randomName("uptime-")
	good := bookshopImage(t, repo, "good")
	crash := bookshopImage(t, repo, "crash", "ENV PORT=not-a-port")
	cfg := peerDevConfig(t, host, "dev-uptime-")
	container := cfg.Container
	cfg.HealthPath = ""
	cfg.Uptime.Duration = 1500 * time.Millisecond
	p := DevParams{Dev: cfg, HealthPoll: 100 * time.Millisecond}

	rep := &devLog{}
	first, err := replaceCurrent(t, newDevHost(host, p, rep), good, repo, map[string]string{"gantry.image_tag": "good"})
	if err != nil {
		t.Fatalf("deploy %s: %v\n%s", good, err, rep.Text())
	}
	if first.ImageID == "" || len(first.Images) != 2 {
		t.Errorf("after the deploy: image %q, repository images %+v", first.ImageID, first.Images)
	}

	rep = &devLog{}
	_, err = replaceCurrent(t, newDevHost(host, p, rep), crash, repo, map[string]string{"gantry.image_tag": "crash"})
	if !errors.Is(err, ErrRolledBack) {
		t.Fatalf("deploying a crashing image: err = %v, want a rollback\n%s", err, rep.Text())
	}
	if !strings.Contains(rep.Text(), "not-a-port") {
		t.Errorf("the crashing container's logs are not shown:\n%s", rep.Text())
	}
	found, err := newDevHost(host, p, &devLog{}).Inspect(context.Background(), container, container+"-next")
	if err != nil {
		t.Fatal(err)
	}
	c := found[container]
	if c == nil || !c.State.Running || !devhost.SameImage(c.Image, first.ImageID) || found[container+"-next"] != nil {
		t.Fatalf("after the failed deploy: %+v (next: %+v), want the first container running again", c, found[container+"-next"])
	}
}

// TestDevHostPruneSparesFreshDangling prunes on the SSH test host right after a
// rebuild left an untagged image behind: an image that fresh is what a build running
// on the same engine stands on, so prune must leave it.
func TestDevHostPruneSparesFreshDangling(t *testing.T) {
	host := testHost(t)
	repo := "gantry-test/" + randomName("prune-")
	first := bookshopImage(t, repo, "x", "LABEL round=1")
	eng, err := docker.New(testbed.Docker(t))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	info, err := eng.ImageInspect(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	old := info.ID
	bookshopImage(t, repo, "x", "LABEL round=2") // takes the tag: the first image is now dangling
	t.Cleanup(func() {
		_, _ = host.Run(context.Background(), hostexec.Command("docker", "rmi", "-f", repo+":x", old), hostexec.RunOptions{})
	})
	dangling, err := host.Run(context.Background(), hostexec.Command("docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true"), hostexec.RunOptions{})
	if err != nil || !strings.Contains(dangling.Stdout, old) {
		t.Fatalf("the first image %s is not dangling after the rebuild (err %v):\n%s", old, err, dangling.Stdout)
	}

	rep := &devLog{}
	newDevHost(host, DevParams{Dev: testDevConfig("docker", "8080")}, rep).Prune(context.Background(), nil, "")
	if strings.Contains(rep.Text(), "warning") {
		t.Errorf("prune warned:\n%s", rep.Text())
	}
	if _, err := eng.ImageInspect(context.Background(), old); err != nil {
		t.Errorf("prune removed the fresh dangling image %s: %v\n%s", old, err, rep.Text())
	}
}

// TestDevHostServingOverSSH asks whether the SSH test host already serves an image:
// yes for the container of that image and commit while it answers healthy; no for
// another commit's labels, another image, or once the container is stopped.
func TestDevHostServingOverSSH(t *testing.T) {
	host := testHost(t)
	repo := "gantry-test/" + randomName("serving-")
	one := bookshopImage(t, repo, "one")
	two := bookshopImage(t, repo, "two", "LABEL other=yes")
	cfg := peerDevConfig(t, host, "dev-serving-")
	container := cfg.Container
	cfg.HealthTimeout.Duration = 20 * time.Second
	p := DevParams{Dev: cfg, HealthPoll: 100 * time.Millisecond}
	labels := map[string]string{"gantry.image_tag": "one", "gantry.sha": "1111111", "gantry.ports": cfg.Ports}
	rep := &devLog{}
	if _, err := replaceCurrent(t, newDevHost(host, p, rep), one, "", labels); err != nil {
		t.Fatalf("deploy %s: %v\n%s", one, err, rep.Text())
	}

	serving := func(image string, labels map[string]string) (string, bool) {
		h := newDevHost(host, p, &devLog{})
		cur, err := h.Current(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return h.Serving(context.Background(), cur, image, labels)
	}
	if why, ok := serving(one, labels); !ok || !strings.Contains(why, container+" already runs one") {
		t.Errorf("serving(%s) = %q, %v; want the running healthy container", one, why, ok)
	}
	if _, ok := serving(one, map[string]string{"gantry.image_tag": "one", "gantry.sha": "2222222", "gantry.ports": cfg.Ports}); ok {
		t.Error("serving says yes for another commit's labels")
	}
	if _, ok := serving(one, map[string]string{"gantry.image_tag": "one", "gantry.sha": "1111111", "gantry.ports": "9999:8000"}); ok {
		t.Error("serving says yes for another port map")
	}
	if _, ok := serving(two, labels); ok {
		t.Error("serving says yes for another image with the same labels")
	}
	if _, err := host.Run(context.Background(), hostexec.Command("docker", "stop", container), hostexec.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := serving(one, labels); ok {
		t.Error("serving says yes for a stopped container")
	}
}
