package sshhost

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyErrorText(t *testing.T) {
	fp := "SHA256:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
	tests := []struct {
		err  HostKeyError
		want []string
	}{
		{HostKeyError{Kind: HostKeyUnknown, Host: "[203.0.113.7]:2222", Fingerprint: fp, KeyType: "ssh-ed25519", KnownHosts: "/home/u/.ssh/known_hosts"},
			[]string{"unknown", fp, "ssh-ed25519", "has no entry", "verify the fingerprint with the host's owner",
				"ssh-keyscan -p 2222 -t ed25519 203.0.113.7 >> /home/u/.ssh/known_hosts"}},
		{HostKeyError{Kind: HostKeyUnknown, Host: "ec2.example.com", Fingerprint: fp, KeyType: "ecdsa-sha2-nistp256", KnownHosts: "/k h", FileMissing: true},
			[]string{"known_hosts file /k h does not exist", fp, "ssh-keyscan -t ecdsa ec2.example.com >> '/k h'"}},
		{HostKeyError{Kind: HostKeyChanged, Host: "[127.0.0.1]:2222", Fingerprint: fp, KeyType: "ssh-rsa", KnownHosts: "/kh", Line: 3},
			[]string{"HOST KEY CHANGED", fp, "/kh line 3", "may mean an attack", "rebuilt",
				"ssh-keygen -R '[127.0.0.1]:2222' -f /kh", "ssh-keyscan -p 2222 -t rsa 127.0.0.1 >> /kh"}},
		{HostKeyError{Kind: HostKeyChanged, Host: "host", Fingerprint: fp, KeyType: "ssh-ed25519", KnownHosts: "/kh"},
			[]string{"ssh-keygen -R host -f /kh", "ssh-keyscan -t ed25519 host >> /kh"}},
		{HostKeyError{Kind: HostKeyRevoked, Host: "host", Fingerprint: fp, KeyType: "ssh-ed25519", KnownHosts: "/kh", Line: 1},
			[]string{"REVOKED", fp, "/kh line 1"}},
	}
	for _, tt := range tests {
		msg := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v error lacks %q:\n%s", tt.err.Kind, w, msg)
			}
		}
	}
}

func TestKnownAlgorithmsFollowKnownHosts(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	ecPub, _ := ssh.NewPublicKey(&ecKey.PublicKey)
	file := filepath.Join(t.TempDir(), "known_hosts")
	content := knownhosts.Line([]string{"[10.0.0.1]:2222"}, ecPub) + "\n" +
		knownhosts.Line([]string{"10.0.0.1"}, probeKeyOther(t)) + "\n" +
		knownhosts.Line([]string{knownhosts.HashHostname("[10.0.0.1]:2222")}, rsaPub) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := newHostKeyCheck(Config{KnownHosts: file}, "10.0.0.1:2222", nil)
	if err != nil {
		t.Fatal(err)
	}
	// OpenSSH also consults the port-less entry on another port ("checking
	// without port identifier"), so its type counts too, after the ported ones.
	want := []string{"ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}
	if !reflect.DeepEqual(hk.algorithms[:len(want)], want) || !hk.known {
		t.Errorf("algorithms %q, want %q first", hk.algorithms, want)
	}
	hk, err = newHostKeyCheck(Config{KnownHosts: file}, "10.9.9.9:22", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hk.algorithms, preferredAlgorithms) || hk.known {
		t.Errorf("unknown host: algorithms %q, want the default preference", hk.algorithms)
	}

	// The check itself maps the verdicts onto HostKeyError.
	remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 2222}
	hk, _ = newHostKeyCheck(Config{KnownHosts: file}, "10.0.0.1:2222", nil)
	if err := hk.callback("10.0.0.1:2222", remote, rsaPub); err != nil {
		t.Errorf("known hashed rsa key rejected: %v", err)
	}
	otherEC := mustECDSAKey(t)
	err = hk.callback("10.0.0.1:2222", remote, otherEC)
	if e, ok := err.(*HostKeyError); !ok || e.Kind != HostKeyChanged || e.Line != 1 || e.Fingerprint != ssh.FingerprintSHA256(otherEC) {
		t.Errorf("other key: %#v", err)
	}
	// A key of another type than the ported lines hold is changed too (OpenSSH).
	other := probeKeyOther(t)
	err = hk.callback("10.0.0.1:2222", remote, other)
	if e, ok := err.(*HostKeyError); !ok || e.Kind != HostKeyChanged || e.Line != 1 {
		t.Errorf("other ed25519 key: %#v", err)
	}
	hk, _ = newHostKeyCheck(Config{KnownHosts: file}, "10.0.0.2:2222", nil)
	err = hk.callback("10.0.0.2:2222", remote, other)
	if e, ok := err.(*HostKeyError); !ok || e.Kind != HostKeyUnknown || e.Host != "[10.0.0.2]:2222" {
		t.Errorf("other host: %#v", err)
	}
}

func TestRevokedKey(t *testing.T) {
	key := probeKeyOther(t)
	file := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("@revoked * %s", ssh.MarshalAuthorizedKey(key))
	if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	hk, err := newHostKeyCheck(Config{KnownHosts: file}, "h:22", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = hk.callback("h:22", &net.TCPAddr{}, key)
	if e, ok := err.(*HostKeyError); !ok || e.Kind != HostKeyRevoked {
		t.Errorf("revoked key: %#v", err)
	}
}

func TestInsecureNeedsWarn(t *testing.T) {
	if _, err := newHostKeyCheck(Config{InsecureIgnoreHostKey: true}, "h:22", nil); err == nil {
		t.Error("InsecureIgnoreHostKey without Warn was accepted")
	}
}

func probeKeyOther(t *testing.T) ssh.PublicKey {
	t.Helper()
	s := mustSigner(t, newKeyPEM(t, ""))
	return s.PublicKey()
}
