package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

type historyScreen struct {
	ctx *programContext

	rows []AuditEntry // newest first
	list filterList

	loading  bool
	err      error
	loadedAt time.Time

	w, h     int
	showWhen bool // the absolute time column, dropped when narrow
	versionW int
	resultW  int
}

func newHistoryScreen(ctx *programContext) *historyScreen {
	return &historyScreen{ctx: ctx, loading: true}
}

func (s *historyScreen) Title() string   { return "History" }
func (s *historyScreen) Capturing() bool { return s.list.filter.editing }

func (s *historyScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	if s.list.filter.editing {
		return []key.Binding{k.FilterApply, k.FilterClear, k.FilterWord}
	}
	return []key.Binding{k.Filter, k.Refresh, k.Rollback}
}

func (s *historyScreen) setEntries(e []AuditEntry) {
	s.rows = slices.Clone(e)
	slices.SortStableFunc(s.rows, func(a, b AuditEntry) int { return b.When.Compare(a.When) })
	keys := make([]string, len(s.rows))
	for i, e := range s.rows {
		keys[i] = strings.ToLower(strings.Join([]string{e.Env, e.Who, e.Version, e.SHA, e.Result}, " "))
	}
	s.list.setKeys(keys)
}

// selected is the entry under the cursor, or nil.
func (s *historyScreen) selected() *AuditEntry {
	if i := s.list.current(); i >= 0 {
		return &s.rows[i]
	}
	return nil
}

// isSuccess reads an audit result loosely: anything not failed or cancelled.
func isSuccess(result string) bool {
	r := strings.ToLower(result)
	return r != "" && !strings.Contains(r, "fail") && !strings.Contains(r, "error") && !strings.Contains(r, "cancel")
}

func resultStyle(st *Styles, result string) func(...string) string {
	r := strings.ToLower(result)
	switch {
	case strings.Contains(r, "cancel"):
		return st.Warning.Render
	case !isSuccess(result):
		return st.Failure.Render
	}
	return st.Success.Render
}

func (s *historyScreen) SetSize(w, h int) {
	s.w, s.h = w, h
	// marker, [when], age, env, who, version, sha, result
	rest := w - (2 + 8 + 1 + 4 + 1 + 12 + 1 + 1 + 7 + 1)
	s.showWhen = rest-17 >= 22+12
	if s.showWhen {
		rest -= 17
	}
	s.versionW = min(max(rest/2, 22), 26)
	s.resultW = max(rest-s.versionW, 6)
	s.list.nav.setHeight(s.listHeight())
}

func (s *historyScreen) listHeight() int {
	h := s.h - 2
	if s.list.filtering() {
		h--
	}
	return max(h, 1)
}

func (s *historyScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	if s.list.update(s.ctx.keys, msg) {
		s.list.nav.setHeight(s.listHeight())
	}
	return s, nil
}

func (s *historyScreen) View() string {
	st := s.ctx.styles
	w := s.w
	lines := make([]string, 0, s.h)
	count := fmt.Sprintf("%d deploys, promotes and rollbacks", len(s.rows))
	if len(s.rows) == 1 {
		count = "1 deploy, promote or rollback"
	}
	left := st.Title.Render("History") + st.Muted.Render("  "+count+" · newest first")
	var right string
	switch {
	case s.loading:
		right = st.Running.Render("loading…")
	case s.err != nil && len(s.rows) > 0:
		right = st.Failure.Render("✗ " + firstLine(s.err.Error()))
	case !s.loadedAt.IsZero():
		right = st.Muted.Render("updated " + relTime(s.ctx.now(), s.loadedAt))
	}
	lines = append(lines, spread(left, right, w))
	if f := s.list.filterLine(st, len(s.rows), w); f != "" {
		lines = append(lines, f)
	}
	if s.err != nil && len(s.rows) == 0 {
		lines = append(lines, "")
		lines = append(lines, errorBlock(st, s.err, "audit log", w)...)
		return frame(lines, w, s.h)
	}
	if len(s.rows) == 0 {
		lines = append(lines, "")
		if s.loading {
			lines = append(lines, st.Muted.Render("  reading the audit log …"))
		} else {
			lines = append(lines, st.Muted.Render("  nothing deployed yet"))
		}
		return frame(lines, w, s.h)
	}
	when := ""
	if s.showWhen {
		when = fit("WHEN", 16) + " "
	}
	lines = append(lines, st.ColHeader.Render("  "+when+fitRight("AGE", 8)+" "+fit("ENV", 4)+" "+
		fit("WHO", 12)+" "+fit("VERSION", s.versionW)+" "+fit("SHA", 7)+" "+fit("RESULT", s.resultW)))
	from, to := s.list.nav.visible()
	now := s.ctx.now()
	for pos := from; pos < to; pos++ {
		e := &s.rows[s.list.matched[pos]]
		selected := pos == s.list.nav.cursor
		marker := "  "
		if selected {
			marker = "› "
		}
		text := marker
		if s.showWhen {
			text += fit(e.When.Local().Format("2006-01-02 15:04"), 16) + " "
		}
		text += fitRight(relTime(now, e.When), 8) + " "
		env := fit(e.Env, 4)
		rest := " " + fit(e.Who, 12) + " " + fit(e.Version, s.versionW) + " " + fit(shortSHA(e.SHA), 7) + " "
		result := fit(e.Result, s.resultW)
		if selected {
			lines = append(lines, st.Selected.Render(fit(text+env+rest+result, w)))
			continue
		}
		switch e.Env {
		case "dev":
			env = st.Warning.Render(env)
		case "prod":
			env = st.Success.Render(env)
		}
		result = resultStyle(st, e.Result)(result)
		lines = append(lines, text+env+rest+result)
	}
	if l := s.list.noMatch(st); l != "" {
		lines = append(lines, l)
	}
	return frame(lines, w, s.h)
}
