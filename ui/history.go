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

	w, h   int
	cols   historyCols
	detail bool // the selected entry's details show under the list
}

// historyCols are the column widths for the current width; 0 drops a column.
// RESULT is what the screen is for, so it is never dropped.
type historyCols struct {
	when, who, version, sha, result int
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
	return []key.Binding{k.Filter, k.Enter, k.Refresh, k.Rollback}
}

func (s *historyScreen) setEntries(e []AuditEntry) {
	s.rows = slices.Clone(e)
	slices.SortStableFunc(s.rows, func(a, b AuditEntry) int { return b.When.Compare(a.When) })
	keys := make([]string, len(s.rows))
	for i, e := range s.rows {
		keys[i] = strings.ToLower(strings.Join([]string{e.When.Local().Format("2006-01-02 15:04"), e.Env, e.Who, e.Version, e.SHA, e.Result, e.Target}, " "))
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
	s.cols = layoutHistoryCols(w)
	s.list.nav.setHeight(s.listHeight())
}

func layoutHistoryCols(w int) historyCols {
	c := historyCols{when: 16, who: 12, version: 22, sha: 7, result: 10}
	used := func() int {
		n := 2 + 8 + 1 + 4 // marker, age, env
		for _, x := range []int{c.when, c.who, c.version, c.sha, c.result} {
			if x > 0 {
				n += 1 + x
			}
		}
		return n
	}
	// Give way in order: the absolute time (AGE says it), the SHA (the version
	// holds it), a narrower WHO, then WHO; the version and result only shrink.
	for _, step := range []func(){func() { c.when = 0 }, func() { c.sha = 0 }, func() { c.who = 8 }, func() { c.who = 0 }} {
		if used() <= w {
			break
		}
		step()
	}
	if over := used() - w; over > 0 {
		c.version = max(c.version-over, 12)
	}
	if extra := w - used(); extra > 0 {
		grow := min(extra/2, 4)
		c.version += grow
		c.result += extra - grow
	} else if extra < 0 {
		c.result = max(c.result+extra, 6)
	}
	return c
}

func (s *historyScreen) listHeight() int {
	h := s.h - 2
	if s.list.filtering() {
		h--
	}
	if s.detail {
		h -= historyDetailHeight
	}
	return max(h, 1)
}

const historyDetailHeight = 6

func (s *historyScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	k := s.ctx.keys
	if s.list.update(k, msg) {
		s.list.nav.setHeight(s.listHeight())
		return s, nil
	}
	if msg, ok := msg.(keyMsg); ok {
		switch {
		case matches(msg, k.Enter) && s.selected() != nil:
			s.detail = !s.detail
		case matches(msg, k.Back):
			s.detail = false
		}
		s.list.nav.setHeight(s.listHeight())
	}
	return s, nil
}

// detailLines are every field of the selected entry.
func (s *historyScreen) detailLines(now time.Time) []string {
	st := s.ctx.styles
	e := s.selected()
	if e == nil {
		return nil
	}
	title := st.Title.Render("── " + e.Env + " · " + e.Version + " ")
	lines := []string{title + st.Muted.Render(strings.Repeat("─", max(s.w-ansiWidth(title), 0)))}
	field := func(name, val string) string {
		return st.Muted.Render(fmt.Sprintf("  %-8s", name)) + st.Text.Render(val)
	}
	target := e.Env
	if e.Target != "" {
		target += " · " + e.Target
	}
	if e.App != "" {
		target += " · app " + e.App
	}
	sha := e.SHA
	if 10+len(e.Version)+9+len(sha) > s.w {
		sha = shortSHA(sha)
	}
	lines = append(lines,
		field("when", e.When.Local().Format("2006-01-02 15:04:05")+" ("+relTime(now, e.When)+") by "+orDash(e.Who)),
		field("target", target),
		field("version", orDash(e.Version)+"  commit "+orDash(sha)),
	)
	res := wrap(orDash(e.Result), max(s.w-10, 10), 2)
	lines = append(lines, field("result", resultStyle(st, e.Result)(res[0])))
	if len(res) > 1 {
		lines = append(lines, "          "+resultStyle(st, e.Result)(res[1]))
	}
	return lines
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
	c := s.cols
	col := func(v string, w int) string {
		if w == 0 {
			return ""
		}
		return fit(v, w) + " "
	}
	header := "  " + col("WHEN", c.when) + fitRight("AGE", 8) + " " + fit("ENV", 4) + " " +
		col("WHO", c.who) + col("VERSION", c.version) + col("SHA", c.sha) + fit("RESULT", c.result)
	lines = append(lines, st.ColHeader.Render(withPosition(header, &s.list.nav, w)))
	from, to := s.list.nav.visible()
	now := s.ctx.now()
	for pos := from; pos < to; pos++ {
		e := &s.rows[s.list.matched[pos]]
		selected := pos == s.list.nav.cursor
		marker := "  "
		if selected {
			marker = "› "
		}
		text := marker + col(e.When.Local().Format("2006-01-02 15:04"), c.when) + fitRight(relTime(now, e.When), 8) + " "
		env := fit(e.Env, 4)
		rest := " " + col(e.Who, c.who) + col(e.Version, c.version) + col(shortSHA(e.SHA), c.sha)
		result := fit(e.Result, c.result)
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
	if s.detail {
		for len(lines) < s.h-historyDetailHeight {
			lines = append(lines, "")
		}
		lines = append(lines, s.detailLines(now)...)
	}
	return frame(lines, w, s.h)
}
