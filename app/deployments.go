package app

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/workflow"
)

// DeploymentsEnabled reports whether dev and promote report to GitHub deployments:
// github.deployments (config resolves its default: on under GitHub Actions only).
func (a *App) DeploymentsEnabled() bool {
	return config.Enabled(a.Cfg.GitHub.Deployments, false)
}

// githubEnvironment is the GitHub environment of gantry's "dev" or "prod".
func (a *App) githubEnvironment(env string) (string, error) {
	switch env {
	case "dev":
		return a.Cfg.GitHub.DevEnvironment, nil
	case "prod", "production":
		return a.Cfg.GitHub.ProdEnvironment, nil
	}
	return "", fmt.Errorf("unknown environment %q: want dev or prod", env)
}

// deploymentOptions wires the GitHub client and the Actions run into the deployment
// of env ("dev" or "prod"); nil when github.deployments is off.
func (a *App) deploymentOptions(env string) *workflow.DeploymentOptions {
	if !a.DeploymentsEnabled() {
		return nil
	}
	name, _ := a.githubEnvironment(env)
	o := &workflow.DeploymentOptions{
		Environment: name,
		Production:  env == "prod",
		Workflow:    "gantry dev",
		API: func(context.Context) (workflow.DeploymentAPI, error) {
			return a.GitHub()
		},
		Run: workflow.ActionsRun(a.Cfg.GitHub.Actions),
	}
	if env == "prod" {
		o.Workflow = "gantry promote"
		o.EnvironmentURL = func(i workflow.DeploymentInfo) string {
			if a.Cfg.GitHub.ProdURL != "" {
				return a.Cfg.GitHub.ProdURL
			}
			return a.releasePage(i.ReleaseTag)
		}
	}
	return o
}

// releasePage is the web page of the release tagged tag (published by the run).
func (a *App) releasePage(tag string) string {
	g := a.Cfg.GitHub
	if tag == "" || g.Repo == "" {
		return ""
	}
	web := "https://" + g.Host
	if g.Host == "" {
		web = "https://" + github.DefaultHost
	}
	if s := a.Cfg.GitHub.Actions.ServerURL; s != "" {
		web = s
	}
	return web + "/" + g.Repo + "/releases/tag/" + url.PathEscape(tag)
}

// devDeployment returns the dev run's deployment tracker, nil when off.
func (a *App) devDeployment(run *workflow.DevRun) *workflow.DeploymentTracker {
	o := a.deploymentOptions("dev")
	if o == nil {
		return nil
	}
	return workflow.NewDeploymentTracker(workflow.DevDeployment(*o, run))
}

// Deployment is what runs in an environment according to GitHub: the newest
// deployment there whose latest status is success.
type Deployment struct {
	ID int64
	// Environment is the GitHub environment ("dev", "production").
	Environment string
	SHA, Ref    string
	// Version, Snapshot, Digest and Image come from gantry's payload ("" for
	// deployments gantry did not make).
	Version, Snapshot, Digest, Image string
	Description                      string
	Creator                          string
	// State is the latest status's state ("success").
	State string
	// EnvironmentURL is where the environment is reached; LogURL the run that deployed it.
	EnvironmentURL, LogURL string
	CreatedAt, UpdatedAt   time.Time
}

// latestScan bounds how many deployments LatestDeployment looks through.
const latestScan = 20

// LatestDeployment returns what GitHub says runs in env ("dev" or "prod"): the newest
// deployment of its GitHub environment whose latest status is success. It returns
// nil and no error when there is none. It reads only.
func (a *App) LatestDeployment(ctx context.Context, env string) (*Deployment, error) {
	name, err := a.githubEnvironment(env)
	if err != nil {
		return nil, err
	}
	gh, err := a.GitHub()
	if err != nil {
		return nil, err
	}
	list, err := gh.ListDeployments(ctx, github.DeploymentFilter{Environment: name, Limit: latestScan})
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		sts, err := gh.ListDeploymentStatuses(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		if len(sts) == 0 || sts[0].State != github.StateSuccess {
			continue
		}
		s := sts[0]
		out := &Deployment{ID: d.ID, Environment: d.Environment, SHA: d.SHA, Ref: d.Ref, Description: d.Description,
			Creator: d.Creator, State: s.State, EnvironmentURL: s.EnvironmentURL, LogURL: s.LogURL,
			CreatedAt: d.CreatedAt, UpdatedAt: s.CreatedAt}
		if out.LogURL == "" {
			out.LogURL = s.TargetURL
		}
		str := func(k string) string { v, _ := d.Payload[k].(string); return v }
		out.Version, out.Snapshot, out.Digest, out.Image = str("version"), str("snapshot"), str("digest"), str("image")
		return out, nil
	}
	return nil, nil
}
