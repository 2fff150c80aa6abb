package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

// fakeClock is a clock that moves only when the client sleeps.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	cancel func() // called on the first sleep, when set
}

func (f *fakeClock) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }

func (f *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.slept = append(f.slept, d)
	f.t = f.t.Add(d)
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return ctx.Err()
}

func limitedClient(t *testing.T, s *githubtest.Server, wait time.Duration) (*github.Client, *fakeClock, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var logs []string
	c, err := github.New(github.Options{Repo: repoName, APIURL: s.URL, Token: s.Token, RateLimitWait: wait,
		Logf: func(format string, args ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Now()}
	github.SetClock(c, clk.now, clk.sleep)
	return c, clk, &logs
}

func TestRateLimitRetries(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		kind githubtest.RateLimitKind
		wait time.Duration
		log  string
	}{
		"429 Retry-After":      {githubtest.TooManyRequests, 12 * time.Second, "GitHub rate limit: retrying in 12s (secondary limit)"},
		"403 secondary":        {githubtest.SecondaryLimit, 7 * time.Second, "GitHub rate limit: retrying in 7s (secondary limit)"},
		"403 primary reset":    {githubtest.PrimaryLimit, 20 * time.Second, "(hourly limit)"},
		"secondary, no header": {githubtest.SecondaryLimit, 0, "GitHub rate limit: retrying in 1m0s (secondary limit)"},
	} {
		t.Run(name, func(t *testing.T) {
			s := githubtest.New(t)
			s.AddRepo(repoName, true)
			s.AddCommit(repoName, sha(1))
			c, clk, logs := limitedClient(t, s, 2*time.Minute)
			s.RateLimit(2, tc.kind, tc.wait)
			// A POST refused by the limit did nothing, so it is sent again.
			rel, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1)})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Releases(repoName); len(got) != 1 || got[0].ID != rel.ID {
				t.Errorf("releases %+v", got)
			}
			if len(clk.slept) != 2 {
				t.Fatalf("slept %v, want two waits", clk.slept)
			}
			for i, d := range clk.slept {
				if tc.kind == githubtest.PrimaryLimit && i > 0 {
					break // the fake clock ran ahead of the server's reset time
				}
				lo, hi := tc.wait, tc.wait+2*time.Second
				if tc.wait == 0 {
					lo, hi = time.Minute, time.Minute
				}
				if d < lo || d > hi {
					t.Errorf("waited %s, want %s..%s", d, lo, hi)
				}
			}
			if len(*logs) != 2 || !strings.Contains((*logs)[0], tc.log) {
				t.Errorf("logs %q, want %q", *logs, tc.log)
			}
		})
	}
}

func TestRateLimitGivesUp(t *testing.T) {
	ctx := context.Background()
	s, _ := fixture(t, 1)
	c, clk, _ := limitedClient(t, s, 0) // default 60s in all
	s.RateLimit(10, githubtest.TooManyRequests, 25*time.Second)
	_, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1)})
	if !errors.Is(err, github.ErrRateLimited) {
		t.Fatalf("err %v, want ErrRateLimited", err)
	}
	if len(clk.slept) != 2 { // 25s + 25s fit in 60s, a third would not
		t.Errorf("slept %v", clk.slept)
	}
	until := clk.now().Add(25 * time.Second).UTC().Format("15:04:05 UTC")
	want := "GitHub rate limit exceeded until " + until + "; re-run after that (secondary limit)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant it to say %q", err, want)
	}
	if strings.Contains(err.Error(), "contents:write") || errors.Is(err, github.ErrForbidden) {
		t.Errorf("rate limit blamed on permissions: %v", err)
	}
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Err == nil || rl.Err.StatusCode != 429 || !rl.Secondary {
		t.Errorf("RateLimitError %+v", rl)
	}
	if n := len(s.Releases(repoName)); n != 0 {
		t.Errorf("%d releases created", n)
	}

	// A primary limit that resets later than the cap fails at once.
	s.RateLimit(1, githubtest.PrimaryLimit, time.Hour)
	c2, clk2, _ := limitedClient(t, s, 0)
	_, err = c2.ReleaseByTag(ctx, "1.0.0")
	if !errors.Is(err, github.ErrRateLimited) || len(clk2.slept) != 0 || !strings.Contains(err.Error(), "(hourly limit)") {
		t.Errorf("primary: %v, slept %v", err, clk2.slept)
	}

	// Negative RateLimitWait: never wait.
	s.RateLimit(1, githubtest.TooManyRequests, time.Second)
	c3, clk3, _ := limitedClient(t, s, -1)
	if _, err := c3.LatestRelease(ctx); !errors.Is(err, github.ErrRateLimited) || len(clk3.slept) != 0 {
		t.Errorf("no-wait: %v, slept %v", err, clk3.slept)
	}
}

func TestRateLimitWaitHonoursContext(t *testing.T) {
	s, _ := fixture(t, 1)
	c, clk, _ := limitedClient(t, s, 0)
	ctx, cancel := context.WithCancel(context.Background())
	clk.cancel = cancel
	s.RateLimit(5, githubtest.SecondaryLimit, 5*time.Second)
	before := len(s.Requests())
	_, err := c.ListReleases(ctx, 5)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := len(s.Requests()) - before; n != 1 {
		t.Errorf("%d requests, want 1 (no retry after cancel)", n)
	}
}

func TestRealSleepRetry(t *testing.T) {
	// One short real wait through the default sleep, to prove it returns.
	s, _ := fixture(t, 1)
	c, err := github.New(github.Options{Repo: repoName, APIURL: s.URL, Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	s.RateLimit(1, githubtest.TooManyRequests, time.Second)
	start := time.Now()
	if _, err := c.TagCommit(context.Background(), "nope"); !errors.Is(err, github.ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound after the retry", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s, before Retry-After", d)
	}
}

func TestImmutableRelease(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2, githubtest.WithImmutableReleases())
	rel, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateRelease(ctx, rel.ID, github.ReleaseUpdate{Prerelease: ptr(true)})
	if !errors.Is(err, github.ErrImmutableRelease) {
		t.Fatalf("update: %v, want ErrImmutableRelease", err)
	}
	if err := c.DeleteRelease(ctx, rel.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1)})
	if !errors.Is(err, github.ErrImmutableRelease) {
		t.Fatalf("reuse: %v, want ErrImmutableRelease", err)
	}
	for _, want := range []string{"tag 1.0.0", "immutable release", "cannot be changed", "cannot be reused", "bump the version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if ae := apiErr(t, err); ae.StatusCode != 422 {
		t.Errorf("status %d", ae.StatusCode)
	}
	if errors.Is(err, github.ErrReleaseExists) {
		t.Error("immutable matched ErrReleaseExists")
	}
	if _, ok := s.TagCommit(repoName, "1.0.0"); !ok {
		t.Error("the immutable release's tag is gone")
	}
}

func TestEnterpriseServer(t *testing.T) {
	ctx := context.Background()
	s := githubtest.New(t, githubtest.WithBasePath("/api/v3"))
	s.AddRepo(repoName, true)
	s.AddCommit(repoName, sha(1))
	for _, v := range []string{"GH_TOKEN", "GITHUB_TOKEN"} {
		t.Setenv(v, "ghp_dotcomTokenMustNotGoToGHES")
	}
	t.Setenv("GH_ENTERPRISE_TOKEN", s.Token)
	c, err := github.New(github.Options{Repo: repoName, Host: "ghe.example.com", APIURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	if c.TokenSource() != "GH_ENTERPRISE_TOKEN" {
		t.Errorf("token source %q", c.TokenSource())
	}
	if _, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.0.0", Target: sha(1)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ { // more than a page: Link targets must stay under /api/v3
		s.AddRelease(repoName, githubtest.Release{TagName: fmt.Sprintf("0.%d.0", i)})
	}
	list, err := c.ListReleases(ctx, 150)
	if err != nil || len(list) != 121 {
		t.Fatalf("list %d %v", len(list), err)
	}
	for _, r := range s.Requests() {
		if !strings.HasPrefix(r.Path, "/api/v3/") {
			t.Errorf("request outside /api/v3: %s", r.Path)
		}
		if r.Header.Get("Authorization") != "token "+s.Token {
			t.Errorf("%s sent Authorization %q", r.Path, r.Header.Get("Authorization"))
		}
	}
}

func TestTokenForHostLikeGh(t *testing.T) {
	t.Setenv("GH_TOKEN", "dotcom")
	t.Setenv("GH_ENTERPRISE_TOKEN", "enterprise")
	t.Setenv("GITHUB_ENTERPRISE_TOKEN", "enterprise2")
	for host, want := range map[string]string{
		"github.com": "dotcom", "acme.ghe.com": "dotcom", "ghe.example.com": "enterprise",
	} {
		if tok, _ := github.TokenFromEnv(host); tok != want {
			t.Errorf("%s: token %q, want %q", host, tok, want)
		}
	}
	t.Setenv("GH_ENTERPRISE_TOKEN", "")
	if tok, src := github.TokenFromEnv("ghe.example.com"); tok != "enterprise2" || src != "GITHUB_ENTERPRISE_TOKEN" {
		t.Errorf("got %q from %q", tok, src)
	}
}

func TestRedirectKeepsTokenHome(t *testing.T) {
	const token = "ghp_REDIRECTsecret0123456789abcdefABCD"
	var mu sync.Mutex
	var elsewhere []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"tag_name":"v1"}`)
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "token "+token {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer home.Close()
	c, err := github.New(github.Options{Repo: repoName, APIURL: home.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReleaseByTag(context.Background(), "v1")
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Errorf("redirect to another host followed: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), token) {
		t.Errorf("token in error: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range elsewhere {
		if a != "" {
			t.Errorf("other host got Authorization %q", a)
		}
	}
}

func TestRateLimitNeverLeaksToken(t *testing.T) {
	const planted = "ghp_PLANTEDlimit0123456789abcdefABCDEF"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"message":"secondary rate limit for %s"}`, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	var logs []string
	c, err := github.New(github.Options{Repo: repoName, APIURL: echo.URL, Token: planted,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRelease(context.Background(), github.NewRelease{Tag: "1.0.0"})
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("err %v, want RateLimitError", err)
	}
	if len(logs) != 4 {
		t.Errorf("logs %q, want 4 retries", logs)
	}
	for _, s := range append(logs, err.Error(), rl.Err.Error()) {
		if strings.Contains(s, planted) {
			t.Errorf("token in %q", s)
		}
	}
}
