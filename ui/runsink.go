package ui

import (
	"context"
	"fmt"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/bookshop-ops/gantry/pipeline"
)

// runQueue is the pipeline.Sink a workflow emits into. Emit never blocks and
// never drops: events queue up until a Cmd takes them all as one message, so a
// chatty step costs one Update per batch rather than one per line.
type runQueue struct {
	id int

	mu     sync.Mutex
	events []pipeline.Event
	done   bool
	err    error

	signal   chan struct{} // capacity 1: "something is queued"
	finished chan struct{} // closed when the workflow function returned
}

func newRunQueue(id int) *runQueue {
	return &runQueue{id: id, signal: make(chan struct{}, 1), finished: make(chan struct{})}
}

// Emit queues one event (pipeline.Sink).
func (q *runQueue) Emit(e pipeline.Event) {
	if _, ok := e.(pipeline.Secret); ok {
		// The UI never shows secrets; the runner already masks them.
		return
	}
	q.mu.Lock()
	q.events = append(q.events, e)
	q.mu.Unlock()
	q.poke()
}

// finish records that the workflow function returned with err.
func (q *runQueue) finish(err error) {
	q.mu.Lock()
	q.done, q.err = true, err
	q.mu.Unlock()
	close(q.finished)
	q.poke()
}

func (q *runQueue) poke() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// runEventsMsg carries a batch of a run's events; done is set on the last one.
type runEventsMsg struct {
	run    int
	events []pipeline.Event
	done   bool
	err    error
}

// next returns a Cmd that waits for queued events and takes them all.
func (q *runQueue) next() tea.Cmd {
	return func() tea.Msg {
		for {
			q.mu.Lock()
			if len(q.events) > 0 || q.done {
				msg := runEventsMsg{run: q.id, events: q.events, done: q.done, err: q.err}
				q.events = nil
				q.mu.Unlock()
				return msg
			}
			q.mu.Unlock()
			<-q.signal
		}
	}
}

// runKind says which workflow a run is.
type runKind int

const (
	runDev runKind = iota
	runPromote
	runRollback
)

func (k runKind) String() string {
	switch k {
	case runDev:
		return "dev deploy"
	case runPromote:
		return "promote"
	case runRollback:
		return "rollback"
	}
	return "run"
}

// runRequest is a confirmed request to start a workflow.
type runRequest struct {
	kind runKind
	tag  string // promote: snapshot tag
	env  string // rollback: "dev" or "prod"
	// plan is what the user approved; the run stops if a step's fresh plan disagrees.
	plan pipeline.Plan
}

func (r runRequest) title() string {
	switch r.kind {
	case runPromote:
		return "promote " + r.tag
	case runRollback:
		return "rollback " + r.env
	}
	return "dev deploy"
}

// activeRun is the workflow the root model started; it owns the cancel.
type activeRun struct {
	id        int
	req       runRequest
	cancel    context.CancelFunc
	queue     *runQueue
	done      bool // the workflow function returned
	cancelled bool // the user asked to cancel
}

// start returns the Cmd that runs the workflow (blocking, in Bubble Tea's
// command goroutine) and reports the end through the queue.
func (r *activeRun) start(ctx context.Context, b Backend) tea.Cmd {
	q, req := r.queue, r.req
	return func() (msg tea.Msg) {
		var err error
		defer func() {
			// A panicking workflow must still end the run on screen.
			if p := recover(); p != nil {
				err = fmt.Errorf("%s panicked: %v", req.title(), p)
			}
			q.finish(err)
		}()
		switch req.kind {
		case runDev:
			err = b.RunDev(ctx, req.plan, q)
		case runPromote:
			err = b.RunPromote(ctx, req.tag, req.plan, q)
		case runRollback:
			err = b.RunRollback(ctx, req.env, req.plan, q)
		}
		return nil
	}
}
