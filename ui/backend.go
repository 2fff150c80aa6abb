package ui

import (
	"context"
	"errors"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
)

// ProjectInfo names what the console is pointed at; shown in the header.
type ProjectInfo struct {
	App      string // application name, e.g. "bookshop"
	Registry string // registry repository, e.g. "123.dkr.ecr.eu-west-1.amazonaws.com/bookshop"
	Mode     string // registry mode, e.g. "ecr", "ecr-public", "embedded"
}

// Snapshot is one image in the registry, named by its primary tag.
type Snapshot struct {
	Tag, Version, ShortSHA, Digest string
	PushedAt                       time.Time
	Size                           int64
	// Tags holds every tag on the digest, e.g. "v1.2.3" next to the snapshot tag.
	Tags []string
}

// Commit is one commit on the dev branch or the branch promote releases from.
type Commit struct {
	SHA, Subject, Author string
	When                 time.Time
	Branch               string // e.g. "dev" or "main"
	// SnapshotTag is the snapshot built from it. The backend may leave it empty: the
	// console fills it in from the Snapshots listing it already has.
	SnapshotTag string
	Released    string // release tag or ""
}

// DevEnv is what runs on the dev host. Err is set when it could not be read.
type DevEnv struct {
	Target                  string
	Container, Image, State string
	Running                 bool
	StartedAt               time.Time
	Health                  string
	// ID is the container's image ID and Ports its host:container port map (details view).
	ImageID, Ports string
	// Traffic says how the port reaches the app: "direct", or "proxy dev-app-proxy
	// (running) → dev-app", and when the configured switch differs (the next deploy
	// migrates). "" when unknown.
	Traffic string
	// GitHub is the environment's latest GitHub deployment status, e.g.
	// "success · 1.4.2-SNAPSHOT-3f2a9c1 · 5m ago" ("" when GitHub is not set up).
	GitHub string
	Err    error
}

// ErrNotConfigured marks an environment the project does not set up (e.g. no
// prod host yet): the console shows it as absent, not as a failure to retry.
var ErrNotConfigured = errors.New("not configured")

// ProdEnv is what the prod deployment runs. Err is set when it could not be
// read; it wraps ErrNotConfigured when the project has no prod environment.
type ProdEnv struct {
	Deployment, Image string
	Ready, Desired    int
	LastRollout       string
	// Namespace, State ("rolled out", "progressing", …) and Revision: the details view.
	Namespace, State, Revision string
	// GitHub is the latest GitHub deployment status, as DevEnv.GitHub.
	GitHub string
	Err    error
}

// AuditEntry is one deploy, promote or rollback recorded for an environment.
type AuditEntry struct {
	When                           time.Time
	Env, Who, Version, SHA, Result string
	// App and Target name whose log the entry comes from (details view).
	App, Target string
}

// Backend is everything the UI needs from the outside world. The UI calls every
// method from a tea.Cmd, never from Update or View, and bounds each call with a
// context deadline.
type Backend interface {
	// Project names the app, registry and mode; cheap, no I/O.
	Project() ProjectInfo
	// Snapshots streams the registry's images page by page.
	Snapshots(ctx context.Context, page func([]Snapshot)) error
	// Commits lists the recent commits of the dev branch and of the branch promote
	// releases from. The console badges them from the Snapshots listing: Commits
	// need not list the registry again.
	Commits(ctx context.Context) ([]Commit, error)
	// DevEnv reads what runs on the dev host.
	DevEnv(ctx context.Context) DevEnv
	// ProdEnv reads what the prod deployment runs.
	ProdEnv(ctx context.Context) ProdEnv
	// History reads the audit log of both environments.
	History(ctx context.Context) ([]AuditEntry, error)
	// PlanDev plans the dev workflow without changing anything; the confirm shows the plan.
	PlanDev(ctx context.Context) (pipeline.Plan, error)
	// PlanPromote plans the prod workflow for the snapshot ("" for HEAD's).
	PlanPromote(ctx context.Context, snapshotTag string) (pipeline.Plan, error)
	// PlanRollback plans the rollback of env ("dev" or "prod").
	PlanRollback(ctx context.Context, env string) (pipeline.Plan, error)
	// RunDev runs the dev workflow with fresh steps, emitting events to sink; a step
	// whose fresh plan no longer agrees with approved stops the run (pipeline.StaleError).
	RunDev(ctx context.Context, approved pipeline.Plan, sink pipeline.Sink) error
	// RunPromote runs the prod workflow for the snapshot, as RunDev.
	RunPromote(ctx context.Context, snapshotTag string, approved pipeline.Plan, sink pipeline.Sink) error
	// RunRollback rolls env back, as RunDev.
	RunRollback(ctx context.Context, env string, approved pipeline.Plan, sink pipeline.Sink) error
}

// LogRequest names a log to stream: the dev container's or the prod deployment's.
type LogRequest struct {
	Env   string // "dev" or "prod"
	Tail  int    // start with the last Tail lines; 0 means all
	Since string // e.g. "10m", "1h"; "" means no limit
	Pod   string // prod: one pod instead of every pod of the deployment
}

// LogStreamer is implemented by a Backend that can stream logs. Logs calls line
// for each line (never concurrently) and follows the log until ctx ends, then
// returns nil; it returns an error when the log cannot be read.
type LogStreamer interface {
	Logs(ctx context.Context, req LogRequest, line func(string)) error
}

// CommandEntry is one command gantry ran on a host, or one API request it made.
// Cmd is already masked.
type CommandEntry struct {
	Host, Cmd string
	Start     time.Time
	Duration  time.Duration
	ExitCode  int    // -1 when there is none (cancelled, connection lost)
	Err       string // "" when it succeeded
	Cancelled bool   // stopped by gantry (a closed log view, a cancelled run)
}

// CommandLogger is implemented by a Backend that records the commands it runs.
type CommandLogger interface {
	// Commands lists what ran so far, newest first.
	Commands() []CommandEntry
}

// URLOpener is implemented by a Backend that knows the app's web addresses.
type URLOpener interface {
	// DevURL is the dev container's address ("" when unknown).
	DevURL() string
	// ReleaseURL is the GitHub release page of tag; CommitURL the commit page of sha.
	ReleaseURL(tag string) string
	CommitURL(sha string) string
}
