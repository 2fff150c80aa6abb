package git

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testbed.Git(t, dir, args...)
}

func TestRepo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, dir); !errors.Is(err, ErrNotRepo) {
		t.Fatalf("Open of a plain folder: %v", err)
	}
	run(t, dir, "init", "-q", "-b", "main")
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Head(ctx); !errors.Is(err, ErrNoCommits) {
		t.Fatalf("Head without commits: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644)
	run(t, dir, "add", ".")
	run(t, dir, "commit", "-q", "-m", "first")
	first := run(t, dir, "rev-parse", "HEAD")
	run(t, dir, "tag", "-a", "1.0.0", "-m", "release")
	run(t, dir, "checkout", "-q", "-b", "dev")
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b"), 0o644)
	run(t, dir, "add", ".")
	run(t, dir, "commit", "-q", "-m", "second: with a | pipe")
	second := run(t, dir, "rev-parse", "HEAD")
	run(t, dir, "checkout", "-q", "main")
	run(t, dir, "merge", "-q", "--no-ff", "-m", "merge dev", "dev")
	merge := run(t, dir, "rev-parse", "HEAD")

	head, err := r.Head(ctx)
	if err != nil || head != merge {
		t.Fatalf("Head = %s, %v", head, err)
	}
	parents, err := r.Parents(ctx, merge)
	if err != nil || len(parents) != 2 || parents[0] != first || parents[1] != second {
		t.Fatalf("Parents = %v, %v", parents, err)
	}
	mt, _ := r.Tree(ctx, merge)
	st, _ := r.Tree(ctx, second)
	if mt == "" || mt != st {
		t.Fatalf("a merge of a fast-forwardable branch has its tip's tree: %s vs %s", mt, st)
	}
	log, err := r.Log(ctx, "1.0.0..HEAD", 10)
	if err != nil || len(log) != 2 || log[0].SHA != merge || log[1].Subject != "second: with a | pipe" || log[1].Author != "Ada" || log[1].Tree != st {
		t.Fatalf("Log = %+v, %v", log, err)
	}
	tags, err := r.TagsByCommit(ctx)
	if err != nil || len(tags[first]) != 1 || tags[first][0] != "1.0.0" {
		t.Fatalf("annotated tag not peeled to its commit: %v, %v", tags, err)
	}
	if b := r.Branch(ctx); b != "main" {
		t.Fatalf("Branch = %q", b)
	}
	if !r.HasRef(ctx, "dev") || r.HasRef(ctx, "nope") {
		t.Fatal("HasRef")
	}
	if _, err := r.ResolveCommit(ctx, "--output=/tmp/x"); err == nil {
		t.Fatal("an option-looking revision was accepted")
	}
	if d, err := r.Dirty(ctx); err != nil || len(d) != 0 {
		t.Fatalf("Dirty of a clean tree = %v, %v", d, err)
	}
	os.WriteFile(filepath.Join(dir, "c.txt"), []byte("c"), 0o644)
	if d, _ := r.Dirty(ctx); len(d) != 1 || d[0] != "c.txt" {
		t.Fatalf("Dirty = %v", d)
	}
	if ShortSHA(merge) != merge[:7] || ShortSHA("abc") != "abc" {
		t.Fatal("ShortSHA")
	}
}
