package ui

import (
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
