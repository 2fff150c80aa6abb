package ui

// runFind is `/` search in the Run screen's step log: typed text goes to the
// query (never to the actions), matches are highlighted, n/N move between them.
type runFind struct {
	input filterInput
	hits  int
}

// handleKey takes the key when it is the find's; it reports whether it did.
func (f *runFind) handleKey(s *runScreen, msg keyMsg) bool {
	k := s.ctx.keys
	switch f.input.handle(k, msg) {
	case filterChanged:
		f.apply(s)
		return true
	case filterKept:
		return true
	}
	switch {
	case matches(msg, k.Filter) && s.has:
		f.input.editing = true
		return true
	case matches(msg, k.NextMatch) && f.input.value != "":
		s.vp.NextHit()
		return true
	case matches(msg, k.PrevMatch) && f.input.value != "":
		s.vp.PrevHit()
		return true
	}
	return false
}

// apply highlights the query in the step's log.
func (f *runFind) apply(s *runScreen) {
	f.hits = s.vp.Find(f.input.value)
}

// rule is the log's title rule, or the search line while there is a query.
func (f *runFind) rule(s *runScreen, rule string) string {
	counts := "no match"
	if f.hits > 0 {
		counts = pluralize(f.hits, "match", "matches") + " · n/N"
	}
	if line := f.input.view(s.ctx.styles, counts, s.w); line != "" {
		return line
	}
	return rule
}

func pluralize(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
