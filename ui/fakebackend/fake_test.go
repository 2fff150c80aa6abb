package fakebackend

import (
	"context"
	"errors"
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
	if err := b.RunDev(context.Background(), pipeline.SinkFunc(func(e pipeline.Event) { events = append(events, e) })); err != nil {
		t.Fatal(err)
	}
	if _, ok := events[0].(pipeline.RunStarted); !ok {
		t.Fatalf("first event %T", events[0])
	}
	fin, ok := events[len(events)-1].(pipeline.RunFinished)
	if !ok || fin.Err != nil || fin.Summary["image_tag"] != b.DevPlan.Tag {
		t.Fatalf("last event %+v", events[len(events)-1])
	}
	if b.Snaps[0].Tag != b.DevPlan.Tag || b.Dev.Image != Registry+":"+b.DevPlan.Tag {
		t.Fatalf("deploy not reflected: top %s dev %s", b.Snaps[0].Tag, b.Dev.Image)
	}
}
