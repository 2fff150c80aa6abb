package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// Action is what a step's plan says it will do.
type Action int

// Plan actions. Only ActionAct changes anything.
const (
	// ActionRead: the step only looks (checks, metadata, finding a snapshot).
	ActionRead Action = iota
	// ActionAct: the step will change something; Summary says what.
	ActionAct
	// ActionSkip: the effect is already in place; Reason says which.
	ActionSkip
	// ActionRefuse: the step will not run; Reason says why and how to fix it.
	ActionRefuse
	// ActionBlocked: the step cannot be planned because an earlier one refuses.
	ActionBlocked
)

var actionNames = [...]string{"read", "act", "skip", "refuse", "blocked"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// MarshalText writes the action's name (JSON output).
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an action's name.
func (a *Action) UnmarshalText(b []byte) error {
	for i, n := range actionNames {
		if n == string(b) {
			*a = Action(i)
			return nil
		}
	}
	return fmt.Errorf("unknown plan action %q", b)
}

// Fact is one named value of a plan, e.g. {"digest", "sha256:…"}.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// StepPlan is what one step will do, computed without side effects. The TUI's confirm,
// --dry-run and the run itself all read it; the run executes it.
type StepPlan struct {
	// Step is the step's name (the planner fills it in).
	Step   string `json:"step"`
	Action Action `json:"action"`
	// Summary says in one line what the step does, e.g. "create draft release 1.4.3 on 3f2a9c1".
	Summary string `json:"summary,omitempty"`
	// Target names what it acts on, e.g. "deployment/django-app on prod.example (default)".
	Target string `json:"target,omitempty"`
	// Reason says why it skips or refuses, with the fix.
	Reason string `json:"reason,omitempty"`
	// Facts are the values a person needs to judge the step, in order.
	Facts []Fact `json:"facts,omitempty"`
	// Warnings are things to know before saying yes; the run reports them too.
	Warnings []string `json:"warnings,omitempty"`
	// Key identifies what the decision rests on (a digest, a commit, what runs now). A run
	// given an approved plan refuses a step whose fresh plan has another key: the plan
	// went stale.
	Key string `json:"key,omitempty"`
}

// Fact returns the value of the named fact ("" when absent).
func (p StepPlan) Fact(name string) string {
	for _, f := range p.Facts {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// With appends a fact when its value is not empty, and returns the plan.
func (p StepPlan) With(name, value string) StepPlan {
	if value != "" {
		p.Facts = append(p.Facts, Fact{Name: name, Value: value})
	}
	return p
}

// Warn appends a warning and returns the plan.
func (p StepPlan) Warn(format string, args ...any) StepPlan {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
	return p
}

// Acting returns a plan that changes something.
func Acting(summary string) StepPlan { return StepPlan{Action: ActionAct, Summary: summary} }

// Reading returns a plan that only looks.
func Reading(summary string) StepPlan { return StepPlan{Action: ActionRead, Summary: summary} }

// Skipping returns a plan whose effect is already in place.
func Skipping(format string, args ...any) StepPlan {
	r := fmt.Sprintf(format, args...)
	return StepPlan{Action: ActionSkip, Summary: "skip: " + r, Reason: r}
}

// Refusing returns a plan that will not run, with the reason and its fix.
func Refusing(format string, args ...any) StepPlan {
	r := fmt.Sprintf(format, args...)
	return StepPlan{Action: ActionRefuse, Summary: "refuse: " + r, Reason: r}
}

// Agrees reports whether a fresh plan still carries out what approved said: the same key,
// and the same action, or an approved action whose effect someone else has put in place
// meanwhile (it now skips: the run converged).
func (p StepPlan) Agrees(approved StepPlan) bool {
	if p.Key != approved.Key {
		return false
	}
	return p.Action == approved.Action || (approved.Action == ActionAct && p.Action == ActionSkip)
}

// Plan is what a whole workflow will do, step by step.
type Plan struct {
	Workflow string     `json:"workflow"`
	Steps    []StepPlan `json:"steps"`
}

// Refused reports whether any step refuses or cannot be planned: such a plan is shown,
// not offered.
func (p Plan) Refused() bool {
	for _, s := range p.Steps {
		if s.Action == ActionRefuse || s.Action == ActionBlocked {
			return true
		}
	}
	return false
}

// Refusals returns the steps that refuse, first the ones that say why.
func (p Plan) Refusals() []StepPlan {
	var out []StepPlan
	for _, s := range p.Steps {
		if s.Action == ActionRefuse {
			out = append(out, s)
		}
	}
	return out
}

// Warnings returns every step's warnings in order.
func (p Plan) Warnings() []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Warnings...)
	}
	return out
}

// Step returns the plan of the named step.
func (p Plan) Step(name string) (StepPlan, bool) {
	for _, s := range p.Steps {
		if s.Step == name {
			return s, true
		}
	}
	return StepPlan{}, false
}

// Fact returns the first value of the named fact across the steps.
func (p Plan) Fact(name string) string {
	for _, s := range p.Steps {
		if v := s.Fact(name); v != "" {
			return v
		}
	}
	return ""
}

// PlanSteps asks every step, in order, what it will do. Steps share what they learn (the
// metadata step's version feeds the snapshot search), so planning runs them in the order
// they would run. A step whose plan fails refuses with the error; after a refusal a
// failing plan is Blocked. Every string is masked.
func PlanSteps(ctx context.Context, workflow string, steps []Step, masker *Masker) Plan {
	if masker == nil {
		masker = NewMasker()
	}
	plan := Plan{Workflow: workflow}
	refused := false
	for _, s := range steps {
		p, err := planStep(ctx, s)
		switch {
		case err != nil && refused:
			p = StepPlan{Action: ActionBlocked, Summary: "not planned: an earlier step refuses", Reason: err.Error()}
		case err != nil:
			p = StepPlan{Action: ActionRefuse, Summary: "refuse: " + err.Error(), Reason: err.Error()}
		}
		p.Step = s.Name()
		p = MaskPlan(p, masker)
		if p.Action == ActionRefuse || p.Action == ActionBlocked {
			refused = true
		}
		plan.Steps = append(plan.Steps, p)
	}
	return plan
}

func planStep(ctx context.Context, s Step) (p StepPlan, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic planning step %q: %v\n%s", s.Name(), r, debug.Stack())
		}
	}()
	return s.Plan(ctx)
}

// MaskPlan returns p with every secret m knows masked in its text.
func MaskPlan(p StepPlan, m *Masker) StepPlan {
	p.Summary, p.Target, p.Reason, p.Key = m.Mask(p.Summary), m.Mask(p.Target), m.Mask(p.Reason), m.Mask(p.Key)
	facts := make([]Fact, len(p.Facts))
	for i, f := range p.Facts {
		facts[i] = Fact{Name: f.Name, Value: m.Mask(f.Value)}
	}
	p.Facts = facts
	ws := make([]string, len(p.Warnings))
	for i, w := range p.Warnings {
		ws[i] = m.Mask(w)
	}
	if len(ws) == 0 {
		ws = nil
	}
	if len(facts) == 0 {
		p.Facts = nil
	}
	p.Warnings = ws
	return p
}

// ErrRefused marks a step that refused to run: its plan said why.
var ErrRefused = errors.New("refused")

// RefusedError is a step's refusal, with the reason and its fix.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// Is makes RefusedError match ErrRefused.
func (e *RefusedError) Is(t error) bool { return t == ErrRefused }

// ErrStale marks a run stopped because the world changed after its plan was approved.
var ErrStale = errors.New("plan went stale")

// StaleError says what the approved plan said and what the step would do now.
type StaleError struct {
	Approved, Now StepPlan
}

func (e *StaleError) Error() string {
	was, now := e.Approved.Summary, e.Now.Summary
	if was == now {
		was, now = was+" ["+e.Approved.Key+"]", now+" ["+e.Now.Key+"]"
	}
	return fmt.Sprintf("the plan went stale: you approved %q, but now it would %q; nothing more was changed: look again and re-run",
		strings.TrimSpace(was), strings.TrimSpace(now))
}

// Is makes StaleError match ErrStale.
func (e *StaleError) Is(t error) bool { return t == ErrStale }
