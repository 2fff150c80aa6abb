package github

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/cli/go-gh/v2/pkg/api"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoToken means no GitHub token was configured or found.
	ErrNoToken = errors.New("no GitHub token found")
	// ErrNotFound means GitHub answered 404 (missing, or hidden from the token).
	ErrNotFound = errors.New("not found on GitHub")
	// ErrUnauthorized means GitHub answered 401: the token is missing, wrong or expired.
	ErrUnauthorized = errors.New("GitHub rejected the token")
	// ErrForbidden means GitHub answered 403: the token lacks a permission, or a rate limit hit.
	ErrForbidden = errors.New("GitHub refused the request")
	// ErrNoPushPermission means the token cannot create releases in the repository.
	ErrNoPushPermission = errors.New("token cannot create releases")
	// ErrReleaseExists means a release for the tag already exists.
	ErrReleaseExists = errors.New("release already exists")
	// ErrTagMismatch means the tag already exists on a commit other than the requested target.
	ErrTagMismatch = errors.New("tag already points at another commit")
	// ErrInvalidTag means a tag name is not a well-formed git tag.
	ErrInvalidTag = errors.New("invalid tag name")
	// ErrImmutableRelease means GitHub refused to change a release, or to
	// reuse its tag, because the release is immutable.
	ErrImmutableRelease = errors.New("immutable release")
)

// ImmutableReleaseError is GitHub's 422 for an immutable release ("tag_name
// was used by an immutable release", "Cannot modify an immutable
// release"). It matches ErrImmutableRelease and unwraps to the *APIError.
type ImmutableReleaseError struct {
	Tag string // the release's tag, when known
	ID  int64  // the release's id, when the tag is not known
	Err error
}

func (e *ImmutableReleaseError) Error() string {
	what := "the release"
	switch {
	case e.Tag != "":
		what = "tag " + e.Tag
	case e.ID != 0:
		what = fmt.Sprintf("release %d", e.ID)
	}
	return fmt.Sprintf("%s belongs to an immutable release, which cannot be changed and whose tag cannot be reused (not even after deleting it): bump the version and release that instead (GitHub: %v)", what, e.Err)
}

// Is matches ErrImmutableRelease.
func (e *ImmutableReleaseError) Is(target error) bool { return target == ErrImmutableRelease }

func (e *ImmutableReleaseError) Unwrap() error { return e.Err }

// explainImmutable turns GitHub's immutable-release 422 into *ImmutableReleaseError.
func explainImmutable(err error, tag string, id int64) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.immutable() {
		return &ImmutableReleaseError{Tag: tag, ID: id, Err: ae}
	}
	return err
}

// ErrorDetail is one entry of the "errors" array of a GitHub error response.
type ErrorDetail struct {
	Resource string
	Field    string
	Code     string
	Message  string
}

// APIError is a non-2xx answer from the GitHub API. It matches the sentinels
// ErrNotFound (404), ErrUnauthorized (401), ErrForbidden (403) and
// ErrReleaseExists (422 already_exists on Release.tag_name) via errors.Is.
type APIError struct {
	Method     string
	Path       string // request path, without query
	StatusCode int
	Message    string // GitHub's message, with error details joined by "; "
	Errors     []ErrorDetail
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, msg)
}

// Is lets errors.Is match the sentinel for the status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrReleaseExists:
		return e.StatusCode == http.StatusUnprocessableEntity && e.HasError("Release", "tag_name", "already_exists")
	}
	return false
}

// immutable reports GitHub's refusal to touch an immutable release.
func (e *APIError) immutable() bool {
	if e.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	if strings.Contains(strings.ToLower(e.Message), "immutable") {
		return true
	}
	for _, d := range e.Errors {
		if strings.Contains(strings.ToLower(d.Message), "immutable") {
			return true
		}
	}
	return false
}

// HasError reports whether GitHub listed an error with this resource, field and code.
func (e *APIError) HasError(resource, field, code string) bool {
	for _, d := range e.Errors {
		if d.Resource == resource && d.Field == field && d.Code == code {
			return true
		}
	}
	return false
}

// TagMismatchError reports a tag that exists on a different commit than the
// one a release was requested for; creating the release would silently use
// the existing tag. It matches ErrTagMismatch.
type TagMismatchError struct {
	Tag    string
	Want   string // requested target commit
	Actual string // commit the tag points at
}

func (e *TagMismatchError) Error() string {
	return fmt.Sprintf("tag %s already points at %s, not %s", e.Tag, e.Actual, e.Want)
}

// Is matches ErrTagMismatch.
func (e *TagMismatchError) Is(target error) bool { return target == ErrTagMismatch }

// apiError converts go-gh's HTTP error, scrubbing secret from GitHub's text
// (a proxy may echo request headers back).
func apiError(method, path string, err error, secret string) error {
	var he *api.HTTPError
	if !errors.As(err, &he) {
		return fmt.Errorf("%s %s: %w", method, pathOnly(path), err)
	}
	ae := &APIError{
		Method:     method,
		Path:       pathOnly(path),
		StatusCode: he.StatusCode,
		Message:    scrub(strings.ReplaceAll(strings.TrimSpace(he.Message), "\n", "; "), secret),
	}
	for _, item := range he.Errors {
		ae.Errors = append(ae.Errors, ErrorDetail{
			Resource: item.Resource,
			Field:    item.Field,
			Code:     item.Code,
			Message:  scrub(item.Message, secret),
		})
	}
	return ae
}

func pathOnly(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return "/" + strings.TrimPrefix(p, "/")
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[REDACTED]")
}

// redactedError hides a secret that slipped into a wrapped error's text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact is the last line of defence at every exported method's return.
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: scrub(err.Error(), secret), err: err}
}

// scrubWriter removes the token from log output before it reaches w.
type scrubWriter struct {
	mu     sync.Mutex
	w      io.Writer
	secret string
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, scrub(string(p), s.secret)); err != nil {
		return 0, err
	}
	return len(p), nil
}
