package cli

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/registry/embedded"
	"github.com/bookshop-ops/gantry/ui"
)

// The snapshots benchmarks list from the embedded registry (distribution,
// in-process): 5,000 images fill in seconds there, against minutes on a loaded
// test bed. Run: go test -run '^$' -bench Snapshots -benchtime 1x ./cli/

var benchRepos sync.Map // host, kind and n → repo

// benchRegistry starts an embedded registry whose storage lives as long as b.
func benchRegistry(b *testing.B) string {
	srv, err := embedded.Start(context.Background(), embedded.Options{Dir: b.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv.Addr()
}

// benchRepo is a repository of n distinct small images, or of one image under n tags.
func benchRepo(b *testing.B, host string, n int, distinct bool) string {
	key := fmt.Sprint(host, distinct, n)
	if r, ok := benchRepos.Load(key); ok {
		return r.(string)
	}
	repo := fmt.Sprintf("bench/snapshots-%v-%d", distinct, n)
	base, err := name.NewRepository(host+"/"+repo, name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	layer := static.NewLayer([]byte("x"), types.OCILayer)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	image := func(i int) v1.Image {
		img, err := mutate.AppendLayers(empty.Image, layer)
		if err != nil {
			b.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Created = v1.Time{Time: t0.Add(time.Duration(i) * time.Second)}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			b.Fatal(err)
		}
		return img
	}
	tag := func(i int) string { return fmt.Sprintf("1.%d.%d-SNAPSHOT-%07x", i/1000, i%1000, i) }
	if err := remote.Write(base.Tag(tag(0)), image(0)); err != nil {
		b.Fatal(err)
	}
	desc, err := remote.Get(base.Tag(tag(0)))
	if err != nil {
		b.Fatal(err)
	}
	var g errgroup.Group
	g.SetLimit(16)
	for i := 1; i < n; i++ {
		g.Go(func() error {
			if distinct {
				return remote.Write(base.Tag(tag(i)), image(i))
			}
			return remote.Put(base.Tag(tag(i)), desc)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	benchRepos.Store(key, repo)
	return repo
}

func benchOCI(b *testing.B, host, repo string) registry.Registry {
	b.Setenv(registry.EnvUsername, "")
	b.Setenv(registry.EnvPassword, "")
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	r, err := registry.New(context.Background(), config.Registry{Kind: config.KindOCI, Host: host, Repository: repo}, registry.Options{NoCache: true})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// firstPageTimer records when the listing delivered its first page.
type firstPageTimer struct {
	registry.Registry
	at time.Time
}

func (f *firstPageTimer) List(ctx context.Context, fn func([]registry.Image) error) error {
	return f.Registry.List(ctx, func(p []registry.Image) error {
		if f.at.IsZero() {
			f.at = time.Now()
		}
		return fn(p)
	})
}

// firstRowWriter records when the first row (after the header) was written.
type firstRowWriter struct {
	writes int
	at     time.Time
}

func (w *firstRowWriter) Write(p []byte) (int, error) {
	if w.at.IsZero() {
		w.at = time.Now() // the header and the first page's rows go out in one flush
	}
	w.writes++
	return len(p), nil
}

// BenchmarkSnapshotsFirstRow is how long after the listing's first page the
// first row is printed (target ≤ 100 ms), at 1,000 and 5,000 images, cold.
func BenchmarkSnapshotsFirstRow(b *testing.B) {
	host := benchRegistry(b)
	for _, n := range []int{1000, 5000} {
		repo := benchRepo(b, host, n, true)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var page, row, total time.Duration
			for b.Loop() {
				reg := &firstPageTimer{Registry: benchOCI(b, host, repo)}
				w := &firstRowWriter{}
				start := time.Now()
				if err := writeSnapshots(context.Background(), w, reg, snapshotsOptions{}); err != nil || w.writes < 2 {
					b.Fatalf("%d writes, %v", w.writes, err)
				}
				total += time.Since(start)
				page += reg.at.Sub(start)
				row += w.at.Sub(reg.at)
			}
			n := float64(b.N)
			b.ReportMetric(float64(page.Microseconds())/n/1000, "first-page-ms")
			b.ReportMetric(float64(row.Microseconds())/n/1000, "first-row-after-page-ms")
			b.ReportMetric(float64(total.Microseconds())/n/1000, "all-rows-ms")
		})
	}
}

// heapPeak samples the live heap while fn runs: the peak above what was live before, in MB.
func heapPeak(fn func()) float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak.Store(max(peak.Load(), m.HeapAlloc))
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
	return float64(max(peak.Load(), ms.HeapAlloc)-min(base, max(peak.Load(), ms.HeapAlloc))) / (1 << 20)
}

// BenchmarkSnapshotsMemory is the peak heap of `gantry snapshots --json` and of
// the TUI's listing (every row kept as a ui.Snapshot) at 5,000 tags on one
// digest and at 5,000 distinct images. Target: under 100 MB each. The heap
// includes the in-process registry's own work, so it errs high.
func BenchmarkSnapshotsMemory(b *testing.B) {
	host := benchRegistry(b)
	for _, distinct := range []bool{false, true} {
		kind := "onedigest"
		if distinct {
			kind = "distinct"
		}
		repo := benchRepo(b, host, 5000, distinct)
		b.Run("cli/"+kind+"/5000", func(b *testing.B) {
			var peak float64
			for b.Loop() {
				reg := benchOCI(b, host, repo)
				w := &lineCounter{}
				peak = max(peak, heapPeak(func() {
					if err := writeSnapshots(context.Background(), w, reg, snapshotsOptions{json: true}); err != nil {
						b.Fatal(err)
					}
				}))
				if w.lines != 5000 {
					b.Fatalf("%d JSON lines", w.lines)
				}
			}
			b.ReportMetric(peak, "peak-heap-MB")
		})
		b.Run("tui/"+kind+"/5000", func(b *testing.B) {
			var peak float64
			for b.Loop() {
				reg := benchOCI(b, host, repo)
				var rows []ui.Snapshot
				peak = max(peak, heapPeak(func() {
					l := registry.StartListing(context.Background(), reg, registry.ListOptions{})
					if err := l.Pages(context.Background(), func(p []registry.Image) error {
						for _, img := range p {
							rows = append(rows, toSnapshot(img))
						}
						return nil
					}); err != nil {
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

// lineCounter counts the lines written to it and keeps none.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
