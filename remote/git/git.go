// Package git reads the app's repository through the git command line: HEAD,
// short SHAs, trees, logs and dirty state. It imports no gantry package.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNotRepo means the directory is not inside a git work tree.
var ErrNotRepo = errors.New("not a git repository")

// ErrNoCommits means the repository has no commit yet.
var ErrNoCommits = errors.New("repository has no commits")

// Repo is a git work tree.
type Repo struct {
	Dir string
}

// Open checks that dir is inside a git work tree and returns it.
func Open(ctx context.Context, dir string) (*Repo, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, fmt.Errorf("git is not installed: install it (apt-get install git): %w", err)
	}
	r := &Repo{Dir: dir}
	out, err := r.git(ctx, "rev-parse", "--is-inside-work-tree")
	if err != nil || strings.TrimSpace(out) != "true" {
		return nil, fmt.Errorf("%s: %w (run gantry inside the app's git checkout, or pass --dir)", dir, ErrNotRepo)
	}
	return r, nil
}

func (r *Repo) git(ctx context.Context, args ...string) (string, error) {
	return r.gitEnv(ctx, nil, args...)
}

// gitEnv runs git with extra environment variables.
func (r *Repo) gitEnv(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", r.Dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A fixed locale keeps messages parseable; no pager, no prompts.
	cmd.Env = append(append(cmd.Environ(), "LC_ALL=C", "GIT_PAGER=cat", "GIT_TERMINAL_PROMPT=0"), env...)
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("git %s: %s", args[0], msg)
	}
	return stdout.String(), nil
}

// Head returns the full SHA of HEAD.
func (r *Repo) Head(ctx context.Context) (string, error) {
	return r.ResolveCommit(ctx, "HEAD")
}

// ResolveCommit returns the full commit SHA a revision names.
func (r *Repo) ResolveCommit(ctx context.Context, rev string) (string, error) {
	if strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("revision %q: must not start with -", rev)
	}
	out, err := r.git(ctx, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		if rev == "HEAD" {
			return "", fmt.Errorf("%s: %w (make a first commit)", r.Dir, ErrNoCommits)
		}
		return "", fmt.Errorf("resolve %s: unknown revision", rev)
	}
	return strings.TrimSpace(out), nil
}

// Tree returns the tree SHA of a commit.
func (r *Repo) Tree(ctx context.Context, commit string) (string, error) {
	out, err := r.git(ctx, "rev-parse", "--verify", "--quiet", commit+"^{tree}")
	if err != nil {
		return "", fmt.Errorf("tree of %s: %w", commit, err)
	}
	return strings.TrimSpace(out), nil
}

// Parents returns the parent SHAs of a commit.
func (r *Repo) Parents(ctx context.Context, commit string) ([]string, error) {
	out, err := r.git(ctx, "rev-list", "--parents", "-n", "1", commit)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return nil, nil
	}
	return f[1:], nil
}

// Dirty lists modified or untracked paths under the repo's directory (empty when
// clean; paths relative to the repository root): in a monorepo only the app's own folder counts.
func (r *Repo) Dirty(ctx context.Context) ([]string, error) {
	out, err := r.git(ctx, "status", "--porcelain", "--untracked-files=normal", "--", ".")
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 3 {
			paths = append(paths, strings.TrimSpace(l[3:]))
		}
	}
	return paths, nil
}

// Commit is one log entry.
type Commit struct {
	SHA     string
	Tree    string
	Parents []string
	Author  string
	Email   string
	When    time.Time
	Subject string
}

// Log returns up to limit commits reachable from rev, newest first. A range such
// as "v1.0.0..HEAD" is accepted.
func (r *Repo) Log(ctx context.Context, rev string, limit int) ([]Commit, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, fmt.Errorf("revision %q: must not start with -", rev)
	}
	args := []string{"log", "--format=%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%ct%x1f%s%x1e"}
	if limit > 0 {
		args = append(args, "-n", strconv.Itoa(limit))
	}
	args = append(args, rev, "--")
	out, err := r.git(ctx, args...)
	if err != nil {
		return nil, err
	}
	var commits []Commit
	for _, rec := range strings.Split(out, "\x1e") {
		rec = strings.TrimSpace(rec)
		if rec == "" {
			continue
		}
		f := strings.Split(rec, "\x1f")
		if len(f) != 7 {
			continue
		}
		ts, _ := strconv.ParseInt(f[5], 10, 64)
		commits = append(commits, Commit{SHA: f[0], Tree: f[1], Parents: strings.Fields(f[2]), Author: f[3], Email: f[4], When: time.Unix(ts, 0), Subject: f[6]})
	}
	return commits, nil
}

// ChangedFiles lists the paths (relative to the repository root) that differ
// between two commits; a rename lists both names.
func (r *Repo) ChangedFiles(ctx context.Context, from, to string) ([]string, error) {
	for _, rev := range []string{from, to} {
		if strings.HasPrefix(rev, "-") {
			return nil, fmt.Errorf("revision %q: must not start with -", rev)
		}
	}
	out, err := r.git(ctx, "diff", "--name-only", "--no-renames", "-z", from, to, "--")
	if err != nil {
		return nil, fmt.Errorf("changed files %s..%s: %w", ShortSHA(from), ShortSHA(to), err)
	}
	var files []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// RemoteURL returns the URL of a remote ("" when absent).
func (r *Repo) RemoteURL(ctx context.Context, name string) string {
	out, err := r.git(ctx, "remote", "get-url", name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// Branch returns the current branch name, or "" on a detached HEAD.
func (r *Repo) Branch(ctx context.Context) string {
	out, err := r.git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// HasRef reports whether a ref (branch, remote branch, tag) exists.
func (r *Repo) HasRef(ctx context.Context, ref string) bool {
	_, err := r.ResolveCommit(ctx, ref)
	return err == nil
}

// TagsPointingAt returns the tags on a commit.
func (r *Repo) TagsPointingAt(ctx context.Context, commit string) []string {
	out, err := r.git(ctx, "tag", "--points-at", commit)
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// ShowFile returns a file's contents at a commit.
func (r *Repo) ShowFile(ctx context.Context, commit, path string) ([]byte, error) {
	out, err := r.git(ctx, "show", commit+":"+path)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// ShortSHA is the 7-character abbreviation gantry uses in image tags.
func ShortSHA(sha string) string {
	if len(sha) < 7 {
		return sha
	}
	return sha[:7]
}

// TagsByCommit maps each commit SHA to the tags that point at it (annotated tags peeled).
func (r *Repo) TagsByCommit(ctx context.Context) (map[string][]string, error) {
	out, err := r.git(ctx, "for-each-ref", "--format=%(refname:short)%09%(objectname)%09%(*objectname)", "refs/tags")
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			continue
		}
		sha := f[2]
		if sha == "" {
			sha = f[1]
		}
		m[sha] = append(m[sha], f[0])
	}
	return m, nil
}

// WorkTree returns the id of the tree the work tree holds now: under the repo's
// directory, tracked files as they are on disk and untracked files that are not
// ignored; elsewhere, the index. It stages into a throwaway copy of the index, so the
// real index, HEAD and the files stay as they are (the blobs land in the object store,
// as `git stash create` would put them). The same content always gives the same id.
func (r *Repo) WorkTree(ctx context.Context) (string, error) {
	tmp, err := os.MkdirTemp("", "gantry-index-")
	if err != nil {
		return "", fmt.Errorf("work tree: %w", err)
	}
	defer os.RemoveAll(tmp)
	index := filepath.Join(tmp, "index")
	real, err := r.git(ctx, "rev-parse", "--git-path", "index")
	if err != nil {
		return "", fmt.Errorf("work tree: %w", err)
	}
	real = strings.TrimSpace(real)
	if !filepath.IsAbs(real) {
		real = filepath.Join(r.Dir, real)
	}
	env := []string{"GIT_INDEX_FILE=" + index}
	if data, err := os.ReadFile(real); err == nil {
		// A copy keeps the real index's stat cache: only changed files are hashed.
		if err := os.WriteFile(index, data, 0o600); err != nil {
			return "", fmt.Errorf("work tree: %w", err)
		}
	} else if _, err := r.gitEnv(ctx, env, "read-tree", "HEAD"); err != nil {
		return "", fmt.Errorf("work tree: %w", err)
	}
	if _, err := r.gitEnv(ctx, env, "add", "-A", "--", "."); err != nil {
		return "", fmt.Errorf("work tree: %w", err)
	}
	out, err := r.gitEnv(ctx, env, "write-tree")
	if err != nil {
		return "", fmt.Errorf("work tree: %w", err)
	}
	return strings.TrimSpace(out), nil
}
