package hostexec

import (
	"bytes"
	"io"
	"sync"
	"unicode/utf8"
)

// MaxCapture is how many bytes of each of stdout and stderr a Result keeps;
// beyond it the oldest output is dropped so the tail, where errors are, stays.
const MaxCapture = 1 << 20

// maxLine bounds a line held back waiting for its newline; longer runs of
// output without one are passed to the callback in pieces of this size.
const maxLine = 64 << 10

// Output splits a command's stdout and stderr into lines for the RunOptions
// callbacks while keeping the last MaxCapture bytes of each. Runner
// implementations share it. Callbacks are never called concurrently, and not
// at all once Finish has returned.
type Output struct {
	mu       sync.Mutex
	finished bool
	stdout   stream
	stderr   stream
}

type stream struct {
	o       *Output
	onLine  func(string)
	partial []byte
	capture []byte
}

// NewOutput returns an Output that streams lines to opts.OnStdout and
// opts.OnStderr.
func NewOutput(opts RunOptions) *Output {
	o := &Output{}
	o.stdout = stream{o: o, onLine: opts.OnStdout}
	o.stderr = stream{o: o, onLine: opts.OnStderr}
	return o
}

// Stdout is the writer for the command's standard output.
func (o *Output) Stdout() io.Writer { return &o.stdout }

// Stderr is the writer for the command's standard error.
func (o *Output) Stderr() io.Writer { return &o.stderr }

// Write never fails so a slow or finished consumer cannot stall the command.
func (s *stream) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	if s.o.finished {
		return len(p), nil
	}
	s.capture = append(s.capture, p...)
	if len(s.capture) > 2*MaxCapture {
		// Trim in bulk so appending stays amortised O(1).
		s.capture = append(s.capture[:0], s.capture[len(s.capture)-MaxCapture:]...)
	}
	if s.onLine == nil {
		return len(p), nil
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.partial = append(s.partial, rest...)
			for len(s.partial) >= maxLine {
				s.onLine(string(s.partial[:maxLine]))
				s.partial = append(s.partial[:0], s.partial[maxLine:]...)
			}
			break
		}
		var line []byte
		if len(s.partial) > 0 {
			line = append(s.partial, rest[:i]...)
			s.partial = s.partial[:0]
		} else {
			line = rest[:i]
		}
		s.onLine(string(bytes.TrimSuffix(line, []byte{'\r'})))
		rest = rest[i+1:]
	}
	return len(p), nil
}

func (s *stream) finish() string {
	if s.onLine != nil && len(s.partial) > 0 {
		s.onLine(string(bytes.TrimSuffix(s.partial, []byte{'\r'})))
		s.partial = nil
	}
	b := s.capture
	if len(b) > MaxCapture {
		b = b[len(b)-MaxCapture:]
		// Do not start the kept tail inside a UTF-8 sequence.
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return string(b)
}

// Finish delivers any last line that had no newline and returns the captured
// output with ExitCode 0. Later writes are discarded.
func (o *Output) Finish() Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.finished {
		return Result{}
	}
	o.finished = true
	return Result{Stdout: o.stdout.finish(), Stderr: o.stderr.finish()}
}
