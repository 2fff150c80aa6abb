package config

import (
	"errors"
	"testing"
)

func TestGitHubHostFromEnv(t *testing.T) {
	for name, tc := range map[string]struct {
		toml     string
		env      map[string]string
		host     string
		apiURL   string
		errField string
	}{
		"default": {host: "github.com"},
		"actions on github.com": {env: map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com"},
			host: "github.com"},
		"actions on GHES": {env: map[string]string{"GITHUB_SERVER_URL": "https://GHE.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "ghe.example.com", apiURL: "https://ghe.example.com/api/v3"},
		"GH_HOST wins": {env: map[string]string{"GH_HOST": "ghe.corp.example", "GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "ghe.corp.example"},
		"file wins": {toml: "[github]\nhost = 'git.example.org'\n", env: map[string]string{"GH_HOST": "ghe.corp.example", "GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "git.example.org"},
		"file host matches server": {toml: "[github]\nhost = 'ghe.example.com'\n", env: map[string]string{"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "ghe.example.com", apiURL: "https://ghe.example.com/api/v3"},
		"GANTRY var wins": {env: map[string]string{"GANTRY_GITHUB_HOST": "git.example.org", "GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "git.example.org"},
		"api_url configured": {toml: "[github]\napi_url = 'http://127.0.0.1:9'\n", env: map[string]string{"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_API_URL": "https://ghe.example.com/api/v3"},
			host: "github.com", apiURL: "http://127.0.0.1:9"},
		"bad server url": {env: map[string]string{"GITHUB_SERVER_URL": "ghe.example.com"}, errField: "GITHUB_SERVER_URL"},
		"bad host":       {toml: "[github]\nhost = 'https://ghe.example.com'\n", errField: "github.host"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := load(t, tc.toml, tc.env)
			if tc.errField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.errField {
					t.Fatalf("err %v, want a FieldError for %s", err, tc.errField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GitHub.Host != tc.host || cfg.GitHub.APIURL != tc.apiURL {
				t.Errorf("host %q api_url %q, want %q %q", cfg.GitHub.Host, cfg.GitHub.APIURL, tc.host, tc.apiURL)
			}
		})
	}
}
