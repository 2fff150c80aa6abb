package fakebackend

import (
	"context"
	"fmt"
	"time"

	"github.com/bookshop-ops/gantry/ui"
)

// LogLines returns the fake's dev container log: n lines a Django server might print.
func LogLines(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 5 {
		case 0:
			out[i] = fmt.Sprintf("[%d] GET /books/%d HTTP/1.1 200 1543", i, i%97)
		case 1:
			out[i] = fmt.Sprintf("[%d] GET /static/app.css HTTP/1.1 304 0", i)
		case 2:
			out[i] = fmt.Sprintf("[%d] POST /cart/add HTTP/1.1 302 0", i)
		case 3:
			out[i] = fmt.Sprintf("[%d] WARNING slow query: SELECT * FROM books_book (%d ms)", i, 100+i%400)
		default:
			out[i] = fmt.Sprintf("[%d] GET /healthz HTTP/1.1 200 2", i)
		}
	}
	return out
}

// Logs implements ui.LogStreamer: Log (or LogLines(50)) then, with Follow lines
// set, nothing more until ctx ends.
func (b *Backend) Logs(ctx context.Context, req ui.LogRequest, line func(string)) error {
	if err := b.enter(ctx, "Logs"); err != nil {
		return err
	}
	b.mu.Lock()
	lines := b.Log
	if lines == nil {
		lines = LogLines(50)
	}
	if req.Env == "prod" && b.ProdLog != nil {
		lines = b.ProdLog
	}
	b.LastLogRequest = req
	b.mu.Unlock()
	if req.Tail > 0 && len(lines) > req.Tail {
		lines = lines[len(lines)-req.Tail:]
	}
	for _, l := range lines {
		line(l)
	}
	<-ctx.Done()
	return nil
}

// Commands implements ui.CommandLogger.
func (b *Backend) Commands() []ui.CommandEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.CommandList != nil {
		return append([]ui.CommandEntry(nil), b.CommandList...)
	}
	now := b.now()
	return []ui.CommandEntry{
		{Host: "dev ec2-user@10.0.1.23", Cmd: "docker inspect dev-app", Start: now.Add(-2 * time.Second), Duration: 180 * time.Millisecond},
		{Host: "prod ubuntu@10.0.2.9", Cmd: "microk8s kubectl --namespace default get deployment django-app -o json", Start: now.Add(-3 * time.Second), Duration: 420 * time.Millisecond},
		{Host: "api.github.com", Cmd: "GET https://api.github.com/repos/bookshop-ops/book-shop/releases/tags/v1.4.2", Start: now.Add(-4 * time.Second), Duration: 95 * time.Millisecond, ExitCode: 404, Err: "404 Not Found"},
		{Host: "dev ec2-user@10.0.1.23", Cmd: "docker logs --tail 500 --follow dev-app", Start: now.Add(-9 * time.Second), Duration: 7 * time.Second, ExitCode: -1, Err: "context canceled", Cancelled: true},
	}
}

// DevURL implements ui.URLOpener.
func (b *Backend) DevURL() string { return "http://10.0.1.23:8080/" }

// ReleaseURL implements ui.URLOpener.
func (b *Backend) ReleaseURL(tag string) string {
	return "https://github.com/bookshop-ops/book-shop/releases/tag/" + tag
}

// CommitURL implements ui.URLOpener.
func (b *Backend) CommitURL(sha string) string {
	return "https://github.com/bookshop-ops/book-shop/commit/" + sha
}

// LastLog is the last request Logs got (locked; read it while the UI runs).
func (b *Backend) LastLog() ui.LogRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.LastLogRequest
}
