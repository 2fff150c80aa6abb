package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// maxResponseBytes bounds a decoded response body.
const maxResponseBytes = 32 << 20

// maxPerPage is GitHub's largest page size.
const maxPerPage = 100

// maxTagDepth bounds how many annotated tag objects TagCommit follows.
const maxTagDepth = 8

type releaseJSON struct {
	ID              int64     `json:"id"`
	TagName         string    `json:"tag_name"`
	TargetCommitish string    `json:"target_commitish"`
	Name            string    `json:"name"`
	Body            string    `json:"body"`
	HTMLURL         string    `json:"html_url"`
	Draft           bool      `json:"draft"`
	Prerelease      bool      `json:"prerelease"`
	CreatedAt       time.Time `json:"created_at"`
	PublishedAt     time.Time `json:"published_at"` // JSON null leaves it zero
}

func (r releaseJSON) release() *Release {
	return &Release{
		ID:              r.ID,
		TagName:         r.TagName,
		TargetCommitish: r.TargetCommitish,
		Name:            r.Name,
		Body:            r.Body,
		HTMLURL:         r.HTMLURL,
		Draft:           r.Draft,
		Prerelease:      r.Prerelease,
		CreatedAt:       r.CreatedAt,
		PublishedAt:     r.PublishedAt,
	}
}

// do sends one request; path is relative to the API base and may carry a
// query. A non-2xx answer becomes *APIError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, pathOnly(path), err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.rest.RequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, apiError(method, path, err, c.token)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(out); err != nil {
			return nil, fmt.Errorf("%s %s: decode response: %w", method, pathOnly(path), err)
		}
	}
	return resp.Header, nil
}

func (c *Client) repoPath() string {
	return "repos/" + url.PathEscape(c.owner) + "/" + url.PathEscape(c.name)
}

// escapeRef escapes each segment of a ref but keeps "/" as GitHub expects
// in .../tags/{tag} and .../git/ref/tags/{tag}.
func escapeRef(ref string) string {
	segs := strings.Split(ref, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// CheckReleasePermission fails unless the token can see the repository and
// push to it (creating a release needs contents:write, or the classic repo
// scope). It cannot see an installation token's (GITHUB_TOKEN's) permissions;
// for those it only checks access, and the workflow must grant
// `permissions: contents: write`.
func (c *Client) CheckReleasePermission(ctx context.Context) error {
	var repo struct {
		FullName    string `json:"full_name"`
		Permissions *struct {
			Admin bool `json:"admin"`
			Push  bool `json:"push"`
			Pull  bool `json:"pull"`
		} `json:"permissions"`
	}
	h, err := c.do(ctx, http.MethodGet, c.repoPath(), nil, &repo)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			err = fmt.Errorf("repository %s not found, or the token from %s has no access to it: %w", c.Repo(), c.tokenSource, err)
		case errors.Is(err, ErrUnauthorized):
			err = fmt.Errorf("token from %s is invalid or expired (check it, or run `gh auth login --hostname %s`): %w", c.tokenSource, c.host, err)
		default:
			err = fmt.Errorf("check release permission on %s: %w", c.Repo(), err)
		}
		return redact(err, c.token)
	}
	// Classic tokens list their scopes; without repo or public_repo the
	// release call would fail even for a repository admin.
	if scopes, ok := h["X-Oauth-Scopes"]; ok {
		var list []string
		for _, s := range scopes {
			for _, f := range strings.Split(s, ",") {
				if f = strings.TrimSpace(f); f != "" {
					list = append(list, f)
				}
			}
		}
		if !slices.Contains(list, "repo") && !slices.Contains(list, "public_repo") {
			return redact(fmt.Errorf("%w in %s: the token from %s has scopes [%s]; it needs the repo scope (or a fine-grained token with contents:write)",
				ErrNoPushPermission, c.Repo(), c.tokenSource, strings.Join(list, ", ")), c.token)
		}
	}
	if repo.Permissions == nil {
		// GitHub omits permissions for app installation tokens; confirm it is one.
		if _, err := c.do(ctx, http.MethodGet, "installation/repositories?per_page=1", nil, nil); err == nil {
			return nil
		}
		return redact(fmt.Errorf("%w in %s: GitHub did not report the token's permissions; use a token with contents:write", ErrNoPushPermission, c.Repo()), c.token)
	}
	if !repo.Permissions.Push {
		return redact(fmt.Errorf("%w in %s: the token from %s can read the repository but not push; use a token with contents:write (classic: repo scope), or in GitHub Actions grant `permissions: contents: write`",
			ErrNoPushPermission, c.Repo(), c.tokenSource), c.token)
	}
	return nil
}

// ReleaseByTag returns the published release for tag; ErrNotFound if none.
// GitHub does not return drafts by tag.
func (c *Client) ReleaseByTag(ctx context.Context, tag string) (*Release, error) {
	if err := ValidateTag(tag); err != nil {
		return nil, err
	}
	var r releaseJSON
	if _, err := c.do(ctx, http.MethodGet, c.repoPath()+"/releases/tags/"+escapeRef(tag), nil, &r); err != nil {
		return nil, redact(fmt.Errorf("get release %s in %s: %w", tag, c.Repo(), err), c.token)
	}
	return r.release(), nil
}

// LatestRelease returns the repository's latest published full release;
// ErrNotFound if there is none.
func (c *Client) LatestRelease(ctx context.Context) (*Release, error) {
	var r releaseJSON
	if _, err := c.do(ctx, http.MethodGet, c.repoPath()+"/releases/latest", nil, &r); err != nil {
		return nil, redact(fmt.Errorf("get latest release in %s: %w", c.Repo(), err), c.token)
	}
	return r.release(), nil
}

// ListReleases returns up to limit releases, newest first, following the
// Link header's next pages.
func (c *Client) ListReleases(ctx context.Context, limit int) ([]Release, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list releases: limit must be positive, got %d", limit)
	}
	perPage := min(limit, maxPerPage)
	path := fmt.Sprintf("%s/releases?per_page=%d", c.repoPath(), perPage)
	maxPages := limit/perPage + 2 // a server that keeps linking cannot loop us
	var out []Release
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("list releases in %s: more than %d pages for %d releases", c.Repo(), maxPages, limit)
		}
		var batch []releaseJSON
		h, err := c.do(ctx, http.MethodGet, path, nil, &batch)
		if err != nil {
			return nil, redact(fmt.Errorf("list releases in %s (page %d): %w", c.Repo(), page, err), c.token)
		}
		for _, r := range batch {
			out = append(out, *r.release())
		}
		next := nextLink(h.Get("Link"))
		if len(out) >= limit || len(batch) == 0 || next == "" {
			break
		}
		if path, err = c.relativize(next); err != nil {
			return nil, redact(fmt.Errorf("list releases in %s: %w", c.Repo(), err), c.token)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GenerateNotes asks GitHub to write release notes for tag. target is the
// commit or branch the tag will be created at when it does not exist yet;
// previousTag, when non-empty, is the start of the range (otherwise GitHub
// picks the previous release).
func (c *Client) GenerateNotes(ctx context.Context, tag, target, previousTag string) (name, body string, err error) {
	if err := ValidateTag(tag); err != nil {
		return "", "", err
	}
	if previousTag != "" {
		if err := ValidateTag(previousTag); err != nil {
			return "", "", fmt.Errorf("previous tag: %w", err)
		}
	}
	if target != "" && !validRef(target) {
		return "", "", fmt.Errorf("generate notes for %s: invalid target %q", tag, target)
	}
	req := struct {
		TagName         string `json:"tag_name"`
		TargetCommitish string `json:"target_commitish,omitempty"`
		PreviousTagName string `json:"previous_tag_name,omitempty"`
	}{tag, target, previousTag}
	var notes struct {
		Name string `json:"name"`
		Body string `json:"body"`
	}
	if _, err := c.do(ctx, http.MethodPost, c.repoPath()+"/releases/generate-notes", req, &notes); err != nil {
		what := tag
		if previousTag != "" {
			what = previousTag + "..." + tag
		}
		return "", "", redact(fmt.Errorf("generate release notes for %s in %s: %w", what, c.Repo(), err), c.token)
	}
	return notes.Name, notes.Body, nil
}

// NewRelease describes a release to create.
type NewRelease struct {
	Tag        string
	Target     string // commit SHA or branch for a tag that does not exist yet
	Name       string
	Body       string
	Prerelease bool
	Draft      bool
	MakeLatest bool // mark as the repository's latest release; not for drafts or prereleases
}

// CreateRelease creates a release. It fails with ErrReleaseExists when the
// tag already has a release, and with *TagMismatchError when Target is a
// full commit SHA but the tag already exists on another commit (GitHub would
// silently release the existing tag).
func (c *Client) CreateRelease(ctx context.Context, nr NewRelease) (*Release, error) {
	if err := ValidateTag(nr.Tag); err != nil {
		return nil, err
	}
	if nr.Target != "" && !validRef(nr.Target) {
		return nil, fmt.Errorf("create release %s: invalid target %q", nr.Tag, nr.Target)
	}
	if nr.MakeLatest && (nr.Draft || nr.Prerelease) {
		return nil, fmt.Errorf("create release %s: a draft or prerelease cannot be the latest release", nr.Tag)
	}
	if fullSHA.MatchString(nr.Target) {
		sha, err := c.TagCommit(ctx, nr.Tag)
		switch {
		case err == nil && !strings.EqualFold(sha, nr.Target):
			return nil, fmt.Errorf("create release %s in %s: %w", nr.Tag, c.Repo(), &TagMismatchError{Tag: nr.Tag, Want: nr.Target, Actual: sha})
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("create release %s: %w", nr.Tag, err)
		}
	}
	// Drafts are never the latest; GitHub decides again when one is published.
	makeLatest := "false"
	if nr.MakeLatest {
		makeLatest = "true"
	}
	req := struct {
		TagName         string `json:"tag_name"`
		TargetCommitish string `json:"target_commitish,omitempty"`
		Name            string `json:"name,omitempty"`
		Body            string `json:"body"`
		Draft           bool   `json:"draft"`
		Prerelease      bool   `json:"prerelease"`
		MakeLatest      string `json:"make_latest"`
	}{nr.Tag, nr.Target, nr.Name, nr.Body, nr.Draft, nr.Prerelease, makeLatest}
	var r releaseJSON
	if _, err := c.do(ctx, http.MethodPost, c.repoPath()+"/releases", req, &r); err != nil {
		return nil, redact(fmt.Errorf("create release %s in %s: %w", nr.Tag, c.Repo(), c.explainWrite(err)), c.token)
	}
	return r.release(), nil
}

// TagCommit returns the commit SHA a tag points at, following annotated tag
// objects; ErrNotFound if the tag does not exist.
func (c *Client) TagCommit(ctx context.Context, tag string) (string, error) {
	if err := ValidateTag(tag); err != nil {
		return "", err
	}
	type object struct {
		Type string `json:"type"`
		SHA  string `json:"sha"`
	}
	var ref struct {
		Ref    string `json:"ref"`
		Object object `json:"object"`
	}
	if _, err := c.do(ctx, http.MethodGet, c.repoPath()+"/git/ref/tags/"+escapeRef(tag), nil, &ref); err != nil {
		return "", redact(fmt.Errorf("get tag %s in %s: %w", tag, c.Repo(), err), c.token)
	}
	if ref.Ref != "refs/tags/"+tag {
		return "", fmt.Errorf("get tag %s in %s: GitHub answered with ref %q", tag, c.Repo(), ref.Ref)
	}
	obj := ref.Object
	for range maxTagDepth {
		if !fullSHA.MatchString(obj.SHA) {
			return "", fmt.Errorf("get tag %s in %s: malformed object sha %q", tag, c.Repo(), obj.SHA)
		}
		switch obj.Type {
		case "commit":
			return strings.ToLower(obj.SHA), nil
		case "tag":
			var t struct {
				Object object `json:"object"`
			}
			if _, err := c.do(ctx, http.MethodGet, c.repoPath()+"/git/tags/"+obj.SHA, nil, &t); err != nil {
				return "", redact(fmt.Errorf("get tag object %s for %s in %s: %w", obj.SHA, tag, c.Repo(), err), c.token)
			}
			obj = t.Object
		default:
			return "", fmt.Errorf("tag %s in %s points at a %s, not a commit", tag, c.Repo(), obj.Type)
		}
	}
	return "", fmt.Errorf("tag %s in %s: more than %d nested tag objects", tag, c.Repo(), maxTagDepth)
}

var fullSHA = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// ValidateTag checks that tag is a well-formed git tag name (the rules of
// git check-ref-format), so it is safe in a URL path and a ref.
func ValidateTag(tag string) error {
	if !validRef(tag) {
		return fmt.Errorf("%w: %q", ErrInvalidTag, tag)
	}
	return nil
}

// validRef applies git check-ref-format rules to a short ref name.
func validRef(ref string) bool {
	if ref == "" || len(ref) > 255 || ref == "@" {
		return false
	}
	if strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") {
		return false
	}
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "-") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") {
		return false
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return false
		}
	}
	for _, seg := range strings.Split(ref, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return false
		}
	}
	return true
}
