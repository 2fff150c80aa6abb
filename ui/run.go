package ui

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/progress"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/pipeline"
)

// maxLogLines bounds each step's kept log; older lines are dropped (and counted).
const maxLogLines = 5000

type stepStatus int

const (
	stepPending stepStatus = iota
	stepRunning
	stepSucceeded
	stepSkipped
	stepFailed
	stepCancelled
)

type runStepState struct {
	name     string
	status   stepStatus
	started  time.Time
	took     time.Duration
	reason   string
	err      string
	logs     []string
	dropped  int
	progress *pipeline.StepProgress
	// plan is what the step planned right before it ran (StepPlanned).
	plan *pipeline.StepPlan
}

// runScreen is the live view of one workflow, fed by pipeline events.
type runScreen struct {
	ctx *programContext

	id       int
	title    string
	workflow string
	has      bool // a run was started in this session
	active   bool // events may still arrive
	started  time.Time
	steps    []runStepState

	finished   bool
	result     pipeline.RunFinished
	endErr     error // the workflow function's error
	cancelling bool

	selected int
	follow   bool // selection follows the running step
	logStep  int  // which step's log the viewport holds
	// The viewport holds that log wrapped to its width, so a long line (a
	// failed check and its fix) is never cut. Lines are wrapped once, as they
	// arrive; a new width or dropped lines wrap it all again.
	wrapped    []string
	logLines   int // how many of the step's lines are in wrapped
	logDropped int // the step's dropped count when wrapped was built
	wrappedToW int
	nav        listNav
	find       runFind // `/` search in the log

	vp   viewport.Model
	spin spinner.Model
	bar  progress.Model

	w, h int
}

func newRunScreen(ctx *programContext) *runScreen {
	s := &runScreen{ctx: ctx, logStep: -1}
	s.vp = viewport.New()
	s.vp.Style = lipgloss.NewStyle().PaddingLeft(2)
	s.spin = spinner.New(spinner.WithSpinner(spinner.MiniDot))
	s.bar = progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('━', '─'))
	s.applyStyles()
	return s
}

func (s *runScreen) applyStyles() {
	st := s.ctx.styles
	s.spin.Style = s.spin.Style.Foreground(st.SpinnerColor)
	s.bar.FullColor = st.ProgressFull
	s.bar.EmptyColor = st.ProgressEmpty
}

func (s *runScreen) Title() string   { return "Run" }
func (s *runScreen) Capturing() bool { return s.find.input.editing }

func (s *runScreen) ShortHelp() []key.Binding {
	k := s.ctx.keys
	sel := k.Down
	sel.SetHelp("j/k", "select step")
	scroll := k.HalfDown
	scroll.SetHelp("ctrl+d/u", "scroll log")
	find := k.Filter
	find.SetHelp("/", "search log")
	if !s.has {
		return []key.Binding{k.Deploy, k.Promote, k.Rollback}
	}
	if s.active {
		stop := k.Interrupt
		stop.SetHelp("ctrl+c", "cancel run")
		return []key.Binding{sel, scroll, stop, find}
	}
	return []key.Binding{sel, scroll, find, k.Deploy}
}

// reset prepares for a new run.
func (s *runScreen) reset(id int, title string, now time.Time) {
	*s = runScreen{ctx: s.ctx, vp: s.vp, spin: s.spin, bar: s.bar, w: s.w, h: s.h,
		id: id, title: title, has: true, active: true, started: now, follow: true, logStep: -1}
	s.vp.SetContentLines(nil)
	s.relayout()
}

// apply folds a batch of events into the screen.
func (s *runScreen) apply(events []pipeline.Event) {
	for _, ev := range events {
		switch e := ev.(type) {
		case pipeline.RunStarted:
			s.workflow = e.Workflow
			if !e.At.IsZero() {
				s.started = e.At
			}
			s.steps = make([]runStepState, len(e.Steps))
			for i, n := range e.Steps {
				s.steps[i].name = n
			}
		case pipeline.StepStarted:
			st := s.step(e.Step, e.Name)
			st.status, st.started = stepRunning, e.At
			if st.started.IsZero() {
				st.started = s.ctx.now()
			}
			if s.follow {
				s.selected = e.Step
			}
		case pipeline.StepLog:
			st := s.step(e.Step, "")
			st.logs = append(st.logs, cleanLine(e.Line))
			if over := len(st.logs) - maxLogLines; over > 0 {
				// Drop in chunks so trimming is not paid on every line.
				drop := max(over, maxLogLines/10)
				st.logs = slices.Delete(st.logs, 0, drop)
				st.dropped += drop
			}
		case pipeline.StepPlanned:
			p := e.Plan
			s.step(e.Step, "").plan = &p
		case pipeline.StepProgress:
			st := s.step(e.Step, "")
			p := e
			st.progress = &p
		case pipeline.StepFinished:
			st := s.step(e.Step, e.Name)
			st.took, st.reason, st.progress = e.Took, e.Reason, nil
			if e.Err != nil {
				st.err = e.Err.Error()
			}
			switch e.Status {
			case pipeline.Succeeded:
				st.status = stepSucceeded
			case pipeline.Skipped:
				st.status = stepSkipped
			case pipeline.Failed:
				st.status = stepFailed
			case pipeline.Cancelled:
				st.status = stepCancelled
			}
			if e.Status == pipeline.Failed && s.follow {
				// Show the log of what broke.
				s.selected = e.Step
			}
		case pipeline.RunFinished:
			s.finished = true
			s.result = e
			for i := range s.steps {
				if s.steps[i].status == stepRunning {
					s.steps[i].status = stepCancelled
				}
			}
			if s.follow && len(s.steps) > 0 && len(s.steps[s.selected].logs) == 0 {
				// End on the last step that said something rather than an empty log.
				for i := s.selected; i >= 0; i-- {
					if len(s.steps[i].logs) > 0 {
						s.selected = i
						break
					}
				}
			}
		}
	}
	s.relayout()
}

// end records that the workflow function returned.
func (s *runScreen) end(err error) {
	s.active = false
	s.cancelling = false
	s.endErr = err
	s.relayout()
}

// step returns step i, growing the list if the run did not announce it.
func (s *runScreen) step(i int, name string) *runStepState {
	for len(s.steps) <= i {
		s.steps = append(s.steps, runStepState{})
	}
	if name != "" {
		s.steps[i].name = name
	}
	return &s.steps[i]
}

// relayout sizes the step list and the log viewport for the current content,
// and loads the selected step's log into the viewport.
func (s *runScreen) relayout() {
	if s.h <= 0 {
		return
	}
	s.nav.setLen(len(s.steps))
	stepRows := min(len(s.steps), max(s.h/2-1, 3))
	s.nav.setHeight(stepRows)
	s.nav.set(s.selected)
	s.selected = s.nav.cursor

	// Whether the reader is following the log, before the height changes.
	atBottom := s.vp.AtBottom()
	used := 1 + stepRows + 1 // title, steps, log title
	if s.progressStep() != nil {
		used++
	}
	used += len(s.summaryLines())
	s.vp.SetWidth(s.w)
	s.vp.SetHeight(max(s.h-used, 2))
	s.bar.SetWidth(max(min(s.w-30, 60), 10))

	if len(s.steps) == 0 {
		return
	}
	st := &s.steps[s.selected]
	switched := s.logStep != s.selected
	width := max(s.w-s.vp.Style.GetHorizontalFrameSize(), 1)
	if switched || width != s.wrappedToW || st.dropped != s.logDropped {
		s.wrapped, s.logLines = s.wrapped[:0], 0
	}
	if s.logLines != len(st.logs) || len(s.wrapped) == 0 {
		for _, l := range st.logs[s.logLines:] {
			s.wrapped = appendWrapped(s.wrapped, l, width)
		}
		s.logLines, s.logDropped, s.wrappedToW = len(st.logs), st.dropped, width
		// The viewport may rewrite its slice; never hand it ours.
		s.vp.SetContentLines(slices.Clone(s.wrapped))
		s.find.apply(s)
	}
	if switched || atBottom {
		// Follow new lines unless the reader scrolled up.
		s.vp.GotoBottom()
	}
	s.logStep = s.selected
}

// appendWrapped appends line to lines, word-wrapped to width w; continuation
// lines keep the line's indentation plus two cells.
func appendWrapped(lines []string, line string, w int) []string {
	if ansi.StringWidth(line) <= w {
		return append(lines, line)
	}
	text := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(text)]
	if w-len(indent) < 20 {
		indent = ""
	}
	for i, l := range wrap(text, w-len(indent), math.MaxInt) {
		if i > 0 {
			l = "  " + l
		}
		lines = append(lines, indent+l)
	}
	return lines
}

// progressStep is the step whose progress bar is shown: the selected one if it
// reports progress, else the running one.
func (s *runScreen) progressStep() *runStepState {
	if len(s.steps) == 0 {
		return nil
	}
	if p := &s.steps[s.selected]; p.progress != nil {
		return p
	}
	for i := range s.steps {
		if s.steps[i].status == stepRunning && s.steps[i].progress != nil {
			return &s.steps[i]
		}
	}
	return nil
}

func (s *runScreen) SetSize(w, h int) {
	s.w, s.h = w, h
	s.relayout()
}

func (s *runScreen) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case spinner.TickMsg:
		if !s.active {
			return s, nil // let the tick chain end
		}
		var cmd tea.Cmd
		s.spin, cmd = s.spin.Update(msg)
		return s, cmd
	case keyMsg:
		k := s.ctx.keys
		if s.find.handleKey(s, msg) {
			return s, nil
		}
		switch {
		case matches(msg, k.Up):
			s.selectStep(s.selected - 1)
		case matches(msg, k.Down):
			s.selectStep(s.selected + 1)
		case matches(msg, k.HalfDown):
			s.vp.HalfPageDown()
		case matches(msg, k.HalfUp):
			s.vp.HalfPageUp()
		case matches(msg, k.PageDown):
			s.vp.PageDown()
		case matches(msg, k.PageUp):
			s.vp.PageUp()
		case matches(msg, k.Top):
			s.vp.GotoTop()
		case matches(msg, k.Bottom):
			s.vp.GotoBottom()
		}
	}
	return s, nil
}

func (s *runScreen) selectStep(i int) {
	if len(s.steps) == 0 {
		return
	}
	s.selected = min(max(i, 0), len(s.steps)-1)
	// Picking the running step resumes following the run.
	s.follow = s.steps[s.selected].status == stepRunning
	s.relayout()
}

// stoppedAt names the step where a failed or cancelled run ended.
func (s *runScreen) stoppedAt() string {
	for i := len(s.steps) - 1; i >= 0; i-- {
		switch s.steps[i].status {
		case stepFailed, stepCancelled:
			return s.steps[i].name
		}
	}
	for i := range s.steps {
		if s.steps[i].status == stepPending {
			return "before " + s.steps[i].name
		}
	}
	return ""
}

// outcome is the run's state in a few words, styled, for the title line and header.
func (s *runScreen) outcome() string {
	st := s.ctx.styles
	now := s.ctx.now()
	switch {
	case !s.has:
		return ""
	case s.finished && s.result.Err == nil:
		return st.Success.Render("✓ succeeded in " + humanDuration(s.result.Took))
	case s.finished && s.cancelled():
		return st.Warning.Render("⊘ cancelled at " + s.stoppedAt())
	case s.finished:
		return st.Failure.Render("✗ failed at " + s.stoppedAt())
	case !s.active && s.endErr != nil:
		return st.Failure.Render("✗ could not start")
	case !s.active:
		return st.Muted.Render("ended")
	case s.cancelling:
		return st.Warning.Render(s.spin.View() + " cancelling… " + humanDuration(now.Sub(s.started)))
	}
	return st.Running.Render(s.spin.View() + " running " + humanDuration(now.Sub(s.started)))
}

func (s *runScreen) cancelled() bool {
	for i := range s.steps {
		if s.steps[i].status == stepCancelled {
			return true
		}
	}
	return s.cancelling || strings.Contains(strings.ToLower(errString(s.result.Err)), "cancel")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *runScreen) View() string {
	st := s.ctx.styles
	w := s.w
	if !s.has {
		lines := []string{
			st.Title.Render("Run"),
			"",
			st.Muted.Render("  No workflow has run in this session."),
			"",
			"  " + st.Key.Render("d") + st.Muted.Render("  deploy the current commit to dev"),
			"  " + st.Key.Render("p") + st.Muted.Render("  promote the selected snapshot to prod (Snapshots or Commits)"),
			"  " + st.Key.Render("b") + st.Muted.Render("  roll an environment back (Environments)"),
			"",
			st.Muted.Render("  Every run asks for confirmation first and streams its steps here."),
		}
		return frame(lines, w, s.h)
	}
	now := s.ctx.now()
	lines := make([]string, 0, s.h)
	lines = append(lines, spread(st.Title.Render("Run · "+s.title), s.outcome(), w))

	if len(s.steps) == 0 && !s.active && s.endErr != nil {
		lines = append(lines, "")
		lines = append(lines, errorBlock(st, s.endErr, s.title, w)...)
		return frame(lines, w, s.h)
	}
	if len(s.steps) == 0 {
		lines = append(lines, st.Muted.Render("  starting…"))
	}
	from, to := s.nav.visible()
	for i := from; i < to; i++ {
		lines = append(lines, s.stepLine(i, now))
	}
	if p := s.progressStep(); p != nil {
		lines = append(lines, s.progressLine(p.progress))
	}
	lines = append(lines, s.summaryLines()...)

	if len(s.steps) > 0 {
		sel := &s.steps[s.selected]
		info := fmt.Sprintf(" %d lines", len(sel.logs))
		if len(sel.logs) == 1 {
			info = " 1 line"
		}
		if sel.dropped > 0 {
			info = fmt.Sprintf(" last %d of %d lines", len(sel.logs), len(sel.logs)+sel.dropped)
		}
		if !s.vp.AtBottom() {
			info += " · scrolled, G follows"
		}
		title := "── log · " + sel.name + " "
		rule := st.Muted.Render(title + strings.Repeat("─", max(w-ansiWidth(title)-ansiWidth(info)-1, 1)) + info)
		lines = append(lines, s.find.rule(s, rule))
		if len(sel.logs) == 0 {
			empty := "  (no output)"
			if sel.status == stepPending {
				empty = "  (not started)"
			}
			lines = append(lines, st.Muted.Render(empty))
		} else {
			lines = append(lines, strings.Split(s.vp.View(), "\n")...)
		}
	}
	return frame(lines, w, s.h)
}

// planned says what the step set out to do ("→ summary · target"); "" for a step
// whose plan only repeats its name.
func (st *runStepState) planned() string {
	p := st.plan
	if p == nil || (p.Summary == st.name || p.Summary == "") && p.Target == "" {
		return ""
	}
	text := "→ " + p.Summary
	if p.Summary == st.name || p.Summary == "" {
		text = "→"
	}
	if p.Target != "" {
		text += " · " + p.Target
	}
	return text
}

func (s *runScreen) stepLine(i int, now time.Time) string {
	st := s.ctx.styles
	step := &s.steps[i]
	marker := "  "
	if i == s.selected {
		marker = "› "
	}
	var icon, took, note string
	style := st.Text
	switch step.status {
	case stepPending:
		icon, style = "·", st.Muted
	case stepRunning:
		icon, style = s.spin.View(), st.Running
		took = humanDuration(now.Sub(step.started))
		note = step.planned()
	case stepSucceeded:
		icon, style = "✓", st.Success
		took = humanDuration(step.took)
		note = step.planned()
	case stepSkipped:
		icon, style = "⊘", st.Muted
		took = humanDuration(step.took)
		note = "skipped: " + step.reason
	case stepFailed:
		icon, style = "✗", st.Failure
		took = humanDuration(step.took)
		note = firstLine(step.err)
	case stepCancelled:
		icon, style = "⊘", st.Warning
		took = humanDuration(step.took)
		note = "cancelled"
	}
	nameW := min(max(s.w/3, 18), 32)
	line := marker + style.Render(fit(icon, 1)) + " " + fit(step.name, nameW) + " " + fitRight(took, 7)
	if note != "" {
		line += "  " + style.Render(note)
	}
	if i == s.selected {
		// Plain text under the cursor so its background is unbroken.
		return st.Selected.Render(fit(ansi.Strip(line), s.w))
	}
	return line
}

func (s *runScreen) progressLine(p *pipeline.StepProgress) string {
	st := s.ctx.styles
	var label string
	unitBytes := p.Unit == "bytes" || p.Unit == "B" || p.Unit == "byte"
	switch {
	case p.Total > 0 && unitBytes:
		label = humanBytes(p.Done) + " / " + humanBytes(p.Total)
	case p.Total > 0:
		label = fmt.Sprintf("%d / %d %s", p.Done, p.Total, p.Unit)
	case unitBytes:
		label = humanBytes(p.Done)
	default:
		label = fmt.Sprintf("%d %s", p.Done, p.Unit)
	}
	if p.Total <= 0 {
		return "    " + st.Muted.Render(label)
	}
	pct := min(max(float64(p.Done)/float64(p.Total), 0), 1)
	return "    " + s.bar.ViewAs(pct) + fmt.Sprintf(" %3.0f%%  ", pct*100) + st.Muted.Render(label)
}

// summaryLines shows the run's result once it finished, keys in the order the
// steps set them.
func (s *runScreen) summaryLines() []string {
	if !s.finished && (s.active || s.endErr == nil) {
		return nil
	}
	st := s.ctx.styles
	var lines []string
	if s.finished {
		r := s.result
		keys := slices.Clone(r.Keys)
		var extra []string
		for k := range r.Summary {
			if !slices.Contains(keys, k) {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		keys = append(keys, extra...)
		// What the person releasing acts on first, when the screen has little room.
		slices.SortStableFunc(keys, func(a, b string) int { return summaryRank(a) - summaryRank(b) })
		switch {
		case r.Err == nil:
			lines = append(lines, st.Success.Render(fmt.Sprintf("  ✓ %s finished in %s", orDash(r.Workflow), humanDuration(r.Took))))
		case s.cancelled():
			lines = append(lines, st.Warning.Render("  ⊘ cancelled at "+s.stoppedAt()+": later steps did not run"))
		default:
			lines = append(lines, st.Failure.Render("  ✗ "+firstLine(r.Err.Error())))
		}
		room := max(s.h/4, 2)
		for i, k := range keys {
			if i == room {
				lines = append(lines, st.Muted.Render(fmt.Sprintf("    … %d more", len(keys)-room)))
				break
			}
			lines = append(lines, st.Muted.Render(fmt.Sprintf("    %-12s ", k))+st.Text.Render(r.Summary[k]))
		}
	} else if s.endErr != nil {
		lines = append(lines, st.Failure.Render("  ✗ "+firstLine(s.endErr.Error())))
	}
	return lines
}

// summaryFirst are the results shown first in a run's summary.
var summaryFirst = []string{"url", "release_url", "image", "promoted_tag", "release_tag", "digest", "image_tag"}

func summaryRank(key string) int {
	if i := slices.Index(summaryFirst, key); i >= 0 {
		return i
	}
	return len(summaryFirst)
}
