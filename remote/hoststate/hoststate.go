package hoststate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// StateDir is gantry's folder on a deploy host, relative to the login user's home.
const StateDir = ".gantry"

// AuditEntry is one line of a host's deploy audit log.
type AuditEntry struct {
	When    time.Time
	Env     config.Env
	Who     string
	Version string
	SHA     string
	Result  string
	// App and Target say whose log the entry goes to (~/.gantry/<app>/<target>/audit.log);
	// when App is empty it goes to the old host-wide ~/.gantry/audit.log.
	App, Target string
	// Legacy marks an entry read from the old host-wide log, which does not say
	// which app it belongs to.
	Legacy bool
}

// AuditFile is the old host-wide audit log's path relative to the login user's
// home; it is still read, and written only by callers that name no app.
const AuditFile = StateDir + "/audit.log"

// AuditPath is the audit log of app's target, relative to the login user's home.
func AuditPath(app, target string) string { return Dir(app, target) + "/audit.log" }

func auditField(s string) string {
	// Tabs and newlines would break the line format; control characters could spoof lines.
	return strings.ReplaceAll(Sanitize(s), "\t", " ")
}

// AppendAudit appends one tab-separated line to the audit log of e.App's e.Target
// (or the old host-wide log when e.App is empty).
func AppendAudit(ctx context.Context, host hostexec.Runner, e AuditEntry) error {
	path, dir := AuditFile, StateDir
	if e.App != "" {
		path, dir = AuditPath(e.App, e.Target), Dir(e.App, e.Target)
	}
	line := strings.Join([]string{e.When.UTC().Format(time.RFC3339), auditField(string(e.Env)), auditField(e.Who), auditField(e.Version), auditField(e.SHA), auditField(e.Result)}, "\t") + "\n"
	cmd := InHome(hostexec.And(
		hostexec.Command("mkdir", "-p", dir),
		hostexec.Pipe(hostexec.Command("printf", "%s", line), hostexec.Command("tee", "-a", path).Stdout2Null()),
	))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := host.Run(rctx, cmd, hostexec.RunOptions{}); err != nil {
		return fmt.Errorf("append audit log %s: %w", path, err)
	}
	return nil
}

// ReadAudit returns the old host-wide audit log's entries, newest first, at most limit (0: all).
func ReadAudit(ctx context.Context, host hostexec.Runner, limit int) ([]AuditEntry, error) {
	res, err := host.Run(ctx, InHome(hostexec.Or(hostexec.Command("cat", AuditFile), hostexec.Command("true"))), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return ParseAudit(res.Stdout, limit), nil
}

// ReadAppAudit returns the entries of app's targets' audit logs, plus the old
// host-wide log's entries for env (marked Legacy: that log names no app, so its lines
// are kept by environment only), newest first, at most limit (0: all).
func ReadAppAudit(ctx context.Context, host hostexec.Runner, app string, env config.Env, targets []string, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	for _, t := range targets {
		res, err := host.Run(ctx, InHome(hostexec.Or(hostexec.Command("cat", AuditPath(app, t)), hostexec.Command("true"))), hostexec.RunOptions{})
		if err != nil {
			return nil, fmt.Errorf("read audit log %s: %w", AuditPath(app, t), err)
		}
		for _, e := range ParseAudit(res.Stdout, 0) {
			e.App, e.Target = app, t
			out = append(out, e)
		}
	}
	old, err := ReadAudit(ctx, host, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range old {
		if env == "" || e.Env == env {
			e.Legacy = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].When.After(out[j].When) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// ParseAudit parses audit log text, newest first.
func ParseAudit(text string, limit int) []AuditEntry {
	var out []AuditEntry
	lines := strings.Split(strings.TrimSpace(text), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Split(lines[i], "\t")
		if len(f) != 6 {
			continue
		}
		t, err := time.Parse(time.RFC3339, f[0])
		if err != nil {
			continue
		}
		out = append(out, AuditEntry{When: t, Env: config.Env(f[1]), Who: f[2], Version: f[3], SHA: f[4], Result: f[5]})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}
