package hoststate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// StateDir is gantry's folder on a deploy host, relative to the login user's home.
const StateDir = ".gantry"

// ErrLocked means another deploy holds the environment's lock.
var ErrLocked = errors.New("deploy lock held")

// LockHolder describes who holds a deploy lock.
type LockHolder struct {
	Who     string
	Version string
	Since   time.Time
}

// LockError says who holds the lock and how to break it.
type LockError struct {
	Env    string
	Holder LockHolder
	Waited time.Duration
	Stale  bool
}

func (e *LockError) Error() string {
	h := e.Holder
	msg := fmt.Sprintf("%s deploy lock held by %s (version %s) since %s; waited %s",
		e.Env, orUnknown(h.Who), orUnknown(h.Version), h.Since.UTC().Format(time.RFC3339), e.Waited.Round(time.Second))
	if e.Stale {
		return msg + "; the lock is stale: re-run with --force-unlock to break it"
	}
	return msg + "; wait for that deploy to finish"
}

// Is makes LockError match ErrLocked.
func (e *LockError) Is(t error) bool { return t == ErrLocked }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Lock is a deploy lock on a host: a directory made atomically with mkdir,
// holding a file that says who took it, when, and for which version.
type Lock struct {
	Host    hostexec.Runner
	Env     string // "dev" or "prod": one lock per environment
	Who     string
	Version string
	// Timeout is how long Acquire waits for a held lock.
	Timeout time.Duration
	// Stale is the age after which a held lock may be broken with Force.
	Stale time.Duration
	// Force breaks a stale lock.
	Force bool
	// Poll is the wait between attempts (default 2s).
	Poll time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (l *Lock) dir() string { return StateDir + "/locks/" + l.Env + ".lock" }

// InHome runs a command from the login user's home directory, so relative
// state paths work whatever the remote shell's start directory is.
func InHome(c hostexec.Cmd) hostexec.Cmd {
	return hostexec.And(hostexec.Raw(`cd "$HOME"`), c)
}

// Acquire takes the lock, waiting up to Timeout while someone else holds it.
func (l *Lock) Acquire(ctx context.Context, logf func(string, ...any)) error {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	start := now()
	announced := false
	for {
		info := fmt.Sprintf("who=%s\nversion=%s\nsince=%d\n", l.Who, l.Version, now().Unix())
		take := InHome(hostexec.And(
			hostexec.Command("mkdir", "-p", StateDir+"/locks"),
			hostexec.Command("mkdir", l.dir()),
			hostexec.Pipe(hostexec.Command("printf", "%s", info), hostexec.Command("tee", l.dir()+"/info").Stdout2Null()),
		))
		_, err := l.Host.Run(ctx, take, hostexec.RunOptions{})
		if err == nil {
			return nil
		}
		var exit *hostexec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("take %s lock: %w", l.Env, err)
		}
		holder, herr := l.holder(ctx)
		if herr != nil {
			return herr
		}
		stale := l.Stale > 0 && !holder.Since.IsZero() && now().Sub(holder.Since) > l.Stale
		if stale && l.Force {
			logf("breaking stale %s lock held by %s since %s", l.Env, orUnknown(holder.Who), holder.Since.UTC().Format(time.RFC3339))
			if _, err := l.Host.Run(ctx, InHome(hostexec.Command("rm", "-rf", l.dir())), hostexec.RunOptions{}); err != nil {
				return fmt.Errorf("break %s lock: %w", l.Env, err)
			}
			continue
		}
		waited := now().Sub(start)
		if waited >= l.Timeout {
			return &LockError{Env: l.Env, Holder: holder, Waited: waited, Stale: stale}
		}
		if !announced {
			logf("waiting for the %s lock held by %s (version %s) since %s", l.Env, orUnknown(holder.Who), orUnknown(holder.Version), holder.Since.UTC().Format(time.RFC3339))
			announced = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (l *Lock) holder(ctx context.Context) (LockHolder, error) {
	res, err := l.Host.Run(ctx, InHome(hostexec.Or(hostexec.Command("cat", l.dir()+"/info"), hostexec.Command("true"))), hostexec.RunOptions{})
	if err != nil {
		return LockHolder{}, fmt.Errorf("read %s lock: %w", l.Env, err)
	}
	var h LockHolder
	for _, line := range strings.Split(res.Stdout, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "who":
			h.Who = v
		case "version":
			h.Version = v
		case "since":
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				h.Since = time.Unix(n, 0)
			}
		}
	}
	return h, nil
}

// Release removes the lock. It runs even when ctx is already cancelled, so every
// exit path frees the environment.
func (l *Lock) Release(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := l.Host.Run(rctx, InHome(hostexec.Command("rm", "-rf", l.dir())), hostexec.RunOptions{})
	if err != nil {
		return fmt.Errorf("release %s lock: %w", l.Env, err)
	}
	return nil
}

// AuditEntry is one line of a host's deploy audit log (~/.gantry/audit.log).
type AuditEntry struct {
	When    time.Time
	Env     string
	Who     string
	Version string
	SHA     string
	Result  string
}

// AuditFile is the audit log's path relative to the login user's home.
const AuditFile = StateDir + "/audit.log"

func auditField(s string) string {
	// Tabs and newlines would break the line format; they never occur in valid values.
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// AppendAudit appends one tab-separated line to the host's audit log.
func AppendAudit(ctx context.Context, host hostexec.Runner, e AuditEntry) error {
	line := strings.Join([]string{e.When.UTC().Format(time.RFC3339), auditField(e.Env), auditField(e.Who), auditField(e.Version), auditField(e.SHA), auditField(e.Result)}, "\t") + "\n"
	cmd := InHome(hostexec.And(
		hostexec.Command("mkdir", "-p", StateDir),
		hostexec.Pipe(hostexec.Command("printf", "%s", line), hostexec.Command("tee", "-a", AuditFile).Stdout2Null()),
	))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := host.Run(rctx, cmd, hostexec.RunOptions{}); err != nil {
		return fmt.Errorf("append audit log: %w", err)
	}
	return nil
}

// ReadAudit returns the host's audit entries, newest first, at most limit (0: all).
func ReadAudit(ctx context.Context, host hostexec.Runner, limit int) ([]AuditEntry, error) {
	res, err := host.Run(ctx, InHome(hostexec.Or(hostexec.Command("cat", AuditFile), hostexec.Command("true"))), hostexec.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return ParseAudit(res.Stdout, limit), nil
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
		out = append(out, AuditEntry{When: t, Env: f[1], Who: f[2], Version: f[3], SHA: f[4], Result: f[5]})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}
