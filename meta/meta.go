// Package meta derives an app's release metadata: the version from pyproject.toml,
// the commit, its short SHA and the snapshot image tag built from them. It imports
// only remote/git.
package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/bookshop-ops/gantry/remote/git"
)

// SnapshotInfix joins version and short SHA in a snapshot tag.
const SnapshotInfix = "-SNAPSHOT-"

// DirtyInfix joins a snapshot tag and the content hash in the tag of a dirty build:
// X.Y.Z-SNAPSHOT-<sha7>-dirty.<content hash>.
const DirtyInfix = "-dirty."

// ContentHashLen is how many hex digits of the work tree's tree id a dirty tag carries.
const ContentHashLen = 10

// MaxVersionLen leaves room in the 128-character tag limit for the longest tag built
// from a version: "-SNAPSHOT-", 7 hex digits, "-dirty." and the content hash.
const MaxVersionLen = 128 - len(SnapshotInfix) - 7 - len(DirtyInfix) - ContentHashLen

// ErrBadVersion marks a version that is missing or unsafe to use.
var ErrBadVersion = errors.New("bad version")

// Meta is what a release is made of.
type Meta struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	ShortSHA string `json:"short_sha"`
	// ImageTag is the tag this build gets: the snapshot tag of the commit, or for a dirty
	// work tree a tag of its own (DirtyTag) that no clean build can take.
	ImageTag string   `json:"image_tag"`
	Dirty    bool     `json:"dirty"`
	Changes  []string `json:"changes,omitempty"`
	Source   string   `json:"version_source"`
	// Tree is the git tree the image is built from: the commit's tree, or for a dirty
	// work tree the tree of its content as it is on disk.
	Tree string `json:"tree"`
	// ContentHash is the short hash of a dirty work tree's content ("" when clean).
	ContentHash string `json:"content_hash,omitempty"`
}

// Contents says plainly what an image built from m holds.
func (m Meta) Contents() string {
	if !m.Dirty {
		return "built from commit " + m.ShortSHA
	}
	return fmt.Sprintf("built from the work tree: %d uncommitted change(s) on top of %s", len(m.Changes), m.ShortSHA)
}

// VersionError says why pyproject.toml gave no usable version.
type VersionError struct {
	File    string
	Problem string
	Fix     string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s: %s; %s", e.File, e.Problem, e.Fix)
}

// Is makes VersionError match ErrBadVersion.
func (e *VersionError) Is(t error) bool { return t == ErrBadVersion }

// tagSafe is what a Docker tag allows; a shell needs no quoting for it either.
var tagSafe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// ValidateVersion refuses a version that is not safe as an image tag and in a shell.
func ValidateVersion(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty", ErrBadVersion)
	case len(v) > MaxVersionLen:
		return fmt.Errorf("%w: %d characters, at most %d leave room for the snapshot suffix", ErrBadVersion, len(v), MaxVersionLen)
	case !tagSafe.MatchString(v):
		return fmt.Errorf("%w: %q may hold only letters, digits, '.', '_' and '-' and must not start with '.' or '-'", ErrBadVersion, v)
	}
	return nil
}

// ValidateTag refuses an image tag that Docker would reject or a shell could misread.
func ValidateTag(tag string) error {
	if len(tag) == 0 || len(tag) > 128 || !tagSafe.MatchString(tag) {
		return fmt.Errorf("image tag %q: must be 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'", tag)
	}
	return nil
}

type pyproject struct {
	Project *struct {
		Version *string  `toml:"version"`
		Dynamic []string `toml:"dynamic"`
	} `toml:"project"`
	Tool struct {
		Poetry *struct {
			Version *string `toml:"version"`
		} `toml:"poetry"`
	} `toml:"tool"`
}

// ReadVersion reads the version from dir/pyproject.toml: PEP 621 [project].version,
// else Poetry's [tool.poetry].version. It returns the version and where it came from.
func ReadVersion(dir string) (version, source string, err error) {
	file := filepath.Join(dir, "pyproject.toml")
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", &VersionError{File: file, Problem: "not found", Fix: "run gantry in the app's root (or pass --dir) where pyproject.toml holds the version"}
		}
		return "", "", &VersionError{File: file, Problem: err.Error(), Fix: "check the file's permissions"}
	}
	var p pyproject
	if err := toml.Unmarshal(data, &p); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return "", "", &VersionError{File: fmt.Sprintf("%s:%d:%d", file, row, col), Problem: "malformed TOML: " + de.Error(), Fix: "fix the syntax at that line and column"}
		}
		return "", "", &VersionError{File: file, Problem: err.Error(), Fix: "fix pyproject.toml"}
	}
	var v string
	switch {
	case p.Project != nil && p.Project.Version != nil:
		v, source = *p.Project.Version, "[project].version"
	case p.Project != nil && contains(p.Project.Dynamic, "version"):
		return "", "", &VersionError{File: file, Problem: "[project].version is dynamic (computed at build time)", Fix: "write a static version = \"X.Y.Z\" under [project]; gantry tags images before any Python build runs"}
	case p.Tool.Poetry != nil && p.Tool.Poetry.Version != nil:
		v, source = *p.Tool.Poetry.Version, "[tool.poetry].version"
	default:
		return "", "", &VersionError{File: file, Problem: "no version", Fix: "add version = \"X.Y.Z\" under [project] (or [tool.poetry])"}
	}
	v = strings.TrimSpace(v)
	if err := ValidateVersion(v); err != nil {
		return "", "", &VersionError{File: file, Problem: err.Error(), Fix: "use a version such as 1.4.2 or 1.5.0rc1"}
	}
	return v, source, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SnapshotTag is IMAGE_TAG for a version and commit: X.Y.Z-SNAPSHOT-<sha7>.
func SnapshotTag(version, commit string) string {
	return version + SnapshotInfix + git.ShortSHA(commit)
}

// DirtyTag is IMAGE_TAG for a build from a dirty work tree on top of commit:
// X.Y.Z-SNAPSHOT-<sha7>-dirty.<content hash>. It names that content only; it is not a
// snapshot of the commit (ParseSnapshotTag refuses it), so nothing promotes it.
func DirtyTag(version, commit, contentHash string) string {
	return SnapshotTag(version, commit) + DirtyInfix + contentHash
}

var (
	sha7Re    = regexp.MustCompile(`^[0-9a-f]{7}$`)
	contentRe = regexp.MustCompile(`^[0-9a-f]{8,12}$`)
)

// ParseSnapshotTag splits a snapshot tag into version and short SHA. A dirty build's
// tag is not a snapshot of its commit: ok is false for it.
func ParseSnapshotTag(tag string) (version, sha7 string, ok bool) {
	i := strings.LastIndex(tag, SnapshotInfix)
	if i <= 0 {
		return "", "", false
	}
	sha := tag[i+len(SnapshotInfix):]
	if !sha7Re.MatchString(sha) {
		return "", "", false
	}
	return tag[:i], sha, true
}

// ParseDirtyTag splits the tag of a dirty build into version, short SHA and content hash.
func ParseDirtyTag(tag string) (version, sha7, contentHash string, ok bool) {
	i := strings.LastIndex(tag, DirtyInfix)
	if i <= 0 || !contentRe.MatchString(tag[i+len(DirtyInfix):]) {
		return "", "", "", false
	}
	version, sha7, ok = ParseSnapshotTag(tag[:i])
	if !ok {
		return "", "", "", false
	}
	return version, sha7, tag[i+len(DirtyInfix):], true
}

// IsDirtyTag reports whether tag names a build from a dirty work tree.
func IsDirtyTag(tag string) bool {
	_, _, _, ok := ParseDirtyTag(tag)
	return ok
}

// Read derives the metadata of the app in dir.
func Read(ctx context.Context, dir string) (Meta, error) {
	version, source, err := ReadVersion(dir)
	if err != nil {
		return Meta{}, err
	}
	repo, err := git.Open(ctx, dir)
	if err != nil {
		return Meta{}, err
	}
	head, err := repo.Head(ctx)
	if err != nil {
		return Meta{}, err
	}
	dirty, err := repo.Dirty(ctx)
	if err != nil {
		return Meta{}, fmt.Errorf("work tree state: %w", err)
	}
	m := Meta{
		Version:  version,
		Source:   source,
		Commit:   head,
		ShortSHA: git.ShortSHA(head),
		ImageTag: SnapshotTag(version, head),
		Dirty:    len(dirty) > 0,
		Changes:  dirty,
	}
	if !m.Dirty {
		if m.Tree, err = repo.Tree(ctx, head); err != nil {
			return Meta{}, err
		}
		return m, nil
	}
	// A snapshot tag names one commit's tree; what a dirty work tree holds gets a tag
	// of its own, named for that content.
	if m.Tree, err = repo.WorkTree(ctx); err != nil {
		return Meta{}, fmt.Errorf("work tree state: %w", err)
	}
	m.ContentHash = m.Tree[:ContentHashLen]
	m.ImageTag = DirtyTag(version, head, m.ContentHash)
	return m, nil
}

// ReleaseTag builds the GitHub release tag from a format such as "{version}".
func ReleaseTag(format, version string) string {
	return strings.ReplaceAll(format, "{version}", version)
}

// PromotedTag is the image tag a promotion adds: v<version>.
func PromotedTag(version string) string { return "v" + version }

// Prerelease reports whether a version has a pre-release part (PEP 440 a/b/rc/dev or semver -x).
func Prerelease(version string) bool {
	return regexp.MustCompile(`(?i)\d[._-]?(a|b|c|rc|alpha|beta|pre|preview|dev)\.?\d*$|^\d+(\.\d+)*-`).MatchString(version)
}
