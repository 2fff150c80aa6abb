package ui_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/fakebackend"
)

// consoleCases are the log view, search, wrap, the command log and Run's search.
var consoleCases = []goldenCase{
	{name: "logs_dev", setup: func(d *driver) {
		d.loaded()
		d.press("l")
		d.wait("log lines", func() bool { return d.m.LogLineCount() == 50 })
	}},
	{name: "logs_search", setup: func(d *driver) {
		d.loaded()
		d.press("l")
		d.wait("log lines", func() bool { return d.m.LogLineCount() == 50 })
		d.press("/")
		d.typeText("warning")
		d.press("enter", "n")
	}},
	{name: "logs_wrap", fake: func(b *fakebackend.Backend) {
		b.Log = append(fakebackend.LogLines(30), "Traceback (most recent call last): File \"/app/books/views.py\", line 42, in detail: raise Http404(\"No Book matches the given query, id=77; check the catalogue import job and the cache keys\")")
	}, setup: func(d *driver) {
		d.loaded()
		d.press("l")
		d.wait("log lines", func() bool { return d.m.LogLineCount() == 31 })
		d.press("w")
	}},
	{name: "cmdlog", setup: func(d *driver) { d.loaded(); d.press("@", "j") }},
	{name: "run_search", setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool { return d.m.RunStarted() && !d.m.RunActive() && d.m.Loaded() })
		d.press("k", "k", "k", "/")
		d.typeText("logged")
	}},
}

func TestGoldenConsole(t *testing.T) {
	for _, size := range [][2]int{{60, 20}, {80, 24}, {120, 40}} {
		for _, gc := range consoleCases {
			t.Run(fmt.Sprintf("%s_%dx%d", gc.name, size[0], size[1]), func(t *testing.T) {
				b := fake(300)
				if gc.fake != nil {
					gc.fake(b)
				}
				d := newDriver(t, b, ui.Options{}, size[0], size[1])
				gc.setup(d)
				golden.RequireEqual(t, d.m.Screen())
			})
		}
	}
}

// streamBackend records when a log stream's context ends.
type streamBackend struct {
	*fakebackend.Backend
	mu     sync.Mutex
	opened int
	closed int
}

func (s *streamBackend) Logs(ctx context.Context, req ui.LogRequest, line func(string)) error {
	s.mu.Lock()
	s.opened++
	s.mu.Unlock()
	err := s.Backend.Logs(ctx, req, line)
	s.mu.Lock()
	s.closed++
	s.mu.Unlock()
	return err
}

func (s *streamBackend) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened, s.closed
}

func TestLogViewSearchFollowAndClose(t *testing.T) {
	b := &streamBackend{Backend: fake(30)}
	b.Log = fakebackend.LogLines(200)
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("l")
	d.wait("log lines", func() bool { return d.m.LogLineCount() == 200 })
	if req := b.LastLog(); req.Env != "dev" || req.Tail != 500 {
		t.Fatalf("request %+v, want dev, tail 500", req)
	}
	if top, follow := d.m.LogTop(); !follow || top != 200-18 {
		t.Fatalf("top %d follow %v: want following the last lines", top, follow)
	}
	d.press("/")
	d.typeText("POST")
	d.press("enter")
	line, hits := d.m.LogHit()
	if hits != 40 {
		t.Fatalf("%d hits for POST, want 40", hits)
	}
	d.press("n")
	next, _ := d.m.LogHit()
	d.press("N", "N")
	prev, _ := d.m.LogHit()
	// POST is every fifth line; N from the first hit wraps to the last.
	if line != 2 || next != 7 || prev != 197 {
		t.Fatalf("hits: first %d, next %d, prev of first %d; want 2, 7, 197", line, next, prev)
	}
	if _, follow := d.m.LogTop(); follow {
		t.Fatal("a search hit should stop following")
	}
	if !d.m.HasLine("[", "POST /cart/add") || !d.m.HasLine("match") {
		t.Fatalf("screen:\n%s", d.m.Screen())
	}
	// b is rollback outside the log; here it must not open a confirm.
	d.press("b")
	if d.m.Confirming() {
		t.Fatal("b in the log view opened a confirm")
	}
	d.press("esc") // clears the query
	d.press("esc") // closes the view
	if d.m.PaneTitle() != "" {
		t.Fatalf("pane %q still open", d.m.PaneTitle())
	}
	eventually(t, d, "stream closed", func() bool { _, c := b.counts(); return c == 1 })

	// t restarts the stream with the next tail choice.
	d.press("L")
	d.wait("prod log", func() bool { return d.m.LogLineCount() > 0 })
	if b.LastLog().Env != "prod" {
		t.Fatalf("L read %q", b.LastLog().Env)
	}
	d.press("t")
	eventually(t, d, "restarted", func() bool { o, c := b.counts(); return o == 3 && c == 2 })
	if b.LastLog().Tail != 2000 {
		t.Fatalf("tail %d after t, want 2000", b.LastLog().Tail)
	}
}

func TestLogBufferBounded(t *testing.T) {
	b := fake(10)
	b.Log = fakebackend.LogLines(120_000)
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("l", "t", "t", "t") // tail: all
	d.wait("lines", func() bool { n := d.m.LogLineCount(); return n > 0 && d.m.HasLine("119999]") })
	if n := d.m.LogLineCount(); n > 110_000 || n < 100_000 {
		t.Fatalf("buffer holds %d lines, want 100,000 to 110,000", n)
	}
	if !d.m.HasLine("older dropped") {
		t.Fatalf("no dropped count:\n%s", d.m.Screen())
	}
}

// TestRunSearchTakesTypedKeys: `/` on Run edits a query; letters never reach the actions.
func TestRunSearchTakesTypedKeys(t *testing.T) {
	d := newDriver(t, fake(50), ui.Options{}, 80, 24)
	d.loaded()
	runTo(d, func() bool { return d.m.RunStarted() && !d.m.RunActive() && d.m.Loaded() })
	d.press("/")
	d.typeText("abdp")
	if d.m.Confirming() {
		t.Fatal("typing after / on Run opened a confirm")
	}
	if q := d.m.RunQuery(); q != "abdp" {
		t.Fatalf("query %q", q)
	}
	d.press("esc")
	if q := d.m.RunQuery(); q != "" {
		t.Fatalf("esc left query %q", q)
	}
}

func TestCommandLogPanel(t *testing.T) {
	b := fake(10)
	d := newDriver(t, b, ui.Options{}, 100, 24)
	d.loaded()
	d.press("@", "j", "j")
	if d.m.PaneTitle() != "Commands" {
		t.Fatalf("pane %q", d.m.PaneTitle())
	}
	for _, want := range [][]string{{"✓", "docker inspect dev-app"}, {"✗", "HTTP 404", "api.github.com"}, {"⊘", "cancelled", "docker logs"}, {"GET https://api.github.com/repos/bookshop-ops/book-shop/releases/tags/v1.4.2"}} {
		if !d.m.HasLine(want...) {
			t.Errorf("no line with %q:\n%s", want, d.m.Screen())
		}
	}
	d.press("@")
	if d.m.PaneTitle() != "" {
		t.Fatal("@ did not close the panel")
	}
}

func TestMouse(t *testing.T) {
	d := newDriver(t, fake(100), ui.Options{}, 120, 40)
	d.loaded()
	// Click the Commits tab (the tab bar is line 1).
	x := strings.Index(firstLineWith(d.m.Screen(), " 2 Commits"), "2 Commits")
	d.send(tea.MouseClickMsg{X: x, Y: 1, Button: tea.MouseLeft})
	if d.m.ActiveTab() != "Commits" {
		t.Fatalf("tab %q after click", d.m.ActiveTab())
	}
	d.press("1")
	// Row 0 is at body line 2 (info line, column header); click the fourth row.
	d.send(tea.MouseClickMsg{X: 5, Y: 2 + 2 + 3, Button: tea.MouseLeft})
	all := d.m.MatchedTags()
	if got := d.m.SelectedSnapshot(); got != all[3] {
		t.Fatalf("selected %q after click, want %q", got, all[3])
	}
	d.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if got := d.m.SelectedSnapshot(); got != all[6] {
		t.Fatalf("selected %q after wheel, want %q", got, all[6])
	}
	// Clicking "? help" in the footer shows the help.
	last := lastLine(d.m.Screen())
	d.send(tea.MouseClickMsg{X: ansi.StringWidth(last[:strings.Index(last, "? help")]) + 1, Y: 39, Button: tea.MouseLeft})
	if !d.m.HelpShown() {
		t.Fatalf("help not shown after clicking %q", last)
	}
	d.press("esc", "l")
	d.wait("log", func() bool { return d.m.LogLineCount() == 50 })
	top, _ := d.m.LogTop()
	d.send(tea.MouseWheelMsg{Button: tea.MouseWheelUp})
	if top2, follow := d.m.LogTop(); follow || top2 != top-3 {
		t.Fatalf("wheel up: top %d→%d follow %v", top, top2, follow)
	}
}

func firstLineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }

// TestProgramCopiesDigestWithOSC52 runs the real program and looks for the OSC 52
// sequence carrying the selected snapshot's digest in what it wrote to the terminal.
func TestProgramCopiesDigestWithOSC52(t *testing.T) {
	b := fake(20)
	pg := startProgram(t, b)
	pg.until("initial loads", func(o *observed) bool { return o.loaded })
	pg.key("j")
	pg.key("C")
	digest := b.Snaps[1].Digest
	want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(digest))
	pg.until("status", func(o *observed) bool { return strings.Contains(o.screen, "copied digest") })
	pg.key("q")
	if err := pg.wait(); err != nil {
		t.Fatal(err)
	}
	pg.out.mu.Lock()
	out := pg.out.b.String()
	pg.out.mu.Unlock()
	if !strings.Contains(out, want) {
		t.Fatalf("output lacks OSC 52 with %s (%q)", digest, want)
	}
}

// eventually applies messages until cond, which goroutines (not messages) make
// true, holds.
func eventually(t *testing.T, d *driver, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		d.settle()
	}
	t.Fatalf("timed out waiting for %s", what)
}
