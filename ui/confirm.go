package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// confirmedMsg says the user accepted the plan; the root model starts the run.
type confirmedMsg struct{ req runRequest }

// dismissedMsg says the user declined; nothing runs.
type dismissedMsg struct{}

// confirmScreen shows what a workflow would do and waits for y or n. It is a
// modal over the tabs: nothing runs until it sends confirmedMsg.
type confirmScreen struct {
	ctx *programContext
	req runRequest
	gen int // plan request id; stale plans are dropped

	loading bool
	err     error
	dev     DevPlan
	promote PromotePlan
	// rollback: what the env runs now and what the audit log says came before.
	current, previous string

	w, h int
}

func newConfirmScreen(ctx *programContext) *confirmScreen { return &confirmScreen{ctx: ctx} }

func (s *confirmScreen) Title() string    { return "Confirm" }
func (s *confirmScreen) Capturing() bool  { return true }
func (s *confirmScreen) SetSize(w, h int) { s.w, s.h = w, h }

func (s *confirmScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	if s.ready() {
		ok := k.Confirm
		ok.SetHelp("y/enter", s.verb())
		return []key.Binding{ok, k.Cancel}
	}
	back := k.Cancel
	back.SetHelp("n/esc", "back")
	return []key.Binding{back}
}

// open resets the modal for a new request.
func (s *confirmScreen) open(req runRequest, gen int) {
	*s = confirmScreen{ctx: s.ctx, req: req, gen: gen, w: s.w, h: s.h, loading: req.kind != runRollback}
}

func (s *confirmScreen) ready() bool { return !s.loading && s.err == nil }

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
	case devPlanMsg:
		if msg.gen == s.gen && s.req.kind == runDev {
			s.loading, s.dev, s.err = false, msg.plan, msg.err
		}
	case promotePlanMsg:
		if msg.gen == s.gen && s.req.kind == runPromote {
			s.loading, s.promote, s.err = false, msg.plan, msg.err
		}
	case keyMsg:
		k := s.ctx.keys
		switch {
		case matches(msg, k.Confirm):
			if !s.ready() {
				return s, nil
			}
			req := s.req
			return s, func() tea.Msg { return confirmedMsg{req: req} }
		case matches(msg, k.Cancel), matches(msg, k.Quit):
			return s, func() tea.Msg { return dismissedMsg{} }
		}
	}
	return s, nil
}

func (s *confirmScreen) View() string {
	st := s.ctx.styles
	w := s.w
	var lines []string
	title := map[runKind]string{runDev: "Deploy to dev?", runPromote: "Promote to prod?", runRollback: "Roll back " + s.req.env + "?"}[s.req.kind]
	lines = append(lines, st.Prompt.Render(title)+st.Muted.Render("  nothing runs until you confirm"))
	lines = append(lines, "")
	// Values such as digests wrap rather than lose their tail.
	field := func(name, val string) string {
		const label = 15
		parts := wrap(val, max(w-label, 10), 3)
		for i := range parts {
			parts[i] = st.Text.Render(parts[i])
			if i > 0 {
				parts[i] = strings.Repeat(" ", label) + parts[i]
			}
		}
		return st.Muted.Render(fmt.Sprintf("  %-13s", name)) + strings.Join(parts, "\n")
	}
	warn := func(text string) string { return st.Warning.Render("  ⚠ " + text) }

	switch {
	case s.loading:
		what := "dev deploy"
		if s.req.kind == runPromote {
			what = "promotion of " + s.req.tag
		}
		lines = append(lines, st.Running.Render("  planning the "+what+" …"))
	case s.err != nil:
		lines = append(lines, errorBlock(st, s.err, "plan", w)...)
		lines = append(lines, "", st.Muted.Render("  nothing was changed · esc goes back"))
		return frame(strings.Split(strings.Join(lines, "\n"), "\n"), w, s.h)
	case s.req.kind == runDev:
		p := s.dev
		lines = append(lines,
			field("commit", shortSHA(p.Commit)+"  "+p.Subject),
			field("image tag", p.Tag),
			field("target", p.Target),
			field("steps", "build → push → replace the dev-app container"),
		)
		if p.Dirty {
			lines = append(lines, "", warn("the working tree has uncommitted changes: they are NOT in the image"))
		}
		if d := s.ctx.dev; d.loaded && d.val.Err == nil && d.val.Running && p.Tag != "" {
			if _, ref := splitImage(d.val.Image); ref == p.Tag {
				lines = append(lines, "")
				for _, l := range wrap("dev already runs this tag: steps whose result is in place (image in the registry, healthy container) finish as skipped", max(w-4, 10), 3) {
					lines = append(lines, st.Muted.Render("  "+l))
				}
			}
		}
	case s.req.kind == runPromote:
		p := s.promote
		lines = append(lines,
			field("snapshot", p.Snapshot),
			field("digest", p.Digest),
			field("release", p.ReleaseTag+" (GitHub release)"),
			field("new tag", p.PromotedTag+" → same digest, no layer upload"),
			field("deployment", p.Deployment+" / "+p.Container),
			field("image", p.Image),
		)
		if notes := nonEmptyLines(p.NotesPreview); len(notes) > 0 {
			// Keep room for warnings and the prompt.
			room := max(s.h-len(lines)-len(p.Warnings)-5, 1)
			for i, n := range notes {
				if i == room {
					lines = append(lines, field("", fmt.Sprintf("… %d more lines", len(notes)-room)))
					break
				}
				name := ""
				if i == 0 {
					name = "notes"
				}
				lines = append(lines, field(name, n))
			}
		}
		if len(p.Warnings) > 0 {
			lines = append(lines, "")
			for _, wn := range p.Warnings {
				lines = append(lines, warn(wn))
			}
		}
	case s.req.kind == runRollback:
		lines = append(lines,
			field("environment", s.req.env),
			field("runs now", orDash(s.current)),
			field("goes back to", orDash(s.previous)+st.Muted.Render("  (per the audit log; the backend decides)")),
		)
		if s.req.env == "dev" {
			lines = append(lines, st.Muted.Render("  to roll back prod instead, select it on Environments (3)"))
		} else {
			lines = append(lines, st.Muted.Render("  to roll back dev instead, select it on Environments (3)"))
		}
	}
	lines = append(lines, "")
	if s.ready() {
		lines = append(lines, "  "+st.Key.Render("y")+st.Muted.Render("/")+st.Key.Render("enter")+" "+s.verb()+
			st.Muted.Render("  ·  ")+st.Key.Render("n")+st.Muted.Render("/")+st.Key.Render("esc")+" cancel")
	}
	return frame(strings.Split(strings.Join(lines, "\n"), "\n"), w, s.h)
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
