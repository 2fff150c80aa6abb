package hoststate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// Lease defaults: the holder renews every DefaultRenew; a lease not renewed for
// DefaultLease (a killed or cut-off holder) is free for the next taker.
const (
	DefaultLease = 40 * time.Second
	DefaultRenew = 10 * time.Second
)

// ErrLocked means another deploy holds the environment's lock.
var ErrLocked = errors.New("deploy lock held")

// ErrLost means the lock was taken over (its lease had expired, or --force-unlock)
// while this run held it.
var ErrLost = errors.New("deploy lock lost")

// LockHolder describes who holds a deploy lock, as its owner file says.
type LockHolder struct {
	RunID   string
	Who     string
	Version string
	PID     string
	Host    string // the machine gantry runs on
	Since   time.Time
	Renewed time.Time
	Expires time.Time
	// HostNow is the deploy host's clock when the holder was read.
	HostNow time.Time
}

// Live reports whether the holder's lease has not expired (by the host's clock).
func (h LockHolder) Live() bool { return h.Expires.After(h.HostNow) }

// String describes the holder for people: who, version, run, since when, lease state.
func (h LockHolder) String() string {
	s := fmt.Sprintf("%s (version %s, run %s, pid %s on %s) since %s", orUnknown(h.Who), orUnknown(h.Version),
		orUnknown(h.RunID), orUnknown(h.PID), orUnknown(h.Host), h.Since.UTC().Format(time.RFC3339))
	if !h.HostNow.IsZero() && !h.Since.IsZero() {
		s += fmt.Sprintf(", age %s", h.HostNow.Sub(h.Since).Round(time.Second))
	}
	if !h.HostNow.IsZero() && !h.Renewed.IsZero() {
		s += fmt.Sprintf(", lease renewed %s ago", h.HostNow.Sub(h.Renewed).Round(time.Second))
	}
	return s
}

// LockError says who holds the lock and how to go on.
type LockError struct {
	Env    config.Env
	Target string
	Holder LockHolder
	Waited time.Duration
}

func (e *LockError) Error() string {
	return fmt.Sprintf("%s deploy lock (%s) held by %s; waited %s; wait for that deploy to finish: a holder that died frees the lock when its lease expires (within %s), or re-run with --force-unlock if you know it is gone",
		e.Env, e.Target, e.Holder, e.Waited.Round(time.Second), DefaultLease)
}

// Is makes LockError match ErrLocked.
func (e *LockError) Is(t error) bool { return t == ErrLocked }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// DevTarget names the dev environment's state folder: one per container.
func DevTarget(container string) string { return "dev-" + pathPart(container) }

// ProdTarget names the prod environment's state folder: one per namespace and deployment.
func ProdTarget(namespace, deployment string) string {
	if namespace == "" {
		namespace = "default"
	}
	return "prod-" + pathPart(namespace) + "-" + pathPart(deployment)
}

// Dir is the state folder of app's target on the host, relative to the login
// user's home: ~/.gantry/<app>/<target>.
func Dir(app, target string) string {
	return StateDir + "/" + pathPart(app) + "/" + pathPart(target)
}

// pathPart keeps a name to one safe path component.
func pathPart(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		return "_"
	}
	return s
}

// Sanitize makes a value safe for one field of a lock owner file or an audit line:
// control characters (newlines, tabs, escapes) become spaces and the length is bounded,
// so a value can neither add fields nor spoof the holder shown to waiters.
func Sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}

// Lock is a deploy lock on a host held as a lease: ~/.gantry/<app>/<target>/lock/owner
// names the holder (one sanitised value per line) and when its lease expires. The
// holder renews the lease while it runs; a lease nobody renews expires, and the next
// taker takes it over. Every change (take, renew, release) is one shell command that
// checks the owner and changes it under a short mkdir guard, so two takers racing for
// an expired lease cannot both win, and a release removes only a lock still its own.
type Lock struct {
	Host hostexec.Runner
	// App and Target key the lock (see DevTarget and ProdTarget): apps and
	// environments on one host do not wait for each other.
	App    string
	Target string
	// Env names the environment in messages.
	Env     config.Env
	Who     string
	Version string
	// RunID identifies this run (random when empty).
	RunID string
	// Timeout is how long Acquire waits for a lock held by a live lease.
	Timeout time.Duration
	// Lease is how long a lease lasts unrenewed (DefaultLease); Renew how often the
	// holder renews it (DefaultRenew, at most Lease/3).
	Lease, Renew time.Duration
	// Stale is ignored: leases expire by themselves (dev.lock_stale is deprecated).
	Stale time.Duration
	// Force takes the lock even from a live-looking holder (--force-unlock), warning.
	Force bool
	// Poll is the wait between attempts (default 2s).
	Poll time.Duration
	// Now is the clock (default time.Now); lease times use the host's clock.
	Now func() time.Time

	mu     sync.Mutex
	logf   func(string, ...any)
	stop   chan struct{}
	done   chan struct{}
	lost   error
	lostCh chan struct{}
}

// Path is the lock folder relative to the login user's home.
func (l *Lock) Path() string { return Dir(l.appName(), l.Target) + "/lock" }

func (l *Lock) appName() string {
	if l.App == "" {
		return "_"
	}
	return l.App
}

func (l *Lock) lease() time.Duration {
	if l.Lease <= 0 {
		return DefaultLease
	}
	return l.Lease
}

func (l *Lock) renewEvery() time.Duration {
	r := l.Renew
	if r <= 0 {
		r = DefaultRenew
	}
	if m := l.lease() / 3; r > m {
		r = m
	}
	return r
}

// InHome runs a command from the login user's home directory, so relative
// state paths work whatever the remote shell's start directory is.
func InHome(c hostexec.Cmd) hostexec.Cmd {
	return hostexec.And(hostexec.Raw(`cd "$HOME"`), c)
}

// lockScript is run with sh -c; every value is an argument: $1 the operation
// (acquire, force, renew, release), $2 the lock folder, $3 the run id, $4 the lease in
// seconds, $5 who, $6 version, $7 pid, $8 the machine gantry runs on. A guard folder
// ($2.guard, made with mkdir) serialises the check and the change; one left by a killed
// shell is removed after a minute. It prints the owner file (the previous one prefixed
// with "prev." on a take-over) and the host's clock as now=. Exit 3: held by a live
// lease; 4: not ours (renew, release); 5: guard busy.
const lockScript = `set -u
op=$1 d=$2 run=$3 lease=$4 who=$5 version=$6 pid=$7 from=$8
g="$d.guard"
mkdir -p "$(dirname "$d")" || exit 1
n=0
until mkdir "$g" 2>/dev/null; do
  n=$((n+1))
  if [ "$n" -gt 100 ]; then
    if [ -n "$(find "$g" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir "$g" 2>/dev/null; n=0; continue; fi
    echo "the lock guard $g stays busy" >&2
    exit 5
  fi
  sleep 0.1
done
trap 'rmdir "$g" 2>/dev/null' EXIT
trap 'exit 1' HUP INT TERM
now=$(date +%s)
field() { sed -n "s/^$1=//p" "$d/owner" 2>/dev/null | head -n 1; }
holder=$(field run)
expires=$(field expires)
since=$(field since)
show() { cat "$d/owner" 2>/dev/null; echo "now=$now"; }
write() {
  mkdir -p "$d" &&
  printf 'run=%s\nwho=%s\nversion=%s\npid=%s\nhost=%s\nsince=%s\nrenewed=%s\nexpires=%s\n' \
    "$run" "$who" "$version" "$pid" "$from" "$1" "$now" "$((now + lease))" >"$d/owner.new" &&
  mv -f "$d/owner.new" "$d/owner"
}
case $op in
acquire|force)
  if [ -d "$d" ] && [ "$holder" != "$run" ]; then
    live=1
    case $expires in
    ''|*[!0-9]*) [ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ] && live=0 ;;
    *) [ "$expires" -le "$now" ] && live=0 ;;
    esac
    if [ "$live" = 1 ] && [ "$op" != force ]; then show; exit 3; fi
    show | sed 's/^/prev./'
    rm -rf "$d" || exit 1
    since=$now
  fi
  [ "$holder" = "$run" ] || since=$now
  write "$since" || exit 1
  echo "now=$now"
  ;;
renew)
  [ "$holder" = "$run" ] || { show; exit 4; }
  write "$since" || exit 1
  ;;
release)
  [ -d "$d" ] || exit 0
  [ "$holder" = "$run" ] || { show; exit 4; }
  rm -rf "$d"
  ;;
*)
  echo "unknown lock operation $op" >&2
  exit 2
  ;;
esac`

func (l *Lock) op(ctx context.Context, op string) (hostexec.Result, error) {
	secs := int64(l.lease() / time.Second)
	if secs < 1 {
		secs = 1
	}
	pid := strconv.Itoa(os.Getpid())
	from, _ := os.Hostname()
	c := hostexec.Command("sh", "-c", lockScript, "gantry-lock", op, l.Path(), l.RunID,
		strconv.FormatInt(secs, 10), Sanitize(l.Who), Sanitize(l.Version), pid, Sanitize(from))
	return l.Host.Run(ctx, InHome(c), hostexec.RunOptions{})
}

// parseOwner reads owner file lines (key=value, the first of each key counts) with
// the given key prefix.
func parseOwner(text, prefix string) LockHolder {
	var h LockHolder
	seen := map[string]bool{}
	unix := func(v string) time.Time {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		return time.Unix(n, 0)
	}
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if k == "now" || k == "prev.now" {
			if k == prefix+"now" {
				h.HostNow = unix(v)
			}
			continue
		}
		if !strings.HasPrefix(k, prefix) || (prefix == "" && strings.HasPrefix(k, "prev.")) {
			continue
		}
		k = strings.TrimPrefix(k, prefix)
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "run":
			h.RunID = v
		case "who":
			h.Who = v
		case "version":
			h.Version = v
		case "pid":
			h.PID = v
		case "host":
			h.Host = v
		case "since":
			h.Since = unix(v)
		case "renewed":
			h.Renewed = unix(v)
		case "expires":
			h.Expires = unix(v)
		}
	}
	return h
}

func exitCode(err error) (int, bool) {
	var ee *hostexec.ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	return 0, false
}

// Acquire takes the lock, waiting up to Timeout while a live lease holds it, and
// starts renewing the lease until Release or until ctx ends. A lease that expired
// (its holder died) is taken over; with Force a live one is too, with a warning.
func (l *Lock) Acquire(ctx context.Context, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	now := l.Now
	if now == nil {
		now = time.Now
	}
	poll := l.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	if l.RunID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		l.RunID = hex.EncodeToString(b)
	}
	start := now()
	announced := false
	for {
		op := "acquire"
		if l.Force {
			op = "force"
		}
		res, err := l.op(ctx, op)
		if err == nil {
			if prev := parseOwner(res.Stdout, "prev."); prev.RunID != "" || prev.Who != "" {
				prev.HostNow = parseOwner(res.Stdout, "").HostNow
				if prev.Expires.After(prev.HostNow) {
					logf("warning: --force-unlock: took the %s lock from a live-looking holder: %s", l.Env, prev)
				} else {
					logf("took over the %s lock from %s: its lease expired %s ago", l.Env, prev, prev.HostNow.Sub(prev.Expires).Round(time.Second))
				}
			}
			l.start(ctx, logf)
			return nil
		}
		code, isExit := exitCode(err)
		if !isExit || code != 3 {
			return fmt.Errorf("take %s lock %s: %w", l.Env, l.Path(), err)
		}
		holder := parseOwner(res.Stdout, "")
		waited := now().Sub(start)
		if waited >= l.Timeout {
			return &LockError{Env: l.Env, Target: l.Target, Holder: holder, Waited: waited}
		}
		if !announced {
			logf("waiting for the %s lock held by %s", l.Env, holder)
			announced = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// start begins renewing the lease in the background.
func (l *Lock) start(ctx context.Context, logf func(string, ...any)) {
	l.mu.Lock()
	l.logf = logf
	l.lost = nil
	l.lostCh = make(chan struct{})
	lostCh := l.lostCh
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	stop, done := l.stop, l.done
	l.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(l.renewEvery())
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res, err := l.op(ctx, "renew")
			if err == nil {
				continue
			}
			if code, ok := exitCode(err); ok && code == 4 {
				h := parseOwner(res.Stdout, "")
				l.mu.Lock()
				l.lost = fmt.Errorf("%w: the %s lock was taken over by %s while this run held it", ErrLost, l.Env, h)
				l.mu.Unlock()
				close(lostCh)
				logf("warning: the %s lock was taken over by %s", l.Env, h)
				return
			}
			if ctx.Err() == nil {
				logf("warning: renew the %s lock lease: %v", l.Env, err)
			}
		}
	}()
}

// LostC is closed when a renewal finds the lock taken over (nil before Acquire):
// the holder should stop acting on the environment.
func (l *Lock) LostC() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostCh
}

// Lost returns ErrLost (wrapped) once a renewal found the lock taken over, else nil.
func (l *Lock) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Release stops renewing and removes the lock if it is still this run's (checked
// and removed in one host command). It runs even when ctx is already cancelled, so
// every exit path frees the environment. A lock someone took over is left alone
// and reported as ErrLost.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res, err := l.op(rctx, "release")
	if err != nil {
		if code, ok := exitCode(err); ok && code == 4 {
			return fmt.Errorf("%w: the %s lock now belongs to %s; left it alone", ErrLost, l.Env, parseOwner(res.Stdout, ""))
		}
		return fmt.Errorf("release %s lock %s: %w", l.Env, l.Path(), err)
	}
	return nil
}

// ReadHolder returns the lock's holder; ok is false when nobody holds it.
func (l *Lock) ReadHolder(ctx context.Context) (h LockHolder, ok bool, err error) {
	c := hostexec.Seq(
		hostexec.Or(hostexec.Command("cat", l.Path()+"/owner"), hostexec.Command("true")),
		hostexec.Command("date", "+now=%s"),
	)
	res, err := l.Host.Run(ctx, InHome(c), hostexec.RunOptions{})
	if err != nil {
		return LockHolder{}, false, fmt.Errorf("read %s lock: %w", l.Env, err)
	}
	h = parseOwner(res.Stdout, "")
	return h, h.RunID != "", nil
}
