package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// cmdLogView is the `@` panel: every command gantry ran on a host and every API
// request it made, newest first, masked, with status and duration.
type cmdLogView struct {
	ctx     *programContext
	entries []CommandEntry
	nav     listNav
	w, h    int
}

// cmdLogTickMsg reloads the command log while the panel is open.
type cmdLogTickMsg struct{}

func newCmdLogView(ctx *programContext) *cmdLogView {
	v := &cmdLogView{ctx: ctx}
	v.reload()
	return v
}

func (v *cmdLogView) reload() {
	if l, ok := v.ctx.backend.(CommandLogger); ok {
		sel := v.selected()
		v.entries = l.Commands()
		v.nav.setLen(len(v.entries))
		// Keep the selected entry selected as new ones arrive on top.
		if sel != nil {
			for i := range v.entries {
				if v.entries[i].Start.Equal(sel.Start) && v.entries[i].Cmd == sel.Cmd {
					v.nav.set(i)
					break
				}
			}
		}
	}
}

func (v *cmdLogView) tick() tea.Cmd {
	if !v.ctx.timers {
		return nil
	}
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return cmdLogTickMsg{} })
}

func (v *cmdLogView) selected() *CommandEntry {
	if v.nav.cursor < 0 || v.nav.cursor >= len(v.entries) {
		return nil
	}
	return &v.entries[v.nav.cursor]
}

func (v *cmdLogView) SetSize(w, h int) {
	v.w, v.h = w, h
	v.nav.setHeight(v.listHeight())
}

// listHeight leaves room for the title and the selected command's full text.
func (v *cmdLogView) listHeight() int { return max(v.h-5, 1) }

func (v *cmdLogView) Capturing() bool { return false }

// Update handles the panel's keys; it returns closed when the panel should close.
func (v *cmdLogView) Update(msg keyMsg) (tea.Cmd, bool) {
	k := v.ctx.keys
	switch {
	case matches(msg, k.Back), matches(msg, k.Quit), matches(msg, k.CmdLog):
		return nil, true
	case matches(msg, k.Refresh):
		v.reload()
	case matches(msg, k.Copy):
		if e := v.selected(); e != nil {
			return copyCmd("command", e.Cmd), false
		}
	default:
		handleNavKey(k, &v.nav, msg)
	}
	return nil, false
}

func (v *cmdLogView) View() string {
	st := v.ctx.styles
	lines := []string{spread(st.Title.Render("Command log"), st.Muted.Render(fmt.Sprintf("%d commands · newest first", len(v.entries))), v.w)}
	if _, ok := v.ctx.backend.(CommandLogger); !ok {
		lines = append(lines, st.Muted.Render("  this backend records no commands"))
		return frame(lines, v.w, v.h)
	}
	if len(v.entries) == 0 {
		lines = append(lines, st.Muted.Render("  nothing ran yet"))
	}
	v.nav.setHeight(v.listHeight())
	hostW := 20
	if v.w < 90 {
		hostW = 12 // leave the command some room
	}
	from, to := v.nav.visible()
	for i := from; i < to; i++ {
		e := v.entries[i]
		mark := st.Success.Render("✓")
		status := "ok"
		switch {
		case e.Cancelled:
			mark, status = st.Muted.Render("⊘"), "cancelled"
		case e.ExitCode != 0 || e.Err != "":
			mark = st.Failure.Render("✗")
			status = fmt.Sprintf("exit %d", e.ExitCode)
			switch {
			case e.ExitCode >= 100:
				status = fmt.Sprintf("HTTP %d", e.ExitCode)
			case e.ExitCode < 0:
				status = firstLine(e.Err)
			}
		}
		row := mark + " " + e.Start.Format("15:04:05") + " " + fitRight(fmtDur(e.Duration), 6) + "  " +
			fit(status, 9) + " " + fit(e.Host, hostW) + " " + oneLine(e.Cmd)
		if i == v.nav.cursor {
			row = st.Selected.Render(clip(ansi.Strip(row), v.w))
		}
		lines = append(lines, row)
	}
	for len(lines) < 1+v.listHeight() {
		lines = append(lines, "")
	}
	if e := v.selected(); e != nil {
		lines = append(lines, st.Muted.Render("─ "+e.Host+" · "+e.Start.Format(time.DateTime)))
		for _, l := range wrap(oneLine(e.Cmd), v.w, 2) {
			lines = append(lines, l)
		}
		if e.Err != "" {
			lines = append(lines, st.Failure.Render(clip(firstLine(e.Err), v.w)))
		}
	}
	return frame(lines, v.w, v.h)
}

func (v *cmdLogView) ShortHelp() []key.Binding {
	k := v.ctx.keys
	cp := k.Copy
	cp.SetHelp("c", "copy command")
	return []key.Binding{k.Up, k.Down, cp, k.Refresh, k.Back}
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// oneLine shows a multi-line command (a script passed to sh -c) on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ↵ ")), " ")
}
