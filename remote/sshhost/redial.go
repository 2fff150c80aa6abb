package sshhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// Redialer is a Runner over one SSH connection that dials a fresh one when the
// connection is gone (the server or the network dropped it), so the clean-up after
// a cut-off command — putting the previous container back, freeing the lock — reaches
// the host. A command cut off by the drop is not run again (it may have run); a
// command that never started on the dead connection is run once on the fresh one.
type Redialer struct {
	cfg     Config
	tries   int
	backoff time.Duration

	mu     sync.Mutex
	cur    *Client
	dead   chan struct{} // closed when cur's connection ends
	closed bool
}

var _ hostexec.Runner = (*Redialer)(nil)

// RedialTries and RedialBackoff bound the re-dials of one Run: 3 tries, waiting
// 1s, 2s between them.
const (
	RedialTries   = 3
	RedialBackoff = time.Second
)

// DialRedialing connects like Dial and returns a Runner that re-dials when the
// connection is gone.
func DialRedialing(ctx context.Context, cfg Config) (*Redialer, error) {
	r := &Redialer{cfg: cfg, tries: RedialTries, backoff: RedialBackoff}
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.adopt(c)
	return r, nil
}

// adopt makes c the current client and watches for its connection to end.
func (r *Redialer) adopt(c *Client) {
	dead := make(chan struct{})
	r.cur, r.dead = c, dead
	go func() {
		_ = c.conn.Wait()
		close(dead)
	}()
}

func isDead(dead chan struct{}) bool {
	select {
	case <-dead:
		return true
	default:
		return false
	}
}

// client returns a live client, dialling again (bounded) when the current one is gone.
func (r *Redialer) client(ctx context.Context) (*Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.cur != nil && !isDead(r.dead) {
		return r.cur, nil
	}
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur = nil
	}
	var errs []error
	for i := 0; i < r.tries; i++ {
		if i > 0 {
			t := time.NewTimer(r.backoff * time.Duration(i))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("reconnect: %w", errors.Join(append(errs, ctx.Err())...))
			case <-t.C:
			}
		}
		c, err := Dial(ctx, r.cfg)
		if err == nil {
			r.adopt(c)
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("reconnect after the connection dropped (%d tries): %w", r.tries, errors.Join(errs...))
}

// gone reports whether c's connection has ended, asking the server when unsure.
func (r *Redialer) gone(c *Client) bool {
	r.mu.Lock()
	cur, dead := r.cur, r.dead
	r.mu.Unlock()
	if cur != c {
		return true
	}
	if isDead(dead) {
		r.drop(c)
		return true
	}
	reply := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	select {
	case err := <-reply:
		if err == nil {
			return false
		}
	case <-dead:
	case <-time.After(5 * time.Second):
	}
	r.drop(c)
	return true
}

// drop closes c and forgets it, so the next Run dials again.
func (r *Redialer) drop(c *Client) {
	_ = c.Close()
	r.mu.Lock()
	if r.cur == c {
		r.cur = nil
	}
	r.mu.Unlock()
}

// notStarted reports whether a Run error means the command never reached the host.
func notStarted(err error) bool {
	return errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "open session:")
}

// Run runs cmd on the current connection, dialling a fresh one first if it is gone.
func (r *Redialer) Run(ctx context.Context, cmd hostexec.Cmd, opts hostexec.RunOptions) (hostexec.Result, error) {
	for attempt := 0; ; attempt++ {
		c, err := r.client(ctx)
		if err != nil {
			return hostexec.Result{ExitCode: -1}, fmt.Errorf("ssh %s: %s: %w", r.cfg.Host, hostexec.Summary(cmd.String()), err)
		}
		res, err := c.Run(ctx, cmd, opts)
		var exit *hostexec.ExitError
		if err == nil || errors.As(err, &exit) || ctx.Err() != nil {
			return res, err
		}
		if !r.gone(c) {
			return res, err
		}
		if attempt == 0 && notStarted(err) && opts.Stdin == nil {
			continue
		}
		return res, err
	}
}

// Close closes the current connection; later Runs fail with ErrClosed.
func (r *Redialer) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
