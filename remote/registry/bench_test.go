package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

var (
	benchOnce  sync.Once
	benchRepo  string
	benchRound int
)

// BenchmarkPromoteOCI promotes a 100 MB image to a new tag and reports the bytes each
// promotion uploads, measured on the wire: the manifest only, far below 64 KiB.
func BenchmarkPromoteOCI(b *testing.B) {
	host := registryHost(b)
	ctx := context.Background()
	// The benchmark function runs once per b.N tried: push the image only the first time.
	benchOnce.Do(func() {
		benchRepo = uniqueName("gantry/bench")
		img := testbed.RandomImage(b, 25<<20, 4, nil, time.Now())
		if size := imageSize(b, img); size < 100<<20 {
			b.Fatalf("image is %d bytes, want at least 100 MB", size)
		}
		push(b, host+"/"+benchRepo+":snapshot", img)
	})
	if benchRepo == "" {
		b.Fatal("setup failed")
	}
	repo := benchRepo
	ct := newCounting()
	b.Setenv(EnvUsername, "")
	b.Setenv(EnvPassword, "")
	b.Setenv("DOCKER_CONFIG", b.TempDir())
	r, err := New(ctx, config.Registry{Kind: config.KindOCI, Host: host, Repository: repo}, Options{HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		b.Fatal(err)
	}
	benchRound++
	ct.reset()
	var moved int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := r.Tag(ctx, "snapshot", fmt.Sprintf("v%d.%d.0", benchRound, i))
		if err != nil {
			b.Fatal(err)
		}
		moved += res.BytesMoved
	}
	b.StopTimer()
	up := ct.uploaded.Load()
	b.ReportMetric(float64(up)/float64(b.N), "bytes-uploaded/op")
	b.ReportMetric(float64(moved)/float64(b.N), "bytes-moved/op")
	if up/int64(b.N) >= 64<<10 {
		b.Fatalf("a promotion uploaded %d bytes, want < 64 KiB", up/int64(b.N))
	}
}
