// Package printer renders pipeline events and plans for headless runs: plain text for
// people, GitHub Actions workflow commands, and JSON lines for machines. It imports
// only pipeline and units.
package printer

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/units"
)

// Format names a printer.
type Format string

// Printer formats.
const (
	Plain  Format = "plain"
	GitHub Format = "github"
	JSON   Format = "json"
)

// ParseFormat checks a --output value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Plain, GitHub, JSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("--output %q: use plain, github or json", s)
}

// New returns a sink that writes events in the given format to w.
// color enables ANSI styling for the plain printer.
func New(f Format, w io.Writer, color bool, env func(string) string) pipeline.Sink {
	switch f {
	case JSON:
		return NewJSON(w)
	case GitHub:
		return NewGitHub(w, env)
	default:
		return NewPlain(w, color)
	}
}

// stepState is what every printer remembers about a run.
type stepState struct {
	names    []string
	workflow string
	finished []pipeline.StepFinished
}

func (s *stepState) track(e pipeline.Event) {
	switch e := e.(type) {
	case pipeline.RunStarted:
		s.names = e.Steps
		s.workflow = e.Workflow
		s.finished = nil
	case pipeline.StepFinished:
		s.finished = append(s.finished, e)
	}
}

func (s *stepState) name(i int) string {
	if i >= 0 && i < len(s.names) {
		return s.names[i]
	}
	return fmt.Sprintf("step %d", i+1)
}

// Duration formats a step duration compactly: 850ms, 3.2s, 1m05s.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		m := int(d / time.Minute)
		s := int((d % time.Minute) / time.Second)
		return fmt.Sprintf("%dm%02ds", m, s)
	}
}

// Bytes formats a byte count; see units.Bytes.
func Bytes(n int64) string { return units.Bytes(n) }

// Amount formats a progress amount in its unit.
func Amount(n int64, unit string) string {
	if unit == "bytes" || unit == "B" {
		return Bytes(n)
	}
	if unit == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d %s", n, unit)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.TrimSpace(err.Error())
}
