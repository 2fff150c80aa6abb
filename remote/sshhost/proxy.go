package sshhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"al.essio.dev/pkg/shellescape"
)

// ExpandProxyCommand replaces %h, %p, %r and %% in a ProxyCommand like
// OpenSSH does, each value quoted for sh so no host or user name can change
// the command.
func ExpandProxyCommand(command, host string, port int, user string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(command); i++ {
		ch := command[i]
		if ch != '%' {
			b.WriteByte(ch)
			continue
		}
		if i+1 >= len(command) {
			return "", fmt.Errorf("proxy command %q ends in a lone %%", command)
		}
		i++
		switch command[i] {
		case 'h':
			b.WriteString(shellescape.Quote(host))
		case 'p':
			b.WriteString(strconv.Itoa(port))
		case 'r':
			b.WriteString(shellescape.Quote(user))
		case 'n':
			b.WriteString(shellescape.Quote(host))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("proxy command %q: %%%c is not supported (use %%h, %%p, %%r or %%%%)", command, command[i])
		}
	}
	return b.String(), nil
}

// proxyCommandDialer returns a dialer that runs command (sh -c) and uses its
// stdio as the connection; the address asked for is ignored, as the command
// knows where it goes.
func proxyCommandDialer(command, host string, port int, user string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		line, err := ExpandProxyCommand(command, host, port, user)
		if err != nil {
			return nil, err
		}
		// Not CommandContext: the command lives as long as the connection.
		cmd := exec.Command("sh", "-c", line)
		// Pipes of our own, so Wait never closes the ends the SSH client reads.
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			inR.Close()
			inW.Close()
			return nil, err
		}
		cmd.Stdin, cmd.Stdout = inR, outW
		c := &cmdConn{cmd: cmd, r: outR, w: inW, done: make(chan struct{})}
		cmd.Stderr = &c.stderr
		err = cmd.Start()
		inR.Close()
		outW.Close()
		if err != nil {
			outR.Close()
			inW.Close()
			return nil, fmt.Errorf("proxy command: %w", err)
		}
		go func() {
			c.waitErr = cmd.Wait()
			close(c.done)
		}()
		if err := ctx.Err(); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// cmdConn is a net.Conn over a local command's stdin and stdout.
type cmdConn struct {
	cmd       *exec.Cmd
	r         *os.File
	w         *os.File
	stderr    tailBuffer
	done      chan struct{}
	waitErr   error
	closeOnce sync.Once
}

func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && errors.Is(err, os.ErrClosed) {
		err = io.EOF // closed by Close: report it like a socket would
	}
	return n, err
}

func (c *cmdConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func (c *cmdConn) Close() error {
	c.closeOnce.Do(func() {
		c.w.Close()
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		c.r.Close()
	})
	return nil
}

// stderrTail is the end of what the command wrote to stderr, one line.
func (c *cmdConn) stderrTail() string {
	select {
	case <-c.done:
	case <-time.After(500 * time.Millisecond):
	}
	return strings.Join(strings.Fields(c.stderr.String()), " ")
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

func (c *cmdConn) LocalAddr() net.Addr  { return pipeAddr("proxy-command") }
func (c *cmdConn) RemoteAddr() net.Addr { return pipeAddr("proxy-command") }
func (c *cmdConn) SetDeadline(t time.Time) error {
	_ = c.r.SetReadDeadline(t)
	return c.w.SetWriteDeadline(t)
}
func (c *cmdConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *cmdConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 2048 {
		b := t.buf.Bytes()[t.buf.Len()-2048:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
