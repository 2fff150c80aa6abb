package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// A backend call that needs a passphrase gets what the user typed in the console's
// modal; nothing of it is drawn; esc answers with ErrPromptDismissed.
func TestPromptAsksInTheConsole(t *testing.T) {
	p := NewPrompter()
	m := newModel(context.Background(), &stubBackend{}, Options{Theme: "dark", RefreshEvery: -1, Prompts: p})
	m.ctx.width, m.ctx.height = 80, 24
	type answer struct {
		secret []byte
		err    error
	}
	ask := func() chan answer {
		got := make(chan answer, 1)
		go func() {
			s, err := p.Ask(context.Background(), "passphrase for key /home/u/.ssh/dev.pem")
			got <- answer{s, err}
		}()
		return got
	}
	got := ask()
	msg := waitPrompt(context.Background(), p)()
	m.Update(msg)
	if !m.prompt.active() {
		t.Fatal("the prompt did not open")
	}
	for _, r := range "s3cret-phrase" {
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	view := m.render()
	if !strings.Contains(view, "Passphrase needed") || !strings.Contains(view, "dev.pem") || strings.Contains(view, "s3cret") {
		t.Fatalf("the prompt screen shows the wrong thing:\n%s", view)
	}
	m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	select {
	case a := <-got:
		if a.err != nil || string(a.secret) != "s3cret-phrase" {
			t.Fatalf("answer %q, %v", a.secret, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	if m.prompt.active() {
		t.Fatal("the prompt stayed open after enter")
	}

	got = ask()
	m.Update(waitPrompt(context.Background(), p)())
	m.Update(tea.KeyPressMsg{Code: tea.KeyEscape})
	select {
	case a := <-got:
		if !errors.Is(a.err, ErrPromptDismissed) || a.secret != nil {
			t.Fatalf("esc answered %q, %v", a.secret, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after esc")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Ask(ctx, "nobody listens"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ask with no console and a done context: %v", err)
	}
}
