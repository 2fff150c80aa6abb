package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/pipeline/pipelinetest"
)

func TestRunOrderAndStatuses(t *testing.T) {
	var order []string
	step := func(name string, err error) pipeline.Step {
		return pipeline.StepFunc(name, func(ctx context.Context, r pipeline.Reporter) error {
			order = append(order, name)
			r.Logf("hello from %s", name)
			return err
		})
	}
	rec := &pipelinetest.Recorder{}
	summary, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{
		step("a", nil),
		pipeline.StepFunc("b", func(ctx context.Context, r pipeline.Reporter) error {
			order = append(order, "b")
			r.Set("image_tag", "1.0.0-SNAPSHOT-abcdef0")
			return pipeline.Skip("already in registry")
		}),
		step("c", errors.New("boom")),
		step("d", nil),
	}, rec)
	if err == nil || !errors.Is(err, pipeline.ErrStepFailed) || !strings.Contains(err.Error(), "c: boom") {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(order, ",") != "a,b,c" {
		t.Fatalf("ran %v; d must not run after c failed", order)
	}
	fin := rec.Finished()
	want := []pipeline.Status{pipeline.Succeeded, pipeline.Skipped, pipeline.Failed}
	if len(fin) != len(want) {
		t.Fatalf("finished events: %d\n%s", len(fin), rec.Text())
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
	if _, ok := rec.Events()[0].(pipeline.RunStarted); !ok {
		t.Errorf("first event %T", rec.Events()[0])
	}
	last, ok := rec.Events()[len(rec.Events())-1].(pipeline.RunFinished)
	if !ok || last.Err == nil || last.Keys[0] != "image_tag" {
		t.Errorf("last event %#v", rec.Events()[len(rec.Events())-1])
	}
}

func TestCancelStopsAtCurrentStep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	rec := &pipelinetest.Recorder{}
	ranAfter := false
	done := make(chan error)
	go func() {
		_, err := pipeline.Run(ctx, "promote", []pipeline.Step{
			pipeline.StepFunc("wait", func(ctx context.Context, r pipeline.Reporter) error {
				close(started)
				<-ctx.Done()
				return fmt.Errorf("rollout status: %w", ctx.Err())
			}),
			pipeline.StepFunc("after", func(ctx context.Context, r pipeline.Reporter) error { ranAfter = true; return nil }),
		}, rec)
		done <- err
	}()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, pipeline.ErrStepFailed) {
		t.Fatalf("err = %v", err)
	}
	if ranAfter {
		t.Fatal("a step ran after cancellation")
	}
	fin := rec.Finished()
	if len(fin) != 1 || fin[0].Status != pipeline.Cancelled || fin[0].Name != "wait" {
		t.Fatalf("finished = %#v", fin)
	}
}

func TestSecretsMaskedEverywhere(t *testing.T) {
	const secret = "s3cr3t-ECR-password-value"
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{
		pipeline.StepFunc("login", func(ctx context.Context, r pipeline.Reporter) error {
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
	for _, e := range rec.Events() {
		switch e := e.(type) {
		case pipeline.Secret:
			sawSecretEvent = e.Value == secret
		case pipeline.StepLog:
			if strings.Contains(e.Line, secret) || !strings.Contains(e.Line, pipeline.Mask) {
				t.Errorf("log line %q", e.Line)
			}
		case pipeline.StepFinished:
			if strings.Contains(e.Err.Error(), secret) {
				t.Errorf("step error leaks: %v", e.Err)
			}
		case pipeline.RunFinished:
			if strings.Contains(e.Summary["note"], secret) || strings.Contains(e.Err.Error(), secret) {
				t.Errorf("run finished leaks: %#v", e)
			}
		}
	}
	if !sawSecretEvent {
		t.Error("no pipeline.Secret event for printers")
	}
	logs := 0
	for _, e := range rec.Events() {
		if _, ok := e.(pipeline.StepLog); ok {
			logs++
		}
	}
	if logs != 3 {
		t.Errorf("want 3 log lines (Logf, full line, flushed partial), got %d\n%s", logs, rec.Text())
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	rec := &pipelinetest.Recorder{}
	_, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{pipeline.StepFunc("bad", func(ctx context.Context, r pipeline.Reporter) error {
		var m map[string]int
		m["x"] = 1
		return nil
	})}, rec)
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v", err)
	}
	if f := rec.Finished(); len(f) != 1 || f[0].Status != pipeline.Failed {
		t.Fatalf("finished = %#v", f)
	}
}

// slowSink stands for a consumer that lags; nothing may be dropped.
type slowSink struct{ pipelinetest.Recorder }

func (s *slowSink) Emit(e pipeline.Event) {
	if _, ok := e.(pipeline.StepLog); ok {
		time.Sleep(time.Microsecond)
	}
	s.Recorder.Emit(e)
}

func TestConcurrentReportersDropNothing(t *testing.T) {
	sink := &slowSink{}
	_, err := pipeline.Run(context.Background(), "dev", []pipeline.Step{pipeline.StepFunc("push", func(ctx context.Context, r pipeline.Reporter) error {
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
	for _, e := range sink.Events() {
		switch e.(type) {
		case pipeline.StepLog:
			logs++
		case pipeline.StepProgress:
			progress++
		}
	}
	if logs != 400 || progress != 400 {
		t.Fatalf("logs %d progress %d, want 400 each", logs, progress)
	}
	if _, ok := sink.Events()[len(sink.Events())-1].(pipeline.RunFinished); !ok {
		t.Fatal("run not finished last")
	}
}

func TestMaskerBase64AndLongestFirst(t *testing.T) {
	m := pipeline.NewMasker()
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
	m := pipeline.NewMasker()
	m.Add("super-secret-token-value")
	rn := &pipeline.Runner{Sink: pipeline.SinkFunc(func(pipeline.Event) {}), Masker: m}
	step := pipeline.StepFunc("build", func(ctx context.Context, r pipeline.Reporter) error {
		w := r.Writer()
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(w, "Step %d/12 : RUN something with a fairly long line of build output\n", i)
		}
		return nil
	})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := rn.Run(context.Background(), "dev", []pipeline.Step{step}); err != nil {
			b.Fatal(err)
		}
	}
}
