package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bookshop-ops/gantry/pipeline"
)

// planLine is a step plan in one line: its summary and target.
func planLine(p pipeline.StepPlan) string {
	s := p.Summary
	if s == "" {
		s = p.Step
	}
	if p.Target != "" {
		s += " (" + p.Target + ")"
	}
	return s
}

var planMarks = map[pipeline.Action]string{
	pipeline.ActionRead:    "·",
	pipeline.ActionAct:     "●",
	pipeline.ActionSkip:    "⊘",
	pipeline.ActionRefuse:  "✗",
	pipeline.ActionBlocked: "-",
}

// WritePlan prints what a workflow would do (--dry-run) in the given format: one
// JSON object for json, text for plain, text plus ::warning:: / ::error:: for github.
func WritePlan(f Format, w io.Writer, plan pipeline.Plan, color bool) error {
	if f == JSON {
		return json.NewEncoder(w).Encode(struct {
			Type string `json:"type"`
			pipeline.Plan
			Refused bool `json:"refused"`
		}{"plan", plan, plan.Refused()})
	}
	st := newPlainStyles(color && f == Plain)
	verdict := "would run"
	if plan.Refused() {
		verdict = "would refuse"
	}
	fmt.Fprintf(w, "%s %s\n", st.title.Render("gantry "+plan.Workflow+" --dry-run"), st.muted.Render("("+verdict+"; nothing was changed)"))
	width := 0
	for _, s := range plan.Steps {
		width = max(width, len(s.Step))
	}
	for _, s := range plan.Steps {
		mark := planMarks[s.Action]
		switch s.Action {
		case pipeline.ActionRefuse:
			mark = st.fail.Render(mark)
		case pipeline.ActionSkip:
			mark = st.skip.Render(mark)
		case pipeline.ActionAct:
			mark = st.ok.Render(mark)
		}
		fmt.Fprintf(w, "%s %-*s  %-7s %s\n", mark, width, s.Step, s.Action, planLine(s))
		for _, fc := range s.Facts {
			v := strings.ReplaceAll(fc.Value, "\n", "\n"+strings.Repeat(" ", width+16))
			fmt.Fprintf(w, "  %*s  %s %s\n", width, "", st.muted.Render(fmt.Sprintf("%-12s", fc.Name)), v)
		}
		for _, wn := range s.Warnings {
			if f == GitHub {
				fmt.Fprintf(w, "::warning title=%s::%s\n", escapeProperty(s.Step), escapeData(wn))
				continue
			}
			fmt.Fprintf(w, "  %*s  %s %s\n", width, "", st.skip.Render("⚠ warning:"), wn)
		}
		if f == GitHub && s.Action == pipeline.ActionRefuse {
			fmt.Fprintf(w, "::error title=%s refuses::%s\n", escapeProperty(s.Step), escapeData(s.Reason))
		}
	}
	return nil
}
