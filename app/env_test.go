package app

import (
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/config"
)

// TestInjectedEnv: the secrets to mask, the SSH key and who deploys come from
// Options.Env, not the process environment.
func TestInjectedEnv(t *testing.T) {
	t.Setenv("GITHUB_ACTOR", "")
	t.Setenv("GANTRY_SSH_KEY", "")
	vars := map[string]string{
		"GITHUB_ACTOR":          "octocat",
		"GITHUB_RUN_ID":         "42",
		"AWS_SECRET_ACCESS_KEY": "injected-aws-secret",
		"GANTRY_SSH_KEY":        "-----BEGIN KEY-----\ninjectedkeyline1234\n-----END KEY-----",
		"SSH_AUTH_SOCK":         "/run/injected-agent.sock",
	}
	a, err := New(&config.Config{}, Options{Env: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SESSION_TOKEN", "process-session-token") // the AWS SDK reads the process env: masked too
	secrets := strings.Join(a.envSecrets(), "|")
	for _, want := range []string{"injected-aws-secret", "injectedkeyline1234", vars["GANTRY_SSH_KEY"], "process-session-token"} {
		if !strings.Contains(secrets, want) {
			t.Errorf("envSecrets %q lacks %q", secrets, want)
		}
	}
	c, _ := a.resolveSSH("dev", config.SSH{Host: "h", Port: 22, User: "u", SSHConfig: config.SSHConfigOff})
	if string(c.KeyPEM) != vars["GANTRY_SSH_KEY"] || !c.UseAgent || c.AgentSocket != vars["SSH_AUTH_SOCK"] {
		t.Errorf("ssh config ignores the injected env: key %q agent %v %q", c.KeyPEM, c.UseAgent, c.AgentSocket)
	}
	if got := a.devParams(false).Who; got != "octocat (actions run 42)" {
		t.Errorf("who = %q", got)
	}
}
