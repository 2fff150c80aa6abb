package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// snapRow is a snapshot plus what the screen precomputes once per row, so
// filtering and drawing never re-derive it.
type snapRow struct {
	Snapshot
	key string // lower-case text the filter matches against
	// tagsKey is the lower-case text of every tag on the digest, one string shared by
	// the digest's rows: 5,000 tags on one digest would otherwise be 5,000² strings.
	tagsKey *string
	release string // a vX.Y.Z tag on the same digest, or ""
	subject string // the subject of the commit it was built from, when the commits are loaded
}

// dispRow is one line of the grouped view: a version header or a snapshot.
type dispRow struct {
	row       int    // index into rows, or -1 for a header
	group     string // header: the version
	count     int    // header: rows in the group
	collapsed bool   // header: its rows are hidden
}

// snapCols is the column layout for the current width.
type snapCols struct {
	tag, version, sha, pushed, size, digest, badges, subject int
}

type snapshotsScreen struct {
	ctx *programContext

	rows    []snapRow          // every snapshot, newest push first
	tagKeys map[string]*string // digest → the filter text of its tags (see snapRow.tagsKey)
	matched []int              // indices into rows passing the filter, ascending
	disp    []dispRow          // grouped layout of matched; nil when not grouped
	grouped bool
	// collapsed holds the versions whose group shows only its header.
	collapsed map[string]bool

	// list is the query editor and cursor; Snapshots matches (incrementally) and
	// groups rows itself, into matched and disp.
	list      filterList
	lastQuery string

	seen     map[string]struct{} // tags listed by the load in progress
	loading  bool
	err      error
	loadedAt time.Time
	detail   bool

	w, h int
	cols snapCols
}

func newSnapshotsScreen(ctx *programContext) *snapshotsScreen {
	return &snapshotsScreen{ctx: ctx, loading: true}
}

func (s *snapshotsScreen) Title() string   { return "Snapshots" }
func (s *snapshotsScreen) Capturing() bool { return s.list.filter.editing }

func (s *snapshotsScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	if s.list.filter.editing {
		return []key.Binding{k.FilterApply, k.FilterClear, k.FilterWord}
	}
	if s.grouped {
		return []key.Binding{k.Filter, k.Enter, k.Fold, k.Promote, k.GroupToggle}
	}
	return []key.Binding{k.Filter, k.Enter, k.Promote, k.GroupToggle}
}

// startLoad begins a fresh listing. Rows already shown stay until the listing
// completes, so a refresh never blanks the screen.
func (s *snapshotsScreen) startLoad() {
	s.loading = true
	s.err = nil
	s.seen = map[string]struct{}{}
	s.tagKeys = nil
}

// addPage merges a batch of snapshots into the sorted rows.
func (s *snapshotsScreen) addPage(snaps []Snapshot) {
	sel := s.selectedTag()
	batch := make([]snapRow, len(snaps))
	for i, sn := range snaps {
		batch[i] = makeSnapRow(sn, s.ctx.subjects[sn.ShortSHA], s.tagsKey(sn))
		if s.seen != nil {
			s.seen[sn.Tag] = struct{}{}
		}
	}
	slices.SortStableFunc(batch, compareSnapRows)
	s.rows = mergeSnapRows(s.rows, batch)
	s.refilter(false)
	if sel != "" {
		s.selectTag(sel)
	}
}

// finishLoad ends a listing; after a complete one, rows it did not list (tags
// deleted since the last load) are dropped.
func (s *snapshotsScreen) finishLoad(err error, now time.Time) {
	s.loading, s.err = false, err
	if err == nil {
		s.loadedAt = now
		if len(s.seen) < len(s.rows) {
			sel := s.selectedTag()
			s.rows = slices.DeleteFunc(s.rows, func(r snapRow) bool {
				_, ok := s.seen[r.Tag]
				return !ok
			})
			s.refilter(false)
			if sel != "" {
				s.selectTag(sel)
			}
		}
	}
	s.seen = nil
}

// makeSnapRow precomputes a row; its filter text holds every column the row
// shows (tag, version, sha, digest, release tags, commit subject), the badges
// DEV and PROD are matched apart because they change with the environments.
func makeSnapRow(sn Snapshot, subject string, tagsKey *string) snapRow {
	r := snapRow{Snapshot: sn, subject: subject, tagsKey: tagsKey}
	var b strings.Builder
	b.WriteString(strings.ToLower(sn.Tag))
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(sn.Version))
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(sn.ShortSHA))
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(sn.Digest))
	if subject != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(subject))
	}
	for _, t := range sn.Tags {
		if isReleaseTag(t) {
			r.release = t
			break
		}
	}
	r.key = b.String()
	return r
}

// tagsKey returns the shared filter text of the tags on sn's digest, made once per
// digest (the registry shares one Tags slice among them).
func (s *snapshotsScreen) tagsKey(sn Snapshot) *string {
	if len(sn.Tags) < 2 {
		return nil
	}
	if k, ok := s.tagKeys[sn.Digest]; ok {
		return k
	}
	var b strings.Builder
	for _, t := range sn.Tags {
		b.WriteByte(' ')
		b.WriteString(strings.ToLower(t))
	}
	k := b.String()
	if s.tagKeys == nil {
		s.tagKeys = map[string]*string{}
	}
	s.tagKeys[sn.Digest] = &k
	return &k
}

// setSubjects names the commit subject of every row from the commits listing
// (short SHA → subject), refiltering when a query is set.
func (s *snapshotsScreen) setSubjects(subjects map[string]string) {
	changed := false
	for i := range s.rows {
		if sub := subjects[s.rows[i].ShortSHA]; sub != s.rows[i].subject {
			s.rows[i] = makeSnapRow(s.rows[i].Snapshot, sub, s.rows[i].tagsKey)
			changed = true
		}
	}
	if changed {
		s.refsChanged()
	}
}

// refsChanged refilters after what the rows match on changed outside them (the
// environments' images behind the DEV/PROD badges, commit subjects).
func (s *snapshotsScreen) refsChanged() {
	if s.list.filter.value == "" {
		return
	}
	sel := s.selectedTag()
	s.refilter(false)
	if sel != "" {
		s.selectTag(sel)
	}
}

// matchRow reports whether row i matches every term, badges included.
func (s *snapshotsScreen) matchRow(i int, terms []string) bool {
	r := &s.rows[i]
	key := r.key
	if r.tagsKey != nil {
		key += *r.tagsKey
	}
	if s.ctx.devRef.matches(&r.Snapshot) {
		key += " dev"
	}
	if s.ctx.prodRef.matches(&r.Snapshot) {
		key += " prod"
	}
	return matchTerms(key, terms)
}

// compareSnapRows orders newest push first, then by tag for a stable order.
func compareSnapRows(a, b snapRow) int {
	if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
		return c
	}
	return strings.Compare(a.Tag, b.Tag)
}

// mergeSnapRows merges two sorted slices; a tag already present is replaced.
func mergeSnapRows(old, batch []snapRow) []snapRow {
	if len(old) == 0 {
		return batch
	}
	// A refresh or a backend that repeats itself must not duplicate rows.
	seen := make(map[string]struct{}, len(batch))
	for _, r := range batch {
		seen[r.Tag] = struct{}{}
	}
	out := make([]snapRow, 0, len(old)+len(batch))
	i, j := 0, 0
	for i < len(old) || j < len(batch) {
		if i < len(old) {
			if _, dup := seen[old[i].Tag]; dup {
				i++
				continue
			}
		}
		switch {
		case i >= len(old):
			out = append(out, batch[j])
			j++
		case j >= len(batch):
			out = append(out, old[i])
			i++
		case compareSnapRows(old[i], batch[j]) <= 0:
			out = append(out, old[i])
			i++
		default:
			out = append(out, batch[j])
			j++
		}
	}
	return out
}

// refilter recomputes matched from the query. When the new query only extends
// the previous one, it narrows the previous matches instead of scanning all rows.
func (s *snapshotsScreen) refilter(incremental bool) {
	q := s.list.filter.value
	terms := filterTerms(q)
	switch {
	case len(terms) == 0:
		s.matched = s.matched[:0]
		for i := range s.rows {
			s.matched = append(s.matched, i)
		}
	case incremental && s.lastQuery != "" && strings.HasPrefix(q, s.lastQuery):
		out := s.matched[:0]
		for _, i := range s.matched {
			if s.matchRow(i, terms) {
				out = append(out, i)
			}
		}
		s.matched = out
	default:
		s.matched = s.matched[:0]
		for i := range s.rows {
			if s.matchRow(i, terms) {
				s.matched = append(s.matched, i)
			}
		}
	}
	s.lastQuery = q
	s.regroup()
}

// regroup rebuilds the grouped layout: versions ordered by their newest push.
func (s *snapshotsScreen) regroup() {
	if !s.grouped {
		s.disp = nil
		s.list.nav.setLen(len(s.matched))
		return
	}
	order := []string{}
	byVersion := map[string][]int{}
	for _, i := range s.matched {
		v := s.rows[i].Version
		if _, ok := byVersion[v]; !ok {
			order = append(order, v)
		}
		byVersion[v] = append(byVersion[v], i)
	}
	disp := make([]dispRow, 0, len(s.matched)+len(order))
	for _, v := range order {
		idx := byVersion[v]
		folded := s.collapsed[v]
		disp = append(disp, dispRow{row: -1, group: v, count: len(idx), collapsed: folded})
		if folded {
			continue
		}
		for _, i := range idx {
			disp = append(disp, dispRow{row: i})
		}
	}
	s.disp = disp
	s.list.nav.setLen(len(disp))
	s.skipHeader(1)
}

// skipHeader moves the cursor off an expanded group's header in direction dir;
// a collapsed group's header is where the cursor stops for it.
func (s *snapshotsScreen) skipHeader(dir int) {
	if s.disp == nil || s.list.nav.n == 0 || s.disp[s.list.nav.cursor].row >= 0 || s.disp[s.list.nav.cursor].collapsed {
		return
	}
	if s.list.nav.cursor+dir < 0 || s.list.nav.cursor+dir >= s.list.nav.n {
		dir = -dir
	}
	s.list.nav.move(dir)
	if s.list.nav.cursor == 1 {
		// Keep the first group's header in view when at the top.
		s.list.nav.offset = 0
	}
}

// toggleFold collapses the group under the cursor (the cursor moves to its
// header) or expands the collapsed group whose header it is on.
func (s *snapshotsScreen) toggleFold() {
	if s.disp == nil || s.list.nav.n == 0 {
		return
	}
	pos := s.list.nav.cursor
	d := s.disp[pos]
	version := d.group
	if d.row >= 0 {
		version = s.rows[d.row].Version
	}
	if s.collapsed == nil {
		s.collapsed = map[string]bool{}
	}
	s.collapsed[version] = !s.collapsed[version]
	folding := s.collapsed[version]
	s.regroup()
	for p, d := range s.disp {
		if d.row < 0 && d.group == version {
			s.list.nav.set(p)
			if !folding && p+1 < len(s.disp) {
				s.list.nav.set(p + 1)
			}
			break
		}
	}
}

// rowAt maps a display position to a row index, or -1 for a header.
func (s *snapshotsScreen) rowAt(pos int) int {
	if s.disp != nil {
		return s.disp[pos].row
	}
	return s.matched[pos]
}

func (s *snapshotsScreen) selected() *snapRow {
	if s.list.nav.n == 0 || s.list.nav.cursor >= s.list.nav.n {
		return nil
	}
	i := s.rowAt(s.list.nav.cursor)
	if i < 0 {
		return nil
	}
	return &s.rows[i]
}

func (s *snapshotsScreen) selectedTag() string {
	if r := s.selected(); r != nil {
		return r.Tag
	}
	return ""
}

// selectTag moves the cursor to the snapshot with tag; it reports whether it
// is listed. A filter hiding it is cleared.
func (s *snapshotsScreen) selectTag(tag string) bool {
	idx := -1
	for i := range s.rows {
		if s.rows[i].Tag == tag {
			idx = i
			break
		}
	}
	if idx < 0 {
		return false
	}
	if _, ok := slices.BinarySearch(s.matched, idx); !ok {
		s.list.filter = filterInput{}
		s.refilter(false)
	}
	if s.grouped && s.collapsed[s.rows[idx].Version] {
		delete(s.collapsed, s.rows[idx].Version)
		s.regroup()
	}
	for pos := 0; pos < s.list.nav.n; pos++ {
		if s.rowAt(pos) == idx {
			s.list.nav.set(pos)
			return true
		}
	}
	return false
}

func (s *snapshotsScreen) promoteTarget() (string, bool) {
	if r := s.selected(); r != nil {
		return r.Tag, true
	}
	return "", false
}

func (s *snapshotsScreen) SetSize(w, h int) {
	s.w, s.h = w, h
	s.cols = layoutSnapCols(w)
	s.list.nav.setHeight(s.listHeight())
}

// colGap separates columns.
const colGap = "  "

func layoutSnapCols(w int) snapCols {
	c := snapCols{tag: 24, version: 8, sha: 7, pushed: 8, size: 8, digest: 12, badges: 15}
	used := func() int {
		n := 2 + c.tag
		for _, x := range []int{c.version, c.sha, c.pushed, c.size, c.digest, c.badges, c.subject} {
			if x > 0 {
				n += len(colGap) + x
			}
		}
		return n
	}
	// Drop the least useful columns until the row fits; the tag already
	// holds the version.
	for _, drop := range []*int{&c.digest, &c.version, &c.size, &c.pushed} {
		if used() <= w {
			break
		}
		*drop = 0
	}
	if extra := w - used(); extra > 0 {
		grow := min(extra, 4)
		c.tag += grow
		extra -= grow
		// The commit subject takes what is left when it can show a few words.
		if extra >= 16+len(colGap) {
			c.subject = extra - len(colGap)
		} else {
			c.badges += extra
		}
	} else if extra < 0 {
		c.tag = max(c.tag+extra, 8)
	}
	return c
}

// listHeight is the rows left for the list after the fixed lines.
func (s *snapshotsScreen) listHeight() int {
	h := s.h - 2 // info line, column header
	if s.list.filter.editing || s.list.filter.value != "" {
		h--
	}
	if s.detail {
		h -= detailHeight
	}
	return max(h, 1)
}

const detailHeight = 7

func (s *snapshotsScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	k := s.ctx.keys
	switch msg := msg.(type) {
	case tea.PasteMsg:
		if s.list.filter.paste(msg.Content) {
			s.refilter(true)
			s.list.nav.setHeight(s.listHeight())
		}
	case keyMsg:
		before := s.list.nav.cursor
		switch s.list.handleKey(k, msg) {
		case listFiltered:
			s.refilter(true)
			s.list.nav.top()
			s.skipHeader(1)
			s.list.nav.setHeight(s.listHeight())
			return s, nil
		case listKept:
			s.list.nav.setHeight(s.listHeight())
			return s, nil
		case listMoved:
			dir := 1
			if s.list.nav.cursor < before {
				dir = -1
			}
			s.skipHeader(dir)
			return s, nil
		}
		switch {
		case matches(msg, k.GroupToggle):
			sel := s.selectedTag()
			s.grouped = !s.grouped
			s.regroup()
			if sel != "" {
				s.selectTag(sel)
			}
		case matches(msg, k.Fold) && s.grouped:
			s.toggleFold()
		case matches(msg, k.Enter):
			if s.selected() != nil {
				s.detail = !s.detail
				s.list.nav.setHeight(s.listHeight())
			} else if s.grouped {
				s.toggleFold()
			}
		case matches(msg, k.Back):
			if s.detail {
				s.detail = false
				s.list.nav.setHeight(s.listHeight())
			}
		}
	}
	return s, nil
}

func (s *snapshotsScreen) View() string {
	st := s.ctx.styles
	w := s.w
	lines := make([]string, 0, s.h)
	lines = append(lines, s.infoLine())
	if f := s.list.filter.view(st, fmt.Sprintf("%d of %d", len(s.matched), len(s.rows)), w); f != "" {
		lines = append(lines, f)
	}
	if s.err != nil && len(s.rows) == 0 {
		lines = append(lines, "")
		lines = append(lines, errorBlock(st, s.err, "registry", w)...)
		return frame(lines, w, s.h)
	}
	if len(s.rows) == 0 {
		lines = append(lines, "")
		if s.loading {
			lines = append(lines, st.Muted.Render("  loading images from "+s.ctx.project.Registry+" …"))
		} else {
			lines = append(lines, st.Muted.Render("  no images in the registry yet: press d to build and deploy the first snapshot"))
		}
		return frame(lines, w, s.h)
	}
	lines = append(lines, st.ColHeader.Render(withPosition(s.header(), &s.list.nav, w)))
	from, to := s.list.nav.visible()
	now := s.ctx.now()
	for pos := from; pos < to; pos++ {
		lines = append(lines, s.renderRow(pos, now))
	}
	if s.list.nav.n == 0 {
		lines = append(lines, st.Muted.Render("  nothing matches “"+s.list.filter.value+"”: esc clears the filter"))
	}
	if s.detail {
		for len(lines) < s.h-detailHeight {
			lines = append(lines, "")
		}
		lines = append(lines, s.detailLines(now)...)
	}
	return frame(lines, w, s.h)
}

func (s *snapshotsScreen) infoLine() string {
	st := s.ctx.styles
	left := st.Title.Render("Snapshots") + st.Muted.Render("  "+countNoun(len(s.rows), "image")+" · newest first")
	if s.grouped {
		left += st.Muted.Render(" · by version")
	}
	var right string
	switch {
	case s.loading:
		right = st.Running.Render(fmt.Sprintf("loading… %d so far", len(s.rows)))
	case s.err != nil && len(s.rows) > 0:
		right = st.Failure.Render("✗ " + firstLine(s.err.Error()))
	case !s.loadedAt.IsZero():
		right = st.Muted.Render("updated " + relTime(s.ctx.now(), s.loadedAt))
	}
	return spread(left, right, s.w)
}

func (s *snapshotsScreen) header() string {
	c := s.cols
	var b strings.Builder
	b.WriteString("  ")
	b.WriteString(fit("TAG", c.tag))
	col := func(title string, w int, right bool) {
		if w == 0 {
			return
		}
		b.WriteString(colGap)
		if right {
			b.WriteString(fitRight(title, w))
		} else {
			b.WriteString(fit(title, w))
		}
	}
	col("VERSION", c.version, false)
	col("SHA", c.sha, false)
	col("PUSHED", c.pushed, true)
	col("SIZE", c.size, true)
	col("DIGEST", c.digest, false)
	col("", c.badges, false)
	col("SUBJECT", c.subject, false)
	return b.String()
}

func (s *snapshotsScreen) renderRow(pos int, now time.Time) string {
	st := s.ctx.styles
	c := s.cols
	selected := pos == s.list.nav.cursor
	i := s.rowAt(pos)
	if i < 0 {
		d := s.disp[pos]
		fold, marker := "▾", "  "
		if d.collapsed {
			fold = "▸"
		}
		if selected {
			marker = "› "
		}
		text := fit(fmt.Sprintf("%s%s %s  (%d)", marker, fold, d.group, d.count), s.w)
		if selected {
			return st.Selected.Render(text)
		}
		return st.Group.Render(text)
	}
	r := &s.rows[i]
	var b strings.Builder
	if selected {
		b.WriteString("› ")
	} else {
		b.WriteString("  ")
	}
	b.WriteString(fit(r.Tag, c.tag))
	plain := func(v string, w int, right bool) {
		if w == 0 {
			return
		}
		b.WriteString(colGap)
		if right {
			b.WriteString(fitRight(v, w))
		} else {
			b.WriteString(fit(v, w))
		}
	}
	plain(r.Version, c.version, false)
	plain(r.ShortSHA, c.sha, false)
	plain(relTime(now, r.PushedAt), c.pushed, true)
	if c.size > 0 {
		plain(humanBytes(r.Size), c.size, true)
	}
	plain(shortDigest(r.Digest), c.digest, false)
	text := b.String()
	badges, plainBadges := s.badges(r, selected)
	subject := ""
	if c.subject > 0 {
		// Badges pad to their column so the subjects line up.
		pad := strings.Repeat(" ", max(c.badges-ansiWidth(plainBadges), 0))
		plainBadges += pad + colGap + fit(r.subject, c.subject)
		badges += pad + colGap
		subject = st.Muted.Render(fit(r.subject, c.subject))
	}
	if selected {
		return st.Selected.Render(fit(text+colGap+plainBadges, s.w))
	}
	return text + colGap + badges + subject
}

// badges returns the row's badges styled, and as plain text for the cursor row.
func (s *snapshotsScreen) badges(r *snapRow, selected bool) (string, string) {
	st := s.ctx.styles
	var styled, plain []string
	add := func(text string, style func(...string) string) {
		plain = append(plain, text)
		if !selected {
			styled = append(styled, style(text))
		}
	}
	if s.ctx.devRef.matches(&r.Snapshot) {
		add("DEV", st.BadgeDev.Render)
	}
	if s.ctx.prodRef.matches(&r.Snapshot) {
		add("PROD", st.BadgeProd.Render)
	}
	if r.release != "" {
		add(r.release, st.BadgeRelease.Render)
	}
	return strings.Join(styled, " "), strings.Join(plain, " ")
}

func (s *snapshotsScreen) detailLines(now time.Time) []string {
	st := s.ctx.styles
	r := s.selected()
	if r == nil {
		return nil
	}
	w := s.w
	title := st.Title.Render("── " + r.Tag + " ")
	lines := []string{title + st.Muted.Render(strings.Repeat("─", max(w-ansiWidth(title), 0)))}
	field := func(name, val string) string {
		return st.Muted.Render(fmt.Sprintf("  %-8s", name)) + st.Text.Render(val)
	}
	lines = append(lines,
		field("digest", r.Digest),
		field("tags", strings.Join(r.Tags, ", ")),
		field("pushed", fmt.Sprintf("%s (%s) · %s", r.PushedAt.Local().Format("2006-01-02 15:04:05"), relTime(now, r.PushedAt), humanBytes(r.Size))),
		field("commit", strings.TrimSpace(r.ShortSHA+"  "+r.subject)),
	)
	_, runs := s.badges(r, true)
	if runs == "" {
		runs = "-"
	}
	lines = append(lines, spread(field("badges", runs), st.Muted.Render("p promote · esc close"), w))
	return lines
}
