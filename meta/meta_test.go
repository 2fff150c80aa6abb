package meta

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

func writePyproject(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadVersion(t *testing.T) {
	cases := []struct {
		name, body, want, source, errPart string
	}{
		{"pep621", "[project]\nname='x'\nversion = \"1.4.2\"\n", "1.4.2", "[project].version", ""},
		{"poetry", "[tool.poetry]\nname='x'\nversion = \"2.0.0rc1\"\n", "2.0.0rc1", "[tool.poetry].version", ""},
		{"pep621 wins", "[project]\nversion='1.0.0'\n[tool.poetry]\nversion='9.9.9'\n", "1.0.0", "[project].version", ""},
		{"dynamic", "[project]\nname='x'\ndynamic=['version']\n", "", "", "dynamic"},
		{"missing", "[project]\nname='x'\n", "", "", "no version"},
		{"hostile semicolon", "[project]\nversion='1.0;rm -rf /'\n", "", "", "may hold only"},
		{"hostile subshell", "[project]\nversion='$(id)'\n", "", "", "may hold only"},
		{"leading dash", "[project]\nversion='-1'\n", "", "", "may hold only"},
		{"too long", "[project]\nversion='" + strings.Repeat("1", MaxVersionLen+1) + "'\n", "", "", "characters"},
		{"malformed", "[project\nversion='1'\n", "", "", "pyproject.toml:1:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writePyproject(t, dir, c.body)
			v, src, err := ReadVersion(dir)
			if c.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), c.errPart) {
					t.Fatalf("err = %v, want containing %q", err, c.errPart)
				}
				if !errors.Is(err, ErrBadVersion) {
					t.Fatalf("err %v does not match ErrBadVersion", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != c.want || src != c.source {
				t.Fatalf("got %q from %q, want %q from %q", v, src, c.want, c.source)
			}
		})
	}
	if _, _, err := ReadVersion(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSnapshotTag(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	tag := SnapshotTag("1.2.3", sha)
	if tag != "1.2.3-SNAPSHOT-0123456" {
		t.Fatalf("tag = %q", tag)
	}
	if err := ValidateTag(tag); err != nil {
		t.Fatal(err)
	}
	v, s, ok := ParseSnapshotTag(tag)
	if !ok || v != "1.2.3" || s != "0123456" {
		t.Fatalf("parse = %q %q %v", v, s, ok)
	}
	for _, bad := range []string{"v1.2.3", "1.2.3-SNAPSHOT-xyz", "-SNAPSHOT-0123456", "1.2.3-SNAPSHOT-01234567"} {
		if _, _, ok := ParseSnapshotTag(bad); ok {
			t.Errorf("%q parsed as a snapshot tag", bad)
		}
	}
	long := strings.Repeat("9", MaxVersionLen)
	if err := ValidateTag(SnapshotTag(long, sha)); err != nil {
		t.Fatalf("longest version's tag rejected: %v", err)
	}
	for _, bad := range []string{"", "a b", "x;y", "$(id)", ".x", strings.Repeat("a", 129)} {
		if ValidateTag(bad) == nil {
			t.Errorf("ValidateTag(%q) accepted", bad)
		}
	}
}

func TestPrerelease(t *testing.T) {
	for v, want := range map[string]bool{"1.0.0": false, "1.0.0rc1": true, "2.0.0a1": true, "1.0.0.dev3": true, "1.0.0-beta.1": true, "1.0.0.post1": false, "10.2": false} {
		if got := Prerelease(v); got != want {
			t.Errorf("Prerelease(%q) = %v, want %v", v, got, want)
		}
	}
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testbed.Git(t, dir, args...)
}

func TestRead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writePyproject(t, dir, "[project]\nname='book-shop'\nversion='1.4.2'\n")

	if _, err := Read(ctx, dir); err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Fatalf("non-git dir: %v", err)
	}
	gitRun(t, dir, "init", "-q", "-b", "main")
	if _, err := Read(ctx, dir); err == nil || !strings.Contains(err.Error(), "no commits") {
		t.Fatalf("no commits: %v", err)
	}
	gitRun(t, dir, "add", ".")
	gitRun(t, dir, "commit", "-q", "-m", "first")
	head := gitRun(t, dir, "rev-parse", "HEAD")
	m, err := Read(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Commit != head || m.ShortSHA != head[:7] || m.ImageTag != "1.4.2-SNAPSHOT-"+head[:7] || m.Dirty {
		t.Fatalf("meta = %+v (head %s)", m, head)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("x"), 0o644)
	m, err = Read(ctx, dir)
	if err != nil || !m.Dirty || len(m.Changes) != 1 || m.Changes[0] != "new.txt" {
		t.Fatalf("dirty meta = %+v, %v", m, err)
	}
}

func TestDirtyTag(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	tag := DirtyTag("1.2.3", sha, "89abcdef01")
	if tag != "1.2.3-SNAPSHOT-0123456-dirty.89abcdef01" {
		t.Fatalf("tag = %q", tag)
	}
	if err := ValidateTag(tag); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ParseSnapshotTag(tag); ok {
		t.Fatalf("%s parsed as a snapshot of its commit", tag)
	}
	v, s, h, ok := ParseDirtyTag(tag)
	if !ok || v != "1.2.3" || s != "0123456" || h != "89abcdef01" || !IsDirtyTag(tag) {
		t.Fatalf("parse = %q %q %q %v", v, s, h, ok)
	}
	for _, bad := range []string{SnapshotTag("1.2.3", sha), "1.2.3-dirty.89abcdef01", tag + "x", "1.2.3-SNAPSHOT-0123456-dirty.XYZ"} {
		if IsDirtyTag(bad) {
			t.Errorf("%q parsed as a dirty tag", bad)
		}
	}
	long := strings.Repeat("9", MaxVersionLen)
	if err := ValidateTag(DirtyTag(long, sha, strings.Repeat("a", ContentHashLen))); err != nil {
		t.Fatalf("longest version's dirty tag rejected: %v", err)
	}
}

func TestReadDirtyContentHash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writePyproject(t, dir, "[project]\nname='book-shop'\nversion='1.4.2'\n")
	gitRun(t, dir, "init", "-q", "-b", "main")
	gitRun(t, dir, "add", ".")
	gitRun(t, dir, "commit", "-q", "-m", "first")
	head := gitRun(t, dir, "rev-parse", "HEAD")
	clean, err := Read(ctx, dir)
	if err != nil || clean.Tree != gitRun(t, dir, "rev-parse", "HEAD^{tree}") || clean.ContentHash != "" {
		t.Fatalf("clean meta = %+v, %v", clean, err)
	}
	if got := clean.Contents(); got != "built from commit "+head[:7] {
		t.Errorf("contents = %q", got)
	}

	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("one"), 0o644)
	m1, err := Read(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !m1.Dirty || len(m1.ContentHash) != ContentHashLen || m1.ImageTag != DirtyTag("1.4.2", head, m1.ContentHash) || m1.Tree == clean.Tree {
		t.Fatalf("dirty meta = %+v", m1)
	}
	if got := m1.Contents(); got != "built from the work tree: 1 uncommitted change(s) on top of "+head[:7] {
		t.Errorf("contents = %q", got)
	}
	// The same content hashes the same; the index is left alone.
	if m2, _ := Read(ctx, dir); m2.ImageTag != m1.ImageTag {
		t.Errorf("the same work tree gave %s and %s", m1.ImageTag, m2.ImageTag)
	}
	if st := gitRun(t, dir, "status", "--porcelain"); st != "?? new.txt" {
		t.Errorf("git status after Read = %q, want the file still untracked", st)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("two"), 0o644)
	if m3, _ := Read(ctx, dir); m3.ContentHash == m1.ContentHash {
		t.Errorf("other content, same hash %s", m3.ContentHash)
	}
}
