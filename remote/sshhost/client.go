// Package sshhost runs shell commands on a remote host over one verified SSH
// connection. Commands are built from quoted words (hostexec.Command) joined by a few
// shell operators, so no value can change a command's structure. It imports only
// remote/hostexec.
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
	// UseAgent adds the keys of the ssh-agent at AgentSocket, when set.
	UseAgent bool
	// AgentSocket is the ssh-agent's socket (default: the process's SSH_AUTH_SOCK).
	AgentSocket string
	// KnownHosts is the known_hosts file to verify the host key against;
	// default ~/.ssh/known_hosts.
	KnownHosts string
	// GlobalKnownHosts are read after KnownHosts (OpenSSH's
	// GlobalKnownHostsFile, e.g. /etc/ssh/ssh_known_hosts); missing ones are skipped.
	GlobalKnownHosts []string
	// HostKeyAlias, if set, names the host in known_hosts instead of Host and Port.
	HostKeyAlias string
	// KeyFiles are more private key files (ssh_config IdentityFile), tried after KeyFile.
	KeyFiles []string
	// IdentitiesOnly offers only the configured keys, not every key of the agent.
	IdentitiesOnly bool
	// PassphrasePrompt, if set, asks for the passphrase of an encrypted key
	// the agent does not hold (interactive runs); prompt names the key file.
	PassphrasePrompt func(prompt string) ([]byte, error)
	// Jumps are the hosts to go through (ProxyJump), first to last: each is
	// dialled through the one before and its host key checked on its own.
	Jumps []Config
	// ProxyCommand, if set, is run locally with sh -c (%h, %p and %r replaced
	// by the quoted host, port and user) and its stdin/stdout are the
	// connection to the first hop (or the host).
	ProxyCommand string
	// KeepAliveCountMax is how many keepalives may go unanswered before the
	// connection counts as lost; default 3.
	KeepAliveCountMax int
	// Invalid is a problem found while building the config (e.g. an
	// unreadable ssh_config); Dial returns it.
	Invalid error
	// InsecureIgnoreHostKey skips host key verification. Only for an explicit
	// user request: it needs Warn, which is told on every connection.
	InsecureIgnoreHostKey bool
	Timeout               time.Duration // connect and handshake; default 20s
	// KeepAlive is the interval of keepalive probes that close a dead
	// connection (ServerAliveInterval); default 5s, negative disables.
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
	defaultKeepAlive = 5 * time.Second
	defaultAliveMax  = 3
	// maxSessions stays under OpenSSH's default MaxSessions (10) per connection.
	maxSessions = 8
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("ssh connection closed")

// ErrConnLost matches (errors.Is) every error of a Run whose connection died:
// the host or a jump host stopped answering keepalives or closed the link.
var ErrConnLost = errors.New("ssh connection lost")

// ConnLostError says which connection of the chain dropped and why.
type ConnLostError struct {
	Host string // user@host:port of the target
	Hop  string // user@host:port of the connection that dropped (Host or a jump host)
	Err  error  // e.g. no keepalive reply within 15s
}

func (e *ConnLostError) Error() string {
	if e.Hop != "" && e.Hop != e.Host {
		return fmt.Sprintf("ssh connection to %s lost: jump host %s dropped: %v", e.Host, e.Hop, e.Err)
	}
	return fmt.Sprintf("ssh connection to %s lost: %v", e.Host, e.Err)
}

// Is makes ConnLostError match ErrConnLost.
func (e *ConnLostError) Is(target error) bool { return target == ErrConnLost }

func (e *ConnLostError) Unwrap() error { return e.Err }

// Client is one SSH connection to a host (through its jump hosts, if any),
// shared by every Run. It is safe for concurrent use; each Run gets its own session.
type Client struct {
	conn        *ssh.Client
	hops        []*ssh.Client // jump host connections, first to last
	hopNames    []string
	name        string // user@host:port, for errors
	fingerprint string
	sessions    chan struct{}
	closed      chan struct{}
	closeOnce   sync.Once
	lostMu      sync.Mutex
	lost        *ConnLostError
	dead        chan struct{} // closed when lost is set
}

var _ hostexec.Runner = (*Client)(nil)

// normalize fills defaults and checks a Config for one connection.
func normalize(cfg Config) (Config, string, error) {
	if cfg.Invalid != nil {
		return cfg, "", cfg.Invalid
	}
	if cfg.Host == "" {
		return cfg, "", errors.New("ssh: no host configured")
	}
	if cfg.User == "" {
		return cfg, "", fmt.Errorf("ssh %s: no user configured", cfg.Host)
	}
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, "", fmt.Errorf("ssh %s: invalid port %d", cfg.Host, cfg.Port)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	if cfg.KeepAliveCountMax <= 0 {
		cfg.KeepAliveCountMax = defaultAliveMax
	}
	return cfg, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), nil
}

// Dial connects to cfg.Host (through cfg.Jumps and cfg.ProxyCommand, when
// set), verifies each host key against known_hosts and authenticates. ctx
// bounds the connect and handshake only.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, addr, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	name := cfg.User + "@" + addr
	c := &Client{name: name, sessions: make(chan struct{}, maxSessions), closed: make(chan struct{}), dead: make(chan struct{})}
	dial := cfg.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if cfg.ProxyCommand != "" {
		first := cfg
		if len(cfg.Jumps) > 0 {
			first = cfg.Jumps[0]
			if first.Port == 0 {
				first.Port = 22
			}
		}
		dial = proxyCommandDialer(cfg.ProxyCommand, first.Host, first.Port, first.User)
	}
	fail := func(err error) (*Client, error) {
		c.Close()
		return nil, err
	}
	for i, j := range cfg.Jumps {
		if j.Warn == nil {
			j.Warn = cfg.Warn
		}
		j, jaddr, err := normalize(j)
		if err != nil {
			return fail(fmt.Errorf("ssh %s: jump host %d: %w", name, i+1, err))
		}
		jname := j.User + "@" + jaddr
		j.DialContext = dial
		hop, _, err := connect(ctx, j, jaddr)
		if err != nil {
			return fail(fmt.Errorf("ssh %s: jump host %s: %w", name, jname, err))
		}
		c.lostMu.Lock()
		c.hops = append(c.hops, hop)
		c.lostMu.Unlock()
		c.hopNames = append(c.hopNames, jname)
		dial = hop.DialContext
		if j.KeepAlive > 0 {
			go c.keepAlive(hop, jname, j.KeepAlive, j.KeepAliveCountMax)
		}
		go c.watch(hop, jname)
	}
	cfg.DialContext = dial
	conn, fp, err := connect(ctx, cfg, addr)
	if err != nil {
		if len(c.hops) > 0 {
			err = fmt.Errorf("%w (via %s)", err, strings.Join(c.hopNames, ", "))
		}
		return fail(fmt.Errorf("ssh %s: %w", name, err))
	}
	c.lostMu.Lock()
	c.conn, c.fingerprint = conn, fp
	c.lostMu.Unlock()
	if err := c.lostErr(); err != nil {
		// A jump host dropped while the last hop was being set up.
		c.closeAll()
		return nil, fmt.Errorf("ssh %s: %w", name, err)
	}
	if cfg.KeepAlive > 0 {
		go c.keepAlive(conn, name, cfg.KeepAlive, cfg.KeepAliveCountMax)
	}
	go c.watch(conn, name)
	return c, nil
}

// connect authenticates to one host over cfg.DialContext.
func connect(ctx context.Context, cfg Config, addr string) (*ssh.Client, string, error) {
	auth, release, err := authMethod(cfg)
	defer release()
	if err != nil {
		return nil, "", err
	}
	var fp string
	hk, err := newHostKeyCheck(cfg, addr, &fp)
	if err != nil {
		return nil, "", err
	}
	conn, err := handshake(ctx, cfg, addr, auth, hk.callback, hk.algorithms)
	if err != nil && hk.known && strings.Contains(err.Error(), "no common algorithm for host key") {
		// The server has none of the key types known_hosts lists for it:
		// connect again unrestricted so the error names the key it now has.
		conn, err = handshake(ctx, cfg, addr, auth, hk.callback, nil)
	}
	if err != nil {
		return nil, "", err
	}
	return conn, fp, nil
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
		if pc, ok := tcp.(*cmdConn); ok {
			if msg := pc.stderrTail(); msg != "" {
				return nil, fmt.Errorf("%w (proxy command said: %s)", err, msg)
			}
		}
		return nil, err
	}
	return ssh.NewClient(cc, chans, reqs), nil
}

// setLost records the first drop of the chain and closes every connection,
// so running and later Runs fail fast with a ConnLostError.
func (c *Client) setLost(hop string, err error) {
	select {
	case <-c.closed:
		return // closed by us, not lost
	default:
	}
	c.lostMu.Lock()
	if c.lost == nil {
		c.lost = &ConnLostError{Host: c.name, Hop: hop, Err: err}
		close(c.dead)
	}
	c.lostMu.Unlock()
	// The lowest link first: with the socket gone nothing above it can block
	// writing to a silent peer. In the background, so no caller waits on it.
	go func() {
		c.lostMu.Lock()
		conns := append([]*ssh.Client(nil), c.hops...)
		if c.conn != nil {
			conns = append(conns, c.conn)
		}
		c.lostMu.Unlock()
		for _, cc := range conns {
			cc.Close()
		}
	}()
}

func (c *Client) lostErr() error {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	if c.lost == nil {
		return nil
	}
	return c.lost
}

func (c *Client) closeAll() error {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	var err error
	if c.conn != nil {
		err = c.conn.Close()
	}
	for i := len(c.hops) - 1; i >= 0; i-- {
		c.hops[i].Close()
	}
	return err
}

// watch notices a connection the peer closed.
func (c *Client) watch(conn *ssh.Client, name string) {
	err := conn.Wait()
	if err == nil {
		err = errors.New("closed by the remote side")
	}
	c.setLost(name, err)
}

// keepAlive probes one connection of the chain and declares it lost when
// max probes in a row go unanswered (OpenSSH ServerAliveInterval and
// ServerAliveCountMax), so Runs fail within seconds instead of hanging.
func (c *Client) keepAlive(conn *ssh.Client, name string, every time.Duration, max int) {
	t := time.NewTicker(every)
	defer t.Stop()
	reply := make(chan error, 1)
	pending := false
	missed := 0
	for {
		select {
		case <-c.closed:
			return
		case err := <-reply:
			pending = false
			if err != nil {
				c.setLost(name, fmt.Errorf("keepalive: %w", err))
				return
			}
			missed = 0
			continue
		case <-t.C:
		}
		if pending {
			missed++
			if missed >= max {
				c.setLost(name, fmt.Errorf("no reply to %d keepalives sent every %s", max, every))
				return
			}
			continue
		}
		pending = true
		go func() {
			_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
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
		err = c.closeAll()
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
		if lost := c.lostErr(); lost != nil {
			err = lost
		}
		return hostexec.Result{ExitCode: -1}, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), err)
	}
	if lost := c.lostErr(); lost != nil {
		return fail(lost)
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
	case <-c.dead:
		// The connection is gone; the session will not report back.
		_ = sess.Close()
		stdout.flush()
		res := out.Finish()
		res.ExitCode = -1
		return res, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), c.lostErr())
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
	if err != nil && !errors.As(err, &exit) {
		// The session failed without an exit status: give the watcher a
		// moment to tell whether the connection itself is gone.
		select {
		case <-c.dead:
		case <-c.closed:
		case <-time.After(200 * time.Millisecond):
		}
	}
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitStatus()
		return res, hostexec.NewExitError(cmd, res.ExitCode, exit.Signal(), res.Stderr)
	case c.lostErr() != nil:
		res.ExitCode = -1
		return res, fmt.Errorf("ssh %s: %s: %w", c.name, hostexec.Summary(text), c.lostErr())
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
