package printer

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
)

// script is a failed dev run with a secret, a skip and a summary.
func script(sink pipeline.Sink) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	sink.Emit(pipeline.RunStarted{Workflow: "dev", Steps: []string{"metadata", "login", "push", "deploy"}, At: at})
	sink.Emit(pipeline.StepStarted{Step: 0, Name: "metadata", At: at})
	sink.Emit(pipeline.StepLog{Step: 0, Line: "version 1.4.2"})
	sink.Emit(pipeline.StepLog{Step: 0, Line: "::set-output name=evil::x"})
	sink.Emit(pipeline.StepFinished{Step: 0, Name: "metadata", Status: pipeline.Succeeded, Took: 120 * time.Millisecond})
	sink.Emit(pipeline.StepStarted{Step: 1, Name: "login", At: at})
	sink.Emit(pipeline.Secret{Value: "hunter2-password"})
	sink.Emit(pipeline.StepFinished{Step: 1, Name: "login", Status: pipeline.Succeeded, Took: 2 * time.Second})
	sink.Emit(pipeline.StepStarted{Step: 2, Name: "push", At: at})
	for i := int64(0); i <= 100; i += 5 {
		sink.Emit(pipeline.StepProgress{Step: 2, Done: i * 1024 * 1024, Total: 100 * 1024 * 1024, Unit: "bytes"})
	}
	sink.Emit(pipeline.StepFinished{Step: 2, Name: "push", Status: pipeline.Skipped, Reason: "tag already in registry", Took: time.Second})
	sink.Emit(pipeline.StepStarted{Step: 3, Name: "deploy", At: at})
	sink.Emit(pipeline.StepFinished{Step: 3, Name: "deploy", Status: pipeline.Failed, Err: errors.New("health check: 503\nafter 60s"), Took: 75 * time.Second})
	sink.Emit(pipeline.RunFinished{Workflow: "dev", Err: errors.New("deploy: health check"), Took: 80 * time.Second,
		Summary: map[string]string{"image_tag": "1.4.2-SNAPSHOT-abcdef0", "version": "1.4.2", "sha": "abcdef0123", "notes": "a\nb"},
		Keys:    []string{"version", "sha", "image_tag", "notes"}})
}

func TestGitHubPrinter(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	output := filepath.Join(dir, "output")
	os.WriteFile(output, []byte("earlier=1\n"), 0o644)
	env := map[string]string{"GITHUB_STEP_SUMMARY": summary, "GITHUB_OUTPUT": output}
	var out bytes.Buffer
	script(NewGitHub(&out, func(k string) string { return env[k] }))
	got := out.String()
	for _, want := range []string{
		"::group::[1/4] metadata\n",
		"::endgroup::\n",
		"::add-mask::hunter2-password\n",
		"::notice title=push skipped::tag already in registry\n",
		"::error title=deploy failed::health check: 503%0Aafter 60s\n",
		" ::set-output name=evil::x\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "::group::") != strings.Count(got, "::endgroup::") {
		t.Errorf("unbalanced groups:\n%s", got)
	}
	if strings.Contains(got, "%") && strings.Contains(got, "100%") {
		t.Errorf("progress ticks should not flood the log:\n%s", got)
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### gantry dev: ❌ failed in 1m20s", "| 1 | metadata | ✅ succeeded | 120ms |", "| 3 | push | ⏭️ skipped: tag already in registry | 1.0s |", "| 4 | deploy | ❌ health check: 503 after 60s | 1m15s |", "| image_tag | `1.4.2-SNAPSHOT-abcdef0` |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	outs, _ := os.ReadFile(output)
	want := "earlier=1\nimage_tag=1.4.2-SNAPSHOT-abcdef0\nversion=1.4.2\nsha=abcdef0123\n"
	if string(outs) != want {
		t.Errorf("GITHUB_OUTPUT = %q, want %q", outs, want)
	}
}

func TestJSONPrinterNeverWritesSecrets(t *testing.T) {
	var out bytes.Buffer
	script(NewJSON(&out))
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("secret in JSON output:\n%s", out.String())
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		types = append(types, r.Type)
		if r.Type == "step_finished" && r.Name == "deploy" && (r.Status != "failed" || r.Millis != 75000) {
			t.Errorf("deploy record = %+v", r)
		}
		if r.Type == "run_finished" && r.Summary["image_tag"] != "1.4.2-SNAPSHOT-abcdef0" {
			t.Errorf("run_finished = %+v", r)
		}
	}
	if types[0] != "run_started" || types[len(types)-1] != "run_finished" {
		t.Fatalf("types = %v", types)
	}
}

func TestPlainPrinter(t *testing.T) {
	var out bytes.Buffer
	script(NewPlain(&out, false))
	got := out.String()
	for _, want := range []string{"gantry dev (4 steps: metadata, login, push, deploy)", "[1/4] metadata", "      version 1.4.2", "✓ metadata (120ms)", "⊘ push skipped: tag already in registry (1.0s)", "✗ deploy failed (1m15s)\n  health check: 503\n  after 60s", "dev failed after 1m20s", "  image_tag: 1.4.2-SNAPSHOT-abcdef0"} {
		if !strings.Contains(got, want) {
			t.Errorf("plain output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Error("ANSI escapes without colour")
	}
	if strings.Contains(got, "hunter2") {
		t.Error("secret printed")
	}
	// Progress is throttled to every 10%, not every tick.
	if n := strings.Count(got, "/ 104.9 MB"); n != 11 {
		t.Errorf("progress lines = %d, want 11:\n%s", n, got)
	}
}

func TestFormatters(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 999: "999 B", 1536: "1.5 kB", 100 * 1000 * 1000: "100.0 MB"} {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("yaml accepted")
	}
}
