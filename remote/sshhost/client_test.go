package sshhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

func peerConfig(p testbed.SSHPeer) Config {
	return Config{Host: p.Host, Port: p.Port, User: p.User, KeyFile: p.KeyFile, KnownHosts: p.KnownHosts, KeyName: "test.key"}
}

func dialPeer(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// peerHostKey reads the host key the test bed recorded for the peer.
func peerHostKey(t *testing.T, p testbed.SSHPeer) ssh.PublicKey {
	t.Helper()
	f, err := os.Open(p.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := knownhosts.Normalize(p.Addr)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, hosts, key, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err == nil && len(hosts) > 0 && hosts[0] == want {
			return key
		}
	}
	t.Fatalf("no key for %s in %s", want, p.KnownHosts)
	return nil
}

func TestRunStreamsOutputAndExitStatus(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	var outs, errs []string
	var mu sync.Mutex
	res, err := c.Run(context.Background(),
		hostexec.Command("sh", "-c", "echo one; echo warn >&2; printf 'two\\nthree'"),
		hostexec.RunOptions{
			OnStdout: func(l string) { mu.Lock(); outs = append(outs, l); mu.Unlock() },
			OnStderr: func(l string) { mu.Lock(); errs = append(errs, l); mu.Unlock() },
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
	if !strings.HasPrefix(c.HostKeyFingerprint(), "SHA256:") {
		t.Errorf("fingerprint %q", c.HostKeyFingerprint())
	}
}

func TestRunFailingCommand(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	cmd := hostexec.Command("sh", "-c", "echo partial; echo 'no such image' >&2; exit 3")
	res, err := c.Run(context.Background(), cmd, hostexec.RunOptions{})
	var ee *hostexec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("want *hostexec.ExitError, got %T %v", err, err)
	}
	if ee.Code != 3 || res.ExitCode != 3 || ee.Cmd != cmd.String() || ee.Stderr != "no such image\n" {
		t.Errorf("exit error %+v, result %+v", ee, res)
	}
	if res.Stdout != "partial\n" {
		t.Errorf("stdout %q", res.Stdout)
	}
	if !strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "no such image") {
		t.Errorf("message %q", err)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	_, err := c.Run(context.Background(), hostexec.Raw("kill -TERM $$"), hostexec.RunOptions{})
	var ee *hostexec.ExitError
	if !errors.As(err, &ee) || ee.Signal != "TERM" || ee.Code != 128+15 {
		t.Fatalf("want hostexec.ExitError for SIGTERM, got %#v", err)
	}
}

func TestRunDeliversStdin(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	res, err := c.Run(context.Background(), hostexec.Command("cat"), hostexec.RunOptions{Stdin: strings.NewReader("secret-password\nline two")})
	if err != nil || res.Stdout != "secret-password\nline two" {
		t.Fatalf("cat: %q, %v", res.Stdout, err)
	}
	// Large input arrives whole and the command sees its end.
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	sum := sha256.Sum256(big)
	res, err = c.Run(context.Background(), hostexec.Command("sha256sum"), hostexec.RunOptions{Stdin: bytes.NewReader(big)})
	if err != nil || !strings.HasPrefix(res.Stdout, hex.EncodeToString(sum[:])) {
		t.Fatalf("sha256sum of 4 MiB: %q, %v", res.Stdout, err)
	}
	// No Stdin: the command reads EOF instead of hanging.
	res, err = c.Run(context.Background(), hostexec.Command("wc", "-c"), hostexec.RunOptions{})
	if err != nil || strings.TrimSpace(res.Stdout) != "0" {
		t.Fatalf("wc -c with no stdin: %q, %v", res.Stdout, err)
	}
}

func TestRunCapturesTailOfLargeOutput(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	lines := 0
	res, err := c.Run(context.Background(),
		hostexec.Command("sh", "-c", "seq 1 400000; echo END"),
		hostexec.RunOptions{OnStdout: func(string) { lines++ }})
	if err != nil {
		t.Fatal(err)
	}
	if lines != 400001 {
		t.Errorf("streamed %d lines, want 400001", lines)
	}
	if len(res.Stdout) > hostexec.MaxCapture || !strings.HasSuffix(res.Stdout, "400000\nEND\n") {
		t.Errorf("captured %d bytes ending %q", len(res.Stdout), res.Stdout[max(0, len(res.Stdout)-20):])
	}
}

func TestRunCancelStopsRemoteCommand(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	// A unique duration lets pgrep find exactly this test's process.
	marker := fmt.Sprintf("30.%d", time.Now().UnixNano()%1000000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := c.Run(ctx, hostexec.Command("sh", "-c", `echo started; exec sleep "$1"`, "sh", marker), hostexec.RunOptions{
		OnStdout: func(l string) {
			if l == "started" {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if res.Stdout != "started\n" || res.ExitCode != -1 {
		t.Errorf("result %+v", res)
	}
	// The remote sleep got SIGTERM rather than running on: poll until it is
	// gone (signal delivery is asynchronous).
	var last string
	for range 100 {
		r, err := c.Run(context.Background(), hostexec.Command("pgrep", "-f", "sleep "+marker), hostexec.RunOptions{})
		var ee *hostexec.ExitError
		if errors.As(err, &ee) && ee.Code == 1 {
			return
		}
		last = r.Stdout
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("remote sleep %s still running after cancel (pids %q)", marker, last)
}

func TestRunWithDoneContext(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Run(ctx, hostexec.Command("true"), hostexec.RunOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestHostileValuesArriveIntactRemotely(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	// Concurrent Runs keep this quick; Client limits the sessions in flight.
	var wg sync.WaitGroup
	for _, v := range testbed.HostileValues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(context.Background(), hostexec.Command("printf", "%s", v), hostexec.RunOptions{})
			if err != nil || res.Stdout != v {
				t.Errorf("printf %q: got %q, %v", v, res.Stdout, err)
			}
			res, err = c.Run(context.Background(), hostexec.And(hostexec.Command("true"), hostexec.Command("sh", "-c", `printf %s "$V"`).Env("V", v)), hostexec.RunOptions{})
			if err != nil || res.Stdout != v {
				t.Errorf("env %q: got %q, %v", v, res.Stdout, err)
			}
		}()
	}
	wg.Wait()
}

// countingDialer counts TCP connections opened through it.
type countingDialer struct{ n atomic.Int32 }

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func TestRunsShareOneConnection(t *testing.T) {
	var d countingDialer
	cfg := peerConfig(testbed.SSH(t))
	cfg.DialContext = d.DialContext
	c := dialPeer(t, cfg)
	// SSH_CONNECTION names the client's source port: one value, one TCP connection.
	conns := map[string]bool{}
	for i := range 20 {
		res, err := c.Run(context.Background(), hostexec.Command("sh", "-c", `printf %s "$SSH_CONNECTION"`), hostexec.RunOptions{})
		if err != nil || res.Stdout == "" {
			t.Fatalf("run %d: %q, %v", i, res.Stdout, err)
		}
		conns[res.Stdout] = true
	}
	if len(conns) != 1 || d.n.Load() != 1 {
		t.Errorf("20 runs used %d connections (%d dials), want 1", len(conns), d.n.Load())
	}
}

func TestConcurrentRuns(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	const n = 3 * maxSessions // more than one connection's session limit
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("run-%d", i)
			var streamed []string
			res, err := c.Run(context.Background(), hostexec.Command("sh", "-c", `sleep 0.2; echo "$1"`, "sh", want),
				hostexec.RunOptions{OnStdout: func(l string) { streamed = append(streamed, l) }})
			if err != nil || res.Stdout != want+"\n" || len(streamed) != 1 || streamed[0] != want {
				errs <- fmt.Errorf("%s: %q %q %v", want, res.Stdout, streamed, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRunAfterClose(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), hostexec.Command("true"), hostexec.RunOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("want ErrClosed, got %v", err)
	}
}

func TestCommandErrorIsNotSent(t *testing.T) {
	c := dialPeer(t, peerConfig(testbed.SSH(t)))
	if _, err := c.Run(context.Background(), hostexec.Command("x").Env("BAD NAME", "v"), hostexec.RunOptions{}); err == nil {
		t.Fatal("a command with an error ran")
	}
}

func TestHostKeyChanged(t *testing.T) {
	p := testbed.SSH(t)
	real := peerHostKey(t, p)
	other := mustSigner(t, newKeyPEM(t, "")).PublicKey()
	file := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(p.Addr)}, other)
	if err := os.WriteFile(file, []byte("# comment\n"+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := peerConfig(p)
	cfg.KnownHosts = file
	_, err := Dial(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) {
		t.Fatalf("want *HostKeyError, got %v", err)
	}
	if hke.Kind != HostKeyChanged || hke.Fingerprint != ssh.FingerprintSHA256(real) || hke.Line != 2 || hke.KnownHosts != file {
		t.Errorf("got %+v, want changed with %s at line 2", hke, ssh.FingerprintSHA256(real))
	}
	fix := fmt.Sprintf("ssh-keygen -R '[%s]:%d' -f %s", p.Host, p.Port, file)
	if !strings.Contains(err.Error(), fix) || !strings.Contains(err.Error(), hke.Fingerprint) || !strings.Contains(err.Error(), hke.TrustCommand()) {
		t.Errorf("message lacks fingerprint or %q:\n%v", fix, err)
	}
	followAdvice(t, cfg, hke, hke.ForgetCommand(), hke.TrustCommand())
}

// known_hosts listing only a key type the server lacks still yields a
// changed-key error naming the key the server has.
func TestHostKeyChangedToOtherType(t *testing.T) {
	p := testbed.SSH(t)
	real := peerHostKey(t, p)
	file := filepath.Join(t.TempDir(), "known_hosts")
	// A key of the type the server does have, for another host, and a key
	// of an unusual type for this host.
	var fake ssh.PublicKey
	if real.Type() == ssh.KeyAlgoED25519 {
		fake = mustECDSAKey(t)
	} else {
		fake = mustSigner(t, newKeyPEM(t, "")).PublicKey()
	}
	content := knownhosts.Line([]string{knownhosts.Normalize(p.Addr)}, fake) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := peerConfig(p)
	cfg.KnownHosts = file
	_, err := Dial(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyChanged || !strings.HasPrefix(hke.Fingerprint, "SHA256:") || hke.KeyType == fake.Type() {
		t.Fatalf("want changed-key error naming the server's key, got %v", err)
	}
}

func TestHostKeyUnknown(t *testing.T) {
	p := testbed.SSH(t)
	real := peerHostKey(t, p)
	file := filepath.Join(t.TempDir(), "known_hosts")
	// The right key, but for another port: it must not vouch for this one.
	// (A port-less line would: OpenSSH falls back to it on other ports.)
	line := knownhosts.Line([]string{fmt.Sprintf("[%s]:%d", p.Host, p.Port+1)}, real)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := peerConfig(p)
	cfg.KnownHosts = file
	_, err := Dial(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || hke.FileMissing || hke.Host != knownhosts.Normalize(p.Addr) {
		t.Fatalf("want unknown-host error, got %v", err)
	}
	want := fmt.Sprintf("then run: ssh-keyscan -p %d -t %s %s >> %s", p.Port, keyscanType(hke.KeyType), p.Host, file)
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), hke.Fingerprint) {
		t.Errorf("message lacks fingerprint or %q:\n%v", want, err)
	}
	followAdvice(t, cfg, hke, hke.TrustCommand())
}

func TestKnownHostsMissing(t *testing.T) {
	p := testbed.SSH(t)
	cfg := peerConfig(p)
	cfg.KnownHosts = filepath.Join(t.TempDir(), "no_known_hosts")
	_, err := Dial(context.Background(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || !hke.FileMissing || !strings.Contains(err.Error(), cfg.KnownHosts+" does not exist") {
		t.Fatalf("want unknown-host error naming the missing file, got %v", err)
	}
	followAdvice(t, cfg, hke, hke.TrustCommand())
}

// followAdvice runs the fix a HostKeyError suggests and checks that it
// fetched the very key the error reported and that Dial then succeeds.
func followAdvice(t *testing.T, cfg Config, hke *HostKeyError, commands ...string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keyscan"); err != nil {
		t.Skip("ssh-keyscan not on PATH; cannot follow the advice")
	}
	for _, c := range commands {
		if out, err := exec.Command("sh", "-c", c).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c, err, out)
		}
	}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial after %q: %v", commands, err)
	}
	defer c.Close()
	if c.HostKeyFingerprint() != hke.Fingerprint {
		t.Errorf("the advice trusted key %s, the error reported %s", c.HostKeyFingerprint(), hke.Fingerprint)
	}
}

func TestInsecureIgnoreHostKeyWarns(t *testing.T) {
	p := testbed.SSH(t)
	var warnings []string
	cfg := peerConfig(p)
	cfg.KnownHosts = filepath.Join(t.TempDir(), "no_known_hosts")
	cfg.InsecureIgnoreHostKey = true
	cfg.Warn = func(s string) { warnings = append(warnings, s) }
	c := dialPeer(t, cfg)
	if _, err := c.Run(context.Background(), hostexec.Command("true"), hostexec.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "DISABLED") || !strings.Contains(warnings[0], c.HostKeyFingerprint()) {
		t.Errorf("warnings %q", warnings)
	}
}

func TestUnauthorizedKey(t *testing.T) {
	cfg := peerConfig(testbed.SSH(t))
	cfg.KeyFile = ""
	cfg.KeyPEM = newKeyPEM(t, "")
	_, err := Dial(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("want authentication failure, got %v", err)
	}
	assertNoKeyMaterial(t, err.Error(), cfg.KeyPEM)
}

func TestKeyPEMAuthenticates(t *testing.T) {
	cfg := peerConfig(testbed.SSH(t))
	pem, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KeyFile, cfg.KeyPEM = "", pem
	c := dialPeer(t, cfg)
	if res, err := c.Run(context.Background(), hostexec.Command("echo", "ok"), hostexec.RunOptions{}); err != nil || res.Stdout != "ok\n" {
		t.Fatalf("%q, %v", res.Stdout, err)
	}
}

// A server that accepts TCP but never speaks SSH must not hang Dial.
func TestDialHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, Config{Host: "127.0.0.1", Port: addr.Port, User: "u", KeyPEM: newKeyPEM(t, ""), KnownHosts: os.DevNull})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
}

func mustECDSAKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
