package app

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// maxCommandLog bounds the command log kept in memory; the debug log has them all.
const maxCommandLog = 1000

// commandLog records every command gantry runs on a host and every HTTP request
// it makes through a logged client, masked, for the console's `@` panel.
type commandLog struct {
	once   sync.Once
	mask   *pipeline.Masker
	mu     sync.Mutex
	recs   []hostexec.CommandRecord // oldest first
	logf   func(string, ...any)
	secret func() *pipeline.Masker
}

func (l *commandLog) masker() *pipeline.Masker {
	l.once.Do(func() { l.mask = l.secret() })
	return l.mask
}

func (l *commandLog) add(r hostexec.CommandRecord) {
	m := l.masker()
	r.Cmd, r.Err = m.Mask(r.Cmd), m.Mask(r.Err)
	status := fmt.Sprintf("exit %d", r.ExitCode)
	switch {
	case r.Cancelled:
		status = "cancelled"
	case r.Err != "" && r.ExitCode <= 0:
		status = r.Err
	}
	l.logf("command %s [%s, %s]: %s", r.Host, status, r.Duration.Round(time.Millisecond), hostexec.Summary(r.Cmd))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
	if len(l.recs) > maxCommandLog {
		l.recs = slices.Delete(l.recs, 0, len(l.recs)-maxCommandLog)
	}
}

// CommandLog returns the commands and requests run so far, newest first, masked.
func (a *App) CommandLog() []hostexec.CommandRecord {
	l := a.cmdLog()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.recs)
	slices.Reverse(out)
	return out
}

func (a *App) cmdLog() *commandLog {
	a.cmdOnce.Do(func() {
		a.cmds = &commandLog{logf: a.opts.Logf, secret: a.Masker}
	})
	return a.cmds
}

// logged wraps a host's runner so every command lands in the command log.
func (a *App) logged(r hostexec.Runner, host string) hostexec.Runner {
	return hostexec.Logged(r, host, a.cmdLog().add)
}

// loggingTransport records every HTTP request (method, URL without its query, status).
type loggingTransport struct {
	next http.RoundTripper
	log  *commandLog
}

func (t loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	u := *req.URL
	u.RawQuery, u.User, u.Fragment = "", nil, "" // a query may carry a token
	r := hostexec.CommandRecord{Host: req.URL.Host, Cmd: req.Method + " " + u.String(), Start: start, Duration: time.Since(start)}
	switch {
	case err != nil:
		r.ExitCode, r.Err = -1, err.Error()
	case resp.StatusCode >= 400:
		r.ExitCode, r.Err = resp.StatusCode, resp.Status
	}
	t.log.add(r)
	return resp, err
}

// httpClient is the HTTP client of the registry: requests go to the command log.
func (a *App) httpClient() *http.Client {
	return &http.Client{Transport: loggingTransport{next: http.DefaultTransport, log: a.cmdLog()}}
}
