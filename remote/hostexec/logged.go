package hostexec

import (
	"context"
	"errors"
	"time"
)

// CommandRecord is one command a Runner ran, for the console's command log and
// the debug log. Cmd is the command text as sent (mask it before showing it).
type CommandRecord struct {
	Host     string
	Cmd      string
	Start    time.Time
	Duration time.Duration
	// ExitCode is the command's status, -1 when it has none (cancelled, lost).
	ExitCode int
	// Err is the error text when the command failed, else "".
	Err string
	// Cancelled is set when the command's context ended first (e.g. a log view closed).
	Cancelled bool
}

// OK reports whether the command exited zero.
func (r CommandRecord) OK() bool { return r.ExitCode == 0 && r.Err == "" }

// loggedRunner reports every command its Runner runs.
type loggedRunner struct {
	Runner
	host   string
	record func(CommandRecord)
	now    func() time.Time
}

// Logged wraps r so that every command it runs is passed to record once it ends
// (record must be safe for concurrent use). host names the runner in the records.
func Logged(r Runner, host string, record func(CommandRecord)) Runner {
	if record == nil {
		return r
	}
	return &loggedRunner{Runner: r, host: host, record: record, now: time.Now}
}

// Unwrap returns the wrapped runner (callers that need its concrete type, e.g. to close it).
func (l *loggedRunner) Unwrap() Runner { return l.Runner }

func (l *loggedRunner) Run(ctx context.Context, cmd Cmd, opts RunOptions) (Result, error) {
	start := l.now()
	res, err := l.Runner.Run(ctx, cmd, opts)
	rec := CommandRecord{Host: l.host, Cmd: cmd.String(), Start: start, Duration: l.now().Sub(start), ExitCode: res.ExitCode}
	if err != nil {
		rec.Err = err.Error()
		rec.Cancelled = ctx.Err() != nil
		var exit *ExitError
		if errors.As(err, &exit) {
			rec.ExitCode = exit.Code
		} else if rec.ExitCode == 0 {
			rec.ExitCode = -1
		}
	}
	l.record(rec)
	return res, err
}
