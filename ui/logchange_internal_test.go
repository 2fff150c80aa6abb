package ui

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"strings"
	"testing"
)

// The environments reload every 30s: the debug log says an error once, and once
// that it cleared, not on every reload.
func TestDebugLogSaysEachErrorOnce(t *testing.T) {
	var buf bytes.Buffer
	m := &Model{ctx: &programContext{log: log.New(&buf, "", 0)}}
	notConfigured := fmt.Errorf("%w: prod.host is not set", ErrNotConfigured)
	for range 3 {
		m.logChange("prod env", notConfigured)
	}
	m.logChange("prod env", errors.New("dial tcp: connection refused"))
	m.logChange("prod env", nil)
	m.logChange("prod env", nil)
	want := "prod env: not configured: prod.host is not set\nprod env: dial tcp: connection refused\nprod env: ok again\n"
	if got := buf.String(); got != want {
		t.Fatalf("debug log:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(buf.String(), "<nil>") {
		t.Fatal("the log writes <nil>")
	}
}
