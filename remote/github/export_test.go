package github

import (
	"context"
	"time"
)

// SetClock replaces the client's clock and sleep (tests: no real waiting).
func SetClock(c *Client, now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) {
	c.now, c.sleep = now, sleep
}
