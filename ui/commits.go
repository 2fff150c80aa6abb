package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

type commitsScreen struct {
	ctx *programContext

	rows []Commit // newest first
	// snaps maps a short SHA to the newest snapshot built from it, from the
	// Snapshots listing as its pages arrive (the registry is listed once).
	snaps map[string]Snapshot
	list  filterList

	loading  bool
	err      error
	loadedAt time.Time

	w, h     int
	subjectW int
	authorW  int // 0 when narrow: the subject is what the screen is for
	ageW     int
}

func newCommitsScreen(ctx *programContext) *commitsScreen {
	return &commitsScreen{ctx: ctx, loading: true}
}

func (s *commitsScreen) Title() string   { return "Commits" }
func (s *commitsScreen) Capturing() bool { return s.list.filter.editing }

func (s *commitsScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	if s.list.filter.editing {
		return []key.Binding{k.FilterApply, k.FilterClear, k.FilterWord}
	}
	jump := k.Enter
	jump.SetHelp("enter", "go to snapshot")
	return []key.Binding{k.Filter, jump, k.Promote, k.Deploy}
}

// addSnapshots badges the commits a page of the registry listing was built from.
func (s *commitsScreen) addSnapshots(page []Snapshot) {
	if s.snaps == nil {
		s.snaps = map[string]Snapshot{}
	}
	changed := false
	for _, sn := range page {
		if sn.ShortSHA == "" {
			continue
		}
		if old, ok := s.snaps[sn.ShortSHA]; !ok || sn.PushedAt.After(old.PushedAt) {
			s.snaps[sn.ShortSHA] = sn
			changed = true
		}
	}
	if changed && len(s.rows) > 0 {
		s.setCommits(s.rows)
	}
}

// snapshotTag is the snapshot built from c: the backend's word, else the listing's.
func (s *commitsScreen) snapshotTag(c Commit) string {
	if c.SnapshotTag != "" {
		return c.SnapshotTag
	}
	return s.snaps[shortSHA(c.SHA)].Tag
}

// branches names the branches the rows come from, in order of appearance.
func (s *commitsScreen) branches() string {
	var names []string
	for _, c := range s.rows {
		if c.Branch != "" && !slices.Contains(names, c.Branch) {
			names = append(names, c.Branch)
		}
	}
	if len(names) == 0 {
		return "HEAD"
	}
	return strings.Join(names, " and ")
}

func (s *commitsScreen) setCommits(c []Commit) {
	sel := ""
	if r := s.selected(); r != nil {
		sel = r.SHA
	}
	s.rows = slices.Clone(c)
	slices.SortStableFunc(s.rows, func(a, b Commit) int { return b.When.Compare(a.When) })
	for i := range s.rows {
		s.rows[i].SnapshotTag = s.snapshotTag(s.rows[i])
	}
	keys := make([]string, len(s.rows))
	for i, c := range s.rows {
		keys[i] = strings.ToLower(strings.Join([]string{c.SHA, c.Subject, c.Author, c.Branch, c.SnapshotTag, c.Released, relTime(s.ctx.now(), c.When)}, " "))
	}
	s.list.setKeys(keys)
	if sel != "" {
		for i := range s.rows {
			if s.rows[i].SHA == sel {
				s.list.moveTo(i)
				break
			}
		}
	}
}

func (s *commitsScreen) selected() *Commit {
	if i := s.list.current(); i >= 0 {
		return &s.rows[i]
	}
	return nil
}

func (s *commitsScreen) promoteTarget() (string, bool) {
	if c := s.selected(); c != nil && c.SnapshotTag != "" {
		return c.SnapshotTag, true
	}
	return "", false
}

func (s *commitsScreen) SetSize(w, h int) {
	s.w, s.h = w, h
	// marker, branch, sha, subject, [author], [age], snapshot, release; the
	// author and then the age give way before the subject gets under 20 cells.
	s.authorW, s.ageW = 12, 8
	fixed := func() int {
		n := 2 + 4 + 1 + 7 + 1 + 1 + 4 + 1 + 8
		if s.authorW > 0 {
			n += s.authorW + 1
		}
		if s.ageW > 0 {
			n += s.ageW + 1
		}
		return n
	}
	if w-fixed() < 20 {
		s.authorW = 0
	}
	if w-fixed() < 20 {
		s.ageW = 0
	}
	s.subjectW = max(w-fixed(), 10)
	s.list.nav.setHeight(s.listHeight())
}

func (s *commitsScreen) listHeight() int {
	h := s.h - 2
	if s.list.filtering() {
		h--
	}
	return max(h, 1)
}

func (s *commitsScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	k := s.ctx.keys
	if s.list.update(k, msg) {
		s.list.nav.setHeight(s.listHeight())
		return s, nil
	}
	switch msg := msg.(type) {
	case keyMsg:
		switch {
		case matches(msg, k.Enter):
			c := s.selected()
			if c == nil {
				return s, nil
			}
			if c.SnapshotTag == "" {
				return s, statusCmd(fmt.Sprintf("no snapshot was built from %s yet", shortSHA(c.SHA)), false)
			}
			tag := c.SnapshotTag
			return s, func() tea.Msg { return jumpToSnapshotMsg{tag: tag} }
		}
	}
	return s, nil
}

func (s *commitsScreen) View() string {
	st := s.ctx.styles
	w := s.w
	lines := make([]string, 0, s.h)
	left := st.Title.Render("Commits") + st.Muted.Render(fmt.Sprintf("  %d on %s · ● snapshot built", len(s.rows), s.branches()))
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
		lines = append(lines, errorBlock(st, s.err, "git", w)...)
		return frame(lines, w, s.h)
	}
	if len(s.rows) == 0 {
		lines = append(lines, "")
		if s.loading {
			lines = append(lines, st.Muted.Render("  reading commits …"))
		} else {
			lines = append(lines, st.Muted.Render("  no commits on the dev branch or HEAD's branch"))
		}
		return frame(lines, w, s.h)
	}
	opt := func(v string, w int, right bool) string {
		switch {
		case w == 0:
			return ""
		case right:
			return fitRight(v, w) + " "
		}
		return fit(v, w) + " "
	}
	header := "  " + fit("BR", 4) + " " + fit("SHA", 7) + " " + fit("SUBJECT", s.subjectW) + " " +
		opt("AUTHOR", s.authorW, false) + opt("AGE", s.ageW, true) + fit("SNAP", 4) + " " + fit("RELEASE", 8)
	if pos := position(&s.list.nav); pos != "" && ansiWidth(strings.TrimRight(header, " "))+len(pos)+1 > w {
		// No room in the header's corner: the position joins the title line.
		with := st.Muted.Render(pos+" · ") + right
		if ansiWidth(left)+ansiWidth(with)+1 > w {
			with = st.Muted.Render(pos)
		}
		lines[0] = spread(left, with, w)
	}
	lines = append(lines, st.ColHeader.Render(withPosition(header, &s.list.nav, w)))
	from, to := s.list.nav.visible()
	now := s.ctx.now()
	for pos := from; pos < to; pos++ {
		c := &s.rows[s.list.matched[pos]]
		selected := pos == s.list.nav.cursor
		marker := "  "
		if selected {
			marker = "› "
		}
		snap := "    "
		if c.SnapshotTag != "" {
			snap = " ●  "
		}
		rel := fit(c.Released, 8)
		text := marker + fit(c.Branch, 4) + " " + fit(shortSHA(c.SHA), 7) + " " + fit(c.Subject, s.subjectW) + " " +
			opt(c.Author, s.authorW, false) + opt(relTime(now, c.When), s.ageW, true)
		if selected {
			lines = append(lines, st.Selected.Render(fit(text+snap+" "+rel, w)))
			continue
		}
		if c.SnapshotTag != "" {
			snap = st.Success.Render(snap)
		}
		if c.Released != "" {
			rel = st.BadgeRelease.Render(strings.TrimRight(rel, " "))
		}
		lines = append(lines, text+snap+" "+rel)
	}
	if l := s.list.noMatch(st); l != "" {
		lines = append(lines, l)
	}
	return frame(lines, w, s.h)
}
