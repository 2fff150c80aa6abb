package ui

import (
	"errors"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// screen is the contract every tab follows (soft-serve's component contract):
// it draws into the size it was given and does no I/O. Update returns the
// screen so a value-typed screen could replace itself.
type screen interface {
	Update(msg tea.Msg) (screen, tea.Cmd)
	View() string
	SetSize(w, h int)
	// Title is the tab label.
	Title() string
	// ShortHelp lists the screen's own bindings for the footer.
	ShortHelp() []key.Binding
	// Capturing reports whether the screen is taking text input, in which case
	// the root model passes it printable keys instead of treating them as commands.
	Capturing() bool
}

// promoteSource is a screen that can name a snapshot to promote.
type promoteSource interface {
	promoteTarget() (tag string, ok bool)
}

// jumpToSnapshotMsg asks the root model to show a snapshot on the Snapshots tab.
type jumpToSnapshotMsg struct{ tag string }

// fixHint suggests what to do about a load error, shown under the error. The
// backend classified the error (see Problem); nothing here reads its text.
func fixHint(err error, what string) string {
	if errors.Is(err, errLoadTimeout) {
		return what + " did not answer in time: check the network or VPN, then press r to retry"
	}
	switch KindOf(err) {
	case ProblemCredentials:
		return "refresh your AWS credentials (aws sso login / AWS_PROFILE), then press r to retry"
	case ProblemHostKey:
		return "the host key is unknown or changed: check known_hosts, then press r to retry"
	case ProblemUnreachable:
		return "cannot reach " + what + ": check the host, SSH key and agent, then press r to retry"
	case ProblemGitHub:
		return "GitHub refused the token or rate-limited it: check GH_TOKEN (or gh auth login), then press r to retry"
	}
	return "press r to retry"
}

// errorBlock renders an error, wrapped so its cause is never cut off, and the
// fix under it.
func errorBlock(st *Styles, err error, what string, w int) []string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	var lines []string
	for i, l := range wrap("✗ "+what+": "+msg, w, 4) {
		if i > 0 {
			l = "  " + l
		}
		lines = append(lines, st.Failure.Render(l))
	}
	for _, l := range wrap(fixHint(err, what), w-2, 2) {
		lines = append(lines, st.Muted.Render("  "+l))
	}
	return lines
}

// wrap word-wraps plain text to width w in at most n lines; continuation
// lines are two cells narrower so callers can indent them.
func wrap(text string, w, n int) []string {
	if w < 10 {
		return []string{clip(text, max(w, 1))}
	}
	// ansi.Wrap always breaks at hyphens, which splits host names and tags;
	// protect them as non-breaking hyphens while wrapping.
	const nbHyphen = "\u2011"
	text = strings.ReplaceAll(text, "-", nbHyphen)
	lines := strings.Split(ansi.Wrap(text, w, ""), "\n")
	if len(lines) > 1 {
		rest := strings.Split(ansi.Wrap(strings.TrimPrefix(text, lines[0]), w-2, ""), "\n")
		lines = append(lines[:1], rest...)
	}
	for i := range lines {
		lines[i] = strings.ReplaceAll(strings.TrimSpace(lines[i]), nbHyphen, "-")
	}
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] = clip(lines[n-1]+" …", w-2)
	}
	return lines
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// frame joins lines into exactly h lines, each cut to w cells; screens call it
// last so the root layout never shifts.
func frame(lines []string, w, h int) string {
	if h <= 0 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < h; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(lines) {
			b.WriteString(clip(lines[i], w))
		}
	}
	return b.String()
}
