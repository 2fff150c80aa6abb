package config

import "testing"

func TestDeploymentsDefault(t *testing.T) {
	for name, tc := range map[string]struct {
		toml string
		env  map[string]string
		want bool
	}{
		"off outside Actions":       {"", nil, false},
		"on under Actions":          {"", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "42", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SHA": "abc"}, true},
		"off in gantry.toml":        {"[github]\ndeployments = false\n", map[string]string{"GITHUB_ACTIONS": "true"}, false},
		"on in gantry.toml":         {"[github]\ndeployments = true\n", nil, true},
		"GANTRY_GITHUB_DEPLOYMENTS": {"", map[string]string{"GITHUB_ACTIONS": "true", "GANTRY_GITHUB_DEPLOYMENTS": "false"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tc.toml, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := Enabled(cfg.GitHub.Deployments, !tc.want); got != tc.want {
				t.Fatalf("github.deployments = %v, want %v", got, tc.want)
			}
			if cfg.GitHub.DevEnvironment != "dev" || cfg.GitHub.ProdEnvironment != "production" {
				t.Fatalf("environments %q %q", cfg.GitHub.DevEnvironment, cfg.GitHub.ProdEnvironment)
			}
			if tc.env["GITHUB_RUN_ID"] != "" && cfg.GitHub.Actions != (ActionsRun{ServerURL: "https://github.com", Repository: "acme/shop", RunID: "42", SHA: "abc"}) {
				t.Fatalf("actions run %+v", cfg.GitHub.Actions)
			}
		})
	}
}
