package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
)

const snapVersion = "1.0.0"

func openRepo(t *testing.T, h *histRepo) *git.Repo {
	t.Helper()
	g, err := git.Open(context.Background(), h.dir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// devHistory makes main at c1 and dev two commits ahead (c2, c3), checked out on main.
func devHistory(t *testing.T) (h *histRepo, c1, c2, c3 string) {
	h = newHistRepo(t)
	c1 = h.commit("initial", map[string]string{"app.py": "v1\n", "pyproject.toml": "[project]\nversion = \"1.0.0\"\n"})
	h.git("checkout", "-q", "-b", "dev")
	c2 = h.commit("feature part 1", map[string]string{"app.py": "v2\n"})
	c3 = h.commit("feature part 2", map[string]string{"lib.py": "x\n"})
	h.git("checkout", "-q", "main")
	return h, c1, c2, c3
}

func TestFindSnapshotFastForward(t *testing.T) {
	h, _, c2, c3 := devHistory(t)
	h.git("merge", "-q", "--ff-only", "dev")
	reg := newMemImages()
	reg.add(meta.SnapshotTag(snapVersion, c2), c2)
	want := reg.add(meta.SnapshotTag(snapVersion, c3), c3)
	snap, err := FindSnapshot(context.Background(), openRepo(t, h), reg, SnapshotSearch{Version: snapVersion, Head: h.head()})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Tag != meta.SnapshotTag(snapVersion, c3) || snap.Digest != want || snap.Commit != c3 || snap.Why != "HEAD" || snap.Revision != c3 {
		t.Fatalf("snapshot = %+v, want HEAD's (%s)", snap, c3)
	}
	if len(reg.resolved) != 1 {
		t.Errorf("resolved %v, want only HEAD's tag", reg.resolved)
	}
}

func TestFindSnapshotMergeCommit(t *testing.T) {
	h, c1, c2, c3 := devHistory(t)
	h.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1 from acme/dev", "dev")
	head := h.head()
	if head == c3 {
		t.Fatal("expected a merge commit")
	}
	reg := newMemImages()
	reg.add(meta.SnapshotTag(snapVersion, c1), c1) // older sources: never chosen
	reg.add(meta.SnapshotTag(snapVersion, c2), c2)
	want := reg.add(meta.SnapshotTag(snapVersion, c3), c3)
	snap, err := FindSnapshot(context.Background(), openRepo(t, h), reg, SnapshotSearch{Version: snapVersion, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit != c3 || snap.Digest != want || snap.Why != "merge parent with HEAD's tree" {
		t.Fatalf("snapshot = %+v, want the merged dev tip %s", snap, c3)
	}
	if reg.resolved[0] != meta.SnapshotTag(snapVersion, head) {
		t.Errorf("looked at %v first, want HEAD's own tag first", reg.resolved)
	}
}

func TestFindSnapshotNeverTakesDifferentSources(t *testing.T) {
	h, _, _, c3 := devHistory(t)
	// A hotfix on main makes the merge's tree differ from the dev tip's.
	h.commit("hotfix", map[string]string{"hotfix.py": "fix\n"})
	h.git("merge", "-q", "--no-ff", "-m", "Merge dev", "dev")
	head := h.head()
	reg := newMemImages()
	reg.add(meta.SnapshotTag(snapVersion, c3), c3)
	_, err := FindSnapshot(context.Background(), openRepo(t, h), reg, SnapshotSearch{Version: snapVersion, Head: head, Lineages: []string{"dev"}})
	var nse *NoSnapshotError
	if !errors.As(err, &nse) || !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("err = %v, want NoSnapshotError", err)
	}
	msg := err.Error()
	for _, want := range []string{meta.SnapshotTag(snapVersion, head), "run the dev workflow for " + head[:7], "--snapshot"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, c3[:7]) {
		t.Errorf("error %q lists the dev tip, whose sources differ", msg)
	}
	for _, tag := range reg.resolved {
		if tag == meta.SnapshotTag(snapVersion, c3) {
			t.Errorf("resolved %s: a snapshot of different sources was considered", tag)
		}
	}
}

func TestFindSnapshotSquashMerge(t *testing.T) {
	h, _, _, c3 := devHistory(t)
	h.git("merge", "-q", "--squash", "dev")
	h.git("commit", "-q", "-m", "Feature (#2)")
	head := h.head()
	parents := strings.Fields(h.git("rev-list", "--parents", "-n", "1", head))
	if len(parents) != 2 {
		t.Fatalf("a squash commit has one parent, got %v", parents)
	}
	reg := newMemImages()
	want := reg.add(meta.SnapshotTag(snapVersion, c3), c3)
	g := openRepo(t, h)
	ctx := context.Background()

	// Without searching the dev branch the squash commit's sources are not found.
	if _, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("without lineages: %v, want ErrNoSnapshot", err)
	}
	snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head, Lineages: []string{"origin/dev", "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Commit != c3 || snap.Digest != want || !strings.Contains(snap.Why, "on dev") {
		t.Fatalf("snapshot = %+v, want dev tip %s", snap, c3)
	}

	// In CI only the remote-tracking branch exists.
	h.git("update-ref", "refs/remotes/origin/dev", c3)
	h.git("branch", "-q", "-D", "dev")
	snap, err = FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head, Lineages: []string{"origin/dev", "dev"}})
	if err != nil || snap.Commit != c3 || !strings.Contains(snap.Why, "origin/dev") {
		t.Fatalf("via origin/dev: %+v %v", snap, err)
	}
	// The search is bounded.
	h.git("checkout", "-q", "-b", "later", c3)
	for i := 0; i < 3; i++ {
		h.commit("later work", map[string]string{"later.py": strings.Repeat("x", i+1)})
	}
	h.git("update-ref", "refs/remotes/origin/dev", h.head())
	h.git("checkout", "-q", "main")
	if _, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head, Lineages: []string{"origin/dev"}, Depth: 2}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("depth 2 found a commit 3 deep: %v", err)
	}
	if snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head, Lineages: []string{"origin/dev"}, Depth: 10}); err != nil || snap.Commit != c3 {
		t.Fatalf("depth 10: %+v %v", snap, err)
	}
}

func TestFindSnapshotRevisionLabel(t *testing.T) {
	h, _, _, c3 := devHistory(t)
	h.git("merge", "-q", "--no-ff", "-m", "Merge dev", "dev")
	head := h.head()
	ctx := context.Background()
	g := openRepo(t, h)

	// HEAD's tag exists but its label names another commit: refused, the dev tip is used.
	reg := newMemImages()
	reg.add(meta.SnapshotTag(snapVersion, head), strings.Repeat("a", 40))
	want := reg.add(meta.SnapshotTag(snapVersion, c3), c3[:12])
	var logs []string
	snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head, Logf: func(f string, a ...any) { logs = append(logs, f) }})
	if err != nil || snap.Digest != want || snap.Commit != c3 {
		t.Fatalf("snapshot = %+v %v, want the dev tip (abbreviated label accepted)", snap, err)
	}
	// Only mislabelled candidates: nothing is chosen.
	reg = newMemImages()
	reg.add(meta.SnapshotTag(snapVersion, head), strings.Repeat("b", 40))
	_, err = FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head})
	if !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "label names bbbbbbb, refused") {
		t.Fatalf("mislabelled only: %v", err)
	}
	// No label at all: the tag's own commit is trusted.
	reg = newMemImages()
	want = reg.add(meta.SnapshotTag(snapVersion, head), "")
	if snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: head}); err != nil || snap.Digest != want || snap.Revision != "" {
		t.Fatalf("unlabelled: %+v %v", snap, err)
	}
}

func TestFindSnapshotExplicit(t *testing.T) {
	h, c1, _, c3 := devHistory(t)
	h.git("merge", "-q", "--ff-only", "dev")
	ctx := context.Background()
	g := openRepo(t, h)
	reg := newMemImages()
	old := meta.SnapshotTag(snapVersion, c1)
	reg.add(old, c1)
	want := reg.add(meta.SnapshotTag(snapVersion, c3), c3)

	snap, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: c3, Explicit: meta.SnapshotTag(snapVersion, c3)})
	if err != nil || snap.Digest != want || len(snap.Warnings) != 0 || snap.Commit != c3 {
		t.Fatalf("explicit HEAD snapshot: %+v %v", snap, err)
	}
	// An older snapshot may be chosen, with a warning that its sources differ.
	snap, err = FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: c3, Explicit: old})
	if err != nil || len(snap.Warnings) != 1 || !strings.Contains(snap.Warnings[0], "differ from HEAD") {
		t.Fatalf("explicit older snapshot: %+v %v", snap, err)
	}
	for _, tc := range []struct{ tag, want string }{
		{"0.9.0-SNAPSHOT-" + c3[:7], "is version 0.9.0 but pyproject.toml says 1.0.0"},
		{"latest", "not a snapshot tag"},
		{"1.0.0-SNAPSHOT-" + strings.Repeat("e", 7), "image not found"},
	} {
		if _, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: c3, Explicit: tc.tag}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--snapshot %s: %v, want %q", tc.tag, err, tc.want)
		}
	}
	// A tag whose label names another commit is refused outright.
	liar := meta.SnapshotTag(snapVersion, strings.Repeat("c", 40))
	reg.add(liar, strings.Repeat("d", 40))
	if _, err := FindSnapshot(ctx, g, reg, SnapshotSearch{Version: snapVersion, Head: c3, Explicit: liar}); err == nil || !strings.Contains(err.Error(), "does not describe its image") {
		t.Fatalf("mislabelled explicit snapshot: %v", err)
	}
}
