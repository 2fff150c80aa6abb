package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/github"
)

// DeploymentAPI is what deployment tracking needs from GitHub; *github.Client implements it.
type DeploymentAPI interface {
	CreateDeployment(ctx context.Context, nd github.NewDeployment) (*github.Deployment, error)
	ListDeployments(ctx context.Context, f github.DeploymentFilter) ([]github.Deployment, error)
	CreateDeploymentStatus(ctx context.Context, id int64, ns github.NewDeploymentStatus) (*github.DeploymentStatus, error)
	ListDeploymentStatuses(ctx context.Context, id int64) ([]github.DeploymentStatus, error)
}

// ActionsRun is what a GitHub Actions run says about itself (GITHUB_* variables);
// zero outside Actions.
type ActionsRun struct {
	// ServerURL, Repository and RunID build the run's page: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID.
	ServerURL, Repository, RunID string
	// SHA is GITHUB_SHA, the commit a job's own deployment is for.
	SHA string
}

// LogURL is the run's page ("" outside Actions).
func (a ActionsRun) LogURL() string {
	if a.RunID == "" || a.ServerURL == "" || a.Repository == "" {
		return ""
	}
	return a.ServerURL + "/" + a.Repository + "/actions/runs/" + a.RunID
}

// mentions reports whether u links to this run: ".../actions/runs/<id>" followed by
// the end, "/" (…/job/<n>, …/attempts/<n>) or a query.
func (a ActionsRun) mentions(u string) bool {
	if a.RunID == "" {
		return false
	}
	needle := "/actions/runs/" + a.RunID
	for i := strings.Index(u, needle); i >= 0; {
		rest := u[i+len(needle):]
		if rest == "" || rest[0] == '/' || rest[0] == '?' || rest[0] == '#' {
			return true
		}
		j := strings.Index(rest, needle)
		if j < 0 {
			break
		}
		i += len(needle) + j
	}
	return false
}

// DeploymentInfo is what a deployment records: what is deployed, from which commit.
type DeploymentInfo struct {
	Commit, Version, Snapshot, Digest, Image string
	// ReleaseTag is the GitHub release's tag (promote only).
	ReleaseTag string
}

// DeploymentOptions configure the GitHub deployment of one workflow run.
type DeploymentOptions struct {
	// Environment is GitHub's environment name ("dev", "production").
	Environment string
	// Production marks the environment as one end users reach.
	Production bool
	// Workflow names the gantry command, for descriptions ("gantry dev").
	Workflow string
	API      func(ctx context.Context) (DeploymentAPI, error)
	// Run is the Actions run gantry runs in (zero outside Actions): its page is the
	// statuses' log_url, and a job that declares the environment has a deployment of its own.
	Run ActionsRun
	// Info says what is deployed; read when the deployment step plans (the earlier
	// steps have planned, or run, by then).
	Info func() DeploymentInfo
	// EnvironmentURL is where the environment is reached, asked on success.
	EnvironmentURL func(DeploymentInfo) string
}

// DeploymentTracker reports one workflow run to a GitHub deployment. The deployment
// step finds (plans) the deployment; WithDeployment creates it when the wrapped step
// starts, if the job has none, and posts in_progress, then success or failure. A
// GitHub problem is a warning: it never fails the release.
type DeploymentTracker struct {
	o DeploymentOptions

	info DeploymentInfo
	// reuse is the job's own deployment the plan found (0: create one).
	reuse int64
	// off says why the run posts nothing ("" while on).
	off string
	// id is the deployment statuses go to once created or adopted.
	id int64
}

// NewDeploymentTracker starts the deployment state of one run.
func NewDeploymentTracker(o DeploymentOptions) *DeploymentTracker { return &DeploymentTracker{o: o} }

// ID is the deployment the run reports to (0 before the wrapped step starts, or when off).
func (t *DeploymentTracker) ID() int64 { return t.id }

// DeploymentStep plans the run's GitHub deployment: create one for the environment at
// the commit, or report to the one GitHub Actions made for this job. It only looks;
// the deployment is created when the wrapped deploy or rollout starts, so a deploy
// that skips (already live) leaves no deployment behind.
func DeploymentStep(t *DeploymentTracker) pipeline.Step {
	return pipeline.NewStep("deployment", func(ctx context.Context) (pipeline.StepPlan, error) {
		return t.plan(ctx), nil
	}, func(ctx context.Context, r pipeline.Reporter) error {
		switch {
		case t.off != "":
			// The plan's warning already said why.
			r.Logf("no GitHub deployment this run")
		case t.reuse != 0:
			r.Logf("statuses go to deployment %d, the one GitHub Actions made for this job (%s at %s)", t.reuse, t.o.Environment, git.ShortSHA(t.info.Commit))
		default:
			r.Logf("a deployment for %s at %s is created when the %s starts", t.o.Environment, git.ShortSHA(t.info.Commit), t.what())
		}
		return nil
	})
}

func (t *DeploymentTracker) what() string {
	if t.o.Production {
		return "rollout"
	}
	return "deploy"
}

// plan decides create or reuse. Errors turn tracking off with a warning.
func (t *DeploymentTracker) plan(ctx context.Context) pipeline.StepPlan {
	t.off, t.reuse, t.id = "", 0, 0
	if t.o.Info != nil {
		t.info = t.o.Info()
	}
	env := t.o.Environment
	if t.info.Commit == "" {
		t.off = "no commit to deploy (the metadata step did not plan)"
		return pipeline.Reading("no GitHub deployment").Warn("GitHub deployment: %s", t.off)
	}
	short := git.ShortSHA(t.info.Commit)
	api, err := t.o.API(ctx)
	if err == nil && t.o.Run.RunID != "" {
		var d *github.Deployment
		if d, err = t.findJobDeployment(ctx, api); err == nil && d != nil {
			t.reuse = d.ID
			p := pipeline.Reading(fmt.Sprintf("report to the job's deployment #%d (%s at %s)", d.ID, env, short))
			return t.facts(p).With("deployment", fmt.Sprint(d.ID)).With("made by", orDash(d.Creator))
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			t.off = ctx.Err().Error()
		} else {
			t.off = err.Error() + deploymentHint(err)
		}
		return pipeline.Reading("no GitHub deployment").Warn("GitHub deployment: %s; the release goes on without it", t.off)
	}
	p := pipeline.Reading(fmt.Sprintf("create deployment for %s at %s when the %s starts", env, short, t.what()))
	return t.facts(p)
}

func (t *DeploymentTracker) facts(p pipeline.StepPlan) pipeline.StepPlan {
	p.Target = "GitHub environment " + t.o.Environment
	p = p.With("environment", t.o.Environment).With("commit", t.info.Commit)
	if t.info.Snapshot != "" {
		p = p.With("snapshot", t.info.Snapshot)
	}
	if t.info.Digest != "" {
		p = p.With("digest", t.info.Digest)
	}
	if u := t.o.Run.LogURL(); u != "" {
		p = p.With("log", u)
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jobDeploymentScan bounds how many deployments of the commit are searched.
const jobDeploymentScan = 10

// findJobDeployment finds the deployment GitHub Actions created for this job: one for
// the environment at GITHUB_SHA with a status linking to this run (Actions writes the
// run's job page into log_url/target_url). nil when there is none.
func (t *DeploymentTracker) findJobDeployment(ctx context.Context, api DeploymentAPI) (*github.Deployment, error) {
	sha := t.o.Run.SHA
	if sha == "" {
		sha = t.info.Commit
	}
	list, err := api.ListDeployments(ctx, github.DeploymentFilter{SHA: sha, Environment: t.o.Environment, Limit: jobDeploymentScan})
	if err != nil {
		return nil, err
	}
	for _, d := range list { // newest first: a re-run's attempt wins
		sts, err := api.ListDeploymentStatuses(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		for _, s := range sts {
			if t.o.Run.mentions(s.LogURL) || t.o.Run.mentions(s.TargetURL) {
				return &d, nil
			}
		}
	}
	return nil, nil
}

// start creates (or adopts) the deployment and posts in_progress.
func (t *DeploymentTracker) start(ctx context.Context, r pipeline.Reporter) {
	if t.off != "" {
		return
	}
	api, err := t.o.API(ctx)
	if err != nil {
		t.fail(r, err)
		return
	}
	if t.reuse != 0 {
		t.id = t.reuse
	} else {
		d, err := api.CreateDeployment(ctx, github.NewDeployment{
			Ref:                   t.info.Commit,
			Task:                  "deploy",
			AutoMerge:             false,
			RequiredContexts:      []string{},
			Environment:           t.o.Environment,
			Description:           github.Truncate(t.description(), github.MaxStatusDescription),
			Payload:               t.payload(),
			TransientEnvironment:  false,
			ProductionEnvironment: t.o.Production,
		})
		if err != nil {
			t.fail(r, err)
			return
		}
		t.id = d.ID
		r.Logf("created GitHub deployment %d for %s at %s", d.ID, t.o.Environment, git.ShortSHA(t.info.Commit))
	}
	r.Set("deployment_id", fmt.Sprint(t.id))
	t.post(ctx, r, github.NewDeploymentStatus{State: github.StateInProgress, Description: t.what() + " of " + t.label() + " started"})
}

func (t *DeploymentTracker) label() string {
	if t.info.Snapshot != "" {
		return t.info.Snapshot
	}
	if t.info.Version != "" {
		return t.info.Version
	}
	return git.ShortSHA(t.info.Commit)
}

func (t *DeploymentTracker) description() string {
	w := t.o.Workflow
	if w == "" {
		w = "gantry"
	}
	return fmt.Sprintf("%s: %s (%s)", w, t.label(), git.ShortSHA(t.info.Commit))
}

func (t *DeploymentTracker) payload() map[string]any {
	p := map[string]any{"commit": t.info.Commit, "tool": "gantry"}
	for k, v := range map[string]string{"version": t.info.Version, "snapshot": t.info.Snapshot, "digest": t.info.Digest, "image": t.info.Image, "run": t.o.Run.LogURL()} {
		if v != "" {
			p[k] = v
		}
	}
	return p
}

// finish posts success (the effect is in place: the step ran or found it done) or
// failure with the reason. A failure leaves the earlier deployment active: only
// GitHub's auto_inactive on a success marks it inactive.
func (t *DeploymentTracker) finish(ctx context.Context, r pipeline.Reporter, err error) {
	if t.off != "" || t.id == 0 {
		return
	}
	// Posted even when the run was cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err == nil || pipeline.IsSkip(err) {
		url := ""
		if t.o.EnvironmentURL != nil {
			url = t.o.EnvironmentURL(t.info)
		}
		auto := true
		if t.post(ctx, r, github.NewDeploymentStatus{State: github.StateSuccess, EnvironmentURL: url, AutoInactive: &auto,
			Description: t.label() + " is live"}) {
			t.supersede(ctx, r)
		}
		return
	}
	// The short reason (ImagePullBackOff, cancelled) first: GitHub keeps 140 characters.
	reason := err.Error()
	if short := failureReason(err); short != "rollout failed" {
		reason = short + ": " + reason
	}
	t.post(ctx, r, github.NewDeploymentStatus{State: github.StateFailure, Description: github.Truncate(t.what()+" of "+t.label()+" failed: "+reason, github.MaxStatusDescription)})
}

func (t *DeploymentTracker) post(ctx context.Context, r pipeline.Reporter, ns github.NewDeploymentStatus) bool {
	api, err := t.o.API(ctx)
	if err != nil {
		t.fail(r, err)
		return false
	}
	ns.LogURL = t.o.Run.LogURL()
	ns.Environment = t.o.Environment
	if _, err := api.CreateDeploymentStatus(ctx, t.id, ns); err != nil {
		t.fail(r, err)
		return false
	}
	r.Logf("GitHub deployment %d: %s", t.id, ns.State)
	return true
}

// supersedeScan bounds how many earlier deployments a success looks at.
const supersedeScan = 10

// supersede marks earlier deployments of the environment that still say success
// inactive. GitHub's auto_inactive does that, but its reference limits it to
// non-production environments; this makes "what runs where" true either way. It
// stops at the first earlier deployment already inactive: older ones were handled then.
func (t *DeploymentTracker) supersede(ctx context.Context, r pipeline.Reporter) {
	api, err := t.o.API(ctx)
	if err != nil {
		return
	}
	list, err := api.ListDeployments(ctx, github.DeploymentFilter{Environment: t.o.Environment, Limit: supersedeScan})
	if err != nil {
		r.Warn("GitHub deployment: list earlier deployments of %s: %v", t.o.Environment, err)
		return
	}
	for _, d := range list {
		if d.ID >= t.id {
			continue // ours, or a newer one
		}
		sts, err := api.ListDeploymentStatuses(ctx, d.ID)
		if err != nil {
			r.Warn("GitHub deployment: statuses of deployment %d: %v", d.ID, err)
			return
		}
		if len(sts) == 0 {
			continue
		}
		switch sts[0].State {
		case github.StateInactive:
			return
		case github.StateSuccess:
			if _, err := api.CreateDeploymentStatus(ctx, d.ID, github.NewDeploymentStatus{State: github.StateInactive, Environment: t.o.Environment,
				Description: fmt.Sprintf("superseded by deployment %d", t.id)}); err != nil {
				r.Warn("GitHub deployment: mark deployment %d inactive: %v", d.ID, err)
				return
			}
			r.Logf("GitHub deployment %d: inactive (superseded by %d)", d.ID, t.id)
		}
	}
}

// fail turns tracking off for the rest of the run with one warning.
func (t *DeploymentTracker) fail(r pipeline.Reporter, err error) {
	t.off = err.Error() + deploymentHint(err)
	r.Warn("GitHub deployment: %s; the release goes on without it", t.off)
}

// deploymentHint says how to fix what GitHub refused, or to turn deployments off.
func deploymentHint(err error) string {
	switch {
	case errors.Is(err, github.ErrNoToken), errors.Is(err, github.ErrUnauthorized), errors.Is(err, github.ErrForbidden), errors.Is(err, github.ErrNotFound):
		return " (give the token deployments: write, e.g. `permissions: deployments: write` in the job, or set github.deployments = false)"
	}
	return ""
}

// WithDeployment reports step's run to the tracker's GitHub deployment: in_progress
// before, success or failure after. The step keeps its plan and its result.
func WithDeployment(step pipeline.Step, t *DeploymentTracker) pipeline.Step {
	return pipeline.NewStep(step.Name(), step.Plan, func(ctx context.Context, r pipeline.Reporter) error {
		t.start(ctx, r)
		err := step.Run(ctx, r)
		t.finish(ctx, r, err)
		return err
	})
}

// promoteDeployment reads what a promotion deploys into the deployment.
func promoteDeployment(d DeploymentOptions, p *Promotion) DeploymentOptions {
	d.Info = func() DeploymentInfo {
		return DeploymentInfo{Commit: p.ReleaseCommit, Version: p.Meta.Version, Snapshot: p.Snapshot.Tag,
			Digest: p.Snapshot.Digest, Image: p.Image, ReleaseTag: p.ReleaseTag}
	}
	return d
}

// DevDeployment reads what a dev run deploys into the deployment, and the dev URL.
func DevDeployment(d DeploymentOptions, run *DevRun) DeploymentOptions {
	d.Info = func() DeploymentInfo {
		return DeploymentInfo{Commit: run.Meta.Commit, Version: run.Meta.Version, Snapshot: run.Meta.ImageTag,
			Digest: run.digest, Image: run.image}
	}
	if d.EnvironmentURL == nil {
		d.EnvironmentURL = func(DeploymentInfo) string { return run.p.url() }
	}
	return d
}
