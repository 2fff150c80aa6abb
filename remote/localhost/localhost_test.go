package localhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

func TestRunStreamsAndCaptures(t *testing.T) {
	var outs, errs []string
	res, err := Host{}.Run(context.Background(),
		hostexec.Command("sh", "-c", "echo one; echo warn >&2; printf 'two\\nthree'"),
		hostexec.RunOptions{
			OnStdout: func(l string) { outs = append(outs, l) },
			OnStderr: func(l string) { errs = append(errs, l) },
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"one", "two", "three"}; !reflect.DeepEqual(outs, want) {
		t.Errorf("stdout lines %q, want %q", outs, want)
	}
	if want := []string{"warn"}; !reflect.DeepEqual(errs, want) {
		t.Errorf("stderr lines %q, want %q", errs, want)
	}
	if res.ExitCode != 0 || res.Stdout != "one\ntwo\nthree" || res.Stderr != "warn\n" {
		t.Errorf("result %+v", res)
	}
}

func TestRunExitError(t *testing.T) {
	cmd := hostexec.Command("sh", "-c", "echo 'bad thing' >&2; exit 4")
	res, err := Host{}.Run(context.Background(), cmd, hostexec.RunOptions{})
	var ee *hostexec.ExitError
	if !errors.As(err, &ee) || ee.Code != 4 || res.ExitCode != 4 || ee.Stderr != "bad thing\n" || ee.Cmd != cmd.String() {
		t.Fatalf("want ExitError code 4, got %#v (result %+v)", err, res)
	}
	// The shell itself must die of the signal: a child's death would only
	// give status 143.
	_, err = Host{}.Run(context.Background(), hostexec.Raw("kill -TERM $$"), hostexec.RunOptions{})
	if !errors.As(err, &ee) || ee.Signal != "TERM" || ee.Code != 128+int(syscall.SIGTERM) {
		t.Fatalf("want ExitError for SIGTERM, got %#v", err)
	}
}

func TestRunStdin(t *testing.T) {
	res, err := Host{}.Run(context.Background(), hostexec.Command("cat"), hostexec.RunOptions{Stdin: strings.NewReader("pass\nword")})
	if err != nil || res.Stdout != "pass\nword" {
		t.Fatalf("%q, %v", res.Stdout, err)
	}
	res, err = Host{}.Run(context.Background(), hostexec.Command("wc", "-c"), hostexec.RunOptions{})
	if err != nil || strings.TrimSpace(res.Stdout) != "0" {
		t.Fatalf("no stdin: %q, %v", res.Stdout, err)
	}
}

// Cancelling must end the whole process group, not just the shell.
func TestRunCancelKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The child sleep is not exec'd, so the shell and it are two processes.
	script := `sleep 30 & echo $! > "$1"; echo started; wait`
	_, err := Host{}.Run(ctx, hostexec.Command("sh", "-c", script, "sh", pidFile), hostexec.RunOptions{
		OnStdout: func(l string) {
			if l == "started" {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("child sleep %d survived cancellation", pid)
}

// alive reports whether pid runs and is not a zombie awaiting its parent.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func TestRunHostileValues(t *testing.T) {
	for _, v := range []string{"1.0;rm -rf /", "$(id)", "`id`", "'", `"`, "a\nb", "", "*", "A=b"} {
		res, err := Host{}.Run(context.Background(), hostexec.Command("printf", "%s", v), hostexec.RunOptions{})
		if err != nil || res.Stdout != v {
			t.Errorf("printf %q: got %q, %v", v, res.Stdout, err)
		}
	}
}

func TestRunRejectsBrokenCommand(t *testing.T) {
	if _, err := (Host{}).Run(context.Background(), hostexec.Cmd{}, hostexec.RunOptions{}); !errors.Is(err, hostexec.ErrEmptyCommand) {
		t.Fatalf("want ErrEmptyCommand, got %v", err)
	}
}

func TestRunDir(t *testing.T) {
	dir := t.TempDir()
	res, err := Host{Dir: dir}.Run(context.Background(), hostexec.Command("pwd"), hostexec.RunOptions{})
	want, _ := filepath.EvalSymlinks(dir)
	if err != nil || strings.TrimSpace(res.Stdout) != want {
		t.Fatalf("pwd: %q, %v; want %s", res.Stdout, err, want)
	}
}
