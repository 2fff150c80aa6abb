package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/registry/embedded"
)

// The listing benchmarks compare gantry with the same work done bare, in one run
// against the test bed's registry and moto, at 1,000 and 5,000 images:
//
//	go test -run '^$' -bench 'List' -benchtime 3x ./remote/registry/
//
// Each iteration times gantry and the baseline back to back (the machine is
// shared, so interleaving keeps the ratio honest) and reports both and their ratio.

var benchSizes = func() []int {
	// GANTRY_BENCH_SIZES=1000 runs one size (filling 5,000 images on a loaded bed takes minutes).
	if v := os.Getenv("GANTRY_BENCH_SIZES"); v != "" {
		var out []int
		for _, f := range strings.Split(v, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err == nil && n > 0 {
				out = append(out, n)
			}
		}
		return out
	}
	return []int{1000, 5000}
}()

// snapshotTag is the write-once tag of image i, as gantry dev names them.
func snapshotTag(i int) string { return fmt.Sprintf("1.%d.%d-SNAPSHOT-%07x", i/1000, i%1000, i) }

// smallImage is image i: one shared 1-byte layer and its own config (so its own
// digest), created i seconds after t0.
func smallImage(b testing.TB, layer v1.Layer, t0 time.Time, i int) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		b.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		b.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: t0.Add(time.Duration(i) * time.Second)}
	cf.Config.Labels = map[string]string{"n": fmt.Sprint(i)}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// fillOCI pushes n small images (distinct) or one image under n tags (!distinct)
// to host/repo with go-containerregistry, 16 at a time.
func fillOCI(b testing.TB, host, repo string, n int, distinct bool) {
	base, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	tr := defaultTransport
	layer := static.NewLayer([]byte("x"), types.OCILayer)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := smallImage(b, layer, t0, 0)
	if err := remote.Write(base.Tag(snapshotTag(0)), first, remote.WithTransport(tr)); err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Get(base.Tag(snapshotTag(0)), remote.WithTransport(tr))
	if err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(16)
	for i := 1; i < n; i++ {
		g.Go(func() error {
			if !distinct {
				return remote.Put(base.Tag(snapshotTag(i)), desc, remote.WithTransport(tr))
			}
			return remote.Write(base.Tag(snapshotTag(i)), smallImage(b, layer, t0, i), remote.WithTransport(tr))
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("fill %s: %v", repo, err)
	}
}

// ociBenchRepos are the filled repositories, by name, once per process.
var (
	ociBenchMu    sync.Mutex
	ociBenchRepos = map[string]string{}
)

func ociBenchRepo(b *testing.B, host, kind string, n int) string {
	ociBenchMu.Lock()
	defer ociBenchMu.Unlock()
	key := fmt.Sprint(kind, n)
	if r, ok := ociBenchRepos[key]; ok {
		return r
	}
	repo := uniqueName(fmt.Sprintf("gantry/bench-%s-%d", kind, n))
	start := time.Now()
	fillOCI(b, host, repo, n, kind == "distinct")
	b.Logf("filled %s (%d tags) in %s", repo, n, time.Since(start).Round(time.Millisecond))
	ociBenchRepos[key] = repo
	return repo
}

func benchOCI(b *testing.B, host, repo, cacheDir string) *ociRegistry {
	b.Setenv(EnvUsername, "")
	b.Setenv(EnvPassword, "")
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	opts := Options{CacheDir: cacheDir, NoCache: cacheDir == ""}
	r, err := New(context.Background(), config.Registry{Kind: config.KindOCI, Host: host, Repository: repo}, opts)
	if err != nil {
		b.Fatal(err)
	}
	return r.(*ociRegistry)
}

func countImages(b *testing.B, r Registry, lo ListOptions) int {
	n := 0
	if err := ListImages(context.Background(), r, lo, func(p []Image) error { n += len(p); return nil }); err != nil {
		b.Fatal(err)
	}
	return n
}

// bareOCI lists host/repo the way gantry's floor is defined, with nothing but
// net/http: the tag list (pages of 1,000), one HEAD per tag, and a manifest and
// config GET per distinct digest, listJobs at a time over kept-alive connections.
// It returns the rows it found.
func bareOCI(ctx context.Context, client *http.Client, host, repo string) (int, error) {
	base := "http://" + host + "/v2/" + repo
	var tags []string
	next := base + "/tags/list?n=1000"
	for next != "" {
		resp, err := client.Get(next)
		if err != nil {
			return 0, err
		}
		var page struct{ Tags []string }
		err = json.NewDecoder(resp.Body).Decode(&page)
		drain(resp)
		if err != nil {
			return 0, err
		}
		tags = append(tags, page.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			u := strings.TrimPrefix(strings.SplitN(l, ";", 2)[0], "<")
			next = "http://" + host + strings.TrimSuffix(u, ">")
		}
	}
	accept := strings.Join([]string{string(types.OCIManifestSchema1), string(types.DockerManifestSchema2), string(types.OCIImageIndex), string(types.DockerManifestList)}, ",")
	digests := make([]string, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listJobs)
	for i, t := range tags {
		g.Go(func() error {
			req, _ := http.NewRequestWithContext(gctx, http.MethodHead, base+"/manifests/"+t, nil)
			req.Header.Set("Accept", accept)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			digests[i] = resp.Header.Get("Docker-Content-Digest")
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var need []string
	for _, d := range digests {
		if !seen[d] {
			seen[d] = true
			need = append(need, d)
		}
	}
	type detail struct {
		size    int64
		created time.Time
	}
	details := make([]detail, len(need))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(listJobs)
	for i, d := range need {
		g.Go(func() error {
			req, _ := http.NewRequestWithContext(gctx, http.MethodGet, base+"/manifests/"+d, nil)
			req.Header.Set("Accept", accept)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			var m v1.Manifest
			err = json.NewDecoder(resp.Body).Decode(&m)
			drain(resp)
			if err != nil {
				return err
			}
			resp, err = client.Get(base + "/blobs/" + m.Config.Digest.String())
			if err != nil {
				return err
			}
			var cf v1.ConfigFile
			err = json.NewDecoder(resp.Body).Decode(&cf)
			drain(resp)
			if err != nil {
				return err
			}
			details[i] = detail{size: m.Config.Size, created: cf.Created.Time}
			for _, l := range m.Layers {
				details[i].size += l.Size
			}
			return nil
		})
	}
	return len(tags), g.Wait()
}

// drain reads the rest of a body before closing it, so the connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// BenchmarkListOCICold is gantry's listing with an empty cache (it fills one)
// against bareOCI. Target: ratio ≤ 1.1.
func BenchmarkListOCICold(b *testing.B) {
	host := registryHost(b)
	for _, n := range benchSizes {
		repo := ociBenchRepo(b, host, "distinct", n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bare := &http.Client{Transport: defaultTransport}
			var tg, tb time.Duration
			for i := 0; b.Loop(); i++ {
				dir, err := os.MkdirTemp(b.TempDir(), "cache")
				if err != nil {
					b.Fatal(err)
				}
				r := benchOCI(b, host, repo, dir)
				ctx := context.Background()
				if i%2 == 0 { // alternate who goes first
					tb += timeBare(b, ctx, bare, host, repo, n)
					tg += timeGantry(b, r, ListOptions{}, n)
				} else {
					tg += timeGantry(b, r, ListOptions{}, n)
					tb += timeBare(b, ctx, bare, host, repo, n)
				}
			}
			reportRatio(b, tg, tb, "bare")
		})
	}
}

func timeGantry(b *testing.B, r Registry, lo ListOptions, want int) time.Duration {
	start := time.Now()
	if got := countImages(b, r, lo); got != want {
		b.Fatalf("gantry listed %d images, want %d", got, want)
	}
	return time.Since(start)
}

func timeBare(b *testing.B, ctx context.Context, c *http.Client, host, repo string, want int) time.Duration {
	start := time.Now()
	got, err := bareOCI(ctx, c, host, repo)
	if err != nil || got != want {
		b.Fatalf("bare listing: %d images, %v", got, err)
	}
	return time.Since(start)
}

func reportRatio(b *testing.B, gantry, base time.Duration, baseName string) {
	n := float64(b.N)
	b.ReportMetric(float64(gantry.Microseconds())/n/1000, "gantry-ms")
	b.ReportMetric(float64(base.Microseconds())/n/1000, baseName+"-ms")
	b.ReportMetric(float64(gantry)/float64(base), "x-"+baseName)
}

// BenchmarkListOCIWarm is gantry's listing from a filled cache (no revalidation
// due) against remote.List, what `crane ls` does. Target: ratio ≤ 2.
func BenchmarkListOCIWarm(b *testing.B) {
	host := registryHost(b)
	for _, n := range benchSizes {
		repo := ociBenchRepo(b, host, "distinct", n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			r := benchOCI(b, host, repo, dir)
			countImages(b, r, ListOptions{Refresh: true}) // fills the cache, records a revalidation
			ref, _ := name.NewRepository(host+"/"+repo, name.Insecure)
			var tg, tc time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				tags, err := remote.List(ref, remote.WithTransport(defaultTransport))
				if err != nil || len(tags) != n {
					b.Fatalf("remote.List: %d tags, %v", len(tags), err)
				}
				tc += time.Since(start)
				tg += timeGantry(b, r, ListOptions{}, n)
			}
			reportRatio(b, tg, tc, "crane-ls")
		})
	}
}

// heapPeak samples the live heap every millisecond while fn runs and returns
// the peak above what was live before, in MB.
func heapPeak(fn func()) float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	runtime.ReadMemStats(&ms)
	p := max(peak.Load(), ms.HeapAlloc)
	if p < base {
		return 0
	}
	return float64(p-base) / (1 << 20)
}

// BenchmarkListOCIMemory reports the peak heap of a cold listing that keeps
// every row (what a front end holds), at 5,000 tags on one digest and at 5,000
// distinct images. Target: well under 100 MB (the CLI and TUI add their rows).
//
// It lists from the embedded registry (distribution, in-process, on disk):
// filling 5,000 images there takes seconds, not the minutes a loaded bed needs,
// and the heap it measures includes the server's own work, so it errs high.
func BenchmarkListOCIMemory(b *testing.B) {
	srv, err := embedded.Start(context.Background(), embedded.Options{Dir: b.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	host := srv.Addr()
	for _, kind := range []string{"onedigest", "distinct"} {
		repo := "gantry/mem-" + kind
		fillOCI(b, host, repo, 5000, kind == "distinct")
		b.Run(kind+"/5000", func(b *testing.B) {
			var peak float64
			for b.Loop() {
				r := benchOCI(b, host, repo, "")
				var rows []Image
				peak = max(peak, heapPeak(func() {
					if err := r.List(context.Background(), func(p []Image) error { rows = append(rows, p...); return nil }); err != nil {
						b.Fatal(err)
					}
				}))
				if len(rows) != 5000 {
					b.Fatalf("%d rows", len(rows))
				}
			}
			b.ReportMetric(peak, "peak-heap-MB")
		})
	}
}

// fillECR puts n distinct small manifests into a new moto repository, 8 at a time.
func fillECR(b *testing.B, c *ecr.Client, n int) string {
	repo := uniqueName(fmt.Sprintf("gantry/bench-ecr-%d", n))
	testbed.CreateECRRepo(b, c, repo, false)
	layer := static.NewLayer([]byte("x"), types.OCILayer)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var g errgroup.Group
	g.SetLimit(8)
	start := time.Now()
	for i := range n {
		g.Go(func() error {
			img := smallImage(b, layer, t0, i)
			raw, err := img.RawManifest()
			if err != nil {
				return err
			}
			_, err = c.PutImage(context.Background(), &ecr.PutImageInput{
				RepositoryName: aws.String(repo), ImageTag: aws.String(snapshotTag(i)),
				ImageManifest: aws.String(string(raw)), ImageManifestMediaType: aws.String(string(types.OCIManifestSchema1)),
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("fill %s: %v", repo, err)
	}
	b.Logf("filled %s (%d images) in %s", repo, n, time.Since(start).Round(time.Millisecond))
	return repo
}

// bareECR is a paginated DescribeImages loop (1,000 a page), keeping every detail.
func bareECR(ctx context.Context, c *ecr.Client, repo string) (int, error) {
	p := ecr.NewDescribeImagesPaginator(c, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repo), MaxResults: aws.Int32(1000),
		Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged},
	})
	var all []ecrtypes.ImageDetail
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		all = append(all, out.ImageDetails...)
	}
	n := 0
	for _, d := range all {
		n += len(d.ImageTags)
	}
	return n, nil
}

// BenchmarkListECR is gantry's ECR listing (sorted across pages) against a bare
// DescribeImages loop (target ratio ≤ 1.1) and, when installed, `aws ecr
// describe-images` (target: gantry ≥ 2× faster).
func BenchmarkListECR(b *testing.B) {
	endpoint := ecrEndpoint(b)
	testbed.MotoEnv(b)
	c := testbed.MotoECR(b)
	for _, n := range benchSizes {
		repo := fillECR(b, c, n)
		r, err := New(context.Background(), config.Registry{Kind: config.KindECR, Region: testbed.MotoRegion, Repository: repo, Endpoint: endpoint}, Options{NoCache: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%d/bare", n), func(b *testing.B) {
			var tg, tb time.Duration
			for b.Loop() {
				start := time.Now()
				if got, err := bareECR(context.Background(), c, repo); err != nil || got != n {
					b.Fatalf("bare: %d, %v", got, err)
				}
				tb += time.Since(start)
				tg += timeGantry(b, r, ListOptions{}, n)
			}
			reportRatio(b, tg, tb, "bare")
		})
		b.Run(fmt.Sprintf("%d/aws-cli", n), func(b *testing.B) {
			awsCLI, err := exec.LookPath("aws")
			if err != nil {
				b.Skip("the aws CLI is not installed")
			}
			var tg, ta time.Duration
			for b.Loop() {
				start := time.Now()
				cmd := exec.Command(awsCLI, "ecr", "describe-images", "--repository-name", repo, "--endpoint-url", endpoint, "--region", testbed.MotoRegion, "--output", "json")
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				// MotoEnv's empty AWS_PROFILE and AWS_SESSION_TOKEN mean "unset" to the SDK, not to the CLI.
				for _, kv := range os.Environ() {
					if k, v, _ := strings.Cut(kv, "="); v != "" || !strings.HasPrefix(k, "AWS_") {
						cmd.Env = append(cmd.Env, kv)
					}
				}
				if err := cmd.Run(); err != nil {
					b.Fatalf("aws ecr describe-images: %v: %s", err, errb.String())
				}
				ta += time.Since(start)
				if got := strings.Count(out.String(), "SNAPSHOT-"); got < n {
					b.Fatalf("aws listed %d tags, want %d", got, n)
				}
				tg += timeGantry(b, r, ListOptions{}, n)
			}
			reportRatio(b, tg, ta, "aws-cli")
		})
	}
}
