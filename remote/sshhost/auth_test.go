package sshhost

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func newKeyPEM(t testing.TB, passphrase string) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// assertNoKeyMaterial fails if msg holds any run of the key's encoded body.
func assertNoKeyMaterial(t *testing.T, msg string, keyPEM []byte, secrets ...string) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if strings.HasPrefix(line, "-----") {
			continue
		}
		for i := 0; i+12 <= len(line); i += 6 {
			if strings.Contains(msg, line[i:i+12]) {
				t.Fatalf("error contains key material %q: %s", line[i:i+12], msg)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Fatalf("error contains secret %q: %s", s, msg)
		}
	}
}

// dialNowhere dials a port nothing listens on: key errors come before any
// connection is attempted.
func dialNowhere(cfg Config) error {
	cfg.Host, cfg.Port, cfg.User = "127.0.0.1", 1, "deploy"
	cfg.KnownHosts = os.DevNull
	_, err := Dial(context.Background(), cfg)
	return err
}

func TestKeyFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	err := dialNowhere(Config{KeyName: "dev.key", KeyFile: path})
	var ke *KeyError
	if !errors.As(err, &ke) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want *KeyError wrapping fs.ErrNotExist, got %T %v", err, err)
	}
	for _, want := range []string{"dev.key: " + path + ": no such file or directory", "set dev.key", KeyEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestKeyFileUnreadableNamesDefaultSetting(t *testing.T) {
	dir := t.TempDir() // a directory is not a key file
	err := dialNowhere(Config{KeyFile: dir})
	if err == nil || !strings.Contains(err.Error(), "ssh key file: "+dir) {
		t.Fatalf("error %v does not name the setting and path", err)
	}
}

func TestBadKeyNeverEchoesKey(t *testing.T) {
	good := newKeyPEM(t, "")
	lines := strings.Split(string(good), "\n")
	// Corrupt the private part so parsing fails after base64 decoding.
	for i := 2; i < len(lines) && !strings.HasPrefix(lines[i], "-----"); i++ {
		lines[i] = strings.Repeat("A", len(lines[i]))
	}
	corrupt := []byte(strings.Join(lines, "\n"))
	cases := map[string][]byte{
		"corrupt":   corrupt,
		"truncated": good[:len(good)/2],
		"garbage":   []byte("this is not a key at all, but it is secret-ish 0123456789abcdef"),
		"public":    ssh.MarshalAuthorizedKey(mustSigner(t, good).PublicKey()),
	}
	for name, keyText := range cases {
		for _, cfg := range []Config{
			{KeyPEM: keyText},
			{KeyFile: writeFile(t, keyText), KeyName: "dev.key"},
		} {
			err := dialNowhere(cfg)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("%s: want *KeyError, got %v", name, err)
			}
			assertNoKeyMaterial(t, err.Error(), keyText, "secret-ish")
			if cfg.KeyPEM != nil && !strings.Contains(err.Error(), KeyEnv+": ") {
				t.Errorf("%s: error %q does not name %s", name, err, KeyEnv)
			}
		}
	}
}

func TestEncryptedKey(t *testing.T) {
	const pass = "correct horse battery"
	keyText := newKeyPEM(t, pass)

	err := dialNowhere(Config{KeyPEM: keyText})
	if err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("no passphrase: %v", err)
	}
	err = dialNowhere(Config{KeyPEM: keyText, Passphrase: []byte("wrong guess")})
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("wrong passphrase: %v", err)
	} else {
		assertNoKeyMaterial(t, err.Error(), keyText, "wrong guess")
	}
	// The right passphrase gets past key loading to the (refused) connection.
	err = dialNowhere(Config{KeyPEM: keyText, Passphrase: []byte(pass)})
	var ke *KeyError
	if errors.As(err, &ke) || err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("right passphrase: want a connect error, got %v", err)
	}
}

func TestKeyPEMWinsOverKeyFile(t *testing.T) {
	err := dialNowhere(Config{KeyPEM: newKeyPEM(t, ""), KeyFile: "/nonexistent/key"})
	var ke *KeyError
	if errors.As(err, &ke) {
		t.Fatalf("KeyFile was read although KeyPEM was set: %v", err)
	}
}

func TestNoCredentials(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	err := dialNowhere(Config{KeyName: "dev.key", UseAgent: true})
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("want ErrNoKey, got %v", err)
	}
	for _, want := range []string{"dev.key", KeyEnv, "SSH_AUTH_SOCK"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestAgentUnreachableWithoutKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", filepath.Join(t.TempDir(), "agent.sock"))
	err := dialNowhere(Config{UseAgent: true})
	if err == nil || !strings.Contains(err.Error(), "ssh-agent") {
		t.Fatalf("want an ssh-agent error, got %v", err)
	}
}

func mustSigner(t *testing.T, keyPEM []byte) ssh.Signer {
	t.Helper()
	s, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
