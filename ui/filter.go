package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

type keyMsg = tea.KeyPressMsg

func matches(msg keyMsg, b ...key.Binding) bool { return key.Matches(msg, b...) }

// filterInput is the one-line `/` query editor shared by the list screens.
// While editing it takes every printable key; enter keeps the query, esc clears it.
type filterInput struct {
	editing bool
	value   string
}

// filterResult says what a key did to the filter.
type filterResult int

const (
	filterIgnored filterResult = iota // not a filter key; let the screen handle it
	filterKept                        // consumed, query unchanged
	filterChanged                     // consumed, query changed
)

// handle edits the query while editing. Outside editing only esc (clear) is
// taken, and only when a query is set.
func (f *filterInput) handle(k *KeyMap, msg keyMsg) filterResult {
	if !f.editing {
		if f.value != "" && matches(msg, k.FilterClear) {
			f.value = ""
			return filterChanged
		}
		return filterIgnored
	}
	switch {
	case matches(msg, k.FilterClear):
		f.editing = false
		if f.value == "" {
			return filterKept
		}
		f.value = ""
		return filterChanged
	case matches(msg, k.FilterApply):
		f.editing = false
		return filterKept
	case matches(msg, k.FilterWord):
		v := strings.TrimRight(f.value, " ")
		if i := strings.LastIndex(v, " "); i >= 0 {
			v = v[:i+1]
		} else {
			v = ""
		}
		if v == f.value {
			return filterKept
		}
		f.value = v
		return filterChanged
	case matches(msg, k.Up, k.Down, k.HalfDown, k.HalfUp, k.PageDown, k.PageUp) && msg.Text == "":
		// Arrows and paging still move, so you can pick from what matched.
		return filterIgnored
	}
	switch msg.String() {
	case "backspace", "ctrl+h":
		if f.value == "" {
			return filterKept
		}
		r := []rune(f.value)
		f.value = string(r[:len(r)-1])
		return filterChanged
	}
	if msg.Text != "" && msg.Mod&^tea.ModShift == 0 {
		f.value += msg.Text
		return filterChanged
	}
	return filterKept
}

// paste appends pasted text to the query while editing.
func (f *filterInput) paste(s string) bool {
	if !f.editing {
		return false
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return false
	}
	f.value += s
	return true
}

// view renders the filter line, or "" when there is nothing to show.
func (f *filterInput) view(st *Styles, counts string, w int) string {
	if !f.editing && f.value == "" {
		return ""
	}
	cursor := ""
	if f.editing {
		cursor = "█"
	}
	left := st.Filter.Render("/ "+f.value) + cursor
	return spread(left, st.Muted.Render(counts), w)
}

// filterList is the `/`-filtered, cursor-navigated list every list screen shares:
// the query editor, the cursor and, for plain lists, which rows match.
type filterList struct {
	filter filterInput
	nav    listNav
	// keys is the lower-case filter text of each row; matched the rows that match
	// the query, in order (plain lists; Snapshots matches and groups its own).
	keys    []string
	matched []int
}

// listResult says what a key did to the list.
type listResult int

const (
	listIgnored  listResult = iota // not a list key; let the screen handle it
	listKept                       // consumed; the filter line may have appeared or gone
	listFiltered                   // the query changed: refilter
	listMoved                      // the cursor moved
)

// handleKey edits the query, starts editing on `/`, or moves the cursor.
func (l *filterList) handleKey(k *KeyMap, msg keyMsg) listResult {
	switch l.filter.handle(k, msg) {
	case filterChanged:
		return listFiltered
	case filterKept:
		return listKept
	}
	if handleNavKey(k, &l.nav, msg) {
		return listMoved
	}
	if matches(msg, k.Filter) {
		l.filter.editing = true
		return listKept
	}
	return listIgnored
}

// update handles a key or a paste for a plain list; it reports whether it took msg.
func (l *filterList) update(k *KeyMap, msg tea.Msg) bool {
	switch msg := msg.(type) {
	case tea.PasteMsg:
		if l.filter.paste(msg.Content) {
			l.refilter()
			l.nav.top()
		}
		return true
	case keyMsg:
		switch l.handleKey(k, msg) {
		case listFiltered:
			l.refilter()
			l.nav.top()
			return true
		case listKept, listMoved:
			return true
		}
	}
	return false
}

// setKeys replaces the rows' filter text and refilters.
func (l *filterList) setKeys(keys []string) {
	l.keys = keys
	l.refilter()
}

func (l *filterList) refilter() {
	terms := filterTerms(l.filter.value)
	l.matched = l.matched[:0]
	for i, key := range l.keys {
		if matchTerms(key, terms) {
			l.matched = append(l.matched, i)
		}
	}
	l.nav.setLen(len(l.matched))
}

// current is the row under the cursor, or -1.
func (l *filterList) current() int {
	if l.nav.n == 0 || l.nav.cursor >= len(l.matched) {
		return -1
	}
	return l.matched[l.nav.cursor]
}

// moveTo puts the cursor on row i if it matches.
func (l *filterList) moveTo(i int) {
	for pos, r := range l.matched {
		if r == i {
			l.nav.set(pos)
			return
		}
	}
}

// filtering reports whether the filter line shows (it takes a line from the list).
func (l *filterList) filtering() bool { return l.filter.editing || l.filter.value != "" }

// filterLine renders the query with "n of total", or "" when not filtering.
func (l *filterList) filterLine(st *Styles, total, w int) string {
	return l.filter.view(st, fmt.Sprintf("%d of %d", len(l.matched), total), w)
}

// noMatch is the line shown when the query matches nothing, or "".
func (l *filterList) noMatch(st *Styles) string {
	if l.nav.n > 0 {
		return ""
	}
	return st.Muted.Render("  nothing matches “" + l.filter.value + "”: esc clears the filter")
}
