package workflow

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// uploadCounter counts the request body bytes a client sends.
type uploadCounter struct {
	base http.RoundTripper
	sent atomic.Int64
	reqs atomic.Int64
}

func (u *uploadCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	u.reqs.Add(1)
	if req.Body != nil && req.Body != http.NoBody {
		r := req.Clone(req.Context())
		r.Body = &countedBody{rc: req.Body, n: &u.sent}
		req = r
	}
	return u.base.RoundTrip(req)
}

type countedBody struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countedBody) Close() error { return b.rc.Close() }

var (
	benchImageOnce         sync.Once
	benchOCIRepo, benchECR string
	benchSnap              = "1.0.0-SNAPSHOT-abcdef0"
	benchRound             atomic.Int64
	benchImageSize         int64
	benchECRClient         *ecr.Client
	benchSetupErr          error
)

// BenchmarkPromote measures one promotion of a 100 MB snapshot: gantry's (the promote
// step's registry call) on the oci registry and on ECR (moto), beside `crane tag` and the
// `aws ecr batch-get-image` + `put-image` pair done with the SDK, in one run. It reports
// the bytes gantry sends per promotion: the manifest only, under 64 KiB.
func BenchmarkPromote(b *testing.B) {
	regHost := testbed.Registry(b)
	ecrEndpoint := testbed.ECREndpoint(b)
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	b.Setenv(registry.EnvUsername, "")
	b.Setenv(registry.EnvPassword, "")
	c := motoAWS(b)
	ctx := context.Background()
	benchImageOnce.Do(func() {
		img := testbed.RandomImage(b, 25<<20, 4, map[string]string{RevisionLabel: "abcdef0"}, time.Time{})
		layers, _ := img.Layers()
		for _, l := range layers {
			n, _ := l.Size()
			benchImageSize += n
		}
		benchOCIRepo = uniq("gantry/bench-promote")
		ref, err := name.ParseReference(regHost + "/" + benchOCIRepo + ":" + benchSnap)
		if err != nil {
			benchSetupErr = err
			return
		}
		if benchSetupErr = remote.Write(ref, img); benchSetupErr != nil {
			return
		}
		benchECR = uniq("gantry/bench-promote-ecr")
		if _, benchSetupErr = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(benchECR)}); benchSetupErr != nil {
			return
		}
		putECRImage(b, c, "", benchECR, benchSnap, img)
		benchECRClient = c
	})
	if benchSetupErr != nil {
		b.Fatalf("setup: %v", benchSetupErr)
	}
	if benchImageSize < 100<<20 {
		b.Fatalf("image layers are %d bytes, want at least 100 MB", benchImageSize)
	}
	// Every promotion gets a tag of its own, so none is already done.
	tag := func(kind string, _ int) string { return fmt.Sprintf("v%d-%s", benchRound.Add(1), kind) }

	gantry := func(b *testing.B, cfg config.Registry, kind string) {
		up := &uploadCounter{base: http.DefaultTransport.(*http.Transport).Clone()}
		reg, err := registry.New(ctx, cfg, registry.Options{HTTPClient: &http.Client{Transport: up}})
		if err != nil {
			b.Fatal(err)
		}
		var moved int64
		up.sent.Store(0)
		up.reqs.Store(0)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := reg.Tag(ctx, benchSnap, tag(kind, i))
			if err != nil {
				b.Fatal(err)
			}
			moved += res.BytesMoved
		}
		b.StopTimer()
		perOp := up.sent.Load() / int64(b.N)
		b.ReportMetric(float64(moved)/float64(b.N), "bytes-moved/op")
		b.ReportMetric(float64(perOp), "bytes-sent/op")
		b.ReportMetric(float64(up.reqs.Load())/float64(b.N), "requests/op")
		if perOp >= 64<<10 {
			b.Fatalf("a promotion of a %d-byte image sent %d bytes, want < 64 KiB", benchImageSize, perOp)
		}
	}

	b.Run("gantry-oci", func(b *testing.B) {
		gantry(b, config.Registry{Kind: config.KindOCI, Host: regHost, Repository: benchOCIRepo}, "oci")
	})
	b.Run("crane-tag", func(b *testing.B) {
		up := &uploadCounter{base: http.DefaultTransport.(*http.Transport).Clone()}
		src := regHost + "/" + benchOCIRepo + ":" + benchSnap
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := crane.Tag(src, tag("crane", i), crane.WithTransport(up), crane.WithContext(ctx)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(up.sent.Load()/int64(b.N)), "bytes-sent/op")
		b.ReportMetric(float64(up.reqs.Load())/float64(b.N), "requests/op")
	})
	b.Run("gantry-ecr", func(b *testing.B) {
		gantry(b, config.Registry{Kind: config.KindECR, Region: testbed.MotoRegion, Repository: benchECR, Endpoint: ecrEndpoint, Host: regHost}, "ecr")
	})
	sdkPair := func(b *testing.B, newTag string) {
		c := benchECRClient
		out, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{
			RepositoryName: aws.String(benchECR),
			ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String(benchSnap)}},
			AcceptedMediaTypes: []string{
				"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
				"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
			},
		})
		if err != nil || len(out.Images) != 1 {
			b.Fatalf("batch-get-image: %v", err)
		}
		im := out.Images[0]
		if _, err := c.PutImage(ctx, &ecr.PutImageInput{
			RepositoryName: aws.String(benchECR), ImageTag: aws.String(newTag),
			ImageManifest: im.ImageManifest, ImageManifestMediaType: im.ImageManifestMediaType,
		}); err != nil {
			b.Fatalf("put-image: %v", err)
		}
	}
	b.Run("aws-ecr-batch-get-image+put-image", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sdkPair(b, tag("sdk", i))
		}
	})
	// The four one after another in every iteration, so registry growth and machine
	// load weigh on each alike: the fair comparison.
	b.Run("interleaved", func(b *testing.B) {
		oci, err := registry.New(ctx, config.Registry{Kind: config.KindOCI, Host: regHost, Repository: benchOCIRepo}, registry.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ecrReg, err := registry.New(ctx, config.Registry{Kind: config.KindECR, Region: testbed.MotoRegion, Repository: benchECR, Endpoint: ecrEndpoint, Host: regHost}, registry.Options{})
		if err != nil {
			b.Fatal(err)
		}
		src := regHost + "/" + benchOCIRepo + ":" + benchSnap
		var spent [4]time.Duration
		timed := func(k int, fn func()) {
			t0 := time.Now()
			fn()
			spent[k] += time.Since(t0)
		}
		for i := 0; i < b.N; i++ {
			steps := []func(){
				func() {
					timed(0, func() {
						if _, err := oci.Tag(ctx, benchSnap, tag("oci", i)); err != nil {
							b.Fatal(err)
						}
					})
				},
				func() {
					timed(1, func() {
						if err := crane.Tag(src, tag("crane", i), crane.WithContext(ctx)); err != nil {
							b.Fatal(err)
						}
					})
				},
				func() {
					timed(2, func() {
						if _, err := ecrReg.Tag(ctx, benchSnap, tag("ecr", i)); err != nil {
							b.Fatal(err)
						}
					})
				},
				func() { timed(3, func() { sdkPair(b, tag("sdk", i)) }) },
			}
			if i%2 == 1 { // who goes first in each pair alternates: a warm peer favours the second
				steps[0], steps[1], steps[2], steps[3] = steps[1], steps[0], steps[3], steps[2]
			}
			for _, step := range steps {
				step()
			}
		}
		for k, unit := range []string{"gantry-oci-ms/op", "crane-tag-ms/op", "gantry-ecr-ms/op", "sdk-pair-ms/op"} {
			b.ReportMetric(float64(spent[k].Microseconds())/1000/float64(b.N), unit)
		}
	})
}
