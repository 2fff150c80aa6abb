package testbed

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bastion names of the test bed (scripts/testbed/ssh.sh tb_bastion_spawn).
const (
	EnvBastion           = "GANTRY_TEST_BASTION"
	EnvBehindBastion     = "GANTRY_TEST_BEHIND_BASTION"
	EnvBastionKnownHosts = "GANTRY_TEST_BASTION_KNOWN_HOSTS"
)

// BastionPeer is the bed's jump host and the dev host behind it, which lets
// root in only from the bastion's address (the bastion runs in a network
// namespace of its own, across a veth pair).
type BastionPeer struct {
	SSHPeer           // the bastion itself (Host, Port, User, KeyFile)
	Behind     string // host:port of the inner host as the bastion sees it
	BehindHost string
	BehindPort int
	// KnownHosts (of SSHPeer) holds both the bastion's and the inner host's keys.
}

// Bastion returns the bastion peer; every field is set.
func Bastion(t testing.TB) BastionPeer {
	t.Helper()
	ssh := SSH(t)
	b := BastionPeer{SSHPeer: SSHPeer{
		Addr:       lookup(t, EnvBastion),
		User:       ssh.User,
		KeyFile:    ssh.KeyFile,
		KnownHosts: lookup(t, EnvBastionKnownHosts),
	}, Behind: lookup(t, EnvBehindBastion)}
	var err error
	var port string
	if b.Host, port, err = net.SplitHostPort(b.Addr); err != nil {
		t.Fatalf("%s=%q: %v", EnvBastion, b.Addr, err)
	}
	b.Port, _ = strconv.Atoi(port)
	if b.BehindHost, port, err = net.SplitHostPort(b.Behind); err != nil {
		t.Fatalf("%s=%q: %v", EnvBehindBastion, b.Behind, err)
	}
	b.BehindPort, _ = strconv.Atoi(port)
	return b
}

// SSHDOptions configure an extra sshd started by a test.
type SSHDOptions struct {
	HostKey         string // private host key file (absolute)
	HostCertificate string // optional host certificate (…-cert.pub)
	Extra           string // more sshd_config lines
}

// SSHD starts an extra OpenSSH sshd on 127.0.0.1 for one test (host
// certificates, odd host keys), accepting the bed's client key for root. It
// returns the port; the server stops when the test ends.
func SSHD(t testing.TB, o SSHDOptions) int {
	t.Helper()
	peer := SSH(t)
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		if Required() {
			t.Fatalf("sshd not found although %s=1", EnvRequired)
		}
		t.Skip("sshd not installed")
	}
	dir := t.TempDir()
	pub, err := os.ReadFile(peer.KeyFile + ".pub")
	if err != nil {
		t.Fatalf("client public key: %v", err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll("/run/sshd", 0o755)
	for try := 0; try < 3; try++ {
		port := FreePort(t)
		var b strings.Builder
		fmt.Fprintf(&b, "ListenAddress 127.0.0.1\nPort %d\nHostKey %s\n", port, o.HostKey)
		if o.HostCertificate != "" {
			fmt.Fprintf(&b, "HostCertificate %s\n", o.HostCertificate)
		}
		fmt.Fprintf(&b, "PidFile %s\nAuthorizedKeysFile %s\nStrictModes no\nPermitRootLogin prohibit-password\n"+
			"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nUseDNS no\nLogLevel VERBOSE\n%s\n",
			filepath.Join(dir, "sshd.pid"), auth, o.Extra)
		conf := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
			logf.Close()
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-done:
				log, _ := os.ReadFile(logf.Name())
				if strings.Contains(string(log), "in use") {
					deadline = time.Time{}
					continue
				}
				t.Fatalf("sshd exited: %s", log)
			default:
			}
			if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
				c.Close()
				return port
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Fatal("sshd did not start")
	return 0
}
