package app

import (
	"context"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/git"
)

// Masker returns a masker that already knows every secret gantry may find in its
// environment (and gh's token), so a plan or a run never shows one, even in a line a tool prints.
func (a *App) Masker() *pipeline.Masker {
	m := pipeline.NewMasker()
	for _, s := range a.promoteSecrets(a.Cfg.GitHub.Host) {
		m.Add(s)
	}
	return m
}

// Plan plans steps (fresh instances, never run afterwards) with the app's masker.
func (a *App) Plan(ctx context.Context, workflow string, steps []pipeline.Step) pipeline.Plan {
	return pipeline.PlanSteps(ctx, workflow, steps, a.Masker())
}

// Execute runs steps (fresh instances, not the ones planned) with the app's masker.
// With approved set, a step whose fresh plan no longer agrees stops the run with a
// *pipeline.StaleError before it changes anything.
func (a *App) Execute(ctx context.Context, workflow string, steps []pipeline.Step, sink pipeline.Sink, approved *pipeline.Plan) (map[string]string, error) {
	r := &pipeline.Runner{Sink: sink, Masker: a.Masker(), Approved: approved}
	return r.Run(ctx, workflow, steps)
}

// Commit is one commit of a branch the console shows.
type Commit struct {
	SHA, Subject, Author string
	When                 time.Time
	// Branch is the branch it was found on (prod.dev_branch, or the branch promote runs from).
	Branch string
	// Releases are the release tags pointing at it.
	Releases []string
}

// commitsPerBranch bounds each branch's walk.
const commitsPerBranch = 50

// CommitBranches are the branches the console lists: prod.dev_branch, where snapshots
// are built, and HEAD's branch, the one promote releases from. A branch is listed
// once; when HEAD is detached only the dev branch is.
func (a *App) CommitBranches(ctx context.Context, repo *git.Repo) []string {
	out := []string{a.Cfg.Prod.DevBranch}
	if b := repo.Branch(ctx); b != "" && b != "HEAD" && b != a.Cfg.Prod.DevBranch {
		out = append(out, b)
	}
	return out
}

// Commits lists the recent commits of CommitBranches (a local branch, else its origin/
// counterpart), with the release tags on each. When none of them exists it lists HEAD's
// history. Snapshots are not looked up here: the console joins the listing it already has.
func (a *App) Commits(ctx context.Context) ([]Commit, error) {
	repo, err := a.Repo(ctx)
	if err != nil {
		return nil, err
	}
	released, err := repo.TagsByCommit(ctx)
	if err != nil {
		return nil, err
	}
	var out []Commit
	add := func(branch, ref string) error {
		commits, err := repo.Log(ctx, ref, commitsPerBranch)
		if err != nil {
			return err
		}
		for _, c := range commits {
			out = append(out, Commit{SHA: c.SHA, Subject: c.Subject, Author: c.Author, When: c.When, Branch: branch, Releases: released[c.SHA]})
		}
		return nil
	}
	found := false
	for _, branch := range a.CommitBranches(ctx, repo) {
		for _, ref := range []string{branch, "origin/" + branch} {
			if repo.HasRef(ctx, ref) {
				found = true
				if err := add(branch, ref); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	if !found {
		branch := strings.TrimSpace(repo.Branch(ctx))
		if err := add(branch, "HEAD"); err != nil {
			return nil, err
		}
	}
	return out, nil
}
