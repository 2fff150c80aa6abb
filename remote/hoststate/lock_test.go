package hoststate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

func peerHost(t *testing.T) *sshhost.Client {
	t.Helper()
	p := testbed.SSH(t)
	c, err := sshhost.Dial(context.Background(), sshhost.Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testApp is an app name of its own, whose state folder is removed at the end.
func testApp(t *testing.T, host hostexec.Runner) string {
	app := "locktest-" + testbed.Suffix()
	t.Cleanup(func() {
		_, _ = host.Run(context.Background(), InHome(hostexec.Command("rm", "-rf", StateDir+"/"+app)), hostexec.RunOptions{})
	})
	return app
}

func shortLock(host hostexec.Runner, app, who string) *Lock {
	return &Lock{Host: host, App: app, Target: DevTarget("dev-app"), Env: "dev", Who: who, Version: "1.0.0",
		Timeout: 0, Lease: 2 * time.Second, Renew: 500 * time.Millisecond, Poll: 200 * time.Millisecond}
}

func logTo(t *testing.T) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

func holderOf(t *testing.T, l *Lock) (LockHolder, bool) {
	t.Helper()
	h, ok, err := l.ReadHolder(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h, ok
}

func TestLeaseRenewedWhileHeldAndFreedAfterRelease(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "alice")
	if err := a.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatal(err)
	}
	// Held well past the lease: renewals keep it.
	time.Sleep(4 * time.Second)
	b := shortLock(host, app, "bob")
	err := b.Acquire(context.Background(), logTo(t))
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("bob took a renewed lease: %v", err)
	}
	if le.Holder.Who != "alice" || le.Holder.RunID != a.RunID || !le.Holder.Live() {
		t.Fatalf("holder = %+v", le.Holder)
	}
	if !strings.Contains(err.Error(), "alice") {
		t.Fatalf("error does not name the holder: %v", err)
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := holderOf(t, a); ok {
		t.Fatal("lock still held after release")
	}
	if err := b.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatalf("bob after release: %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A holder killed (its renewals stop, it never releases) frees the lock when its
// lease expires, without --force-unlock.
func TestKilledHolderFreesLockWhenLeaseExpires(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "alice")
	actx, kill := context.WithCancel(context.Background())
	if err := a.Acquire(actx, logTo(t)); err != nil {
		t.Fatal(err)
	}
	kill() // renewals stop, as when the process dies
	b := shortLock(host, app, "bob")
	b.Timeout = 10 * time.Second
	start := time.Now()
	var logs []string
	if err := b.Acquire(context.Background(), func(f string, a ...any) { logs = append(logs, f) }); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("took %s to take over a 2s lease", waited)
	}
	if !strings.Contains(strings.Join(logs, "\n"), "took over") {
		t.Fatalf("no take-over message: %q", logs)
	}
	h, ok := holderOf(t, b)
	if !ok || h.RunID != b.RunID || h.Who != "bob" {
		t.Fatalf("holder after take-over = %+v", h)
	}
	_ = b.Release(context.Background())
}

// A's lease expires, B takes over, A finishing must not remove B's lock, and C
// cannot deploy beside B.
func TestTakeOverRaceABC(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "alice")
	actx, stall := context.WithCancel(context.Background())
	if err := a.Acquire(actx, logTo(t)); err != nil {
		t.Fatal(err)
	}
	stall() // A hangs: no renewals
	time.Sleep(3 * time.Second)
	b := shortLock(host, app, "bob")
	if err := b.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// A wakes up and finishes: its release must leave B's lock.
	err := a.Release(context.Background())
	if !errors.Is(err, ErrLost) {
		t.Fatalf("A's release = %v, want ErrLost", err)
	}
	h, ok := holderOf(t, b)
	if !ok || h.RunID != b.RunID {
		t.Fatalf("after A's release the holder is %+v, want bob", h)
	}
	c := shortLock(host, app, "carol")
	c.Timeout = time.Second
	if err := c.Acquire(context.Background(), logTo(t)); !errors.Is(err, ErrLocked) {
		t.Fatalf("carol beside bob: %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Two takers racing for one expired lease: exactly one wins.
func TestTakeOverRaceOneWinner(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "alice")
	actx, kill := context.WithCancel(context.Background())
	if err := a.Acquire(actx, logTo(t)); err != nil {
		t.Fatal(err)
	}
	kill()
	time.Sleep(3 * time.Second)
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		takers := make([]*Lock, 4)
		errs := make([]error, len(takers))
		for i := range takers {
			takers[i] = shortLock(host, app, "taker")
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = takers[i].Acquire(context.Background(), logTo(t))
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				defer takers[i].Release(context.Background())
			case !errors.Is(err, ErrLocked):
				t.Fatalf("taker %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d takers won", round, won)
		}
		// Let the winner's lease lapse for the next round.
		for i, err := range errs {
			if err == nil {
				takers[i].mu.Lock()
				close(takers[i].stop)
				takers[i].stop = nil
				takers[i].mu.Unlock()
				<-takers[i].done
			}
		}
		time.Sleep(3 * time.Second)
	}
}

// --force-unlock takes a live lock, and warns naming the holder and its age.
func TestForceUnlockOfLiveLockWarns(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "alice")
	if err := a.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatal(err)
	}
	b := shortLock(host, app, "bob")
	b.Force = true
	var logs []string
	if err := b.Acquire(context.Background(), func(f string, args ...any) { logs = append(logs, fmt.Sprintf(f, args...)) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.LostC():
		if !errors.Is(a.Lost(), ErrLost) || !strings.Contains(a.Lost().Error(), "bob") {
			t.Errorf("Lost() = %v", a.Lost())
		}
	case <-time.After(5 * time.Second):
		t.Error("the old holder did not notice the take-over")
	}
	joined := strings.Join(logs, "\n")
	if !strings.Contains(joined, "warning") || !strings.Contains(joined, "alice") || !strings.Contains(joined, "age ") {
		t.Fatalf("force-unlock logs = %q", joined)
	}
	if err := a.Release(context.Background()); !errors.Is(err, ErrLost) {
		t.Fatalf("A's release after force = %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Two apps on one host keep separate locks: neither waits for the other.
func TestAppsDoNotShareLocks(t *testing.T) {
	host := peerHost(t)
	a := shortLock(host, testApp(t, host), "alice")
	b := shortLock(host, testApp(t, host), "bob")
	if err := a.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatal(err)
	}
	defer a.Release(context.Background())
	if err := b.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatalf("second app waited for the first: %v", err)
	}
	defer b.Release(context.Background())
}

// A newline in the holder's name cannot add fields or spoof the holder waiters see.
func TestWhoWithNewlineDoesNotSpoofHolder(t *testing.T) {
	host := peerHost(t)
	app := testApp(t, host)
	a := shortLock(host, app, "mallory\nrun=spoofed\nwho=alice\x1b[2J")
	a.Version = "1.0\nexpires=1"
	if err := a.Acquire(context.Background(), logTo(t)); err != nil {
		t.Fatal(err)
	}
	defer a.Release(context.Background())
	res, err := host.Run(context.Background(), InHome(hostexec.Command("cat", a.Path()+"/owner")), hostexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(res.Stdout, "\n"); n != 8 {
		t.Fatalf("owner file has %d lines, want 8:\n%s", n, res.Stdout)
	}
	h, _ := holderOf(t, a)
	if h.RunID != a.RunID || !strings.HasPrefix(h.Who, "mallory") || strings.ContainsAny(h.Who, "\n\x1b") || !h.Live() {
		t.Fatalf("holder = %+v", h)
	}
	b := shortLock(host, app, "bob")
	err = b.Acquire(context.Background(), logTo(t))
	var le *LockError
	if !errors.As(err, &le) || le.Holder.RunID != a.RunID {
		t.Fatalf("bob: %v", err)
	}
}

func TestAuditPerAppAndLegacy(t *testing.T) {
	host := peerHost(t)
	app, other := testApp(t, host), testApp(t, host)
	target := DevTarget("dev-app")
	now := time.Now().Truncate(time.Second)
	for _, e := range []AuditEntry{
		{When: now, Env: "dev", Who: "a\nforged\tline", Version: "1", Result: "ok", App: app, Target: target},
		{When: now.Add(time.Second), Env: "dev", Who: "b", Version: "2", Result: "ok", App: other, Target: target},
	} {
		if err := AppendAudit(context.Background(), host, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadAppAudit(context.Background(), host, app, "dev", []string{target}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, e := range got {
		if e.Legacy {
			continue
		}
		mine++
		if e.Version != "1" || e.Who != "a forged line" || e.App != app {
			t.Fatalf("entry = %+v", e)
		}
	}
	if mine != 1 {
		t.Fatalf("%d entries of this app, want 1: %+v", mine, got)
	}
}
