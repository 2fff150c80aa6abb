package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// pane is a full-body view over the tabs: a log or the command log. It takes
// the keys while open; esc closes it.
type pane interface {
	View() string
	SetSize(w, h int)
	ShortHelp() []key.Binding
	Capturing() bool
	// Update handles a key; closed asks the root to close the pane.
	Update(msg keyMsg) (cmd tea.Cmd, closed bool)
	title() string
}

func (v *logView) title() string    { return "Logs" }
func (v *cmdLogView) title() string { return "Commands" }

// openLogs opens the log view of env ("dev" or "prod"), following the last 500 lines.
func (m *Model) openLogs(env string) tea.Cmd {
	if _, ok := m.ctx.backend.(LogStreamer); !ok {
		return m.setStatus("logs are not available with this backend", true)
	}
	m.closePane()
	m.logSeq += 1000 // each view's stream ids stay apart from the last one's
	v := newLogView(m.ctx, m.logSeq, LogRequest{Env: env, Tail: logTails[0]})
	m.pane = v
	m.layout()
	return v.start()
}

func (m *Model) openCmdLog() tea.Cmd {
	m.closePane()
	v := newCmdLogView(m.ctx)
	m.pane = v
	m.layout()
	return v.tick()
}

// closePane closes the open pane, ending its stream.
func (m *Model) closePane() {
	if v, ok := m.pane.(*logView); ok {
		v.stop()
	}
	m.pane = nil
}

// handlePaneKey routes a key to the open pane.
func (m *Model) handlePaneKey(msg keyMsg) tea.Cmd {
	cmd, closed := m.pane.Update(msg)
	if closed {
		m.closePane()
	}
	return cmd
}

// handleConsoleKey handles the keys that work on every tab: logs, command log,
// copy and open. It reports whether it took the key.
func (m *Model) handleConsoleKey(msg keyMsg, cur screen) (tea.Cmd, bool) {
	k := m.ctx.keys
	switch {
	case matches(msg, k.Logs):
		env := "dev"
		if m.active == tabEnvs {
			env = m.envs.selectedEnv()
		}
		return m.openLogs(env), true
	case matches(msg, k.ProdLogs):
		return m.openLogs("prod"), true
	case matches(msg, k.CmdLog):
		return m.openCmdLog(), true
	case matches(msg, k.Copy), matches(msg, k.CopyDigest):
		c, ok := cur.(copyable)
		if !ok {
			return m.setStatus("nothing to copy on this screen", false), true
		}
		first, second := c.copyTargets()
		if matches(msg, k.CopyDigest) {
			first = second
		}
		return copyCmd(first.what, first.text), true
	case matches(msg, k.Open):
		o, ok := cur.(opener)
		u, ok2 := m.ctx.backend.(URLOpener)
		if !ok || !ok2 {
			return m.setStatus("nothing to open on this screen", false), true
		}
		url, what := o.openTarget(u)
		return openCmd(what, url), true
	}
	return nil, false
}

// handleConsoleMsg handles the messages of the panes; it reports whether it took msg.
func (m *Model) handleConsoleMsg(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case logLinesMsg:
		if v, ok := m.pane.(*logView); ok {
			return v.handleLines(msg), true
		}
		return nil, true
	case cmdLogTickMsg:
		if v, ok := m.pane.(*cmdLogView); ok {
			v.reload()
			return v.tick(), true
		}
		return nil, true
	case openFallbackMsg:
		return tea.Batch(tea.SetClipboard(msg.url), m.setStatus(msg.what+": "+msg.url+" (no browser here: copied)", false)), true
	case tea.MouseWheelMsg:
		return m.wheel(msg), true
	case tea.MouseClickMsg:
		return m.click(msg), true
	}
	return nil, false
}
