package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Deployment states a deployment status may take.
const (
	StateInProgress = "in_progress"
	StateSuccess    = "success"
	StateFailure    = "failure"
	StateError      = "error"
	StateInactive   = "inactive"
	StateQueued     = "queued"
	StatePending    = "pending"
)

// MaxStatusDescription is the longest description GitHub keeps on a deployment status.
const MaxStatusDescription = 140

// Deployment is a GitHub deployment: a request to deploy a ref to an environment.
type Deployment struct {
	ID          int64
	SHA         string
	Ref         string
	Task        string
	Environment string
	Description string
	// Payload is the deployment's JSON payload (nil when GitHub holds none or a string).
	Payload map[string]any
	// Creator is the login that created it ("github-actions[bot]" for a job's own).
	Creator string
	// App is the slug of the GitHub App it was created through ("github-actions"), if any.
	App                   string
	ProductionEnvironment bool
	TransientEnvironment  bool
	CreatedAt             time.Time
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	TargetURL      string
	CreatedAt      time.Time
}

// NewDeployment is a deployment to create.
type NewDeployment struct {
	Ref         string         `json:"ref"`
	Task        string         `json:"task,omitempty"`
	AutoMerge   bool           `json:"auto_merge"`
	Payload     map[string]any `json:"payload,omitempty"`
	Environment string         `json:"environment"`
	Description string         `json:"description,omitempty"`
	// RequiredContexts nil sends [] : gantry deploys what it built, not what passed checks.
	RequiredContexts      []string `json:"required_contexts"`
	TransientEnvironment  bool     `json:"transient_environment"`
	ProductionEnvironment bool     `json:"production_environment"`
}

// NewDeploymentStatus is a status to post on a deployment.
type NewDeploymentStatus struct {
	State          string `json:"state"`
	Description    string `json:"description,omitempty"`
	Environment    string `json:"environment,omitempty"`
	EnvironmentURL string `json:"environment_url,omitempty"`
	LogURL         string `json:"log_url,omitempty"`
	// AutoInactive (GitHub's default true) marks the environment's earlier
	// successful deployments inactive when this status is success.
	AutoInactive *bool `json:"auto_inactive,omitempty"`
}

// DeploymentFilter narrows ListDeployments.
type DeploymentFilter struct {
	SHA, Environment, Task string
	// Limit caps the deployments returned (newest first); 0 means 30.
	Limit int
}

type deploymentJSON struct {
	ID          int64           `json:"id"`
	SHA         string          `json:"sha"`
	Ref         string          `json:"ref"`
	Task        string          `json:"task"`
	Environment string          `json:"environment"`
	Description *string         `json:"description"`
	Payload     json.RawMessage `json:"payload"`
	Creator     *struct {
		Login string `json:"login"`
	} `json:"creator"`
	App *struct {
		Slug string `json:"slug"`
	} `json:"performed_via_github_app"`
	ProductionEnvironment bool      `json:"production_environment"`
	TransientEnvironment  bool      `json:"transient_environment"`
	CreatedAt             time.Time `json:"created_at"`
}

func (d deploymentJSON) deployment() Deployment {
	out := Deployment{ID: d.ID, SHA: d.SHA, Ref: d.Ref, Task: d.Task, Environment: d.Environment,
		ProductionEnvironment: d.ProductionEnvironment, TransientEnvironment: d.TransientEnvironment, CreatedAt: d.CreatedAt}
	if d.Description != nil {
		out.Description = *d.Description
	}
	if d.Creator != nil {
		out.Creator = d.Creator.Login
	}
	if d.App != nil {
		out.App = d.App.Slug
	}
	var m map[string]any
	if json.Unmarshal(d.Payload, &m) == nil {
		out.Payload = m
	} else {
		// GitHub may hold the payload as a JSON string of an object.
		var s string
		if json.Unmarshal(d.Payload, &s) == nil && json.Unmarshal([]byte(s), &m) == nil {
			out.Payload = m
		}
	}
	return out
}

type deploymentStatusJSON struct {
	ID             int64     `json:"id"`
	State          string    `json:"state"`
	Description    string    `json:"description"`
	Environment    string    `json:"environment"`
	EnvironmentURL string    `json:"environment_url"`
	LogURL         string    `json:"log_url"`
	TargetURL      string    `json:"target_url"`
	CreatedAt      time.Time `json:"created_at"`
}

func (s deploymentStatusJSON) status() DeploymentStatus {
	return DeploymentStatus{ID: s.ID, State: s.State, Description: s.Description, Environment: s.Environment,
		EnvironmentURL: s.EnvironmentURL, LogURL: s.LogURL, TargetURL: s.TargetURL, CreatedAt: s.CreatedAt}
}

// CreateDeployment creates a deployment. GitHub answers 202 (no deployment) when
// it merged the default branch into the ref instead; gantry sends auto_merge false
// so that does not happen, and such an answer is an error.
func (c *Client) CreateDeployment(ctx context.Context, nd NewDeployment) (*Deployment, error) {
	if nd.RequiredContexts == nil {
		nd.RequiredContexts = []string{}
	}
	if nd.Ref == "" || nd.Environment == "" {
		return nil, fmt.Errorf("create deployment: ref and environment are required")
	}
	var out deploymentJSON
	if _, err := c.do(ctx, "POST", c.repoPath()+"/deployments", nd, &out); err != nil {
		return nil, fmt.Errorf("create deployment for %s at %s: %w", nd.Environment, nd.Ref, err)
	}
	if out.ID == 0 {
		return nil, fmt.Errorf("create deployment for %s at %s: GitHub created none (it answered without an id)", nd.Environment, nd.Ref)
	}
	d := out.deployment()
	return &d, nil
}

// ListDeployments lists deployments newest first, filtered by f.
func (c *Client) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 30
	}
	q := url.Values{}
	q.Set("per_page", strconv.Itoa(min(limit, maxPerPage)))
	if f.SHA != "" {
		q.Set("sha", f.SHA)
	}
	if f.Environment != "" {
		q.Set("environment", f.Environment)
	}
	if f.Task != "" {
		q.Set("task", f.Task)
	}
	var page []deploymentJSON
	if _, err := c.do(ctx, "GET", c.repoPath()+"/deployments?"+q.Encode(), nil, &page); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	out := make([]Deployment, 0, len(page))
	for _, d := range page {
		if len(out) == limit {
			break
		}
		out = append(out, d.deployment())
	}
	return out, nil
}

// CreateDeploymentStatus posts a status on deployment id. A description longer
// than GitHub keeps is cut to MaxStatusDescription characters.
func (c *Client) CreateDeploymentStatus(ctx context.Context, id int64, ns NewDeploymentStatus) (*DeploymentStatus, error) {
	ns.Description = Truncate(ns.Description, MaxStatusDescription)
	var out deploymentStatusJSON
	if _, err := c.do(ctx, "POST", fmt.Sprintf("%s/deployments/%d/statuses", c.repoPath(), id), ns, &out); err != nil {
		return nil, fmt.Errorf("post %s status on deployment %d: %w", ns.State, id, err)
	}
	st := out.status()
	return &st, nil
}

// ListDeploymentStatuses lists deployment id's statuses, newest first (at most 100).
func (c *Client) ListDeploymentStatuses(ctx context.Context, id int64) ([]DeploymentStatus, error) {
	var page []deploymentStatusJSON
	if _, err := c.do(ctx, "GET", fmt.Sprintf("%s/deployments/%d/statuses?per_page=%d", c.repoPath(), id, maxPerPage), nil, &page); err != nil {
		return nil, fmt.Errorf("list statuses of deployment %d: %w", id, err)
	}
	out := make([]DeploymentStatus, len(page))
	for i, s := range page {
		out[i] = s.status()
	}
	return out, nil
}

// Truncate cuts s to at most n characters (runes), ending in "…" when cut.
func Truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "…"
}
