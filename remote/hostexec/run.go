package hostexec

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Runner runs commands on one host: *Client over SSH, localhost.Host locally.
type Runner interface {
	// Run runs cmd, streaming its output to opts while capturing it. A
	// non-zero exit returns the Result and an *ExitError. When ctx ends the
	// command is signalled and Run returns an error wrapping ctx.Err().
	Run(ctx context.Context, cmd Cmd, opts RunOptions) (Result, error)
}

// RunOptions are the per-command inputs and output callbacks of Run.
type RunOptions struct {
	// Stdin, if set, is copied to the command's standard input, which is
	// closed at its EOF; nil gives an empty input. Pass secrets (such as a
	// registry password) here, never in the command text.
	Stdin io.Reader
	// OnStdout and OnStderr, if set, receive each output line without its
	// line ending as it arrives. They are never called concurrently.
	OnStdout, OnStderr func(line string)
}

// Result is what a command produced. Stdout and Stderr hold at most the last
// MaxCapture bytes of each.
type Result struct {
	// ExitCode is the command's exit status, or -1 when there is none
	// (cancelled, connection lost, or never started).
	ExitCode       int
	Stdout, Stderr string
}

// maxExitStderr bounds ExitError.Stderr: enough for the failing tool's message.
const maxExitStderr = 4 << 10

// ExitError reports a command that ran but exited non-zero.
type ExitError struct {
	Cmd    string // the command line as run
	Code   int    // exit status; 128+n when killed by signal n
	Signal string // signal name without "SIG" (e.g. "TERM") if killed by one
	Stderr string // tail of the command's standard error
}

// NewExitError builds an ExitError keeping only the tail of stderr.
func NewExitError(cmd Cmd, code int, signal, stderr string) *ExitError {
	if len(stderr) > maxExitStderr {
		stderr = stderr[len(stderr)-maxExitStderr:]
		if i := strings.IndexByte(stderr, '\n'); i >= 0 && i < len(stderr)-1 {
			stderr = stderr[i+1:]
		}
	}
	return &ExitError{Cmd: cmd.String(), Code: code, Signal: signal, Stderr: stderr}
}

func (e *ExitError) Error() string {
	var b strings.Builder
	if e.Signal != "" {
		fmt.Fprintf(&b, "command killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, "command exited with status %d", e.Code)
	}
	fmt.Fprintf(&b, ": %s", Summary(e.Cmd))
	if last := lastLine(e.Stderr); last != "" {
		fmt.Fprintf(&b, ": %s", last)
	}
	return b.String()
}

// Summary shortens a command line for error messages.
func Summary(cmd string) string {
	const max = 120
	cmd = strings.ReplaceAll(cmd, "\n", `\n`)
	if len(cmd) <= max {
		return cmd
	}
	return strings.ToValidUTF8(cmd[:max], "") + "…"
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return Summary(strings.TrimSpace(s))
}
