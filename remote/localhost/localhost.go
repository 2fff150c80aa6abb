// Package localhost runs gantry's remote commands on this machine instead of
// over SSH, for the local development target. It imports only remote/hostexec.
package localhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long Run waits, after the shell exits or is signalled,
// for processes it left behind to release its output.
const waitDelay = 5 * time.Second

// Host runs commands with sh -c in gantry's environment. The zero value is
// ready to use.
type Host struct {
	// Dir is the working directory; empty means gantry's.
	Dir string
}

var _ hostexec.Runner = Host{}

// Run runs cmd with sh -c, streaming and capturing output like
// (*sshhost.Client).Run: a non-zero exit returns an *hostexec.ExitError, and
// when ctx ends the command's process group gets SIGTERM (SIGKILL after
// waitDelay) and Run returns an error wrapping ctx.Err().
func (h Host) Run(ctx context.Context, cmd hostexec.Cmd, opts hostexec.RunOptions) (hostexec.Result, error) {
	text := cmd.String()
	if err := cmd.Err(); err != nil {
		return hostexec.Result{ExitCode: -1}, fmt.Errorf("local: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return hostexec.Result{ExitCode: -1}, fmt.Errorf("local: %s: %w", hostexec.Summary(text), err)
	}
	out := hostexec.NewOutput(opts)
	c := exec.CommandContext(ctx, "sh", "-c", text)
	c.Dir = h.Dir
	c.Stdin = opts.Stdin // nil reads /dev/null, like an SSH session's empty input
	c.Stdout, c.Stderr = out.Stdout(), out.Stderr()
	// A process group lets cancellation reach the shell's children too.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGTERM) }
	c.WaitDelay = waitDelay

	err := c.Run()
	res := out.Finish()
	if ctx.Err() != nil && c.ProcessState != nil && !c.ProcessState.Success() {
		res.ExitCode = -1
		return res, fmt.Errorf("local: %s: %w", hostexec.Summary(text), ctx.Err())
	}
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay) && c.ProcessState.Success():
		// A background process holding the output open past the shell's
		// exit does not make the command fail.
		return res, nil
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
		signal := ""
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
			signal = strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG")
		}
		return res, hostexec.NewExitError(cmd, res.ExitCode, signal, res.Stderr)
	default:
		res.ExitCode = -1
		return res, fmt.Errorf("local: %s: %w", hostexec.Summary(text), err)
	}
}
