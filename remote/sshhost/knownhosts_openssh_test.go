package sshhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// keygen runs ssh-keygen in dir.
func keygen(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

func pubLine(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[0] + " " + f[1]
}

// opensshVerdict connects with the real OpenSSH client in batch mode with
// strict host key checking and classifies the outcome like HostKeyErrorKind.
func opensshVerdict(t *testing.T, p testbed.SSHPeer, port int, knownHosts string) (string, string) {
	t.Helper()
	cmd := exec.Command("ssh", "-n", "-F", "/dev/null", "-i", p.KeyFile, "-p", strconv.Itoa(port),
		"-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
		p.User+"@127.0.0.1", "true")
	out, err := cmd.CombinedOutput()
	s := string(out)
	switch {
	case err == nil:
		return "ok", s
	case strings.Contains(s, "REVOKED"):
		return "revoked", s
	case strings.Contains(s, "HAS CHANGED"):
		return "changed", s
	case strings.Contains(s, "host key is known for"):
		return "unknown", s
	}
	t.Fatalf("ssh failed for another reason: %v\n%s", err, s)
	return "", ""
}

func gantryVerdict(p testbed.SSHPeer, port int, knownHosts string) (string, error) {
	cfg := Config{Host: "127.0.0.1", Port: port, User: p.User, KeyFile: p.KeyFile, KnownHosts: knownHosts, KeepAlive: -1}
	c, err := Dial(context.Background(), cfg)
	if err == nil {
		c.Close()
		return "ok", nil
	}
	var hke *HostKeyError
	if !errors.As(err, &hke) {
		return "error", err
	}
	return hke.Kind.String(), err
}

// TestKnownHostsVerdictsMatchOpenSSH runs each known_hosts case through the
// real OpenSSH client and through gantry against real sshds (a plain host
// key, a host certificate for 127.0.0.1, and one for another name) and wants
// the same verdict from both.
func TestKnownHostsVerdictsMatchOpenSSH(t *testing.T) {
	p := testbed.SSH(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH client not installed")
	}
	dir := t.TempDir()
	for _, k := range []string{"ca", "ca2", "hk", "hkw", "other"} {
		keygen(t, dir, "-q", "-t", "ed25519", "-N", "", "-f", k)
	}
	keygen(t, dir, "-q", "-s", "ca", "-I", "gantry-test", "-h", "-n", "127.0.0.1", "hk.pub")
	keygen(t, dir, "-q", "-s", "ca", "-I", "gantry-test", "-h", "-n", "wronghost.example", "hkw.pub")
	plain := testbed.SSHD(t, testbed.SSHDOptions{HostKey: filepath.Join(dir, "hk")})
	cert := testbed.SSHD(t, testbed.SSHDOptions{HostKey: filepath.Join(dir, "hk"), HostCertificate: filepath.Join(dir, "hk-cert.pub")})
	wrong := testbed.SSHD(t, testbed.SSHDOptions{HostKey: filepath.Join(dir, "hkw"), HostCertificate: filepath.Join(dir, "hkw-cert.pub")})
	ca, ca2 := pubLine(t, filepath.Join(dir, "ca.pub")), pubLine(t, filepath.Join(dir, "ca2.pub"))
	hk, hkw, other := pubLine(t, filepath.Join(dir, "hk.pub")), pubLine(t, filepath.Join(dir, "hkw.pub")), pubLine(t, filepath.Join(dir, "other.pub"))

	type tc struct {
		name  string
		port  int
		lines string // %d is the port
		want  string // the verdict both must reach
		msg   string // what gantry's error must say
	}
	cases := []tc{
		{"plain [host]:port", plain, "[127.0.0.1]:%d " + hk, "ok", ""},
		{"plain host without port, non-22 port", plain, "127.0.0.1 " + hk, "ok", ""},
		{"plain wildcard *", plain, "* " + hk, "ok", ""},
		{"plain wildcard 127.0.0.*", plain, "127.0.0.* " + hk, "ok", ""},
		{"plain hashed [host]:port", plain, "HASHED [127.0.0.1]:%d " + hk, "ok", ""},
		{"plain negated with port only: the port-less lookup still matches *", plain, "*,![127.0.0.1]:%d " + hk, "ok", ""},
		{"plain negated both ways", plain, "*,![127.0.0.1]:%d,!127.0.0.1 " + hk, "unknown", ""},
		{"another port only", plain, "[127.0.0.1]:1 " + hk, "unknown", "ssh-keyscan"},
		{"changed key", plain, "[127.0.0.1]:%d " + other, "changed", "HOST KEY CHANGED"},
		{"changed key without port counts as unknown", plain, "127.0.0.1 " + other, "unknown", ""},
		{"revoked", plain, "@revoked * " + hk + "\n[127.0.0.1]:%d " + hk, "revoked", "REVOKED"},
		{"cert, CA *", cert, "@cert-authority * " + ca, "ok", ""},
		{"cert, CA 127.0.0.*", cert, "@cert-authority 127.0.0.* " + ca, "ok", ""},
		{"cert, CA [127.0.0.1]:port", cert, "@cert-authority [127.0.0.1]:%d " + ca, "ok", ""},
		{"cert, CA for another domain plus plain key", cert, "@cert-authority *.example.com " + ca + "\n[127.0.0.1]:%d " + hk, "ok", ""},
		{"cert, CA for another domain plus plain key without port", cert, "@cert-authority *.example.com " + ca + "\n127.0.0.1 " + hk, "ok", ""},
		{"cert, other CA plus plain key", cert, "@cert-authority * " + ca2 + "\n[127.0.0.1]:%d " + hk, "ok", ""},
		{"cert, other CA only", cert, "@cert-authority * " + ca2, "unknown", "no @cert-authority line"},
		{"cert, revoked CA", cert, "@cert-authority * " + ca + "\n@revoked * " + ca, "revoked", "REVOKED"},
		{"cert, revoked plain key", cert, "@cert-authority * " + ca + "\n@revoked * " + hk, "revoked", "REVOKED"},
		{"cert, wrong principal", wrong, "@cert-authority * " + ca, "unknown", "wrong principal"},
		{"cert, wrong principal plus plain key", wrong, "@cert-authority * " + ca + "\n[127.0.0.1]:%d " + hkw, "ok", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := c.lines
			if strings.Contains(lines, "%d") {
				lines = fmt.Sprintf(lines, c.port)
			}
			kh := filepath.Join(dir, fmt.Sprintf("known_hosts_%d", i))
			hashed := strings.HasPrefix(lines, "HASHED ")
			if hashed {
				lines = strings.TrimPrefix(lines, "HASHED ")
			}
			if err := os.WriteFile(kh, []byte(lines+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if hashed {
				keygen(t, dir, "-q", "-H", "-f", kh)
			}
			ossh, out := opensshVerdict(t, p, c.port, kh)
			got, err := gantryVerdict(p, c.port, kh)
			if ossh != c.want {
				t.Errorf("OpenSSH says %s, the case expects %s:\n%s", ossh, c.want, out)
			}
			if got != ossh {
				t.Errorf("gantry says %s (%v), OpenSSH says %s:\n%s", got, err, ossh, out)
			}
			if c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)) {
				t.Errorf("gantry's error lacks %q: %v", c.msg, err)
			}
		})
	}
}
