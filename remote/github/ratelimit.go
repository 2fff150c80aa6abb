package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cli/go-gh/v2/pkg/api"
)

// DefaultRateLimitWait is how long in all a request may wait out GitHub's
// rate limits when Options.RateLimitWait is zero.
const DefaultRateLimitWait = 60 * time.Second

// maxRateLimitRetries bounds the retries of one request.
const maxRateLimitRetries = 4

// secondaryDefaultWait is GitHub's advice for a secondary limit answered
// without Retry-After: "wait for at least one minute".
const secondaryDefaultWait = time.Minute

// ErrRateLimited means GitHub's rate limit refused a request and waiting it
// out would take longer than allowed.
var ErrRateLimited = errors.New("GitHub rate limit exceeded")

// RateLimitError is a request refused by a rate limit after the retries
// allowed. Nothing was done on GitHub. It matches ErrRateLimited.
type RateLimitError struct {
	Until     time.Time // when GitHub will accept requests again
	Secondary bool      // a secondary (abuse) limit, not the hourly quota
	Err       *APIError // GitHub's last answer
}

func (e *RateLimitError) Error() string {
	until := e.Until.UTC().Format("15:04:05 MST")
	if e.Until.UTC().YearDay() != time.Now().UTC().YearDay() {
		until = e.Until.UTC().Format("2006-01-02 15:04:05 MST")
	}
	return fmt.Sprintf("GitHub rate limit exceeded until %s; re-run after that (%s)", until, limitKind(e.Secondary))
}

// Is matches ErrRateLimited; not ErrForbidden, so callers do not blame the
// token's permissions.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

func limitKind(secondary bool) string {
	if secondary {
		return "secondary limit"
	}
	return "hourly limit"
}

// rateLimit reads a rate-limit refusal: 429, or a 403 that says it is one
// (a secondary-limit message, or no requests remaining). wait is how long
// GitHub asks to wait.
func rateLimit(he *api.HTTPError, now time.Time) (wait time.Duration, secondary, ok bool) {
	h := he.Headers
	exhausted := h.Get("X-Ratelimit-Remaining") == "0"
	mentions := strings.Contains(strings.ToLower(he.Message), "secondary rate limit")
	switch {
	case he.StatusCode == http.StatusTooManyRequests:
	case he.StatusCode == http.StatusForbidden && (mentions || exhausted):
	default:
		return 0, false, false
	}
	secondary = mentions || !exhausted
	if d, ok := retryAfter(h.Get("Retry-After"), now); ok {
		return d, secondary, true
	}
	if exhausted {
		if reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			// The reset second itself may still be limited; one more second.
			return max(time.Unix(reset, 0).Sub(now), 0) + time.Second, secondary, true
		}
	}
	return secondaryDefaultWait, secondary, true
}

// retryAfter parses Retry-After: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
