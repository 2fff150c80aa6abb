package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/pipeline"
)

func TestAppendWrapped(t *testing.T) {
	short := " ---> Running in 0fd8cc49a87e"
	if got := appendWrapped(nil, short, 40); !slices.Equal(got, []string{short}) {
		t.Errorf("a line that fits: %q", got)
	}
	long := "  ✗ SSH to prod ec2-user@-:22 with a known host key: prod.host: is not set; set it to the host that runs microk8s (or GANTRY_PROD_HOST)"
	got := appendWrapped(nil, long, 50)
	if len(got) < 3 {
		t.Fatalf("wrapped into %d lines: %q", len(got), got)
	}
	var words []string
	for i, l := range got {
		if w := ansi.StringWidth(l); w > 50 {
			t.Errorf("line %d is %d wide: %q", i, w, l)
		}
		want := "  "
		if i > 0 {
			want = "    "
		}
		if !strings.HasPrefix(l, want) || strings.HasPrefix(l, want+" ") {
			t.Errorf("line %d is not indented by %d: %q", i, len(want), l)
		}
		words = append(words, strings.Fields(l)...)
	}
	// Nothing is lost, and hyphenated names stay whole.
	if strings.Join(words, " ") != strings.Join(strings.Fields(long), " ") {
		t.Errorf("wrapping changed the text:\n%q\n%q", strings.Join(words, " "), long)
	}
	if !slices.Contains(words, "ec2-user@-:22") {
		t.Errorf("a hyphenated word was split: %q", got)
	}
}

// The log keeps its wrapped lines as they stream in, and wraps again for a new width.
func TestRunLogWrapsToWidth(t *testing.T) {
	m := runLogModel(60, 20)
	long := strings.Repeat("word ", 30)
	m.runView.apply([]pipeline.Event{
		pipeline.StepLog{Step: 0, Line: "first"},
		pipeline.StepLog{Step: 0, Line: long},
	})
	m.runView.apply([]pipeline.Event{pipeline.StepLog{Step: 0, Line: "last"}})
	for _, w := range []int{60, 100, 40} {
		m.Update(tea.WindowSizeMsg{Width: w, Height: 20})
		screen := ansi.Strip(m.render())
		lines := strings.Split(screen, "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " ")
		}
		wordLines := 0
		for _, l := range lines {
			if strings.Contains(l, "word") {
				wordLines++
			}
		}
		// 150 cells of words never fit one line: they wrap, all of them shown.
		if !slices.Contains(lines, "  first") || !slices.Contains(lines, "  last") || strings.Count(screen, "word") != 30 || wordLines < 2 {
			t.Fatalf("the log lost text at %d columns:\n%s", w, screen)
		}
	}
}

func runLogModel(w, h int) *Model {
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	m := newModel(context.Background(), projectOnly{}, Options{Theme: "dark", RefreshEvery: -1, Now: func() time.Time { return now }})
	m.ctx.timers = false
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.runView.reset(1, "dev deploy", now)
	m.active = tabRun
	m.runView.apply([]pipeline.Event{pipeline.StepStarted{Step: 0, Name: "build"}})
	return m
}

// BenchmarkRunLogLine is one more log line on a step holding a full log, and
// the frame drawn after it.
func BenchmarkRunLogLine(b *testing.B) {
	m := runLogModel(120, 40)
	evs := make([]pipeline.Event, 0, maxLogLines-1)
	for i := range maxLogLines - 1 {
		evs = append(evs, pipeline.StepLog{Step: 0, Line: fmt.Sprintf("Step %d/12 : RUN a build step long enough that narrow terminals have to wrap this line, %d", i, i)})
	}
	m.runView.apply(evs)
	b.ReportAllocs()
	for b.Loop() {
		m.runView.apply([]pipeline.Event{pipeline.StepLog{Step: 0, Line: "one more line"}})
		_ = m.render()
	}
}

// projectOnly is a Backend for tests that never load anything.
type projectOnly struct{ Backend }

func (projectOnly) Project() ProjectInfo { return ProjectInfo{App: "bookshop"} }
