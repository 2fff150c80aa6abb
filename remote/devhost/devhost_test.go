package devhost

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/localhost"
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
