package devhost

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/localhost"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestDockerWords(t *testing.T) {
	for in, want := range map[string][]string{
		"":               {"docker"},
		"docker":         {"docker"},
		" sudo  docker ": {"sudo", "docker"},
		"sudo -n docker": {"sudo", "-n", "docker"},
	} {
		if got := DockerWords(in); !slices.Equal(got, want) {
			t.Errorf("DockerWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInspectAbsentAndUnreachable: an absent container is nil without error; an
// engine that cannot be reached is an error that says so, whatever the command words.
func TestInspectAbsentAndUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	name := "devhost-absent-" + testbed.Suffix()
	h := New(localhost.Host{}, Config{Docker: []string{"env", "docker"}, Container: name})
	found, err := h.Inspect(context.Background(), name)
	if err != nil || found[name] != nil {
		t.Fatalf("absent container: %v, %v", found, err)
	}
	s, err := h.Survey(context.Background())
	if err != nil || s.Current != nil || s.Next != nil || s.Recovery() != "" {
		t.Fatalf("survey of nothing: %+v, %v", s, err)
	}
	bad := New(localhost.Host{}, Config{Docker: []string{"env", "DOCKER_HOST=unix:///nonexistent/docker.sock", "docker"}, Container: name})
	if _, err := bad.Inspect(context.Background(), name); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Fatalf("unreachable engine: %v", err)
	}
}

func TestRecoveryNamesWhatItDoes(t *testing.T) {
	run := func(running bool, image string) *Container {
		c := &Container{ID: "c0ffee" + image, Image: "sha256:" + image}
		c.State.Running = running
		c.Config.Labels = map[string]string{"gantry.image_tag": image}
		return c
	}
	for _, tc := range []struct {
		s    State
		want string
	}{
		{State{Name: "dev-app", Current: run(false, "1"), Next: run(true, "2")}, "health-check it and adopt it as dev-app, or remove it and start dev-app (1"},
		{State{Name: "dev-app", Next: run(true, "2")}, "health-check it and adopt it as dev-app, or remove it"},
		{State{Name: "dev-app", Current: run(true, "1"), Next: run(false, "2")}, "remove dev-app-next"},
		{State{Name: "dev-app", Current: run(false, "1"), Next: run(false, "2")}, "and start dev-app (1"},
	} {
		if got := tc.s.Recovery(); !strings.HasPrefix(got, "recover: ") || !strings.Contains(got, tc.want) {
			t.Errorf("Recovery() = %q, want it to contain %q", got, tc.want)
		}
	}
}

// TestImagesOrderedByBuild: images whose engine created time ties (BuildKit carries it
// over from cached layers) come newest build first by gantry's build label, the same
// every time they are read, so rollback and prune never pick among them by chance.
func TestImagesOrderedByBuild(t *testing.T) {
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	repo := "gantry-test/order-" + testbed.Suffix()
	same := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	load := func(tag string, built time.Time) {
		t.Helper()
		layer, err := random.Layer(64, types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Created = "linux", "amd64", v1.Time{Time: same}
		cf.Config.Labels = map[string]string{buildLabel: built.Format(time.RFC3339)}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		ref, err := name.NewTag(repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, tag+".tar")
		if err := tarball.WriteToFile(path, ref, img); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("docker", "load", "-i", path).CombinedOutput(); err != nil {
			t.Fatalf("docker load: %v\n%s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", ref.String()).Run() })
	}
	load("old", same.Add(time.Hour))
	load("new", same.Add(3*time.Hour))
	load("mid", same.Add(2*time.Hour))
	h := New(localhost.Host{}, Config{})
	for i := 0; i < 3; i++ {
		imgs, err := h.Images(context.Background(), repo)
		if err != nil {
			t.Fatal(err)
		}
		var tags []string
		for _, im := range imgs {
			tags = append(tags, im.Tag)
		}
		if strings.Join(tags, ",") != "new,mid,old" {
			t.Fatalf("read %d: images in order %v, want new,mid,old (by build label; created times tie)", i, tags)
		}
	}
}
