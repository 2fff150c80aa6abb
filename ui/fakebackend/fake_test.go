package fakebackend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/ui"
)

func TestSnapshotsPagesCoverEverything(t *testing.T) {
	b := New(2500, time.Now())
	b.PageSize = 1000
	var pages, n int
	if err := b.Snapshots(context.Background(), func(p []ui.Snapshot) { pages++; n += len(p) }); err != nil {
		t.Fatal(err)
	}
	if pages != 3 || n != 2500 {
		t.Fatalf("%d pages, %d snapshots", pages, n)
	}
	seen := map[string]bool{}
	for _, s := range b.Snaps {
		if seen[s.Tag] {
			t.Fatalf("duplicate tag %s", s.Tag)
		}
		seen[s.Tag] = true
	}
}

func TestBlockHonoursContext(t *testing.T) {
	b := New(10, time.Now())
	b.Block = map[string]bool{"Commits": true}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Commits(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

func TestRunDevEmitsAWholeRun(t *testing.T) {
	b := New(10, time.Now())
	var events []pipeline.Event
	plan, err := b.PlanDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RunDev(context.Background(), plan, pipeline.SinkFunc(func(e pipeline.Event) { events = append(events, e) })); err != nil {
		t.Fatal(err)
	}
	if _, ok := events[0].(pipeline.RunStarted); !ok {
		t.Fatalf("first event %T", events[0])
	}
	fin, ok := events[len(events)-1].(pipeline.RunFinished)
	if !ok || fin.Err != nil || fin.Summary["image_tag"] != b.Head.Tag {
		t.Fatalf("last event %+v", events[len(events)-1])
	}
	if b.Snaps[0].Tag != b.Head.Tag || b.Dev.Image != Registry+":"+b.Head.Tag {
		t.Fatalf("deploy not reflected: top %s dev %s", b.Snaps[0].Tag, b.Dev.Image)
	}
}

// A run whose plan went stale (dev started running something else meanwhile) stops
// before it changes anything, and says so.
func TestRunDevStopsOnAStalePlan(t *testing.T) {
	b := New(10, time.Now())
	plan, err := b.PlanDev(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Refused() || len(plan.Steps) != 7 {
		t.Fatalf("plan %+v", plan)
	}
	b.Head.Tag = "1.0.0-SNAPSHOT-abcdef0"
	err = b.RunDev(context.Background(), plan, pipeline.SinkFunc(func(pipeline.Event) {}))
	if !errors.Is(err, pipeline.ErrStale) {
		t.Fatalf("run of a stale plan: %v, want ErrStale", err)
	}
	if b.Dev.Image == Registry+":"+b.Head.Tag {
		t.Fatal("the stale run deployed")
	}
}

// Promoting a snapshot whose release tag already names another image is refused in the plan.
func TestPlanPromoteRefusesAMovedReleaseTag(t *testing.T) {
	b := New(60, time.Now())
	plan, err := b.PlanPromote(context.Background(), b.Snaps[len(b.Snaps)-1].Tag)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Refused() || len(plan.Refusals()) != 1 || !strings.Contains(plan.Refusals()[0].Reason, "never moves") {
		t.Fatalf("plan %+v, want a refusal", plan)
	}
}
