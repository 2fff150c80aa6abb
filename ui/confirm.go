package ui

import (
	"fmt"
	"regexp"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/bookshop-ops/gantry/pipeline"
)

// confirmedMsg says the user accepted the plan; the root model starts the run.
type confirmedMsg struct{ req runRequest }

// dismissedMsg says the user declined; nothing runs.
type dismissedMsg struct{}

// confirmScreen shows the plan a workflow would carry out and waits for y or n. It is
// a modal over the tabs: nothing runs until it sends confirmedMsg, and the run executes
// exactly the plan shown (a step whose fresh plan disagrees stops the run). It renders
// any plan generically, so facts a step adds show up without changes here.
type confirmScreen struct {
	ctx *programContext
	req runRequest
	gen int // plan request id; stale plans are dropped

	loading bool
	err     error
	plan    pipeline.Plan
	offset  int // first body line shown when the plan is taller than the screen

	w, h int
}

func newConfirmScreen(ctx *programContext) *confirmScreen { return &confirmScreen{ctx: ctx} }

func (s *confirmScreen) Title() string    { return "Confirm" }
func (s *confirmScreen) Capturing() bool  { return true }
func (s *confirmScreen) SetSize(w, h int) { s.w, s.h = w, h }

func (s *confirmScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	scroll := []key.Binding{}
	if s.scrollable() {
		scroll = []key.Binding{k.Down, k.Up}
	}
	if s.ready() {
		ok := k.Confirm
		ok.SetHelp("y/enter", s.verb())
		return append([]key.Binding{ok, k.Cancel}, scroll...)
	}
	back := k.Cancel
	back.SetHelp("n/esc", "back")
	return append([]key.Binding{back}, scroll...)
}

// open resets the modal for a new request.
func (s *confirmScreen) open(req runRequest, gen int) {
	*s = confirmScreen{ctx: s.ctx, req: req, gen: gen, w: s.w, h: s.h, loading: true}
}

// ready reports whether the plan may be accepted: loaded, and it would run.
func (s *confirmScreen) ready() bool { return !s.loading && s.err == nil && !s.plan.Refused() }

func (s *confirmScreen) verb() string {
	switch s.req.kind {
	case runPromote:
		return "promote"
	case runRollback:
		return "roll back"
	}
	return "deploy"
}

func (s *confirmScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case planMsg:
		if msg.gen == s.gen {
			s.loading, s.plan, s.err, s.offset = false, msg.plan, msg.err, 0
		}
	case keyMsg:
		k := s.ctx.keys
		switch {
		case matches(msg, k.Confirm):
			if !s.ready() {
				return s, nil
			}
			req := s.req
			req.plan = s.plan
			return s, func() tea.Msg { return confirmedMsg{req: req} }
		case matches(msg, k.Cancel), matches(msg, k.Quit):
			return s, func() tea.Msg { return dismissedMsg{} }
		case matches(msg, k.Down):
			s.offset = min(s.offset+1, max(len(s.body())-s.bodyHeight(), 0))
		case matches(msg, k.Up):
			s.offset = max(s.offset-1, 0)
		}
	}
	return s, nil
}

// bodyHeight is the room for the plan: the title, a blank line, a blank line and the prompt stay.
func (s *confirmScreen) bodyHeight() int { return max(s.h-4, 1) }

func (s *confirmScreen) scrollable() bool {
	return !s.loading && s.err == nil && len(s.body()) > s.bodyHeight()
}

func (s *confirmScreen) title() string {
	switch s.req.kind {
	case runPromote:
		return "Promote to prod?"
	case runRollback:
		return "Roll back " + s.req.env + "?"
	}
	return "Deploy to dev?"
}

func (s *confirmScreen) View() string {
	st := s.ctx.styles
	w := s.w
	lines := []string{st.Prompt.Render(s.title()) + st.Muted.Render("  nothing runs until you confirm"), ""}
	switch {
	case s.loading:
		what := "dev deploy"
		switch s.req.kind {
		case runPromote:
			what = "promotion of " + orDash(s.req.tag)
		case runRollback:
			what = "rollback of " + s.req.env
		}
		lines = append(lines, st.Running.Render("  planning the "+what+" …"))
		return frame(lines, w, s.h)
	case s.err != nil:
		lines = append(lines, errorBlock(st, s.err, "plan", w)...)
		lines = append(lines, "", st.Muted.Render("  nothing was changed · esc goes back"))
		return frame(lines, w, s.h)
	}
	body := s.body()
	room := s.bodyHeight()
	if len(body) > room {
		off := min(s.offset, len(body)-room)
		more := len(body) - off - room
		body = body[off : off+room]
		if more > 0 {
			body[room-1] = st.Muted.Render(fmt.Sprintf("  ↓ %d more lines (j/k scrolls)", more+1))
		}
	}
	lines = append(lines, body...)
	for len(lines) < s.h-2 {
		lines = append(lines, "")
	}
	lines = append(lines, "")
	if s.ready() {
		lines = append(lines, "  "+st.Key.Render("y")+st.Muted.Render("/")+st.Key.Render("enter")+" "+s.verb()+
			st.Muted.Render("  ·  ")+st.Key.Render("n")+st.Muted.Render("/")+st.Key.Render("esc")+" cancel")
	} else {
		lines = append(lines, st.Failure.Render("  ✗ this plan will not run")+st.Muted.Render(" · fix it, then try again · ")+
			st.Key.Render("esc")+" back")
	}
	return frame(lines, w, s.h)
}

// confirmMarks are the plan actions' marks, as the --dry-run printer draws them.
var confirmMarks = map[pipeline.Action]string{
	pipeline.ActionRead:    "·",
	pipeline.ActionAct:     "●",
	pipeline.ActionSkip:    "⊘",
	pipeline.ActionRefuse:  "✗",
	pipeline.ActionBlocked: "-",
}

// compactFacts are facts whose values run to many lines (release notes, commit
// lists): the confirm shows their first lines only.
var compactFacts = map[string]int{"notes": 4, "commits": 8}

// prNumber finds a trailing "(#123)" in a commit subject, as GitHub's squash
// merges write it.
var prNumber = regexp.MustCompile(`\s*\(#(\d+)\)$`)

// commitLine shows "sha7 subject (#123)" as "sha7 #123 subject": the pull
// request is what a release manager looks up.
func commitLine(line string) string {
	m := prNumber.FindStringSubmatchIndex(line)
	if m == nil {
		return line
	}
	pr := "#" + line[m[2]:m[3]]
	rest := line[:m[0]]
	if sha, subject, ok := strings.Cut(rest, " "); ok && len(sha) == 7 {
		return sha + " " + pr + " " + subject
	}
	return pr + " " + rest
}

// body renders the plan: per step its mark, name and summary, then its target,
// facts and warnings; refusals say why.
func (s *confirmScreen) body() []string {
	st := s.ctx.styles
	w := s.w
	p := s.plan
	var lines []string
	nameW := 0
	for _, sp := range p.Steps {
		nameW = max(nameW, len([]rune(sp.Step)))
	}
	nameW = min(nameW, max(w/4, 8))
	indent := strings.Repeat(" ", 4)
	// Fact names are the label column: as wide as the longest, within reason.
	labelW := 10
	for _, sp := range p.Steps {
		for _, f := range sp.Facts {
			labelW = max(labelW, len([]rune(f.Name)))
		}
		if sp.Target != "" {
			labelW = max(labelW, len("target"))
		}
	}
	labelW = min(labelW, max(w/4, 12))
	field := func(name, val string, style func(...string) string) []string {
		avail := max(w-len(indent)-labelW-1, 10)
		var out []string
		for i, part := range wrap(val, avail, 3) {
			label := ""
			if i == 0 {
				label = name
			}
			out = append(out, indent+st.Muted.Render(fit(label, labelW))+" "+style(part))
		}
		return out
	}
	seen := map[pipeline.Fact]bool{}
	// A refusal comes first: it is why nothing is offered.
	for _, sp := range p.Refusals() {
		for i, part := range wrap(sp.Step+" refuses: "+sp.Reason, max(w-4, 10), 4) {
			prefix := "  ✗ "
			if i > 0 {
				prefix = "    "
			}
			lines = append(lines, st.Failure.Render(prefix+part))
		}
	}
	if len(p.Refusals()) > 0 {
		lines = append(lines, "")
	}
	// Warnings come next, before the steps, so none is below the fold.
	warned := 0
	for _, sp := range p.Steps {
		for _, wn := range sp.Warnings {
			for i, part := range wrap(sp.Step+": "+wn, max(w-4, 10), 4) {
				prefix := "  ⚠ "
				if i > 0 {
					prefix = "    "
				}
				lines = append(lines, st.Warning.Render(prefix+part))
			}
			warned++
		}
	}
	if warned > 0 {
		lines = append(lines, "")
	}
	for _, sp := range p.Steps {
		mark := confirmMarks[sp.Action]
		markStyle := st.Muted.Render
		switch sp.Action {
		case pipeline.ActionAct:
			markStyle = st.Success.Render
		case pipeline.ActionSkip:
			markStyle = st.Warning.Render
		case pipeline.ActionRefuse:
			markStyle = st.Failure.Render
		}
		summary := sp.Summary
		if summary == "" || summary == sp.Step {
			// A plan-less step says only its name: show what kind of step it is.
			summary = sp.Action.String()
		}
		head := "  " + markStyle(mark) + " " + st.Text.Render(fit(sp.Step, nameW)) + " "
		avail := max(w-2-2-nameW-1, 10)
		for i, part := range wrap(summary, avail, 2) {
			if i == 0 {
				lines = append(lines, head+st.Text.Render(part))
			} else {
				lines = append(lines, strings.Repeat(" ", 2+2+nameW+1)+st.Text.Render(part))
			}
		}
		if sp.Target != "" {
			lines = append(lines, field("target", sp.Target, st.Text.Render)...)
		}
		if sp.Action == pipeline.ActionRefuse && sp.Reason != "" && !strings.Contains(sp.Summary, sp.Reason) {
			lines = append(lines, field("why", sp.Reason, st.Failure.Render)...)
		}
		for _, f := range sp.Facts {
			// Steps share facts (the image tag, the registry): each is shown once.
			if seen[f] || f.Value == sp.Target {
				continue
			}
			seen[f] = true
			lines = append(lines, s.fact(f, field)...)
		}
		if n := len(sp.Warnings); n > 0 {
			lines = append(lines, indent+st.Warning.Render(fmt.Sprintf("⚠ %s (above)", countNoun(n, "warning"))))
		}
	}
	if s.req.kind == runRollback {
		other := map[string]string{"dev": "prod", "prod": "dev"}[s.req.env]
		lines = append(lines, "", st.Muted.Render("  to roll back "+other+" instead, select it on Environments (3)"))
	}
	return lines
}

// fact renders one fact; many-line values of compactFacts show their first lines.
func (s *confirmScreen) fact(f pipeline.Fact, field func(string, string, func(...string) string) []string) []string {
	st := s.ctx.styles
	vals := nonEmptyLines(f.Value)
	if len(vals) <= 1 {
		v := strings.TrimSpace(cleanLine(f.Value))
		if f.Name == "commits" {
			v = commitLine(v)
		}
		return field(f.Name, v, st.Text.Render)
	}
	n, compact := compactFacts[f.Name]
	if !compact {
		n = 6
	}
	var out []string
	for i, v := range vals {
		if i == n {
			out = append(out, field("", fmt.Sprintf("… %d more lines", len(vals)-n), st.Muted.Render)...)
			break
		}
		name := ""
		if i == 0 {
			name = f.Name
		}
		if f.Name == "commits" {
			v = commitLine(v)
		}
		out = append(out, field(name, v, st.Text.Render)[0])
	}
	return out
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(cleanLine(l)); l != "" {
			out = append(out, l)
		}
	}
	return out
}
