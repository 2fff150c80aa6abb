package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bookshop-ops/gantry/pipeline"
)

// How long each background load may take before the UI reports it as failed.
const (
	loadTimeout      = 15 * time.Second
	snapshotsTimeout = 60 * time.Second // paging through a large repository
)

// errLoadTimeout is reported when a backend call outlives its deadline, even
// if the backend ignores its context.
var errLoadTimeout = errors.New("timed out")

// Messages carrying load results. gen identifies the request so a stale reply
// (superseded by a refresh) is dropped.
type (
	snapshotsMsg struct {
		gen   int
		snaps []Snapshot
		done  bool
		err   error
		next  tea.Cmd // reads the next page; nil when done
	}
	commitsMsg struct {
		gen     int
		commits []Commit
		err     error
	}
	devEnvMsg struct {
		gen int
		env DevEnv
	}
	prodEnvMsg struct {
		gen int
		env ProdEnv
	}
	historyMsg struct {
		gen     int
		entries []AuditEntry
		err     error
	}
	planMsg struct {
		gen  int
		plan pipeline.Plan
		err  error
	}
	envTickMsg    struct{}
	statusTimeout struct{ id int }
)

// call runs fn with a deadline and returns its result, or timeout's result if
// fn does not return in time. It guarantees the UI never waits on a backend
// that ignores its context.
func call[T any](parent context.Context, d time.Duration, fn func(context.Context) T, timeout func(error) T) T {
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	ch := make(chan T, 1)
	go func() { ch <- fn(ctx) }()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w after %s", errLoadTimeout, d)
		}
		return timeout(err)
	}
}

func loadCommits(ctx context.Context, b Backend, gen int, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		return call(ctx, d, func(ctx context.Context) commitsMsg {
			c, err := b.Commits(ctx)
			return commitsMsg{gen: gen, commits: c, err: err}
		}, func(err error) commitsMsg { return commitsMsg{gen: gen, err: err} })
	}
}

func loadDevEnv(ctx context.Context, b Backend, gen int, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		return call(ctx, d, func(ctx context.Context) devEnvMsg {
			return devEnvMsg{gen: gen, env: b.DevEnv(ctx)}
		}, func(err error) devEnvMsg { return devEnvMsg{gen: gen, env: DevEnv{Err: err}} })
	}
}

func loadProdEnv(ctx context.Context, b Backend, gen int, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		return call(ctx, d, func(ctx context.Context) prodEnvMsg {
			return prodEnvMsg{gen: gen, env: b.ProdEnv(ctx)}
		}, func(err error) prodEnvMsg { return prodEnvMsg{gen: gen, env: ProdEnv{Err: err}} })
	}
}

func loadHistory(ctx context.Context, b Backend, gen int, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		return call(ctx, d, func(ctx context.Context) historyMsg {
			h, err := b.History(ctx)
			return historyMsg{gen: gen, entries: h, err: err}
		}, func(err error) historyMsg { return historyMsg{gen: gen, err: err} })
	}
}

// loadPlan asks the backend for the plan of req; the confirm shows it.
func loadPlan(ctx context.Context, b Backend, gen int, d time.Duration, req runRequest) tea.Cmd {
	return func() tea.Msg {
		return call(ctx, d, func(ctx context.Context) planMsg {
			var p pipeline.Plan
			var err error
			switch req.kind {
			case runDev:
				p, err = b.PlanDev(ctx)
			case runPromote:
				p, err = b.PlanPromote(ctx, req.tag)
			case runRollback:
				p, err = b.PlanRollback(ctx, req.env)
			}
			return planMsg{gen: gen, plan: p, err: err}
		}, func(err error) planMsg { return planMsg{gen: gen, err: err} })
	}
}

// loadSnapshots starts streaming the registry listing. The backend's page
// callback hands pages to a channel; each returned message carries a Cmd that
// reads the next batch, so rows appear as pages arrive.
func loadSnapshots(parent context.Context, b Backend, gen int, d time.Duration) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(parent, d)
		pages := make(chan []Snapshot, 4)
		result := make(chan error, 1)
		go func() {
			defer cancel()
			err := b.Snapshots(ctx, func(p []Snapshot) {
				// The backend may reuse its slice; keep our own copy.
				p = slices.Clone(p)
				select {
				case pages <- p:
				case <-ctx.Done():
				}
			})
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			result <- err
		}()
		return readSnapshots(ctx, gen, d, pages, result)()
	}
}

// readSnapshots waits for at least one page (or the end) and takes whatever
// else is already queued, so a fast backend costs one Update per batch.
func readSnapshots(ctx context.Context, gen int, d time.Duration, pages chan []Snapshot, result chan error) tea.Cmd {
	return func() tea.Msg {
		var batch []Snapshot
		drain := func() {
			for {
				select {
				case p := <-pages:
					batch = append(batch, p...)
				default:
					return
				}
			}
		}
		var err error
		select {
		case p := <-pages:
			batch = append(batch, p...)
			drain()
			return snapshotsMsg{gen: gen, snaps: batch, next: readSnapshots(ctx, gen, d, pages, result)}
		case err = <-result:
			// Every page was sent (or dropped on cancel) before the result.
		case <-ctx.Done():
			// Do not wait for a backend that ignores its context.
			select {
			case err = <-result:
			default:
				err = ctx.Err()
			}
		}
		drain()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w after %s", errLoadTimeout, d)
		}
		return snapshotsMsg{gen: gen, snaps: batch, done: true, err: err}
	}
}

func envTick(d time.Duration) tea.Cmd {
	if d <= 0 {
		return nil
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return envTickMsg{} })
}
