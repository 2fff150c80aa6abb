package github

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// rewriteTransport sends every request to target (Options.APIURL). go-gh
// builds https://api.<host>/ URLs and only attaches the token to its own
// hosts, so the rewrite happens below it, after the header is set.
type rewriteTransport struct {
	target   *url.URL // ends in "/"
	fromHost string   // go-gh's API host; requests elsewhere pass unchanged
	fromPath string   // go-gh's base path for the host ("/" or "/api/v3/")
	next     http.RoundTripper
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.EqualFold(req.URL.Host, t.fromHost) {
		return t.next.RoundTrip(req)
	}
	rel := strings.TrimPrefix(req.URL.EscapedPath(), t.fromPath)
	rel = strings.TrimPrefix(rel, "/")
	u, err := url.Parse(t.target.EscapedPath() + rel)
	if err != nil {
		return nil, fmt.Errorf("rewrite request path: %w", err)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = t.target.Scheme
	out.URL.Host = t.target.Host
	out.URL.Path, out.URL.RawPath = u.Path, u.RawPath
	out.Host = ""
	return t.next.RoundTrip(out)
}

// hostGuard drops the Authorization header from any request not bound for
// host (the API base's host[:port]), whatever the layers above decided.
type hostGuard struct {
	host string
	next http.RoundTripper
}

func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" && !strings.EqualFold(req.URL.Host, g.host) {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.next.RoundTrip(req)
}

// nextLink returns the rel="next" URL of a Link header, or "".
func nextLink(header string) string {
	for _, part := range strings.Split(header, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		target := strings.TrimSpace(segs[0])
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for _, p := range segs[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if rel == "next" {
						return target[1 : len(target)-1]
					}
				}
			}
		}
	}
	return ""
}

// relativize turns a pagination link into a path under the API base, so it
// goes through the same client (and token scoping) as every other request.
// Links to any other place are refused rather than followed with the token.
func (c *Client) relativize(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("pagination link: %w", err)
	}
	basePath := c.base.EscapedPath()
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || !strings.HasPrefix(u.EscapedPath(), basePath) {
		return "", fmt.Errorf("pagination link leaves the API base %s; not following it", c.base.Redacted())
	}
	rel := strings.TrimPrefix(u.EscapedPath(), basePath)
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel, nil
}
