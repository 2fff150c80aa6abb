// Package sshhost runs shell commands on a remote host over one verified SSH
// connection. Commands are built from quoted words (hostexec.Command) joined by a few
// shell operators, so no value can change a command's structure.
package sshhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"golang.org/x/crypto/ssh"
)

// Config says how to reach and authenticate to a host.
type Config struct {
	Host string
	Port int // default 22
	User string
	// KeyName is how the user sets KeyFile, for error messages (e.g.
	// "dev.key"); default "ssh key file".
	KeyName string
	KeyFile string // private key file
	// KeyPEM is private key text (e.g. from GANTRY_SSH_KEY); it wins over KeyFile.
	KeyPEM     []byte
	Passphrase []byte // for an encrypted key
	// UseAgent adds the keys of the ssh-agent at SSH_AUTH_SOCK, when set.
	UseAgent bool
	// KnownHosts is the known_hosts file to verify the host key against;
	// default ~/.ssh/known_hosts.
	KnownHosts string
	// InsecureIgnoreHostKey skips host key verification. Only for an explicit
	// user request: it needs Warn, which is told on every connection.
	InsecureIgnoreHostKey bool
	Timeout               time.Duration // connect and handshake; default 20s
	// KeepAlive is the interval of keepalive probes that close a dead
	// connection; default 30s, negative disables.
	KeepAlive time.Duration
	// Warn receives warnings meant for the user, such as disabled host key checks.
	Warn func(string)
	// DialContext, if set, opens the TCP connection (for tests and proxies).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c Config) keyName() string {
	if c.KeyName != "" {
		return c.KeyName
	}
	return "ssh key file"
}

const (
	defaultTimeout   = 20 * time.Second
	defaultKeepAlive = 30 * time.Second
	// maxSessions stays under OpenSSH's default MaxSessions (10) per connection.
	maxSessions = 8
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("ssh connection closed")

// Client is one SSH connection to a host, shared by every Run. It is safe
// for concurrent use; each Run gets its own session.
type Client struct {
	conn        *ssh.Client
	name        string // user@host:port, for errors
	fingerprint string
	sessions    chan struct{}
	closed      chan struct{}
	closeOnce   sync.Once
}

var _ hostexec.Runner = (*Client)(nil)

// Dial connects to cfg.Host, verifies its host key against known_hosts and
// authenticates. ctx bounds the connect and handshake only.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("ssh: no host configured")
	}
	if cfg.User == "" {
		return nil, fmt.Errorf("ssh %s: no user configured", cfg.Host)
	}
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("ssh %s: invalid port %d", cfg.Host, cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	name := cfg.User + "@" + addr

	auth, release, err := authMethod(cfg)
	defer release()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", name, err)
	}
	c := &Client{name: name, sessions: make(chan struct{}, maxSessions), closed: make(chan struct{})}
	hk, err := newHostKeyCheck(cfg, addr, &c.fingerprint)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", name, err)
	}
	conn, err := handshake(ctx, cfg, addr, auth, hk.callback, hk.algorithms)
	if err != nil && hk.known && strings.Contains(err.Error(), "no common algorithm for host key") {
		// The server has none of the key types known_hosts lists for it:
		// connect again unrestricted so the error names the key it now has.
		conn, err = handshake(ctx, cfg, addr, auth, hk.callback, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", name, err)
	}
	c.conn = conn
	if cfg.KeepAlive > 0 {
		go c.keepAlive(cfg.KeepAlive)
	}
	return c, nil
}

func handshake(parent context.Context, cfg Config, addr string, auth ssh.AuthMethod, hostKey ssh.HostKeyCallback, algos []string) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()
	dial := cfg.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tcp, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// ssh.NewClientConn takes no context: closing the socket aborts it.
	stop := context.AfterFunc(ctx, func() { tcp.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(tcp, addr, &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
	})
	if !stop() {
		if err == nil {
			cc.Close()
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			return nil, fmt.Errorf("handshake timed out after %s: %w", cfg.Timeout, ctx.Err())
		}
		return nil, fmt.Errorf("handshake: %w", ctx.Err())
	}
	if err != nil {
		tcp.Close()
		var hke *HostKeyError
		if errors.As(err, &hke) {
			return nil, hke
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("authentication failed: is the public key of the configured key in %s's authorized_keys on the host? (%w)", cfg.User, err)
		}
		return nil, err
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// keepAlive probes the connection and closes it when the server stops
// answering, so Runs fail instead of hanging on a dead link.
func (c *Client) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.closed:
			return
		case err := <-reply:
			if err != nil {
				c.conn.Close()
				return
			}
		case <-time.After(every):
			c.conn.Close()
			return
		}
	}
}

// Addr is user@host:port.
func (c *Client) Addr() string { return c.name }

// HostKeyFingerprint is the SHA256 fingerprint of the verified host key.
func (c *Client) HostKeyFingerprint() string { return c.fingerprint }

// Close closes the connection, ending any running commands.
func (c *Client) Close() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.conn.Close()
	})
	return err
}

// Run runs cmd in its own session on the shared connection. See hostexec.Runner.
func (c *Client) Run(ctx context.Context, cmd hostexec.Cmd, opts hostexec.RunOptions) (hostexec.Result, error) {
	text := cmd.String()
	if err := cmd.Err(); err != nil {
		return hostexec.Result{ExitCode: -1}, fmt.Errorf("ssh %s: %w", c.name, err)
	}
	fail := func(err error) (hostexec.Result, error) {
		return hostexec.Result{ExitCode: -1}, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), err)
	}
	select {
	case c.sessions <- struct{}{}:
		defer func() { <-c.sessions }()
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-c.closed:
		return fail(ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	sess, err := c.conn.NewSession()
	if err != nil {
		select {
		case <-c.closed:
			err = ErrClosed
		default:
		}
		return fail(fmt.Errorf("open session: %w", err))
	}
	defer sess.Close()

	out := hostexec.NewOutput(opts)
	stdout := &pidSniffer{next: out.Stdout()}
	sess.Stdout, sess.Stderr = stdout, out.Stderr()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := sess.Start(withPIDReport(text)); err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	// Copy stdin outside the session so a reader that never returns cannot
	// hold up Wait.
	go func() {
		if opts.Stdin != nil {
			_, _ = io.Copy(stdin, opts.Stdin)
		}
		stdin.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGTERM)
		if pid := stdout.pid.Load(); pid > 0 {
			c.killRemote(pid)
		}
		_ = sess.Close()
		select {
		case <-done:
		case <-time.After(killTimeout): // server unresponsive; do not wait on it
		}
		stdout.flush()
		res := out.Finish()
		res.ExitCode = -1
		return res, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), ctx.Err())
	}

	stdout.flush()
	res := out.Finish()
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitStatus()
		return res, hostexec.NewExitError(cmd, res.ExitCode, exit.Signal(), res.Stderr)
	case errors.As(err, &missing):
		res.ExitCode = -1
		return res, fmt.Errorf("ssh %s: %s: connection ended before the command reported its exit status: %w", c.name, hostexec.Summary(text), err)
	default:
		res.ExitCode = -1
		return res, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), err)
	}
}

// killTimeout bounds the clean-up after a cancelled command.
const killTimeout = 5 * time.Second

// killRemote terminates a cancelled command's processes; see pidMarker.
// Best effort: the session it needs may be refused or the link dead.
func (c *Client) killRemote(pid int64) {
	sess, err := c.conn.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	done := make(chan struct{})
	go func() {
		_ = sess.Run(killGroupCmd(pid))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killTimeout):
	}
}
