package github

import (
	"net/http"
	"net/url"
	"testing"
)

func TestNextLink(t *testing.T) {
	cases := map[string]string{
		``: ``,
		`<https://api.github.com/repositories/1/releases?page=2>; rel="next", <https://api.github.com/repositories/1/releases?page=5>; rel="last"`: `https://api.github.com/repositories/1/releases?page=2`,
		`<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next"`:                                                                       `https://x/a?page=3`,
		`<https://x/a?page=1>; rel="first", <https://x/a?page=1>; rel="prev"`:                                                                      ``,
		`<https://x/a?page=4>; rel="last next"`:                                                                                                    `https://x/a?page=4`,
		`https://x/a; rel="next"`:                                                                                                                  ``,
	}
	for header, want := range cases {
		if got := nextLink(header); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestValidRef(t *testing.T) {
	good := []string{"1.2.3", "v1.2.3", "v1.2.3-rc.1", "app/v1", "1.2.3+build.7", "A_b-c"}
	bad := []string{"", "@", "v 1", "v1..2", "a@{1}", "/v1", "v1/", "v1.", "-v1", ".v1", "a/.b", "v1.lock", "a//b", "v1~1", "v1^", "a:b", "a?b", "a*b", "a[b", `a\b`, "a\tb", "a\x7fb"}
	for _, r := range good {
		if !validRef(r) {
			t.Errorf("validRef(%q) = false", r)
		}
	}
	for _, r := range bad {
		if validRef(r) {
			t.Errorf("validRef(%q) = true", r)
		}
	}
}

func TestAPIBase(t *testing.T) {
	cases := []struct{ host, override, want string }{
		{"github.com", "", "https://api.github.com/"},
		{"ghe.example.com", "", "https://ghe.example.com/api/v3/"},
		{"acme.ghe.com", "", "https://api.acme.ghe.com/"},
		{"github.com", "http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"github.com", "http://127.0.0.1:8080/api/v3", "http://127.0.0.1:8080/api/v3/"},
	}
	for _, tc := range cases {
		u, err := apiBase(tc.host, tc.override)
		if err != nil || u.String() != tc.want {
			t.Errorf("apiBase(%q, %q) = %v, %v; want %s", tc.host, tc.override, u, err, tc.want)
		}
	}
}

func TestRelativize(t *testing.T) {
	base, _ := url.Parse("https://ghe.example.com/api/v3/")
	c := &Client{base: base}
	got, err := c.relativize("https://ghe.example.com/api/v3/repositories/7/releases?per_page=100&page=2")
	if err != nil || got != "repositories/7/releases?per_page=100&page=2" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, link := range []string{
		"https://evil.example.com/api/v3/repositories/7/releases?page=2",
		"http://ghe.example.com/api/v3/repositories/7/releases?page=2",
		"https://ghe.example.com/other/repositories/7/releases",
	} {
		if _, err := c.relativize(link); err == nil {
			t.Errorf("relativize(%q) accepted", link)
		}
	}
}

func TestRewriteTransport(t *testing.T) {
	target, _ := url.Parse("http://127.0.0.1:9/prefix/")
	var seen *http.Request
	rt := &rewriteTransport{target: target, fromHost: "ghe.example.com", fromPath: "/api/v3/", next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})}
	req, _ := http.NewRequest("GET", "https://ghe.example.com/api/v3/repos/o/r/releases/tags/a%20b?x=1", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got := seen.URL.String(); got != "http://127.0.0.1:9/prefix/repos/o/r/releases/tags/a%20b?x=1" {
		t.Errorf("rewritten to %s", got)
	}
	if req.URL.Host != "ghe.example.com" {
		t.Error("original request was modified")
	}
	// A request to another host (a redirect) is not moved to the target.
	other, _ := http.NewRequest("GET", "https://elsewhere.example/x", nil)
	if _, err := rt.RoundTrip(other); err != nil {
		t.Fatal(err)
	}
	if got := seen.URL.String(); got != "https://elsewhere.example/x" {
		t.Errorf("foreign request rewritten to %s", got)
	}
}

func TestHostGuard(t *testing.T) {
	var seen *http.Request
	g := &hostGuard{host: "127.0.0.1:9", next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})}
	for url, want := range map[string]string{
		"http://127.0.0.1:9/repos/o/r":  "token x",
		"http://127.0.0.1:10/repos/o/r": "",
		"https://evil.example/":         "",
	} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "token x")
		if _, err := g.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got := seen.Header.Get("Authorization"); got != want {
			t.Errorf("%s: Authorization %q, want %q", url, got, want)
		}
		if req.Header.Get("Authorization") != "token x" {
			t.Error("original request was modified")
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
