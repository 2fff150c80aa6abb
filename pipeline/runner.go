package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// ErrStepFailed marks the error Run returns when a step failed (as opposed to bad input).
var ErrStepFailed = errors.New("step failed")

// Runner runs workflows, sending events to Sink.
type Runner struct {
	Sink   Sink
	Masker *Masker
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Approved is the plan the user said yes to, if any: a step whose fresh plan no
	// longer agrees with it stops the run (a StaleError) before it changes anything.
	Approved *Plan
}

// Run executes steps in order, stopping at the first failure or when ctx is
// cancelled, and returns the run's summary. Every started step gets exactly one
// StepFinished, and the run always ends with one RunFinished.
func Run(ctx context.Context, workflow string, steps []Step, sink Sink) (map[string]string, error) {
	r := &Runner{Sink: sink}
	return r.Run(ctx, workflow, steps)
}

// Run executes steps; see the package-level Run.
func (rn *Runner) Run(ctx context.Context, workflow string, steps []Step) (map[string]string, error) {
	now := rn.Now
	if now == nil {
		now = time.Now
	}
	masker := rn.Masker
	if masker == nil {
		masker = NewMasker()
	}
	em := &emitter{sink: rn.Sink, masker: masker, summary: map[string]string{}}

	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name()
	}
	start := now()
	em.emit(RunStarted{Workflow: workflow, Steps: names, At: start})

	var runErr error
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			runErr = fmt.Errorf("%s cancelled before %q: %w", workflow, s.Name(), err)
			break
		}
		em.emit(StepStarted{Step: i, Name: s.Name(), At: now()})
		rep := &stepReporter{em: em, step: i}
		t0 := now()
		err := rn.planAndRun(ctx, i, s, rep)
		rep.flush()
		took := now().Sub(t0)
		fin := StepFinished{Step: i, Name: s.Name(), Took: took}
		switch {
		case err == nil:
			fin.Status = Succeeded
		case IsSkip(err):
			var se *SkipError
			errors.As(err, &se)
			fin.Status = Skipped
			fin.Reason = masker.Mask(se.Reason)
		case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())):
			fin.Status = Cancelled
			fin.Err = masker.MaskError(err)
			fin.Reason = "cancelled"
		default:
			fin.Status = Failed
			fin.Err = masker.MaskError(err)
		}
		em.emit(fin)
		if fin.Status == Failed || fin.Status == Cancelled {
			runErr = &StepError{Step: s.Name(), Err: fin.Err, Cancelled: fin.Status == Cancelled}
			break
		}
	}
	em.mu.Lock()
	summary := make(map[string]string, len(em.summary))
	for k, v := range em.summary {
		summary[k] = masker.Mask(v)
	}
	keys := append([]string(nil), em.keys...)
	em.mu.Unlock()
	runErr = masker.MaskError(runErr)
	em.emit(RunFinished{Workflow: workflow, Err: runErr, Took: now().Sub(start), Summary: summary, Keys: keys})
	return summary, runErr
}

// StepError says which step ended the run.
type StepError struct {
	Step      string
	Err       error
	Cancelled bool
}

func (e *StepError) Error() string {
	if e.Cancelled {
		return fmt.Sprintf("%s: cancelled: %v", e.Step, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrStepFailed) true for a failed (not cancelled) step.
func (e *StepError) Is(target error) bool { return target == ErrStepFailed && !e.Cancelled }

// planAndRun plans step i fresh, checks it against the approved plan, reports it, and
// runs it when it reads or acts.
func (rn *Runner) planAndRun(ctx context.Context, i int, s Step, rep *stepReporter) error {
	p, err := planStep(ctx, s)
	if err != nil {
		return err
	}
	p.Step = s.Name()
	p = MaskPlan(p, rep.em.masker)
	rep.em.emit(StepPlanned{Step: i, Plan: p})
	for _, w := range p.Warnings {
		rep.em.emit(Warning{Step: i, Text: w})
	}
	if rn.Approved != nil {
		var approved StepPlan
		if i < len(rn.Approved.Steps) {
			approved = rn.Approved.Steps[i]
		}
		if approved.Step != p.Step || !p.Agrees(approved) {
			return &StaleError{Approved: approved, Now: p}
		}
	}
	switch p.Action {
	case ActionSkip:
		return &SkipError{Reason: p.Reason}
	case ActionRefuse, ActionBlocked:
		return &RefusedError{Reason: p.Reason}
	}
	return runStep(ctx, s, rep)
}

func runStep(ctx context.Context, s Step, r Reporter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in step %q: %v\n%s", s.Name(), p, debug.Stack())
		}
	}()
	return s.Run(ctx, r)
}

// emitter serialises events to the sink and masks what they carry.
type emitter struct {
	mu      sync.Mutex
	sink    Sink
	masker  *Masker
	summary map[string]string
	keys    []string
}

func (e *emitter) emit(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sink != nil {
		e.sink.Emit(ev)
	}
}

type stepReporter struct {
	em   *emitter
	step int

	mu  sync.Mutex
	buf bytes.Buffer // partial line written through Writer
}

func (r *stepReporter) Logf(format string, args ...any) {
	r.lines(fmt.Sprintf(format, args...))
}

func (r *stepReporter) lines(text string) {
	text = strings.TrimRight(text, "\n")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		r.em.emit(StepLog{Step: r.step, Line: r.em.masker.Mask(line)})
	}
}

func (r *stepReporter) Warn(format string, args ...any) {
	r.em.emit(Warning{Step: r.step, Text: r.em.masker.Mask(fmt.Sprintf(format, args...))})
}

func (r *stepReporter) Writer() io.Writer { return lineWriter{r} }

func (r *stepReporter) Progress(done, total int64, unit string) {
	r.em.emit(StepProgress{Step: r.step, Done: done, Total: total, Unit: unit})
}

func (r *stepReporter) Secret(value string) {
	if r.em.masker.Add(value) {
		// The event carries the raw value on purpose: printers such as the GitHub
		// one must register it (::add-mask::) and never print it otherwise.
		r.em.emit(Secret{Value: strings.TrimSpace(value)})
	}
}

func (r *stepReporter) Set(key, value string) {
	r.em.mu.Lock()
	defer r.em.mu.Unlock()
	if _, ok := r.em.summary[key]; !ok {
		r.em.keys = append(r.em.keys, key)
	}
	r.em.summary[key] = value
}

// flush emits a trailing partial line left in the writer buffer.
func (r *stepReporter) flush() {
	r.mu.Lock()
	rest := r.buf.String()
	r.buf.Reset()
	r.mu.Unlock()
	if strings.TrimSpace(rest) != "" {
		r.lines(rest)
	}
}

type lineWriter struct{ r *stepReporter }

func (w lineWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	w.r.buf.Write(p)
	var complete []string
	for {
		b := w.r.buf.Bytes()
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		complete = append(complete, string(b[:i]))
		w.r.buf.Next(i + 1)
	}
	w.r.mu.Unlock()
	for _, l := range complete {
		w.r.lines(l)
	}
	return len(p), nil
}
