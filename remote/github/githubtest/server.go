// Package githubtest is a fake GitHub REST API on 127.0.0.1 for tests. It
// serves the endpoints gantry's release step uses, with the request and
// response shapes documented at docs.github.com, and rejects what GitHub
// rejects: bad or missing credentials (401), unknown repositories and tags
// (404), writes without push access (403), duplicate releases and invalid
// fields (422).
//
// Served endpoints (the table routes, whose templates a test checks
// against GitHub's OpenAPI description, @octokit/openapi):
//
//	GET    /repos/{owner}/{repo}
//	GET    /repos/{owner}/{repo}/releases             (per_page, page, Link; drafts for pushers)
//	GET    /repositories/{id}/releases                 (targets of Link headers)
//	POST   /repos/{owner}/{repo}/releases
//	GET    /repos/{owner}/{repo}/releases/latest       (make_latest true/false/legacy)
//	GET    /repos/{owner}/{repo}/releases/tags/{tag}   (published releases only)
//	GET    /repos/{owner}/{repo}/releases/{release_id}
//	PATCH  /repos/{owner}/{repo}/releases/{release_id} (publishing a draft creates its tag)
//	DELETE /repos/{owner}/{repo}/releases/{release_id} (the tag stays)
//	POST   /repos/{owner}/{repo}/releases/generate-notes
//	GET    /repos/{owner}/{repo}/git/ref/{ref}         (tags/… and heads/…)
//	GET    /repos/{owner}/{repo}/git/tags/{tag_sha}
//	GET    /installation/repositories                  (installation tokens only)
//	GET    /repos/{owner}/{repo}/deployments           (sha, ref, task, environment filters; newest first)
//	POST   /repos/{owner}/{repo}/deployments           (ref must resolve)
//	GET    /repos/{owner}/{repo}/deployments/{deployment_id}
//	GET    /repos/{owner}/{repo}/deployments/{deployment_id}/statuses
//	POST   /repos/{owner}/{repo}/deployments/{deployment_id}/statuses (auto_inactive on success)
//
// Knobs: RateLimit answers the next requests with 429 or a 403 rate limit;
// Fail answers a path with an error; WithBasePath("/api/v3") serves as
// GitHub Enterprise Server does; WithImmutableReleases seals published
// releases.
//
// Typical use with the client in remote/github:
//
//	s := githubtest.New(t)
//	s.AddRepo("bookshop-ops/book-shop", true)
//	s.AddCommit("bookshop-ops/book-shop", sha)
//	c, err := github.New(github.Options{Repo: "bookshop-ops/book-shop", APIURL: s.URL, Token: s.Token})
//
// History is linear: commits added with AddCommit follow each other on the
// default branch "main", and release notes list the pull requests merged
// between the previous tag and the new one.
package githubtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// WebURL is the web host the fake uses in html_url and release notes links.
const WebURL = "https://github.com"

// DefaultBranch is the branch AddCommit advances.
const DefaultBranch = "main"

// Supported values of the X-GitHub-Api-Version request header.
var apiVersions = map[string]bool{"2022-11-28": true, "2026-03-10": true}

// Option configures a Server.
type Option func(*Server)

// WithToken sets the token the server accepts (default: a random ghp_ token).
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithInstallationToken makes the token behave like a GitHub App
// installation token (GITHUB_TOKEN in Actions): GET /repos/{o}/{r} has no
// "permissions" and GET /installation/repositories succeeds.
func WithInstallationToken() Option { return func(s *Server) { s.installation = true } }

// WithOAuthScopes makes the token a classic token with these scopes: every
// authenticated response carries X-OAuth-Scopes, and writes without the
// repo or public_repo scope answer 404 as GitHub does.
func WithOAuthScopes(scopes ...string) Option {
	return func(s *Server) { s.scopes = append([]string{}, scopes...); s.classic = true }
}

// WithBasePath serves the API under a path prefix, as GitHub Enterprise
// Server serves it under "/api/v3"; URL then ends in it. Requests outside
// it answer 404.
func WithBasePath(prefix string) Option {
	return func(s *Server) { s.basePath = "/" + strings.Trim(prefix, "/") }
}

// WithImmutableReleases turns on the repository setting "immutable
// releases": a published release cannot be changed, and its tag cannot be
// used by another release, even after the release is deleted.
func WithImmutableReleases() Option { return func(s *Server) { s.immutable = true } }

// RateLimitKind is the kind of rate-limit answer RateLimit gives.
type RateLimitKind int

const (
	// TooManyRequests answers 429 with a secondary-limit message.
	TooManyRequests RateLimitKind = iota
	// SecondaryLimit answers 403 "You have exceeded a secondary rate limit".
	SecondaryLimit
	// PrimaryLimit answers 403 with x-ratelimit-remaining: 0 and
	// x-ratelimit-reset set wait from now, and no Retry-After.
	PrimaryLimit
)

type rateLimit struct {
	n    int
	kind RateLimitKind
	wait time.Duration
}

// Server is a fake GitHub REST API.
type Server struct {
	// URL is the API base, http://127.0.0.1:PORT (no trailing slash).
	URL string
	// Token is the only token the server accepts.
	Token string

	t            testing.TB
	srv          *httptest.Server
	installation bool
	classic      bool
	scopes       []string
	basePath     string // "" or e.g. "/api/v3"
	immutable    bool
	// literalAutoInactive spares production deployments from auto_inactive.
	literalAutoInactive bool

	mu        sync.Mutex
	repos     map[string]*repo // by lower-case "owner/name"
	reposByID map[int64]*repo
	nextID    int64
	clock     time.Time
	requests  []Request
	failures  map[string]int
	limit     rateLimit
	used      int // requests counted against the primary limit
}

// Request is one request the server received.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Release is a release held by the fake.
type Release struct {
	ID              int64
	TagName         string
	TargetCommitish string
	Name            string
	Body            string
	Draft           bool
	Prerelease      bool
	CreatedAt       time.Time
	PublishedAt     time.Time // zero for drafts
	Author          string    // login; default "octocat"
	// Immutable is set on publishing when the repository has immutable
	// releases (WithImmutableReleases), or by AddRelease.
	Immutable bool
}

type repo struct {
	id       int64
	owner    string
	name     string
	push     bool
	commits  []string       // linear history, oldest first
	index    map[string]int // commit sha -> position in commits
	branches map[string]string
	tags     map[string]tagRef
	tagObjs  map[string]tagObject // by object sha
	releases []*Release           // creation order
	latestID int64
	prs      []pullRequest
	// usedTags are tags of immutable releases; no other release may use them.
	usedTags map[string]bool
	// deployments in creation order.
	deployments []*Deployment
}

type tagRef struct {
	objType string // "commit" or "tag"
	sha     string
}

type tagObject struct {
	tag    string
	commit string
}

type pullRequest struct {
	number int
	title  string
	author string
	merge  string
}

// New starts a fake GitHub on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		repos:     map[string]*repo{},
		reposByID: map[int64]*repo{},
		nextID:    1,
		clock:     time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		failures:  map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.Token == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			t.Fatalf("githubtest: token: %v", err)
		}
		s.Token = "ghp_" + hex.EncodeToString(b)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + s.basePath
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server; New already arranges this at test end.
func (s *Server) Close() { s.srv.Close() }

var (
	shaRE      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)
)

// AddRepo registers owner/name. pushPermission is what the token may do
// there: false means read-only (writes answer 403).
func (s *Server) AddRepo(fullName string, pushPermission bool) {
	s.t.Helper()
	if !repoNameRE.MatchString(fullName) {
		s.t.Fatalf("githubtest: AddRepo(%q): want owner/name", fullName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(fullName)
	if _, ok := s.repos[key]; ok {
		s.t.Fatalf("githubtest: AddRepo(%q): already added", fullName)
	}
	owner, name, _ := strings.Cut(fullName, "/")
	r := &repo{
		id: s.id(), owner: owner, name: name, push: pushPermission,
		index: map[string]int{}, branches: map[string]string{},
		tags: map[string]tagRef{}, tagObjs: map[string]tagObject{}, usedTags: map[string]bool{},
	}
	s.repos[key] = r
	s.reposByID[r.id] = r
}

// AddCommit appends a commit (40 lower-case hex digits) to the default
// branch's linear history.
func (s *Server) AddCommit(repoName, sha string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	if !shaRE.MatchString(sha) {
		s.t.Fatalf("githubtest: AddCommit(%q): sha must be 40 lower-case hex digits", sha)
	}
	if _, ok := r.index[sha]; ok {
		s.t.Fatalf("githubtest: AddCommit(%q): already added", sha)
	}
	r.index[sha] = len(r.commits)
	r.commits = append(r.commits, sha)
	r.branches[DefaultBranch] = sha
}

// AddBranch points branch at a known commit.
func (s *Server) AddBranch(repoName, branch, sha string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	s.mustCommit(r, sha)
	r.branches[branch] = sha
}

// AddTag creates a lightweight tag on a known commit.
func (s *Server) AddTag(repoName, tag, sha string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	s.mustCommit(r, sha)
	s.mustNewTag(r, tag)
	r.tags[tag] = tagRef{objType: "commit", sha: sha}
}

// AddAnnotatedTag creates an annotated tag on a known commit and returns the
// tag object's sha.
func (s *Server) AddAnnotatedTag(repoName, tag, sha string) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	s.mustCommit(r, sha)
	s.mustNewTag(r, tag)
	obj := fakeSHA("tag", r.name, tag, sha)
	r.tagObjs[obj] = tagObject{tag: tag, commit: sha}
	r.tags[tag] = tagRef{objType: "tag", sha: obj}
	return obj
}

// AddPR records a merged pull request whose merge commit is a known commit.
func (s *Server) AddPR(repoName string, number int, title, author, mergeCommitSHA string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	s.mustCommit(r, mergeCommitSHA)
	r.prs = append(r.prs, pullRequest{number: number, title: title, author: author, merge: mergeCommitSHA})
}

// AddRelease stores a release as if created earlier, and returns it with ID
// and times filled in. A published release whose tag does not exist creates
// the tag at TargetCommitish (default: the default branch); a published full
// release becomes the latest, as with make_latest=true.
func (s *Server) AddRelease(repoName string, rel Release) Release {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	if rel.TagName == "" || !validTagName(rel.TagName) {
		s.t.Fatalf("githubtest: AddRelease: bad tag %q", rel.TagName)
	}
	if r.releaseByTag(rel.TagName) != nil {
		s.t.Fatalf("githubtest: AddRelease: %s already has a release", rel.TagName)
	}
	if rel.TargetCommitish == "" {
		rel.TargetCommitish = DefaultBranch
	}
	if _, ok := r.tags[rel.TagName]; !ok && !rel.Draft {
		sha, ok := r.resolve(rel.TargetCommitish)
		if !ok {
			s.t.Fatalf("githubtest: AddRelease(%s): unknown target %q", rel.TagName, rel.TargetCommitish)
		}
		r.tags[rel.TagName] = tagRef{objType: "commit", sha: sha}
	}
	rel.ID = s.id()
	if rel.CreatedAt.IsZero() {
		rel.CreatedAt = s.tick()
	}
	if rel.Draft {
		rel.PublishedAt = time.Time{}
	} else if rel.PublishedAt.IsZero() {
		rel.PublishedAt = rel.CreatedAt
	}
	if rel.Author == "" {
		rel.Author = "octocat"
	}
	if !rel.Draft && s.immutable {
		rel.Immutable = true
	}
	if rel.Immutable {
		r.usedTags[rel.TagName] = true
	}
	stored := rel
	r.releases = append(r.releases, &stored)
	if !rel.Draft && !rel.Prerelease {
		r.latestID = rel.ID
	}
	return rel
}

// Releases returns the repository's releases in creation order, drafts included.
func (s *Server) Releases(repoName string) []Release {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	out := make([]Release, 0, len(r.releases))
	for _, rel := range r.releases {
		out = append(out, *rel)
	}
	return out
}

// TagCommit returns the commit a tag points at, and whether the tag exists.
func (s *Server) TagCommit(repoName, tag string) (string, bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	ref, ok := r.tags[tag]
	if !ok {
		return "", false
	}
	if ref.objType == "tag" {
		return r.tagObjs[ref.sha].commit, true
	}
	return ref.sha, true
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RateLimit answers the next n authenticated requests with a rate-limit
// response of kind; wait is the Retry-After (0: none) or, for
// PrimaryLimit, the time until x-ratelimit-reset. Nothing is done for a
// limited request, as on GitHub.
func (s *Server) RateLimit(n int, kind RateLimitKind, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = rateLimit{n: n, kind: kind, wait: wait}
}

// Fail makes every later request whose URL path equals path answer status
// with a GitHub-style error body; status 0 removes the failure.
func (s *Server) Fail(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.failures, path)
		return
	}
	s.failures[path] = status
}

func (s *Server) id() int64 {
	id := s.nextID
	s.nextID++
	return id
}

// tick is the fake clock: each event is one minute after the previous, so
// ordering by time is deterministic.
func (s *Server) tick() time.Time {
	s.clock = s.clock.Add(time.Minute)
	return s.clock
}

func (s *Server) mustRepo(name string) *repo {
	s.t.Helper()
	r, ok := s.repos[strings.ToLower(name)]
	if !ok {
		s.t.Fatalf("githubtest: unknown repo %q (call AddRepo first)", name)
	}
	return r
}

func (s *Server) mustCommit(r *repo, sha string) {
	s.t.Helper()
	if _, ok := r.index[sha]; !ok {
		s.t.Fatalf("githubtest: unknown commit %q in %s/%s (call AddCommit first)", sha, r.owner, r.name)
	}
}

func (s *Server) mustNewTag(r *repo, tag string) {
	s.t.Helper()
	if !validTagName(tag) {
		s.t.Fatalf("githubtest: bad tag name %q", tag)
	}
	if _, ok := r.tags[tag]; ok {
		s.t.Fatalf("githubtest: tag %q already exists", tag)
	}
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

func (r *repo) releaseByTag(tag string) *Release {
	for _, rel := range r.releases {
		if rel.TagName == tag {
			return rel
		}
	}
	return nil
}

// resolve turns a branch name or known full sha into a commit.
func (r *repo) resolve(commitish string) (string, bool) {
	if sha, ok := r.branches[commitish]; ok {
		return sha, true
	}
	if _, ok := r.index[commitish]; ok {
		return commitish, true
	}
	return "", false
}

// tagCommit returns the commit a tag points at.
func (r *repo) tagCommit(tag string) (string, bool) {
	ref, ok := r.tags[tag]
	if !ok {
		return "", false
	}
	if ref.objType == "tag" {
		return r.tagObjs[ref.sha].commit, true
	}
	return ref.sha, true
}

// latest is the release GET .../releases/latest returns: the one marked
// latest, or (legacy, or none marked) the most recently created published
// full release.
func (r *repo) latest() *Release {
	if r.latestID == noLatest {
		return nil
	}
	for _, rel := range r.releases {
		if rel.ID == r.latestID && !rel.Draft && !rel.Prerelease {
			return rel
		}
	}
	return r.newestFull(0)
}

// newestFull is the most recently created published full release other
// than except.
func (r *repo) newestFull(except int64) *Release {
	var best *Release
	for _, rel := range r.releases {
		if rel.Draft || rel.Prerelease || rel.ID == except {
			continue
		}
		if best == nil || rel.CreatedAt.After(best.CreatedAt) || (rel.CreatedAt.Equal(best.CreatedAt) && rel.ID > best.ID) {
			best = rel
		}
	}
	return best
}

// noLatest as latestID means no release is the latest.
const noLatest = -1

// markLatest applies make_latest to a published full release: "true" makes
// it the latest, "legacy" lets creation date decide, "false" leaves the
// latest alone (and moves it away from rel if rel was the latest).
func (r *repo) markLatest(rel *Release, makeLatest string) {
	switch makeLatest {
	case "true":
		r.latestID = rel.ID
	case "legacy":
		r.latestID = 0
	case "false":
		if cur := r.latest(); cur != nil && cur.ID == rel.ID {
			r.latestID = noLatest
			if next := r.newestFull(rel.ID); next != nil {
				r.latestID = next.ID
			}
		}
	}
}

// visible lists releases newest first; drafts only for pushers, as documented.
func (r *repo) visible() []*Release {
	var out []*Release
	for _, rel := range r.releases {
		if rel.Draft && !r.push {
			continue
		}
		out = append(out, rel)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

// validTagName applies git check-ref-format rules.
func validTagName(tag string) bool {
	if tag == "" || tag == "@" || strings.Contains(tag, "..") || strings.Contains(tag, "@{") || strings.Contains(tag, "//") {
		return false
	}
	if strings.HasPrefix(tag, "/") || strings.HasPrefix(tag, "-") || strings.HasSuffix(tag, "/") || strings.HasSuffix(tag, ".") {
		return false
	}
	for _, c := range tag {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	for _, seg := range strings.Split(tag, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return false
		}
	}
	return true
}

func fakeSHA(parts ...string) string {
	h := fnv64(strings.Join(parts, "\x00"))
	return fmt.Sprintf("%016x%016x%08x", h, fnv64(fmt.Sprint(h)), uint32(h>>7))
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%02d:%s%d", len(kind), kind, id)))
}

// ---- HTTP ----

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery,
		Header: req.Header.Clone(), Body: body,
	})
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	if status, ok := s.failures[req.URL.Path]; ok {
		msg := http.StatusText(status)
		if status == http.StatusUnauthorized {
			msg = "Bad credentials"
		}
		writeError(w, status, msg, nil)
		return
	}
	if v := req.Header.Get("X-GitHub-Api-Version"); v != "" && !apiVersions[v] {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("API version %s is not supported.", v), nil)
		return
	}
	if !s.authorize(w, req) {
		return
	}
	if s.rateLimited(w) {
		return
	}
	if s.classic {
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.scopes, ", "))
	}
	s.route(w, req, body)
}

// primaryLimit is the fake's hourly request budget, as for a user token.
const primaryLimit = 5000

// rateLimited writes the x-ratelimit-* headers GitHub sends on every
// authenticated answer, and the rate-limit answer RateLimit asked for.
func (s *Server) rateLimited(w http.ResponseWriter) bool {
	h := w.Header()
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	h.Set("X-Ratelimit-Limit", strconv.Itoa(primaryLimit))
	h.Set("X-Ratelimit-Resource", "core")
	if s.limit.n <= 0 {
		s.used++
		h.Set("X-Ratelimit-Remaining", strconv.Itoa(max(0, primaryLimit-s.used)))
		h.Set("X-Ratelimit-Used", strconv.Itoa(s.used))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		return false
	}
	s.limit.n--
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(max(0, primaryLimit-s.used)))
	h.Set("X-Ratelimit-Used", strconv.Itoa(s.used))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	secs := strconv.Itoa(int((s.limit.wait + time.Second - 1) / time.Second))
	const secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."
	switch s.limit.kind {
	case PrimaryLimit:
		reset := time.Now().Add(s.limit.wait)
		h.Set("X-Ratelimit-Remaining", "0")
		h.Set("X-Ratelimit-Used", strconv.Itoa(primaryLimit))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.", nil)
	case SecondaryLimit:
		if s.limit.wait > 0 {
			h.Set("Retry-After", secs)
		}
		writeError(w, http.StatusForbidden, secondary, nil)
	default:
		if s.limit.wait > 0 {
			h.Set("Retry-After", secs)
		}
		writeError(w, http.StatusTooManyRequests, secondary, nil)
	}
	return true
}

// authorize accepts "Authorization: token X" and "Bearer X".
func (s *Server) authorize(w http.ResponseWriter, req *http.Request) bool {
	h := req.Header.Get("Authorization")
	if h == "" {
		writeError(w, http.StatusUnauthorized, "Requires authentication", nil)
		return false
	}
	scheme, cred, _ := strings.Cut(h, " ")
	if (!strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer")) || strings.TrimSpace(cred) != s.Token {
		writeError(w, http.StatusUnauthorized, "Bad credentials", nil)
		return false
	}
	return true
}

// route is one endpoint the fake serves. pattern is the path template as
// GitHub's OpenAPI description writes it; a test checks every route
// against that description.
type route struct {
	method  string
	pattern string
	// undocumented says why a route is absent from the description.
	undocumented string
	handle       func(s *Server, c *call)
}

// call is one routed request.
type call struct {
	w      http.ResponseWriter
	req    *http.Request
	body   []byte
	repo   *repo
	params map[string]string
}

// greedy path parameters may span "/" (tags and refs may contain it).
var greedy = map[string]bool{"tag": true, "ref": true}

// routes in match order: literal segments before parameters.
var routes = []route{
	{method: "GET", pattern: "/installation/repositories", handle: func(s *Server, c *call) { s.installationRepos(c.w) }},
	{method: "GET", pattern: "/repositories/{repository_id}/releases",
		undocumented: "GitHub's Link headers for the releases list point here",
		handle:       func(s *Server, c *call) { s.listReleases(c.w, c.req, c.repo) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}", handle: func(s *Server, c *call) { s.getRepo(c.w, c.repo) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/releases", handle: func(s *Server, c *call) { s.listReleases(c.w, c.req, c.repo) }},
	{method: "POST", pattern: "/repos/{owner}/{repo}/releases", handle: func(s *Server, c *call) { s.createRelease(c.w, c.repo, c.body) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/releases/latest", handle: func(s *Server, c *call) { s.latestRelease(c.w, c.repo) }},
	{method: "POST", pattern: "/repos/{owner}/{repo}/releases/generate-notes", handle: func(s *Server, c *call) { s.generateNotes(c.w, c.repo, c.body) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/releases/tags/{tag}", handle: func(s *Server, c *call) { s.releaseByTag(c.w, c.repo, c.params["tag"]) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/releases/{release_id}", handle: func(s *Server, c *call) { s.getRelease(c.w, c.repo, c.id()) }},
	{method: "PATCH", pattern: "/repos/{owner}/{repo}/releases/{release_id}", handle: func(s *Server, c *call) { s.updateRelease(c.w, c.repo, c.id(), c.body) }},
	{method: "DELETE", pattern: "/repos/{owner}/{repo}/releases/{release_id}", handle: func(s *Server, c *call) { s.deleteRelease(c.w, c.repo, c.id()) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/git/ref/{ref}", handle: func(s *Server, c *call) { s.getRef(c.w, c.repo, c.params["ref"]) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/git/tags/{tag_sha}", handle: func(s *Server, c *call) { s.getTagObject(c.w, c.repo, c.params["tag_sha"]) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/deployments", handle: func(s *Server, c *call) { s.listDeployments(c.w, c.req, c.repo) }},
	{method: "POST", pattern: "/repos/{owner}/{repo}/deployments", handle: func(s *Server, c *call) { s.createDeployment(c.w, c.repo, c.body) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/deployments/{deployment_id}", handle: func(s *Server, c *call) { s.getDeployment(c.w, c.repo, c.params["deployment_id"]) }},
	{method: "GET", pattern: "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", handle: func(s *Server, c *call) {
		s.listDeploymentStatuses(c.w, c.req, c.repo, c.params["deployment_id"])
	}},
	{method: "POST", pattern: "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", handle: func(s *Server, c *call) {
		s.createDeploymentStatus(c.w, c.repo, c.params["deployment_id"], c.body)
	}},
}

func (c *call) id() int64 {
	id, _ := strconv.ParseInt(c.params["release_id"], 10, 64)
	return id
}

// match fills params when path fits pattern.
func match(pattern string, segs []string) (map[string]string, bool) {
	pat := strings.Split(strings.Trim(pattern, "/"), "/")
	params := map[string]string{}
	for i, p := range pat {
		if i >= len(segs) || segs[i] == "" {
			return nil, false
		}
		if !strings.HasPrefix(p, "{") {
			if p != segs[i] {
				return nil, false
			}
			continue
		}
		name := strings.Trim(p, "{}")
		if greedy[name] && i == len(pat)-1 {
			params[name] = strings.Join(segs[i:], "/")
			return params, true
		}
		params[name] = segs[i]
	}
	return params, len(pat) == len(segs)
}

func (s *Server) route(w http.ResponseWriter, req *http.Request, body []byte) {
	path, ok := strings.CutPrefix(req.URL.Path, s.basePath)
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range routes {
		if rt.method != req.Method {
			continue
		}
		params, ok := match(rt.pattern, segs)
		if !ok {
			continue
		}
		c := &call{w: w, req: req, body: body, params: params}
		if id, ok := params["release_id"]; ok && !isID(id) {
			continue
		}
		if id, ok := params["deployment_id"]; ok && !isID(id) {
			continue
		}
		switch {
		case params["owner"] != "":
			if c.repo = s.repos[strings.ToLower(params["owner"]+"/"+params["repo"])]; c.repo == nil {
				writeError(w, http.StatusNotFound, "Not Found", nil)
				return
			}
		case params["repository_id"] != "":
			id, _ := strconv.ParseInt(params["repository_id"], 10, 64)
			if c.repo = s.reposByID[id]; c.repo == nil {
				writeError(w, http.StatusNotFound, "Not Found", nil)
				return
			}
		}
		rt.handle(s, c)
		return
	}
	writeError(w, http.StatusNotFound, "Not Found", nil)
}

type errorItem struct {
	Resource string `json:"resource"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, items []errorItem) {
	body := map[string]any{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(status),
	}
	if len(items) > 0 {
		body["errors"] = items
	}
	writeJSON(w, status, body)
}

func validationFailed(w http.ResponseWriter, items ...errorItem) {
	writeError(w, http.StatusUnprocessableEntity, "Validation Failed", items)
}

func (s *Server) owner(r *repo) map[string]any { return s.user(r.owner, 1) }

// user is GitHub's simple-user object.
func (s *Server) user(login string, id int64) map[string]any {
	api := s.URL + "/users/" + login
	return map[string]any{
		"login": login, "id": id, "node_id": nodeID("User", id), "type": "User", "site_admin": false,
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id), "gravatar_id": "",
		"url": api, "html_url": WebURL + "/" + login,
		"followers_url": api + "/followers", "following_url": api + "/following{/other_user}",
		"gists_url": api + "/gists{/gist_id}", "starred_url": api + "/starred{/owner}{/repo}",
		"subscriptions_url": api + "/subscriptions", "organizations_url": api + "/orgs",
		"repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
	}
}

// getRepo answers with GitHub's full-repository object.
func (s *Server) getRepo(w http.ResponseWriter, r *repo) {
	api := s.URL + "/repos/" + r.fullName()
	web := WebURL + "/" + r.fullName()
	created := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	out := map[string]any{
		"id": r.id, "node_id": nodeID("Repository", r.id), "name": r.name, "full_name": r.fullName(),
		"private": true, "owner": s.owner(r), "html_url": web, "description": nil, "fork": false,
		"url": api, "default_branch": DefaultBranch, "visibility": "private",
		"archived": false, "disabled": false, "homepage": nil, "language": "Python", "mirror_url": nil, "license": nil,
		"forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0, "watchers": 0, "watchers_count": 0,
		"stargazers_count": 0, "network_count": 0, "subscribers_count": 0, "size": 0,
		"has_issues": true, "has_projects": false, "has_wiki": false, "has_pages": false, "has_discussions": false,
		"created_at": created, "updated_at": created, "pushed_at": created,
		"clone_url": web + ".git", "git_url": "git://" + strings.TrimPrefix(web, "https://") + ".git",
		"ssh_url": "git@" + strings.TrimPrefix(WebURL, "https://") + ":" + r.fullName() + ".git", "svn_url": web,
		"archive_url": api + "/{archive_format}{/ref}", "assignees_url": api + "/assignees{/user}",
		"blobs_url": api + "/git/blobs{/sha}", "branches_url": api + "/branches{/branch}",
		"collaborators_url": api + "/collaborators{/collaborator}", "comments_url": api + "/comments{/number}",
		"commits_url": api + "/commits{/sha}", "compare_url": api + "/compare/{base}...{head}",
		"contents_url": api + "/contents/{+path}", "contributors_url": api + "/contributors",
		"deployments_url": api + "/deployments", "downloads_url": api + "/downloads", "events_url": api + "/events",
		"forks_url": api + "/forks", "git_commits_url": api + "/git/commits{/sha}", "git_refs_url": api + "/git/refs{/sha}",
		"git_tags_url": api + "/git/tags{/sha}", "hooks_url": api + "/hooks",
		"issue_comment_url": api + "/issues/comments{/number}", "issue_events_url": api + "/issues/events{/number}",
		"issues_url": api + "/issues{/number}", "keys_url": api + "/keys{/key_id}", "labels_url": api + "/labels{/name}",
		"languages_url": api + "/languages", "merges_url": api + "/merges", "milestones_url": api + "/milestones{/number}",
		"notifications_url": api + "/notifications{?since,all,participating}", "pulls_url": api + "/pulls{/number}",
		"releases_url": api + "/releases{/id}", "stargazers_url": api + "/stargazers", "statuses_url": api + "/statuses/{sha}",
		"subscribers_url": api + "/subscribers", "subscription_url": api + "/subscription", "tags_url": api + "/tags",
		"teams_url": api + "/teams", "trees_url": api + "/git/trees{/sha}",
	}
	if !s.installation {
		out["permissions"] = map[string]bool{
			"admin": false, "maintain": false, "push": r.push, "triage": r.push, "pull": true,
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) installationRepos(w http.ResponseWriter) {
	if !s.installation {
		writeError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.", nil)
		return
	}
	var list []map[string]any
	for _, r := range s.repos {
		list = append(list, map[string]any{"id": r.id, "full_name": r.fullName()})
	}
	sort.Slice(list, func(i, j int) bool { return list[i]["id"].(int64) < list[j]["id"].(int64) })
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "repository_selection": "selected", "repositories": list})
}

func (s *Server) releaseJSON(r *repo, rel *Release) map[string]any {
	api := s.URL + "/repos/" + r.fullName()
	out := map[string]any{
		"url":              fmt.Sprintf("%s/releases/%d", api, rel.ID),
		"html_url":         WebURL + "/" + r.fullName() + "/releases/tag/" + rel.TagName,
		"assets_url":       fmt.Sprintf("%s/releases/%d/assets", api, rel.ID),
		"upload_url":       fmt.Sprintf("%s/releases/%d/assets{?name,label}", api, rel.ID),
		"tarball_url":      api + "/tarball/" + rel.TagName,
		"zipball_url":      api + "/zipball/" + rel.TagName,
		"id":               rel.ID,
		"node_id":          nodeID("Release", rel.ID),
		"tag_name":         rel.TagName,
		"target_commitish": rel.TargetCommitish,
		"name":             nullIfEmpty(rel.Name),
		"body":             nullIfEmpty(rel.Body),
		"draft":            rel.Draft,
		"prerelease":       rel.Prerelease,
		"created_at":       rel.CreatedAt.UTC().Format(time.RFC3339),
		"published_at":     nil,
		"updated_at":       rel.CreatedAt.UTC().Format(time.RFC3339),
		"immutable":        rel.Immutable,
		"author":           s.user(rel.Author, 583231),
		"assets":           []any{},
	}
	if !rel.PublishedAt.IsZero() {
		out["updated_at"] = rel.PublishedAt.UTC().Format(time.RFC3339)
	}
	if rel.Draft {
		// GitHub gives drafts an untagged-… page and no archives.
		out["html_url"] = fmt.Sprintf("%s/%s/releases/tag/untagged-%d", WebURL, r.fullName(), rel.ID)
		out["tarball_url"], out["zipball_url"] = nil, nil
	} else {
		out["published_at"] = rel.PublishedAt.UTC().Format(time.RFC3339)
	}
	return out
}

// seal makes a just-published release immutable when the repository says so.
func (s *Server) seal(r *repo, rel *Release) {
	if s.immutable {
		rel.Immutable = true
		r.usedTags[rel.TagName] = true
	}
}

func immutableField(rel *Release, k string) any {
	switch k {
	case "tag_name":
		return rel.TagName
	case "target_commitish":
		return rel.TargetCommitish
	case "draft":
		return rel.Draft
	default:
		return rel.Prerelease
	}
}

func isID(s string) bool {
	id, err := strconv.ParseInt(s, 10, 64)
	return err == nil && id > 0 && strconv.FormatInt(id, 10) == s
}

func (r *repo) releaseByID(id int64) (int, *Release) {
	for i, rel := range r.releases {
		if rel.ID == id {
			return i, rel
		}
	}
	return -1, nil
}

func (s *Server) getRelease(w http.ResponseWriter, r *repo, id int64) {
	_, rel := r.releaseByID(id)
	if rel == nil || (rel.Draft && !r.push) {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(r, rel))
}

// updateRelease is PATCH .../releases/{id}: publishing a draft gives it
// published_at and its tag (created at target_commitish when missing);
// make_latest applies to the release as it is after the change, defaulting
// to "true" for a newly published full release.
func (s *Server) updateRelease(w http.ResponseWriter, r *repo, id int64, body []byte) {
	_, rel := r.releaseByID(id)
	if rel == nil || (rel.Draft && !r.push) {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	if !s.canWrite(w, r) {
		return
	}
	in, ok := decodeBody(w, body, map[string]fieldKind{
		"tag_name": kindString, "target_commitish": kindString, "name": kindString, "body": kindString,
		"draft": kindBool, "prerelease": kindBool, "make_latest": kindString, "discussion_category_name": kindString,
	})
	if !ok {
		return
	}
	makeLatest := ""
	if v, ok := in["make_latest"]; ok {
		makeLatest = v.(string)
		if makeLatest != "true" && makeLatest != "false" && makeLatest != "legacy" {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/make_latest', %q is not one of [\"true\", \"false\", \"legacy\"].", makeLatest), nil)
			return
		}
	}
	if rel.Immutable {
		for _, k := range []string{"tag_name", "target_commitish", "draft", "prerelease"} {
			if v, ok := in[k]; ok && v != immutableField(rel, k) {
				validationFailed(w, errorItem{Resource: "Release", Code: "custom", Field: k, Message: "Cannot modify an immutable release."})
				return
			}
		}
	}
	next := *rel
	if v, ok := in["tag_name"]; ok {
		next.TagName = v.(string)
	}
	if v, ok := in["target_commitish"]; ok {
		next.TargetCommitish = v.(string)
	}
	if v, ok := in["name"]; ok {
		next.Name = v.(string)
	}
	if v, ok := in["body"]; ok {
		next.Body = v.(string)
	}
	if v, ok := in["draft"]; ok {
		next.Draft = v.(bool)
	}
	if v, ok := in["prerelease"]; ok {
		next.Prerelease = v.(bool)
	}
	if !validTagName(next.TagName) {
		validationFailed(w, errorItem{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name is not well-formed"})
		return
	}
	if !next.Draft {
		for _, other := range r.releases {
			if other.ID != rel.ID && !other.Draft && other.TagName == next.TagName {
				validationFailed(w, errorItem{Resource: "Release", Code: "already_exists", Field: "tag_name"})
				return
			}
		}
		if r.usedTags[next.TagName] && !rel.Immutable {
			validationFailed(w, errorItem{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name was used by an immutable release"})
			return
		}
		if _, exists := r.tags[next.TagName]; !exists {
			sha, ok := r.resolve(next.TargetCommitish)
			if !ok {
				validationFailed(w, errorItem{Resource: "Release", Code: "invalid", Field: "target_commitish"})
				return
			}
			r.tags[next.TagName] = tagRef{objType: "commit", sha: sha}
		}
	}
	published := rel.Draft && !next.Draft
	switch {
	case published:
		next.PublishedAt = s.tick()
	case next.Draft:
		next.PublishedAt = time.Time{}
	}
	*rel = next
	if published {
		s.seal(r, rel)
	}
	if rel.Draft || rel.Prerelease {
		if r.latestID == rel.ID {
			r.latestID = 0
		}
	} else {
		if makeLatest == "" && published {
			makeLatest = "true"
		}
		r.markLatest(rel, makeLatest)
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(r, rel))
}

// deleteRelease is DELETE .../releases/{id}; the tag stays, as on GitHub.
func (s *Server) deleteRelease(w http.ResponseWriter, r *repo, id int64) {
	i, rel := r.releaseByID(id)
	if rel == nil || (rel.Draft && !r.push) {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	if !s.canWrite(w, r) {
		return
	}
	r.releases = append(r.releases[:i], r.releases[i+1:]...)
	if r.latestID == id {
		r.latestID = 0
	}
	w.WriteHeader(http.StatusNoContent)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) releaseByTag(w http.ResponseWriter, r *repo, tag string) {
	// "Get a published release with the specified tag."
	for _, rel := range r.releases {
		if rel.TagName == tag && !rel.Draft {
			writeJSON(w, http.StatusOK, s.releaseJSON(r, rel))
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found", nil)
}

func (s *Server) latestRelease(w http.ResponseWriter, r *repo) {
	rel := r.latest()
	if rel == nil {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(r, rel))
}

func (s *Server) listReleases(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	perPage, page := 30, 1
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	all := r.visible()
	last := max(1, (len(all)+perPage-1)/perPage)
	start := min((page-1)*perPage, len(all))
	end := min(start+perPage, len(all))
	items := make([]map[string]any, 0, end-start)
	for _, rel := range all[start:end] {
		items = append(items, s.releaseJSON(r, rel))
	}
	if last > 1 {
		// GitHub's Link targets use the repository id.
		link := func(p int, rel string) string {
			return fmt.Sprintf(`<%s/repositories/%d/releases?per_page=%d&page=%d>; rel="%s"`, s.URL, r.id, perPage, p, rel)
		}
		var parts []string
		if page > 1 {
			parts = append(parts, link(min(page-1, last), "prev"))
		}
		if page < last {
			parts = append(parts, link(page+1, "next"), link(last, "last"))
		}
		if page > 1 {
			parts = append(parts, link(1, "first"))
		}
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
	writeJSON(w, http.StatusOK, items)
}

// canWrite enforces push access for writes, as GitHub does per token kind.
func (s *Server) canWrite(w http.ResponseWriter, r *repo) bool {
	if s.classic && !contains(s.scopes, "repo") && !contains(s.scopes, "public_repo") {
		writeError(w, http.StatusNotFound, "Not Found", nil) // private repo, no repo scope
		return false
	}
	if !r.push {
		msg := "Resource not accessible by personal access token"
		if s.installation {
			msg = "Resource not accessible by integration"
		}
		writeError(w, http.StatusForbidden, msg, nil)
		return false
	}
	return true
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// fieldKinds are the JSON types of the request body properties the fake
// knows; GitHub's schema validation rejects others with 422.
type fieldKind int

const (
	kindString fieldKind = iota
	kindBool
)

// decodeBody parses a JSON object body, checking property types the way
// GitHub's request schema validation does. It writes the error itself.
func decodeBody(w http.ResponseWriter, body []byte, kinds map[string]fieldKind, required ...string) (map[string]any, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", nil)
		return nil, false
	}
	for _, name := range required {
		if _, ok := raw[name]; !ok {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\n%q wasn't supplied.", name), nil)
			return nil, false
		}
	}
	out := map[string]any{}
	for name, v := range raw {
		kind, known := kinds[name]
		if !known {
			continue
		}
		switch kind {
		case kindString:
			var sv string
			if err := json.Unmarshal(v, &sv); err != nil {
				writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', %s is not a string.", name, v), nil)
				return nil, false
			}
			out[name] = sv
		case kindBool:
			var bv bool
			if err := json.Unmarshal(v, &bv); err != nil {
				writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/%s', %s is not a boolean.", name, v), nil)
				return nil, false
			}
			out[name] = bv
		}
	}
	return out, true
}

func str(m map[string]any, k string) string   { v, _ := m[k].(string); return v }
func boolean(m map[string]any, k string) bool { v, _ := m[k].(bool); return v }

func (s *Server) createRelease(w http.ResponseWriter, r *repo, body []byte) {
	if !s.canWrite(w, r) {
		return
	}
	in, ok := decodeBody(w, body, map[string]fieldKind{
		"tag_name": kindString, "target_commitish": kindString, "name": kindString, "body": kindString,
		"draft": kindBool, "prerelease": kindBool, "generate_release_notes": kindBool,
		"make_latest": kindString, "discussion_category_name": kindString,
	}, "tag_name")
	if !ok {
		return
	}
	tag, draft := str(in, "tag_name"), boolean(in, "draft")
	if !validTagName(tag) {
		items := []errorItem{
			{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name is not a valid tag"},
			{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name is not well-formed"},
		}
		if !draft {
			items = append(items, errorItem{Resource: "Release", Code: "custom", Message: "Published releases must have a valid tag"})
		}
		validationFailed(w, items...)
		return
	}
	makeLatest := "true"
	if v, ok := in["make_latest"]; ok {
		makeLatest = v.(string)
		if makeLatest != "true" && makeLatest != "false" && makeLatest != "legacy" {
			writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\nFor 'properties/make_latest', %q is not one of [\"true\", \"false\", \"legacy\"].", makeLatest), nil)
			return
		}
	}
	if r.usedTags[tag] {
		validationFailed(w, errorItem{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name was used by an immutable release"})
		return
	}
	if r.releaseByTag(tag) != nil {
		validationFailed(w, errorItem{Resource: "Release", Code: "already_exists", Field: "tag_name"})
		return
	}
	target := str(in, "target_commitish")
	if target == "" {
		target = DefaultBranch
	}
	if _, exists := r.tags[tag]; !exists {
		// target_commitish is "Unused if the Git tag already exists."
		sha, ok := r.resolve(target)
		if !ok {
			validationFailed(w, errorItem{Resource: "Release", Code: "invalid", Field: "target_commitish"})
			return
		}
		if !draft { // drafts get their tag when published
			r.tags[tag] = tagRef{objType: "commit", sha: sha}
		}
	}
	rel := &Release{
		ID: s.id(), TagName: tag, TargetCommitish: target,
		Name: str(in, "name"), Body: str(in, "body"),
		Draft: draft, Prerelease: boolean(in, "prerelease"),
		CreatedAt: s.tick(), Author: "octocat",
	}
	if boolean(in, "generate_release_notes") {
		prev, _ := r.previousTag(tag, mustTagOrTarget(r, tag, target))
		name, notes := s.notes(r, tag, prev, mustTagOrTarget(r, tag, target))
		if rel.Name == "" {
			rel.Name = name
		}
		if rel.Body != "" {
			rel.Body = notes + "\n\n" + rel.Body
		} else {
			rel.Body = notes
		}
	}
	if !rel.Draft {
		rel.PublishedAt = rel.CreatedAt
		s.seal(r, rel)
	}
	r.releases = append(r.releases, rel)
	if !rel.Draft && !rel.Prerelease {
		r.markLatest(rel, makeLatest)
	}
	out := s.releaseJSON(r, rel)
	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

func mustTagOrTarget(r *repo, tag, target string) string {
	if sha, ok := r.tagCommit(tag); ok {
		return sha
	}
	sha, _ := r.resolve(target)
	return sha
}

func (s *Server) generateNotes(w http.ResponseWriter, r *repo, body []byte) {
	if !s.canWrite(w, r) { // documented: needs contents:write
		return
	}
	in, ok := decodeBody(w, body, map[string]fieldKind{
		"tag_name": kindString, "target_commitish": kindString,
		"previous_tag_name": kindString, "configuration_file_path": kindString,
	}, "tag_name")
	if !ok {
		return
	}
	tag := str(in, "tag_name")
	if !validTagName(tag) {
		validationFailed(w, errorItem{Resource: "Release", Code: "custom", Field: "tag_name", Message: "tag_name is not well-formed"})
		return
	}
	head, exists := r.tagCommit(tag)
	if !exists {
		// target_commitish is "Required if the supplied tag_name does not
		// reference an existing tag. Ignored if the tag_name already exists."
		target := str(in, "target_commitish")
		if target == "" {
			validationFailed(w, errorItem{Resource: "Release", Code: "missing_field", Field: "target_commitish"})
			return
		}
		if head, ok = r.resolve(target); !ok {
			validationFailed(w, errorItem{Resource: "Release", Code: "invalid", Field: "target_commitish"})
			return
		}
	}
	prev := str(in, "previous_tag_name")
	if prev != "" {
		if _, ok := r.tagCommit(prev); !ok {
			writeError(w, http.StatusNotFound, "Not Found", nil) // documented codes: 200, 404
			return
		}
	} else {
		prev, _ = r.previousTag(tag, head)
	}
	name, notes := s.notes(r, tag, prev, head)
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "body": notes})
}

// previousTag is GitHub's default start of the notes range: the most recent
// published full release whose tag is at or before head.
func (r *repo) previousTag(tag, head string) (string, bool) {
	headIdx, ok := r.index[head]
	if !ok {
		return "", false
	}
	best, bestIdx := "", -1
	for _, rel := range r.releases {
		if rel.Draft || rel.Prerelease || rel.TagName == tag {
			continue
		}
		sha, ok := r.tagCommit(rel.TagName)
		if !ok {
			continue
		}
		if idx := r.index[sha]; idx <= headIdx && idx > bestIdx {
			best, bestIdx = rel.TagName, idx
		}
	}
	return best, best != ""
}

// notes renders GitHub's generated release notes for the commits after
// prev up to head. (GitHub also lists new contributors; the fake does not.)
func (s *Server) notes(r *repo, tag, prev, head string) (name, body string) {
	lo := -1
	if prev != "" {
		if sha, ok := r.tagCommit(prev); ok {
			lo = r.index[sha]
		}
	}
	hi, ok := r.index[head]
	if !ok {
		hi = -1
	}
	var b strings.Builder
	var lines []string
	for _, pr := range r.prs {
		if idx := r.index[pr.merge]; idx > lo && idx <= hi {
			lines = append(lines, fmt.Sprintf("* %s by @%s in %s/%s/pull/%d", pr.title, pr.author, WebURL, r.fullName(), pr.number))
		}
	}
	if len(lines) > 0 {
		b.WriteString("## What's Changed\n")
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteString("\n\n")
	}
	if prev != "" {
		fmt.Fprintf(&b, "**Full Changelog**: %s/%s/compare/%s...%s", WebURL, r.fullName(), prev, tag)
	} else {
		fmt.Fprintf(&b, "**Full Changelog**: %s/%s/commits/%s", WebURL, r.fullName(), tag)
	}
	return tag, b.String()
}

// getRef serves refs/tags/* and refs/heads/*.
func (s *Server) getRef(w http.ResponseWriter, r *repo, name string) {
	api := s.URL + "/repos/" + r.fullName()
	if branch, ok := strings.CutPrefix(name, "heads/"); ok {
		sha, ok := r.branches[branch]
		if !ok {
			writeError(w, http.StatusNotFound, "Not Found", nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"ref": "refs/heads/" + branch, "node_id": base64.StdEncoding.EncodeToString([]byte("refs/heads/" + branch)),
			"url":    api + "/git/refs/heads/" + branch,
			"object": map[string]string{"type": "commit", "sha": sha, "url": api + "/git/commits/" + sha},
		})
		return
	}
	tag, isTag := strings.CutPrefix(name, "tags/")
	ref, ok := r.tags[tag]
	if !isTag || !ok {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	kind := "commits"
	if ref.objType == "tag" {
		kind = "tags"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ref":     "refs/tags/" + tag,
		"node_id": base64.StdEncoding.EncodeToString([]byte("refs/tags/" + tag)),
		"url":     api + "/git/refs/tags/" + tag,
		"object": map[string]string{
			"type": ref.objType,
			"sha":  ref.sha,
			"url":  api + "/git/" + kind + "/" + ref.sha,
		},
	})
}

func (s *Server) getTagObject(w http.ResponseWriter, r *repo, sha string) {
	obj, ok := r.tagObjs[sha]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", nil)
		return
	}
	api := s.URL + "/repos/" + r.fullName()
	writeJSON(w, http.StatusOK, map[string]any{
		"node_id": base64.StdEncoding.EncodeToString([]byte("tag:" + sha)),
		"tag":     obj.tag,
		"sha":     sha,
		"url":     api + "/git/tags/" + sha,
		"message": obj.tag + "\n",
		"tagger":  map[string]string{"name": "Monalisa Octocat", "email": "octocat@github.com", "date": "2024-01-01T00:00:00Z"},
		"object": map[string]string{
			"type": "commit",
			"sha":  obj.commit,
			"url":  api + "/git/commits/" + obj.commit,
		},
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
	})
}
