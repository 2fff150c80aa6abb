package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

// newCachedOCI is an oci registry on the test registry with its listing cache in dir.
func newCachedOCI(t *testing.T, host, repo, dir string, ct *countingTransport) *ociRegistry {
	t.Helper()
	t.Setenv(EnvUsername, "")
	t.Setenv(EnvPassword, "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r, err := New(context.Background(), config.Registry{Kind: config.KindOCI, Host: host, Repository: repo},
		Options{Logf: t.Logf, CacheDir: dir, HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	return r.(*ociRegistry)
}

// requests counts ct's registry requests: HEADs of manifests, GETs of manifests and of blobs.
func requests(ct *countingTransport) (heads, manifests, blobs int) {
	return ct.count("HEAD /v2/"), ct.count("/manifests/") - ct.count("HEAD /v2/"), ct.count("/blobs/")
}

func listAll(t *testing.T, r *ociRegistry, lo ListOptions) map[string]Image {
	t.Helper()
	var all []Image
	if err := r.ListWith(context.Background(), lo, func(p []Image) error { all = append(all, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	return byTag(all)
}

// A cold listing makes the floor of requests (a HEAD per tag, a manifest and a
// config per distinct digest); a warm one asks only about tags that may move;
// a refresh HEADs every tag again but fetches no detail it has.
func TestOCIListCacheRequests(t *testing.T) {
	host := registryHost(t)
	repo := uniqueName("gantry/cache")
	base, _ := name.NewRepository(host + "/" + repo)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := testbed.RandomImage(t, 256, 1, nil, t0)
	b := testbed.RandomImage(t, 256, 1, nil, t0.Add(time.Hour))
	c := testbed.RandomImage(t, 256, 1, nil, t0.Add(2*time.Hour))
	da := push(t, base.Tag("1.0.0-SNAPSHOT-aaaaaaa").String(), a)
	db := push(t, base.Tag("1.0.1-SNAPSHOT-bbbbbbb").String(), b)
	push(t, base.Tag("1.0.2-SNAPSHOT-ccccccc").String(), c)
	for tag, src := range map[string]string{"v1.0.0": "1.0.0-SNAPSHOT-aaaaaaa", "latest": "1.0.1-SNAPSHOT-bbbbbbb"} {
		d, err := remote.Get(base.Tag(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Put(base.Tag(tag), d); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ct := newCounting()
	r := newCachedOCI(t, host, repo, dir, ct)

	cold := listAll(t, r, ListOptions{})
	if h, m, bl := requests(ct); h != 5 || m != 3 || bl != 3 {
		t.Fatalf("cold listing: %d HEADs, %d manifest GETs, %d blob GETs; want 5, 3, 3", h, m, bl)
	}
	if len(cold) != 5 || cold["v1.0.0"].Digest != da || cold["latest"].Digest != db {
		t.Fatalf("cold listing %+v", cold)
	}
	if x, y := cold["v1.0.0"].Tags, cold["1.0.0-SNAPSHOT-aaaaaaa"].Tags; len(x) != 2 || &x[0] != &y[0] {
		t.Fatalf("the tags of one digest are not one shared slice: %v %v", x, y)
	}
	if !cold["1.0.2-SNAPSHOT-ccccccc"].PushedAt.Equal(t0.Add(2*time.Hour)) || cold["latest"].Size != imageSize(t, b) {
		t.Fatalf("details: %+v", cold["1.0.2-SNAPSHOT-ccccccc"])
	}

	// Warm, in a new process: only latest (not write-once) is asked about.
	ct2 := newCounting()
	r2 := newCachedOCI(t, host, repo, dir, ct2)
	warm := listAll(t, r2, ListOptions{})
	if h, m, bl := requests(ct2); h != 1 || m != 0 || bl != 0 {
		t.Fatalf("warm listing: %d HEADs, %d manifest GETs, %d blob GETs; want 1, 0, 0", h, m, bl)
	}
	for tag, im := range cold {
		w := warm[tag]
		if w.Digest != im.Digest || !w.PushedAt.Equal(im.PushedAt) || w.Size != im.Size || w.MediaType != im.MediaType || !slices.Equal(sorted(w.Tags), sorted(im.Tags)) {
			t.Errorf("%s: warm %+v, cold %+v", tag, w, im)
		}
	}
	ct2.reset()
	listAll(t, r2, ListOptions{Refresh: true})
	if h, m, bl := requests(ct2); h != 5 || m != 0 || bl != 0 {
		t.Fatalf("refresh: %d HEADs, %d manifest GETs, %d blob GETs; want 5, 0, 0", h, m, bl)
	}

	// A new snapshot costs its HEAD, manifest and config, nothing more.
	d := testbed.RandomImage(t, 256, 1, nil, t0.Add(3*time.Hour))
	push(t, base.Tag("1.0.3-SNAPSHOT-ddddddd").String(), d)
	ct2.reset()
	if got := listAll(t, r2, ListOptions{}); len(got) != 6 {
		t.Fatalf("after a push: %d images", len(got))
	}
	if h, m, bl := requests(ct2); h != 2 || m != 1 || bl != 1 {
		t.Fatalf("after a push: %d HEADs, %d manifest GETs, %d blob GETs; want 2, 1, 1", h, m, bl)
	}
	// Every workflow step resolves fresh, never from the cache.
	ct2.reset()
	if got, err := r2.Resolve(context.Background(), "v1.0.0"); err != nil || got != da || ct2.count("HEAD /v2/") != 1 {
		t.Fatalf("Resolve: %s %v after %d HEADs", got, err, ct2.count("HEAD /v2/"))
	}
}

// A write-once tag moved behind gantry's back is caught by the background
// revalidation, and the next listing shows where it points now.
func TestOCIListCacheRevalidates(t *testing.T) {
	host := registryHost(t)
	repo := uniqueName("gantry/reval")
	base, _ := name.NewRepository(host + "/" + repo)
	a := testbed.RandomImage(t, 256, 1, nil, time.Now())
	b := testbed.RandomImage(t, 256, 1, nil, time.Now())
	push(t, base.Tag("2.0.0-SNAPSHOT-aaaaaaa").String(), a)
	db := push(t, base.Tag("2.0.1-SNAPSHOT-bbbbbbb").String(), b)
	dir := t.TempDir()
	r := newCachedOCI(t, host, repo, dir, newCounting())
	listAll(t, r, ListOptions{})
	// Someone moves a snapshot tag, and the cache's last check is long ago.
	d, err := remote.Get(base.Tag("2.0.1-SNAPSHOT-bbbbbbb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(base.Tag("2.0.0-SNAPSHOT-aaaaaaa"), d); err != nil {
		t.Fatal(err)
	}
	idx := r.cache.load()
	idx.Revalidated = time.Now().Add(-time.Hour)
	if err := r.cache.save(idx); err != nil {
		t.Fatal(err)
	}
	r = newCachedOCI(t, host, repo, dir, newCounting())
	if got := listAll(t, r, ListOptions{Revalidate: true}); got["2.0.0-SNAPSHOT-aaaaaaa"].Digest == db {
		t.Log("the listing saw the move before revalidating") // allowed, not required
	}
	r.cache.revalidating.Wait()
	if got := listAll(t, r, ListOptions{}); got["2.0.0-SNAPSHOT-aaaaaaa"].Digest != db || len(got["2.0.1-SNAPSHOT-bbbbbbb"].Tags) != 2 {
		t.Fatalf("after revalidation: %+v", got["2.0.0-SNAPSHOT-aaaaaaa"])
	}
	if r.cache.load().Revalidated.Before(time.Now().Add(-time.Minute)) {
		t.Fatal("revalidation did not record itself")
	}
}

// A Listing runs once for any number of readers, each getting every page in
// order, and a reader that stops early stops only itself.
func TestListingSharedByReaders(t *testing.T) {
	host := registryHost(t)
	repo := uniqueName("gantry/shared")
	base, _ := name.NewRepository(host + "/" + repo)
	img := testbed.RandomImage(t, 256, 1, nil, time.Now())
	push(t, base.Tag("t000").String(), img)
	for i := 1; i < 2*listPageSize+5; i++ {
		if err := remote.Tag(base.Tag(fmt.Sprintf("t%03d", i)), img); err != nil {
			t.Fatal(err)
		}
	}
	ct := newCounting()
	r := newCachedOCI(t, host, repo, "", ct)
	ctx := context.Background()
	l := StartListing(ctx, r, ListOptions{})
	stop := errors.New("enough")
	first := 0
	if err := l.Pages(ctx, func(p []Image) error { first += len(p); return stop }); !errors.Is(err, stop) || first != listPageSize {
		t.Fatalf("early stop: %v after %d images", err, first)
	}
	counts := make(chan int, 2)
	for range 2 {
		go func() {
			n := 0
			if err := l.Pages(ctx, func(p []Image) error { n += len(p); return nil }); err != nil {
				t.Error(err)
			}
			counts <- n
		}()
	}
	for range 2 {
		if n := <-counts; n != 2*listPageSize+5 {
			t.Fatalf("a reader got %d images, want %d", n, 2*listPageSize+5)
		}
	}
	if done, err := l.Done(); !done || err != nil {
		t.Fatalf("Done: %v %v", done, err)
	}
	if n := ct.count("/tags/list"); n != 1 {
		t.Fatalf("the tags were listed %d times for three readers", n)
	}
}

// The tag mutability warnings for doctor, for each ECR setting.
func TestMutabilityWarnings(t *testing.T) {
	for _, c := range []struct {
		m    string
		excl []string
		want string // "" means no warning
	}{
		{"IMMUTABLE", nil, ""},
		{"MUTABLE", nil, "put-image-tag-mutability"},
		{"IMMUTABLE_WITH_EXCLUSION", []string{"latest", "dev-*"}, ""},
		{"IMMUTABLE_WITH_EXCLUSION", []string{"latest", "v*"}, "v*"},
		{"MUTABLE_WITH_EXCLUSION", []string{"v*"}, "MUTABLE_WITH_EXCLUSION"},
	} {
		got := strings.Join(mutabilityWarnings("book-shop", "eu-west-1", ecrtypes.ImageTagMutability(c.m), c.excl), "\n")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s %v: %q, want one naming %q", c.m, c.excl, got, c.want)
		}
	}
}

// ECR lists 1,000 images a page, newest push first across the listing.
func TestECRListNewestFirstPastOnePage(t *testing.T) {
	m := newMotoECR(t)
	repo := m.createRepo(t, false)
	const n = 130 // more than DescribeImages' default page of 100
	var last string
	for i := range n {
		if i == n-1 {
			time.Sleep(1100 * time.Millisecond) // moto's push times may have whole seconds
		}
		img := testbed.RandomImage(t, 64, 1, nil, time.Now())
		last, _ = m.putImage(t, repo, fmt.Sprintf("1.0.%d-SNAPSHOT-%07x", i, i), img)
	}
	ct := newCounting()
	r := m.registry(t, repo, "", ct)
	var all []Image
	if err := r.List(context.Background(), func(p []Image) error { all = append(all, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(all) != n || all[0].Digest != last || all[0].Tag != fmt.Sprintf("1.0.%d-SNAPSHOT-%07x", n-1, n-1) {
		t.Fatalf("%d images, newest %s %s; want %d with %s first", len(all), all[0].Tag, all[0].Digest, n, last)
	}
	for i := 1; i < len(all); i++ {
		if all[i].PushedAt.After(all[i-1].PushedAt) {
			t.Fatalf("image %d (%s) is newer than image %d", i, all[i].Tag, i-1)
		}
	}
	if calls := ct.count("DescribeImages"); calls != 1 {
		t.Fatalf("%d DescribeImages calls for %d images, want 1 page of 1,000", calls, n)
	}
}

// The tag step reads the tag back and refuses success when it names another digest.
func TestECRTagReadBack(t *testing.T) {
	m := newMotoECR(t)
	repo := m.createRepo(t, false)
	da, _ := m.putImage(t, repo, "3.0.0-SNAPSHOT-aaaaaaa", testbed.RandomImage(t, 64, 1, nil, time.Now()))
	db, _ := m.putImage(t, repo, "v3.0.0", testbed.RandomImage(t, 64, 1, nil, time.Now()))
	r := m.registry(t, repo, "", nil)
	ctx := context.Background()
	_, err := r.readBack(ctx, "v3.0.0", da, 100)
	var moved *TagMovedError
	if !errors.As(err, &moved) || moved.Existing != db || moved.Wanted != da {
		t.Fatalf("read back onto another digest: %v", err)
	}
	if res, err := r.readBack(ctx, "v3.0.0", db, 100); err != nil || res.Digest != db || res.BytesMoved != 100 {
		t.Fatalf("read back: %+v %v", res, err)
	}
	if _, err := r.readBack(ctx, "v9.9.9", da, 100); err == nil || !errors.Is(err, ErrNotFound) {
		t.Fatalf("read back a missing tag: %v", err)
	}
	// And a promotion still succeeds, read back included.
	if res, err := r.Tag(ctx, "3.0.0-SNAPSHOT-aaaaaaa", "v3.0.1"); err != nil || res.Digest != da {
		t.Fatalf("Tag: %+v %v", res, err)
	}
}

// doctor's registry check reports the tag mutability, and warns on mutable tags.
func TestECRInspectTagMutability(t *testing.T) {
	m := newMotoECR(t)
	for _, immutable := range []bool{true, false} {
		repo := m.createRepo(t, immutable)
		res, err := Inspect(context.Background(), m.registry(t, repo, "", nil))
		if err != nil {
			t.Fatal(err)
		}
		want, warn := "MUTABLE", true
		if immutable {
			want, warn = "IMMUTABLE", false
		}
		if res.TagMutability != want || (len(res.Warnings) > 0) != warn {
			t.Fatalf("immutable=%v: %+v", immutable, res)
		}
		if warn && !strings.Contains(res.Warnings[0], "--image-tag-mutability IMMUTABLE") {
			t.Fatalf("the warning gives no fix: %q", res.Warnings[0])
		}
	}
}

// The cache file round-trips, and a damaged one is ignored rather than trusted.
func TestListCacheFile(t *testing.T) {
	dir := t.TempDir()
	var logs []string
	c := newListCache(dir, "127.0.0.1:5000/gantry/app", func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	created := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	c.update(map[string]string{"v1.0.0": "sha256:aa", "1.0.0-SNAPSHOT-abcdef0": "sha256:aa"},
		map[string]cachedDetail{"sha256:aa": {MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 42, Created: created}, "sha256:bb": {Size: 7}},
		created)
	idx := c.load()
	if len(idx.Tags) != 2 || idx.Tags["v1.0.0"] != "sha256:aa" || !idx.Digests["sha256:aa"].Created.Equal(created) ||
		idx.Digests["sha256:aa"].MediaType == "" || idx.Digests["sha256:bb"].Size != 7 || !idx.Digests["sha256:bb"].Created.IsZero() || !idx.Revalidated.Equal(created) {
		t.Fatalf("round trip: %+v", idx)
	}
	c.update(map[string]string{"v1.0.0": ""}, nil, time.Time{})
	if idx := c.load(); len(idx.Tags) != 1 || len(idx.Digests) != 2 {
		t.Fatalf("after forgetting a tag: %+v", idx)
	}
	if err := os.WriteFile(c.path, []byte(cacheMagic+"\nt onlytwo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if idx := c.load(); len(idx.Tags) != 0 || len(logs) == 0 || !strings.Contains(logs[0], "damaged") {
		t.Fatalf("a damaged cache was used: %+v, logs %q", idx, logs)
	}
}

// isWriteOnce agrees with the regexp that defines it.
func TestIsWriteOnce(t *testing.T) {
	for _, tag := range []string{"v1.2.3", "1.2.3", "1.4.3-SNAPSHOT-3f2a9c1", "v10.20.30-SNAPSHOT-" + strings.Repeat("a", 40),
		"latest", "v1.2", "1.2.3-SNAPSHOT-3f2a9c", "1.2.3-SNAPSHOT-3F2A9C1", "1.2.3-rc1", "vv1.2.3", "1.2.3.", ".1.2.3", "1..3",
		"1.2.3-SNAPSHOT-" + strings.Repeat("a", 41), "", "v", "1.2.3-SNAPSHOT-3f2a9c1x"} {
		if got, want := isWriteOnce(tag), writeOnceTag.MatchString(tag); got != want {
			t.Errorf("isWriteOnce(%q) = %v, the regexp says %v", tag, got, want)
		}
	}
}
