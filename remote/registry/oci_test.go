package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

func newOCITest(t *testing.T, host, repo string, ct *countingTransport) Registry {
	t.Helper()
	t.Setenv(EnvUsername, "")
	t.Setenv(EnvPassword, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	opts := Options{Logf: t.Logf}
	if ct != nil {
		opts.HTTPClient = &http.Client{Transport: ct}
	}
	r, err := New(context.Background(), config.Registry{Kind: config.KindOCI, Host: host, Repository: repo}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func collect(t *testing.T, r Registry) (all []Image, pages int) {
	t.Helper()
	err := r.List(context.Background(), func(page []Image) error {
		pages++
		all = append(all, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return all, pages
}

func byTag(images []Image) map[string]Image {
	m := map[string]Image{}
	for _, im := range images {
		m[im.Tag] = im
	}
	return m
}

// TestOCIAgainstRegistry runs every capability against the real test registry.
func TestOCIAgainstRegistry(t *testing.T) {
	host := registryHost(t)
	repo := uniqueName("gantry/oci")
	ctx := context.Background()
	ct := newCounting()
	r := newOCITest(t, host, repo, ct)
	if r.Kind() != "oci" || r.Host() != host || r.Repository() != host+"/"+repo {
		t.Fatalf("kind/host/repo = %s %s %s", r.Kind(), r.Host(), r.Repository())
	}
	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check on a repository not pushed yet: %v", err)
	}
	if imgs, _ := collect(t, r); len(imgs) != 0 {
		t.Fatalf("empty repository lists %v", imgs)
	}

	t1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	a := testbed.RandomImage(t, 2048, 2, map[string]string{"org.opencontainers.image.revision": "aaaaaaa1111"}, t1)
	b := testbed.RandomImage(t, 1024, 1, map[string]string{"org.opencontainers.image.revision": "bbbbbbb2222"}, t2)
	da := push(t, host+"/"+repo+":1.0.0-SNAPSHOT-aaaaaaa", a)
	push(t, host+"/"+repo+":dev", a)
	db := push(t, host+"/"+repo+":1.0.1-SNAPSHOT-bbbbbbb", b)

	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	imgs, _ := collect(t, r)
	m := byTag(imgs)
	if len(imgs) != 3 {
		t.Fatalf("List: %d images, want 3: %+v", len(imgs), imgs)
	}
	ia := m["1.0.0-SNAPSHOT-aaaaaaa"]
	if ia.Digest != da || !slices.Equal(sorted(ia.Tags), []string{"1.0.0-SNAPSHOT-aaaaaaa", "dev"}) {
		t.Errorf("image a: %+v", ia)
	}
	if ia.Size != imageSize(t, a) || !ia.PushedAt.Equal(t1) || ia.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Errorf("image a details: size %d (want %d) pushed %v (want %v) type %s", ia.Size, imageSize(t, a), ia.PushedAt, t1, ia.MediaType)
	}
	if ib := m["1.0.1-SNAPSHOT-bbbbbbb"]; ib.Digest != db || len(ib.Tags) != 1 || !ib.PushedAt.Equal(t2) {
		t.Errorf("image b: %+v", ib)
	}

	if d, err := r.Resolve(ctx, "dev"); err != nil || d != da {
		t.Fatalf("Resolve dev = %s, %v; want %s", d, err, da)
	}
	if _, err := r.Resolve(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve nope: %v, want ErrNotFound", err)
	}
	if _, err := r.Resolve(ctx, "bad tag"); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("Resolve 'bad tag': %v, want ErrInvalidTag", err)
	}
	labels, err := r.Labels(ctx, "1.0.1-SNAPSHOT-bbbbbbb")
	if err != nil || labels["org.opencontainers.image.revision"] != "bbbbbbb2222" {
		t.Fatalf("Labels = %v, %v", labels, err)
	}
	if _, err := r.Labels(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Labels nope: %v, want ErrNotFound", err)
	}

	// Promote: the new tag gets the same digest, only the manifest travels.
	raw, _ := a.RawManifest()
	ct.reset()
	res, err := r.Tag(ctx, "1.0.0-SNAPSHOT-aaaaaaa", "v1.0.0")
	if err != nil {
		t.Fatalf("Tag: %v", err)
	}
	if res.Digest != da || res.AlreadyDone || res.BytesMoved != int64(len(raw)) {
		t.Fatalf("Tag = %+v, want digest %s and %d bytes", res, da, len(raw))
	}
	if up := ct.uploaded.Load(); up != int64(len(raw)) {
		t.Errorf("uploaded %d bytes, want only the %d-byte manifest", up, len(raw))
	}
	if n := ct.count("/blobs/"); n != 0 {
		t.Errorf("promotion touched blobs %d times: %v", n, ct.requests)
	}
	if d, _ := r.Resolve(ctx, "v1.0.0"); d != da {
		t.Fatalf("v1.0.0 -> %s, want %s", d, da)
	}
	res, err = r.Tag(ctx, "1.0.0-SNAPSHOT-aaaaaaa", "v1.0.0")
	if err != nil || !res.AlreadyDone || res.BytesMoved != 0 || res.Digest != da {
		t.Fatalf("second Tag = %+v, %v; want AlreadyDone", res, err)
	}
	// A release tag never moves.
	_, err = r.Tag(ctx, "1.0.1-SNAPSHOT-bbbbbbb", "v1.0.0")
	var moved *TagMovedError
	if !errors.As(err, &moved) || !errors.Is(err, ErrTagExists) || moved.Existing != da || moved.Wanted != db || moved.Tag != "v1.0.0" {
		t.Fatalf("moving v1.0.0: %v, want TagMovedError{v1.0.0, %s, %s}", err, da, db)
	}
	if d, _ := r.Resolve(ctx, "v1.0.0"); d != da {
		t.Fatalf("v1.0.0 moved to %s", d)
	}
	if _, err := r.Tag(ctx, "nope", "v9.9.9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tag from a missing source: %v, want ErrNotFound", err)
	}
	if _, err := r.Tag(ctx, "dev", "v1;rm"); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("Tag to an invalid tag: %v, want ErrInvalidTag", err)
	}
	imgs, _ = collect(t, r)
	if got := byTag(imgs)["v1.0.0"]; !slices.Equal(sorted(got.Tags), []string{"1.0.0-SNAPSHOT-aaaaaaa", "dev", "v1.0.0"}) {
		t.Errorf("after promotion v1.0.0 lists tags %v", got.Tags)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestOCIListStreamsPagesAndIndexes(t *testing.T) {
	host := registryHost(t)
	repo := uniqueName("gantry/pages")
	ctx := context.Background()
	r := newOCITest(t, host, repo, nil)
	img := testbed.RandomImage(t, 512, 1, nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := push(t, host+"/"+repo+":t000", img)
	base, _ := name.NewRepository(host + "/" + repo)
	for i := 1; i < 60; i++ {
		if err := remote.Tag(base.Tag(fmt.Sprintf("t%03d", i)), img); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(base.Tag("multi"), idx); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	all := 0
	err = r.List(ctx, func(page []Image) error {
		sizes = append(sizes, len(page))
		for _, im := range page {
			all++
			if im.Tag == "multi" {
				if !strings.Contains(im.MediaType, "manifest.list") && !strings.Contains(im.MediaType, "index") {
					t.Errorf("index listed as %s", im.MediaType)
				}
				continue
			}
			if im.Digest != d || len(im.Tags) != 60 {
				t.Errorf("%s: digest %s, %d tags; want %s and 60", im.Tag, im.Digest, len(im.Tags), d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0] != listPageSize || all != 61 {
		t.Fatalf("pages %v (%d images), want 2 pages with the first of %d", sizes, all, listPageSize)
	}
	stop := errors.New("stop")
	calls := 0
	if err := r.List(ctx, func([]Image) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("callback error: %v after %d calls, want stop after 1", err, calls)
	}
	res, err := r.Tag(ctx, "multi", "v2.0.0")
	raw, _ := idx.RawManifest()
	if err != nil || res.BytesMoved != int64(len(raw)) {
		t.Fatalf("promote an index: %+v %v", res, err)
	}
	if _, err := r.Labels(ctx, "multi"); err != nil {
		t.Fatalf("Labels of an index: %v", err)
	}
}

func TestOCILoginSources(t *testing.T) {
	host := "registry.example.com:5000"
	ctx := context.Background()
	t.Run("environment", func(t *testing.T) {
		t.Setenv(EnvUsername, "robot")
		t.Setenv(EnvPassword, secretPassword)
		r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Login(ctx)
		if err != nil || c.Username != "robot" || c.Password != secretPassword || c.Host != host {
			t.Fatalf("Login = %v, %v", c, err)
		}
		if strings.Contains(fmt.Sprintf("%+v %#v", c, c), secretPassword) {
			t.Fatal("password printed")
		}
	})
	t.Run("half the environment", func(t *testing.T) {
		t.Setenv(EnvUsername, "robot")
		t.Setenv(EnvPassword, "")
		if _, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{}); err == nil || !strings.Contains(err.Error(), EnvPassword) {
			t.Fatalf("want an error naming %s, got %v", EnvPassword, err)
		}
	})
	t.Run("injected environment", func(t *testing.T) {
		// Options.Env, not the process environment, supplies the credentials.
		t.Setenv(EnvUsername, "")
		t.Setenv(EnvPassword, "")
		env := func(k string) (string, bool) {
			v, ok := map[string]string{EnvUsername: "robot"}[k]
			return v, ok
		}
		if _, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{Env: env}); err == nil || !strings.Contains(err.Error(), EnvPassword) {
			t.Fatalf("want an error naming %s, got %v", EnvPassword, err)
		}
	})
	t.Run("docker credential store", func(t *testing.T) {
		t.Setenv(EnvUsername, "")
		t.Setenv(EnvPassword, "")
		dir := t.TempDir()
		t.Setenv("DOCKER_CONFIG", dir)
		// base64("docker-user:" + secretPassword)
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, b64("docker-user:"+secretPassword))
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Login(ctx)
		if err != nil || c.Username != "docker-user" || c.Password != secretPassword {
			t.Fatalf("Login = %v, %v", c, err)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		t.Setenv(EnvUsername, "")
		t.Setenv(EnvPassword, "")
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Login(ctx)
		if err != nil || !c.Anonymous() {
			t.Fatalf("Login = %v, %v; want anonymous", c, err)
		}
	})
}

func TestOCICheckExplains(t *testing.T) {
	ctx := context.Background()
	t.Run("refused credentials", func(t *testing.T) {
		var mu sync.Mutex
		var sawAuth bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			sawAuth = sawAuth || r.Header.Get("Authorization") != ""
			mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		}))
		defer srv.Close()
		host := strings.TrimPrefix(srv.URL, "http://")
		t.Setenv(EnvUsername, "robot")
		t.Setenv(EnvPassword, secretPassword)
		r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: "app"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "docker login "+host) || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Check = %v, want refused credentials and how to log in", err)
		}
		if strings.Contains(err.Error(), secretPassword) {
			t.Fatal("error holds the password")
		}
		mu.Lock()
		defer mu.Unlock()
		if !sawAuth {
			t.Error("the credentials were never offered")
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Setenv(EnvUsername, "")
		t.Setenv(EnvPassword, "")
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: "127.0.0.1:1", Repository: "app"}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Check(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach registry 127.0.0.1:1") {
			t.Fatalf("Check = %v, want cannot reach", err)
		}
	})
}
