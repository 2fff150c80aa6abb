package sshhost

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

func TestPIDSniffer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		pid    int64
		out    string
	}{
		{"split marker", []string{"gantry-p", "id:4242\nhello\n", "world"}, 4242, "hello\nworld"},
		{"login noise first", []string{"motd line\n", "gantry-pid:77\nout\n"}, 77, "motd line\nout\n"},
		{"no marker", []string{"just output\n", "no newline"}, 0, "just output\nno newline"},
		{"pid 1 refused", []string{"gantry-pid:1\nx\n"}, 0, "gantry-pid:1\nx\n"},
		{"garbage pid", []string{"gantry-pid:12; rm\n"}, 0, "gantry-pid:12; rm\n"},
		{"only first marker counts", []string{"gantry-pid:50\ngantry-pid:60\n"}, 50, "gantry-pid:60\n"},
		{"endless preamble", []string{strings.Repeat("x", maxPreamble+1), "\ngantry-pid:9\n"}, 0, strings.Repeat("x", maxPreamble+1) + "\ngantry-pid:9\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		s := &pidSniffer{next: &buf}
		for _, w := range tt.writes {
			if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("%s: Write = %d, %v", tt.name, n, err)
			}
		}
		s.flush()
		if s.pid.Load() != tt.pid || buf.String() != tt.out {
			t.Errorf("%s: pid %d output %q; want %d %q", tt.name, s.pid.Load(), buf.String(), tt.pid, tt.out)
		}
	}
}

func TestPIDReportAndKillRender(t *testing.T) {
	for _, shell := range testbed.Shells(t) {
		got, _, err := testbed.RunShell(t, shell, withPIDReport("printf %s done"))
		if err != nil || !strings.HasPrefix(got, pidMarker) || !strings.HasSuffix(got, "\ndone") {
			t.Errorf("%s: %q, %v", shell, got, err)
		}
	}
	if got := killGroupCmd(123); got != "kill -s TERM -- -123 2>/dev/null || kill -s TERM 123" {
		t.Errorf("kill command %q", got)
	}
}
