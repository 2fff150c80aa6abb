package testbed

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bookshop-ops/gantry"

// deps lists the gantry packages pkg depends on (not counting itself).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var own []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) && p != module+"/"+pkg {
			own = append(own, strings.TrimPrefix(p, module+"/"))
		}
	}
	return own
}

// The runner core imports nothing of gantry; the front ends reach the workflows only
// through it (and the app that wires them), never the other way round.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	if d := deps(t, "pipeline"); len(d) != 0 {
		t.Errorf("pipeline (the runner core) imports gantry packages: %v", d)
	}
	if d := deps(t, "image"); len(d) != 0 {
		t.Errorf("image (the image-reference type) imports gantry packages: %v", d)
	}
	for _, pkg := range []string{"printer", "ui"} {
		for _, d := range deps(t, pkg) {
			switch {
			case d == "pipeline", d == "units", strings.HasPrefix(d, "ui/"), strings.HasPrefix(d, "printer/"):
			default:
				t.Errorf("%s imports %s; front ends depend on the runner core alone", pkg, d)
			}
		}
	}
	for _, pkg := range []string{"remote/hostexec", "remote/devhost", "remote/kubectl", "remote/hoststate", "remote/sshhost", "remote/registry", "remote/docker", "remote/github", "remote/git", "remote/localhost"} {
		for _, d := range deps(t, pkg) {
			if d == "workflow" || d == "app" || d == "cli" || d == "ui" {
				t.Errorf("%s imports %s: remote/ never points back up", pkg, d)
			}
		}
	}
}
