package hostexec

import (
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestOutputSplitsLinesAcrossWrites(t *testing.T) {
	var outLines, errLines []string
	o := NewOutput(RunOptions{
		OnStdout: func(l string) { outLines = append(outLines, l) },
		OnStderr: func(l string) { errLines = append(errLines, l) },
	})
	for _, chunk := range []string{"he", "llo\nwor", "ld\r\n", "\n", "no newline"} {
		io.WriteString(o.Stdout(), chunk)
	}
	io.WriteString(o.Stderr(), "e1\ne2\n")
	res := o.Finish()
	if want := []string{"hello", "world", "", "no newline"}; !reflect.DeepEqual(outLines, want) {
		t.Errorf("stdout lines %q, want %q", outLines, want)
	}
	if want := []string{"e1", "e2"}; !reflect.DeepEqual(errLines, want) {
		t.Errorf("stderr lines %q, want %q", errLines, want)
	}
	if res.Stdout != "hello\nworld\r\n\nno newline" || res.Stderr != "e1\ne2\n" {
		t.Errorf("captured %q / %q", res.Stdout, res.Stderr)
	}
}

func TestOutputKeepsTail(t *testing.T) {
	o := NewOutput(RunOptions{})
	total := 0
	for i := 0; total < 3*MaxCapture; i++ {
		n, _ := fmt.Fprintf(o.Stdout(), "line %d\n", i)
		total += n
	}
	io.WriteString(o.Stdout(), "THE END\n")
	res := o.Finish()
	if len(res.Stdout) > MaxCapture {
		t.Errorf("captured %d bytes, cap is %d", len(res.Stdout), MaxCapture)
	}
	if len(res.Stdout) < MaxCapture-utfMaxSlack {
		t.Errorf("captured only %d bytes of the tail", len(res.Stdout))
	}
	if !strings.HasSuffix(res.Stdout, "THE END\n") {
		t.Errorf("tail lost: ends with %q", res.Stdout[len(res.Stdout)-20:])
	}
}

const utfMaxSlack = 4

func TestOutputTailStartsOnRuneBoundary(t *testing.T) {
	o := NewOutput(RunOptions{})
	io.WriteString(o.Stdout(), "x"+strings.Repeat("é", MaxCapture)) // 2 bytes each
	res := o.Finish()
	if !strings.HasPrefix(res.Stdout, "é") {
		t.Errorf("tail starts with %q, want a whole rune", res.Stdout[:2])
	}
}

func TestOutputChunksEndlessLine(t *testing.T) {
	var lines []string
	o := NewOutput(RunOptions{OnStdout: func(l string) { lines = append(lines, l) }})
	io.WriteString(o.Stdout(), strings.Repeat("x", 2*maxLine+5))
	o.Finish()
	if len(lines) != 3 || len(lines[0]) != maxLine || len(lines[2]) != 5 {
		t.Errorf("got %d pieces, want 2 of %d bytes and one of 5", len(lines), maxLine)
	}
}

func TestOutputNoCallbacksAfterFinish(t *testing.T) {
	calls := 0
	o := NewOutput(RunOptions{OnStdout: func(string) { calls++ }})
	io.WriteString(o.Stdout(), "a\n")
	o.Finish()
	if n, err := io.WriteString(o.Stdout(), "late\n"); n != 5 || err != nil {
		t.Errorf("late write: %d, %v; want it accepted and dropped", n, err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times, want 1", calls)
	}
}

// Callbacks must never run concurrently: this one keeps unsynchronised state,
// which -race flags if they do, and counts overlaps for runs without -race.
func TestOutputCallbacksSerialised(t *testing.T) {
	var active atomic.Int32
	overlaps := 0
	var seen []string
	cb := func(l string) {
		if active.Add(1) > 1 {
			overlaps++
		}
		seen = append(seen, l)
		runtime.Gosched()
		active.Add(-1)
	}
	o := NewOutput(RunOptions{OnStdout: cb, OnStderr: cb})
	var wg sync.WaitGroup
	for _, w := range []io.Writer{o.Stdout(), o.Stderr()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				io.WriteString(w, "x\n")
			}
		}()
	}
	wg.Wait()
	o.Finish()
	if overlaps != 0 || len(seen) != 4000 {
		t.Errorf("callbacks overlapped %d times, saw %d lines of 4000", overlaps, len(seen))
	}
}

func TestExitErrorText(t *testing.T) {
	long := strings.Repeat("noise\n", 2000) + "Error: manifest unknown\n"
	e := NewExitError(Command("docker", "pull", "r:1"), 1, "", long)
	if len(e.Stderr) > maxExitStderr || !strings.HasPrefix(e.Stderr, "noise") {
		t.Errorf("stderr tail %d bytes starting %q", len(e.Stderr), e.Stderr[:10])
	}
	if got := e.Error(); got != "command exited with status 1: docker pull r:1: Error: manifest unknown" {
		t.Errorf("Error() = %q", got)
	}
	e = NewExitError(Command("sleep", "9"), 143, "TERM", "")
	if got := e.Error(); got != "command killed by signal TERM: sleep 9" {
		t.Errorf("Error() = %q", got)
	}
}
