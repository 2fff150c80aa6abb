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
// Appending costs the same however full the log is (only new lines are measured),
// so the bound is about memory: 100,000 lines of 100 bytes are 10 MB.
const maxLogLines = 100_000

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
	wrapCount  []int32 // how many lines of wrapped each of the step's lines became
	logLines   int     // how many of the step's lines are in wrapped
	logDropped int     // the step's dropped count when wrapped was built
	wrappedToW int
	nav        listNav
	find       runFind // `/` search in the log

	vp   logPane
	spin spinner.Model
	bar  progress.Model

	w, h int
}

func newRunScreen(ctx *programContext) *runScreen {
	s := &runScreen{ctx: ctx, logStep: -1}
	s.vp = logPane{Model: viewport.New()}
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
			line := e.Line
			if !printableASCII(line) {
				line = cleanLine(line)
			}
			st.logs = append(st.logs, line)
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
	if k := st.dropped - s.logDropped; !switched && width == s.wrappedToW && k > 0 && k <= s.logLines {
		// Lines dropped from the front: drop their wrapped lines, keep the rest.
		n := 0
		for _, c := range s.wrapCount[:k] {
			n += int(c)
		}
		s.wrapped = slices.Delete(s.wrapped, 0, n)
		s.wrapCount = slices.Delete(s.wrapCount, 0, k)
		s.logLines -= k
		s.logDropped = st.dropped
		s.vp.SetContentLines(s.wrapped)
	}
	if switched || width != s.wrappedToW || st.dropped != s.logDropped {
		s.wrapped, s.wrapCount, s.logLines = s.wrapped[:0], s.wrapCount[:0], 0
	}
	if s.logLines != len(st.logs) || len(s.wrapped) == 0 {
		// Only the new lines are measured and wrapped: appending costs the same
		// however long the log already is.
		for _, l := range st.logs[s.logLines:] {
			before := len(s.wrapped)
			s.wrapped = appendWrapped(s.wrapped, l, width)
			s.wrapCount = append(s.wrapCount, int32(len(s.wrapped)-before))
		}
		s.logLines, s.logDropped, s.wrappedToW = len(st.logs), st.dropped, width
		s.vp.SetContentLines(s.wrapped)
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
	if len(line) <= w && printableASCII(line) || ansi.StringWidth(line) <= w {
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
		if r.Err != nil {
			// A stopped run lists only what took effect: not the image a
			// step named before the push that never happened.
			keys = slices.DeleteFunc(keys, func(k string) bool { return !s.tookEffect(k) })
		}
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

// summaryProducers names, for a result a step may set before the side effect it
// describes, the steps whose success makes it true; the first one in the run decides.
var summaryProducers = map[string][]string{
	"image": {"push", "rollout"}, "image_tag": {"push"}, "digest": {"push"},
	"url": {"deploy"}, "promoted_tag": {"promote"},
}

// tookEffect reports whether a result of a stopped run is true: the step that
// makes it so succeeded or had nothing to do.
func (s *runScreen) tookEffect(key string) bool {
	for _, name := range summaryProducers[key] {
		for i := range s.steps {
			if n := s.steps[i].name; n == name || strings.HasPrefix(n, name+" ") {
				return s.steps[i].status == stepSucceeded || s.steps[i].status == stepSkipped
			}
		}
	}
	return true
}

// summaryFirst are the results shown first in a run's summary.
var summaryFirst = []string{"url", "release_url", "image", "promoted_tag", "release_tag", "digest", "image_tag"}

func summaryRank(key string) int {
	if i := slices.Index(summaryFirst, key); i >= 0 {
		return i
	}
	return len(summaryFirst)
}

// printableASCII reports whether s is printable ASCII only: no escape, control
// or wide character, so its width is len(s) and it needs no cleaning. Most build
// output is, and measuring graphemes is what a log line costs otherwise.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// logPane scrolls a log of lines already wrapped to its width. The viewport it
// embeds only ever holds the visible window: a viewport measures every line it
// is given, which made each appended batch cost the whole log.
type logPane struct {
	viewport.Model
	lines []string // every line; shared with the run screen, read only
	top   int      // index of the first visible line

	hits []logHit // matches of the search, in order
	cur  int      // the selected match
}

// logHit is one search match: bytes [start, end) of lines[line].
type logHit struct{ line, start, end int }

// Find marks every case-insensitive occurrence of q in the lines, selects the first
// one after the view's top (scrolling to it) and returns how many there are.
func (p *logPane) Find(q string) int {
	p.hits, p.cur = p.hits[:0], 0
	if q == "" {
		return 0
	}
	lq := strings.ToLower(q)
	for i, l := range p.lines {
		ll := strings.ToLower(l)
		if len(ll) != len(l) {
			continue // case mapping changed the byte length: offsets would not fit
		}
		for off := 0; ; {
			j := strings.Index(ll[off:], lq)
			if j < 0 {
				break
			}
			p.hits = append(p.hits, logHit{line: i, start: off + j, end: off + j + len(lq)})
			off += j + len(lq)
		}
	}
	for i, h := range p.hits {
		if h.line >= p.top {
			p.cur = i
			break
		}
	}
	p.showHit()
	return len(p.hits)
}

// NextHit and PrevHit select the next and previous match, wrapping around.
func (p *logPane) NextHit() { p.step(1) }
func (p *logPane) PrevHit() { p.step(-1) }

func (p *logPane) step(d int) {
	if len(p.hits) == 0 {
		return
	}
	p.cur = (p.cur + d + len(p.hits)) % len(p.hits)
	p.showHit()
}

// showHit scrolls the selected match into view.
func (p *logPane) showHit() {
	if len(p.hits) == 0 {
		return
	}
	if l := p.hits[p.cur].line; l < p.top || l >= p.top+p.rows() {
		p.scrollTo(l - p.rows()/2)
	}
}

// SetContentLines sets the lines to scroll through; the pane keeps lines and
// never writes to it.
func (p *logPane) SetContentLines(lines []string) {
	p.lines = lines
	p.scrollTo(p.top)
}

func (p *logPane) rows() int   { return max(p.Height()-p.Style.GetVerticalFrameSize(), 0) }
func (p *logPane) maxTop() int { return max(len(p.lines)-p.rows(), 0) }

// AtBottom reports whether the last line is in view.
func (p *logPane) AtBottom() bool { return p.top >= p.maxTop() }

func (p *logPane) scrollTo(top int) {
	p.top = min(max(top, 0), p.maxTop())
}

func (p *logPane) GotoBottom()   { p.scrollTo(p.maxTop()) }
func (p *logPane) GotoTop()      { p.scrollTo(0) }
func (p *logPane) HalfPageDown() { p.scrollTo(p.top + max(p.rows()/2, 1)) }
func (p *logPane) HalfPageUp()   { p.scrollTo(p.top - max(p.rows()/2, 1)) }
func (p *logPane) PageDown()     { p.scrollTo(p.top + max(p.rows(), 1)) }
func (p *logPane) PageUp()       { p.scrollTo(p.top - max(p.rows(), 1)) }

func (p *logPane) SetHeight(h int) {
	p.Model.SetHeight(h)
	p.scrollTo(p.top)
}

// View draws the visible lines: only they are handed to (and measured by) the viewport.
func (p *logPane) View() string {
	p.scrollTo(p.top)
	end := min(p.top+p.rows(), len(p.lines))
	// A copy: the viewport may rewrite the slice it is given.
	p.Model.SetContentLines(slices.Clone(p.lines[p.top:end]))
	p.Model.SetYOffset(0)
	p.Model.ClearHighlights()
	if len(p.hits) > 0 {
		// Only the visible matches, in the window's own byte offsets.
		p.Model.HighlightStyle, p.Model.SelectedHighlightStyle = hitStyle, curHitStyle
		var ranges [][]int
		sel, off, line := -1, 0, p.top
		for i, h := range p.hits {
			if h.line < p.top || h.line >= end {
				continue
			}
			for ; line < h.line; line++ {
				off += len(p.lines[line]) + 1
			}
			if i == p.cur {
				sel = len(ranges)
			}
			ranges = append(ranges, []int{off + h.start, off + h.end})
		}
		p.Model.SetHighlights(ranges)
		// SetHighlights selects the first visible match; step to the selected one.
		for i := 0; i < sel; i++ {
			p.Model.HighlightNext()
		}
		p.Model.SetYOffset(0)
	}
	return p.Model.View()
}
