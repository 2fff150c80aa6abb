package registry

import (
	"context"
	"sync"
)

// Listing is one registry listing shared by any number of readers: it runs once,
// in the background, and each reader gets every page, the ones that arrived
// before it started reading and then the rest as they arrive. A front end that
// shows the snapshots and also needs them elsewhere (sha → tag) lists once.
type Listing struct {
	cancel context.CancelFunc

	mu      sync.Mutex
	pages   [][]Image
	done    bool
	err     error
	changed chan struct{} // closed (and replaced) when a page arrives or the listing ends
}

// StartListing starts listing r with opts. The listing stops when ctx ends or
// Stop is called; its pages stay readable.
func StartListing(ctx context.Context, r Registry, opts ListOptions) *Listing {
	ctx, cancel := context.WithCancel(ctx)
	l := &Listing{cancel: cancel, changed: make(chan struct{})}
	go func() {
		defer cancel()
		err := ListImages(ctx, r, opts, func(page []Image) error {
			l.mu.Lock()
			l.pages = append(l.pages, page)
			l.notifyLocked()
			l.mu.Unlock()
			return nil
		})
		l.mu.Lock()
		l.done, l.err = true, err
		l.notifyLocked()
		l.mu.Unlock()
	}()
	return l
}

func (l *Listing) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Stop cancels the listing; readers get what arrived and the cancellation error.
func (l *Listing) Stop() { l.cancel() }

// Pages calls fn with each page in order, waiting for pages still to come, and
// returns the listing's error once all are read. fn's error (or ctx's) stops only
// this reader. Pages share their Images with other readers: do not modify them.
func (l *Listing) Pages(ctx context.Context, fn func(page []Image) error) error {
	for next := 0; ; {
		l.mu.Lock()
		pages, done, err, changed := l.pages[next:], l.done, l.err, l.changed
		l.mu.Unlock()
		for _, p := range pages {
			if err := fn(p); err != nil {
				return err
			}
			next++
		}
		if len(pages) > 0 {
			continue // more may have come while fn ran
		}
		if done {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Done reports whether the listing has ended, and its error.
func (l *Listing) Done() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done, l.err
}
