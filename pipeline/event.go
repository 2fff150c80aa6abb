// Package pipeline is the runner core: the Step contract, plans (StepPlan, Plan,
// PlanSteps), the Runner that executes steps against an approved plan, the Reporter,
// the closed set of typed events, and the Masker that keeps secrets out of them.
// It imports no gantry package (a test enforces it); the workflows' steps live in workflow.
package pipeline

import (
	"time"
)

// Event is one thing that happened during a run. The set is closed: only this
// package's types implement it.
type Event interface{ event() }

// Status is how a step ended.
type Status int

// Step outcomes.
const (
	Succeeded Status = iota
	Skipped
	Failed
	Cancelled
)

func (s Status) String() string {
	switch s {
	case Succeeded:
		return "succeeded"
	case Skipped:
		return "skipped"
	case Failed:
		return "failed"
	case Cancelled:
		return "cancelled"
	}
	return "unknown"
}

// RunStarted opens a run and names its steps in order.
type RunStarted struct {
	Workflow string
	Steps    []string
	At       time.Time
}

// StepStarted says step number Step (0-based) began.
type StepStarted struct {
	Step int
	Name string
	At   time.Time
}

// StepPlanned says what step number Step will do, right before it does it. Already masked.
type StepPlanned struct {
	Step int
	Plan StepPlan
}

// Warning is something the user must see, from a plan or a running step. Already masked.
type Warning struct {
	Step int
	Text string
}

// StepLog is one line of a step's output, already masked.
type StepLog struct {
	Step int
	Line string
}

// StepProgress reports how far a step is, e.g. bytes pushed.
type StepProgress struct {
	Step        int
	Done, Total int64
	Unit        string
}

// StepFinished closes a step. Err and Reason are already masked.
type StepFinished struct {
	Step   int
	Name   string
	Status Status
	Reason string
	Err    error
	Took   time.Duration
}

// RunFinished closes a run. Summary holds results such as image_tag or release_url.
type RunFinished struct {
	Workflow string
	Err      error
	Took     time.Duration
	Summary  map[string]string
	// Keys keeps Summary's keys in the order steps set them.
	Keys []string
}

// Secret announces a value that must never be shown; printers mask it from here on.
type Secret struct{ Value string }

func (RunStarted) event()   {}
func (StepStarted) event()  {}
func (StepLog) event()      {}
func (StepPlanned) event()  {}
func (Warning) event()      {}
func (StepProgress) event() {}
func (StepFinished) event() {}
func (RunFinished) event()  {}
func (Secret) event()       {}

// Sink receives events. Emit is called from one goroutine at a time, in order,
// and must not drop StepFinished or RunFinished; a slow sink slows the run.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Tee sends every event to each sink in order.
func Tee(sinks ...Sink) Sink {
	return SinkFunc(func(e Event) {
		for _, s := range sinks {
			s.Emit(e)
		}
	})
}
