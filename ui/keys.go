package ui

import "charm.land/bubbles/v2/key"

// KeyMap is the one place every key binding lives; help is rendered from it.
type KeyMap struct {
	NextTab, PrevTab key.Binding
	Jump             key.Binding

	Up, Down         key.Binding
	Top, Bottom      key.Binding
	HalfDown, HalfUp key.Binding
	PageDown, PageUp key.Binding

	Filter      key.Binding
	FilterApply key.Binding // while typing a filter
	FilterClear key.Binding
	FilterWord  key.Binding // delete the last word
	Enter       key.Binding
	Back        key.Binding
	GroupToggle key.Binding
	Fold        key.Binding // collapse or expand a version group

	Deploy   key.Binding
	Promote  key.Binding
	Rollback key.Binding
	Refresh  key.Binding

	Confirm key.Binding // accept a plan
	Cancel  key.Binding // decline a plan
	Yes, No key.Binding // answer the cancel-the-run prompt

	// Logs, the command log, copy and open (issue 15).
	Logs, ProdLogs       key.Binding
	CmdLog               key.Binding
	Copy, CopyDigest     key.Binding
	Open                 key.Binding
	NextMatch, PrevMatch key.Binding // `/` search in a log
	Follow, Wrap         key.Binding
	Tail, Since          key.Binding

	Help key.Binding
	Quit key.Binding
	// Interrupt is ctrl+c: quits, or during a run asks to cancel it.
	Interrupt key.Binding
}

// DefaultKeyMap returns gantry's key bindings.
func DefaultKeyMap() *KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return &KeyMap{
		NextTab: b("tab", "next screen", "tab"),
		PrevTab: b("shift+tab", "prev screen", "shift+tab"),
		Jump:    b("1-5", "jump to screen", "1", "2", "3", "4", "5"),

		Up:       b("↑/k", "up", "up", "k"),
		Down:     b("↓/j", "down", "down", "j"),
		Top:      b("g/home", "top", "g", "home"),
		Bottom:   b("G/end", "bottom", "G", "end"),
		HalfDown: b("ctrl+d", "half page down", "ctrl+d"),
		HalfUp:   b("ctrl+u", "half page up", "ctrl+u"),
		PageDown: b("pgdn", "page down", "pgdown"),
		PageUp:   b("pgup", "page up", "pgup"),

		Filter:      b("/", "filter", "/"),
		FilterApply: b("enter", "keep filter", "enter"),
		FilterClear: b("esc", "clear filter", "esc"),
		FilterWord:  b("ctrl+w", "delete word", "ctrl+w"),
		Enter:       b("enter", "details", "enter"),
		Back:        b("esc", "close / clear filter", "esc"),
		GroupToggle: b("v", "group by version", "v"),
		Fold:        b("space", "fold group", "space"),

		Deploy:   b("d", "deploy dev", "d"),
		Promote:  b("p", "promote", "p"),
		Rollback: b("b", "rollback", "b"),
		Refresh:  b("r", "refresh", "r"),

		Confirm: b("y/enter", "confirm", "y", "enter"),
		Cancel:  b("n/esc", "cancel", "n", "esc"),
		Yes:     b("y", "cancel the run", "y", "Y"),
		No:      b("n/esc", "keep running", "n", "N", "esc"),

		Logs:       b("l", "dev logs", "l"),
		ProdLogs:   b("L", "prod logs", "L"),
		CmdLog:     b("@", "command log", "@"),
		Copy:       b("c", "copy tag/ref", "c"),
		CopyDigest: b("C", "copy digest", "C"),
		Open:       b("o", "open in browser", "o"),
		NextMatch:  b("n", "next match", "n"),
		PrevMatch:  b("N", "prev match", "N"),
		Follow:     b("f", "follow", "f"),
		Wrap:       b("w", "wrap", "w"),
		Tail:       b("t", "tail 500/2000/10k/all", "t"),
		Since:      b("s", "since 10m/1h/24h", "s"),

		Help:      b("?", "help", "?"),
		Quit:      b("q", "quit", "q"),
		Interrupt: b("ctrl+c", "quit (asks during a run)", "ctrl+c"),
	}
}

// FullHelp groups every binding for the `?` screen.
func (k *KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.HalfDown, k.HalfUp, k.PageDown, k.PageUp},
		{k.NextTab, k.PrevTab, k.Jump, k.Filter, k.Enter, k.Back, k.GroupToggle, k.Fold},
		{k.Deploy, k.Promote, k.Rollback, k.Refresh, k.Confirm, k.Cancel},
		{k.Logs, k.ProdLogs, k.CmdLog, k.Copy, k.CopyDigest, k.Open},
		// In a log view; paired so the help fits a 80x24 terminal.
		{helpOnly("n/N", "next/prev match"), helpOnly("f/w", "follow/wrap"), helpOnly("t/s", "tail/since"),
			k.Help, k.Quit, k.Interrupt},
	}
}

// helpOnly is a binding shown in the help that stands for a pair of real ones.
func helpOnly(keys, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys), key.WithHelp(keys, desc))
}
