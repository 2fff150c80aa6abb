package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/units"
)

// fit truncates s to w display cells (with an ellipsis) and pads it to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// fitRight is fit with the text aligned right.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s) // a wide character may leave a cell over
	}
	return strings.Repeat(" ", w-sw) + s
}

// clip truncates s to at most w display cells without padding.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw <= w {
		return s
	}
	// Only cutting text earns an ellipsis: cutting padding does not.
	if strings.TrimSpace(ansi.Strip(ansi.Cut(s, w, sw))) == "" {
		return ansi.Truncate(s, w, "")
	}
	return ansi.Truncate(s, w, "…")
}

// spread puts left and right on one line of width w, right-aligned, dropping
// right if both do not fit.
func spread(left, right string, w int) string {
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > w {
		return fit(left, w)
	}
	return left + strings.Repeat(" ", w-lw-rw) + right
}

// relTime says how long ago t was, compactly: "now", "45s ago", "3m ago".
func relTime(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "soon"
	case d < 5*time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
	return t.Format("2006-01-02")
}

// humanBytes formats a byte count as every gantry output does.
func humanBytes(n int64) string { return units.Bytes(n) }

// humanDuration formats an elapsed time: "0.4s", "12.3s", "2m05s", "1h02m".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0.0s"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// uptime formats a long duration coarsely: "3d 4h", "5h 12m", "7m".
func uptime(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours()/24), int(d.Hours())%24)
}

// shortDigest drops the algorithm and keeps 12 hex digits.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 {
		d = d[i+1:]
	}
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// shortSHA keeps the 7 characters git shows.
func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// cleanLine makes a log line safe to draw in one row: no escape sequences, no
// tabs, no control characters that would move the cursor.
func cleanLine(s string) string {
	s = ansi.Strip(s)
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isReleaseTag reports whether t looks like vX.Y.Z (optionally with a suffix).
func isReleaseTag(t string) bool {
	if len(t) < 6 || t[0] != 'v' {
		return false
	}
	dots := 0
	for i := 1; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.':
			dots++
		case c == '-' || c == '+':
			return dots == 2
		default:
			return false
		}
	}
	return dots == 2
}

func ansiWidth(s string) int { return ansi.StringWidth(s) }

// countNoun writes "1 image" or "3 images".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// position is the cursor's place in a list ("12/340"), or "" when the whole
// list fits on screen.
func position(nav *listNav) string {
	if nav.n <= nav.height || nav.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", nav.cursor+1, nav.n)
}

// withPosition puts the list's position at the right end of its column header.
func withPosition(header string, nav *listNav, w int) string {
	pos := position(nav)
	if pos == "" {
		return header
	}
	return spread(strings.TrimRight(header, " "), pos, w)
}
