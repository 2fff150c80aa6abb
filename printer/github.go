package printer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bookshop-ops/gantry/pipeline"
)

// OutputKeys are the summary values written to $GITHUB_OUTPUT when a step sets them.
var OutputKeys = []string{"image_tag", "version", "sha", "digest", "release_url", "release_tag", "promoted_tag", "image", "snapshot"}

// GitHubPrinter speaks GitHub Actions workflow commands: a group per step,
// ::error:: on failure, ::add-mask:: for secrets, a step summary and outputs.
type GitHubPrinter struct {
	w     io.Writer
	env   func(string) string
	state stepState
	open  bool
}

// NewGitHub returns the GitHub Actions printer. env looks up GITHUB_STEP_SUMMARY and GITHUB_OUTPUT.
func NewGitHub(w io.Writer, env func(string) string) *GitHubPrinter {
	if env == nil {
		env = os.Getenv
	}
	return &GitHubPrinter{w: w, env: env}
}

// escapeData escapes a workflow command's message as the runner expects.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// neutralize keeps tool output from issuing workflow commands of its own.
func neutralize(line string) string {
	if strings.HasPrefix(strings.TrimLeft(line, " \t"), "::") {
		return " " + line
	}
	return line
}

// Emit writes one event.
func (p *GitHubPrinter) Emit(e pipeline.Event) {
	p.state.track(e)
	switch e := e.(type) {
	case pipeline.Secret:
		for _, line := range strings.Split(e.Value, "\n") {
			if strings.TrimSpace(line) != "" {
				fmt.Fprintf(p.w, "::add-mask::%s\n", line)
			}
		}
	case pipeline.RunStarted:
		fmt.Fprintf(p.w, "gantry %s: %s\n", e.Workflow, strings.Join(e.Steps, " → "))
	case pipeline.StepStarted:
		fmt.Fprintf(p.w, "::group::%s\n", escapeData(fmt.Sprintf("[%d/%d] %s", e.Step+1, len(p.state.names), e.Name)))
		p.open = true
	case pipeline.StepPlanned:
		if e.Plan.Action == pipeline.ActionAct || e.Plan.Action == pipeline.ActionRead {
			fmt.Fprintln(p.w, neutralize("→ "+planLine(e.Plan)))
		}
	case pipeline.Warning:
		// Outside any group, so a collapsed step does not hide it.
		fmt.Fprintf(p.w, "::warning title=%s::%s\n", escapeProperty(p.state.name(e.Step)), escapeData(e.Text))
	case pipeline.StepLog:
		fmt.Fprintln(p.w, neutralize(e.Line))
	case pipeline.StepProgress:
		// Progress ticks would flood the log; the final size is reported by the step.
	case pipeline.StepFinished:
		if p.open {
			fmt.Fprintln(p.w, "::endgroup::")
			p.open = false
		}
		switch e.Status {
		case pipeline.Succeeded:
			fmt.Fprintf(p.w, "✓ %s (%s)\n", e.Name, Duration(e.Took))
		case pipeline.Skipped:
			fmt.Fprintf(p.w, "::notice title=%s skipped::%s\n", escapeProperty(e.Name), escapeData(e.Reason))
		case pipeline.Cancelled:
			fmt.Fprintf(p.w, "::error title=%s cancelled::%s\n", escapeProperty(e.Name), escapeData(errText(e.Err)))
		default:
			fmt.Fprintf(p.w, "::error title=%s failed::%s\n", escapeProperty(e.Name), escapeData(errText(e.Err)))
		}
	case pipeline.RunFinished:
		if p.open {
			fmt.Fprintln(p.w, "::endgroup::")
			p.open = false
		}
		if e.Err != nil {
			fmt.Fprintf(p.w, "gantry %s failed after %s\n", e.Workflow, Duration(e.Took))
		} else {
			fmt.Fprintf(p.w, "gantry %s done in %s\n", e.Workflow, Duration(e.Took))
		}
		if err := p.writeSummary(e); err != nil {
			fmt.Fprintf(p.w, "::warning::%s\n", escapeData("step summary: "+err.Error()))
		}
		if err := p.writeOutputs(e); err != nil {
			fmt.Fprintf(p.w, "::warning::%s\n", escapeData("outputs: "+err.Error()))
		}
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

func (p *GitHubPrinter) writeSummary(e pipeline.RunFinished) error {
	path := p.env("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	var b strings.Builder
	result := "✅ succeeded"
	if e.Err != nil {
		result = "❌ failed"
	}
	fmt.Fprintf(&b, "### gantry %s: %s in %s\n\n", e.Workflow, result, Duration(e.Took))
	b.WriteString("| # | Step | Result | Duration |\n|---|---|---|---|\n")
	done := map[int]pipeline.StepFinished{}
	for _, f := range p.state.finished {
		done[f.Step] = f
	}
	for i, name := range p.state.names {
		f, ok := done[i]
		res, took := "not run", "–"
		if ok {
			took = Duration(f.Took)
			switch f.Status {
			case pipeline.Succeeded:
				res = "✅ succeeded"
			case pipeline.Skipped:
				res = "⏭️ skipped: " + f.Reason
			case pipeline.Cancelled:
				res = "⛔ cancelled"
			default:
				res = "❌ " + errText(f.Err)
			}
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", i+1, mdCell(name), mdCell(res), took)
	}
	if len(e.Summary) > 0 {
		b.WriteString("\n| Result | Value |\n|---|---|\n")
		for _, k := range orderedKeys(e.Keys, e.Summary) {
			fmt.Fprintf(&b, "| %s | `%s` |\n", mdCell(k), mdCell(e.Summary[k]))
		}
	}
	b.WriteString("\n")
	return appendFile(path, b.String())
}

func (p *GitHubPrinter) writeOutputs(e pipeline.RunFinished) error {
	path := p.env("GITHUB_OUTPUT")
	if path == "" {
		return nil
	}
	var b strings.Builder
	for _, k := range OutputKeys {
		v, ok := e.Summary[k]
		if !ok {
			continue
		}
		if strings.ContainsAny(v, "\r\n") {
			// Multi-line values use the heredoc form with a random delimiter.
			var rnd [8]byte
			_, _ = rand.Read(rnd[:])
			delim := "ghadelim_" + hex.EncodeToString(rnd[:])
			fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", k, delim, v, delim)
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if b.Len() == 0 {
		return nil
	}
	return appendFile(path, b.String())
}
