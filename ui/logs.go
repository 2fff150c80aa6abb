package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// maxViewLogLines bounds a log view's buffer; older lines are dropped.
const maxViewLogLines = 100_000

// logTails and logSinces are the choices t and s cycle through.
var (
	logTails  = []int{500, 2000, 10000, 0}
	logSinces = []string{"", "10m", "1h", "24h"}
)

// logBuffer keeps the newest max lines (and their lower-case copies for search).
// Lines are numbered from 0 since the stream began; dropped counts the lines gone.
type logBuffer struct {
	lines, lower []string
	dropped      int
	max          int
}

func (b *logBuffer) add(lines ...string) {
	for _, l := range lines {
		l = cleanLogLine(l)
		b.lines = append(b.lines, l)
		b.lower = append(b.lower, strings.ToLower(l))
	}
	// Drop in chunks of a tenth so appending stays amortised O(1).
	if len(b.lines) > b.max+b.max/10 {
		n := len(b.lines) - b.max
		b.lines = append(b.lines[:0:0], b.lines[n:]...)
		b.lower = append(b.lower[:0:0], b.lower[n:]...)
		b.dropped += n
	}
}

func (b *logBuffer) len() int { return len(b.lines) }

// cleanLogLine strips escape sequences and control characters (a log may
// hold colours or a stray clear-screen) and expands tabs.
func cleanLogLine(s string) string {
	s = ansi.Strip(s)
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < ' ' || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// search returns the indexes of the lines containing q (case-insensitive).
func (b *logBuffer) search(q string) []int {
	q = strings.ToLower(q)
	if q == "" {
		return nil
	}
	var out []int
	for i, l := range b.lower {
		if strings.Contains(l, q) {
			out = append(out, i)
		}
	}
	return out
}

// lineQueue carries lines from the streaming goroutine to the program in batches.
type lineQueue struct {
	mu      sync.Mutex
	lines   []string
	dropped int
	done    bool
	err     error
	wake    chan struct{}
}

func newLineQueue() *lineQueue { return &lineQueue{wake: make(chan struct{}, 1)} }

func (q *lineQueue) push(l string) {
	q.mu.Lock()
	q.lines = append(q.lines, l)
	if len(q.lines) > maxViewLogLines {
		// The program fell behind: only what the buffer could keep matters.
		n := len(q.lines) - maxViewLogLines
		q.lines = append(q.lines[:0:0], q.lines[n:]...)
		q.dropped += n
	}
	q.mu.Unlock()
	q.signal()
}

func (q *lineQueue) finish(err error) {
	q.mu.Lock()
	q.done, q.err = true, err
	q.mu.Unlock()
	q.signal()
}

func (q *lineQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// logLinesMsg is a batch of streamed lines for the log view with id.
type logLinesMsg struct {
	id    int
	lines []string
	done  bool
	err   error
}

// next waits for lines (or the end) and takes everything queued.
func (q *lineQueue) next(id int) tea.Cmd {
	return func() tea.Msg {
		for {
			q.mu.Lock()
			if len(q.lines) > 0 || q.done {
				m := logLinesMsg{id: id, lines: q.lines, done: q.done, err: q.err}
				q.lines = nil
				q.mu.Unlock()
				return m
			}
			q.mu.Unlock()
			<-q.wake
		}
	}
}

// streamLogs starts the backend's stream in a goroutine and returns the first read.
func streamLogs(ctx context.Context, b LogStreamer, req LogRequest, id int, q *lineQueue) tea.Cmd {
	go func() {
		q.finish(b.Logs(ctx, req, q.push))
	}()
	return q.next(id)
}

// logView shows one streamed log: follow, `/` search with n/N, wrap, tail and since.
type logView struct {
	ctx  *programContext
	id   int
	req  LogRequest
	name string

	buf       logBuffer
	streaming bool
	err       error
	cancel    context.CancelFunc
	queue     *lineQueue

	top    int  // first line shown when not following
	follow bool // stick to the newest line
	wrap   bool

	find    filterInput
	hits    []int // line indexes matching find.value
	hit     int   // current hit
	hitFrom int   // dropped count when hits were computed

	w, h int
}

func newLogView(ctx *programContext, id int, req LogRequest) *logView {
	title := "dev container log"
	if req.Env == "prod" {
		title = "prod deployment log"
		if req.Pod != "" {
			title = "prod pod " + req.Pod + " log"
		}
	}
	return &logView{ctx: ctx, id: id, req: req, name: title, follow: true, buf: logBuffer{max: maxViewLogLines}}
}

// start (re)opens the stream with the view's request.
func (v *logView) start() tea.Cmd {
	v.stop()
	b, ok := v.ctx.backend.(LogStreamer)
	if !ok {
		v.err = fmt.Errorf("this backend cannot read logs")
		return nil
	}
	ctx, cancel := context.WithCancel(v.ctx.base)
	v.cancel, v.queue, v.streaming, v.err = cancel, newLineQueue(), true, nil
	v.ctx.logf("logs %d: open %s (tail %d, since %q)", v.id, v.req.Env, v.req.Tail, v.req.Since)
	return streamLogs(ctx, b, v.req, v.id, v.queue)
}

// stop cancels the stream; called when the view closes or restarts.
func (v *logView) stop() {
	if v.cancel != nil {
		v.cancel()
		v.cancel = nil
	}
	v.id++ // batches of the old stream are dropped
	v.streaming = false
}

func (v *logView) handleLines(msg logLinesMsg) tea.Cmd {
	if msg.id != v.id {
		return nil
	}
	v.buf.add(msg.lines...)
	if v.find.value != "" && !v.find.editing {
		v.refreshHits()
	}
	if msg.done {
		v.streaming = false
		v.err = msg.err
		if msg.err != nil {
			v.ctx.logf("logs %d: %v", v.id, msg.err)
		}
		return nil
	}
	return v.queue.next(v.id)
}

// refreshHits recomputes the search hits, keeping the current one when it is still there.
func (v *logView) refreshHits() {
	cur := -1
	if v.hit < len(v.hits) {
		cur = v.hits[v.hit] + v.hitFrom - v.buf.dropped
	}
	v.hits = v.buf.search(v.find.value)
	v.hitFrom = v.buf.dropped
	v.hit = 0
	for i, h := range v.hits {
		if h >= cur {
			v.hit = i
			break
		}
	}
}

func (v *logView) SetSize(w, h int) { v.w, v.h = w, h }

// Capturing reports whether the search line takes the typed keys.
func (v *logView) Capturing() bool { return v.find.editing }

func (v *logView) bodyHeight() int { return max(v.h-2, 1) }

// Update handles the view's keys; it returns closed when the view should close.
func (v *logView) Update(msg keyMsg) (cmd tea.Cmd, closed bool) {
	k := v.ctx.keys
	switch v.find.handle(k, msg) {
	case filterChanged:
		v.refreshHits()
		v.showHit()
		return nil, false
	case filterKept:
		return nil, false
	}
	switch {
	case matches(msg, k.Back), matches(msg, k.Quit):
		v.stop()
		return nil, true
	case matches(msg, k.Filter):
		v.find.editing = true
	case matches(msg, k.NextMatch):
		v.step(1)
	case matches(msg, k.PrevMatch):
		v.step(-1)
	case matches(msg, k.Wrap):
		v.wrap = !v.wrap
	case matches(msg, k.Follow):
		v.follow = !v.follow
		if !v.follow {
			v.top = v.maxTop()
		}
	case matches(msg, k.Tail):
		v.req.Tail = cycle(logTails, v.req.Tail)
		v.buf = logBuffer{max: maxViewLogLines}
		v.hits = nil
		return v.start(), false
	case matches(msg, k.Since):
		v.req.Since = cycle(logSinces, v.req.Since)
		v.buf = logBuffer{max: maxViewLogLines}
		v.hits = nil
		return v.start(), false
	case matches(msg, k.Up):
		v.scroll(-1)
	case matches(msg, k.Down):
		v.scroll(1)
	case matches(msg, k.HalfUp):
		v.scroll(-v.bodyHeight() / 2)
	case matches(msg, k.HalfDown):
		v.scroll(v.bodyHeight() / 2)
	case matches(msg, k.PageUp):
		v.scroll(-v.bodyHeight())
	case matches(msg, k.PageDown):
		v.scroll(v.bodyHeight())
	case matches(msg, k.Top):
		v.follow, v.top = false, 0
	case matches(msg, k.Bottom):
		v.follow = true
	}
	return nil, false
}

func cycle[T comparable](choices []T, cur T) T {
	for i, c := range choices {
		if c == cur {
			return choices[(i+1)%len(choices)]
		}
	}
	return choices[0]
}

func (v *logView) maxTop() int { return max(v.buf.len()-v.bodyHeight(), 0) }

// scroll moves by n lines; reaching the bottom follows again.
func (v *logView) scroll(n int) {
	if v.follow {
		v.top = v.maxTop()
	}
	v.top = min(max(v.top+n, 0), v.maxTop())
	v.follow = v.top >= v.maxTop() && n > 0
}

func (v *logView) step(d int) {
	if len(v.hits) == 0 {
		return
	}
	v.hit = (v.hit + d + len(v.hits)) % len(v.hits)
	v.showHit()
}

// showHit scrolls so the current hit is in the middle of the view.
func (v *logView) showHit() {
	if v.hit >= len(v.hits) {
		return
	}
	v.follow = false
	v.top = min(max(v.hits[v.hit]-v.bodyHeight()/2, 0), v.maxTop())
}

var (
	hitStyle    = lipgloss.NewStyle().Reverse(true)
	curHitStyle = lipgloss.NewStyle().Reverse(true).Bold(true).Underline(true)
)

// highlight marks every case-insensitive occurrence of q in the plain line l.
func highlight(l, lower, q string, st lipgloss.Style) string {
	if q == "" {
		return l
	}
	q = strings.ToLower(q)
	if len(lower) != len(l) {
		// ToLower changed byte lengths (rare non-ASCII): byte offsets would not line up.
		lower = l
	}
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(lower[i:], q)
		if j < 0 {
			break
		}
		b.WriteString(l[i : i+j])
		b.WriteString(st.Render(l[i+j : i+j+len(q)]))
		i += j + len(q)
	}
	b.WriteString(l[i:])
	return b.String()
}

// View draws the title line, the visible lines and the search/state line.
func (v *logView) View() string {
	st := v.ctx.styles
	h := v.bodyHeight()
	state := ""
	switch {
	case v.err != nil:
		state = st.Failure.Render("✗ " + firstLine(v.err.Error()))
	case v.streaming && v.follow:
		state = st.Running.Render("● following")
	case v.streaming:
		state = st.Muted.Render("● paused (G follows)")
	default:
		state = st.Muted.Render("stream ended")
	}
	tail := "all"
	if v.req.Tail > 0 {
		tail = fmt.Sprintf("last %d", v.req.Tail)
	}
	opts := tail
	if v.req.Since != "" {
		opts += " · since " + v.req.Since
	}
	if v.wrap {
		opts += " · wrap"
	}
	lines := make([]string, 0, h+2)
	lines = append(lines, spread(st.Title.Render(v.name)+st.Muted.Render(" · "+opts), state, v.w))

	top := v.top
	if v.follow {
		top = v.maxTop()
	}
	cur := -1
	if v.hit < len(v.hits) {
		cur = v.hits[v.hit]
	}
	q := v.find.value
	body := make([]string, 0, h)
	if v.buf.len() == 0 {
		msg := "waiting for log lines…"
		if !v.streaming {
			msg = "no log lines"
		}
		body = append(body, st.Muted.Render("  "+msg))
	}
	if v.follow && v.wrap {
		// The newest lines must be the ones shown: wrap from the end backwards.
		body = append(body, v.wrappedTail(h, q, cur)...)
	}
	for i := top; i < v.buf.len() && len(body) < h && !(v.follow && v.wrap); i++ {
		style := hitStyle
		if i == cur {
			style = curHitStyle
		}
		l := v.buf.lines[i]
		if !v.wrap {
			if ansi.StringWidth(l) > v.w {
				l = ansi.Truncate(l, v.w-1, "") + "…"
			}
			body = append(body, highlight(l, strings.ToLower(l), q, style))
			continue
		}
		for _, part := range strings.Split(ansi.Hardwrap(l, max(v.w, 1), true), "\n") {
			if len(body) == h {
				break
			}
			body = append(body, highlight(part, strings.ToLower(part), q, style))
		}
	}
	for len(body) < h {
		body = append(body, "")
	}
	lines = append(lines, body...)
	counts := pluralize(v.buf.len(), "line", "lines")
	if v.buf.dropped > 0 {
		counts += fmt.Sprintf(" (%d older dropped)", v.buf.dropped)
	}
	if q != "" {
		if len(v.hits) == 0 {
			counts = "no match · " + counts
		} else {
			counts = fmt.Sprintf("match %d/%d · %s", v.hit+1, len(v.hits), counts)
		}
	}
	foot := v.find.view(st, counts, v.w)
	if foot == "" {
		foot = spread("", st.Muted.Render(counts), v.w)
	}
	lines = append(lines, foot)
	return frame(lines, v.w, v.h)
}

// wrappedTail wraps lines from the newest backwards until h rows are filled.
func (v *logView) wrappedTail(h int, q string, cur int) []string {
	var rev [][]string
	n := 0
	for i := v.buf.len() - 1; i >= 0 && n < h; i-- {
		style := hitStyle
		if i == cur {
			style = curHitStyle
		}
		parts := strings.Split(ansi.Hardwrap(v.buf.lines[i], max(v.w, 1), true), "\n")
		for j := range parts {
			parts[j] = highlight(parts[j], strings.ToLower(parts[j]), q, style)
		}
		rev = append(rev, parts)
		n += len(parts)
	}
	var out []string
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i]...)
	}
	if len(out) > h {
		out = out[len(out)-h:]
	}
	return out
}

// ShortHelp lists the log view's keys for the footer.
func (v *logView) ShortHelp() []key.Binding {
	k := v.ctx.keys
	if v.find.editing {
		return []key.Binding{k.FilterApply, k.FilterClear}
	}
	return []key.Binding{k.Filter, k.NextMatch, k.PrevMatch, k.Follow, k.Wrap, k.Tail, k.Since, k.Back}
}

// wheel scrolls by three lines per notch.
func (v *logView) wheel(down bool) {
	if down {
		v.scroll(3)
	} else {
		v.scroll(-3)
	}
}
