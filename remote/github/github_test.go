package github_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

const repoName = "bookshop-ops/book-shop"

// configToken is the token TestMain plants in an isolated gh config.
const configToken = "gho_fromGhConfigFile0123456789"

// TestMain isolates go-gh from the developer's gh setup: its config is read
// once per process, so GH_CONFIG_DIR must be set before any test runs.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-gh-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hosts := "github.com:\n    oauth_token: " + configToken + "\n    user: octocat\n"
	if err := os.WriteFile(filepath.Join(dir, "hosts.yml"), []byte(hosts), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("GH_CONFIG_DIR", dir)
	os.Setenv("GH_PATH", filepath.Join(dir, "no-gh-binary")) // never shell out to a real gh
	for _, v := range []string{"GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "GH_DEBUG"} {
		os.Unsetenv(v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func sha(n int) string { return fmt.Sprintf("%040x", 0xbeef0000+n) }

// fixture is a fake GitHub with repoName holding commits sha(1..n), and a client for it.
func fixture(t *testing.T, n int, opts ...githubtest.Option) (*githubtest.Server, *github.Client) {
	t.Helper()
	s := githubtest.New(t, opts...)
	s.AddRepo(repoName, true)
	for i := 1; i <= n; i++ {
		s.AddCommit(repoName, sha(i))
	}
	return s, client(t, s, repoName, s.Token)
}

func client(t *testing.T, s *githubtest.Server, repo, token string) *github.Client {
	t.Helper()
	c, err := github.New(github.Options{Repo: repo, APIURL: s.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func apiErr(t *testing.T, err error) *github.APIError {
	t.Helper()
	var ae *github.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return ae
}

func TestNewValidatesOptions(t *testing.T) {
	for _, opts := range []github.Options{
		{Repo: "no-slash", Token: "t"},
		{Repo: "a/b/c", Token: "t"},
		{Repo: "owner/..", Token: "t"},
		{Repo: "o/r", Host: "https://github.com", Token: "t"},
		{Repo: "o/r", APIURL: "ftp://127.0.0.1", Token: "t"},
		{Repo: "o/r", APIURL: "http://user:pw@127.0.0.1:1", Token: "t"},
	} {
		if _, err := github.New(opts); err == nil {
			t.Errorf("New(%+v) accepted", opts)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error echoes URL credentials: %v", err)
		}
	}
}

func TestNewWithoutTokenExplainsFix(t *testing.T) {
	// Enterprise hosts have no token in env or in the isolated gh config.
	_, err := github.New(github.Options{Repo: "o/r", Host: "ghe.example.com"})
	if !errors.Is(err, github.ErrNoToken) {
		t.Fatalf("err %v, want ErrNoToken", err)
	}
	for _, want := range []string{"GH_ENTERPRISE_TOKEN", "gh auth login --hostname ghe.example.com"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// A github.com token in the environment is not used for it, and the
	// error says how to hand it over.
	t.Setenv("GITHUB_TOKEN", "ghs_forGithubDotCom")
	_, err = github.New(github.Options{Repo: "o/r", Host: "ghe.example.com"})
	if !errors.Is(err, github.ErrNoToken) || !strings.Contains(err.Error(), "GH_ENTERPRISE_TOKEN: ${{ secrets.GITHUB_TOKEN }}") || strings.Contains(err.Error(), "ghs_forGithubDotCom") {
		t.Errorf("err %v", err)
	}
	_, err = github.New(github.Options{Repo: "o/r"})
	if err != nil {
		t.Errorf("github.com with GITHUB_TOKEN: %v", err)
	}
}

func TestTokenFromEnv(t *testing.T) {
	t.Run("GH_TOKEN first", func(t *testing.T) {
		t.Setenv("GH_TOKEN", "from-gh-token")
		t.Setenv("GITHUB_TOKEN", "from-github-token")
		if tok, src := github.TokenFromEnv("github.com"); tok != "from-gh-token" || src != "GH_TOKEN" {
			t.Errorf("got %q from %q", tok, src)
		}
	})
	t.Run("GITHUB_TOKEN second", func(t *testing.T) {
		t.Setenv("GITHUB_TOKEN", "from-github-token")
		if tok, src := github.TokenFromEnv(""); tok != "from-github-token" || src != "GITHUB_TOKEN" {
			t.Errorf("got %q from %q", tok, src)
		}
	})
	t.Run("gh config", func(t *testing.T) {
		if tok, src := github.TokenFromEnv("github.com"); tok != configToken || !strings.Contains(src, "gh config") {
			t.Errorf("got %q from %q", tok, src)
		}
	})
	t.Run("none", func(t *testing.T) {
		if tok, src := github.TokenFromEnv("ghe.example.com"); tok != "" || src != "" {
			t.Errorf("got %q from %q", tok, src)
		}
	})
	t.Run("New uses it", func(t *testing.T) {
		s := githubtest.New(t)
		s.AddRepo(repoName, true)
		t.Setenv("GH_TOKEN", s.Token)
		c, err := github.New(github.Options{Repo: repoName, APIURL: s.URL})
		if err != nil {
			t.Fatal(err)
		}
		if c.TokenSource() != "GH_TOKEN" {
			t.Errorf("source %q", c.TokenSource())
		}
		if err := c.CheckReleasePermission(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRequestHeaders(t *testing.T) {
	s, c := fixture(t, 1)
	if err := c.CheckReleasePermission(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "token "+s.Token || h.Get("Accept") != "application/vnd.github+json" || h.Get("X-GitHub-Api-Version") != "2022-11-28" {
		t.Errorf("headers %v", h)
	}
	if reqs[0].Path != "/repos/"+repoName {
		t.Errorf("path %s", reqs[0].Path)
	}
}

func TestCheckReleasePermission(t *testing.T) {
	ctx := context.Background()
	t.Run("push", func(t *testing.T) {
		_, c := fixture(t, 1)
		if err := c.CheckReleasePermission(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read only", func(t *testing.T) {
		s := githubtest.New(t)
		s.AddRepo(repoName, false)
		err := client(t, s, repoName, s.Token).CheckReleasePermission(ctx)
		if !errors.Is(err, github.ErrNoPushPermission) || !strings.Contains(err.Error(), "contents:write") {
			t.Fatalf("err %v, want ErrNoPushPermission naming contents:write", err)
		}
	})
	t.Run("unknown repo", func(t *testing.T) {
		s, _ := fixture(t, 1)
		err := client(t, s, "bookshop-ops/missing", s.Token).CheckReleasePermission(ctx)
		if !errors.Is(err, github.ErrNotFound) || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "no access") {
			t.Fatalf("err %v", err)
		}
		if ae := apiErr(t, err); ae.StatusCode != 404 || ae.Message != "Not Found" {
			t.Errorf("APIError %+v", ae)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		s, _ := fixture(t, 1)
		err := client(t, s, repoName, "ghp_notTheRightOne").CheckReleasePermission(ctx)
		if !errors.Is(err, github.ErrUnauthorized) || !strings.Contains(err.Error(), "Bad credentials") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("installation token", func(t *testing.T) {
		s, c := fixture(t, 1, githubtest.WithInstallationToken())
		if err := c.CheckReleasePermission(ctx); err != nil {
			t.Fatal(err)
		}
		reqs := s.Requests()
		if len(reqs) != 2 || reqs[1].Path != "/installation/repositories" {
			t.Errorf("requests %+v, want the installation probe", reqs)
		}
	})
	t.Run("classic token without repo scope", func(t *testing.T) {
		_, c := fixture(t, 1, githubtest.WithOAuthScopes("read:org", "gist"))
		err := c.CheckReleasePermission(ctx)
		if !errors.Is(err, github.ErrNoPushPermission) || !strings.Contains(err.Error(), "read:org, gist") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("classic token with repo scope", func(t *testing.T) {
		_, c := fixture(t, 1, githubtest.WithOAuthScopes("repo", "workflow"))
		if err := c.CheckReleasePermission(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReleaseByTagAndLatest(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2)
	if _, err := c.LatestRelease(ctx); !errors.Is(err, github.ErrNotFound) {
		t.Fatalf("latest with none: %v", err)
	}
	seeded := s.AddRelease(repoName, githubtest.Release{TagName: "1.0.0", Name: "First", Body: "hello", TargetCommitish: sha(1)})
	s.AddRelease(repoName, githubtest.Release{TagName: "1.1.0-rc.1", Prerelease: true, TargetCommitish: sha(2)})

	got, err := c.ReleaseByTag(ctx, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	want := github.Release{
		ID: seeded.ID, TagName: "1.0.0", TargetCommitish: sha(1), Name: "First", Body: "hello",
		HTMLURL:   "https://github.com/" + repoName + "/releases/tag/1.0.0",
		CreatedAt: seeded.CreatedAt, PublishedAt: seeded.PublishedAt,
	}
	if *got != want {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}
	latest, err := c.LatestRelease(ctx)
	if err != nil || latest.TagName != "1.0.0" {
		t.Errorf("latest %+v, %v (the prerelease is not latest)", latest, err)
	}
	if _, err := c.ReleaseByTag(ctx, "9.9.9"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("missing tag: %v", err)
	}
	before := len(s.Requests())
	if _, err := c.ReleaseByTag(ctx, "../../user"); !errors.Is(err, github.ErrInvalidTag) {
		t.Errorf("path-traversal tag: %v", err)
	}
	if len(s.Requests()) != before {
		t.Error("an invalid tag reached the server")
	}
}

func TestListReleasesFollowsPagination(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 1)
	for i := 1; i <= 250; i++ {
		s.AddRelease(repoName, githubtest.Release{TagName: fmt.Sprintf("0.%d.0", i)})
	}
	list, err := c.ListReleases(ctx, 250)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 250 || list[0].TagName != "0.250.0" || list[249].TagName != "0.1.0" {
		t.Fatalf("%d releases, first %q last %q", len(list), list[0].TagName, list[len(list)-1].TagName)
	}
	for i := 1; i < len(list); i++ {
		if !list[i-1].CreatedAt.After(list[i].CreatedAt) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(reqs))
	}
	if reqs[0].Path != "/repos/"+repoName+"/releases" || reqs[0].RawQuery != "per_page=100" {
		t.Errorf("page 1: %s?%s", reqs[0].Path, reqs[0].RawQuery)
	}
	for i, r := range reqs[1:] {
		// Pages 2 and 3 come from the Link header, which GitHub points at /repositories/{id}.
		if !strings.HasPrefix(r.Path, "/repositories/") || !strings.Contains(r.RawQuery, fmt.Sprintf("page=%d", i+2)) {
			t.Errorf("page %d: %s?%s", i+2, r.Path, r.RawQuery)
		}
		if r.Header.Get("Authorization") != "token "+s.Token {
			t.Errorf("page %d sent without the token", i+2)
		}
	}

	// A limit stops early and trims.
	before := len(s.Requests())
	list, err = c.ListReleases(ctx, 150)
	if err != nil || len(list) != 150 || list[149].TagName != "0.101.0" {
		t.Fatalf("limit 150: %d, %v", len(list), err)
	}
	if n := len(s.Requests()) - before; n != 2 {
		t.Errorf("limit 150 used %d requests, want 2", n)
	}
	// Fewer releases than the limit.
	small, c2 := fixture(t, 1)
	small.AddRelease(repoName, githubtest.Release{TagName: "v1"})
	if list, err := c2.ListReleases(ctx, 30); err != nil || len(list) != 1 {
		t.Errorf("small: %d, %v", len(list), err)
	}
	if _, err := c.ListReleases(ctx, 0); err == nil {
		t.Error("limit 0 accepted")
	}
}

func TestListReleasesRefusesForeignLinks(t *testing.T) {
	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "[]")
	}))
	defer foreign.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Link", "<"+foreign.URL+`/repos/o/r/releases?page=2>; rel="next"`)
		io.WriteString(w, `[{"id":1,"tag_name":"v1"}]`)
	}))
	defer api.Close()
	c, err := github.New(github.Options{Repo: "o/r", APIURL: api.URL, Token: "ghp_secretSecretSecret"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListReleases(context.Background(), 10)
	if err == nil || !strings.Contains(err.Error(), "not following") {
		t.Fatalf("err %v, want refusal", err)
	}
	if foreignHits.Load() != 0 {
		t.Error("client followed a link to another host")
	}
}

func TestGenerateNotes(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 4)
	s.AddPR(repoName, 11, "Add basket", "alice", sha(2))
	s.AddPR(repoName, 12, "Fix checkout", "bob", sha(4))
	s.AddRelease(repoName, githubtest.Release{TagName: "1.0.0", TargetCommitish: sha(2)})

	name, body, err := c.GenerateNotes(ctx, "1.1.0", sha(4), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	want := "## What's Changed\n* Fix checkout by @bob in https://github.com/" + repoName + "/pull/12\n\n" +
		"**Full Changelog**: https://github.com/" + repoName + "/compare/1.0.0...1.1.0"
	if name != "1.1.0" || body != want {
		t.Errorf("got %q %q\nwant body %q", name, body, want)
	}
	var sent map[string]any
	reqs := s.Requests()
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["tag_name"] != "1.1.0" || sent["target_commitish"] != sha(4) || sent["previous_tag_name"] != "1.0.0" {
		t.Errorf("request body %v", sent)
	}

	if _, _, err := c.GenerateNotes(ctx, "1.1.0", sha(4), ""); err != nil {
		t.Fatal(err)
	}
	reqs = s.Requests()
	if strings.Contains(string(reqs[len(reqs)-1].Body), "previous_tag_name") {
		t.Errorf("empty previous tag was sent: %s", reqs[len(reqs)-1].Body)
	}

	_, _, err = c.GenerateNotes(ctx, "1.1.0", sha(4), "0.0.1")
	if !errors.Is(err, github.ErrNotFound) || !strings.Contains(err.Error(), "0.0.1...1.1.0") {
		t.Errorf("unknown previous tag: %v", err)
	}
	_, _, err = c.GenerateNotes(ctx, "1.1.0", "no-such-branch", "")
	if ae := apiErr(t, err); ae.StatusCode != 422 || !ae.HasError("Release", "target_commitish", "invalid") {
		t.Errorf("unknown target: %+v", ae)
	}
}

func TestCreateRelease(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 3)
	rel, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.2.0", Target: sha(2), Name: "1.2.0", Body: "notes", MakeLatest: true})
	if err != nil {
		t.Fatal(err)
	}
	if rel.ID == 0 || rel.TagName != "1.2.0" || rel.Body != "notes" || rel.Draft || rel.PublishedAt.IsZero() ||
		rel.HTMLURL != "https://github.com/"+repoName+"/releases/tag/1.2.0" {
		t.Errorf("created %+v", rel)
	}
	if got, ok := s.TagCommit(repoName, "1.2.0"); !ok || got != sha(2) {
		t.Errorf("tag at %q, want %s", got, sha(2))
	}
	stored := s.Releases(repoName)
	if len(stored) != 1 || stored[0].Name != "1.2.0" || stored[0].Body != "notes" {
		t.Errorf("stored %+v", stored)
	}
	reqs := s.Requests()
	var sent map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["make_latest"] != "true" || sent["draft"] != false || sent["target_commitish"] != sha(2) {
		t.Errorf("request body %v", sent)
	}
	if latest, err := c.LatestRelease(ctx); err != nil || latest.ID != rel.ID {
		t.Errorf("latest %+v %v", latest, err)
	}

	t.Run("already exists", func(t *testing.T) {
		n := len(s.Releases(repoName))
		_, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.2.0", Target: "main"})
		if !errors.Is(err, github.ErrReleaseExists) {
			t.Fatalf("err %v, want ErrReleaseExists", err)
		}
		if ae := apiErr(t, err); ae.StatusCode != 422 || !strings.Contains(ae.Message, "Validation Failed") {
			t.Errorf("APIError %+v", ae)
		}
		if len(s.Releases(repoName)) != n {
			t.Error("a second release was stored")
		}
	})
	t.Run("tag on another commit", func(t *testing.T) {
		s.AddTag(repoName, "1.3.0", sha(1))
		before := len(s.Releases(repoName))
		_, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.3.0", Target: sha(3)})
		var tm *github.TagMismatchError
		if !errors.Is(err, github.ErrTagMismatch) || !errors.As(err, &tm) || tm.Actual != sha(1) || tm.Want != sha(3) {
			t.Fatalf("err %v, want TagMismatchError", err)
		}
		if len(s.Releases(repoName)) != before {
			t.Error("release created despite mismatch")
		}
	})
	t.Run("annotated tag on the target", func(t *testing.T) {
		s.AddAnnotatedTag(repoName, "1.4.0", sha(3))
		if _, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.4.0", Target: sha(3)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown target", func(t *testing.T) {
		_, err := c.CreateRelease(ctx, github.NewRelease{Tag: "1.5.0", Target: sha(99)})
		if ae := apiErr(t, err); ae.StatusCode != 422 || !ae.HasError("Release", "target_commitish", "invalid") {
			t.Errorf("APIError %+v", ae)
		}
	})
	t.Run("draft", func(t *testing.T) {
		rel, err := c.CreateRelease(ctx, github.NewRelease{Tag: "2.0.0", Draft: true})
		if err != nil || !rel.Draft || !rel.PublishedAt.IsZero() {
			t.Fatalf("%+v %v", rel, err)
		}
		if _, ok := s.TagCommit(repoName, "2.0.0"); ok {
			t.Error("draft created a tag")
		}
	})
	t.Run("invalid arguments", func(t *testing.T) {
		before := len(s.Requests())
		for _, nr := range []github.NewRelease{
			{Tag: ""},
			{Tag: "v1 2"},
			{Tag: "v1", Target: "main~1"},
			{Tag: "v1", Draft: true, MakeLatest: true},
			{Tag: "v1", Prerelease: true, MakeLatest: true},
		} {
			if _, err := c.CreateRelease(ctx, nr); err == nil {
				t.Errorf("%+v accepted", nr)
			}
		}
		if len(s.Requests()) != before {
			t.Error("invalid arguments reached the server")
		}
	})
	t.Run("read-only token", func(t *testing.T) {
		ro := githubtest.New(t)
		ro.AddRepo(repoName, false)
		ro.AddCommit(repoName, sha(1))
		_, err := client(t, ro, repoName, ro.Token).CreateRelease(ctx, github.NewRelease{Tag: "v1"})
		if !errors.Is(err, github.ErrForbidden) || !strings.Contains(err.Error(), "contents:write") {
			t.Errorf("err %v", err)
		}
	})
}

func TestTagCommit(t *testing.T) {
	ctx := context.Background()
	s, c := fixture(t, 2)
	s.AddTag(repoName, "light", sha(1))
	s.AddAnnotatedTag(repoName, "annotated", sha(2))
	if got, err := c.TagCommit(ctx, "light"); err != nil || got != sha(1) {
		t.Errorf("light: %q %v", got, err)
	}
	if got, err := c.TagCommit(ctx, "annotated"); err != nil || got != sha(2) {
		t.Errorf("annotated: %q %v", got, err)
	}
	if _, err := c.TagCommit(ctx, "missing"); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}

	// Slashes stay path separators; other characters are escaped and survive.
	const odd = "app/v1.0.0+build.1"
	if _, err := c.CreateRelease(ctx, github.NewRelease{Tag: odd, Target: sha(2)}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.TagCommit(ctx, odd); err != nil || got != sha(2) {
		t.Errorf("%s: %q %v", odd, got, err)
	}
	if rel, err := c.ReleaseByTag(ctx, odd); err != nil || rel.TagName != odd {
		t.Errorf("release %s: %+v %v", odd, rel, err)
	}
}

func TestServerFailuresAndCancellation(t *testing.T) {
	s, c := fixture(t, 1)
	s.Fail("/repos/"+repoName+"/releases/latest", 502)
	_, err := c.LatestRelease(context.Background())
	if ae := apiErr(t, err); ae.StatusCode != 502 {
		t.Errorf("status %d", ae.StatusCode)
	}
	if errors.Is(err, github.ErrNotFound) {
		t.Error("502 matched ErrNotFound")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReleaseByTag(ctx, "v1"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestTokenNeverLeaks plants a token and drives every method into failure
// (wrong token, missing things, a server that echoes headers back), then
// checks every error string and all log output.
func TestTokenNeverLeaks(t *testing.T) {
	const planted = "ghp_PLANTEDsecret0123456789abcdefABCDEF"
	ctx := context.Background()
	var errs []error
	var logs bytes.Buffer

	// A GitHub that does not know the token.
	s := githubtest.New(t)
	s.AddRepo(repoName, true)
	s.AddCommit(repoName, sha(1))
	c, err := github.New(github.Options{Repo: repoName, APIURL: s.URL, Token: planted, Log: &logs})
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, everyMethod(ctx, c)...)
	if got := len(s.Requests()); got < 7 {
		t.Fatalf("only %d requests made", got)
	}
	for _, r := range s.Requests() {
		if r.Header.Get("Authorization") != "token "+planted {
			t.Fatalf("token not sent (so the test proves nothing): %v", r.Header)
		}
	}

	// A proxy that echoes the request headers into its error message.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		json.NewEncoder(w).Encode(map[string]any{
			"message": "upstream failed for " + r.Header.Get("Authorization"),
			"errors":  []map[string]string{{"resource": "Proxy", "code": "custom", "message": "header " + r.Header.Get("Authorization")}},
		})
	}))
	defer echo.Close()
	c2, err := github.New(github.Options{Repo: repoName, APIURL: echo.URL, Token: planted, Log: &logs})
	if err != nil {
		t.Fatal(err)
	}
	echoed := everyMethod(ctx, c2)
	errs = append(errs, echoed...)
	if !strings.Contains(echoed[0].Error(), "[REDACTED]") {
		t.Errorf("echoed header not visibly redacted: %v", echoed[0])
	}
	ae := apiErr(t, echoed[0])
	for _, d := range ae.Errors {
		if strings.Contains(d.Message, planted) {
			t.Errorf("ErrorDetail leaks the token: %q", d.Message)
		}
	}

	// A transport failure (nothing listening).
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	c3, err := github.New(github.Options{Repo: repoName, APIURL: deadURL, Token: planted, Log: &logs})
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, everyMethod(ctx, c3)...)

	for _, err := range errs {
		if err == nil {
			t.Fatal("a method succeeded; every call here must fail")
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), planted) {
				t.Errorf("token in error: %v", e)
			}
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log output; the log check proves nothing")
	}
	if strings.Contains(logs.String(), planted) {
		t.Errorf("token in log output:\n%s", logs.String())
	}
}

// everyMethod calls each exported method once and returns the errors.
func everyMethod(ctx context.Context, c *github.Client) []error {
	var errs []error
	errs = append(errs, c.CheckReleasePermission(ctx))
	_, err := c.ReleaseByTag(ctx, "v1")
	errs = append(errs, err)
	_, err = c.LatestRelease(ctx)
	errs = append(errs, err)
	_, err = c.ListReleases(ctx, 5)
	errs = append(errs, err)
	_, _, err = c.GenerateNotes(ctx, "v2", "main", "v1")
	errs = append(errs, err)
	_, err = c.CreateRelease(ctx, github.NewRelease{Tag: "v2", Target: sha(1)})
	errs = append(errs, err)
	_, err = c.TagCommit(ctx, "v1")
	errs = append(errs, err)
	_, err = c.FindRelease(ctx, "v1")
	errs = append(errs, err)
	_, err = c.UpdateRelease(ctx, 1, github.ReleaseUpdate{MakeLatest: "true"})
	errs = append(errs, err)
	errs = append(errs, c.DeleteRelease(ctx, 1))
	return errs
}

// TestGHDebugDoesNotDumpToken: under GH_DEBUG=api go-gh dumps response
// bodies to stderr, and a proxy that echoes the Authorization header would
// put the token there. The client must ignore GH_DEBUG.
func TestGHDebugDoesNotDumpToken(t *testing.T) {
	const planted = "ghp_PLANTEDdebug0123456789abcdefABCDEF"
	var sawToken atomic.Bool
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken.Store(r.Header.Get("Authorization") == "token "+planted)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"full_name": repoName, "note": r.Header.Get("Authorization"), "permissions": map[string]bool{"push": true}})
	}))
	defer echo.Close()

	t.Setenv("GH_DEBUG", "api")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w // go-gh picks its debug writer when the client is built
	c, err := github.New(github.Options{Repo: repoName, APIURL: echo.URL, Token: planted})
	if err == nil {
		err = c.CheckReleasePermission(context.Background())
	}
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !sawToken.Load() {
		t.Fatal("token not sent; the test proves nothing")
	}
	if len(out) != 0 {
		t.Errorf("client wrote to stderr under GH_DEBUG (token present: %v):\n%s", strings.Contains(string(out), planted), out)
	}
}
