package printer

import (
	"encoding/json"
	"io"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
)

// JSONPrinter writes one JSON object per event (JSON lines).
type JSONPrinter struct {
	enc   *json.Encoder
	state stepState
}

// NewJSON returns the JSON-lines printer.
func NewJSON(w io.Writer) *JSONPrinter { return &JSONPrinter{enc: json.NewEncoder(w)} }

// Record is one JSON line. Fields are omitted when they do not apply.
type Record struct {
	Type     string             `json:"type"`
	Time     time.Time          `json:"time,omitzero"`
	Workflow string             `json:"workflow,omitempty"`
	Steps    []string           `json:"steps,omitempty"`
	Step     *int               `json:"step,omitempty"`
	Name     string             `json:"name,omitempty"`
	Line     string             `json:"line,omitempty"`
	Done     int64              `json:"done,omitempty"`
	Total    int64              `json:"total,omitempty"`
	Unit     string             `json:"unit,omitempty"`
	Status   string             `json:"status,omitempty"`
	Reason   string             `json:"reason,omitempty"`
	Error    string             `json:"error,omitempty"`
	Millis   int64              `json:"duration_ms,omitempty"`
	Summary  map[string]string  `json:"summary,omitempty"`
	Plan     *pipeline.StepPlan `json:"plan,omitempty"`
	Text     string             `json:"text,omitempty"`
}

// Emit writes one event. Secret events are never written.
func (p *JSONPrinter) Emit(e pipeline.Event) {
	p.state.track(e)
	step := func(i int) *int { return &i }
	var r Record
	switch e := e.(type) {
	case pipeline.RunStarted:
		r = Record{Type: "run_started", Time: e.At, Workflow: e.Workflow, Steps: e.Steps}
	case pipeline.StepStarted:
		r = Record{Type: "step_started", Time: e.At, Step: step(e.Step), Name: e.Name}
	case pipeline.StepPlanned:
		pl := e.Plan
		r = Record{Type: "step_planned", Step: step(e.Step), Name: pl.Step, Plan: &pl}
	case pipeline.Warning:
		r = Record{Type: "warning", Step: step(e.Step), Name: p.state.name(e.Step), Text: e.Text}
	case pipeline.StepLog:
		r = Record{Type: "log", Step: step(e.Step), Name: p.state.name(e.Step), Line: e.Line}
	case pipeline.StepProgress:
		r = Record{Type: "progress", Step: step(e.Step), Name: p.state.name(e.Step), Done: e.Done, Total: e.Total, Unit: e.Unit}
	case pipeline.StepFinished:
		r = Record{Type: "step_finished", Step: step(e.Step), Name: e.Name, Status: e.Status.String(), Reason: e.Reason, Error: errText(e.Err), Millis: e.Took.Milliseconds()}
	case pipeline.RunFinished:
		status := "succeeded"
		if e.Err != nil {
			status = "failed"
		}
		r = Record{Type: "run_finished", Workflow: e.Workflow, Status: status, Error: errText(e.Err), Millis: e.Took.Milliseconds(), Summary: e.Summary}
	default:
		return
	}
	_ = p.enc.Encode(r)
}
