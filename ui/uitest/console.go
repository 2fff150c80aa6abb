// Package uitest drives the release console in tests as a user would: a real
// tea.Program over the console model, keys typed into its input, the screen read from
// the model, and a backend wrapper that records what the confirm was shown and what
// the run then planned.
package uitest

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/ui"
)

// Console is a running console program.
type Console struct {
	t    testing.TB
	p    *tea.Program
	in   *io.PipeWriter
	done chan tea.Model
	err  error

	mu      sync.Mutex
	text    string // the last frame, without ANSI codes
	written int    // bytes the program wrote to its terminal
}

// ping makes the program render a fresh frame into Console.text.
type ping struct{}

// Start runs the console over b in a w×h terminal until the test ends.
func Start(t testing.TB, b ui.Backend, w, h int) *Console {
	t.Helper()
	pr, pw := io.Pipe()
	c := &Console{t: t, in: pw, done: make(chan tea.Model, 1)}
	// Bubble Tea v2 writes only what changed to its output, so the screen is read
	// from the model's View, on the program's goroutine, before each message.
	filter := func(m tea.Model, msg tea.Msg) tea.Msg {
		text := ansi.Strip(m.View().Content)
		c.mu.Lock()
		c.text = text
		c.mu.Unlock()
		return msg
	}
	c.p = tea.NewProgram(ui.New(b, ui.Options{}), tea.WithInput(pr), tea.WithOutput(terminal{c}),
		tea.WithWindowSize(w, h), tea.WithoutSignalHandler(), tea.WithFilter(filter))
	go func() {
		m, err := c.p.Run()
		c.err = err
		c.done <- m
	}()
	t.Cleanup(func() {
		c.p.Kill()
		_ = pr.Close()
		_ = pw.Close()
	})
	return c
}

// terminal counts what the program writes; the renderer writes from its own goroutine.
type terminal struct{ c *Console }

func (w terminal) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.c.written += len(p)
	return len(p), nil
}

// Written is how many bytes the program wrote to its terminal.
func (c *Console) Written() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

// Keys types s into the program's input, byte by byte as a terminal sends keys.
func (c *Console) Keys(s string) {
	c.t.Helper()
	if _, err := c.in.Write([]byte(s)); err != nil {
		c.t.Fatalf("type %q: %v", s, err)
	}
}

// Screen is the last frame drawn, without ANSI codes.
func (c *Console) Screen() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text
}

// WaitFor polls the screen until cond holds, failing the test after d.
func (c *Console) WaitFor(what string, d time.Duration, cond func(screen string) bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		select {
		case <-c.done:
			c.t.Fatalf("the program ended (%v) while waiting for %s; last screen:\n%s", c.err, what, c.Screen())
		default:
		}
		c.p.Send(ping{})
		time.Sleep(25 * time.Millisecond)
		s := c.Screen()
		if cond(s) {
			c.t.Logf("%s:\n%s", what, s)
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s; screen:\n%s", d, what, s)
		}
	}
}

// Wait returns the final model once the program ends.
func (c *Console) Wait(d time.Duration) tea.Model {
	c.t.Helper()
	select {
	case m := <-c.done:
		if c.err != nil {
			c.t.Fatalf("program: %v", c.err)
		}
		return m
	case <-time.After(d):
		c.t.Fatalf("the program did not end within %s; screen:\n%s", d, c.Screen())
		return nil
	}
}

// HasLine reports whether one line of screen contains every part.
func HasLine(screen string, parts ...string) bool {
	for _, l := range strings.Split(screen, "\n") {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Clip keeps the start of s that fits a narrow column of the confirm.
func Clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// Recording wraps a backend and keeps the last plan a confirm got and the plans the
// run's steps made.
type Recording struct {
	ui.Backend
	mu   sync.Mutex
	plan pipeline.Plan
	ran  []pipeline.StepPlan
}

// Record wraps b.
func Record(b ui.Backend) *Recording { return &Recording{Backend: b} }

// Console is the recording as the backend to start the console with: it keeps the
// optional abilities (logs, the command log, web addresses) of the backend it wraps.
func (r *Recording) Console() ui.Backend {
	type optional interface {
		ui.LogStreamer
		ui.CommandLogger
		ui.URLOpener
	}
	if o, ok := r.Backend.(optional); ok {
		return struct {
			*Recording
			optional
		}{r, o}
	}
	return r
}

func (r *Recording) keep(p pipeline.Plan, err error) (pipeline.Plan, error) {
	r.mu.Lock()
	r.plan, r.ran = p, nil
	r.mu.Unlock()
	return p, err
}

// PlanDev records the plan.
func (r *Recording) PlanDev(ctx context.Context) (pipeline.Plan, error) {
	return r.keep(r.Backend.PlanDev(ctx))
}

// PlanPromote records the plan.
func (r *Recording) PlanPromote(ctx context.Context, tag string) (pipeline.Plan, error) {
	return r.keep(r.Backend.PlanPromote(ctx, tag))
}

// PlanRollback records the plan.
func (r *Recording) PlanRollback(ctx context.Context, env string) (pipeline.Plan, error) {
	return r.keep(r.Backend.PlanRollback(ctx, env))
}

// RunDev records the run's plans.
func (r *Recording) RunDev(ctx context.Context, approved pipeline.Plan, sink pipeline.Sink) error {
	return r.Backend.RunDev(ctx, approved, r.recorder(sink))
}

// RunPromote records the run's plans.
func (r *Recording) RunPromote(ctx context.Context, tag string, approved pipeline.Plan, sink pipeline.Sink) error {
	return r.Backend.RunPromote(ctx, tag, approved, r.recorder(sink))
}

// RunRollback records the run's plans.
func (r *Recording) RunRollback(ctx context.Context, env string, approved pipeline.Plan, sink pipeline.Sink) error {
	return r.Backend.RunRollback(ctx, env, approved, r.recorder(sink))
}

func (r *Recording) recorder(sink pipeline.Sink) pipeline.Sink {
	return pipeline.SinkFunc(func(e pipeline.Event) {
		if sp, ok := e.(pipeline.StepPlanned); ok {
			r.mu.Lock()
			r.ran = append(r.ran, sp.Plan)
			r.mu.Unlock()
		}
		sink.Emit(e)
	})
}

// Planned is the plan the last confirm showed.
func (r *Recording) Planned() pipeline.Plan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan
}

// SameAsApproved fails t unless the run planned exactly the approved steps: the same
// step, target and key, with an agreeing action, one by one.
func (r *Recording) SameAsApproved(t testing.TB, approved pipeline.Plan) {
	t.Helper()
	r.mu.Lock()
	ran := append([]pipeline.StepPlan(nil), r.ran...)
	r.mu.Unlock()
	if len(ran) != len(approved.Steps) {
		t.Fatalf("the run planned %d steps, the confirm showed %d", len(ran), len(approved.Steps))
	}
	for i, sp := range approved.Steps {
		if ran[i].Step != sp.Step || ran[i].Target != sp.Target || ran[i].Key != sp.Key || !ran[i].Agrees(sp) {
			t.Errorf("step %d: the confirm showed %q %s → %q [%s], the run did %q %s → %q [%s]", i, sp.Step, sp.Action, sp.Target, sp.Key, ran[i].Step, ran[i].Action, ran[i].Target, ran[i].Key)
		}
	}
}
