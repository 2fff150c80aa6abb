package ui_test

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bookshop-ops/gantry/ui"
)

// lockedBuffer is the program's output; the renderer writes from its own goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// observed is what the test may read of the model while the program runs. A
// filter copies it on the program's goroutine before each message.
type observed struct {
	mu                         sync.Mutex
	loaded, planReady, started bool
	active, asking             bool
	steps                      []string
	screen                     string
}

type ping struct{}

// program runs the real Bubble Tea program (its event loop, renderer, timers
// and command goroutines) on buffers, with a fixed 80×24 window.
type program struct {
	tb   testing.TB
	p    *tea.Program
	obs  *observed
	out  *lockedBuffer
	in   *io.PipeWriter
	done chan error
}

func startProgram(tb testing.TB, b ui.Backend) *program {
	obs := &observed{}
	pr, pw := io.Pipe()
	out := &lockedBuffer{}
	filter := func(m tea.Model, msg tea.Msg) tea.Msg {
		um := m.(*ui.Model)
		obs.mu.Lock()
		obs.loaded, obs.planReady, obs.started = um.Loaded(), um.PlanReady(), um.RunStarted()
		obs.active, obs.asking, obs.steps = um.RunActive(), um.AskingCancel(), um.StepStatuses()
		obs.screen = um.Screen()
		obs.mu.Unlock()
		return msg
	}
	m := ui.New(b, ui.Options{Now: func() time.Time { return clock }, Theme: "dark", RefreshEvery: -1})
	p := tea.NewProgram(m, tea.WithInput(pr), tea.WithOutput(out), tea.WithWindowSize(80, 24),
		tea.WithoutSignals(), tea.WithFilter(filter))
	pg := &program{tb: tb, p: p, obs: obs, out: out, in: pw, done: make(chan error, 1)}
	go func() {
		_, err := p.Run()
		pg.done <- err
	}()
	tb.Cleanup(func() {
		p.Kill()
		pw.Close()
	})
	return pg
}

// until pings the program so the filter observes the latest state, until cond holds.
func (pg *program) until(what string, cond func(o *observed) bool) {
	pg.tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pg.p.Send(ping{})
		time.Sleep(5 * time.Millisecond)
		pg.obs.mu.Lock()
		ok := cond(pg.obs)
		pg.obs.mu.Unlock()
		if ok {
			return
		}
	}
	pg.obs.mu.Lock()
	defer pg.obs.mu.Unlock()
	pg.tb.Fatalf("timed out waiting for %s; screen:\n%s", what, pg.obs.screen)
}

func (pg *program) key(k string) { pg.p.Send(keyPress(k)) }

func (pg *program) wait() error {
	pg.tb.Helper()
	select {
	case err := <-pg.done:
		return err
	case <-time.After(10 * time.Second):
		pg.tb.Fatal("program did not exit")
		return nil
	}
}

func TestProgramDeployRunsToFinish(t *testing.T) {
	b := fake(200)
	b.StepDelay = 10 * time.Millisecond
	pg := startProgram(t, b)
	pg.until("initial loads", func(o *observed) bool { return o.loaded })

	pg.key("d")
	pg.until("dev plan", func(o *observed) bool { return o.planReady })
	if b.Called("RunDev") {
		t.Fatal("RunDev before confirmation")
	}
	pg.key("y")
	pg.until("run end", func(o *observed) bool { return o.started && !o.active })
	if !b.Called("RunDev") {
		t.Fatal("RunDev not called")
	}
	pg.until("reload", func(o *observed) bool { return o.loaded })
	pg.obs.mu.Lock()
	screen, steps := pg.obs.screen, pg.obs.steps
	pg.obs.mu.Unlock()
	for _, want := range []string{"✓ succeeded", "image_tag", "dev deploy succeeded"} {
		if !strings.Contains(screen, want) {
			t.Errorf("final screen lacks %q:\n%s", want, screen)
		}
	}
	if len(steps) != 7 || steps[6] != "remove old images=skipped" {
		t.Errorf("steps %v", steps)
	}

	pg.key("q")
	if err := pg.wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
	if pg.out.Len() == 0 {
		t.Fatal("nothing rendered")
	}
}

func TestProgramCtrlCCancelsRun(t *testing.T) {
	b := fake(50)
	b.StepDelay = 10 * time.Millisecond
	b.HoldStep = "push image"
	pg := startProgram(t, b)
	pg.until("initial loads", func(o *observed) bool { return o.loaded })
	pg.key("d")
	pg.until("dev plan", func(o *observed) bool { return o.planReady })
	pg.key("enter")
	pg.until("push running", func(o *observed) bool { return slices.Contains(o.steps, "push image=running") })

	pg.key("ctrl+c")
	pg.until("prompt", func(o *observed) bool { return o.asking && strings.Contains(o.screen, "cancel the run?") })
	pg.key("y")
	pg.until("run end", func(o *observed) bool { return !o.active })
	pg.obs.mu.Lock()
	steps := pg.obs.steps
	pg.obs.mu.Unlock()
	if !slices.Contains(steps, "push image=cancelled") {
		t.Fatalf("steps %v", steps)
	}
	pg.key("ctrl+c")
	if err := pg.wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
}
