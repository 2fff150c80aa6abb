package workflow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bookshop-ops/gantry/pipeline"

	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/github"
)

var fullSHARe = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// maxNoteCommits bounds the commit list gantry adds to release notes.
const maxNoteCommits = 50

// ErrReleaseConflict means the release tag already belongs to another commit.
var ErrReleaseConflict = errors.New("release exists for another commit")

// ReleaseConflictError refuses to release a version whose release names another commit.
type ReleaseConflictError struct {
	Tag, Commit, Head, URL string
}

func (e *ReleaseConflictError) Error() string {
	at := e.Commit
	if at == "" {
		at = "another commit"
	}
	msg := fmt.Sprintf("release %s already exists for %s, not HEAD %s", e.Tag, at, e.Head)
	if e.URL != "" {
		msg += " (" + e.URL + ")"
	}
	return msg + ": a release never moves; bump the version in pyproject.toml to release this commit"
}

// Is makes ReleaseConflictError match ErrReleaseConflict.
func (e *ReleaseConflictError) Is(t error) bool { return t == ErrReleaseConflict }

// ReleaseStep creates the GitHub release for HEAD: tag from the version, notes from
// GitHub's generator plus gantry's own section. An existing release for HEAD is skipped
// as done; one for another commit stops the run.
func ReleaseStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.StepFunc("release", func(ctx context.Context, r pipeline.Reporter) error {
		if p.Snapshot.Tag == "" {
			return errors.New("release: no snapshot: the find snapshot step did not run")
		}
		gh, err := o.GitHub(ctx)
		if err != nil {
			return err
		}
		tag, head := p.ReleaseTag, p.Meta.Commit
		r.Set("release_tag", tag)
		if done, err := existingRelease(ctx, gh, tag, head, p, r); done || err != nil {
			return err
		}
		prev, err := previousRelease(ctx, gh, tag, meta.Prerelease(p.Meta.Version))
		if err != nil {
			return err
		}
		if prev != "" {
			r.Logf("previous release %s", prev)
		} else {
			r.Logf("no previous release: the notes start at the first commit")
		}
		name, body, err := gh.GenerateNotes(ctx, tag, head, prev)
		if err != nil {
			return fmt.Errorf("release notes: %w", err)
		}
		var commits []git.Commit
		if g, gerr := o.Repo(ctx); gerr == nil {
			commits = commitsSince(ctx, g, gh, prev, head, r)
		}
		body = body + "\n\n" + gantryNotes(p, prev, body, commits)
		if name == "" {
			name = tag
		}
		pre := meta.Prerelease(p.Meta.Version)
		rel, err := gh.CreateRelease(ctx, github.NewRelease{Tag: tag, Target: head, Name: name, Body: body, Prerelease: pre, MakeLatest: !pre})
		switch {
		case errors.Is(err, github.ErrReleaseExists):
			// Someone else created it meanwhile, or a draft holds the tag.
			if done, err := existingRelease(ctx, gh, tag, head, p, r); done || err != nil {
				return err
			}
			return fmt.Errorf("release %s: GitHub says it exists but shows no published release: a draft may hold the tag; publish or delete it: %w", tag, github.ErrReleaseExists)
		case errors.Is(err, github.ErrTagMismatch):
			return fmt.Errorf("release %s: %w: a release tag never moves; bump the version in pyproject.toml", tag, err)
		case err != nil:
			return err
		}
		p.ReleaseURL = rel.HTMLURL
		r.Set("release_url", rel.HTMLURL)
		kind := "release"
		if rel.Prerelease {
			kind = "prerelease"
		}
		r.Logf("created %s %s at %s: %s", kind, tag, git.ShortSHA(head), rel.HTMLURL)
		return nil
	})
}

// existingRelease reports whether tag's release already exists for head (done), and
// refuses one for another commit.
func existingRelease(ctx context.Context, gh ReleaseAPI, tag, head string, p *Promotion, r pipeline.Reporter) (bool, error) {
	rel, err := gh.ReleaseByTag(ctx, tag)
	if errors.Is(err, github.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for release %s: %w", tag, err)
	}
	commit, cerr := gh.TagCommit(ctx, tag)
	if cerr != nil {
		if !fullSHARe.MatchString(rel.TargetCommitish) {
			return false, fmt.Errorf("release %s exists; cannot tell which commit it names: %w", tag, cerr)
		}
		commit = strings.ToLower(rel.TargetCommitish)
	}
	if !strings.EqualFold(commit, head) {
		return false, &ReleaseConflictError{Tag: tag, Commit: commit, Head: head, URL: rel.HTMLURL}
	}
	p.ReleaseURL = rel.HTMLURL
	r.Set("release_url", rel.HTMLURL)
	return true, pipeline.Skip("release %s already exists for %s: %s", tag, git.ShortSHA(head), rel.HTMLURL)
}

// previousRelease is the newest published release other than tag; a full release skips
// prereleases so its notes cover everything since the last full release.
func previousRelease(ctx context.Context, gh ReleaseAPI, tag string, prerelease bool) (string, error) {
	list, err := gh.ListReleases(ctx, 30)
	if err != nil {
		return "", fmt.Errorf("find the previous release: %w", err)
	}
	for _, rel := range list {
		if rel.Draft || rel.TagName == tag || (rel.Prerelease && !prerelease) {
			continue
		}
		return rel.TagName, nil
	}
	return "", nil
}

// commitsSince lists prev..head from the local history, asking GitHub where prev points
// when the tag is not fetched. Nil when neither knows.
func commitsSince(ctx context.Context, g GitHistory, gh ReleaseAPI, prev, head string, r pipeline.Reporter) []git.Commit {
	rng := head
	if prev != "" {
		from := prev
		if _, err := g.ResolveCommit(ctx, prev); err != nil {
			sha, err := gh.TagCommit(ctx, prev)
			if err != nil {
				r.Logf("cannot list commits since %s: %v", prev, err)
				return nil
			}
			if _, err := g.ResolveCommit(ctx, sha); err != nil {
				r.Logf("cannot list commits since %s: commit %s is not in the local history (fetch with fetch-depth: 0)", prev, git.ShortSHA(sha))
				return nil
			}
			from = sha
		}
		rng = from + ".." + head
	}
	commits, err := g.Log(ctx, rng, maxNoteCommits+1)
	if err != nil {
		r.Logf("cannot list commits since %s: %v", prev, err)
		return nil
	}
	return commits
}

// gantryNotes is gantry's section of the release notes: what was released, and the
// commits when GitHub's notes list no pull request.
func gantryNotes(p *Promotion, prev, generated string, commits []git.Commit) string {
	var b strings.Builder
	b.WriteString("## Image\n\n")
	fmt.Fprintf(&b, "- Snapshot: `%s`\n", p.Snapshot.Tag)
	fmt.Fprintf(&b, "- Digest: `%s`\n", p.Snapshot.Digest)
	fmt.Fprintf(&b, "- Image: `%s:%s`\n", p.Repository, p.PromotedTag)
	fmt.Fprintf(&b, "- Commit: %s\n", p.Meta.Commit)
	if p.Snapshot.Commit != "" && p.Snapshot.Commit != p.Meta.Commit {
		fmt.Fprintf(&b, "- Built from: %s (%s)\n", p.Snapshot.Commit, p.Snapshot.Why)
	}
	for _, w := range p.Snapshot.Warnings {
		fmt.Fprintf(&b, "- Warning: %s\n", w)
	}
	if len(commits) > 0 && !strings.Contains(generated, "\n* ") && !strings.HasPrefix(generated, "* ") {
		if prev != "" {
			fmt.Fprintf(&b, "\n## Commits since %s\n\n", prev)
		} else {
			b.WriteString("\n## Commits\n\n")
		}
		shown := commits
		if len(shown) > maxNoteCommits {
			shown = shown[:maxNoteCommits]
		}
		for _, c := range shown {
			fmt.Fprintf(&b, "- %s %s (%s)\n", git.ShortSHA(c.SHA), c.Subject, c.Author)
		}
		if len(commits) > maxNoteCommits {
			fmt.Fprintf(&b, "- … and more\n")
		}
	}
	b.WriteString("\n_Released with gantry._\n")
	return b.String()
}
