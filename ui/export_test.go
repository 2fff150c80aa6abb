package ui

import (
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// NewTestModel is New without timers (no spinner ticks or status expiry, so
// every Cmd returns promptly) and with short load deadlines.
func NewTestModel(b Backend, opts Options) *Model {
	if opts.RefreshEvery == 0 {
		opts.RefreshEvery = -1
	}
	m := newModel(context.Background(), b, opts)
	m.ctx.timers = false
	m.ctx.loadTimeout = 300 * time.Millisecond
	m.ctx.snapshotsTimeout = 2 * time.Second
	return m
}

// ActiveTab is the title of the tab shown, or "Confirm" while the modal is up.
func (m *Model) ActiveTab() string {
	if m.modal {
		return m.confirm.Title()
	}
	return m.tabs[m.active].Title()
}

// PlanReady reports whether the confirm modal shows a loaded plan.
func (m *Model) PlanReady() bool { return m.modal && m.confirm.ready() }

// HelpShown reports whether the full help covers the screen.
func (m *Model) HelpShown() bool { return m.showHelp }

// AskingCancel reports whether the cancel-the-run prompt is up.
func (m *Model) AskingCancel() bool { return m.askCancel }

// RunActive reports whether a workflow is still running.
func (m *Model) RunActive() bool { return m.runActive() }

// RunStarted reports whether any run was started.
func (m *Model) RunStarted() bool { return m.run != nil }

// SnapshotsLoading reports whether the registry listing is in progress.
func (m *Model) SnapshotsLoading() bool { return m.snaps.loading }

// SnapshotCount is the number of listed snapshots and how many pass the filter.
func (m *Model) SnapshotCount() (all, matched int) { return len(m.snaps.rows), len(m.snaps.matched) }

// MatchedTags returns the tags passing the filter, in order.
func (m *Model) MatchedTags() []string {
	out := make([]string, len(m.snaps.matched))
	for i, r := range m.snaps.matched {
		out[i] = m.snaps.rows[r].Tag
	}
	return out
}

// SelectedSnapshot is the tag under the cursor on Snapshots.
func (m *Model) SelectedSnapshot() string { return m.snaps.selectedTag() }

// SelectedCommit is the commit under the cursor on Commits.
func (m *Model) SelectedCommit() *Commit { return m.commits.selected() }

// StepStatuses lists the run's steps as "name=status".
func (m *Model) StepStatuses() []string {
	names := [...]string{"pending", "running", "succeeded", "skipped", "failed", "cancelled"}
	var out []string
	for _, s := range m.runView.steps {
		out = append(out, s.name+"="+names[s.status])
	}
	return out
}

// RunLog returns the log lines of the named step.
func (m *Model) RunLog(step string) []string {
	for _, s := range m.runView.steps {
		if s.name == step {
			return s.logs
		}
	}
	return nil
}

// RunFinished reports whether RunFinished arrived, and the run's error text.
func (m *Model) RunFinished() (bool, string) {
	return m.runView.finished, errString(m.runView.result.Err)
}

// Loaded reports whether every initial load has answered.
func (m *Model) Loaded() bool {
	return !m.snaps.loading && !m.commits.loading && !m.history.loading && m.ctx.dev.loaded && m.ctx.prod.loaded &&
		!m.ctx.dev.loading && !m.ctx.prod.loading
}

// Screen renders the model as plain text, one string per line.
func (m *Model) Screen() string { return ansi.Strip(m.render()) }

// StatusText is the footer message.
func (m *Model) StatusText() string { return m.status }

// VisibleRows is how many list rows Snapshots draws (not how many it holds).
func (m *Model) VisibleRows() int {
	from, to := m.snaps.list.nav.visible()
	return to - from
}

// HasLine reports whether a line of the plain screen contains all the parts.
func (m *Model) HasLine(parts ...string) bool {
	for _, l := range strings.Split(m.Screen(), "\n") {
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
