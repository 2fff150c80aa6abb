package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// RevisionLabel is the OCI image label naming the commit an image was built from.
const RevisionLabel = "org.opencontainers.image.revision"

// DefaultSnapshotDepth bounds how many commits of each lineage the snapshot search reads.
const DefaultSnapshotDepth = 200

// SnapshotImages is what finding a snapshot needs from the registry.
type SnapshotImages interface {
	Resolve(ctx context.Context, tag string) (digest string, err error)
	Labels(ctx context.Context, tag string) (map[string]string, error)
}

// GitHistory is what finding a snapshot and writing release notes need from git.
// *git.Repo implements it.
type GitHistory interface {
	ResolveCommit(ctx context.Context, rev string) (string, error)
	Tree(ctx context.Context, commit string) (string, error)
	Parents(ctx context.Context, commit string) ([]string, error)
	Log(ctx context.Context, rev string, limit int) ([]git.Commit, error)
	HasRef(ctx context.Context, ref string) bool
	ChangedFiles(ctx context.Context, from, to string) ([]string, error)
}

// Snapshot is the image a promotion releases.
type Snapshot struct {
	// Tag is the snapshot tag, X.Y.Z-SNAPSHOT-<sha7>.
	Tag string
	// Digest is the manifest digest the tag pointed at when it was found.
	Digest string
	// Commit is the full SHA the tag was built from ("" when git does not know it).
	Commit string
	// Revision is the image's org.opencontainers.image.revision label ("" when absent or unreadable).
	Revision string
	// Why says how it was chosen, e.g. "HEAD" or "merge parent with HEAD's tree".
	Why string
	// Warnings are things the user should know before releasing it (explicit choices only).
	Warnings []string
}

// SnapshotSearch says which snapshot to look for.
type SnapshotSearch struct {
	// Version is the version from pyproject.toml; snapshot tags carry it.
	Version string
	// Head is HEAD's full SHA.
	Head string
	// Explicit is a snapshot tag the user chose (--snapshot); empty searches.
	Explicit string
	// Lineages are revisions (e.g. "origin/dev") whose recent commits are searched for
	// HEAD's tree, to find the dev tip a squash merge copied. Missing ones are ignored.
	Lineages []string
	// Depth bounds the commits read per lineage (DefaultSnapshotDepth when 0).
	Depth int
	// Logf receives what was looked at; nil discards it.
	Logf func(format string, args ...any)
}

// ErrNoSnapshot means no snapshot image of HEAD's sources is in the registry.
var ErrNoSnapshot = errors.New("no snapshot of HEAD's sources")

// Looked is one tag the search tried and what came of it.
type Looked struct {
	Tag    string
	Commit string
	Why    string
	Result string
}

// NoSnapshotError names the tags looked for and what to do.
type NoSnapshotError struct {
	Version string
	Head    string
	Looked  []Looked
}

func (e *NoSnapshotError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no snapshot image of commit %s's sources in the registry; looked for", git.ShortSHA(e.Head))
	for i, l := range e.Looked {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s (%s: %s)", l.Tag, l.Why, l.Result)
	}
	fmt.Fprintf(&b, "; run the dev workflow for %s first (push it to the dev branch, or `gantry dev` with it checked out), or choose one with --snapshot TAG",
		git.ShortSHA(e.Head))
	return b.String()
}

// Is makes NoSnapshotError match ErrNoSnapshot.
func (e *NoSnapshotError) Is(t error) bool { return t == ErrNoSnapshot }

type snapshotCandidate struct {
	commit string
	why    string
}

// FindSnapshot finds the snapshot image built from HEAD's sources: the tag of HEAD
// itself, else the tag of a commit with the identical tree (a merge's second parent, the
// dev tip a squash merge copied). A candidate whose revision label names another commit
// is refused, so a snapshot of different sources is never chosen.
func FindSnapshot(ctx context.Context, g GitHistory, reg SnapshotImages, s SnapshotSearch) (Snapshot, error) {
	logf := s.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := meta.ValidateVersion(s.Version); err != nil {
		return Snapshot{}, err
	}
	if s.Explicit != "" {
		return explicitSnapshot(ctx, g, reg, s, logf)
	}
	headTree, err := g.Tree(ctx, s.Head)
	if err != nil {
		return Snapshot{}, fmt.Errorf("find snapshot: %w", err)
	}
	cands := []snapshotCandidate{{commit: s.Head, why: "HEAD"}}
	seen := map[string]bool{s.Head: true}
	add := func(commit, why string) {
		if !seen[commit] {
			seen[commit] = true
			cands = append(cands, snapshotCandidate{commit: commit, why: why})
		}
	}
	parents, err := g.Parents(ctx, s.Head)
	if err != nil {
		return Snapshot{}, fmt.Errorf("find snapshot: parents of HEAD: %w", err)
	}
	if len(parents) > 1 {
		// A merge into main: the second parent is the dev tip that was merged.
		for _, p := range append(append([]string{}, parents[1:]...), parents[0]) {
			t, err := g.Tree(ctx, p)
			if err != nil {
				return Snapshot{}, fmt.Errorf("find snapshot: %w", err)
			}
			if t == headTree {
				add(p, "merge parent with HEAD's tree")
			}
		}
	}
	depth := s.Depth
	if depth <= 0 {
		depth = DefaultSnapshotDepth
	}
	lineages := append([]string{"HEAD"}, s.Lineages...)
	for _, rev := range lineages {
		if rev != "HEAD" && !g.HasRef(ctx, rev) {
			continue
		}
		commits, err := g.Log(ctx, rev, depth)
		if err != nil {
			return Snapshot{}, fmt.Errorf("find snapshot: history of %s: %w", rev, err)
		}
		for _, c := range commits {
			if c.Tree == headTree {
				add(c.SHA, fmt.Sprintf("commit on %s with HEAD's tree", rev))
			}
		}
	}

	var looked []Looked
	for _, c := range cands {
		tag := meta.SnapshotTag(s.Version, c.commit)
		l := Looked{Tag: tag, Commit: c.commit, Why: c.why}
		digest, err := reg.Resolve(ctx, tag)
		if errors.Is(err, registry.ErrNotFound) {
			l.Result = "not in the registry"
			looked = append(looked, l)
			logf("%s (%s): not in the registry", tag, c.why)
			continue
		}
		if err != nil {
			return Snapshot{}, fmt.Errorf("find snapshot: resolve %s: %w", tag, err)
		}
		rev, refused := confirmRevision(ctx, reg, tag, c.commit, logf)
		if refused != "" {
			l.Result = refused
			looked = append(looked, l)
			logf("%s (%s): %s", tag, c.why, refused)
			continue
		}
		logf("%s (%s): %s", tag, c.why, digest)
		return Snapshot{Tag: tag, Digest: digest, Commit: c.commit, Revision: rev, Why: c.why}, nil
	}
	return Snapshot{}, &NoSnapshotError{Version: s.Version, Head: s.Head, Looked: looked}
}

// confirmRevision reads the image's revision label: ok is false only when the label is
// present and names another commit, or the image is labelled a dirty build. An
// unreadable label is logged, not fatal: the tag itself already names the commit.
func confirmRevision(ctx context.Context, reg SnapshotImages, tag, commit string, logf func(string, ...any)) (rev, refused string) {
	labels, err := reg.Labels(ctx, tag)
	if err != nil {
		logf("could not read the labels of %s (%v); relying on the commit its tag names", tag, err)
		return "", ""
	}
	rev = strings.TrimSpace(labels[RevisionLabel])
	if labels[LabelDirty] == "true" {
		// A dirty build's image does not hold the commit's sources.
		return rev, fmt.Sprintf("labelled %s=true (built from a dirty work tree), refused", LabelDirty)
	}
	if rev == "" {
		logf("%s has no %s label; relying on the commit its tag names", tag, RevisionLabel)
		return "", ""
	}
	if !sameCommit(rev, commit) {
		return rev, fmt.Sprintf("its %s label names %s, refused", RevisionLabel, git.ShortSHA(rev))
	}
	return rev, ""
}

// sameCommit compares a full SHA with a label that may hold a full or abbreviated one.
func sameCommit(label, commit string) bool {
	label, commit = strings.ToLower(label), strings.ToLower(commit)
	if len(label) < 7 || len(commit) < 7 {
		return false
	}
	if len(label) >= len(commit) {
		return label == commit
	}
	return strings.HasPrefix(commit, label)
}

// explicitSnapshot checks a snapshot the user chose: it must be a snapshot of this
// version, exist, and its label must agree with the commit its tag names.
func explicitSnapshot(ctx context.Context, g GitHistory, reg SnapshotImages, s SnapshotSearch, logf func(string, ...any)) (Snapshot, error) {
	tag := s.Explicit
	if meta.IsDirtyTag(tag) {
		return Snapshot{}, fmt.Errorf("--snapshot %s: built from a dirty work tree (uncommitted changes), so no commit holds its sources and it is never promoted; commit the changes, run the dev workflow, and promote that snapshot", tag)
	}
	version, sha7, ok := meta.ParseSnapshotTag(tag)
	if !ok {
		return Snapshot{}, fmt.Errorf("--snapshot %s: not a snapshot tag; give one like %s", tag, meta.SnapshotTag(s.Version, s.Head))
	}
	if version != s.Version {
		return Snapshot{}, fmt.Errorf("--snapshot %s is version %s but pyproject.toml says %s: promote a snapshot of %s, or check out the commit of version %s",
			tag, version, s.Version, s.Version, version)
	}
	digest, err := reg.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		return Snapshot{}, fmt.Errorf("--snapshot %s: %w; list the snapshots with `gantry snapshots`", tag, err)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("--snapshot %s: %w", tag, err)
	}
	snap := Snapshot{Tag: tag, Digest: digest, Why: "chosen with --snapshot"}
	commit, cerr := g.ResolveCommit(ctx, sha7)
	if cerr == nil {
		snap.Commit = commit
	}
	labels, lerr := reg.Labels(ctx, tag)
	if lerr != nil {
		logf("could not read the labels of %s (%v)", tag, lerr)
	} else if labels[LabelDirty] == "true" {
		return Snapshot{}, fmt.Errorf("--snapshot %s: the image is labelled %s=true, built from a dirty work tree: no commit holds its sources, it is never promoted; commit the changes, run the dev workflow, and promote that snapshot", tag, LabelDirty)
	} else if rev := strings.TrimSpace(labels[RevisionLabel]); rev != "" {
		snap.Revision = rev
		if !strings.HasPrefix(strings.ToLower(rev), sha7) {
			return Snapshot{}, fmt.Errorf("--snapshot %s: its %s label names commit %s, not %s: the tag does not describe its image; refusing to release it",
				tag, RevisionLabel, rev, sha7)
		}
		if snap.Commit == "" && len(rev) == 40 {
			snap.Commit = strings.ToLower(rev)
		}
	}
	switch {
	case snap.Commit == "":
		snap.Warnings = append(snap.Warnings, fmt.Sprintf("commit %s is not in the local history: cannot confirm that %s holds HEAD's sources; the release is tagged at HEAD", sha7, tag))
	case snap.Commit != s.Head:
		headTree, err1 := g.Tree(ctx, s.Head)
		tree, err2 := g.Tree(ctx, snap.Commit)
		if err1 != nil || err2 != nil || headTree != tree {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("%s was built from %s, whose sources differ from HEAD %s; the release is tagged at %s, where the image was built",
				tag, git.ShortSHA(snap.Commit), git.ShortSHA(s.Head), git.ShortSHA(snap.Commit)))
		}
	}
	for _, w := range snap.Warnings {
		logf("warning: %s", w)
	}
	logf("%s (%s): %s", tag, snap.Why, digest)
	return snap, nil
}
