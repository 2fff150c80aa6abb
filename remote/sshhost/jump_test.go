package sshhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// behindConfig reaches the host behind the bed's bastion through it.
func behindConfig(b testbed.BastionPeer) Config {
	return Config{
		Host: b.BehindHost, Port: b.BehindPort, User: b.User, KeyFile: b.KeyFile, KnownHosts: b.KnownHosts,
		Jumps: []Config{{Host: b.Host, Port: b.Port, User: b.User, KeyFile: b.KeyFile, KnownHosts: b.KnownHosts}},
	}
}

// dockerHostOf runs a command on the host that proves which host it is: the
// bed's hosts all see the bed's DOCKER_HOST.
func dockerHostOf(t *testing.T, c *Client) string {
	t.Helper()
	res, err := c.Run(context.Background(), hostexec.Command("sh", "-c", `printf %s "$DOCKER_HOST"`), hostexec.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Stdout
}

func TestProxyJumpThroughBastion(t *testing.T) {
	b := testbed.Bastion(t)
	c := dialPeer(t, behindConfig(b))
	if got, want := dockerHostOf(t, c), "unix://"+testbed.Dir(t)+"/docker.sock"; got != want {
		t.Errorf("DOCKER_HOST behind the bastion = %q, want %q", got, want)
	}
	if r := behindConfig(b).Route(); !strings.Contains(r, "via "+b.User+"@"+b.Addr) {
		t.Errorf("route %q does not name the jump host", r)
	}
	// Two hops: the bastion jumps to itself, then to the inner host.
	cfg := behindConfig(b)
	cfg.Jumps = append(cfg.Jumps, cfg.Jumps[0])
	c2 := dialPeer(t, cfg)
	if got := dockerHostOf(t, c2); !strings.HasPrefix(got, "unix://") {
		t.Errorf("two hops: DOCKER_HOST %q", got)
	}
}

// The inner host refuses a direct connection (it lets root in only from the
// bastion's address), so the jump tests prove the hop is taken.
func TestBehindBastionUnreachableDirectly(t *testing.T) {
	b := testbed.Bastion(t)
	cfg := behindConfig(b)
	cfg.Jumps = nil
	cfg.Timeout = 3 * time.Second
	c, err := Dial(context.Background(), cfg)
	if err == nil {
		c.Close()
		t.Fatal("the host behind the bastion let a direct connection in")
	}
	// Reached and refused (AllowUsers), not a dead address: the hop is what
	// makes the difference.
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("direct connection failed otherwise than refused: %v", err)
	}
}

func TestJumpHostKeyCheckedOnItsOwn(t *testing.T) {
	b := testbed.Bastion(t)
	data, err := os.ReadFile(b.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	// Only the inner host's line: the bastion is unknown.
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "["+b.BehindHost+"]") {
			keep = append(keep, l)
		}
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := behindConfig(b)
	cfg.KnownHosts, cfg.Jumps[0].KnownHosts = kh, kh
	_, err = Dial(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || hke.Host != fmt.Sprintf("[%s]:%d", b.Host, b.Port) {
		t.Fatalf("want the bastion's key unknown, got %v", err)
	}
	if !strings.Contains(err.Error(), "jump host "+b.User+"@"+b.Addr) {
		t.Errorf("error does not say the jump host failed: %v", err)
	}
	// And the other way round: a known bastion does not vouch for the host behind it.
	keep = keep[:0]
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "["+b.Host+"]") {
			keep = append(keep, l)
		}
	}
	if err := os.WriteFile(kh, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Dial(context.Background(), cfg)
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || hke.Host != fmt.Sprintf("[%s]:%d", b.BehindHost, b.BehindPort) {
		t.Fatalf("want the inner host's key unknown, got %v", err)
	}
}

// ProxyCommand with the real OpenSSH client as the hop: ssh -W %h:%p bastion.
func TestProxyCommandSSHW(t *testing.T) {
	b := testbed.Bastion(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH client not installed")
	}
	cfg := behindConfig(b)
	cfg.Jumps = nil
	cfg.ProxyCommand = fmt.Sprintf("ssh -F /dev/null -i %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "+
		"-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p %d -W %%h:%%p %s@%s",
		b.KeyFile, b.KnownHosts, b.Port, b.User, b.Host)
	c := dialPeer(t, cfg)
	if got := dockerHostOf(t, c); got != "unix://"+testbed.Dir(t)+"/docker.sock" {
		t.Errorf("through ProxyCommand: DOCKER_HOST %q", got)
	}
}

func TestProxyCommandFailureSaysWhy(t *testing.T) {
	cfg := Config{Host: "h", Port: 22, User: "u", KeyPEM: newKeyPEM(t, ""), KnownHosts: filepath.Join(t.TempDir(), "kh"),
		ProxyCommand: "echo no route to %h >&2; exit 1", Timeout: 5 * time.Second}
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "proxy command said: no route to h") {
		t.Fatalf("want the proxy command's stderr in the error, got %v", err)
	}
}

func TestExpandProxyCommandQuotes(t *testing.T) {
	got, err := ExpandProxyCommand("aws ssm start-session --target %h --parameters portNumber=%p -u %r %%", "i-123;rm -rf /", 2222, "ec2 user")
	if err != nil {
		t.Fatal(err)
	}
	want := `aws ssm start-session --target 'i-123;rm -rf /' --parameters portNumber=2222 -u 'ec2 user' %`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The quoted host arrives as one word.
	out, err := exec.Command("sh", "-c", mustExpand(t, `printf '[%%s]' %h`, "a b;c")).Output()
	if err != nil || string(out) != "[a b;c]" {
		t.Errorf("sh saw %q (%v)", out, err)
	}
	if _, err := ExpandProxyCommand("nc %x", "h", 22, "u"); err == nil {
		t.Error("an unknown token was accepted")
	}
}

func mustExpand(t *testing.T, cmd, host string) string {
	t.Helper()
	s, err := ExpandProxyCommand(strings.ReplaceAll(cmd, "%%s", "%%%%s"), host, 22, "u")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(s, "%%s", "%s")
}

// freezer forwards TCP until frozen, then holds the sockets open and silent,
// like a link whose far end vanished.
type freezer struct {
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func (f *freezer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	up, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	a, b := net.Pipe()
	f.mu.Lock()
	f.conns = append(f.conns, up, b)
	f.mu.Unlock()
	pump := func(dst, src net.Conn) {
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			for f.frozen.Load() {
				time.Sleep(50 * time.Millisecond)
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				dst.Close()
				return
			}
		}
	}
	go pump(up, b)
	go pump(b, up)
	return a, nil
}

func (f *freezer) close() {
	f.frozen.Store(false)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

// A jump host that stops answering is noticed by keepalives within
// interval × count, and the error says which hop dropped.
func TestKeepAliveNoticesDeadJumpHost(t *testing.T) {
	b := testbed.Bastion(t)
	f := &freezer{}
	t.Cleanup(f.close)
	cfg := behindConfig(b)
	cfg.Jumps[0].DialContext = nil
	cfg.DialContext = f.dial
	cfg.Jumps[0].KeepAlive, cfg.Jumps[0].KeepAliveCountMax = 200*time.Millisecond, 3
	cfg.KeepAlive = time.Hour // only the jump host's keepalives can tell
	c := dialPeer(t, cfg)
	dockerHostOf(t, c)

	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), hostexec.Command("sleep", "30"), hostexec.RunOptions{})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	f.frozen.Store(true)
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnLost) {
			t.Fatalf("want ErrConnLost, got %v", err)
		}
		var lost *ConnLostError
		if !errors.As(err, &lost) || lost.Hop != b.User+"@"+b.Addr || !strings.Contains(err.Error(), "jump host "+b.User+"@"+b.Addr+" dropped") {
			t.Errorf("error does not name the jump host: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("noticed after %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a dead jump host went unnoticed for 10s")
	}
	// Later Runs fail fast with the same error.
	_, err := c.Run(context.Background(), hostexec.Command("true"), hostexec.RunOptions{})
	if !errors.Is(err, ErrConnLost) {
		t.Errorf("run after the loss: %v", err)
	}
}

func TestKeepAliveNoticesDeadHost(t *testing.T) {
	p := testbed.SSH(t)
	f := &freezer{}
	t.Cleanup(f.close)
	cfg := peerConfig(p)
	cfg.DialContext = f.dial
	cfg.KeepAlive, cfg.KeepAliveCountMax = 200*time.Millisecond, 2
	c := dialPeer(t, cfg)
	f.frozen.Store(true)
	_, err := c.Run(context.Background(), hostexec.Command("sleep", "30"), hostexec.RunOptions{})
	var lost *ConnLostError
	if !errors.As(err, &lost) || lost.Hop != c.Addr() || !strings.Contains(err.Error(), "no reply to 2 keepalives") {
		t.Fatalf("want a lost connection naming the host, got %v", err)
	}
}

// serveAgent runs an in-process ssh-agent holding keys on a unix socket and
// points SSH_AUTH_SOCK at it.
func serveAgent(t *testing.T, keys ...any) {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// encryptedCopy writes the bed's client key encrypted with pass (ssh-keygen -p).
func encryptedCopy(t *testing.T, p testbed.SSHPeer, pass string) string {
	t.Helper()
	data, err := os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "id_enc")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-p", "-N", pass, "-P", "", "-f", f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	return f
}

func TestEncryptedKeyHeldByAgent(t *testing.T) {
	p := testbed.SSH(t)
	raw, err := os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	enc := encryptedCopy(t, p, "s3cret pass")
	serveAgent(t, priv)
	cfg := peerConfig(p)
	cfg.KeyFile, cfg.UseAgent, cfg.IdentitiesOnly = enc, true, true
	cfg.PassphrasePrompt = func(string) ([]byte, error) {
		t.Error("asked for a passphrase although the agent holds the key")
		return nil, io.EOF
	}
	dialPeer(t, cfg)
}

func TestEncryptedKeyPassphrase(t *testing.T) {
	p := testbed.SSH(t)
	t.Setenv("SSH_AUTH_SOCK", "")
	enc := encryptedCopy(t, p, "s3cret pass")
	cfg := peerConfig(p)
	cfg.KeyFile = enc

	_, err := Dial(context.Background(), cfg)
	if !errors.Is(err, errNeedPassphrase) || !strings.Contains(err.Error(), PassphraseEnv) || !strings.Contains(err.Error(), "ssh-add") {
		t.Fatalf("want a passphrase error naming %s and ssh-add, got %v", PassphraseEnv, err)
	}

	withPass := cfg
	withPass.Passphrase = []byte("s3cret pass")
	dialPeer(t, withPass)

	var asked []string
	prompted := cfg
	prompted.PassphrasePrompt = func(prompt string) ([]byte, error) {
		asked = append(asked, prompt)
		return []byte("s3cret pass"), nil
	}
	dialPeer(t, prompted)
	if len(asked) != 1 || !strings.Contains(asked[0], enc) {
		t.Errorf("prompts %q, want one naming %s", asked, enc)
	}

	wrong := cfg
	wrong.Passphrase = []byte("nope")
	_, err = Dial(context.Background(), wrong)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") || strings.Contains(err.Error(), "nope") {
		t.Errorf("wrong passphrase: %v", err)
	}
}
