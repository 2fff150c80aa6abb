package config

import (
	"fmt"
	"net/url"
	"strings"
)

// githubFromEnv fills github.host and github.api_url when gantry.toml and
// GANTRY_GITHUB_* leave them unset: the host from GH_HOST (gh's variable),
// else from GITHUB_SERVER_URL (set by GitHub Actions, also on Enterprise
// Server); the API URL from GITHUB_API_URL when it belongs to that same
// server and it is not github.com (whose API address is fixed).
func (g *GitHub) fromEnv(env func(string) (string, bool)) error {
	server, err := serverHost(env)
	if err != nil {
		return err
	}
	get := func(k string) string { v, _ := env(k); return strings.TrimSpace(v) }
	actions := get("GITHUB_ACTIONS") == "true"
	if actions {
		g.Actions = ActionsRun{ServerURL: strings.TrimRight(get("GITHUB_SERVER_URL"), "/"), Repository: get("GITHUB_REPOSITORY"),
			RunID: get("GITHUB_RUN_ID"), SHA: get("GITHUB_SHA")}
	}
	if g.Deployments == nil {
		// github.deployments defaults to on under GitHub Actions only.
		g.Deployments = &actions
	}
	if g.Host == "" && g.APIURL == "" {
		if v, ok := env("GH_HOST"); ok && strings.TrimSpace(v) != "" {
			g.Host = strings.ToLower(strings.TrimSpace(v))
		} else if server != "" {
			g.Host = server
		}
	}
	host := g.Host
	if host == "" {
		host = "github.com"
	}
	if g.APIURL == "" && server != "" && server == host && host != "github.com" {
		if v, ok := env("GITHUB_API_URL"); ok && strings.TrimSpace(v) != "" {
			g.APIURL = strings.TrimSpace(v)
		}
	}
	return nil
}

// serverHost is the host of GITHUB_SERVER_URL, or "".
func serverHost(env func(string) (string, bool)) (string, error) {
	v, ok := env("GITHUB_SERVER_URL")
	if !ok || strings.TrimSpace(v) == "" {
		return "", nil
	}
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", &FieldError{Field: "GITHUB_SERVER_URL", Problem: fmt.Sprintf("%q is not a URL", v), Fix: "set it like https://github.example.com, or unset it and set github.host"}
	}
	return strings.ToLower(u.Host), nil
}

// validGitHubHost reports whether h is a bare host name as gh writes it.
func validGitHubHost(h string) bool {
	return h != "" && !strings.ContainsAny(h, "/:@ ?#")
}
