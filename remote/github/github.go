// Package github talks to the GitHub REST API for gantry's release step:
// it checks that the token may create releases, reads existing releases and
// tags, asks GitHub to generate release notes and creates the release.
//
// It is built on github.com/cli/go-gh/v2. The token is chosen per host as
// gh chooses it, is sent only to that host's API, and never appears in an
// error or in log output written by this package. Requests refused by a
// rate limit (429, or a 403 secondary or exhausted limit; nothing was done)
// are retried within a bounded wait, after which *RateLimitError says
// when to re-run. It imports no gantry package.
package github

import (
	"context"
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
	// Logf, when set, is told what the client does on its own, such as
	// waiting out a rate limit ("GitHub rate limit: retrying in 12s
	// (secondary limit)").
	Logf func(format string, args ...any)
	// WrapTransport, when set, wraps the transport that reaches the API host (after
	// the guard that keeps the token on that host), e.g. to record each request.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// RateLimitWait caps the total time one request waits out rate limits
	// before failing with *RateLimitError; 0 means DefaultRateLimitWait,
	// negative means never wait.
	RateLimitWait time.Duration
}

// Client is a GitHub REST client bound to one repository.
type Client struct {
	owner, name string
	host        string
	base        *url.URL // API base URL; pagination links must stay under it
	rest        *api.RESTClient
	token       string // kept only to scrub it from errors
	tokenSource string

	logf          func(format string, args ...any)
	rateLimitWait time.Duration
	now           func() time.Time
	sleep         func(ctx context.Context, d time.Duration) error
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

// TokenFromEnv finds a GitHub token for host the way gh does (go-gh's
// auth.TokenForHost): GH_TOKEN, then GITHUB_TOKEN for github.com and
// *.ghe.com; GH_ENTERPRISE_TOKEN, then GITHUB_ENTERPRISE_TOKEN for other
// (Enterprise Server) hosts; then gh's config file and keyring (`gh auth
// token`). A token found for one host is only ever sent to that host.
// source names where it came from and is empty when no token was found.
// The token itself must never be logged.
func TokenFromEnv(host string) (token string, source string) {
	if host == "" {
		host = DefaultHost
	}
	token, source = auth.TokenForHost(host)
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ""
	}
	switch source {
	case "oauth_token":
		source = "gh config (hosts.yml)"
	case "gh", "keyring":
		source = "gh auth token"
	}
	return token, source
}

// noTokenError explains where a token for host is looked for.
func noTokenError(host string) error {
	if auth.IsEnterprise(host) {
		hint := ""
		if os.Getenv("GITHUB_TOKEN") != "" || os.Getenv("GH_TOKEN") != "" {
			// As gh does, GH_TOKEN/GITHUB_TOKEN are for github.com only.
			hint = "; GH_TOKEN and GITHUB_TOKEN are used only for github.com (in a workflow on " + host + ", set GH_ENTERPRISE_TOKEN: ${{ secrets.GITHUB_TOKEN }})"
		}
		return fmt.Errorf("%w for %s: set GH_ENTERPRISE_TOKEN (or GITHUB_ENTERPRISE_TOKEN), or run `gh auth login --hostname %s`%s", ErrNoToken, host, host, hint)
	}
	return fmt.Errorf("%w for %s: set GH_TOKEN (or GITHUB_TOKEN), or run `gh auth login --hostname %s`", ErrNoToken, host, host)
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
			return nil, noTokenError(host)
		}
	}

	base, err := apiBase(host, opts.APIURL)
	if err != nil {
		return nil, err
	}
	// The token goes only to the API base's host: the guard below every
	// other layer strips it from any request elsewhere, and redirects to
	// another host are not followed.
	var inner http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if opts.WrapTransport != nil {
		inner = opts.WrapTransport(inner)
	}
	var transport http.RoundTripper = &hostGuard{host: base.Host, next: inner}
	ghOpts := api.ClientOptions{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
				return fmt.Errorf("GitHub redirected to another host (%s); not following it with the token", req.URL.Host)
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
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
		transport = &rewriteTransport{target: base, fromHost: ghBase.Host, fromPath: ghBase.Path, next: transport}
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
	c := &Client{
		owner:         owner,
		name:          name,
		host:          host,
		base:          base,
		rest:          rest,
		token:         token,
		tokenSource:   source,
		logf:          func(string, ...any) {},
		rateLimitWait: opts.RateLimitWait,
		now:           time.Now,
		sleep:         sleepCtx,
	}
	if opts.Logf != nil {
		// Messages never carry the token; scrub anyway, as for Log.
		c.logf = func(format string, args ...any) { opts.Logf("%s", scrub(fmt.Sprintf(format, args...), token)) }
	}
	switch {
	case c.rateLimitWait == 0:
		c.rateLimitWait = DefaultRateLimitWait
	case c.rateLimitWait < 0:
		c.rateLimitWait = 0
	}
	return c, nil
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
