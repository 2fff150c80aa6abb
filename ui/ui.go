// Package ui is gantry's terminal console: browse snapshots, commits and what
// runs where, start a dev deploy, promote or rollback, and watch it run. It imports
// only pipeline and units: everything else reaches it through the Backend interface.
//
// One root model owns a shared context (size, styles, keys, backend, clock)
// and the screens; screens are plain structs that never do I/O. Every backend
// call runs in a tea.Cmd bounded by a deadline and comes back as a typed message.
package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Options configure the UI.
type Options struct {
	// Debug is a log file path; when set, Run logs there (nothing else may
	// write to the terminal while the UI runs).
	Debug string
	// Screen is the first screen shown: "snapshots" (default), "commits",
	// "environments", "run" or "history".
	Screen string
	// Theme forces "light" or "dark"; empty asks the terminal for its background.
	Theme string
	// Prompts, if set, brings questions from the backend (an SSH key's passphrase)
	// into the console, which asks them in a modal.
	Prompts *Prompter
	// Now is the clock; nil means time.Now. Tests fix it for stable output.
	Now func() time.Time
	// RefreshEvery is how often the environments reload; 0 means every 30s,
	// negative disables the periodic reload.
	RefreshEvery time.Duration
}

// Tabs, in order; the number keys jump to them.
const (
	tabSnapshots = iota
	tabCommits
	tabEnvs
	tabRun
	tabHistory
	tabCount
)

var tabNames = map[string]int{
	"snapshots": tabSnapshots, "commits": tabCommits, "environments": tabEnvs, "envs": tabEnvs,
	"run": tabRun, "history": tabHistory,
}

// Model is the root Bubble Tea model.
type Model struct {
	ctx        *programContext
	cancelBase context.CancelFunc

	tabs     [tabCount]screen
	snaps    *snapshotsScreen
	commits  *commitsScreen
	envs     *envsScreen
	runView  *runScreen
	history  *historyScreen
	confirm  *confirmScreen
	prompt   *promptBox
	prompts  *Prompter
	active   int
	modal    bool // the confirm screen is up
	showHelp bool
	helpTop  int // first line of the help shown, when it scrolls
	help     help.Model
	pane     pane // a log or the command log over the tabs, or nil
	logSeq   int

	themeFixed   bool
	refreshEvery time.Duration

	gen        loadGens
	snapCancel context.CancelFunc

	run       *activeRun
	runSeq    int
	askCancel bool

	status    string
	statusErr bool
	statusID  int
	// refreshing is set by r until its loads end, which clears "refreshing…".
	refreshing bool
	// logged is the last error logged per source, so the debug log says each once.
	logged map[string]string

	quitting bool
}

// loadGens numbers the latest request of each load so stale replies are dropped.
type loadGens struct {
	snaps, commits, dev, prod, history, plan int
}

// New builds the UI over a backend. It does no I/O: loads start from Init.
func New(b Backend, opts Options) tea.Model {
	return newModel(context.Background(), b, opts)
}

func newModel(parent context.Context, b Backend, opts Options) *Model {
	base, cancel := context.WithCancel(parent)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	dark := true
	m := &Model{cancelBase: cancel, refreshEvery: opts.RefreshEvery}
	switch strings.ToLower(opts.Theme) {
	case "light":
		dark, m.themeFixed = false, true
	case "dark":
		m.themeFixed = true
	}
	if m.refreshEvery == 0 {
		m.refreshEvery = 30 * time.Second
	}
	ctx := &programContext{
		width: 80, height: 24,
		styles:  NewStyles(dark),
		keys:    DefaultKeyMap(),
		backend: b,
		project: b.Project(),
		now:     now,
		base:    base,

		loadTimeout:      loadTimeout,
		snapshotsTimeout: snapshotsTimeout,
		timers:           true,
	}
	if opts.Debug != "" {
		ctx.log = log.Default()
	}
	m.ctx = ctx
	m.snaps = newSnapshotsScreen(ctx)
	m.commits = newCommitsScreen(ctx)
	m.envs = newEnvsScreen(ctx)
	m.runView = newRunScreen(ctx)
	m.history = newHistoryScreen(ctx)
	m.confirm = newConfirmScreen(ctx)
	m.prompt = newPromptBox(ctx)
	m.prompts = opts.Prompts
	m.tabs = [tabCount]screen{m.snaps, m.commits, m.envs, m.runView, m.history}
	m.active = tabNames[strings.ToLower(opts.Screen)]
	m.help = help.New()
	m.help.Styles = ctx.styles.Help
	m.layout()
	return m
}

// Init starts every load at once; the first frame shows their loading states.
func (m *Model) Init() tea.Cmd {
	cmds := append(m.loadAll(), waitPrompt(m.ctx.base, m.prompts))
	if m.ctx.timers {
		cmds = append(cmds, envTick(m.refreshEvery))
	}
	if !m.themeFixed {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	return tea.Batch(cmds...)
}

// loadAll (re)starts every load and marks each as loading.
func (m *Model) loadAll() []tea.Cmd {
	return []tea.Cmd{m.loadSnapshots(), m.loadCommits(), m.loadEnvs(), m.loadHistory()}
}

func (m *Model) loadSnapshots() tea.Cmd {
	if m.snapCancel != nil {
		m.snapCancel()
	}
	ctx, cancel := context.WithCancel(m.ctx.base)
	m.snapCancel = cancel
	m.gen.snaps++
	m.snaps.startLoad()
	return loadSnapshots(ctx, m.ctx.backend, m.gen.snaps, m.ctx.snapshotsTimeout)
}

func (m *Model) loadCommits() tea.Cmd {
	m.gen.commits++
	m.commits.loading = true
	return loadCommits(m.ctx.base, m.ctx.backend, m.gen.commits, m.ctx.loadTimeout)
}

func (m *Model) loadHistory() tea.Cmd {
	m.gen.history++
	m.history.loading = true
	return loadHistory(m.ctx.base, m.ctx.backend, m.gen.history, m.ctx.loadTimeout)
}

func (m *Model) loadEnvs() tea.Cmd {
	m.gen.dev++
	m.gen.prod++
	m.ctx.dev.loading = true
	m.ctx.prod.loading = true
	return tea.Batch(loadDevEnv(m.ctx.base, m.ctx.backend, m.gen.dev, m.ctx.loadTimeout), loadProdEnv(m.ctx.base, m.ctx.backend, m.gen.prod, m.ctx.loadTimeout))
}

// refreshCurrent reloads what the current screen shows, plus the environments
// (every screen's badges and footer depend on them).
func (m *Model) refreshCurrent() tea.Cmd {
	cmds := []tea.Cmd{m.loadEnvs()}
	switch m.active {
	case tabSnapshots:
		cmds = append(cmds, m.loadSnapshots())
	case tabCommits:
		cmds = append(cmds, m.loadCommits())
	case tabHistory:
		cmds = append(cmds, m.loadHistory())
	}
	return tea.Batch(cmds...)
}

// statusMsg sets the footer message for a few seconds.
type statusMsg struct {
	text  string
	isErr bool
}

func statusCmd(text string, isErr bool) tea.Cmd {
	return func() tea.Msg { return statusMsg{text: text, isErr: isErr} }
}

func (m *Model) setStatus(text string, isErr bool) tea.Cmd {
	m.statusID++
	m.status, m.statusErr = text, isErr
	id := m.statusID
	if !m.ctx.timers {
		return nil
	}
	return tea.Tick(6*time.Second, func(time.Time) tea.Msg { return statusTimeout{id: id} })
}

// Update routes messages: keys to the modal or active screen after the global
// bindings, data to whoever shows it.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	defer m.settleRefresh()
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.ctx.width, m.ctx.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.BackgroundColorMsg:
		if !m.themeFixed {
			m.setTheme(msg.IsDark())
		}
		return m, nil
	case keyMsg:
		return m, m.handleKey(msg)
	case logLinesMsg, cmdLogTickMsg, openFallbackMsg, tea.MouseWheelMsg, tea.MouseClickMsg:
		cmd, _ := m.handleConsoleMsg(msg)
		return m, cmd
	case tea.PasteMsg:
		if m.modal {
			return m, nil
		}
		_, cmd := m.tabs[m.active].Update(msg)
		return m, cmd

	case snapshotsMsg:
		if msg.gen != m.gen.snaps {
			return m, nil
		}
		if len(msg.snaps) > 0 {
			m.snaps.addPage(msg.snaps)
			m.commits.addSnapshots(msg.snaps)
		}
		if msg.done {
			m.snaps.finishLoad(msg.err, m.ctx.now())
			m.logChange("snapshots", msg.err)
			return m, nil
		}
		return m, msg.next
	case commitsMsg:
		if msg.gen != m.gen.commits {
			return m, nil
		}
		s := m.commits
		s.loading, s.err = false, msg.err
		m.logChange("commits", msg.err)
		if msg.err == nil {
			s.setCommits(msg.commits)
			s.loadedAt = m.ctx.now()
			m.ctx.subjects = make(map[string]string, len(msg.commits))
			for _, c := range msg.commits {
				m.ctx.subjects[shortSHA(c.SHA)] = c.Subject
			}
			m.snaps.setSubjects(m.ctx.subjects)
		}
		return m, nil
	case devEnvMsg:
		if msg.gen != m.gen.dev {
			return m, nil
		}
		m.ctx.dev = envState[DevEnv]{loaded: true, val: msg.env, at: m.ctx.now()}
		m.logChange("dev env", msg.env.Err)
		if msg.env.Err == nil {
			m.ctx.devRef = parseImageRef(msg.env.Image)
			m.snaps.refsChanged()
		}
		return m, nil
	case prodEnvMsg:
		if msg.gen != m.gen.prod {
			return m, nil
		}
		m.ctx.prod = envState[ProdEnv]{loaded: true, val: msg.env, at: m.ctx.now()}
		m.logChange("prod env", msg.env.Err)
		if msg.env.Err == nil {
			m.ctx.prodRef = parseImageRef(msg.env.Image)
			m.snaps.refsChanged()
		}
		return m, nil
	case historyMsg:
		if msg.gen != m.gen.history {
			return m, nil
		}
		s := m.history
		s.loading, s.err = false, msg.err
		m.logChange("history", msg.err)
		if msg.err == nil {
			s.setEntries(msg.entries)
			s.loadedAt = m.ctx.now()
		}
		return m, nil
	case envTickMsg:
		var cmds []tea.Cmd
		if m.ctx.timers {
			cmds = append(cmds, envTick(m.refreshEvery))
		}
		if !m.ctx.dev.loading && !m.ctx.prod.loading {
			cmds = append(cmds, m.loadEnvs())
		}
		return m, tea.Batch(cmds...)
	case planMsg:
		_, cmd := m.confirm.Update(msg)
		return m, cmd
	case promptMsg:
		if m.prompt.active() {
			// One question at a time: a second one waits for the first answer.
			m.prompt.answer(PromptAnswer{Err: errors.New("another question is open in the console")})
		}
		return m, tea.Batch(m.prompt.open(msg.p), waitPrompt(m.ctx.base, m.prompts))

	case jumpToSnapshotMsg:
		m.active = tabSnapshots
		if !m.snaps.selectTag(msg.tag) {
			if m.snaps.loading {
				return m, m.setStatus("snapshot "+msg.tag+" is not loaded yet: still listing the registry", false)
			}
			return m, m.setStatus("snapshot "+msg.tag+" is not in the registry", true)
		}
		return m, nil
	case confirmedMsg:
		m.modal = false
		return m, m.startRun(msg.req)
	case dismissedMsg:
		m.modal = false
		return m, m.setStatus("cancelled: nothing ran", false)
	case runEventsMsg:
		return m, m.handleRunEvents(msg)
	case statusMsg:
		return m, m.setStatus(msg.text, msg.isErr)
	case statusTimeout:
		if msg.id == m.statusID {
			m.status = ""
		}
		return m, nil
	}
	// Anything else (spinner ticks) belongs to the run view.
	_, cmd := m.runView.Update(msg)
	return m, cmd
}

// logChange logs a load's error once, and once more when it clears: a reload
// every 30s must not repeat "not configured" in the debug log.
func (m *Model) logChange(what string, err error) {
	if m.logged == nil {
		m.logged = map[string]string{}
	}
	prev, had := m.logged[what]
	switch {
	case err == nil && had:
		delete(m.logged, what)
		m.ctx.logf("%s: ok again", what)
	case err != nil && err.Error() != prev:
		m.logged[what] = err.Error()
		m.ctx.logf("%s: %v", what, err)
	}
}

// settleRefresh clears "refreshing…" once every load r started has ended.
func (m *Model) settleRefresh() {
	if !m.refreshing || m.snaps.loading || m.commits.loading || m.history.loading || m.ctx.dev.loading || m.ctx.prod.loading {
		return
	}
	m.refreshing = false
	if m.status == refreshingStatus {
		m.status = ""
	}
}

const refreshingStatus = "refreshing…"

func (m *Model) setTheme(dark bool) {
	m.ctx.styles = NewStyles(dark)
	m.help.Styles = m.ctx.styles.Help
	m.runView.applyStyles()
}

func (m *Model) handleKey(msg keyMsg) tea.Cmd {
	k := m.ctx.keys
	if m.prompt.active() && !matches(msg, k.Interrupt) {
		return m.prompt.update(msg)
	}
	if matches(msg, k.Interrupt) {
		if m.prompt.active() {
			m.prompt.answer(PromptAnswer{Err: ErrPromptDismissed})
		}
		return m.interrupt()
	}
	if m.askCancel {
		switch {
		case matches(msg, k.Yes):
			return m.cancelRun()
		case matches(msg, k.No):
			m.askCancel = false
			return m.setStatus("the run keeps going", false)
		}
		return nil
	}
	if m.showHelp {
		switch {
		case matches(msg, k.Help), matches(msg, k.Back):
			m.showHelp = false
		case matches(msg, k.Down):
			m.helpTop++
		case matches(msg, k.Up):
			m.helpTop--
		case matches(msg, k.PageDown, k.HalfDown):
			m.helpTop += max(m.bodyHeight()-2, 1)
		case matches(msg, k.PageUp, k.HalfUp):
			m.helpTop -= max(m.bodyHeight()-2, 1)
		case matches(msg, k.Top):
			m.helpTop = 0
		case matches(msg, k.Quit):
			return m.quit()
		case matches(msg, k.Jump), matches(msg, k.NextTab), matches(msg, k.PrevTab):
			// Moving to a screen closes the help over it.
			m.showHelp = false
			return m.handleKey(msg)
		}
		return nil
	}
	if m.modal {
		_, cmd := m.confirm.Update(msg)
		return cmd
	}
	if m.pane != nil && (m.pane.Capturing() || !matches(msg, k.Jump, k.NextTab, k.PrevTab, k.Help)) {
		return m.handlePaneKey(msg)
	}
	if !matches(msg, k.Help) {
		m.closePane() // moving to a screen or an action closes the pane
	}
	cur := m.tabs[m.active]
	if cur.Capturing() {
		_, cmd := cur.Update(msg)
		return cmd
	}
	if cmd, ok := m.handleConsoleKey(msg, cur); ok {
		return cmd
	}
	switch {
	case matches(msg, k.Quit):
		if m.runActive() {
			m.askCancel = true
			return nil
		}
		return m.quit()
	case matches(msg, k.Help):
		m.showHelp, m.helpTop = true, 0
	case matches(msg, k.NextTab):
		m.active = (m.active + 1) % tabCount
	case matches(msg, k.PrevTab):
		m.active = (m.active + tabCount - 1) % tabCount
	case matches(msg, k.Jump):
		m.active = int(msg.Code - '1')
	case matches(msg, k.Refresh):
		m.refreshing = true
		return tea.Batch(m.refreshCurrent(), m.setStatus(refreshingStatus, false))
	case matches(msg, k.Deploy, k.Promote, k.Rollback) && m.runActive():
		// Letters typed while a run is on (its log on Run) never start another action.
		return m.setStatus("a run is in progress: wait for it or cancel it with ctrl+c (Run, 4)", true)
	case matches(msg, k.Deploy):
		return m.openConfirm(runRequest{kind: runDev})
	case matches(msg, k.Promote):
		src, ok := cur.(promoteSource)
		if !ok {
			return m.setStatus("pick a snapshot to promote on Snapshots (1) or Commits (2)", false)
		}
		tag, ok := src.promoteTarget()
		if !ok {
			return m.setStatus("this row has no snapshot to promote", false)
		}
		return m.openConfirm(runRequest{kind: runPromote, tag: tag})
	case matches(msg, k.Rollback):
		return m.openConfirm(runRequest{kind: runRollback, env: m.rollbackEnv()})
	default:
		_, cmd := cur.Update(msg)
		return cmd
	}
	return nil
}

func (m *Model) runActive() bool { return m.run != nil && !m.run.done }

// rollbackEnv is what b rolls back: the environment selected on Environments,
// the selected entry's on History, else prod, or dev when there is no prod.
func (m *Model) rollbackEnv() string {
	switch m.active {
	case tabEnvs:
		return m.envs.selectedEnv()
	case tabHistory:
		if e := m.history.selected(); e != nil && (e.Env == "dev" || e.Env == "prod") {
			return e.Env
		}
	}
	if errors.Is(m.ctx.prod.val.Err, ErrNotConfigured) {
		return "dev"
	}
	return "prod"
}

// interrupt is ctrl+c: quit when idle; during a run the first press asks (y
// cancels the run and stays), the second quits, cancelling the run first.
func (m *Model) interrupt() tea.Cmd {
	if !m.runActive() || m.askCancel || m.run.cancelled {
		return m.quit()
	}
	m.askCancel = true
	m.showHelp = false
	return nil
}

func (m *Model) cancelRun() tea.Cmd {
	m.askCancel = false
	if !m.runActive() {
		return nil
	}
	m.ctx.logf("run %d: cancel requested", m.run.id)
	m.run.cancel()
	m.run.cancelled = true
	m.runView.cancelling = true
	m.active = tabRun
	return m.setStatus("cancelling: waiting for the current step to stop (ctrl+c quits)", false)
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	if m.run != nil && !m.run.done {
		m.ctx.logf("run %d: quit: cancelling it first", m.run.id)
		m.run.cancel()
	}
	if m.snapCancel != nil {
		m.snapCancel()
	}
	m.closePane()
	m.cancelBase()
	return tea.Quit
}

func (m *Model) openConfirm(req runRequest) tea.Cmd {
	if m.runActive() {
		return m.setStatus("a run is in progress: wait for it or cancel it with ctrl+c (Run, 4)", true)
	}
	// A message about what came before must not sit under the new dialog.
	m.statusID++
	m.status = ""
	m.gen.plan++
	m.confirm.open(req, m.gen.plan)
	m.modal = true
	return loadPlan(m.ctx.base, m.ctx.backend, m.gen.plan, m.ctx.loadTimeout, req)
}

func (m *Model) startRun(req runRequest) tea.Cmd {
	m.runSeq++
	ctx, cancel := context.WithCancel(m.ctx.base)
	r := &activeRun{id: m.runSeq, req: req, cancel: cancel, queue: newRunQueue(m.runSeq)}
	m.run = r
	m.runView.reset(r.id, req.title(), m.ctx.now())
	m.active = tabRun
	m.ctx.logf("run %d: start %s", r.id, req.title())
	cmds := []tea.Cmd{r.start(ctx, m.ctx.backend), r.queue.next(), m.setStatus("started "+req.title(), false)}
	if m.ctx.timers {
		cmds = append(cmds, m.runView.spin.Tick)
	}
	return tea.Batch(cmds...)
}

func (m *Model) handleRunEvents(msg runEventsMsg) tea.Cmd {
	if m.run == nil || msg.run != m.run.id {
		return nil
	}
	m.runView.apply(msg.events)
	if !msg.done {
		return m.run.queue.next()
	}
	m.run.done = true
	m.run.cancel() // release the context's resources
	m.askCancel = false
	m.runView.end(msg.err)
	switch {
	case m.run.cancelled && msg.err != nil:
		m.ctx.logf("run %d: cancelled: %v", m.run.id, msg.err)
	case msg.err != nil:
		m.ctx.logf("run %d: failed: %v", m.run.id, msg.err)
	default:
		m.ctx.logf("run %d: succeeded", m.run.id)
	}
	text, isErr := m.run.req.title()+" succeeded", false
	switch {
	case m.run.cancelled && msg.err == nil:
		text = m.run.req.title() + " succeeded: it finished before the cancel took effect"
	case m.run.cancelled:
		text, isErr = m.run.req.title()+" cancelled", false
	case msg.err != nil:
		text, isErr = m.run.req.title()+" failed: "+firstLine(msg.err.Error()), true
	}
	// What the run changed shows up everywhere: reload it all.
	cmds := append(m.loadAll(), m.setStatus(text, isErr))
	return tea.Batch(cmds...)
}

// layout gives every screen the body's size.
func (m *Model) layout() {
	w, h := m.ctx.width, m.bodyHeight()
	for _, s := range m.tabs {
		s.SetSize(w, h)
	}
	m.confirm.SetSize(w, h)
	if m.pane != nil {
		m.pane.SetSize(w, h)
	}
	m.help.SetWidth(w)
}

// bodyHeight is the terminal minus the header, tab bar, status and help lines.
func (m *Model) bodyHeight() int { return max(m.ctx.height-4, 1) }

// View draws header, tabs, body and footer; exactly the terminal's height.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "gantry · " + m.ctx.project.App
	if m.runActive() {
		// Terminals that support it show the run in their tab or taskbar.
		v.ProgressBar = tea.NewProgressBar(tea.ProgressBarIndeterminate, 0)
		if p := m.runView.progressStep(); p != nil && p.progress.Total > 0 {
			v.ProgressBar = tea.NewProgressBar(tea.ProgressBarDefault, int(100*p.progress.Done/p.progress.Total))
		}
	}
	return v
}

func (m *Model) render() string {
	if m.quitting {
		return ""
	}
	w := m.ctx.width
	var b strings.Builder
	b.WriteString(m.headerLine(w))
	b.WriteByte('\n')
	b.WriteString(m.tabLine(w))
	b.WriteByte('\n')
	switch {
	case m.prompt.active():
		b.WriteString(m.prompt.view(w, m.bodyHeight()))
	case m.showHelp:
		b.WriteString(m.helpBody(w, m.bodyHeight()))
	case m.modal:
		b.WriteString(m.confirm.View())
	case m.pane != nil:
		b.WriteString(m.pane.View())
	default:
		b.WriteString(m.tabs[m.active].View())
	}
	b.WriteByte('\n')
	b.WriteString(m.statusLine(w))
	b.WriteByte('\n')
	b.WriteString(m.footer(w))
	return b.String()
}

// headerLine names the app, mode and registry, with the run's state on the
// right; the registry gives way first, keeping its meaningful tail.
func (m *Model) headerLine(w int) string {
	st := m.ctx.styles
	p := m.ctx.project
	right := ""
	if m.runView.has {
		right = m.runView.outcome()
	}
	left := st.App.Render("gantry") + st.Muted.Render(" · ") + st.Text.Render(orDash(p.App)) +
		st.Muted.Render(" · "+orDash(p.Mode)+" · ")
	room := w - ansiWidth(left)
	if right != "" {
		room -= ansiWidth(right) + 2
	}
	reg := orDash(p.Registry)
	switch rw := ansiWidth(reg); {
	case rw <= room:
	case room > 1:
		reg = "…" + ansi.TruncateLeft(reg, rw-room+1, "")
	default:
		// No room for the registry: the app name and the run's state stay whole.
		reg = "…"
	}
	return spread(left+st.Muted.Render(reg), right, w)
}

// tabLine shows every tab by number and title; when that is wider than w, only the
// active tab keeps its title, so every tab's number stays visible on a narrow terminal.
func (m *Model) tabLine(w int) string {
	line := m.renderTabs(false)
	if ansiWidth(line) > w {
		line = m.renderTabs(true)
	}
	return clip(line, w)
}

func (m *Model) renderTabs(compact bool) string {
	st := m.ctx.styles
	var b strings.Builder
	for i, s := range m.tabs {
		active := i == m.active && !m.modal && !m.showHelp && m.pane == nil
		title := " " + s.Title()
		if compact && !active {
			title = ""
		}
		label := fmt.Sprintf(" %d%s ", i+1, title)
		if i == tabRun && m.runActive() {
			label = fmt.Sprintf(" %d%s %s ", i+1, title, m.runView.spin.View())
		}
		if active {
			b.WriteString(st.TabActive.Render(label))
		} else {
			b.WriteString(st.TabInactive.Render(label))
		}
		b.WriteByte(' ')
	}
	switch {
	case m.modal:
		b.WriteString(st.TabActive.Render(" " + m.confirm.Title() + " "))
	case m.showHelp:
		b.WriteString(st.TabActive.Render(" Keys "))
	case m.pane != nil:
		b.WriteString(st.TabActive.Render(" " + m.pane.title() + " "))
	}
	return b.String()
}

func (m *Model) statusLine(w int) string {
	st := m.ctx.styles
	if m.askCancel {
		return clip(st.Prompt.Render("cancel the run? y cancels · n keeps it · ctrl+c again quits"), w)
	}
	left := ""
	if m.status != "" {
		if m.statusErr {
			left = st.StatusError.Render(m.status)
		} else {
			left = st.Status.Render(m.status)
		}
	}
	return spread(left, m.activity(), w)
}

// activity names what is loading, or else what runs where.
func (m *Model) activity() string {
	st := m.ctx.styles
	var busy []string
	if m.snaps.loading {
		busy = append(busy, fmt.Sprintf("images %d…", len(m.snaps.rows)))
	}
	if m.commits.loading {
		busy = append(busy, "commits")
	}
	if m.ctx.dev.loading || m.ctx.prod.loading {
		busy = append(busy, "envs")
	}
	if m.history.loading {
		busy = append(busy, "history")
	}
	if len(busy) > 0 {
		return st.Running.Render("⟳ " + strings.Join(busy, " · "))
	}
	envTag := func(loaded bool, err error, image string) string {
		switch {
		case !loaded:
			return "?"
		case errors.Is(err, ErrNotConfigured):
			return "not configured"
		case err != nil:
			return "error"
		}
		r := parseImageRef(image)
		if r.tag != "" {
			return r.tag
		}
		return orDash(shortDigest(r.digest))
	}
	return st.Muted.Render("dev " + envTag(m.ctx.dev.loaded, m.ctx.dev.val.Err, m.ctx.dev.val.Image) +
		" · prod " + envTag(m.ctx.prod.loaded, m.ctx.prod.val.Err, m.ctx.prod.val.Image))
}

// footer is the short help; the screen's own bindings give way from the end so
// the root's (? help, q quit) always show.
func (m *Model) footer(w int) string {
	bindings := m.shortHelp()
	k := m.ctx.keys
	n := len(bindings)
	if n >= 2 && bindings[n-2].Help() == k.Help.Help() && bindings[n-1].Help() == k.Quit.Help() {
		head, tail := bindings[:n-2], bindings[n-2:]
		// Measured untruncated: the help model cuts its own line to its width.
		measure := m.help
		measure.SetWidth(0)
		for len(head) > 0 && ansiWidth(measure.ShortHelpView(append(slices.Clone(head), tail...))) > w {
			head = head[:len(head)-1]
		}
		bindings = append(slices.Clone(head), tail...)
	}
	return clip(m.help.ShortHelpView(bindings), w)
}

func (m *Model) shortHelp() []key.Binding {
	k := m.ctx.keys
	switch {
	case m.askCancel:
		return []key.Binding{k.Yes, k.No}
	case m.showHelp:
		return []key.Binding{k.Help, k.Back, k.Quit}
	case m.modal:
		return m.confirm.ShortHelp()
	case m.pane != nil:
		return m.pane.ShortHelp()
	}
	cur := m.tabs[m.active]
	if cur.Capturing() {
		return cur.ShortHelp()
	}
	// Tabs are on screen with their numbers; ? lists the rest.
	return append(cur.ShortHelp(), k.Help, k.Quit)
}

// helpBody lays the key groups out in as many rows of columns as the width needs.
func (m *Model) helpBody(w, h int) string {
	st := m.ctx.styles
	lines := []string{st.Title.Render("Keys"), ""}
	var row []string
	rowW := 0
	flush := func() {
		if len(row) == 0 {
			return
		}
		lines = append(lines, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, row...), "\n")...)
		lines = append(lines, "")
		row, rowW = nil, 0
	}
	for _, group := range m.ctx.keys.FullHelp() {
		col := m.help.FullHelpView([][]key.Binding{group})
		cw := lipgloss.Width(col) + 4
		if rowW+cw > w {
			flush()
		}
		row = append(row, lipgloss.NewStyle().PaddingRight(4).Render(col))
		rowW += cw
	}
	flush()
	for _, l := range wrap("During a run ctrl+c asks first: y cancels the run, a second ctrl+c quits (it cancels the run first).", w, 3) {
		lines = append(lines, st.Muted.Render(l))
	}
	lines = append(lines, st.Muted.Render("? or esc closes this help."))
	if len(lines) <= h {
		m.helpTop = 0
		return frame(lines, w, h)
	}
	// Too tall: scroll, and say there is more above or below.
	room := h - 1
	m.helpTop = min(max(m.helpTop, 0), len(lines)-room)
	shown := lines[m.helpTop : m.helpTop+room]
	more := fmt.Sprintf("lines %d-%d of %d · j/k scroll", m.helpTop+1, m.helpTop+room, len(lines))
	if m.helpTop+room < len(lines) {
		more = "↓ more: " + more
	} else {
		more = "↑ " + more
	}
	return frame(append(slices.Clone(shown), st.Muted.Render(more)), w, h)
}

// Run runs the UI on the terminal until the user quits or ctx ends. Nothing
// else may write to stdout or stderr meanwhile; the standard logger goes to
// opts.Debug or is silenced.
func Run(ctx context.Context, b Backend, opts Options) error {
	if opts.Debug != "" {
		f, err := tea.LogToFile(opts.Debug, "gantry ")
		if err != nil {
			return fmt.Errorf("open debug log %s: %w", opts.Debug, err)
		}
		defer f.Close()
	} else {
		prev := log.Writer()
		log.SetOutput(io.Discard)
		defer log.SetOutput(prev)
	}
	m := newModel(ctx, b, opts)
	_, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	m.shutdown(15 * time.Second)
	if err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	return nil
}

// shutdown cancels an unfinished run and waits up to d for it to stop, so a
// workflow is not cut off mid-step when the program exits.
func (m *Model) shutdown(d time.Duration) {
	m.cancelBase()
	if m.run == nil {
		return
	}
	m.run.cancel()
	select {
	case <-m.run.queue.finished:
	case <-time.After(d):
		m.ctx.logf("run %d: still running after %s; exiting anyway", m.run.id, d)
	}
}
