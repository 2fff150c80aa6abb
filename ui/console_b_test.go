package ui_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/ui"
)

// `/` matches what the row shows: the digest column and the DEV/PROD badges too.
func TestFilterMatchesDigestBadgesAndSubject(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 200, 50)
	d.loaded()
	target := b.Snaps[7]
	digest := strings.TrimPrefix(target.Digest, "sha256:")[:12]
	d.press("/")
	d.typeText(digest)
	if got := d.m.MatchedTags(); len(got) != 1 || got[0] != target.Tag {
		t.Fatalf("filter by the digest column %s: %v", digest, got)
	}
	d.press("esc", "/")
	d.typeText("prod")
	got := d.m.MatchedTags()
	if len(got) != 1 {
		t.Fatalf("filter by the PROD badge: %v", got)
	}
	d.press("esc", "/")
	d.typeText("dev")
	_, devTag, _ := strings.Cut(b.Dev.Image, ":")
	if got := d.m.MatchedTags(); !slices.Contains(got, devTag) {
		t.Fatalf("filter by the DEV badge lacks %s: %v", devTag, got)
	}
	d.press("esc")
	// The subject joins from the commits by SHA, shows when there is room, and matches.
	if !d.m.HasLine(b.Snaps[0].ShortSHA, "Add wishlist page") {
		t.Fatalf("no commit subject on a 200-column Snapshots:\n%s", d.m.Screen())
	}
	d.press("/")
	d.typeText("wishlist")
	for _, tag := range d.m.MatchedTags() {
		if !d.m.HasLine(tag) {
			continue
		}
		if !d.m.HasLine(tag, "wishlist") {
			t.Fatalf("%s matched wishlist but its subject is not shown:\n%s", tag, d.m.Screen())
		}
	}
	if len(d.m.MatchedTags()) == 0 || len(d.m.MatchedTags()) == len(b.Snaps) {
		t.Fatalf("filter by subject matched %d of %d", len(d.m.MatchedTags()), len(b.Snaps))
	}
}

func TestFoldVersionGroups(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("v", "space")
	v := b.Snaps[0].Version
	if !d.m.HasLine("▸ "+v, "(20)") || d.m.HasLine(b.Snaps[1].Tag) {
		t.Fatalf("space did not fold %s:\n%s", v, d.m.Screen())
	}
	if d.m.SelectedSnapshot() != "" {
		t.Fatalf("the cursor should sit on the folded header, got %s", d.m.SelectedSnapshot())
	}
	d.press("p")
	if !strings.Contains(d.m.StatusText(), "no snapshot") {
		t.Fatalf("p on a header: status %q", d.m.StatusText())
	}
	d.press("enter")
	if !d.m.HasLine("▾ "+v, "(20)") || !d.m.HasLine(b.Snaps[1].Tag) || d.m.SelectedSnapshot() != b.Snaps[0].Tag {
		t.Fatalf("enter on the folded header did not unfold it (selected %s):\n%s", d.m.SelectedSnapshot(), d.m.Screen())
	}
	// Jumping to a snapshot in a folded group unfolds it.
	d.press("space", "2")
	d.press("j", "enter")
	d.settle()
	if got := d.m.SelectedSnapshot(); got != b.Snaps[0].Tag {
		t.Fatalf("jump into a folded group selected %q", got)
	}
}

func TestDetailsOnHistoryAndEnvironments(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("5", "enter")
	e := b.Audit[0]
	for _, want := range [][]string{{"when", "by " + e.Who}, {"target", e.Env, e.Target, "app " + e.App}, {"version", e.Version, "commit " + e.SHA}, {"result", e.Result}} {
		if !d.m.HasLine(want...) {
			t.Fatalf("history details lack %v:\n%s", want, d.m.Screen())
		}
	}
	d.press("esc")
	if d.m.HasLine("target", e.Target) {
		t.Fatal("esc did not close the history details")
	}
	d.press("3", "enter")
	if !d.m.HasLine("image id", strings.TrimPrefix(b.Dev.ImageID, "sha256:")[:12]) || !d.m.HasLine("ports", "8080:8000") || !d.m.HasLine("reference", b.Dev.Image) {
		t.Fatalf("dev details:\n%s", d.m.Screen())
	}
	d.press("j")
	if !d.m.HasLine("revision", "7") || !d.m.HasLine("namespace", "default") || !d.m.HasLine("state", "rolled out") {
		t.Fatalf("prod details:\n%s", d.m.Screen())
	}
}

// Small terminals keep what each screen is for; the footer keeps `? help`.
func TestSmallTerminalKeepsEssentials(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 60, 20)
	d.loaded()
	check := func(what string, parts ...string) {
		t.Helper()
		if !d.m.HasLine(parts...) {
			t.Fatalf("%s: no line with %v:\n%s", what, parts, d.m.Screen())
		}
	}
	check("footer", "? help", "q quit")
	check("snapshots position", "1/60")
	d.press("5")
	check("history result", "RESULT")
	check("history result", "deployed")
	d.press("2")
	check("commits subject", "SUBJECT")
	if strings.Contains(d.m.Screen(), "  …") || strings.Contains(d.m.Screen(), " …\n") {
		t.Fatalf("an empty cell shows an ellipsis:\n%s", d.m.Screen())
	}
	d.press("?")
	check("help says there is more", "↓ more")
	d.press("G")
	for range 40 { // the help is longer than the screen: scroll past its end
		d.press("j")
	}
	check("help scrolls to the end", "? or esc closes this help")
}

// Stale messages go: "refreshing…" once the loads end, and a dismissed dialog's
// message when the next one opens.
func TestStaleStatusCleared(t *testing.T) {
	b := fake(30)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("r")
	d.wait("refresh", func() bool { return d.m.Loaded() && d.m.StatusText() == "" })
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("n")
	d.settle()
	if !strings.Contains(d.m.StatusText(), "nothing ran") {
		t.Fatalf("status after cancel %q", d.m.StatusText())
	}
	d.press("d")
	if d.m.StatusText() != "" {
		t.Fatalf("the next dialog opened under %q", d.m.StatusText())
	}
}

// During a run, d, p and b typed on Run (or anywhere) start nothing.
func TestRunKeysDoNotFallThroughToActions(t *testing.T) {
	b := fake(30)
	b.HoldStep = "build image"
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("build image running", func() bool { return slices.Contains(d.m.StepStatuses(), "build image=running") })
	for _, k := range []string{"p", "b", "d"} {
		d.press(k)
		d.settle()
		if d.m.ActiveTab() != "Run" || !strings.Contains(d.m.StatusText(), "a run is in progress") {
			t.Fatalf("%s during a run: tab %s status %q", k, d.m.ActiveTab(), d.m.StatusText())
		}
	}
	d.press("ctrl+c", "y")
	d.wait("run end", func() bool { return !d.m.RunActive() })
}
