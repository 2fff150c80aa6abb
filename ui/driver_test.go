package ui_test

import (
	"os"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/fakebackend"
)

// clock is the fixed "now" of every test, so relative times are stable.
var clock = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func TestMain(m *testing.M) {
	// Absolute times render in local time; pin it for the golden files.
	time.Local = time.UTC
	os.Exit(m.Run())
}

// driver steps a model the way a Bubble Tea program would, but from the test
// goroutine: Cmds run concurrently and their messages are applied one at a
// time by wait. The model under test is built without timers, so no Cmd sleeps.
type driver struct {
	tb   testing.TB
	m    *ui.Model
	msgs chan tea.Msg
	done chan struct{}
	quit bool
}

func newDriver(tb testing.TB, b ui.Backend, opts ui.Options, w, h int) *driver {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return clock }
	}
	if opts.Theme == "" {
		opts.Theme = "dark"
	}
	d := &driver{tb: tb, m: ui.NewTestModel(b, opts), msgs: make(chan tea.Msg), done: make(chan struct{})}
	tb.Cleanup(func() { close(d.done) })
	d.send(tea.WindowSizeMsg{Width: w, Height: h})
	d.exec(d.m.Init())
	return d
}

// exec starts a Cmd; a batch starts each of its Cmds.
func (d *driver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		select {
		case d.msgs <- msg:
		case <-d.done:
		}
	}()
}

// send applies one message and starts the Cmd it returns.
func (d *driver) send(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
		return
	case tea.BatchMsg:
		for _, c := range msg {
			d.exec(c)
		}
		return
	case tea.QuitMsg:
		d.quit = true
		return
	}
	_, cmd := d.m.Update(msg)
	d.exec(cmd)
}

// press sends key presses: single characters, or names like "enter", "ctrl+c".
func (d *driver) press(keys ...string) {
	for _, k := range keys {
		d.send(keyPress(k))
	}
}

// typeText sends each character of s as a key press.
func (d *driver) typeText(s string) {
	for _, r := range s {
		d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// wait applies messages until cond holds, failing after a few seconds.
func (d *driver) wait(what string, cond func() bool) {
	d.tb.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-deadline:
			d.tb.Fatalf("timed out waiting for %s; screen:\n%s", what, d.m.Screen())
		}
	}
}

// settle applies whatever messages arrive within a short quiet period.
func (d *driver) settle() {
	for {
		select {
		case msg := <-d.msgs:
			d.send(msg)
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func (d *driver) loaded() { d.tb.Helper(); d.wait("initial loads", d.m.Loaded) }

func keyPress(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	}
	if c, ok := strings.CutPrefix(k, "ctrl+"); ok {
		return tea.KeyPressMsg{Code: rune(c[0]), Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// fake returns a fake backend with n snapshots dated from the test clock.
func fake(n int) *fakebackend.Backend { return fakebackend.New(n, clock) }

// TestKeyPressNames guards the key helper against v2's key naming.
func TestKeyPressNames(t *testing.T) {
	for k, want := range map[string]string{
		"enter": "enter", "esc": "esc", "tab": "tab", "shift+tab": "shift+tab", "ctrl+c": "ctrl+c",
		"ctrl+d": "ctrl+d", "j": "j", "G": "G", "/": "/", "?": "?", "backspace": "backspace",
	} {
		if got := keyPress(k).String(); got != want {
			t.Errorf("keyPress(%q).String() = %q, want %q", k, got, want)
		}
	}
}
