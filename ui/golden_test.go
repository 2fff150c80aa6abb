package ui_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/fakebackend"
)

// goldenCase sets a screen up; its plain-text frame is compared with
// testdata/TestGolden/<name>_<w>x<h>.golden (refresh with -update).
type goldenCase struct {
	name  string
	fake  func(b *fakebackend.Backend)
	setup func(d *driver)
}

func runTo(d *driver, cond func() bool) {
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("run state", cond)
}

var goldenCases = []goldenCase{
	{name: "loading", setup: func(d *driver) {}},
	{name: "snapshots", setup: func(d *driver) { d.loaded(); d.press("j", "j") }},
	{name: "snapshots_filter_grouped", setup: func(d *driver) {
		d.loaded()
		d.press("/")
		d.typeText("1.0")
		d.press("enter", "v", "j")
	}},
	{name: "snapshots_folded", setup: func(d *driver) {
		d.loaded()
		d.press("v", "space", "j", "j", "space", "j")
	}},
	{name: "snapshots_filter_badge", setup: func(d *driver) {
		d.loaded()
		d.press("/")
		d.typeText("prod")
		d.press("enter")
	}},
	{name: "history_detail", setup: func(d *driver) { d.loaded(); d.press("5", "j", "j", "j", "j", "enter") }},
	{name: "environments_detail", setup: func(d *driver) { d.loaded(); d.press("3", "enter") }},
	{name: "environments_detail_prod", setup: func(d *driver) { d.loaded(); d.press("3", "j", "enter") }},
	{name: "help_scrolled", setup: func(d *driver) { d.loaded(); d.press("?", "j", "j", "j") }},
	{name: "snapshots_detail", setup: func(d *driver) { d.loaded(); d.press("G", "k", "enter") }},
	{name: "snapshots_error", fake: func(b *fakebackend.Backend) {
		b.Errs = map[string]error{"Snapshots": &ui.Problem{Kind: ui.ProblemCredentials, Err: errors.New("operation error ECR: DescribeImages, https response error StatusCode: 400, ExpiredTokenException: token expired")}}
	}, setup: func(d *driver) { d.loaded() }},
	{name: "commits", setup: func(d *driver) { d.loaded(); d.press("2", "j") }},
	{name: "environments", setup: func(d *driver) { d.loaded(); d.press("3") }},
	{name: "environments_errors", fake: func(b *fakebackend.Backend) {
		b.Errs = map[string]error{"DevEnv": &ui.Problem{Kind: ui.ProblemUnreachable, Err: errors.New("dial tcp 10.0.1.23:22: connect: connection refused")}}
		b.Block = map[string]bool{"ProdEnv": true}
	}, setup: func(d *driver) { d.loaded(); d.press("3", "j") }},
	{name: "history", setup: func(d *driver) { d.loaded(); d.press("5") }},
	{name: "confirm_dev", fake: func(b *fakebackend.Backend) { b.Head.Dirty = true }, setup: func(d *driver) {
		d.loaded()
		d.press("d")
		d.wait("plan", d.m.PlanReady)
	}},
	{name: "confirm_dev_running", fake: func(b *fakebackend.Backend) {
		_, tag, _ := strings.Cut(b.Dev.Image, ":")
		b.Head.Tag = tag
	}, setup: func(d *driver) {
		d.loaded()
		d.press("d")
		d.wait("plan", d.m.PlanReady)
	}},
	{name: "confirm_promote", setup: func(d *driver) {
		d.loaded()
		d.press("j", "p")
		d.wait("plan", d.m.PlanReady)
	}},
	{name: "confirm_promote_refused", setup: func(d *driver) {
		d.loaded()
		d.press("G", "p")
		d.wait("plan", func() bool { return d.m.HasLine("this plan will not run") })
	}},
	{name: "confirm_rollback", setup: func(d *driver) {
		d.loaded()
		d.press("3", "j", "b")
		d.wait("plan", d.m.PlanReady)
	}},
	{name: "confirm_rollback_dev", setup: func(d *driver) {
		d.loaded()
		d.press("3", "b")
		d.wait("plan", d.m.PlanReady)
	}},
	{name: "run_idle", setup: func(d *driver) { d.loaded(); d.press("4") }},
	{name: "run_running", fake: func(b *fakebackend.Backend) { b.HoldStep = "push image" }, setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool { return d.m.HasLine("55%") })
	}},
	{name: "run_cancel_prompt", fake: func(b *fakebackend.Backend) { b.HoldStep = "build image" }, setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool {
			return slices.Contains(d.m.StepStatuses(), "build image=running") && len(d.m.RunLog("build image")) == 21
		})
		d.press("ctrl+c")
	}},
	{name: "run_cancelled", fake: func(b *fakebackend.Backend) { b.HoldStep = "build image" }, setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool {
			return slices.Contains(d.m.StepStatuses(), "build image=running") && len(d.m.RunLog("build image")) == 21
		})
		d.press("ctrl+c", "y")
		d.wait("run end", func() bool { return !d.m.RunActive() && d.m.Loaded() })
	}},
	{name: "run_failed", fake: func(b *fakebackend.Backend) { b.FailStep = "build image" }, setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool { return d.m.RunStarted() && !d.m.RunActive() && d.m.Loaded() })
	}},
	{name: "run_succeeded", setup: func(d *driver) {
		d.loaded()
		runTo(d, func() bool { return d.m.RunStarted() && !d.m.RunActive() && d.m.Loaded() })
	}},
	{name: "help", setup: func(d *driver) { d.loaded(); d.press("?") }},
}

func TestGolden(t *testing.T) {
	for _, size := range [][2]int{{60, 20}, {80, 24}, {120, 40}} {
		for _, gc := range goldenCases {
			t.Run(fmt.Sprintf("%s_%dx%d", gc.name, size[0], size[1]), func(t *testing.T) {
				b := fake(300)
				if gc.fake != nil {
					gc.fake(b)
				}
				d := newDriver(t, b, ui.Options{}, size[0], size[1])
				gc.setup(d)
				golden.RequireEqual(t, d.m.Screen())
			})
		}
	}
}

// TestGoldenNarrow renders a few screens on a terminal narrower than the full tab bar:
// every tab keeps its number and the active one its title.
func TestGoldenNarrow(t *testing.T) {
	for _, gc := range goldenCases {
		if gc.name != "snapshots" && gc.name != "environments" && gc.name != "run_running" {
			continue
		}
		t.Run(gc.name+"_56x20", func(t *testing.T) {
			b := fake(300)
			if gc.fake != nil {
				gc.fake(b)
			}
			d := newDriver(t, b, ui.Options{}, 56, 20)
			gc.setup(d)
			golden.RequireEqual(t, d.m.Screen())
		})
	}
}

// TestGoldenWide renders the lists on a wide terminal, where Snapshots has room
// for the commit subject.
func TestGoldenWide(t *testing.T) {
	for _, gc := range goldenCases {
		if gc.name != "snapshots" && gc.name != "commits" && gc.name != "history" {
			continue
		}
		t.Run(gc.name+"_200x50", func(t *testing.T) {
			d := newDriver(t, fake(300), ui.Options{}, 200, 50)
			gc.setup(d)
			golden.RequireEqual(t, d.m.Screen())
		})
	}
}
