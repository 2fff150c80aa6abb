package printer

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/bookshop-ops/gantry/pipeline"
)

// plainStyles are the few semantic styles of the plain printer.
type plainStyles struct {
	title, ok, skip, fail, muted, key lipgloss.Style
}

func newPlainStyles(color bool) plainStyles {
	if !color {
		return plainStyles{}
	}
	return plainStyles{
		title: lipgloss.NewStyle().Bold(true),
		ok:    lipgloss.NewStyle().Foreground(lipgloss.Green),
		skip:  lipgloss.NewStyle().Foreground(lipgloss.Yellow),
		fail:  lipgloss.NewStyle().Foreground(lipgloss.Red).Bold(true),
		muted: lipgloss.NewStyle().Foreground(lipgloss.BrightBlack),
		key:   lipgloss.NewStyle().Bold(true),
	}
}

// PlainPrinter writes human-readable progress lines.
type PlainPrinter struct {
	w     io.Writer
	st    plainStyles
	state stepState
	// lastPct throttles progress lines to every 10%.
	lastPct map[int]int
}

// NewPlain returns the plain-text printer.
func NewPlain(w io.Writer, color bool) *PlainPrinter {
	return &PlainPrinter{w: w, st: newPlainStyles(color), lastPct: map[int]int{}}
}

// Emit prints one event.
func (p *PlainPrinter) Emit(e pipeline.Event) {
	p.state.track(e)
	switch e := e.(type) {
	case pipeline.RunStarted:
		fmt.Fprintf(p.w, "%s %s\n", p.st.title.Render("gantry "+e.Workflow), p.st.muted.Render(fmt.Sprintf("(%d steps: %s)", len(e.Steps), strings.Join(e.Steps, ", "))))
	case pipeline.StepStarted:
		fmt.Fprintf(p.w, "%s %s\n", p.st.muted.Render(fmt.Sprintf("[%d/%d]", e.Step+1, len(p.state.names))), p.st.title.Render(e.Name))
	case pipeline.StepPlanned:
		if e.Plan.Action == pipeline.ActionAct || e.Plan.Action == pipeline.ActionRead {
			fmt.Fprintf(p.w, "      %s\n", p.st.muted.Render("→ "+planLine(e.Plan)))
		}
	case pipeline.Warning:
		fmt.Fprintf(p.w, "      %s %s\n", p.st.skip.Render("⚠ warning:"), e.Text)
	case pipeline.StepLog:
		fmt.Fprintf(p.w, "      %s\n", e.Line)
	case pipeline.StepProgress:
		if e.Total <= 0 {
			return
		}
		pct := int(e.Done * 100 / e.Total)
		if last, ok := p.lastPct[e.Step]; ok && pct/10 == last/10 && pct != 100 {
			return
		}
		if last, ok := p.lastPct[e.Step]; ok && last == 100 && pct == 100 {
			return
		}
		p.lastPct[e.Step] = pct
		fmt.Fprintf(p.w, "      %s\n", p.st.muted.Render(fmt.Sprintf("%3d%% %s / %s", pct, Amount(e.Done, e.Unit), Amount(e.Total, e.Unit))))
	case pipeline.StepFinished:
		took := p.st.muted.Render("(" + Duration(e.Took) + ")")
		switch e.Status {
		case pipeline.Succeeded:
			fmt.Fprintf(p.w, "%s %s %s\n", p.st.ok.Render("✓"), e.Name, took)
		case pipeline.Skipped:
			fmt.Fprintf(p.w, "%s %s skipped: %s %s\n", p.st.skip.Render("⊘"), e.Name, e.Reason, took)
		case pipeline.Cancelled:
			fmt.Fprintf(p.w, "%s %s cancelled %s\n", p.st.fail.Render("✗"), e.Name, took)
		default:
			fmt.Fprintf(p.w, "%s %s failed %s\n%s\n", p.st.fail.Render("✗"), e.Name, took, indent(errText(e.Err), "  "))
		}
	case pipeline.RunFinished:
		if e.Err != nil {
			fmt.Fprintf(p.w, "%s after %s\n", p.st.fail.Render(e.Workflow+" failed"), Duration(e.Took))
		} else {
			fmt.Fprintf(p.w, "%s in %s\n", p.st.ok.Render(e.Workflow+" done"), Duration(e.Took))
		}
		for _, k := range orderedKeys(e.Keys, e.Summary) {
			v := strings.ReplaceAll(e.Summary[k], "\n", "\n    ")
			fmt.Fprintf(p.w, "  %s %s\n", p.st.key.Render(k+":"), v)
		}
	}
}

func indent(s, pad string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n")
}

// orderedKeys returns summary keys in the order steps set them, then any others sorted.
func orderedKeys(keys []string, m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if _, ok := m[k]; ok && !seen[k] {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
