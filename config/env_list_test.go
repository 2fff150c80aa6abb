package config

import "testing"

func TestEnvVarsListed(t *testing.T) {
	got := map[string]string{}
	for _, v := range EnvVars() {
		got[v.Name] = v.Field
	}
	for name, field := range map[string]string{
		"GANTRY_REGISTRY_HOST":        "registry.host",
		"GANTRY_DEV_HOST":             "dev.host",
		"GANTRY_DEV_KNOWN_HOSTS":      "dev.known_hosts",
		"GANTRY_PROD_KUBECTL":         "prod.kubectl",
		"GANTRY_DEV_HEALTH_TIMEOUT":   "dev.health_timeout",
		"GANTRY_PROD_UNDO_ON_FAILURE": "prod.undo_on_failure",
	} {
		if got[name] != field {
			t.Errorf("%s maps to %q, want %q", name, got[name], field)
		}
	}
}
