package ui

import (
	"context"
	"errors"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// ErrPromptDismissed is the answer of a prompt the user closed with esc.
var ErrPromptDismissed = errors.New("dismissed in the console")

// Prompt asks the user for a secret (an SSH key's passphrase) from outside the
// program: a backend call that needs one sends a Prompt and waits for its Reply.
type Prompt struct {
	Text string
	// Reply receives the answer once; the value is the user's, never shown or logged.
	Reply chan<- PromptAnswer
}

// PromptAnswer is what the user typed, or why there is nothing.
type PromptAnswer struct {
	Secret []byte
	Err    error
}

// Prompter hands prompts to a running console. Its Ask blocks until the user answers
// or ctx ends; a console that is not running never answers, so Ask honours ctx.
type Prompter struct{ c chan Prompt }

// NewPrompter returns a Prompter for Options.Prompts.
func NewPrompter() *Prompter { return &Prompter{c: make(chan Prompt)} }

// Ask shows text in the console and returns what the user typed.
func (p *Prompter) Ask(ctx context.Context, text string) ([]byte, error) {
	reply := make(chan PromptAnswer, 1)
	select {
	case p.c <- Prompt{Text: text, Reply: reply}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case a := <-reply:
		return a.Secret, a.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// promptMsg brings a prompt into the program.
type promptMsg struct{ p Prompt }

// waitPrompt waits for the next prompt.
func waitPrompt(ctx context.Context, p *Prompter) tea.Cmd {
	if p == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case pr := <-p.c:
			return promptMsg{p: pr}
		case <-ctx.Done():
			return nil
		}
	}
}

// promptBox is the modal that asks for a secret: the input echoes no character.
type promptBox struct {
	ctx   *programContext
	cur   *Prompt
	input textinput.Model
}

func newPromptBox(ctx *programContext) *promptBox {
	in := textinput.New()
	in.EchoMode = textinput.EchoNone
	in.Prompt = "  › "
	return &promptBox{ctx: ctx, input: in}
}

func (b *promptBox) active() bool { return b.cur != nil }

func (b *promptBox) open(p Prompt) tea.Cmd {
	b.cur = &p
	b.input.Reset()
	return b.input.Focus()
}

// answer replies to the open prompt and closes it.
func (b *promptBox) answer(a PromptAnswer) {
	if b.cur == nil {
		return
	}
	b.cur.Reply <- a
	b.cur = nil
	b.input.Reset()
	b.input.Blur()
}

func (b *promptBox) update(msg keyMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		secret := []byte(b.input.Value())
		b.answer(PromptAnswer{Secret: secret})
		return nil
	case "esc":
		b.answer(PromptAnswer{Err: ErrPromptDismissed})
		return nil
	}
	var cmd tea.Cmd
	b.input, cmd = b.input.Update(msg)
	return cmd
}

func (b *promptBox) view(w, h int) string {
	st := b.ctx.styles
	lines := []string{
		st.Prompt.Render("Passphrase needed") + st.Muted.Render("  nothing is shown as you type"),
		"",
		"  " + st.Text.Render(strings.TrimSpace(b.cur.Text)),
		"",
		b.input.View(),
		"",
		"  " + st.Key.Render("enter") + " use it" + st.Muted.Render("  ·  ") + st.Key.Render("esc") + " cancel",
	}
	return frame(lines, w, h)
}
