package ui_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/ui"
)

func TestFirstFrameShowsLoadingStates(t *testing.T) {
	b := fake(50)
	m := ui.NewTestModel(b, ui.Options{Now: func() time.Time { return clock }, Theme: "dark"})
	_ = m.Init()
	// Init only returns Cmds: nothing has been called yet, and the frame
	// already says what is loading.
	if calls := b.Calls(); len(calls) != 0 {
		t.Fatalf("Init did I/O: %v", calls)
	}
	screen := m.Screen()
	for _, want := range []string{"gantry", "bookshop", "ecr", "loading…", "⟳ images 0…"} {
		if !strings.Contains(screen, want) {
			t.Errorf("first frame lacks %q:\n%s", want, screen)
		}
	}
}

func TestSnapshotsStreamInPages(t *testing.T) {
	b := fake(250)
	b.PageSize = 100
	b.PageDelay = 30 * time.Millisecond
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.wait("first page", func() bool { all, _ := d.m.SnapshotCount(); return all > 0 })
	if all, _ := d.m.SnapshotCount(); all != 100 || !d.m.SnapshotsLoading() {
		t.Fatalf("after the first page: %d rows, loading %v", all, d.m.SnapshotsLoading())
	}
	if !d.m.HasLine("loading… 100 so far") {
		t.Fatalf("progress of the listing not shown:\n%s", d.m.Screen())
	}
	d.loaded()
	all, matched := d.m.SnapshotCount()
	if all != 250 || matched != 250 {
		t.Fatalf("rows = %d matched = %d, want 250", all, matched)
	}
	tags := d.m.MatchedTags()
	if tags[0] != b.Snaps[0].Tag {
		t.Errorf("first row %s, want the newest push %s", tags[0], b.Snaps[0].Tag)
	}
	if !d.m.HasLine(b.Snaps[0].Tag, "3m ago", "DEV") {
		t.Errorf("newest snapshot not drawn with age and DEV badge:\n%s", d.m.Screen())
	}
	// The prod image is a release tag; the snapshot sharing its digest gets both badges.
	prod := b.Snaps[20]
	if !d.m.HasLine(prod.Tag, "PROD", prod.Tags[1]) {
		t.Errorf("%s not drawn with PROD and %s badges:\n%s", prod.Tag, prod.Tags[1], d.m.Screen())
	}
}

func TestFilterNarrowsAndClears(t *testing.T) {
	b := fake(300)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()

	d.press("/")
	d.typeText("1.0.3")
	all, matched := d.m.SnapshotCount()
	if all != 300 || matched != 20 {
		t.Fatalf("after filter 1.0.3: %d of %d match, want 20 of 300", matched, all)
	}
	for _, tag := range d.m.MatchedTags() {
		if !strings.Contains(tag, "1.0.3") {
			t.Errorf("filter kept %s", tag)
		}
	}
	// Narrowing further, then widening again with backspace.
	d.typeText(" zzz")
	if _, matched := d.m.SnapshotCount(); matched != 0 {
		t.Fatalf("nonsense term still matches %d", matched)
	}
	if !d.m.HasLine("nothing matches") {
		t.Errorf("empty result not explained:\n%s", d.m.Screen())
	}
	d.press("backspace", "backspace", "backspace", "backspace")
	if _, matched := d.m.SnapshotCount(); matched != 20 {
		t.Fatalf("after backspace: %d match, want 20", matched)
	}
	// Typing in the filter must not trigger commands: "d" and "q" are text here.
	d.typeText("dq")
	if d.m.ActiveTab() != "Snapshots" || d.quit {
		t.Fatalf("filter text triggered a command")
	}
	d.press("backspace", "backspace", "enter")
	// Enter keeps the filter; esc clears it.
	if _, matched := d.m.SnapshotCount(); matched != 20 {
		t.Fatalf("enter dropped the filter")
	}
	d.press("esc")
	if _, matched := d.m.SnapshotCount(); matched != 300 {
		t.Fatalf("esc left %d rows, want 300", matched)
	}
}

func TestFilterMatchesSHAAndReleaseTag(t *testing.T) {
	b := fake(100)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	target := b.Snaps[42]
	d.press("/")
	d.typeText(strings.ToUpper(target.ShortSHA))
	if tags := d.m.MatchedTags(); !slices.Contains(tags, target.Tag) {
		t.Fatalf("filter by SHA %s: %v", target.ShortSHA, tags)
	}
	d.press("esc", "/")
	d.typeText(b.Snaps[20].Tags[1]) // a vX.Y.Z tag on the digest
	if tags := d.m.MatchedTags(); len(tags) != 1 || tags[0] != b.Snaps[20].Tag {
		t.Fatalf("filter by release tag: %v", tags)
	}
}

func TestGroupByVersionKeepsSelection(t *testing.T) {
	b := fake(100)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("j", "j", "j")
	sel := d.m.SelectedSnapshot()
	if sel != b.Snaps[3].Tag {
		t.Fatalf("after jjj selected %s, want %s", sel, b.Snaps[3].Tag)
	}
	d.press("v")
	if got := d.m.SelectedSnapshot(); got != sel {
		t.Fatalf("grouping moved the cursor to %s", got)
	}
	if !d.m.HasLine("▾ "+b.Snaps[0].Version, "(20)") {
		t.Fatalf("no group header:\n%s", d.m.Screen())
	}
	// Moving down across a header lands on the next group's first snapshot.
	for range 17 {
		d.press("j")
	}
	if got := d.m.SelectedSnapshot(); got != b.Snaps[20].Tag {
		t.Fatalf("crossing a header selected %s, want %s", got, b.Snaps[20].Tag)
	}
	d.press("k")
	if got := d.m.SelectedSnapshot(); got != b.Snaps[19].Tag {
		t.Fatalf("back over the header selected %s, want %s", got, b.Snaps[19].Tag)
	}
}

func TestVimMovement(t *testing.T) {
	b := fake(500)
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("G")
	if got := d.m.SelectedSnapshot(); got != b.Snaps[499].Tag {
		t.Fatalf("G selected %s", got)
	}
	d.press("g")
	if got := d.m.SelectedSnapshot(); got != b.Snaps[0].Tag {
		t.Fatalf("g selected %s", got)
	}
	d.press("ctrl+d")
	half := slices.Index(d.m.MatchedTags(), d.m.SelectedSnapshot())
	if half < 5 {
		t.Fatalf("ctrl+d moved to %d", half)
	}
	d.press("ctrl+u")
	if got := d.m.SelectedSnapshot(); got != b.Snaps[0].Tag {
		t.Fatalf("ctrl+u selected %s", got)
	}
	// Only a window of rows is drawn however many there are.
	if n := d.m.VisibleRows(); n > 24 {
		t.Fatalf("drew %d rows in a 24-line terminal", n)
	}
}

func TestTabsAndNumberKeys(t *testing.T) {
	d := newDriver(t, fake(10), ui.Options{}, 80, 24)
	want := []string{"Commits", "Environments", "Run", "History", "Snapshots"}
	for _, w := range want {
		d.press("tab")
		if got := d.m.ActiveTab(); got != w {
			t.Fatalf("tab → %s, want %s", got, w)
		}
	}
	d.press("shift+tab")
	if got := d.m.ActiveTab(); got != "History" {
		t.Fatalf("shift+tab → %s", got)
	}
	for i, w := range []string{"Snapshots", "Commits", "Environments", "Run", "History"} {
		d.press(string(rune('1' + i)))
		if got := d.m.ActiveTab(); got != w {
			t.Fatalf("%d → %s, want %s", i+1, got, w)
		}
	}
	// A screen key pressed over the full help goes to that screen and closes the help.
	d.press("?")
	if !d.m.HelpShown() {
		t.Fatal("? shows no help")
	}
	d.press("2")
	if got := d.m.ActiveTab(); got != "Commits" || d.m.HelpShown() {
		t.Fatalf("2 over the help → %s, help still shown: %v", got, d.m.HelpShown())
	}
	d2 := newDriver(t, fake(10), ui.Options{Screen: "history"}, 80, 24)
	if got := d2.m.ActiveTab(); got != "History" {
		t.Fatalf("Options.Screen history opened %s", got)
	}
}

func TestEnterOnCommitJumpsToSnapshot(t *testing.T) {
	b := fake(100)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("2")
	// The newest commit has no snapshot: enter explains instead of jumping.
	if c := d.m.SelectedCommit(); c.SnapshotTag != "" {
		t.Fatalf("fixture: newest commit has snapshot %s", c.SnapshotTag)
	}
	d.press("enter")
	d.settle()
	if d.m.ActiveTab() != "Commits" || !strings.Contains(d.m.StatusText(), "no snapshot") {
		t.Fatalf("enter on a commit without snapshot: tab %s status %q", d.m.ActiveTab(), d.m.StatusText())
	}
	for range 5 {
		d.press("j")
	}
	want := d.m.SelectedCommit().SnapshotTag
	if want == "" {
		t.Fatal("fixture: commit has no snapshot")
	}
	// A filter on Snapshots that hides the target is cleared by the jump.
	d.press("1", "/")
	d.typeText("no-such-tag")
	d.press("enter", "2", "enter")
	d.wait("jump", func() bool { return d.m.ActiveTab() == "Snapshots" })
	if got := d.m.SelectedSnapshot(); got != want {
		t.Fatalf("jumped to %q, want %q", got, want)
	}
}

func TestDeployNeedsConfirmation(t *testing.T) {
	b := fake(30)
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()

	d.press("d")
	d.wait("dev plan", d.m.PlanReady)
	if !d.m.HasLine("image tag", b.Head.Tag) {
		t.Fatalf("plan not shown:\n%s", d.m.Screen())
	}
	if b.Called("RunDev") {
		t.Fatal("RunDev called before confirmation")
	}
	// Keys that are commands elsewhere do nothing in the modal.
	d.press("p", "b", "2", "tab")
	if d.m.ActiveTab() != "Confirm" || b.Called("RunDev") {
		t.Fatalf("modal let keys through: tab %s", d.m.ActiveTab())
	}
	d.press("n")
	d.settle()
	if d.m.ActiveTab() == "Confirm" || b.Called("RunDev") || d.m.RunStarted() {
		t.Fatalf("n did not cancel: tab %s, RunDev called %v", d.m.ActiveTab(), b.Called("RunDev"))
	}

	d.press("d")
	d.wait("dev plan", d.m.PlanReady)
	d.press("esc")
	d.settle()
	if b.Called("RunDev") {
		t.Fatal("esc ran the deploy")
	}

	d.press("d")
	d.wait("dev plan", d.m.PlanReady)
	d.press("y")
	d.wait("run end", func() bool { return d.m.RunStarted() && !d.m.RunActive() })
	if !b.Called("RunDev") {
		t.Fatal("confirmed deploy did not call RunDev")
	}
	if d.m.ActiveTab() != "Run" {
		t.Fatalf("run shown on %s", d.m.ActiveTab())
	}
}

// A refused plan is shown with its reason and not offered: y and enter do nothing.
func TestRefusedPlanIsNotOffered(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("G", "p")
	d.wait("plan answer", func() bool { return d.m.HasLine("this plan will not run") })
	if !d.m.HasLine("✗", "never moves") || d.m.HasLine("y/enter promote") {
		t.Fatalf("refused plan:\n%s", d.m.Screen())
	}
	d.press("y", "enter")
	d.settle()
	if b.Called("RunPromote") || d.m.RunStarted() {
		t.Fatal("a refused plan ran")
	}
}

func TestPlanErrorBlocksConfirm(t *testing.T) {
	b := fake(30)
	b.Errs = map[string]error{"PlanPromote": errors.New("v1.1.0 already names another digest")}
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("p")
	d.wait("plan answer", func() bool { return d.m.HasLine("v1.1.0 already names another digest") })
	d.press("y", "enter")
	d.settle()
	if b.Called("RunPromote") || d.m.RunStarted() {
		t.Fatal("confirmed a failed plan")
	}
	if !d.m.HasLine("nothing was changed") {
		t.Fatalf("error not explained:\n%s", d.m.Screen())
	}
}

func TestPromoteShowsPlanAndRuns(t *testing.T) {
	b := fake(60)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("j") // a snapshot that is not the newest
	tag := d.m.SelectedSnapshot()
	d.press("p")
	d.wait("promote plan", d.m.PlanReady)
	for _, want := range [][]string{{"snapshot", tag}, {"release", "v"}, {"notes", "What's changed"}, {"⚠", "not the newest"}} {
		if !d.m.HasLine(want...) {
			t.Errorf("plan lacks %q:\n%s", want, d.m.Screen())
		}
	}
	d.press("enter")
	d.wait("run end", func() bool { return d.m.RunStarted() && !d.m.RunActive() })
	fin, errText := d.m.RunFinished()
	if !fin || errText != "" {
		t.Fatalf("promote finished=%v err=%q", fin, errText)
	}
	// The summary puts what one acts on first (the release URL, then the digest), and
	// the other results in the order the steps set them.
	screen := d.m.Screen()
	iDigest, iURL, iTags := strings.Index(screen, "digest "), strings.Index(screen, "release_url"), strings.Index(screen, "tags ")
	if iDigest < 0 || iURL < 0 || iTags < 0 || !(iURL < iDigest && iDigest < iTags) {
		t.Fatalf("summary order (release_url %d, digest %d, tags %d):\n%s", iURL, iDigest, iTags, screen)
	}
}

func TestRunEventsUpdateSteps(t *testing.T) {
	b := fake(30)
	b.FailStep = "push image"
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("run end", func() bool { return d.m.RunStarted() && !d.m.RunActive() })
	want := []string{
		"read version=succeeded", "aws auth=succeeded", "ecr login=succeeded", "build image=succeeded",
		"push image=failed", "deploy on dev host=pending", "remove old images=pending",
	}
	if got := d.m.StepStatuses(); !slices.Equal(got, want) {
		t.Fatalf("steps:\n got %v\nwant %v", got, want)
	}
	if n := len(d.m.RunLog("build image")); n != 40 {
		t.Errorf("build image kept %d log lines, want 40", n)
	}
	fin, errText := d.m.RunFinished()
	if !fin || !strings.Contains(errText, "push image") {
		t.Fatalf("RunFinished %v %q", fin, errText)
	}
	if !d.m.HasLine("✗", "push image", "exit status 1") || !d.m.HasLine("failed at push image") {
		t.Fatalf("failure not shown:\n%s", d.m.Screen())
	}
	// The failed step's log is selected so what broke is on screen.
	if !d.m.HasLine("log · push image") {
		t.Fatalf("failed step's log not shown:\n%s", d.m.Screen())
	}
	if !strings.Contains(d.m.StatusText(), "failed") {
		t.Errorf("status %q", d.m.StatusText())
	}
}

func TestSkippedStepShowsReason(t *testing.T) {
	b := fake(30)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("run end", func() bool { return d.m.RunStarted() && !d.m.RunActive() })
	if !d.m.HasLine("⊘", "remove old images", "skipped: no unused images") {
		t.Fatalf("skip reason not shown:\n%s", d.m.Screen())
	}
	if !d.m.HasLine("image_tag", b.Head.Tag) {
		t.Fatalf("summary missing:\n%s", d.m.Screen())
	}
}

func TestCtrlCDuringRunAsksThenYCancels(t *testing.T) {
	b := fake(30)
	b.HoldStep = "build image"
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("build image running", func() bool { return slices.Contains(d.m.StepStatuses(), "build image=running") })

	// A second workflow cannot start while one runs.
	d.press("d")
	d.settle()
	if d.m.ActiveTab() != "Run" || !strings.Contains(d.m.StatusText(), "a run is in progress") {
		t.Fatalf("d during a run: tab %s status %q", d.m.ActiveTab(), d.m.StatusText())
	}
	d.press("ctrl+c")
	if !d.m.AskingCancel() || d.quit {
		t.Fatalf("first ctrl+c: asking=%v quit=%v", d.m.AskingCancel(), d.quit)
	}
	if !d.m.HasLine("cancel the run?") {
		t.Fatalf("no prompt:\n%s", d.m.Screen())
	}
	// n keeps it running.
	d.press("n")
	if d.m.AskingCancel() || !d.m.RunActive() {
		t.Fatal("n did not keep the run")
	}
	// q during a run asks too rather than walking away from it.
	d.press("q")
	if !d.m.AskingCancel() || d.quit {
		t.Fatal("q during a run did not ask")
	}
	d.press("y")
	d.wait("run end", func() bool { return !d.m.RunActive() })
	if d.quit {
		t.Fatal("y quit instead of cancelling")
	}
	_, ctxErr := b.LastRun()
	if !errors.Is(ctxErr, context.Canceled) {
		t.Fatalf("run context error %v, want context.Canceled", ctxErr)
	}
	want := []string{"read version=succeeded", "aws auth=succeeded", "ecr login=succeeded", "build image=cancelled",
		"push image=pending", "deploy on dev host=pending", "remove old images=pending"}
	if got := d.m.StepStatuses(); !slices.Equal(got, want) {
		t.Fatalf("steps:\n got %v\nwant %v", got, want)
	}
	if !d.m.HasLine("cancelled at build image") {
		t.Fatalf("stop point not shown:\n%s", d.m.Screen())
	}
	d.press("ctrl+c")
	d.settle()
	if !d.quit {
		t.Fatal("ctrl+c after the run did not quit")
	}
}

// TestSecondCtrlCQuits: as README says, the second ctrl+c during a run quits,
// cancelling the run first.
func TestSecondCtrlCQuits(t *testing.T) {
	b := fake(30)
	b.HoldStep = "build image"
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("build image running", func() bool { return slices.Contains(d.m.StepStatuses(), "build image=running") })
	d.press("ctrl+c")
	if d.quit || !d.m.AskingCancel() {
		t.Fatalf("first ctrl+c: quit=%v asking=%v", d.quit, d.m.AskingCancel())
	}
	d.press("ctrl+c")
	d.settle()
	if !d.quit {
		t.Fatal("second ctrl+c did not quit")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := b.LastRun(); errors.Is(err, context.Canceled) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("quitting did not cancel the run")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCtrlCTwiceQuitsWhileCancelling(t *testing.T) {
	b := fake(30)
	b.HoldStep = "build image"
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("build image running", func() bool { return slices.Contains(d.m.StepStatuses(), "build image=running") })
	d.press("ctrl+c", "y")
	if d.m.AskingCancel() {
		t.Fatal("y did not answer the prompt")
	}
	// A stuck run must not trap the user: ctrl+c once cancel is requested quits.
	_, cmd := d.m.Update(keyPress("ctrl+c"))
	if cmd == nil {
		t.Fatal("no quit command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c while cancelling did not quit")
	}
}

func TestQuitWhenIdle(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		d := newDriver(t, fake(5), ui.Options{}, 80, 24)
		d.loaded()
		d.press(k)
		d.settle()
		if !d.quit {
			t.Errorf("%s did not quit", k)
		}
	}
}

func TestLoadErrorsShowInlineWithFix(t *testing.T) {
	b := fake(20)
	b.Errs = map[string]error{
		"Snapshots": &ui.Problem{Kind: ui.ProblemCredentials, Err: errors.New("ExpiredTokenException: the security token included in the request is expired")},
		"DevEnv":    &ui.Problem{Kind: ui.ProblemUnreachable, Err: errors.New("dial tcp 10.0.1.23:22: connect: connection refused")},
		"History":   errors.New("audit table missing"),
	}
	b.Block = map[string]bool{"ProdEnv": true} // ignores nothing, just never answers in time
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	if !d.m.HasLine("✗ registry", "ExpiredTokenException") || !d.m.HasLine("aws sso login") {
		t.Errorf("snapshots error/fix missing:\n%s", d.m.Screen())
	}
	d.press("3")
	if !d.m.HasLine("✗ dev host", "connection refused") || !d.m.HasLine("check the host, SSH key") {
		t.Errorf("dev error/fix missing:\n%s", d.m.Screen())
	}
	if !d.m.HasLine("✗ prod cluster", "timed out") || !d.m.HasLine("did not answer in time") {
		t.Errorf("prod timeout missing:\n%s", d.m.Screen())
	}
	d.press("5")
	if !d.m.HasLine("✗ audit log", "audit table missing") || !d.m.HasLine("press r to retry") {
		t.Errorf("history error missing:\n%s", d.m.Screen())
	}
	// r retries; once the backend recovers the error is gone.
	b.SetErrs(nil)
	d.press("r")
	d.wait("history reload", func() bool { return !d.m.HasLine("✗ audit log") && d.m.HasLine("deployed") })
}

func TestBackendIgnoringContextCannotHangTheUI(t *testing.T) {
	b := fake(20)
	b.Block = map[string]bool{"Commits": true, "DevEnv": true}
	d := newDriver(t, b, ui.Options{}, 80, 24)
	d.loaded() // would time out if a load waited on the backend forever
	d.press("2")
	if !d.m.HasLine("✗ git", "timed out") {
		t.Fatalf("commits timeout not shown:\n%s", d.m.Screen())
	}
}

func TestRefreshAfterRunShowsNewState(t *testing.T) {
	b := fake(30)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("d")
	d.wait("plan", d.m.PlanReady)
	d.press("y")
	d.wait("run end and reload", func() bool { return d.m.RunStarted() && !d.m.RunActive() && d.m.Loaded() })
	d.press("1")
	// The fake pushed a new snapshot and runs it on dev: the reload shows it on top with DEV.
	if got := d.m.MatchedTags()[0]; got != b.Head.Tag {
		t.Fatalf("top row %s, want the new %s", got, b.Head.Tag)
	}
	if !d.m.HasLine(b.Head.Tag, "DEV") {
		t.Fatalf("new snapshot lacks DEV badge:\n%s", d.m.Screen())
	}
}

func TestResizeKeepsFrameExact(t *testing.T) {
	d := newDriver(t, fake(200), ui.Options{}, 120, 40)
	d.loaded()
	for _, size := range [][2]int{{80, 24}, {60, 15}, {200, 60}, {120, 40}} {
		d.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for _, tab := range []string{"1", "2", "3", "4", "5"} {
			d.press(tab)
			lines := strings.Split(d.m.Screen(), "\n")
			if len(lines) != size[1] {
				t.Fatalf("%dx%d tab %s: %d lines", size[0], size[1], tab, len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Fatalf("%dx%d tab %s line %d is %d wide: %q", size[0], size[1], tab, i, w, l)
				}
			}
		}
	}
}

func TestRollbackNeedsConfirmation(t *testing.T) {
	b := fake(100)
	d := newDriver(t, b, ui.Options{}, 120, 40)
	d.loaded()
	d.press("3", "j", "b")
	d.wait("rollback plan", d.m.PlanReady)
	if !d.m.HasLine("Roll back prod?") || !d.m.HasLine("goes back to", "v1.") || !d.m.HasLine("target", "deployment/django-app") {
		t.Fatalf("rollback confirm:\n%s", d.m.Screen())
	}
	d.press("esc")
	d.settle()
	if b.Called("RunRollback") {
		t.Fatal("rollback ran without confirmation")
	}
	d.press("k", "b")
	d.wait("rollback plan", d.m.PlanReady)
	d.press("y")
	d.wait("rollback end", func() bool { return d.m.RunStarted() && !d.m.RunActive() })
	if !b.Called("RunRollback") || !d.m.HasLine("Run · rollback dev") {
		t.Fatalf("rollback dev did not run:\n%s", d.m.Screen())
	}
}
