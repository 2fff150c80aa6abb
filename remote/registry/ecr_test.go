package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

// motoECR drives moto directly, the way a CI job's docker push would fill ECR.
type motoECR struct {
	endpoint string
	client   *ecr.Client
}

func newMotoECR(t *testing.T) *motoECR {
	t.Helper()
	testbed.MotoEnv(t) // the registry under test reads the default credential chain
	return &motoECR{endpoint: ecrEndpoint(t), client: testbed.MotoECR(t)}
}

func (m *motoECR) createRepo(t *testing.T, immutable bool) string {
	t.Helper()
	repo := uniqueName("gantry/ecr")
	testbed.CreateECRRepo(t, m.client, repo, immutable)
	return repo
}

// putImage stores img's real manifest under tag (moto accepts manifests without blobs).
func (m *motoECR) putImage(t *testing.T, repo, tag string, img v1.Image) (digest string, manifest []byte) {
	t.Helper()
	return testbed.PutECRImage(t, m.client, repo, tag, img)
}

func (m *motoECR) registry(t *testing.T, repo, host string, ct *countingTransport) *ecrRegistry {
	t.Helper()
	opts := Options{Logf: t.Logf}
	if ct != nil {
		opts.HTTPClient = &http.Client{Transport: ct}
	}
	r, err := New(context.Background(), config.Registry{Kind: config.KindECR, Region: "us-east-1", Repository: repo, Endpoint: m.endpoint, Host: host}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*ecrRegistry)
}

func ociImage(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}

func TestECRLoginAgainstMoto(t *testing.T) {
	m := newMotoECR(t)
	ctx := context.Background()
	ct := newCounting()
	// No host and no account: the host comes from the token's proxyEndpoint.
	r := m.registry(t, "app", "", ct)
	if want := "123456789012.dkr.ecr.us-east-1.amazonaws.com"; r.Host() != want || r.Repository() != want+"/app" {
		t.Fatalf("Host %q Repository %q, want %s", r.Host(), r.Repository(), want)
	}
	ct.reset()
	done := make(chan struct{})
	var c Credentials
	var err error
	go func() {
		defer close(done)
		c, err = r.Login(ctx)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Login did not return with moto's already-expired token")
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "AWS" || c.Password == "" || c.Host != r.Host() || c.ExpiresAt.Year() != 2015 {
		t.Fatalf("Login = %v", c)
	}
	if n := ct.count("GetAuthorizationToken"); n != 1 {
		t.Fatalf("%d token requests for one Login, want 1", n)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, c); strings.Contains(s, c.Password) {
			t.Fatalf("%s prints the password: %s", verb, s)
		}
	}
	// The token is expired, so each Login refetches, once.
	r.Login(ctx)
	if n := ct.count("GetAuthorizationToken"); n != 2 {
		t.Fatalf("%d token requests after two Logins, want 2", n)
	}

	// registry.host overrides the proxyEndpoint; account_id derives it without a call.
	r2 := m.registry(t, "app", "127.0.0.1:5999", nil)
	if c, err := r2.Login(ctx); err != nil || c.Host != "127.0.0.1:5999" || r2.Host() != "127.0.0.1:5999" {
		t.Fatalf("host override: %v %v %s", c, err, r2.Host())
	}
	r3, err := New(ctx, config.Registry{Kind: config.KindECR, Region: "eu-west-1", AccountID: "210987654321", Repository: "app", Endpoint: m.endpoint}, Options{})
	if err != nil || r3.Host() != "210987654321.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Fatalf("account host: %v %v", r3, err)
	}
}

func TestECRListResolveAndPromote(t *testing.T) {
	m := newMotoECR(t)
	ctx := context.Background()
	repo := m.createRepo(t, false)
	t1 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	a := testbed.RandomImage(t, 1024, 2, nil, t1)
	b := ociImage(t, testbed.RandomImage(t, 1024, 1, nil, t1.Add(time.Hour)))
	da, rawA := m.putImage(t, repo, "1.0.0-SNAPSHOT-aaaaaaa", a)
	m.putImage(t, repo, "dev", a)
	db, _ := m.putImage(t, repo, "1.0.1-SNAPSHOT-bbbbbbb", b)
	ct := newCounting()
	r := m.registry(t, repo, "", ct)

	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	var pages int
	var imgs []Image
	if err := r.List(ctx, func(p []Image) error { pages++; imgs = append(imgs, p...); return nil }); err != nil {
		t.Fatalf("List: %v", err)
	}
	got := byTag(imgs)
	if len(imgs) != 3 || pages != 1 {
		t.Fatalf("List: %d images in %d pages: %+v", len(imgs), pages, imgs)
	}
	if ia := got["dev"]; ia.Digest != da || !slices.Equal(sorted(ia.Tags), []string{"1.0.0-SNAPSHOT-aaaaaaa", "dev"}) || ia.PushedAt.IsZero() || ia.MediaType != string(types.DockerManifestSchema2) {
		t.Errorf("dev: %+v", ia)
	}
	if ib := got["1.0.1-SNAPSHOT-bbbbbbb"]; ib.Digest != db || ib.MediaType != string(types.OCIManifestSchema1) || ib.Size == 0 {
		t.Errorf("b: %+v", ib)
	}

	if d, err := r.Resolve(ctx, "dev"); err != nil || d != da {
		t.Fatalf("Resolve dev = %s %v, want %s", d, err, da)
	}
	if _, err := r.Resolve(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve nope: %v, want ErrNotFound", err)
	}

	ct.reset()
	res, err := r.Tag(ctx, "1.0.0-SNAPSHOT-aaaaaaa", "v1.0.0")
	if err != nil || res.Digest != da || res.AlreadyDone || res.BytesMoved != int64(len(rawA)) {
		t.Fatalf("Tag = %+v %v; want %s and %d bytes", res, err, da, len(rawA))
	}
	if up := ct.uploaded.Load(); up > 64<<10 {
		t.Errorf("promotion sent %d bytes", up)
	}
	if ct.count("PutImage") != 1 || ct.count("BatchGetImage") != 1 {
		t.Errorf("requests: %v", ct.requests)
	}
	if d, _ := r.Resolve(ctx, "v1.0.0"); d != da {
		t.Fatalf("v1.0.0 -> %s, want %s", d, da)
	}
	res, err = r.Tag(ctx, "1.0.0-SNAPSHOT-aaaaaaa", "v1.0.0")
	if err != nil || !res.AlreadyDone || res.Digest != da {
		t.Fatalf("second Tag = %+v %v; want AlreadyDone", res, err)
	}
	// In a MUTABLE repository PutImage would move the tag: gantry must refuse first.
	ct.reset()
	_, err = r.Tag(ctx, "1.0.1-SNAPSHOT-bbbbbbb", "v1.0.0")
	var moved *TagMovedError
	if !errors.As(err, &moved) || !errors.Is(err, ErrTagExists) || moved.Existing != da || moved.Wanted != db {
		t.Fatalf("moving v1.0.0: %v, want TagMovedError{%s -> %s}", err, da, db)
	}
	if ct.count("PutImage") != 0 {
		t.Error("PutImage was called for a tag on another digest")
	}
	if d, _ := r.Resolve(ctx, "v1.0.0"); d != da {
		t.Fatalf("v1.0.0 moved to %s", d)
	}
	if _, err := r.Tag(ctx, "nope", "v9.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tag from a missing source: %v, want ErrNotFound", err)
	}
	if _, err := r.Tag(ctx, "dev", "bad tag"); !errors.Is(err, ErrInvalidTag) {
		t.Fatalf("invalid tag: %v", err)
	}
	stop := errors.New("stop")
	if err := r.List(ctx, func([]Image) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("List callback error: %v", err)
	}
}

func TestECRImmutableClash(t *testing.T) {
	m := newMotoECR(t)
	ctx := context.Background()
	repo := m.createRepo(t, true)
	a := testbed.RandomImage(t, 512, 1, nil, time.Now())
	b := testbed.RandomImage(t, 512, 1, nil, time.Now())
	da, rawA := m.putImage(t, repo, "snap-a", a)
	db, rawB := m.putImage(t, repo, "snap-b", b)
	r := m.registry(t, repo, "", nil)
	if res, err := r.Tag(ctx, "snap-a", "v1.0.0"); err != nil || res.Digest != da {
		t.Fatalf("first promotion: %+v %v", res, err)
	}
	if res, err := r.Tag(ctx, "snap-a", "v1.0.0"); err != nil || !res.AlreadyDone {
		t.Fatalf("repeat promotion: %+v %v", res, err)
	}
	_, err := r.Tag(ctx, "snap-b", "v1.0.0")
	var moved *TagMovedError
	if !errors.As(err, &moved) || moved.Existing != da {
		t.Fatalf("clash: %v, want TagMovedError on %s", err, da)
	}
	// The server's own refusal (ImageAlreadyExistsException from moto,
	// ImageTagAlreadyExistsException from ECR) maps to the same error.
	_, err = r.put(ctx, "v1.0.0", string(rawB), string(types.DockerManifestSchema2), db, false)
	if !errors.As(err, &moved) || !errors.Is(err, ErrTagExists) || moved.Existing != da || moved.Wanted != db {
		t.Fatalf("server-side clash: %v, want TagMovedError{%s -> %s}", err, da, db)
	}
	res, err := r.put(ctx, "v1.0.0", string(rawA), string(types.DockerManifestSchema2), da, false)
	if err != nil || !res.AlreadyDone {
		t.Fatalf("server says the same image already has the tag: %+v %v, want AlreadyDone", res, err)
	}
	// The tag was absent a moment before: an "already exists" on our digest is our own
	// write landing twice (an SDK retry), so the promotion moved the manifest.
	res, err = r.put(ctx, "v1.0.0", string(rawA), string(types.DockerManifestSchema2), da, true)
	if err != nil || res.AlreadyDone || res.BytesMoved != int64(len(rawA)) || res.Digest != da {
		t.Fatalf("retried write: %+v %v, want a promotion of %d bytes", res, err, len(rawA))
	}
	if d, _ := r.Resolve(ctx, "v1.0.0"); d != da {
		t.Fatalf("v1.0.0 moved to %s", d)
	}
}

func TestECRLabelsThroughRegistryV2(t *testing.T) {
	m := newMotoECR(t)
	host := registryHost(t)
	ctx := context.Background()
	repo := m.createRepo(t, false)
	img := testbed.RandomImage(t, 512, 1, map[string]string{"org.opencontainers.image.revision": "cafe123"}, time.Now())
	// moto serves no V2 API: the image bytes live in the test registry at registry.host.
	push(t, host+"/"+repo+":snap", img)
	m.putImage(t, repo, "snap", img)
	r := m.registry(t, repo, host, nil)
	labels, err := r.Labels(ctx, "snap")
	if err != nil || labels["org.opencontainers.image.revision"] != "cafe123" {
		t.Fatalf("Labels = %v %v", labels, err)
	}
	if _, err := r.Labels(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Labels absent: %v", err)
	}
}

func TestECRCheckExplains(t *testing.T) {
	m := newMotoECR(t)
	ctx := context.Background()
	r := m.registry(t, "gantry/does-not-exist", "", nil)
	err := r.Check(ctx)
	if !errors.Is(err, ErrRepositoryNotFound) || !strings.Contains(err.Error(), "aws ecr create-repository --repository-name gantry/does-not-exist") {
		t.Fatalf("Check on a missing repository: %v", err)
	}
	if _, err := r.Resolve(ctx, "x"); !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("Resolve in a missing repository: %v", err)
	}

	// No credentials anywhere: say how to set them.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	r2 := m.registry(t, "app", "", nil)
	if r2.Host() != "" || r2.Repository() != "" {
		t.Errorf("host without credentials: %q %q", r2.Host(), r2.Repository())
	}
	err = r2.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Check without credentials: %v", err)
	}
	if _, err := r2.Login(ctx); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Login without credentials: %v", err)
	}
}
