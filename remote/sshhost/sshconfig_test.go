package sshhost

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeSSHConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSSHConfigLookup(t *testing.T) {
	home, _ := os.UserHomeDir()
	user := writeSSHConfig(t, `
Host devbox
  HostName 10.0.1.5
  User ec2-user
  Port 2222
  IdentityFile ~/.ssh/dev.pem
  IdentitiesOnly yes
  UserKnownHostsFile ~/.ssh/known_hosts.d/%h
  ProxyJump bastion
  ServerAliveInterval 7

Host *
  IdentityFile ~/.ssh/id_ed25519
  ServerAliveCountMax 4
`)
	system := writeSSHConfig(t, `
Host *
  User nobody
  Port 2200
  ProxyCommand should-not-win %h
`)
	sc, err := LoadSSHConfig(user, filepath.Join(t.TempDir(), "missing"), system)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sc.Lookup("devbox")
	if err != nil {
		t.Fatal(err)
	}
	if h.HostName != "10.0.1.5" || h.User != "ec2-user" || h.Port != 2222 || !h.IdentitiesOnly || h.ProxyJump != "bastion" ||
		h.ServerAliveInterval != 7*time.Second || h.ServerAliveCountMax != 4 {
		t.Errorf("settings: %+v", h)
	}
	if want := []string{home + "/.ssh/dev.pem", home + "/.ssh/id_ed25519"}; !reflect.DeepEqual(h.IdentityFiles, want) {
		t.Errorf("IdentityFiles %q, want %q (they accumulate)", h.IdentityFiles, want)
	}
	if want := home + "/.ssh/known_hosts.d/10.0.1.5"; h.KnownHosts != want {
		t.Errorf("KnownHosts %q, want %q", h.KnownHosts, want)
	}
	if h.Source["HostName"] != user || h.Source["ProxyCommand"] != system {
		t.Errorf("sources %v", h.Source)
	}
	// Other hosts: the system file fills what the user file leaves.
	o, err := sc.Lookup("other")
	if err != nil {
		t.Fatal(err)
	}
	if o.HostName != "" || o.User != "nobody" || o.Port != 2200 || o.ProxyCommand != "should-not-win %h" {
		t.Errorf("other: %+v", o)
	}
	if got := o.Files(); !reflect.DeepEqual(got, []string{system, user}) && !reflect.DeepEqual(got, []string{user, system}) {
		t.Errorf("files %q", got)
	}
}

func TestSSHConfigBadValues(t *testing.T) {
	sc, err := LoadSSHConfig(writeSSHConfig(t, "Host x\n  Port 99999\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Lookup("x"); err == nil || !strings.Contains(err.Error(), "Port") {
		t.Errorf("bad port: %v", err)
	}
	if _, err := LoadSSHConfig(writeSSHConfig(t, "Match exec \"true\"\n  User x\n")); err == nil {
		t.Error("an ssh_config that does not parse was accepted")
	}
}

func TestResolveJumps(t *testing.T) {
	sc, err := LoadSSHConfig(writeSSHConfig(t, `
Host bastion
  HostName 203.0.113.9
  User jump
  IdentityFile /keys/bastion
  ProxyJump outer:2022

Host outer
  HostName 198.51.100.1
`))
	if err != nil {
		t.Fatal(err)
	}
	base := Config{User: "ec2-user", KeyFile: "/keys/dev", KnownHosts: "/kh"}
	hops, err := sc.ResolveJumps("bastion,admin@10.0.0.7:2200", base)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hops {
		got = append(got, h.User+"@"+h.Host+":"+itoa(h.Port)+" "+h.KeyFile+strings.Join(h.KeyFiles, ","))
	}
	want := []string{"ec2-user@198.51.100.1:2022 /keys/dev", "jump@203.0.113.9:22 /keys/bastion", "admin@10.0.0.7:2200 /keys/dev"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hops\n%q\nwant\n%q", got, want)
	}
	for _, bad := range []string{"", "a,,b", "h:notaport", "@h", "h;rm"} {
		if _, err := ParseProxyJump(bad); err == nil {
			t.Errorf("ParseProxyJump(%q) accepted", bad)
		}
	}
	loop, _ := LoadSSHConfig(writeSSHConfig(t, "Host a\n  ProxyJump a\n"))
	if _, err := loop.ResolveJumps("a", base); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("jump loop: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A system-wide file this parser cannot read is skipped with one warning;
// the user's own file still must parse.
func TestSSHConfigLenientSystemFile(t *testing.T) {
	user := writeSSHConfig(t, "Host devbox\n  HostName 10.0.1.5\n")
	system := writeSSHConfig(t, "Match exec \"true\"\n  User x\n")
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	for i := 0; i < 2; i++ {
		sc, err := LoadSSHConfigLenient([]string{user}, []string{system}, warn)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := sc.Lookup("devbox"); h.HostName != "10.0.1.5" {
			t.Errorf("user file not read: %+v", h)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], system) {
		t.Errorf("warnings %q, want one naming %s", warnings, system)
	}
	if _, err := LoadSSHConfigLenient([]string{system}, nil, warn); err == nil {
		t.Error("a strict file that does not parse was accepted")
	}
}
