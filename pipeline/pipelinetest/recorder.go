// Package pipelinetest holds helpers for tests of code that runs steps.
package pipelinetest

import (
	"fmt"
	"strings"
	"sync"

	"github.com/bookshop-ops/gantry/pipeline"
)

// Recorder is a Sink that keeps every event. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []pipeline.Event
}

// Emit keeps e.
func (r *Recorder) Emit(e pipeline.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Events returns a copy of the events so far.
func (r *Recorder) Events() []pipeline.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.Event(nil), r.events...)
}

// Finished returns the StepFinished events in order.
func (r *Recorder) Finished() []pipeline.StepFinished {
	var out []pipeline.StepFinished
	for _, e := range r.Events() {
		if f, ok := e.(pipeline.StepFinished); ok {
			out = append(out, f)
		}
	}
	return out
}

// Text renders every event, one a line, for failure messages.
func (r *Recorder) Text() string {
	var b strings.Builder
	for _, e := range r.Events() {
		fmt.Fprintf(&b, "%#v\n", e)
	}
	return b.String()
}
