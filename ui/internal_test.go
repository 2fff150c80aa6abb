package ui

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/bookshop-ops/gantry/pipeline"
)

func TestRelTime(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ago  time.Duration
		want string
	}{
		{2 * time.Second, "now"}, {45 * time.Second, "45s ago"}, {3 * time.Minute, "3m ago"},
		{5 * time.Hour, "5h ago"}, {47 * time.Hour, "47h ago"}, {3 * 24 * time.Hour, "3d ago"},
		{90 * 24 * time.Hour, "2024-12-14"}, {-time.Hour, "soon"},
	} {
		if got := relTime(now, now.Add(-c.ago)); got != c.want {
			t.Errorf("relTime(-%s) = %q, want %q", c.ago, got, c.want)
		}
	}
	if got := relTime(now, time.Time{}); got != "-" {
		t.Errorf("zero time: %q", got)
	}
}

func TestHumanBytesAndDurations(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 131_000_000: "131.0 MB", 2_500_000_000: "2.5 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{400 * time.Millisecond: "0.4s", 65 * time.Second: "1m05s", 62 * time.Minute: "1h02m"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestFitMeasuresDisplayWidth(t *testing.T) {
	for _, s := range []string{"abc", "ü-umlaut", "日本語のタグ", "\x1b[31mred\x1b[0m", "✓ ok"} {
		for _, w := range []int{0, 1, 3, 6, 12} {
			if got := ansi.StringWidth(fit(s, w)); got != w {
				t.Errorf("fit(%q, %d) is %d cells wide", s, w, got)
			}
			if got := ansi.StringWidth(fitRight(s, w)); w > 0 && got != w {
				t.Errorf("fitRight(%q, %d) is %d cells wide", s, w, got)
			}
		}
	}
	if got := fit("1.4.0-SNAPSHOT-abc1234", 10); got != "1.4.0-SNA…" {
		t.Errorf("truncation: %q", got)
	}
}

func TestCleanLine(t *testing.T) {
	if got := cleanLine("\x1b[1;32mStep 1/9\x1b[0m\tFROM python"); got != "Step 1/9    FROM python" {
		t.Errorf("cleanLine: %q", got)
	}
	if got := cleanLine("progress\r 50%\x07"); got != "progress 50%" {
		t.Errorf("control characters kept: %q", got)
	}
}

func TestIsReleaseTag(t *testing.T) {
	for tag, want := range map[string]bool{"v1.2.3": true, "v10.0.1": true, "v1.2.3-rc1": true, "1.2.3": false,
		"v1.2": false, "1.2.3-SNAPSHOT-abc1234": false, "latest": false, "vx.y.z": false} {
		if got := isReleaseTag(tag); got != want {
			t.Errorf("isReleaseTag(%q) = %v", tag, got)
		}
	}
}

func TestImageRefMatches(t *testing.T) {
	s := &Snapshot{Tag: "1.4.0-SNAPSHOT-abc1234", Digest: "sha256:feed", Tags: []string{"1.4.0-SNAPSHOT-abc1234", "v1.4.0"}}
	for image, want := range map[string]bool{
		"123.dkr.ecr.eu-west-1.amazonaws.com/bookshop:1.4.0-SNAPSHOT-abc1234": true,
		"123.dkr.ecr.eu-west-1.amazonaws.com/bookshop:v1.4.0":                 true,
		"registry.local:5000/bookshop@sha256:feed":                            true,
		"registry.local:5000/bookshop:v1.4.0@sha256:beef":                     true,
		"sha256:feed":                         true,
		"registry.local:5000/bookshop":        false, // the port is not a tag
		"registry.local:5000/bookshop:v1.3.0": false,
		"":                                    false,
	} {
		if got := parseImageRef(image).matches(s); got != want {
			t.Errorf("%q matches = %v, want %v (%+v)", image, got, want, parseImageRef(image))
		}
	}
}

func TestListNavWindow(t *testing.T) {
	var l listNav
	l.setHeight(5)
	l.setLen(100)
	l.move(7)
	if from, to := l.visible(); l.cursor != 7 || from != 3 || to != 8 {
		t.Fatalf("cursor %d window %d-%d", l.cursor, from, to)
	}
	l.bottom()
	if from, to := l.visible(); l.cursor != 99 || from != 95 || to != 100 {
		t.Fatalf("bottom: cursor %d window %d-%d", l.cursor, from, to)
	}
	l.setLen(3) // the filter shrank the list
	if from, to := l.visible(); l.cursor != 2 || from != 0 || to != 3 {
		t.Fatalf("shrunk: cursor %d window %d-%d", l.cursor, from, to)
	}
	l.setLen(0)
	if from, to := l.visible(); from != 0 || to != 0 || l.cursor != 0 {
		t.Fatalf("empty: cursor %d window %d-%d", l.cursor, from, to)
	}
}

func TestMergeSnapRowsSortsAndDedups(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(tag string, min int) snapRow {
		return makeSnapRow(Snapshot{Tag: tag, PushedAt: base.Add(time.Duration(min) * time.Minute)}, "", nil)
	}
	old := []snapRow{row("c", 30), row("b", 20), row("a", 10)}
	batch := []snapRow{row("d", 40), row("b", 25), row("z", 5)}
	slices.SortStableFunc(batch, compareSnapRows)
	got := mergeSnapRows(old, batch)
	var tags []string
	for _, r := range got {
		tags = append(tags, r.Tag)
	}
	if want := []string{"d", "c", "b", "a", "z"}; !slices.Equal(tags, want) {
		t.Fatalf("merged %v, want %v", tags, want)
	}
	if got[2].PushedAt != base.Add(25*time.Minute) {
		t.Errorf("a repeated tag kept the old row")
	}
}

// The incremental filter (narrowing the previous matches) must give exactly
// what a full scan gives, for any sequence of typing and deleting.
func TestIncrementalFilterEqualsFullScan(t *testing.T) {
	ctx := &programContext{styles: NewStyles(true), keys: DefaultKeyMap(), now: time.Now}
	s := newSnapshotsScreen(ctx)
	s.SetSize(120, 40)
	var snaps []Snapshot
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		v := fmt.Sprintf("1.%d.%d", i/100, i/10%10)
		sha := fmt.Sprintf("%07x", i*7919)
		snaps = append(snaps, Snapshot{Tag: v + "-SNAPSHOT-" + sha, Version: v, ShortSHA: sha, PushedAt: base.Add(time.Duration(i) * time.Minute)})
	}
	s.addPage(snaps)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789.abcdef- "
	for step := range 3000 {
		if s.list.filter.value != "" && rng.IntN(3) == 0 {
			r := []rune(s.list.filter.value)
			s.list.filter.value = string(r[:len(r)-1])
		} else {
			s.list.filter.value += string(alphabet[rng.IntN(len(alphabet))])
		}
		if len(s.list.filter.value) > 6 {
			s.list.filter.value = ""
		}
		s.refilter(true)
		terms := filterTerms(s.list.filter.value)
		var want []int
		for i := range s.rows {
			if matchTerms(s.rows[i].key, terms) {
				want = append(want, i)
			}
		}
		if !slices.Equal(s.matched, want) && !(len(want) == 0 && len(s.matched) == 0) {
			t.Fatalf("step %d query %q: incremental %d rows, full scan %d", step, s.list.filter.value, len(s.matched), len(want))
		}
	}
}

func TestRunQueueKeepsEveryEventInOrder(t *testing.T) {
	q := newRunQueue(1)
	const n = 20000
	go func() {
		for i := range n {
			q.Emit(pipeline.StepLog{Step: 0, Line: fmt.Sprint(i)})
		}
		q.Emit(pipeline.Secret{Value: "hunter2"})
		q.Emit(pipeline.RunFinished{Workflow: "dev"})
		q.finish(nil)
	}()
	var got []pipeline.Event
	for {
		msg := q.next()().(runEventsMsg)
		got = append(got, msg.events...)
		if msg.done {
			break
		}
	}
	if len(got) != n+1 {
		t.Fatalf("got %d events, want %d (secrets dropped, nothing else)", len(got), n+1)
	}
	for i := range n {
		if l := got[i].(pipeline.StepLog).Line; l != fmt.Sprint(i) {
			t.Fatalf("event %d is %q", i, l)
		}
	}
	if _, ok := got[n].(pipeline.RunFinished); !ok {
		t.Fatalf("last event %T", got[n])
	}
}

// A workflow that panics still ends the run, with the panic as its error.
func TestPanickingWorkflowEndsRun(t *testing.T) {
	r := &activeRun{id: 1, req: runRequest{kind: runDev}, queue: newRunQueue(1)}
	r.start(context.Background(), panicky{})()
	msg := r.queue.next()().(runEventsMsg)
	if !msg.done || msg.err == nil || !strings.Contains(msg.err.Error(), "panicked") {
		t.Fatalf("msg %+v", msg)
	}
}

type panicky struct{ Backend }

func (panicky) RunDev(context.Context, pipeline.Plan, pipeline.Sink) error { panic("boom") }

func TestCallTimesOutOnStuckBackend(t *testing.T) {
	start := time.Now()
	got := call(context.Background(), 20*time.Millisecond, func(context.Context) error {
		select {} // ignores its context
	}, func(err error) error { return err })
	if !errors.Is(got, errLoadTimeout) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %s", got, time.Since(start))
	}
}

func TestRunLogIsBounded(t *testing.T) {
	ctx := &programContext{styles: NewStyles(true), keys: DefaultKeyMap(), now: time.Now}
	s := newRunScreen(ctx)
	s.SetSize(80, 20)
	s.reset(1, "dev deploy", time.Now())
	s.apply([]pipeline.Event{pipeline.RunStarted{Workflow: "dev", Steps: []string{"build"}}, pipeline.StepStarted{Step: 0, Name: "build"}})
	var evs []pipeline.Event
	for i := range 3 * maxLogLines {
		evs = append(evs, pipeline.StepLog{Step: 0, Line: fmt.Sprint("line ", i)})
	}
	s.apply(evs)
	st := s.steps[0]
	if len(st.logs) > maxLogLines || st.dropped+len(st.logs) != 3*maxLogLines {
		t.Fatalf("kept %d, dropped %d", len(st.logs), st.dropped)
	}
	if last := st.logs[len(st.logs)-1]; last != fmt.Sprint("line ", 3*maxLogLines-1) {
		t.Fatalf("last line %q", last)
	}
	if !strings.Contains(s.View(), fmt.Sprint("line ", 3*maxLogLines-1)) {
		t.Fatalf("viewport does not follow the newest line:\n%s", s.View())
	}
}

func TestLogFollowsUnlessScrolledUp(t *testing.T) {
	ctx := &programContext{styles: NewStyles(true), keys: DefaultKeyMap(), now: time.Now}
	s := newRunScreen(ctx)
	s.SetSize(80, 16)
	s.reset(1, "dev deploy", time.Now())
	s.apply([]pipeline.Event{pipeline.RunStarted{Steps: []string{"build"}}, pipeline.StepStarted{Step: 0, Name: "build"}})
	logN := func(from, to int) {
		var evs []pipeline.Event
		for i := from; i < to; i++ {
			evs = append(evs, pipeline.StepLog{Step: 0, Line: fmt.Sprintf("line-%03d", i)})
		}
		s.apply(evs)
	}
	logN(0, 50)
	if !strings.Contains(s.View(), "line-049") {
		t.Fatal("not following")
	}
	s.Update(keyMsg{Code: 'u', Mod: tea.ModCtrl}) // ctrl+u scrolls up
	logN(50, 60)
	if v := s.View(); strings.Contains(v, "line-059") || !strings.Contains(v, "scrolled") {
		t.Fatalf("followed while scrolled up:\n%s", v)
	}
	s.Update(keyMsg{Code: 'G', Text: "G"})
	logN(60, 61)
	if !strings.Contains(s.View(), "line-060") {
		t.Fatalf("G did not resume following:\n%s", s.View())
	}
}

func TestWrapKeepsEveryWord(t *testing.T) {
	text := "ssh ec2-user@10.0.1.23: dial tcp 10.0.1.23:22: connect: connection refused by the remote host after several attempts"
	lines := wrap(text, 30, 10)
	if got := strings.Join(strings.Fields(strings.Join(lines, " ")), " "); got != text {
		t.Fatalf("wrap lost text:\n%q\n%q", got, text)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 30 || (i > 0 && w > 28) {
			t.Errorf("line %d is %d wide: %q", i, w, l)
		}
	}
	if short := wrap(text, 30, 2); len(short) != 2 || !strings.HasSuffix(short[1], "…") {
		t.Errorf("limit not applied: %q", short)
	}
}

func TestFixHints(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("list: %w after 15s", errLoadTimeout):                                          "did not answer in time",
		&Problem{Kind: ProblemCredentials, Err: errors.New("token expired")}:                      "aws sso login",
		fmt.Errorf("load: %w", &Problem{Kind: ProblemHostKey, Err: errors.New("key is unknown")}): "known_hosts",
		&Problem{Kind: ProblemUnreachable, Err: errors.New("connection refused")}:                 "SSH key",
		&Problem{Kind: ProblemGitHub, Err: errors.New("rate limit")}:                              "GH_TOKEN",
		// Text alone decides nothing: an unclassified error only says retry.
		errors.New("ssh: handshake failed: knownhosts: key is unknown"): "press r to retry",
		errors.New("something else"):                                    "press r to retry",
	} {
		if got := fixHint(err, "dev host"); !strings.Contains(got, want) {
			t.Errorf("fixHint(%v) = %q, want it to mention %q", err, got, want)
		}
	}
}

// stubBackend counts environment reads; other methods are not used.
type stubBackend struct {
	Backend
	mu        sync.Mutex
	dev, prod int
}

func (s *stubBackend) Project() ProjectInfo { return ProjectInfo{App: "bookshop"} }
func (s *stubBackend) DevEnv(context.Context) DevEnv {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dev++
	return DevEnv{Image: "repo:1.0.0-SNAPSHOT-abc1234"}
}
func (s *stubBackend) ProdEnv(context.Context) ProdEnv {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prod++
	return ProdEnv{Image: "repo:v1.0.0"}
}

// runCmd executes a Cmd and every Cmd of a batch, returning their messages.
func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, runCmd(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func TestEnvTickReloadsEnvironments(t *testing.T) {
	b := &stubBackend{}
	m := newModel(context.Background(), b, Options{Theme: "dark"})
	m.ctx.timers = false
	_, cmd := m.Update(envTickMsg{})
	msgs := runCmd(cmd)
	if b.dev != 1 || b.prod != 1 {
		t.Fatalf("tick read dev %d prod %d times", b.dev, b.prod)
	}
	for _, msg := range msgs {
		m.Update(msg)
	}
	if m.ctx.devRef.tag != "1.0.0-SNAPSHOT-abc1234" || m.ctx.prodRef.tag != "v1.0.0" {
		t.Fatalf("refs %+v %+v", m.ctx.devRef, m.ctx.prodRef)
	}
	// A tick while a load is in flight does not pile another on.
	m.ctx.dev.loading = true
	_, cmd = m.Update(envTickMsg{})
	runCmd(cmd)
	if b.dev != 1 {
		t.Fatalf("tick during a load read dev again")
	}
	// With timers on, each tick schedules the next.
	m.ctx.timers = true
	if _, cmd = m.Update(envTickMsg{}); cmd == nil {
		t.Fatal("tick did not schedule the next")
	}
}

func TestStaleLoadIsDropped(t *testing.T) {
	m := newModel(context.Background(), &stubBackend{}, Options{Theme: "dark"})
	m.loadEnvs()
	m.loadEnvs() // a refresh supersedes the first request
	m.Update(devEnvMsg{gen: m.gen.dev - 1, env: DevEnv{Image: "repo:old"}})
	if m.ctx.dev.loaded {
		t.Fatal("a superseded reply was applied")
	}
	m.Update(devEnvMsg{gen: m.gen.dev, env: DevEnv{Image: "repo:new"}})
	if m.ctx.devRef.tag != "new" {
		t.Fatalf("current reply not applied: %+v", m.ctx.devRef)
	}
}

func TestBackgroundColorPicksTheme(t *testing.T) {
	m := newModel(context.Background(), &stubBackend{}, Options{})
	if cmd := m.Init(); cmd == nil {
		t.Fatal("no init commands")
	}
	m.Update(tea.BackgroundColorMsg{Color: color.White})
	if m.ctx.styles.Dark {
		t.Fatal("white background kept dark styles")
	}
	m.Update(tea.BackgroundColorMsg{Color: color.Black})
	if !m.ctx.styles.Dark {
		t.Fatal("black background kept light styles")
	}
	fixed := newModel(context.Background(), &stubBackend{}, Options{Theme: "light"})
	fixed.Update(tea.BackgroundColorMsg{Color: color.Black})
	if fixed.ctx.styles.Dark {
		t.Fatal("Theme light was overridden by the terminal")
	}
}

// The confirm renders any plan generically: every step's mark and summary, its target,
// each fact once (steps repeat the image tag), many-line notes compactly, warnings;
// a refusal first, and no y offered for it.
func TestConfirmRendersAnyPlan(t *testing.T) {
	ctx := &programContext{styles: NewStyles(true), keys: DefaultKeyMap(), now: time.Now}
	s := newConfirmScreen(ctx)
	s.SetSize(100, 40)
	s.open(runRequest{kind: runPromote, tag: "1.4.2-SNAPSHOT-3f2a9c1"}, 1)
	notes := "## What's changed\n* one\n* two\n* three\n* four\n* five"
	meta := pipeline.Reading("version 1.4.2").With("image tag", "1.4.2-SNAPSHOT-3f2a9c1")
	rel := pipeline.Acting("create draft release v1.4.2").With("image tag", "1.4.2-SNAPSHOT-3f2a9c1").With("notes", notes).With("weather", "sunny").
		With("commits", "c0ffee1 Add stock (#123)\nbeef123 Tidy")
	rel.Target = "github.com/acme/book-shop"
	rel = rel.Warn("v1.4.1 is still a draft")
	tag := pipeline.Refusing("v1.4.2 already names sha256:bbbb: bump the version")
	plan := pipeline.Plan{Workflow: "promote", Steps: []pipeline.StepPlan{meta, rel, tag}}
	plan.Steps[0].Step, plan.Steps[1].Step, plan.Steps[2].Step = "metadata", "release", "promote"
	s.Update(planMsg{gen: 1, plan: plan})
	view := ansi.Strip(s.View())
	for _, want := range []string{"✗ promote refuses: v1.4.2 already names sha256:bbbb", "· metadata", "● release", "create draft release v1.4.2",
		"github.com/acme/book-shop", "sunny", "## What's changed", "* two", "… 2 more lines", "⚠ release: v1.4.1 is still a draft", "⚠ 1 warning (above)", "this plan will not run",
		"c0ffee1 #123 Add stock", "beef123 Tidy"} {
		if !strings.Contains(view, want) {
			t.Errorf("confirm lacks %q:\n%s", want, view)
		}
	}
	if strings.Count(view, "1.4.2-SNAPSHOT-3f2a9c1") != 1 || strings.Contains(view, "* four") || strings.Contains(view, "y/enter") {
		t.Errorf("a fact repeated, notes not compact, or a refused plan offered:\n%s", view)
	}
	if s.ready() {
		t.Fatal("a refused plan is ready to run")
	}
}

// Many tags on one digest share one filter text: the rows hold a pointer to it, not a
// copy each (5,000 tags on one digest were 5,000² strings), and a sibling tag still
// finds every row of the digest.
func TestSnapshotRowsShareTheirDigestsTags(t *testing.T) {
	ctx := &programContext{styles: NewStyles(true), keys: DefaultKeyMap(), now: time.Now}
	s := newSnapshotsScreen(ctx)
	const n = 2000
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("1.0.%d-SNAPSHOT-abcdef%d", i, i%10)
	}
	tags = append(tags, "v1.0.0")
	snaps := make([]Snapshot, 0, n)
	for _, tg := range tags[:n] {
		snaps = append(snaps, Snapshot{Tag: tg, Digest: "sha256:aaaa", Tags: tags})
	}
	s.startLoad()
	s.addPage(snaps)
	first := s.rows[0].tagsKey
	if first == nil {
		t.Fatal("rows of a digest with many tags have no shared tag text")
	}
	for i := range s.rows {
		if s.rows[i].tagsKey != first || s.rows[i].release != "v1.0.0" {
			t.Fatalf("row %d does not share its digest's tag text (or lost its release tag)", i)
		}
	}
	s.list.filter.value = "v1.0.0"
	s.refilter(false)
	if len(s.matched) != n {
		t.Fatalf("filtering by the release tag on the digest matched %d of %d rows", len(s.matched), n)
	}
}
