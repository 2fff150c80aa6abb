package workflow

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

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

// releaseNotes is what the release step's plan prepared for its run.
type releaseNotes struct {
	prev, name, body string
	commits          []git.Commit
}

// failedNoteMarker starts the paragraph gantry adds to a draft whose rollout failed;
// publishing after a successful re-run removes it.
const failedNoteMarker = "<!-- gantry: not published -->"

// notesPreviewLines bounds the "notes" fact of the release plan.
const notesPreviewLines = 8

// ReleaseStep creates the GitHub release for the release commit as a draft: tag from the
// version, notes from GitHub's generator (against the last published release) plus
// gantry's own section. The publish step publishes it after the rollout. Its plan runs
// every check that can refuse the promotion (release tag, image tag, downgrade, prod),
// so nothing is created when any of them fails. A draft or release of the same commit
// is reused; one for another commit refuses.
func ReleaseStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.NewStep("release", func(ctx context.Context) (pipeline.StepPlan, error) {
		return planRelease(ctx, o, p)
	}, func(ctx context.Context, r pipeline.Reporter) error {
		return runRelease(ctx, o, p, r)
	})
}

func planRelease(ctx context.Context, o PromoteOptions, p *Promotion) (pipeline.StepPlan, error) {
	g, err := decideGates(ctx, o, p)
	if err != nil {
		return pipeline.StepPlan{}, fmt.Errorf("release: %w", err)
	}
	p.Release, p.Prod = g.release, g.prod
	gh, err := o.GitHub(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	tag, sha7 := p.ReleaseTag, git.ShortSHA(p.ReleaseCommit)
	kind := "release"
	if meta.Prerelease(p.Meta.Version) {
		kind = "prerelease"
	}
	var plan pipeline.StepPlan
	refusals := g.all()
	switch {
	case len(refusals) > 0:
		plan = pipeline.Refusing("%s", strings.Join(refusals, "; "))
	case g.release.Found && g.release.Draft:
		plan = pipeline.Skipping("draft %s %s for %s already exists (an earlier run's): reused, published after the rollout", kind, tag, sha7)
	case g.release.Found:
		plan = pipeline.Skipping("%s %s already exists for %s: %s", kind, tag, sha7, g.release.URL)
	default:
		plan = pipeline.Acting(fmt.Sprintf("create draft %s %s at %s (published only after the rollout)", kind, tag, sha7))
	}
	plan.Target = ghTarget(o)
	state := "absent: created as a draft"
	switch {
	case g.release.Found && g.release.Draft:
		state = "draft exists for " + git.ShortSHA(g.release.Commit)
	case g.release.Found:
		state = "published for " + git.ShortSHA(g.release.Commit)
	}
	plan = plan.With("release", tag+" ("+state+")").With("commit", p.ReleaseCommit).
		With("snapshot", p.Snapshot.Tag).With("digest", p.Snapshot.Digest).
		With("image tag", p.PromotedTag).With("image", p.Image).
		With("prod", prodTargetName(o.Prod)).With("runs now", g.prod.Describe())
	repo, rerr := o.Repo(ctx)
	logf := func(format string, args ...any) { plan = plan.Warn(format, args...) }
	if len(refusals) == 0 && !g.release.Found {
		n := releaseNotes{}
		if n.prev, err = previousRelease(ctx, gh, tag, meta.Prerelease(p.Meta.Version)); err != nil {
			return pipeline.StepPlan{}, err
		}
		if n.name, n.body, err = gh.GenerateNotes(ctx, tag, p.ReleaseCommit, n.prev); err != nil {
			return pipeline.StepPlan{}, fmt.Errorf("release notes: %w", err)
		}
		if rerr == nil {
			n.commits = commitsSince(ctx, repo, gh, n.prev, p.ReleaseCommit, logf)
		}
		p.notes = n
		plan = plan.With("previous release", orNone(n.prev)).With("notes", firstLines(n.body, notesPreviewLines))
	} else if g.release.Found {
		plan = plan.With("notes", firstLines(g.release.Body, notesPreviewLines))
	}
	if rerr == nil && g.prod.Exists {
		// The commits between what prod runs and the candidate.
		from := ""
		if g.prod.Version != "" {
			from = meta.ReleaseTag(o.TagFormat, g.prod.Version)
		}
		if from != "" && from != tag {
			// A range that cannot be listed is a fact, not a warning: the notes have their own.
			var why string
			commits := commitsSince(ctx, repo, gh, from, p.ReleaseCommit, func(f string, a ...any) { why = fmt.Sprintf(f, a...) })
			switch {
			case why != "":
				plan = plan.With("commits", why)
			case len(commits) == 0:
				plan = plan.With("commits", "none since "+from)
			default:
				plan = plan.With("commits", commitLines(commits))
			}
			if w := migrationWarning(ctx, repo, gh, from, p.ReleaseCommit); w != "" {
				plan = plan.Warn("%s", w)
			}
		}
	} else if rerr == nil && len(p.notes.commits) > 0 {
		plan = plan.With("commits", commitLines(p.notes.commits))
	}
	if g.prod.Stuck {
		plan = plan.Warn("prod has a stuck rollout of %s (revision %s) left by an earlier run: the rollout step undoes it first", g.prod.StuckImage, g.prod.Revision)
	}
	if g.prod.Version != "" && o.AllowDowngrade {
		if c, ok := compareVersions(p.Meta.Version, g.prod.Version); ok && c < 0 {
			plan = plan.Warn("downgrade: prod runs %s, this rolls out the older %s (--allow-downgrade, audited)", g.prod.Version, p.Meta.Version)
		}
	}
	plan.Key = tag + "@" + p.ReleaseCommit
	return plan, nil
}

func runRelease(ctx context.Context, o PromoteOptions, p *Promotion, r pipeline.Reporter) error {
	gh, err := o.GitHub(ctx)
	if err != nil {
		return err
	}
	tag, commit, n := p.ReleaseTag, p.ReleaseCommit, p.notes
	r.Set("release_tag", tag)
	if n.prev != "" {
		r.Logf("previous release %s", n.prev)
	} else {
		r.Logf("no previous release: the notes start at the first commit")
	}
	body := n.body + "\n\n" + gantryNotes(p, n.prev, n.body, n.commits)
	name := n.name
	if name == "" {
		name = tag
	}
	pre := meta.Prerelease(p.Meta.Version)
	rel, err := gh.CreateRelease(ctx, github.NewRelease{Tag: tag, Target: commit, Name: name, Body: body, Prerelease: pre, Draft: true})
	switch {
	case errors.Is(err, github.ErrReleaseExists):
		// Someone else created it meanwhile: the same decision as the plan's.
		st, ferr := findRelease(ctx, gh, tag)
		if ferr != nil {
			return fmt.Errorf("release %s: %w", tag, ferr)
		}
		if st.Found && strings.EqualFold(st.Commit, commit) {
			p.Release = st
			return pipeline.Skip("release %s for %s was created meanwhile: reused", tag, git.ShortSHA(commit))
		}
		return &ReleaseConflictError{Tag: tag, Commit: st.Commit, Head: commit, URL: st.URL}
	case errors.Is(err, github.ErrTagMismatch):
		return fmt.Errorf("release %s: %w: a release tag never moves; bump the version in pyproject.toml", tag, err)
	case err != nil:
		return err
	}
	p.Release = ReleaseState{Found: true, ID: rel.ID, Draft: rel.Draft, Commit: strings.ToLower(commit), URL: rel.HTMLURL, Prerelease: rel.Prerelease, Body: body}
	r.Logf("created draft %s at %s: %s (published after the rollout)", tag, git.ShortSHA(commit), rel.HTMLURL)
	return nil
}

// PublishStep publishes the draft release and makes it the latest (not for a
// prerelease). It runs only after the rollout succeeded, so a failed or cancelled
// rollout never leaves a published or latest release.
func PublishStep(o PromoteOptions, p *Promotion) pipeline.Step {
	return pipeline.NewStep("publish", func(ctx context.Context) (pipeline.StepPlan, error) {
		return planPublish(ctx, o, p)
	}, func(ctx context.Context, r pipeline.Reporter) error {
		gh, err := o.GitHub(ctx)
		if err != nil {
			return err
		}
		st := p.Release
		if !st.Found || st.ID == 0 {
			return fmt.Errorf("publish: no draft of release %s: the release step did not run", p.ReleaseTag)
		}
		draft := false
		u := github.ReleaseUpdate{Draft: &draft, MakeLatest: publishLatest(p)}
		if b, ok := stripFailedNote(st.Body); ok {
			u.Body = &b
		}
		rel, err := gh.UpdateRelease(ctx, st.ID, u)
		if err != nil {
			return fmt.Errorf("publish release %s: %w", p.ReleaseTag, err)
		}
		p.ReleaseURL = rel.HTMLURL
		r.Set("release_url", rel.HTMLURL)
		r.Logf("published %s (latest: %s): %s", p.ReleaseTag, u.MakeLatest, rel.HTMLURL)
		return nil
	})
}

func planPublish(ctx context.Context, o PromoteOptions, p *Promotion) (pipeline.StepPlan, error) {
	if p.ReleaseTag == "" || p.ReleaseCommit == "" {
		return pipeline.StepPlan{}, errors.New("publish: no release: the earlier steps did not plan")
	}
	gh, err := o.GitHub(ctx)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	st, err := findRelease(ctx, gh, p.ReleaseTag)
	if err != nil {
		return pipeline.StepPlan{}, err
	}
	latest := "and make it the latest release"
	if publishLatest(p) == "false" {
		latest = "as a prerelease (not the latest)"
	}
	var plan pipeline.StepPlan
	switch {
	case !st.Found:
		plan = pipeline.Acting(fmt.Sprintf("publish the draft release %s after the rollout %s", p.ReleaseTag, latest))
	case !strings.EqualFold(st.Commit, p.ReleaseCommit):
		plan = pipeline.Refusing("%s", (&ReleaseConflictError{Tag: p.ReleaseTag, Commit: st.Commit, Head: p.ReleaseCommit, URL: st.URL}).Error())
	case !st.Draft:
		plan = pipeline.Skipping("release %s is published already: %s", p.ReleaseTag, st.URL)
	default:
		p.Release = st
		plan = pipeline.Acting(fmt.Sprintf("publish the draft release %s %s", p.ReleaseTag, latest))
	}
	plan.Target = ghTarget(o)
	plan.Key = p.ReleaseTag + "@" + p.ReleaseCommit
	return plan.With("release", p.ReleaseTag), nil
}

func publishLatest(p *Promotion) string {
	if meta.Prerelease(p.Meta.Version) {
		return "false"
	}
	return "true"
}

// markDraftFailed adds a paragraph to the draft saying its rollout failed and it was not
// published; ctx should outlive a cancelled run.
func markDraftFailed(ctx context.Context, o PromoteOptions, p *Promotion, what string, r pipeline.Reporter) {
	if !p.Release.Found || !p.Release.Draft || p.Release.ID == 0 {
		return
	}
	gh, err := o.GitHub(ctx)
	if err != nil {
		r.Logf("warning: mark draft %s: %v", p.ReleaseTag, err)
		return
	}
	body, _ := stripFailedNote(p.Release.Body)
	body += fmt.Sprintf("\n\n%s\n> **Not published:** the rollout of `%s` %s at %s, so this release stays a draft. A re-run of `gantry promote` for this commit reuses and publishes it.\n",
		failedNoteMarker, p.Image, what, o.now().UTC().Format(time.RFC3339))
	if _, err := gh.UpdateRelease(ctx, p.Release.ID, github.ReleaseUpdate{Body: &body}); err != nil {
		r.Logf("warning: mark draft %s: %v", p.ReleaseTag, err)
		return
	}
	p.Release.Body = body
	r.Logf("draft release %s kept, not published: %s", p.ReleaseTag, p.Release.URL)
	r.Set("release", "draft kept, not published: rollout "+what)
}

// stripFailedNote removes the paragraph markDraftFailed added.
func stripFailedNote(body string) (string, bool) {
	i := strings.Index(body, failedNoteMarker)
	if i < 0 {
		return body, false
	}
	return strings.TrimRight(body[:i], "\n") + "\n", true
}

func ghTarget(o PromoteOptions) string {
	if o.ReleaseRepo == "" {
		return "GitHub releases"
	}
	return "GitHub releases of " + o.ReleaseRepo
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
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

// migrationWarning says which Django migrations (*/migrations/*.py) changed between the
// release prod runs and the candidate, or "" when none did or the range cannot be read
// (the commits fact already says why).
func migrationWarning(ctx context.Context, g GitHistory, gh ReleaseAPI, prodTag, candidate string) string {
	from, err := resolveTag(ctx, g, gh, prodTag)
	if err != nil {
		return ""
	}
	files, err := g.ChangedFiles(ctx, from, candidate)
	if err != nil {
		return ""
	}
	var migrations []string
	for _, f := range files {
		if path.Base(path.Dir(f)) == "migrations" && strings.HasSuffix(f, ".py") && path.Base(f) != "__init__.py" {
			migrations = append(migrations, f)
		}
	}
	if len(migrations) == 0 {
		return ""
	}
	list := strings.Join(migrations[:min(len(migrations), 3)], ", ")
	if len(migrations) > 3 {
		list += fmt.Sprintf(" and %d more", len(migrations)-3)
	}
	return fmt.Sprintf("database migrations changed since %s (prod): %s; the old pods serve during the rollout, so they must stay compatible", prodTag, list)
}

// resolveTag finds the commit a release tag names: locally, else where GitHub says it
// points when the tag is not fetched (that commit must be in the local history).
func resolveTag(ctx context.Context, g GitHistory, gh ReleaseAPI, tag string) (string, error) {
	if sha, err := g.ResolveCommit(ctx, tag); err == nil {
		return sha, nil
	}
	sha, err := gh.TagCommit(ctx, tag)
	if err != nil {
		return "", err
	}
	if _, err := g.ResolveCommit(ctx, sha); err != nil {
		return "", fmt.Errorf("commit %s is not in the local history (fetch with fetch-depth: 0)", git.ShortSHA(sha))
	}
	return sha, nil
}

// commitsSince lists prev..head from the local history, asking GitHub where prev points
// when the tag is not fetched. Nil when neither knows.
func commitsSince(ctx context.Context, g GitHistory, gh ReleaseAPI, prev, head string, logf func(string, ...any)) []git.Commit {
	rng := head
	if prev != "" {
		from, err := resolveTag(ctx, g, gh, prev)
		if err != nil {
			logf("cannot list commits since %s: %v", prev, err)
			return nil
		}
		rng = from + ".." + head
	}
	commits, err := g.Log(ctx, rng, maxNoteCommits+1)
	if err != nil {
		logf("cannot list commits since %s: %v", prev, err)
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
	fmt.Fprintf(&b, "- Commit: %s\n", p.ReleaseCommit)
	if p.ReleaseCommit != p.Meta.Commit {
		fmt.Fprintf(&b, "- Warning: released with --snapshot at %s, the commit the image was built from, not HEAD %s\n", p.ReleaseCommit, p.Meta.Commit)
	} else if p.Snapshot.Commit != "" && p.Snapshot.Commit != p.Meta.Commit {
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
