package githubtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/remote/github/githubtest"
)

const repoName = "bookshop-ops/book-shop"

func sha(n int) string { return fmt.Sprintf("%040x", 0xc0ffee000+n) }

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

type errorBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Errors           []struct {
		Resource, Code, Field, Message string
	} `json:"errors"`
}

func (r response) errorBody(t *testing.T) errorBody {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	return e
}

// call sends a request with the given Authorization header value ("" = none).
func call(t *testing.T, s *githubtest.Server, method, path, auth string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = s.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func authed(t *testing.T, s *githubtest.Server, method, path string, body any) response {
	t.Helper()
	return call(t, s, method, path, "Bearer "+s.Token, body)
}

// newRepo returns a server with one pushable repository holding commits sha(1..n).
func newRepo(t *testing.T, n int, opts ...githubtest.Option) *githubtest.Server {
	t.Helper()
	s := githubtest.New(t, opts...)
	s.AddRepo(repoName, true)
	for i := 1; i <= n; i++ {
		s.AddCommit(repoName, sha(i))
	}
	return s
}

func TestAuthentication(t *testing.T) {
	s := newRepo(t, 1)
	cases := []struct {
		name, auth string
		status     int
		message    string
	}{
		{"missing", "", 401, "Requires authentication"},
		{"wrong token", "token ghp_wrong", 401, "Bad credentials"},
		{"wrong scheme", "Basic " + s.Token, 401, "Bad credentials"},
		{"token scheme", "token " + s.Token, 200, ""},
		{"bearer scheme", "Bearer " + s.Token, 200, ""},
		{"bearer lower case", "bearer " + s.Token, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, s, "GET", "/repos/"+repoName, tc.auth, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 {
				e := r.errorBody(t)
				if e.Message != tc.message || e.DocumentationURL == "" {
					t.Errorf("body %s, want message %q and a documentation_url", r.body, tc.message)
				}
				if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
					t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
				}
			}
		})
	}
}

func TestUnknownRepoAndRoute(t *testing.T) {
	s := newRepo(t, 1)
	for _, p := range []string{"/repos/nobody/nothing", "/repos/nobody/nothing/releases/latest", "/nowhere", "/repos/" + repoName + "/issues"} {
		r := authed(t, s, "GET", p, nil)
		if r.status != 404 || r.errorBody(t).Message != "Not Found" {
			t.Errorf("GET %s: %d %s, want 404 Not Found", p, r.status, r.body)
		}
	}
	// Repository names are case-insensitive on GitHub.
	if r := authed(t, s, "GET", "/repos/BOOKSHOP-OPS/Book-Shop", nil); r.status != 200 {
		t.Errorf("case-insensitive repo lookup: %d", r.status)
	}
	// A known path with the wrong method is a 404 on GitHub, not a 405.
	if r := authed(t, s, "DELETE", "/repos/"+repoName+"/releases", nil); r.status != 404 {
		t.Errorf("DELETE releases: %d, want 404", r.status)
	}
}

func TestGetRepoPermissions(t *testing.T) {
	s := githubtest.New(t)
	s.AddRepo("o/push", true)
	s.AddRepo("o/read", false)
	for name, want := range map[string]bool{"o/push": true, "o/read": false} {
		var repo struct {
			FullName    string          `json:"full_name"`
			Permissions map[string]bool `json:"permissions"`
		}
		authed(t, s, "GET", "/repos/"+name, nil).json(t, &repo)
		if repo.FullName != name || repo.Permissions["push"] != want || !repo.Permissions["pull"] {
			t.Errorf("%s: %+v, want push=%v pull=true", name, repo, want)
		}
	}
}

func TestInstallationToken(t *testing.T) {
	s := githubtest.New(t, githubtest.WithInstallationToken())
	s.AddRepo("o/r", false)
	s.AddCommit("o/r", sha(1))
	var repo map[string]any
	authed(t, s, "GET", "/repos/o/r", nil).json(t, &repo)
	if _, ok := repo["permissions"]; ok {
		t.Errorf("installation token got permissions: %v", repo["permissions"])
	}
	if r := authed(t, s, "GET", "/installation/repositories?per_page=1", nil); r.status != 200 {
		t.Errorf("installation/repositories: %d", r.status)
	}
	r := authed(t, s, "POST", "/repos/o/r/releases", map[string]any{"tag_name": "v1"})
	if r.status != 403 || r.errorBody(t).Message != "Resource not accessible by integration" {
		t.Errorf("create without contents:write: %d %s", r.status, r.body)
	}

	user := newRepo(t, 1)
	if r := authed(t, user, "GET", "/installation/repositories", nil); r.status != 403 {
		t.Errorf("installation/repositories with a user token: %d, want 403", r.status)
	}
}

func TestClassicScopes(t *testing.T) {
	s := newRepo(t, 1, githubtest.WithOAuthScopes("read:org", "gist"))
	r := authed(t, s, "GET", "/repos/"+repoName, nil)
	if got := r.header.Get("X-OAuth-Scopes"); got != "read:org, gist" {
		t.Errorf("X-OAuth-Scopes %q", got)
	}
	if r := authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "v1"}); r.status != 404 {
		t.Errorf("create without repo scope: %d, want 404", r.status)
	}
	ok := newRepo(t, 1, githubtest.WithOAuthScopes("repo"))
	if r := authed(t, ok, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "v1"}); r.status != 201 {
		t.Errorf("create with repo scope: %d %s", r.status, r.body)
	}
}

func TestCreateReleaseShapeAndTag(t *testing.T) {
	s := newRepo(t, 3)
	s.AddBranch(repoName, "release", sha(2))
	r := authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{
		"tag_name": "1.2.0", "target_commitish": sha(2), "name": "1.2.0", "body": "notes", "draft": false, "prerelease": false,
	})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var rel map[string]any
	r.json(t, &rel)
	for _, k := range []string{"url", "html_url", "assets_url", "upload_url", "tarball_url", "zipball_url", "id", "node_id",
		"tag_name", "target_commitish", "name", "body", "draft", "prerelease", "created_at", "published_at", "author", "assets"} {
		if _, ok := rel[k]; !ok {
			t.Errorf("release JSON lacks %q", k)
		}
	}
	if rel["tag_name"] != "1.2.0" || rel["target_commitish"] != sha(2) || rel["html_url"] != githubtest.WebURL+"/"+repoName+"/releases/tag/1.2.0" {
		t.Errorf("release %v", rel)
	}
	if loc := r.header.Get("Location"); loc != rel["url"] {
		t.Errorf("Location %q, want %v", loc, rel["url"])
	}
	if got, ok := s.TagCommit(repoName, "1.2.0"); !ok || got != sha(2) {
		t.Errorf("tag 1.2.0 -> %q %v, want %s", got, ok, sha(2))
	}

	// Branch target resolves to its head; default target is main's head.
	authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "b", "target_commitish": "release"})
	authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "d"})
	if got, _ := s.TagCommit(repoName, "b"); got != sha(2) {
		t.Errorf("branch target: tag at %s", got)
	}
	if got, _ := s.TagCommit(repoName, "d"); got != sha(3) {
		t.Errorf("default target: tag at %s", got)
	}

	// An existing tag is used as is; target_commitish is ignored.
	s.AddTag(repoName, "old", sha(1))
	if r := authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "old", "target_commitish": sha(3)}); r.status != 201 {
		t.Fatalf("release existing tag: %d %s", r.status, r.body)
	}
	if got, _ := s.TagCommit(repoName, "old"); got != sha(1) {
		t.Errorf("existing tag moved to %s", got)
	}

	// Drafts get no tag and no published_at.
	r = authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "v9-draft", "draft": true})
	r.json(t, &rel)
	if rel["published_at"] != nil || rel["draft"] != true {
		t.Errorf("draft: %v", rel)
	}
	if _, ok := s.TagCommit(repoName, "v9-draft"); ok {
		t.Error("draft release created its tag")
	}
	if n := len(s.Releases(repoName)); n != 5 {
		t.Errorf("%d releases stored, want 5", n)
	}
}

func TestCreateReleaseRejections(t *testing.T) {
	s := newRepo(t, 1)
	authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "v1"})
	path := "/repos/" + repoName + "/releases"
	cases := []struct {
		name    string
		body    any
		status  int
		message string
		code    string // expected errors[0].code, when any
		field   string
	}{
		{"missing tag_name", map[string]any{"name": "x"}, 422, "Invalid request.\n\n\"tag_name\" wasn't supplied.", "", ""},
		{"already exists", map[string]any{"tag_name": "v1"}, 422, "Validation Failed", "already_exists", "tag_name"},
		{"unknown target", map[string]any{"tag_name": "v2", "target_commitish": "nope"}, 422, "Validation Failed", "invalid", "target_commitish"},
		{"short sha target", map[string]any{"tag_name": "v2", "target_commitish": sha(1)[:7]}, 422, "Validation Failed", "invalid", "target_commitish"},
		{"ill-formed tag", map[string]any{"tag_name": "v 2"}, 422, "Validation Failed", "custom", "tag_name"},
		{"empty tag", map[string]any{"tag_name": ""}, 422, "Validation Failed", "custom", "tag_name"},
		{"draft not a boolean", map[string]any{"tag_name": "v2", "draft": "yes"}, 422, "Invalid request.\n\nFor 'properties/draft', \"yes\" is not a boolean.", "", ""},
		{"tag_name not a string", map[string]any{"tag_name": 2}, 422, "Invalid request.\n\nFor 'properties/tag_name', 2 is not a string.", "", ""},
		{"bad make_latest", map[string]any{"tag_name": "v2", "make_latest": "yes"}, 422, "", "", ""},
		{"bad JSON", "{", 400, "Problems parsing JSON", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := authed(t, s, "POST", path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			e := r.errorBody(t)
			if tc.message != "" && e.Message != tc.message {
				t.Errorf("message %q, want %q", e.Message, tc.message)
			}
			if tc.code != "" && (len(e.Errors) == 0 || e.Errors[0].Code != tc.code || e.Errors[0].Field != tc.field || e.Errors[0].Resource != "Release") {
				t.Errorf("errors %+v, want Release.%s %s", e.Errors, tc.field, tc.code)
			}
		})
	}
	if n := len(s.Releases(repoName)); n != 1 {
		t.Errorf("rejected requests stored releases: %d", n)
	}
	if _, ok := s.TagCommit(repoName, "v2"); ok {
		t.Error("rejected request created tag v2")
	}

	ro := githubtest.New(t)
	ro.AddRepo("o/ro", false)
	ro.AddCommit("o/ro", sha(1))
	r := authed(t, ro, "POST", "/repos/o/ro/releases", map[string]any{"tag_name": "v1"})
	if r.status != 403 || !strings.Contains(r.errorBody(t).Message, "Resource not accessible") {
		t.Errorf("read-only create: %d %s", r.status, r.body)
	}
}

func TestReleaseByTagAndLatest(t *testing.T) {
	s := newRepo(t, 4)
	path := "/repos/" + repoName
	if r := authed(t, s, "GET", path+"/releases/latest", nil); r.status != 404 {
		t.Errorf("latest with no releases: %d", r.status)
	}
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "v1", "target_commitish": sha(1)})
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "v2-rc", "target_commitish": sha(2), "prerelease": true})
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "v2", "target_commitish": sha(2), "make_latest": "false"})
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "v3-draft", "draft": true})

	var rel struct {
		TagName string `json:"tag_name"`
	}
	authed(t, s, "GET", path+"/releases/latest", nil).json(t, &rel)
	if rel.TagName != "v1" {
		t.Errorf("latest %q, want v1 (prerelease, make_latest=false and draft skipped)", rel.TagName)
	}
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "v3", "target_commitish": sha(3)})
	authed(t, s, "GET", path+"/releases/latest", nil).json(t, &rel)
	if rel.TagName != "v3" {
		t.Errorf("latest %q, want v3", rel.TagName)
	}

	authed(t, s, "GET", path+"/releases/tags/v2-rc", nil).json(t, &rel)
	if rel.TagName != "v2-rc" {
		t.Errorf("by tag: %q", rel.TagName)
	}
	for _, tag := range []string{"v3-draft", "v404"} {
		if r := authed(t, s, "GET", path+"/releases/tags/"+tag, nil); r.status != 404 {
			t.Errorf("by tag %s: %d, want 404", tag, r.status)
		}
	}
	// Tags containing slashes are addressed with the slashes kept.
	authed(t, s, "POST", path+"/releases", map[string]any{"tag_name": "app/v4", "target_commitish": sha(4)})
	authed(t, s, "GET", path+"/releases/tags/app/v4", nil).json(t, &rel)
	if rel.TagName != "app/v4" {
		t.Errorf("slash tag: %q", rel.TagName)
	}
}

func TestListReleasesPagination(t *testing.T) {
	s := newRepo(t, 1)
	for i := 1; i <= 7; i++ {
		s.AddRelease(repoName, githubtest.Release{TagName: fmt.Sprintf("v0.%d.0", i)})
	}
	next := "/repos/" + repoName + "/releases?per_page=3"
	var tags []string
	var links []string
	for page := 1; next != ""; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		r := authed(t, s, "GET", next, nil)
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", page, r.status, r.body)
		}
		var batch []struct {
			TagName string `json:"tag_name"`
		}
		r.json(t, &batch)
		for _, b := range batch {
			tags = append(tags, b.TagName)
		}
		links = append(links, r.header.Get("Link"))
		next = ""
		for _, part := range strings.Split(r.header.Get("Link"), ", ") {
			if strings.HasSuffix(part, `rel="next"`) {
				next = strings.TrimSuffix(strings.TrimPrefix(strings.Split(part, ";")[0], "<"), ">")
			}
		}
	}
	want := "v0.7.0 v0.6.0 v0.5.0 v0.4.0 v0.3.0 v0.2.0 v0.1.0"
	if got := strings.Join(tags, " "); got != want {
		t.Errorf("tags %q, want %q (newest first)", got, want)
	}
	if len(links) != 3 {
		t.Fatalf("%d pages, want 3", len(links))
	}
	if !strings.Contains(links[0], `page=2>; rel="next"`) || !strings.Contains(links[0], `page=3>; rel="last"`) || strings.Contains(links[0], "prev") {
		t.Errorf("page 1 Link %q", links[0])
	}
	if !strings.Contains(links[1], `rel="prev"`) || !strings.Contains(links[1], `rel="first"`) || !strings.Contains(links[1], "/repositories/") {
		t.Errorf("page 2 Link %q", links[1])
	}
	if strings.Contains(links[2], `rel="next"`) {
		t.Errorf("last page has next: %q", links[2])
	}

	// Defaults: per_page 30, max 100; beyond the last page is empty.
	var all []any
	authed(t, s, "GET", "/repos/"+repoName+"/releases", nil).json(t, &all)
	if len(all) != 7 {
		t.Errorf("default page: %d", len(all))
	}
	authed(t, s, "GET", "/repos/"+repoName+"/releases?per_page=3&page=9", nil).json(t, &all)
	if len(all) != 0 {
		t.Errorf("page 9: %d items", len(all))
	}
}

func TestDraftsHiddenFromNonPushers(t *testing.T) {
	s := githubtest.New(t)
	s.AddRepo("o/ro", false)
	s.AddCommit("o/ro", sha(1))
	s.AddRelease("o/ro", githubtest.Release{TagName: "v1"})
	s.AddRelease("o/ro", githubtest.Release{TagName: "v2", Draft: true})
	var list []map[string]any
	authed(t, s, "GET", "/repos/o/ro/releases", nil).json(t, &list)
	if len(list) != 1 || list[0]["tag_name"] != "v1" {
		t.Errorf("non-pusher sees %v", list)
	}
}

func TestGenerateNotes(t *testing.T) {
	s := newRepo(t, 6)
	s.AddPR(repoName, 1, "Add search", "alice", sha(2))
	s.AddPR(repoName, 2, "Fix cart", "bob", sha(4))
	s.AddPR(repoName, 3, "Tidy CSS", "carol", sha(5))
	s.AddRelease(repoName, githubtest.Release{TagName: "1.0.0", TargetCommitish: sha(3)})
	path := "/repos/" + repoName + "/releases/generate-notes"

	var notes struct{ Name, Body string }
	r := authed(t, s, "POST", path, map[string]any{"tag_name": "1.1.0", "target_commitish": sha(5), "previous_tag_name": "1.0.0"})
	if r.status != 200 {
		t.Fatalf("generate: %d %s", r.status, r.body)
	}
	r.json(t, &notes)
	want := "## What's Changed\n" +
		"* Fix cart by @bob in https://github.com/" + repoName + "/pull/2\n" +
		"* Tidy CSS by @carol in https://github.com/" + repoName + "/pull/3\n\n" +
		"**Full Changelog**: https://github.com/" + repoName + "/compare/1.0.0...1.1.0"
	if notes.Name != "1.1.0" || notes.Body != want {
		t.Errorf("notes %q / %q\nwant body %q", notes.Name, notes.Body, want)
	}

	// Without previous_tag_name the previous release is used.
	authed(t, s, "POST", path, map[string]any{"tag_name": "1.1.0", "target_commitish": sha(5)}).json(t, &notes)
	if notes.Body != want {
		t.Errorf("default previous: %q", notes.Body)
	}

	// First release: everything, and a commits/ link.
	first := newRepo(t, 2)
	first.AddPR(repoName, 7, "Initial app", "alice", sha(1))
	authed(t, first, "POST", path, map[string]any{"tag_name": "0.1.0", "target_commitish": "main"}).json(t, &notes)
	if want := "## What's Changed\n* Initial app by @alice in https://github.com/" + repoName + "/pull/7\n\n**Full Changelog**: https://github.com/" + repoName + "/commits/0.1.0"; notes.Body != want {
		t.Errorf("first release notes %q", notes.Body)
	}

	// No pull requests in range: only the changelog line.
	authed(t, s, "POST", path, map[string]any{"tag_name": "1.0.1", "target_commitish": sha(3), "previous_tag_name": "1.0.0"}).json(t, &notes)
	if notes.Body != "**Full Changelog**: https://github.com/"+repoName+"/compare/1.0.0...1.0.1" {
		t.Errorf("empty range notes %q", notes.Body)
	}

	rejects := []struct {
		name   string
		body   any
		status int
	}{
		{"unknown previous tag", map[string]any{"tag_name": "1.1.0", "target_commitish": sha(5), "previous_tag_name": "0.0.1"}, 404},
		{"new tag without target", map[string]any{"tag_name": "1.1.0"}, 422},
		{"unknown target", map[string]any{"tag_name": "1.1.0", "target_commitish": "nope"}, 422},
		{"missing tag_name", map[string]any{"target_commitish": sha(5)}, 422},
	}
	for _, tc := range rejects {
		if r := authed(t, s, "POST", path, tc.body); r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	if n := len(s.Releases(repoName)); n != 1 {
		t.Errorf("generate-notes stored releases: %d", n)
	}
}

func TestGitRefs(t *testing.T) {
	s := newRepo(t, 2)
	s.AddTag(repoName, "light", sha(1))
	obj := s.AddAnnotatedTag(repoName, "annotated", sha(2))
	base := "/repos/" + repoName + "/git/"

	var ref struct {
		Ref    string `json:"ref"`
		Object struct{ Type, SHA, URL string }
	}
	authed(t, s, "GET", base+"ref/tags/light", nil).json(t, &ref)
	if ref.Ref != "refs/tags/light" || ref.Object.Type != "commit" || ref.Object.SHA != sha(1) {
		t.Errorf("lightweight ref %+v", ref)
	}
	authed(t, s, "GET", base+"ref/tags/annotated", nil).json(t, &ref)
	if ref.Object.Type != "tag" || ref.Object.SHA != obj || obj == sha(2) {
		t.Errorf("annotated ref %+v (tag object %s)", ref, obj)
	}
	var tagObj struct {
		Tag    string `json:"tag"`
		Object struct{ Type, SHA string }
	}
	authed(t, s, "GET", base+"tags/"+obj, nil).json(t, &tagObj)
	if tagObj.Tag != "annotated" || tagObj.Object.Type != "commit" || tagObj.Object.SHA != sha(2) {
		t.Errorf("tag object %+v", tagObj)
	}
	for _, p := range []string{"ref/tags/missing", "tags/" + sha(9)} {
		if r := authed(t, s, "GET", base+p, nil); r.status != 404 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
}

func TestFailHookAndRequestLog(t *testing.T) {
	s := newRepo(t, 1)
	p := "/repos/" + repoName + "/releases/latest"
	s.Fail(p, 502)
	if r := authed(t, s, "GET", p, nil); r.status != 502 {
		t.Errorf("injected: %d", r.status)
	}
	// The failure applies before authentication, like an upstream outage.
	if r := call(t, s, "GET", p, "", nil); r.status != 502 {
		t.Errorf("injected without auth: %d", r.status)
	}
	s.Fail(p, 0)
	if r := authed(t, s, "GET", p, nil); r.status != 404 {
		t.Errorf("after clearing: %d", r.status)
	}

	authed(t, s, "POST", "/repos/"+repoName+"/releases", map[string]any{"tag_name": "v1"})
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "POST" || last.Path != "/repos/"+repoName+"/releases" || !strings.Contains(string(last.Body), `"tag_name":"v1"`) ||
		last.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		t.Errorf("logged %+v", last)
	}
	if len(reqs) != 4 {
		t.Errorf("%d requests logged, want 4", len(reqs))
	}
}

func TestUnsupportedAPIVersion(t *testing.T) {
	s := newRepo(t, 1)
	req, _ := http.NewRequest("GET", s.URL+"/repos/"+repoName, nil)
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("X-GitHub-Api-Version", "2099-01-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

func TestLinkTargetsAreServed(t *testing.T) {
	s := newRepo(t, 1)
	for i := 0; i < 3; i++ {
		s.AddRelease(repoName, githubtest.Release{TagName: fmt.Sprintf("v%d", i)})
	}
	r := authed(t, s, "GET", "/repos/"+repoName+"/releases?per_page=1", nil)
	link := r.header.Get("Link")
	u, err := url.Parse(strings.Trim(strings.Split(link, ";")[0], "<>"))
	if err != nil || !strings.HasPrefix(u.String(), s.URL+"/repositories/") {
		t.Fatalf("Link %q", link)
	}
	var page []map[string]any
	authed(t, s, "GET", u.String(), nil).json(t, &page)
	if len(page) != 1 || page[0]["tag_name"] != "v1" {
		t.Errorf("page 2 via Link: %v", page)
	}
}

func TestReleaseUpdateDeleteAndLatest(t *testing.T) {
	s := newRepo(t, 3)
	base := "/repos/" + repoName + "/releases"
	var a, d map[string]any
	authed(t, s, "POST", base, map[string]any{"tag_name": "1.0.0", "target_commitish": sha(1)}).json(t, &a)
	r := authed(t, s, "POST", base, map[string]any{"tag_name": "1.1.0", "target_commitish": sha(3), "draft": true})
	r.json(t, &d)
	id := int64(d["id"].(float64))
	if want := fmt.Sprintf("%s/%s/releases/tag/untagged-%d", githubtest.WebURL, repoName, id); d["html_url"] != want {
		t.Errorf("draft html_url %v, want %s", d["html_url"], want)
	}
	if r := authed(t, s, "GET", base+"/tags/1.1.0", nil); r.status != 404 {
		t.Errorf("draft by tag: %d", r.status)
	}
	if r := authed(t, s, "GET", fmt.Sprintf("%s/%d", base, id), nil); r.status != 200 {
		t.Errorf("draft by id: %d", r.status)
	}

	// Publish with make_latest=false: tag appears, latest stays.
	r = authed(t, s, "PATCH", fmt.Sprintf("%s/%d", base, id), map[string]any{"draft": false, "make_latest": "false"})
	var p map[string]any
	r.json(t, &p)
	if r.status != 200 || p["draft"] != false || p["published_at"] == nil || p["html_url"] != githubtest.WebURL+"/"+repoName+"/releases/tag/1.1.0" {
		t.Fatalf("publish: %d %v", r.status, p)
	}
	if got, ok := s.TagCommit(repoName, "1.1.0"); !ok || got != sha(3) {
		t.Errorf("tag %q %v", got, ok)
	}
	latest := func() float64 {
		var l map[string]any
		r := authed(t, s, "GET", base+"/latest", nil)
		if r.status != 200 {
			return 0
		}
		r.json(t, &l)
		return l["id"].(float64)
	}
	if got := latest(); got != a["id"] {
		t.Errorf("latest %v, want %v", got, a["id"])
	}
	// legacy: the newest published full release.
	authed(t, s, "PATCH", fmt.Sprintf("%s/%d", base, id), map[string]any{"make_latest": "legacy"})
	if got := latest(); got != float64(id) {
		t.Errorf("legacy latest %v, want %d", got, id)
	}
	authed(t, s, "PATCH", fmt.Sprintf("%s/%v", base, a["id"]), map[string]any{"make_latest": "true"})
	if got := latest(); got != a["id"] {
		t.Errorf("latest after true %v, want %v", got, a["id"])
	}
	if r := authed(t, s, "PATCH", fmt.Sprintf("%s/%d", base, id), map[string]any{"make_latest": "yes"}); r.status != 422 {
		t.Errorf("bad make_latest: %d", r.status)
	}
	if r := authed(t, s, "PATCH", fmt.Sprintf("%s/%d", base, id), map[string]any{"draft": "no"}); r.status != 422 {
		t.Errorf("draft not bool: %d", r.status)
	}
	// Publishing a draft whose tag has a published release is refused.
	var d2 map[string]any
	authed(t, s, "POST", base, map[string]any{"tag_name": "1.2.0", "draft": true}).json(t, &d2)
	if r := authed(t, s, "PATCH", fmt.Sprintf("%s/%v", base, d2["id"]), map[string]any{"tag_name": "1.0.0", "draft": false}); r.status != 422 {
		t.Errorf("publish onto released tag: %d", r.status)
	}

	if r := authed(t, s, "DELETE", fmt.Sprintf("%s/%v", base, a["id"]), nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := authed(t, s, "DELETE", fmt.Sprintf("%s/%v", base, a["id"]), nil); r.status != 404 {
		t.Errorf("delete again: %d", r.status)
	}
	if got := latest(); got != float64(id) {
		t.Errorf("latest after deleting it: %v, want %d", got, id)
	}
	if _, ok := s.TagCommit(repoName, "1.0.0"); !ok {
		t.Error("delete removed the tag")
	}
}
