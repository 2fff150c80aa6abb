package github_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

func TestDeploymentLifecycle(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2)
	first, err := c.CreateDeployment(ctx, github.NewDeployment{Ref: sha(1), Environment: "dev", Description: "gantry dev 1",
		Payload: map[string]any{"snapshot": "1.0.0-SNAPSHOT-1", "digest": "sha256:aa"}})
	if err != nil {
		t.Fatal(err)
	}
	if first.SHA != sha(1) || first.Environment != "dev" || first.Payload["snapshot"] != "1.0.0-SNAPSHOT-1" || first.ProductionEnvironment {
		t.Fatalf("created %+v", first)
	}
	// The request carries what gantry promises: no auto merge, no required contexts.
	reqs := s.Requests()
	var body map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["auto_merge"] != false || body["required_contexts"] == nil || len(body["required_contexts"].([]any)) != 0 || body["transient_environment"] != false {
		t.Fatalf("create body %v", body)
	}
	if _, err := c.CreateDeploymentStatus(ctx, first.ID, github.NewDeploymentStatus{State: github.StateSuccess, EnvironmentURL: "http://dev:8080"}); err != nil {
		t.Fatal(err)
	}
	second, err := c.CreateDeployment(ctx, github.NewDeployment{Ref: sha(2), Environment: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	st, err := c.CreateDeploymentStatus(ctx, second.ID, github.NewDeploymentStatus{State: github.StateFailure, Description: long})
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(st.Description)); n != github.MaxStatusDescription {
		t.Fatalf("description of %d characters kept, want %d", n, github.MaxStatusDescription)
	}
	// A failure leaves the earlier success active.
	statuses, err := c.ListDeploymentStatuses(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].State != github.StateSuccess || statuses[0].EnvironmentURL != "http://dev:8080" {
		t.Fatalf("first's statuses after a failure: %+v", statuses)
	}
	// A success marks it inactive (auto_inactive, GitHub's default).
	if _, err := c.CreateDeploymentStatus(ctx, second.ID, github.NewDeploymentStatus{State: github.StateSuccess}); err != nil {
		t.Fatal(err)
	}
	statuses, err = c.ListDeploymentStatuses(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 2 || statuses[0].State != github.StateInactive {
		t.Fatalf("first's statuses after a later success: %+v", statuses)
	}
	list, err := c.ListDeployments(ctx, github.DeploymentFilter{Environment: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
		t.Fatalf("list newest first: %+v", list)
	}
	list, err = c.ListDeployments(ctx, github.DeploymentFilter{Environment: "dev", SHA: sha(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != first.ID {
		t.Fatalf("list by sha: %+v", list)
	}
}

func TestDeploymentAutoInactiveOff(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2)
	a, _ := c.CreateDeployment(ctx, github.NewDeployment{Ref: sha(1), Environment: "production", ProductionEnvironment: true})
	b, _ := c.CreateDeployment(ctx, github.NewDeployment{Ref: sha(2), Environment: "production", ProductionEnvironment: true})
	c.CreateDeploymentStatus(ctx, a.ID, github.NewDeploymentStatus{State: github.StateSuccess})
	off := false
	if _, err := c.CreateDeploymentStatus(ctx, b.ID, github.NewDeploymentStatus{State: github.StateSuccess, AutoInactive: &off}); err != nil {
		t.Fatal(err)
	}
	if got := s.Deployments(repoName)[0].State(); got != "success" {
		t.Fatalf("auto_inactive false: the first deployment is %q, want still success", got)
	}
}

func TestDeploymentUnknownRef(t *testing.T) {
	_, c := fixture(t, 1)
	_, err := c.CreateDeployment(context.Background(), github.NewDeployment{Ref: sha(9), Environment: "dev"})
	var ae *github.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 422 {
		t.Fatalf("unknown ref: %v", err)
	}
}

func TestDeploymentOfActionsJob(t *testing.T) {
	s, c := fixture(t, 1)
	d := s.AddDeployment(repoName, githubtest.Deployment{SHA: sha(1), Ref: "main", Environment: "production", App: githubtest.ActionsApp, Creator: "github-actions[bot]",
		Statuses: []githubtest.DeploymentStatus{{State: "in_progress", LogURL: "https://github.com/" + repoName + "/actions/runs/77/job/5"}}})
	list, err := c.ListDeployments(context.Background(), github.DeploymentFilter{SHA: sha(1), Environment: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != d.ID || list[0].App != githubtest.ActionsApp || list[0].Creator != "github-actions[bot]" {
		t.Fatalf("list: %+v", list)
	}
	st, err := c.ListDeploymentStatuses(context.Background(), d.ID)
	if err != nil || len(st) != 1 || !strings.Contains(st[0].LogURL, "/actions/runs/77") {
		t.Fatalf("statuses %+v %v", st, err)
	}
}
