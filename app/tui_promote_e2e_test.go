package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/cli"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/ui/uitest"
)

// TestTUIPromoteEndToEnd promotes from the console against the real peers (registry,
// SSH host with the cluster, GitHub fake): the confirm shows the snapshot, its digest
// and the deployment the plan targets; after y the run plans exactly those steps and
// targets, and prod runs the image the confirm named.
func TestTUIPromoteEndToEnd(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	reg := testbed.Registry(t)
	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	snap, digest := p.pushSnapshot("", "1.4.2", head)
	image := reg + "/" + p.repoName + ":v1.4.2@" + digest

	rec := uitest.Record(cli.NewBackend(p.app(), t.Logf))
	c := uitest.Start(t, rec.Console(), 120, 40)
	c.WaitFor("the snapshot", time.Minute, func(s string) bool { return strings.Contains(s, snap) })
	c.Keys("p")
	c.WaitFor("the promote plan", 2*time.Minute, func(s string) bool {
		return strings.Contains(s, "Promote to prod?") && strings.Contains(s, "y/enter promote")
	})
	// The confirm scrolls when the plan is longer than the screen: read all of it.
	confirm := c.Screen()
	for i := 0; i < 40 && strings.Contains(c.Screen(), "more lines"); i++ {
		c.Keys("j")
		time.Sleep(30 * time.Millisecond)
		c.WaitFor("the next line of the plan", 10*time.Second, func(string) bool { return true })
		confirm += "\n" + c.Screen()
	}
	approved := rec.Planned()
	if approved.Refused() || approved.Fact("snapshot") != snap || approved.Fact("image") != image {
		t.Fatalf("the promote plan %+v refuses or names another snapshot or image than %s / %s:\n%s", approved, snap, image, confirm)
	}
	if !strings.Contains(confirm, snap) || !strings.Contains(confirm, digest[:19]) {
		t.Errorf("the confirm does not show the snapshot %s and its digest:\n%s", snap, confirm)
	}
	for _, sp := range approved.Steps {
		if !uitest.HasLine(confirm, sp.Step) {
			t.Errorf("the confirm has no line for step %q:\n%s", sp.Step, confirm)
		}
		if sp.Target != "" && !uitest.HasLine(confirm, "target", uitest.Clip(sp.Target, 30)) {
			t.Errorf("the confirm does not show the target %q of %q:\n%s", sp.Target, sp.Step, confirm)
		}
	}
	if rel := p.releases(); len(rel) != 0 {
		t.Fatalf("planning created releases: %+v", rel)
	}
	c.Keys("y")
	c.WaitFor("the promotion to end", 5*time.Minute, func(s string) bool {
		return strings.Contains(s, "✓ succeeded in") || strings.Contains(s, "✗ failed at")
	})
	if s := c.Screen(); !strings.Contains(s, "✓ succeeded in") {
		t.Fatalf("the promotion did not succeed:\n%s", s)
	}
	rec.SameAsApproved(t, approved)
	if d := p.deployment(); d.Images["django-container"] != image {
		t.Fatalf("prod runs %q, the confirm named %q", d.Images["django-container"], image)
	}
	if l := p.latestRelease(); l != "1.4.2" {
		t.Fatalf("latest release %q after the promotion", l)
	}
	c.Keys("q")
	c.Wait(30 * time.Second)
}
