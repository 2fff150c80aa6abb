package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/config"
)

const secretPassword = "s3cr3t-pa55word-never-printed"

func TestCredentialsNeverPrintPassword(t *testing.T) {
	c := Credentials{Host: "h.example", Username: "AWS", Password: secretPassword, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	wrapped := struct {
		C  Credentials
		P  *Credentials
		Cs []Credentials
	}{c, &c, []Credentials{c}}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c), fmt.Sprintf(verb, wrapped))
	}
	outs = append(outs, fmt.Sprint(c), fmt.Sprintln(c), c.String(), c.GoString())
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(js))
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("login", "creds", c)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, secretPassword) {
			t.Fatalf("password printed: %s", o)
		}
	}
	if got := fmt.Sprintf("%+v", c); !strings.Contains(got, "AWS") || !strings.Contains(got, "h.example") || !strings.Contains(got, "REDACTED") {
		t.Errorf("%%+v = %q, want host, user and REDACTED", got)
	}
	if got := fmt.Sprint(Credentials{Host: "h"}); strings.Contains(got, "REDACTED") {
		t.Errorf("empty password shown as redacted: %q", got)
	}
}

func TestLoginCacheRefreshesNearExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := &loginCache{now: func() time.Time { return now }}
	fetches := 0
	expiry := now.Add(time.Hour)
	fetch := func(context.Context) (Credentials, error) {
		fetches++
		return Credentials{Username: "u", Password: fmt.Sprint("p", fetches), ExpiresAt: expiry}, nil
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := l.get(ctx, fetch); err != nil {
			t.Fatal(err)
		}
	}
	if fetches != 1 {
		t.Fatalf("fresh token fetched %d times, want 1", fetches)
	}
	now = expiry.Add(-4 * time.Minute) // inside the 5-minute margin
	c, err := l.get(ctx, fetch)
	if err != nil {
		t.Fatal(err)
	}
	if fetches != 2 || c.Password != "p2" {
		t.Fatalf("expiring token: fetches=%d password=%q, want a refetch", fetches, c.Password)
	}
	// A fresh token that is itself expired (moto's are) is fetched once per call, no loop.
	expiry = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if _, err := l.get(ctx, fetch); err != nil {
			t.Fatal(err)
		}
	}
	if fetches != 4 {
		t.Fatalf("expired tokens: %d fetches, want 4 (one per call)", fetches)
	}
	// Tokens without expiry stay cached; errors are not cached.
	l2 := &loginCache{}
	n := 0
	fail := true
	f2 := func(context.Context) (Credentials, error) {
		n++
		if fail {
			return Credentials{}, errors.New("boom")
		}
		return Credentials{Username: "u"}, nil
	}
	if _, err := l2.get(ctx, f2); err == nil {
		t.Fatal("want the fetch error")
	}
	fail = false
	l2.get(ctx, f2)
	l2.get(ctx, f2)
	if n != 2 {
		t.Fatalf("non-expiring credentials fetched %d times, want 2", n)
	}
}

func TestDecodeAWSTokenKeepsTokenOutOfErrors(t *testing.T) {
	u, p, err := decodeAWSToken("QVdTOnBhc3M6d2l0aDpjb2xvbnM=") // AWS:pass:with:colons
	if err != nil || u != "AWS" || p != "pass:with:colons" {
		t.Fatalf("got %q %q %v", u, p, err)
	}
	for _, bad := range []string{"not base64 " + secretPassword, "bm9jb2xvbg=="} {
		_, _, err := decodeAWSToken(bad)
		if err == nil {
			t.Fatalf("%q: want an error", bad)
		}
		if strings.Contains(err.Error(), secretPassword) || strings.Contains(err.Error(), "bm9jb2xvbg") {
			t.Fatalf("error quotes the token: %v", err)
		}
	}
}

func TestTagMovedErrorMatchesErrTagExists(t *testing.T) {
	var err error = fmt.Errorf("promote: %w", &TagMovedError{Tag: "v1.0.0", Existing: "sha256:aaa", Wanted: "sha256:bbb"})
	if !errors.Is(err, ErrTagExists) {
		t.Fatal("errors.Is(TagMovedError, ErrTagExists) is false")
	}
	var tm *TagMovedError
	if !errors.As(err, &tm) || tm.Existing != "sha256:aaa" {
		t.Fatalf("errors.As: %+v", tm)
	}
	for _, want := range []string{"v1.0.0", "sha256:aaa", "sha256:bbb", "never moves"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if errors.Is(err, ErrNotFound) {
		t.Error("TagMovedError matches ErrNotFound")
	}
}

func TestValidTag(t *testing.T) {
	for _, ok := range []string{"v1.2.3", "1.2.3-SNAPSHOT-abc1234", "latest", "_x", strings.Repeat("a", 128)} {
		if err := ValidTag(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "a;rm -rf /", "a/b", "a:b", strings.Repeat("a", 129)} {
		if err := ValidTag(bad); !errors.Is(err, ErrInvalidTag) {
			t.Errorf("%q: err = %v, want ErrInvalidTag", bad, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for h, want := range map[string]bool{
		"127.0.0.1:5000": true, "127.5.6.7": true, "localhost:5000": true, "LOCALHOST": true,
		"[::1]:5000": true, "::1": true, "10.0.0.1:5000": false, "registry.example.com": false,
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com": false, "localhost.example.com:5000": false,
	} {
		if got := isLoopback(h); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestImagesOfAndOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := imagesOf(nil, "sha256:u", "mt", t0, 1); len(got) != 0 {
		t.Fatalf("untagged image listed: %+v", got)
	}
	page := imagesOf([]string{"b", "a"}, "sha256:1", "mt", t0, 10)
	page = append(page, imagesOf([]string{"c"}, "sha256:2", "mt", t0.Add(time.Hour), 20)...)
	sortNewestFirst(page)
	var order []string
	for _, im := range page {
		order = append(order, im.Tag)
	}
	if strings.Join(order, ",") != "c,a,b" {
		t.Fatalf("order %v, want c,a,b", order)
	}
	if len(page[1].Tags) != 2 || page[1].Digest != "sha256:1" || page[1].Size != 10 {
		t.Fatalf("bad image %+v", page[1])
	}
	// One slice of tags per digest, shared by its images: memory linear in the rows.
	if &page[1].Tags[0] != &page[2].Tags[0] || cap(page[1].Tags) != 2 {
		t.Fatal("the images of one digest do not share one (clipped) Tags slice")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	cases := []config.Registry{
		{Kind: "s3", Repository: "x"},
		{Kind: config.KindOCI, Repository: "x"},
		{Kind: config.KindOCI, Host: "h:5000"},
		{Kind: config.KindECR, Repository: "x"},
		{Kind: config.KindEmbedded, Repository: "x"},
	}
	for _, c := range cases {
		if r, err := New(ctx, c, Options{}); err == nil {
			t.Errorf("%+v: want an error, got %v", c, r.Kind())
		}
	}
}
