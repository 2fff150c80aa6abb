package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
)

// BenchmarkRunLogAppendBatch appends a batch of 50 log lines (what the run sink
// delivers per frame under a chatty build) to a run view already holding
// 100,000 lines: only the new lines are measured, so it costs the same as on an
// empty log. Target ≤ 1 ms per batch.
func BenchmarkRunLogAppendBatch(b *testing.B) {
	const held, batch = 100_000, 50
	m := runLogModel(120, 40)
	evs := make([]pipeline.Event, 0, held)
	for i := range held {
		evs = append(evs, pipeline.StepLog{Step: 0, Line: fmt.Sprintf("Step %d/12 : RUN a build step long enough that narrow terminals have to wrap this line, %d", i, i)})
	}
	m.runView.apply(evs)
	if got := len(m.runView.steps[0].logs); got != held {
		b.Fatalf("the view holds %d lines, want %d", got, held)
	}
	next := make([]pipeline.Event, batch)
	b.ReportAllocs()
	n := 0
	start := time.Now()
	for b.Loop() {
		for i := range next {
			next[i] = pipeline.StepLog{Step: 0, Line: fmt.Sprintf("#%d 0.%03ds writing layer sha256:%064d", n, i, n)}
			n++
		}
		m.runView.apply(next)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/batch")
	if l := len(m.runView.steps[0].logs); l > maxLogLines || l < maxLogLines-maxLogLines/10 {
		b.Fatalf("the view holds %d lines", l)
	}
}

// Dropping the oldest lines of a full log drops their wrapped lines too, and what
// the pane holds is exactly the kept lines wrapped afresh.
func TestRunLogDropKeepsWrappedInStep(t *testing.T) {
	m := runLogModel(60, 20)
	s := m.runView
	var evs []pipeline.Event
	for i := range maxLogLines + maxLogLines/10 + 7 {
		line := fmt.Sprint("line ", i)
		if i%3 == 0 {
			line += " and a tail long enough to wrap at sixty columns: " + fmt.Sprint(i, i, i, i, i, i)
		}
		evs = append(evs, pipeline.StepLog{Step: 0, Line: line})
		if len(evs) == 997 {
			s.apply(evs)
			evs = evs[:0]
		}
	}
	s.apply(evs)
	st := &s.steps[0]
	if st.dropped == 0 {
		t.Fatal("nothing was dropped")
	}
	var want []string
	for _, l := range st.logs {
		want = appendWrapped(want, l, s.wrappedToW)
	}
	if len(s.wrapped) != len(want) || s.wrapped[0] != want[0] || s.wrapped[len(want)-1] != want[len(want)-1] {
		t.Fatalf("wrapped holds %d lines (%q…), want %d (%q…)", len(s.wrapped), s.wrapped[0], len(want), want[0])
	}
	for i := range want {
		if s.wrapped[i] != want[i] {
			t.Fatalf("wrapped line %d = %q, want %q", i, s.wrapped[i], want[i])
		}
	}
	sum := 0
	for _, c := range s.wrapCount {
		sum += int(c)
	}
	if len(s.wrapCount) != len(st.logs) || sum != len(s.wrapped) {
		t.Fatalf("%d counts summing to %d for %d lines wrapped into %d", len(s.wrapCount), sum, len(st.logs), len(s.wrapped))
	}
	if !strings.Contains(s.View(), fmt.Sprint("line ", maxLogLines+maxLogLines/10+6)) {
		t.Fatalf("the pane does not show the newest line:\n%s", s.View())
	}
}
