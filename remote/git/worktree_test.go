package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// TestWorkTreeOfAnAppFolder: the tree holds the app folder as it is on disk (untracked
// files included), the rest of the repository as committed; git's index is untouched.
func TestWorkTreeOfAnAppFolder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	app := filepath.Join(root, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "x"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(root, "top"), []byte("b"), 0o644)
	testbed.Git(t, root, "init", "-q", "-b", "main")
	testbed.Git(t, root, "add", ".")
	testbed.Git(t, root, "commit", "-q", "-m", "init")
	r := &Repo{Dir: app}
	clean, err := r.WorkTree(ctx)
	if err != nil || clean != testbed.Git(t, root, "rev-parse", "HEAD^{tree}") {
		t.Fatalf("clean work tree %s, %v", clean, err)
	}
	os.WriteFile(filepath.Join(app, "y"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(root, "top"), []byte("changed outside the app"), 0o644)
	dirty, err := r.WorkTree(ctx)
	if err != nil || dirty == clean {
		t.Fatalf("dirty work tree %s, %v", dirty, err)
	}
	files := testbed.Git(t, root, "ls-tree", "-r", "--name-only", dirty)
	if files != "app/x\napp/y\ntop" {
		t.Errorf("files = %q", files)
	}
	if top := testbed.Git(t, root, "cat-file", "-p", dirty+":top"); top != "b" {
		t.Errorf("top = %q: a change outside the app folder is not the app's", top)
	}
	if st := testbed.Git(t, root, "status", "--porcelain"); !strings.Contains(st, "?? app/y") || !strings.Contains(st, "M top") || strings.Contains(st, "A ") {
		t.Errorf("status = %q: the index changed", st)
	}
}
