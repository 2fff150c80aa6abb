package ui

// PaneTitle is the open pane's title ("Logs", "Commands") or "".
func (m *Model) PaneTitle() string {
	if m.pane == nil {
		return ""
	}
	return m.pane.title()
}

// LogLineCount is how many lines the open log view holds (-1 without one).
func (m *Model) LogLineCount() int {
	if v, ok := m.pane.(*logView); ok {
		return v.buf.len()
	}
	return -1
}

// LogTop is the first line the log view shows, and whether it follows.
func (m *Model) LogTop() (int, bool) {
	v := m.pane.(*logView)
	if v.follow {
		return v.maxTop(), true
	}
	return v.top, false
}

// LogHit is the current search hit's line and the hit count.
func (m *Model) LogHit() (line, hits int) {
	v := m.pane.(*logView)
	if len(v.hits) == 0 {
		return -1, 0
	}
	return v.hits[v.hit], len(v.hits)
}

// RunQuery is the Run screen's search text.
func (m *Model) RunQuery() string { return m.runView.find.input.value }

// Confirming reports whether the confirm screen is up.
func (m *Model) Confirming() bool { return m.modal }

// NewLogViewForBench returns a log view of n lines at w×h for benchmarks.
func NewLogViewForBench(b Backend, lines []string, w, h int) (view func() string, search func(q string) int) {
	m := NewTestModel(b, Options{})
	v := newLogView(m.ctx, 1, LogRequest{Env: "dev"})
	v.buf.add(lines...)
	v.SetSize(w, h)
	return v.View, func(q string) int {
		v.find.value = q
		v.refreshHits()
		return len(v.hits)
	}
}
