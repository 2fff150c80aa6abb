package testbed_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// TestScriptsShellcheck keeps the test-bed scripts free of shellcheck findings; a quoting
// slip there could stop the wrong process or leave peers running.
func TestScriptsShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if testbed.Required() {
			t.Fatal("shellcheck not installed although scripts/test installs it")
		}
		t.Skip("shellcheck not installed: run scripts/test")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	libs, err := filepath.Glob(filepath.Join(root, "scripts", "testbed", "*.sh"))
	if err != nil || len(libs) == 0 {
		t.Fatalf("no scripts/testbed/*.sh found (%v)", err)
	}
	args := []string{"-x", "-s", "bash", "scripts/test", "scripts/demo", "scripts/testbed/up", "scripts/testbed/down", ".ci/run"}
	for _, l := range libs {
		rel, err := filepath.Rel(root, l)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, rel)
	}
	cmd := exec.Command(sc, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shellcheck %v: %v\n%s", args, err, out)
	}
}
