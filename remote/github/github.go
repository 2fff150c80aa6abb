// Package github talks to the GitHub REST API for gantry's release step:
// it checks that the token may create releases, reads existing releases and
// tags, asks GitHub to generate release notes and creates the release.
//
// It is built on github.com/cli/go-gh/v2. The token never appears in an
// error or in log output written by this package.
package github

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cli/go-gh/v2/pkg/api"
	"github.com/cli/go-gh/v2/pkg/auth"
)

// DefaultHost is the GitHub host used when Options.Host is empty.
const DefaultHost = "github.com"

// requestTimeout bounds one HTTP request when the caller's context has no
// deadline, so a stalled connection cannot hang a CI run forever.
const requestTimeout = 60 * time.Second

// Options configures a Client.
type Options struct {
	// Repo is the repository as "owner/name".
	Repo string
	// Host is the GitHub host; empty means github.com.
	Host string
	// APIURL, when set, sends every API request to this base URL instead
	// of the host's API (tests: http://127.0.0.1:PORT).
	APIURL string
	// Token authenticates requests; empty means TokenFromEnv(Host).
	Token string
	// Log, when set, receives one line per request (method, URL, status),
	// never headers or bodies.
	Log io.Writer
}

// Client is a GitHub REST client bound to one repository.
type Client struct {
	owner, name string
	host        string
	base        *url.URL // API base URL; pagination links must stay under it
	rest        *api.RESTClient
	token       string // kept only to scrub it from errors
	tokenSource string
}

// Release is a GitHub release.
type Release struct {
	ID              int64
	TagName         string
	TargetCommitish string
	Name            string
	Body            string
	HTMLURL         string
	Draft           bool
	Prerelease      bool
	CreatedAt       time.Time
	PublishedAt     time.Time // zero for drafts
}

// TokenFromEnv finds a GitHub token for host: GH_TOKEN, then GITHUB_TOKEN,
// then go-gh's lookup (GH_ENTERPRISE_TOKEN for enterprise hosts, gh's
// config file, `gh auth token`). source names where it came from and is
// empty when no token was found. The token itself must never be logged.
func TokenFromEnv(host string) (token string, source string) {
	for _, name := range []string{"GH_TOKEN", "GITHUB_TOKEN"} {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			return v, name
		}
	}
	if host == "" {
		host = DefaultHost
	}
	token, source = auth.TokenForHost(host)
	if token == "" {
		return "", ""
	}
	switch source {
	case "oauth_token":
		source = "gh config (hosts.yml)"
	case "gh":
		source = "gh auth token"
	}
	return token, source
}

// New returns a Client for opts.Repo. It fails with ErrNoToken when no token
// is given and none is found by TokenFromEnv.
func New(opts Options) (*Client, error) {
	owner, name, err := splitRepo(opts.Repo)
	if err != nil {
		return nil, err
	}
	host := strings.ToLower(strings.TrimSpace(opts.Host))
	if host == "" {
		host = DefaultHost
	}
	if !validHost(host) {
		return nil, fmt.Errorf("github host %q: want a bare host name such as github.com", opts.Host)
	}
	token, source := opts.Token, "Options.Token"
	if token == "" {
		token, source = TokenFromEnv(host)
		if token == "" {
			return nil, fmt.Errorf("%w for %s: set GH_TOKEN (or GITHUB_TOKEN), or run `gh auth login --hostname %s`", ErrNoToken, host, host)
		}
	}

	base, err := apiBase(host, opts.APIURL)
	if err != nil {
		return nil, err
	}
	var transport http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	ghOpts := api.ClientOptions{
		Host:         host,
		AuthToken:    token,
		LogIgnoreEnv: true, // GH_DEBUG=api would dump the Authorization header
		Timeout:      requestTimeout,
		Headers: map[string]string{
			"Accept": "application/vnd.github+json",
		},
	}
	if opts.APIURL != "" {
		ghBase, err := apiBase(host, "")
		if err != nil {
			return nil, err
		}
		transport = &rewriteTransport{target: base, fromPath: ghBase.Path, next: transport}
	} else {
		// Pin the API host so a gh config api_host cannot move requests
		// away from the base that pagination links are checked against.
		ghOpts.APIHost = base.Hostname()
	}
	ghOpts.Transport = transport
	if opts.Log != nil {
		ghOpts.Log = &scrubWriter{w: opts.Log, secret: token}
	}
	rest, err := api.NewRESTClient(ghOpts)
	if err != nil {
		return nil, redact(fmt.Errorf("github client for %s: %w", host, err), token)
	}
	return &Client{
		owner:       owner,
		name:        name,
		host:        host,
		base:        base,
		rest:        rest,
		token:       token,
		tokenSource: source,
	}, nil
}

// Repo returns the repository as "owner/name".
func (c *Client) Repo() string { return c.owner + "/" + c.name }

// TokenSource says where the token came from (e.g. "GH_TOKEN"), for messages.
func (c *Client) TokenSource() string { return c.tokenSource }

var (
	ownerRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	hostRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
)

func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !ownerRE.MatchString(owner) || !nameRE.MatchString(name) || name == "." || name == ".." {
		return "", "", fmt.Errorf("github repo %q: want owner/name", repo)
	}
	return owner, name, nil
}

func validHost(host string) bool { return hostRE.MatchString(host) }

// apiBase mirrors go-gh's choice of REST base URL for host, or parses the
// override. The result always ends in "/".
func apiBase(host, override string) (*url.URL, error) {
	raw := override
	if raw == "" {
		switch {
		case auth.IsTenancy(host) || host == DefaultHost:
			raw = "https://api." + auth.NormalizeHostname(host) + "/"
		case host == "github.localhost":
			raw = "http://api.github.localhost/"
		default: // GitHub Enterprise Server
			raw = "https://" + host + "/api/v3/"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("github API URL: want http(s)://host[:port][/path]")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return u, nil
}
