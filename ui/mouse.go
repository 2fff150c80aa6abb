package ui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// The root layout, top to bottom: header, tab bar, body (bodyHeight lines),
// status line, help line. The hit-test helpers below map a cell to what is drawn there.
const (
	tabBarY = 1
	bodyY   = 2
)

// wheelLines is how far one wheel notch scrolls.
const wheelLines = 3

// wheelable is a screen or pane that scrolls with the wheel.
type wheelable interface{ wheel(down bool) }

func (v *cmdLogView) wheel(down bool) {
	if down {
		v.nav.move(wheelLines)
	} else {
		v.nav.move(-wheelLines)
	}
}

func (s *runScreen) wheel(down bool) {
	if down {
		s.vp.ScrollDown(wheelLines)
	} else {
		s.vp.ScrollUp(wheelLines)
	}
}

func (m *Model) wheel(msg tea.MouseWheelMsg) tea.Cmd {
	if m.showHelp {
		return nil
	}
	down := msg.Button == tea.MouseWheelDown
	if msg.Button != tea.MouseWheelDown && msg.Button != tea.MouseWheelUp {
		return nil
	}
	var target any = m.tabs[m.active]
	switch {
	case m.modal:
		target = m.confirm
	case m.pane != nil:
		target = m.pane
	}
	if w, ok := target.(wheelable); ok {
		w.wheel(down)
		return nil
	}
	// Lists scroll by moving their cursor, as the arrow keys do.
	k := keyMsg{Code: tea.KeyUp}
	if down {
		k = keyMsg{Code: tea.KeyDown}
	}
	var cmds []tea.Cmd
	for range wheelLines {
		if m.modal {
			_, cmd := m.confirm.Update(k)
			cmds = append(cmds, cmd)
			continue
		}
		_, cmd := m.tabs[m.active].Update(k)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// click handles a left click: a tab, a list row or a help entry.
func (m *Model) click(msg tea.MouseClickMsg) tea.Cmd {
	if msg.Button != tea.MouseLeft {
		return nil
	}
	switch {
	case msg.Y == tabBarY && !m.modal:
		if i := m.tabAt(msg.X); i >= 0 {
			m.closePane()
			m.showHelp = false
			m.active = i
		}
		return nil
	case msg.Y == m.ctx.height-1:
		if b, ok := m.helpAt(msg.X); ok {
			if k, ok := keyFor(b); ok {
				return m.handleKey(k)
			}
		}
		return nil
	case msg.Y >= bodyY && msg.Y < bodyY+m.bodyHeight() && !m.modal && !m.showHelp:
		y := msg.Y - bodyY
		if m.pane != nil {
			if v, ok := m.pane.(*cmdLogView); ok {
				// Title line, then the rows.
				if pos := v.nav.offset + y - 1; y >= 1 && pos < v.nav.n && y-1 < v.listHeight() {
					v.nav.set(pos)
				}
			}
			return nil
		}
		m.clickRow(y)
	}
	return nil
}

// clickRow selects the list row drawn at body line y: the list screens draw a
// title line, the filter line when there is a query, the column header, then rows.
func (m *Model) clickRow(y int) {
	var l *filterList
	switch m.active {
	case tabSnapshots:
		l = &m.snaps.list
	case tabCommits:
		l = &m.commits.list
	case tabHistory:
		l = &m.history.list
	default:
		return
	}
	if pos, ok := listRowAt(y, l); ok {
		l.nav.set(pos)
	}
}

// listRowAt maps body line y of a list screen to the row position drawn there.
func listRowAt(y int, l *filterList) (int, bool) {
	first := 2 // title, column header
	if l.filter.editing || l.filter.value != "" {
		first++
	}
	pos := l.nav.offset + y - first
	if y < first || pos >= l.nav.n || y-first >= l.nav.height {
		return 0, false
	}
	return pos, true
}

// tabAt is the tab drawn at column x of the tab bar, or -1.
func (m *Model) tabAt(x int) int {
	compact := ansiWidth(m.renderTabs(false)) > m.ctx.width
	st := m.ctx.styles
	pos := 0
	for i, s := range m.tabs {
		active := i == m.active && !m.modal && !m.showHelp && m.pane == nil
		title := " " + s.Title()
		if compact && !active {
			title = ""
		}
		label := fmt.Sprintf(" %d%s ", i+1, title)
		if i == tabRun && m.runActive() {
			label = fmt.Sprintf(" %d%s %s ", i+1, title, m.runView.spin.View())
		}
		w := ansiWidth(st.TabActive.Render(label))
		if !active {
			w = ansiWidth(st.TabInactive.Render(label))
		}
		if x >= pos && x < pos+w {
			return i
		}
		pos += w + 1
	}
	return -1
}

// helpAt is the footer's help entry drawn at column x.
func (m *Model) helpAt(x int) (key.Binding, bool) {
	bs := m.shortHelp()
	var shown []key.Binding
	prev := 0
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		shown = append(shown, b)
		w := ansiWidth(m.help.ShortHelpView(shown))
		if x >= prev && x < w {
			return b, true
		}
		prev = w
	}
	return key.Binding{}, false
}

// keyFor is the key press that triggers b (its first key).
func keyFor(b key.Binding) (keyMsg, bool) {
	ks := b.Keys()
	if len(ks) == 0 {
		return keyMsg{}, false
	}
	switch s := ks[0]; s {
	case "enter":
		return keyMsg{Code: tea.KeyEnter}, true
	case "esc":
		return keyMsg{Code: tea.KeyEscape}, true
	case "tab":
		return keyMsg{Code: tea.KeyTab}, true
	case "up":
		return keyMsg{Code: tea.KeyUp}, true
	case "down":
		return keyMsg{Code: tea.KeyDown}, true
	default:
		r := []rune(s)
		if len(r) == 1 {
			return keyMsg{Code: r[0], Text: s}, true
		}
	}
	return keyMsg{}, false
}
