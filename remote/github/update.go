package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// maxDraftSearch bounds how many releases FindRelease lists looking for a
// draft; drafts are recent, and a repository with more releases than this
// between a draft and now is not gantry's case.
const maxDraftSearch = 300

// ReleaseUpdate is a change to a release; nil fields are left as they are.
type ReleaseUpdate struct {
	Draft      *bool
	Prerelease *bool
	// MakeLatest is "true", "false" or "legacy"; "" leaves it to GitHub
	// (which makes a newly published full release the latest).
	MakeLatest string
	Name, Body *string
}

// UpdateRelease changes the release id (PATCH .../releases/{id}). Publishing
// a draft (Draft: false) creates its tag at the target if it is missing.
func (c *Client) UpdateRelease(ctx context.Context, id int64, u ReleaseUpdate) (*Release, error) {
	if id <= 0 {
		return nil, fmt.Errorf("update release: invalid id %d", id)
	}
	switch u.MakeLatest {
	case "", "true", "false", "legacy":
	default:
		return nil, fmt.Errorf("update release %d: make_latest %q: want \"true\", \"false\", \"legacy\" or empty", id, u.MakeLatest)
	}
	if u.MakeLatest == "true" && ((u.Draft != nil && *u.Draft) || (u.Prerelease != nil && *u.Prerelease)) {
		return nil, fmt.Errorf("update release %d: a draft or prerelease cannot be the latest release", id)
	}
	req := struct {
		Draft      *bool   `json:"draft,omitempty"`
		Prerelease *bool   `json:"prerelease,omitempty"`
		MakeLatest string  `json:"make_latest,omitempty"`
		Name       *string `json:"name,omitempty"`
		Body       *string `json:"body,omitempty"`
	}{u.Draft, u.Prerelease, u.MakeLatest, u.Name, u.Body}
	var r releaseJSON
	if _, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/releases/%d", c.repoPath(), id), req, &r); err != nil {
		return nil, redact(fmt.Errorf("update release %d in %s: %w", id, c.Repo(), c.explainWrite(err)), c.token)
	}
	return r.release(), nil
}

// FindRelease returns the release of tag: the published one if there is
// one, else the newest draft whose tag_name is tag (GitHub does not return
// drafts by tag, so it lists releases). It fails with an error matching
// ErrNotFound when there is neither.
func (c *Client) FindRelease(ctx context.Context, tag string) (*Release, error) {
	rel, err := c.ReleaseByTag(ctx, tag)
	if err == nil {
		return rel, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	list, err := c.ListReleases(ctx, maxDraftSearch)
	if err != nil {
		return nil, redact(fmt.Errorf("find release %s: %w", tag, err), c.token)
	}
	for i := range list {
		if list[i].Draft && list[i].TagName == tag {
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("find release %s in %s: no published release or draft: %w", tag, c.Repo(), ErrNotFound)
}

// DeleteRelease deletes the release id (the git tag stays).
func (c *Client) DeleteRelease(ctx context.Context, id int64) error {
	if id <= 0 {
		return fmt.Errorf("delete release: invalid id %d", id)
	}
	if _, err := c.do(ctx, http.MethodDelete, fmt.Sprintf("%s/releases/%d", c.repoPath(), id), nil, nil); err != nil {
		return redact(fmt.Errorf("delete release %d in %s: %w", id, c.Repo(), c.explainWrite(err)), c.token)
	}
	return nil
}

// explainWrite adds the likely cause to a refused write.
func (c *Client) explainWrite(err error) error {
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w (the token from %s may lack contents:write)", err, c.tokenSource)
	}
	return err
}
