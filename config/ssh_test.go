package config

import (
	"errors"
	"strings"
	"testing"
)

// Only what the user set overrides ssh_config: defaults do not count.
func TestSSHExplicitKeys(t *testing.T) {
	cfg, err := load(t, "[dev]\nhost = \"devbox\"\nuser = \"ec2-user\"\n\n[prod]\nhost = \"prodbox\"\n",
		map[string]string{"GANTRY_PROD_PORT": "2222", "GANTRY_PROD_PROXY_JUMP": "ops@bastion:2200"})
	if err != nil {
		t.Fatal(err)
	}
	d, p := cfg.Dev.SSH, cfg.Prod.SSH
	if !d.IsSet("host") || !d.IsSet("user") || d.IsSet("port") || d.IsSet("known_hosts") || d.IsSet("key") {
		t.Errorf("dev explicit: host %v user %v port %v known_hosts %v key %v", d.IsSet("host"), d.IsSet("user"), d.IsSet("port"), d.IsSet("known_hosts"), d.IsSet("key"))
	}
	if d.Port != 22 || d.User != "ec2-user" {
		t.Errorf("defaults still apply: %+v", d)
	}
	if !p.IsSet("port") || p.IsSet("user") || !p.IsSet("proxy_jump") || p.ProxyJump != "ops@bastion:2200" {
		t.Errorf("prod explicit from the environment: port %v user %v proxy_jump %v", p.IsSet("port"), p.IsSet("user"), p.IsSet("proxy_jump"))
	}
}

func TestSSHNewKeysValidated(t *testing.T) {
	_, err := load(t, "[dev]\nhost = \"devbox\"\nproxy_jump = \"bastion;rm -rf /\"\nssh_config = \"/nonexistent/ssh_config\"\n", nil)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want invalid config, got %v", err)
	}
	for _, want := range []string{"dev.proxy_jump", "[user@]host[:port]", "dev.ssh_config", `"false"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	cfg, err := load(t, "[dev]\nhost = \"devbox\"\nproxy_jump = \"ec2-user@bastion.example.com,10.0.0.5:2222\"\nssh_config = \"false\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.SSHConfig != SSHConfigOff {
		t.Errorf("ssh_config = %q", cfg.Dev.SSHConfig)
	}
}
