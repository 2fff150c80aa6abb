package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) finished() []StepFinished {
	var out []StepFinished
	for _, e := range r.events {
		if f, ok := e.(StepFinished); ok {
			out = append(out, f)
		}
	}
	return out
}

func (r *recorder) text() string {
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%#v\n", e)
	}
	return b.String()
}

func TestRunOrderAndStatuses(t *testing.T) {
	var order []string
	step := func(name string, err error) Step {
		return StepFunc(name, func(ctx context.Context, r Reporter) error {
			order = append(order, name)
			r.Logf("hello from %s", name)
			return err
		})
	}
	rec := &recorder{}
	summary, err := Run(context.Background(), "dev", []Step{
		step("a", nil),
		StepFunc("b", func(ctx context.Context, r Reporter) error {
			order = append(order, "b")
			r.Set("image_tag", "1.0.0-SNAPSHOT-abcdef0")
			return Skip("already in registry")
		}),
		step("c", errors.New("boom")),
		step("d", nil),
	}, rec)
	if err == nil || !errors.Is(err, ErrStepFailed) || !strings.Contains(err.Error(), "c: boom") {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(order, ",") != "a,b,c" {
		t.Fatalf("ran %v; d must not run after c failed", order)
	}
	fin := rec.finished()
	want := []Status{Succeeded, Skipped, Failed}
	if len(fin) != len(want) {
		t.Fatalf("finished events: %d\n%s", len(fin), rec.text())
	}
	for i, f := range fin {
		if f.Status != want[i] {
			t.Errorf("step %d: %v, want %v", i, f.Status, want[i])
		}
	}
	if fin[1].Reason != "already in registry" {
		t.Errorf("skip reason = %q", fin[1].Reason)
	}
	if summary["image_tag"] != "1.0.0-SNAPSHOT-abcdef0" {
		t.Errorf("summary = %v", summary)
	}
	if _, ok := rec.events[0].(RunStarted); !ok {
		t.Errorf("first event %T", rec.events[0])
	}
	last, ok := rec.events[len(rec.events)-1].(RunFinished)
	if !ok || last.Err == nil || last.Keys[0] != "image_tag" {
		t.Errorf("last event %#v", rec.events[len(rec.events)-1])
	}
}

func TestCancelStopsAtCurrentStep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	rec := &recorder{}
	ranAfter := false
	done := make(chan error)
	go func() {
		_, err := Run(ctx, "promote", []Step{
			StepFunc("wait", func(ctx context.Context, r Reporter) error {
				close(started)
				<-ctx.Done()
				return fmt.Errorf("rollout status: %w", ctx.Err())
			}),
			StepFunc("after", func(ctx context.Context, r Reporter) error { ranAfter = true; return nil }),
		}, rec)
		done <- err
	}()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStepFailed) {
		t.Fatalf("err = %v", err)
	}
	if ranAfter {
		t.Fatal("a step ran after cancellation")
	}
	fin := rec.finished()
	if len(fin) != 1 || fin[0].Status != Cancelled || fin[0].Name != "wait" {
		t.Fatalf("finished = %#v", fin)
	}
}

func TestSecretsMaskedEverywhere(t *testing.T) {
	const secret = "s3cr3t-ECR-password-value"
	rec := &recorder{}
	_, err := Run(context.Background(), "dev", []Step{
		StepFunc("login", func(ctx context.Context, r Reporter) error {
			r.Secret(secret)
			r.Logf("token is %s", secret)
			fmt.Fprintf(r.Writer(), "line one %s\npartial %s", secret, secret)
			r.Set("note", "pw="+secret)
			return fmt.Errorf("login failed with %s", secret)
		}),
	}, rec)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("returned error leaks: %v", err)
	}
	var sawSecretEvent bool
	for _, e := range rec.events {
		switch e := e.(type) {
		case Secret:
			sawSecretEvent = e.Value == secret
		case StepLog:
			if strings.Contains(e.Line, secret) || !strings.Contains(e.Line, Mask) {
				t.Errorf("log line %q", e.Line)
			}
		case StepFinished:
			if strings.Contains(e.Err.Error(), secret) {
				t.Errorf("step error leaks: %v", e.Err)
			}
		case RunFinished:
			if strings.Contains(e.Summary["note"], secret) || strings.Contains(e.Err.Error(), secret) {
				t.Errorf("run finished leaks: %#v", e)
			}
		}
	}
	if !sawSecretEvent {
		t.Error("no Secret event for printers")
	}
	logs := 0
	for _, e := range rec.events {
		if _, ok := e.(StepLog); ok {
			logs++
		}
	}
	if logs != 3 {
		t.Errorf("want 3 log lines (Logf, full line, flushed partial), got %d\n%s", logs, rec.text())
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	rec := &recorder{}
	_, err := Run(context.Background(), "dev", []Step{StepFunc("bad", func(ctx context.Context, r Reporter) error {
		var m map[string]int
		m["x"] = 1
		return nil
	})}, rec)
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v", err)
	}
	if f := rec.finished(); len(f) != 1 || f[0].Status != Failed {
		t.Fatalf("finished = %#v", f)
	}
}

// slowSink stands for a consumer that lags; nothing may be dropped.
type slowSink struct{ recorder }

func (s *slowSink) Emit(e Event) {
	if _, ok := e.(StepLog); ok {
		time.Sleep(time.Microsecond)
	}
	s.recorder.Emit(e)
}

func TestConcurrentReportersDropNothing(t *testing.T) {
	sink := &slowSink{}
	_, err := Run(context.Background(), "dev", []Step{StepFunc("push", func(ctx context.Context, r Reporter) error {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					r.Progress(int64(i), 50, "bytes")
					r.Logf("layer %d: %d", g, i)
				}
			}(g)
		}
		wg.Wait()
		return nil
	})}, sink)
	if err != nil {
		t.Fatal(err)
	}
	logs, progress := 0, 0
	for _, e := range sink.events {
		switch e.(type) {
		case StepLog:
			logs++
		case StepProgress:
			progress++
		}
	}
	if logs != 400 || progress != 400 {
		t.Fatalf("logs %d progress %d, want 400 each", logs, progress)
	}
	if _, ok := sink.events[len(sink.events)-1].(RunFinished); !ok {
		t.Fatal("run not finished last")
	}
}

func TestMaskerBase64AndLongestFirst(t *testing.T) {
	m := NewMasker()
	m.Add("abcd1234")
	m.Add("abcd1234-longer")
	if got := m.Mask("x abcd1234-longer y abcd1234"); got != "x *** y ***" {
		t.Fatalf("mask = %q", got)
	}
	if got := m.Mask("auth YWJjZDEyMzQ="); got != "auth ***" {
		t.Fatalf("base64 form not masked: %q", got)
	}
	if m.Add("ab") {
		t.Fatal("a 2-character secret would garble text")
	}
}

func BenchmarkRunnerLogLines(b *testing.B) {
	m := NewMasker()
	m.Add("super-secret-token-value")
	rn := &Runner{Sink: SinkFunc(func(Event) {}), Masker: m}
	step := StepFunc("build", func(ctx context.Context, r Reporter) error {
		w := r.Writer()
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(w, "Step %d/12 : RUN something with a fairly long line of build output\n", i)
		}
		return nil
	})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := rn.Run(context.Background(), "dev", []Step{step}); err != nil {
			b.Fatal(err)
		}
	}
}
