package registry

// moto does not serve ECR Public, so its API half is tested against an httptest server
// speaking the ecrpublic JSON protocol (awsJson1_1, X-Amz-Target SpencerFrontendService.*);
// the registry V2 half (Resolve, Labels, Tag) runs against the real test registry.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

type fakeECRPublic struct {
	t        *testing.T
	mu       sync.Mutex
	calls    map[string]int
	expires  time.Time
	repo     string
	pushedAt time.Time
}

func (f *fakeECRPublic) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeECRPublic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "SpencerFrontendService.")
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		http.Error(w, "not the ecrpublic protocol: "+r.Method+" "+target, http.StatusBadRequest)
		return
	}
	// Requests are SigV4-signed for us-east-1, the only ECR Public API region.
	if a := r.Header.Get("Authorization"); !strings.Contains(a, "AWS4-HMAC-SHA256") || !strings.Contains(a, "/us-east-1/ecr-public/") {
		http.Error(w, `{"__type":"UnrecognizedClientException","message":"bad signature"}`, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	json.Unmarshal(body, &in)
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op {
	case "GetAuthorizationToken":
		fmt.Fprintf(w, `{"authorizationData":{"authorizationToken":%q,"expiresAt":%d}}`, b64("AWS:"+secretPassword), f.expires.Unix())
	case "DescribeRegistries":
		io.WriteString(w, `{"registries":[{"registryId":"123456789012","registryArn":"arn:aws:ecr-public::123456789012:registry/123456789012","registryUri":"public.ecr.aws/x","verified":false,"aliases":[{"name":"other","status":"ACTIVE","primaryRegistryAlias":false,"defaultRegistryAlias":true},{"name":"bookshop","status":"ACTIVE","primaryRegistryAlias":true,"defaultRegistryAlias":false}]}]}`)
	case "DescribeRepositories":
		names, _ := in["repositoryNames"].([]any)
		if len(names) != 1 || names[0] != f.repo {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"RepositoryNotFoundException","message":"The repository with name '%v' does not exist"}`, names)
			return
		}
		fmt.Fprintf(w, `{"repositories":[{"repositoryName":%q,"registryId":"123456789012"}]}`, f.repo)
	case "DescribeImages":
		if in["repositoryName"] != f.repo {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"RepositoryNotFoundException","message":"no such repository"}`)
			return
		}
		fmt.Fprintf(w, `{"imageDetails":[
			{"imageDigest":"sha256:aaaa","imageTags":["1.0.0-SNAPSHOT-aaaaaaa","v1.0.0"],"imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json","imagePushedAt":%d,"imageSizeInBytes":1234},
			{"imageDigest":"sha256:untagged","imagePushedAt":%d,"imageSizeInBytes":1},
			{"imageDigest":"sha256:bbbb","imageTags":["1.0.1-SNAPSHOT-bbbbbbb"],"imageManifestMediaType":"application/vnd.docker.distribution.manifest.v2+json","imagePushedAt":%d,"imageSizeInBytes":99}]}`,
			f.pushedAt.Unix(), f.pushedAt.Unix(), f.pushedAt.Add(time.Hour).Unix())
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"UnsupportedCommandException","message":"%s is not faked"}`, op)
	}
}

func newFakeECRPublic(t *testing.T, repo string, expires time.Time) (*fakeECRPublic, string) {
	f := &fakeECRPublic{t: t, calls: map[string]int{}, expires: expires, repo: repo, pushedAt: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestECRPublicAPI(t *testing.T) {
	testbed.MotoEnv(t)
	ctx := context.Background()
	f, url := newFakeECRPublic(t, "app", time.Now().Add(12*time.Hour))
	reg, err := New(ctx, config.Registry{Kind: config.KindECRPublic, Region: "us-east-1", Repository: "app", Endpoint: url}, Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	// No alias configured: the primary alias comes from DescribeRegistries.
	if reg.Kind() != "ecr-public" || reg.Host() != "public.ecr.aws" || reg.Repository() != "public.ecr.aws/bookshop/app" {
		t.Fatalf("kind %s host %s repository %s", reg.Kind(), reg.Host(), reg.Repository())
	}
	c, err := reg.Login(ctx)
	if err != nil || c.Username != "AWS" || c.Password != secretPassword || c.Host != "public.ecr.aws" || c.ExpiresAt.Before(time.Now()) {
		t.Fatalf("Login = %v %v", c, err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), secretPassword) {
		t.Fatal("password printed")
	}
	reg.Login(ctx)
	if n := f.count("GetAuthorizationToken"); n != 1 {
		t.Fatalf("a 12-hour token was fetched %d times, want 1 (cached)", n)
	}
	var imgs []Image
	if err := reg.List(ctx, func(p []Image) error { imgs = append(imgs, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 3 || imgs[0].Tag != "1.0.1-SNAPSHOT-bbbbbbb" || imgs[0].Size != 99 || !imgs[0].PushedAt.Equal(f.pushedAt.Add(time.Hour)) {
		t.Fatalf("List = %+v", imgs)
	}
	if v := byTag(imgs)["v1.0.0"]; v.Digest != "sha256:aaaa" || len(v.Tags) != 2 || v.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("v1.0.0 = %+v", v)
	}
	if err := reg.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	missing, err := New(ctx, config.Registry{Kind: config.KindECRPublic, Repository: "nope", Alias: "bookshop", Endpoint: url}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if missing.Repository() != "public.ecr.aws/bookshop/nope" {
		t.Fatalf("configured alias: %s", missing.Repository())
	}
	err = missing.Check(ctx)
	if !errors.Is(err, ErrRepositoryNotFound) || !strings.Contains(err.Error(), "aws ecr-public create-repository --repository-name nope --region us-east-1") {
		t.Fatalf("Check on a missing repository: %v", err)
	}
}

func TestECRPublicExpiredTokenFetchedOncePerLogin(t *testing.T) {
	testbed.MotoEnv(t)
	ctx := context.Background()
	f, url := newFakeECRPublic(t, "app", time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, err := New(ctx, config.Registry{Kind: config.KindECRPublic, Repository: "app", Alias: "bookshop", Endpoint: url}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := reg.Login(ctx); err != nil {
			t.Fatal(err)
		}
		if n := f.count("GetAuthorizationToken"); n != i {
			t.Fatalf("after %d Logins: %d fetches", i, n)
		}
	}
}

func TestECRPublicTagThroughRegistryV2(t *testing.T) {
	host := registryHost(t)
	testbed.MotoEnv(t)
	ctx := context.Background()
	repo := uniqueName("app")
	_, url := newFakeECRPublic(t, repo, time.Now().Add(time.Hour))
	// registry.host points the V2 half at the test registry instead of public.ecr.aws.
	reg, err := New(ctx, config.Registry{Kind: config.KindECRPublic, Repository: repo, Alias: "bookshop", Endpoint: url, Host: host}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Repository() != host+"/bookshop/"+repo {
		t.Fatalf("repository %s", reg.Repository())
	}
	a := testbed.RandomImage(t, 512, 1, map[string]string{"org.opencontainers.image.revision": "abc1234"}, time.Now())
	b := testbed.RandomImage(t, 512, 1, nil, time.Now())
	da := push(t, reg.Repository()+":snap-a", a)
	db := push(t, reg.Repository()+":snap-b", b)
	res, err := reg.Tag(ctx, "snap-a", "v1.0.0")
	if err != nil || res.Digest != da || res.BytesMoved == 0 {
		t.Fatalf("Tag = %+v %v", res, err)
	}
	if d, err := reg.Resolve(ctx, "v1.0.0"); err != nil || d != da {
		t.Fatalf("Resolve = %s %v", d, err)
	}
	if res, err := reg.Tag(ctx, "snap-a", "v1.0.0"); err != nil || !res.AlreadyDone {
		t.Fatalf("repeat Tag = %+v %v", res, err)
	}
	var moved *TagMovedError
	if _, err := reg.Tag(ctx, "snap-b", "v1.0.0"); !errors.As(err, &moved) || moved.Wanted != db || moved.Existing != da {
		t.Fatalf("moving a release tag: %v", err)
	}
	if l, err := reg.Labels(ctx, "v1.0.0"); err != nil || l["org.opencontainers.image.revision"] != "abc1234" {
		t.Fatalf("Labels = %v %v", l, err)
	}
}
