package app_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// bastionSSHConfig writes an ssh_config the way an EC2 team has one: the dev
// host is an alias reached through a bastion alias, with its own key and
// known_hosts; hop is the ProxyJump or ProxyCommand line of the dev host.
func bastionSSHConfig(t *testing.T, hop string) string {
	t.Helper()
	b := testbed.Bastion(t)
	conf := fmt.Sprintf(`# written by %s
Host devbox
  HostName %s
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  ServerAliveInterval 2
  %s

Host bastion
  HostName %s
  Port %d
  User %s
  IdentityFile %s
  UserKnownHostsFile %s
`, t.Name(), b.BehindHost, b.BehindPort, b.User, b.KeyFile, b.KnownHosts, hop, b.Host, b.Port, b.User, b.KeyFile, b.KnownHosts)
	f := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// devThroughBastionToml leaves port, user, key and known_hosts to ssh_config.
func devThroughBastionToml(registry, sshConfig, container string, appPort int) string {
	return fmt.Sprintf(`app = "book-shop"

%s

[build]
prepare = "cd server && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o ../dist/book-shop ."

[dev]
target = "ssh"
host = "devbox"
ssh_config = %q
container = %q
ports = "%d:8000"
health_path = "/healthz"
health_timeout = "15s"
lock_timeout = "3s"
`, registry, sshConfig, container, appPort)
}

func bastionEnv(t *testing.T) {
	t.Helper()
	t.Setenv("DOCKER_HOST", testbed.Docker(t))
	t.Setenv("GANTRY_SSH_KEY", "") // the key comes from ssh_config's IdentityFile
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("GANTRY_WHO", "e2e-tester")
	t.Setenv("GITHUB_ACTOR", "")
}

// TestDevThroughBastion deploys with gantry dev --ci to a host only the
// bastion can reach, everything about the route coming from ssh_config.
func TestDevThroughBastion(t *testing.T) {
	bastionEnv(t)
	b := testbed.Bastion(t)
	sshConfig := bastionSSHConfig(t, "ProxyJump bastion")
	container := "dev-bastion-" + testbed.Suffix()
	removeContainers(t, container)
	appPort := testbed.FreePort(t)
	app := newAppRepo(t)
	app.write("gantry.toml", devThroughBastionToml(ociSection(t, "bookshop-bastion-"+testbed.Suffix()), sshConfig, container, appPort))
	sha := app.commit("through the bastion")

	r := gantry(t, app.Dir, "doctor")
	want := fmt.Sprintf("✓ dev host devbox → %s as %s via %s@%s (from %s)", b.Behind, b.User, b.User, b.Addr, sshConfig)
	if !strings.Contains(r.Out, want) {
		t.Errorf("doctor lacks %q:\n%s", want, r.Out)
	}

	r = gantry(t, app.Dir, "dev", "--ci")
	wantCode(t, r, 0, "deploy through the bastion")
	wantServing(t, appPort, sha)
	// The URL names the HostName behind the alias, not the alias.
	if want := fmt.Sprintf("url: http://%s:%d", b.BehindHost, appPort); !strings.Contains(r.Out, want) {
		t.Errorf("output lacks %q", want)
	}

	// gantry.toml wins over ssh_config for what the user set there: a wrong
	// port in gantry.toml makes the run fail at the host, not the bastion.
	app.write("gantry.toml", devThroughBastionToml(ociSection(t, "bookshop-bastion-"+testbed.Suffix()), sshConfig, container, appPort)+"port = 1\n")
	app.commit("wrong port")
	r = gantry(t, app.Dir, "doctor")
	if want := fmt.Sprintf("dev host devbox → %s:1 as", b.BehindHost); !strings.Contains(r.Out, want) {
		t.Errorf("doctor lacks %q (gantry.toml's port must win):\n%s", want, r.Out)
	}
}

// TestDoctorThroughProxyCommand reaches the host behind the bastion with a
// ProxyCommand running the real OpenSSH client (ssh -W %h:%p bastion).
func TestDoctorThroughProxyCommand(t *testing.T) {
	bastionEnv(t)
	b := testbed.Bastion(t)
	proxy := fmt.Sprintf("ProxyCommand ssh -F /dev/null -i %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -p %d -W %%h:%%p %s@%s",
		b.KeyFile, b.KnownHosts, b.Port, b.User, b.Host)
	sshConfig := bastionSSHConfig(t, proxy)
	app := newAppRepo(t)
	app.write("gantry.toml", devThroughBastionToml(ociSection(t, "bookshop-proxycmd-"+testbed.Suffix()), sshConfig, "dev-proxycmd", 8080))
	app.commit("proxy command")
	r := gantry(t, app.Dir, "doctor")
	if want := fmt.Sprintf("✓ dev host devbox → %s as %s through proxy command", b.Behind, b.User); !strings.Contains(r.Out, want) {
		t.Errorf("doctor lacks %q:\n%s", want, r.Out)
	}
}

// TestDevSSHConfigErrorNamesTheField: a broken ssh_config is bad input that
// names the field and the way out.
func TestDevSSHConfigErrorNamesTheField(t *testing.T) {
	bastionEnv(t)
	f := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(f, []byte("Host devbox\n  Port notaport\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := newAppRepo(t)
	app.write("gantry.toml", devThroughBastionToml(ociSection(t, "bookshop-badcfg-"+testbed.Suffix()), f, "dev-badcfg", 8080))
	app.commit("bad ssh_config")
	r := gantry(t, app.Dir, "doctor")
	for _, want := range []string{"dev.ssh_config", "Port", "notaport", `ssh_config = "false"`} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, r.Out)
		}
	}
}

// TestDoctorEncryptedKeyPassphraseFromEnv: an encrypted IdentityFile opens with
// GANTRY_SSH_KEY_PASSPHRASE, which never shows; without it the error says how.
func TestDoctorEncryptedKeyPassphraseFromEnv(t *testing.T) {
	bastionEnv(t)
	b := testbed.Bastion(t)
	raw, err := os.ReadFile(b.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(t.TempDir(), "dev_enc")
	if err := os.WriteFile(enc, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	const pass = "planted-passphrase-4711"
	if out, err := exec.Command("ssh-keygen", "-q", "-p", "-N", pass, "-P", "", "-f", enc).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	conf := bastionSSHConfig(t, "ProxyJump bastion")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(string(data), "IdentityFile "+b.KeyFile, "IdentityFile "+enc)), 0o600); err != nil {
		t.Fatal(err)
	}
	app := newAppRepo(t)
	app.write("gantry.toml", devThroughBastionToml(ociSection(t, "bookshop-enc-"+testbed.Suffix()), conf, "dev-enc", 8080))
	app.commit("encrypted key")

	r := gantry(t, app.Dir, "doctor")
	if want := "GANTRY_SSH_KEY_PASSPHRASE"; !strings.Contains(r.Out, "✗ dev host devbox") || !strings.Contains(r.Out, want) {
		t.Errorf("without a passphrase doctor does not fail naming %s:\n%s", want, r.Out)
	}
	t.Setenv("GANTRY_SSH_KEY_PASSPHRASE", pass)
	r = gantry(t, app.Dir, "doctor")
	if !strings.Contains(r.Out, "✓ dev host devbox") {
		t.Errorf("with GANTRY_SSH_KEY_PASSPHRASE the dev host check fails:\n%s", r.Out)
	}
	noSecrets(t, r.Out, pass)
}

// TestPromoteThroughBastion rolls a release out on a prod host only the
// bastion can reach, the hop set with prod.proxy_jump in gantry.toml (no
// ssh_config at all).
func TestPromoteThroughBastion(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	b := testbed.Bastion(t)
	peer := testbed.SSH(t)
	data, err := os.ReadFile(filepath.Join(p.Dir, "gantry.toml"))
	if err != nil {
		t.Fatal(err)
	}
	direct := fmt.Sprintf("host = %q\nport = %d\nuser = %q\nknown_hosts = %q\n", peer.Host, peer.Port, peer.User, peer.KnownHosts)
	hop := fmt.Sprintf("host = %q\nport = %d\nuser = %q\nknown_hosts = %q\nproxy_jump = %q\nssh_config = \"false\"\n",
		b.BehindHost, b.BehindPort, b.User, b.KnownHosts, b.User+"@"+b.Addr)
	if !strings.Contains(string(data), direct) {
		t.Fatalf("gantry.toml has no direct [prod] block to replace:\n%s", data)
	}
	p.write("gantry.toml", strings.Replace(string(data), direct, hop, 1))
	p.commit("prod behind the bastion")
	p.publish()

	p.git("checkout", "-q", "-b", "main")
	head := p.git("rev-parse", "HEAD")
	_, digest := p.pushSnapshot("", "1.4.2", head)
	r := gantry(t, p.Dir, "doctor")
	if want := fmt.Sprintf("✓ SSH to prod %s as %s via %s@%s with a known host key", b.Behind, b.User, b.User, b.Addr); !strings.Contains(r.Out, want) {
		t.Errorf("doctor lacks %q:\n%s", want, r.Out)
	}
	r = gantry(t, p.Dir, "promote", "--ci")
	wantCode(t, r, 0, "promote through the bastion")
	image := testbed.Registry(t) + "/" + p.repoName + ":v1.4.2@" + digest
	if d := p.deployment(); d.Images["django-container"] != image || d.Ready != 2 {
		t.Fatalf("deployment after promoting through the bastion: %+v", d)
	}
	noSecrets(t, r.Out, p.gh.Token, p.sshKey)
}
