package ui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/ui"
)

// A project without prod (the embedded default) is not a prod outage: no error,
// no retry hint, and b rolls back dev.
func TestProdNotConfigured(t *testing.T) {
	b := fake(20)
	b.Prod = ui.ProdEnv{Deployment: "django-app", Err: fmt.Errorf("%w: prod.host is not set; set it in gantry.toml", ui.ErrNotConfigured)}
	d := newDriver(t, b, ui.Options{}, 100, 30)
	d.loaded()
	d.press("3")
	if !d.m.HasLine("not configured: prod.host is not set") {
		t.Errorf("Environments does not say prod is not configured:\n%s", d.m.Screen())
	}
	for _, bad := range []string{"✗ prod", "press r to retry", "prod error"} {
		if strings.Contains(d.m.Screen(), bad) {
			t.Errorf("the screen shows %q for a prod that is only not set up:\n%s", bad, d.m.Screen())
		}
	}
	if !d.m.HasLine("dev 1.", "prod not configured") {
		t.Errorf("the footer does not say prod is not configured:\n%s", d.m.Screen())
	}
	d.press("1", "b")
	if !d.m.HasLine("Roll back dev?") {
		t.Errorf("b outside Environments should roll back dev when there is no prod:\n%s", d.m.Screen())
	}
}

// With prod set up, b on Snapshots still means prod.
func TestRollbackDefaultsToProd(t *testing.T) {
	d := newDriver(t, fake(20), ui.Options{}, 100, 30)
	d.loaded()
	d.press("b")
	if !d.m.HasLine("Roll back prod?") {
		t.Errorf("b on Snapshots:\n%s", d.m.Screen())
	}
}

// On History, b rolls back the environment of the selected entry.
func TestHistoryRollbackFollowsSelection(t *testing.T) {
	d := newDriver(t, fake(100), ui.Options{}, 120, 40)
	d.loaded()
	d.press("5")
	seen := map[string]bool{}
	for range 10 {
		env := selectedHistoryEnv(t, d.m.Screen())
		d.press("b")
		want := "Roll back " + env + "?"
		if !d.m.HasLine(want) {
			t.Fatalf("b on a %s entry: want %q:\n%s", env, want, d.m.Screen())
		}
		seen[env] = true
		d.press("esc")
		d.settle()
		d.press("j")
	}
	if !seen["dev"] || !seen["prod"] {
		t.Fatalf("the first ten entries cover only %v; the test needs both", seen)
	}
}

// selectedHistoryEnv reads the ENV column of the cursor row on History.
func selectedHistoryEnv(t *testing.T, screen string) string {
	t.Helper()
	for _, l := range strings.Split(screen, "\n") {
		if !strings.HasPrefix(l, "›") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if f == "dev" || f == "prod" {
				return f
			}
		}
	}
	t.Fatalf("no selected History row with an env:\n%s", screen)
	return ""
}

func TestHistoryCountsOneEntry(t *testing.T) {
	b := fake(20)
	b.Audit = b.Audit[:1]
	d := newDriver(t, b, ui.Options{}, 100, 30)
	d.loaded()
	d.press("5")
	if !d.m.HasLine("History", "1 deploy, promote or rollback") {
		t.Errorf("History header for one entry:\n%s", d.m.Screen())
	}
}

// A container that is not running has no health to show.
func TestStoppedDevShowsNoHealth(t *testing.T) {
	b := fake(20)
	b.Dev.Running, b.Dev.State, b.Dev.Health = false, "exited", ""
	d := newDriver(t, b, ui.Options{}, 100, 30)
	d.loaded()
	d.press("3")
	if !d.m.HasLine("○ exited") || d.m.HasLine("no healthcheck") || !d.m.HasLine("health", "-") {
		t.Errorf("a stopped dev container:\n%s", d.m.Screen())
	}
}

// Environments shows what GitHub's Deployments record for each environment.
func TestEnvironmentsShowGitHubDeployments(t *testing.T) {
	b := fake(20)
	b.Dev.GitHub = "success · 1.4.2-SNAPSHOT-3f2a9c1 · 5m0s ago"
	b.Prod.GitHub = "failure · 1.4.3-SNAPSHOT-aaaaaaa · 1m0s ago"
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("3")
	if !d.m.HasLine("github", "success · 1.4.2-SNAPSHOT-3f2a9c1") || !d.m.HasLine("github", "failure · 1.4.3-SNAPSHOT-aaaaaaa") {
		t.Errorf("Environments does not show the GitHub deployment of dev and prod:\n%s", d.m.Screen())
	}
}
