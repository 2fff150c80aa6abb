package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/internal/testbed"
)

func newEmbeddedTest(t *testing.T, dataDir, host string, logs *logRecorder) Registry {
	t.Helper()
	r, err := New(context.Background(), config.Registry{Kind: config.KindEmbedded, Repository: "book-shop", Host: host}, Options{DataDir: dataDir, Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func closeRegistry(t *testing.T, r Registry) {
	t.Helper()
	c, ok := r.(io.Closer)
	if !ok {
		t.Fatalf("%T is not an io.Closer", r)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestEmbeddedPersistsAcrossRuns(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	logs := &logRecorder{}
	// Port 0 picks a free port; gantry itself uses the fixed default 127.0.0.1:5055.
	r := newEmbeddedTest(t, data, "127.0.0.1:0", logs)
	if r.Kind() != "embedded" || !strings.HasPrefix(r.Host(), "127.0.0.1:") || r.Host() == "127.0.0.1:0" || r.Repository() != r.Host()+"/book-shop" {
		t.Fatalf("kind %s host %s repository %s", r.Kind(), r.Host(), r.Repository())
	}
	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check on a fresh embedded registry: %v", err)
	}
	if c, err := r.Login(ctx); err != nil || !c.Anonymous() || c.Host != r.Host() {
		t.Fatalf("Login = %v %v, want anonymous", c, err)
	}
	img := testbed.RandomImage(t, 1024, 1, map[string]string{"org.opencontainers.image.revision": "feed123"}, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	d := push(t, r.Repository()+":1.0.0-SNAPSHOT-feed123", img)
	imgs, _ := collect(t, r)
	if len(imgs) != 1 || imgs[0].Digest != d || imgs[0].Size != imageSize(t, img) {
		t.Fatalf("List = %+v", imgs)
	}
	if res, err := r.Tag(ctx, "1.0.0-SNAPSHOT-feed123", "v1.0.0"); err != nil || res.Digest != d {
		t.Fatalf("Tag = %+v %v", res, err)
	}
	if l, err := r.Labels(ctx, "v1.0.0"); err != nil || l["org.opencontainers.image.revision"] != "feed123" {
		t.Fatalf("Labels = %v %v", l, err)
	}
	if _, err := r.Resolve(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve absent: %v", err)
	}
	host := r.Host()
	closeRegistry(t, r)
	if _, err := r.Resolve(ctx, "v1.0.0"); err == nil {
		t.Fatal("the registry still answers after Close")
	}

	// A later gantry run on the same data directory sees the same images.
	r2 := newEmbeddedTest(t, data, host, logs)
	defer closeRegistry(t, r2)
	if r2.Host() != host {
		t.Fatalf("second run on %s, want %s", r2.Host(), host)
	}
	imgs, _ = collect(t, r2)
	if m := byTag(imgs); len(imgs) != 2 || m["v1.0.0"].Digest != d || m["1.0.0-SNAPSHOT-feed123"].Digest != d {
		t.Fatalf("after restart List = %+v", imgs)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, l := range logs.lines {
		if strings.Contains(l, "error") {
			t.Errorf("registry logged an error: %s", l)
		}
	}
}

func TestEmbeddedJoinsAnotherGantrysRegistry(t *testing.T) {
	ctx := context.Background()
	logs := &logRecorder{}
	first := newEmbeddedTest(t, t.TempDir(), "127.0.0.1:0", logs)
	defer closeRegistry(t, first)
	img := testbed.RandomImage(t, 256, 1, nil, time.Now())
	d := push(t, first.Repository()+":snap", img)

	// The TUI and a CLI run at once: the second one uses the first one's registry.
	second := newEmbeddedTest(t, t.TempDir(), first.Host(), logs)
	if second.Host() != first.Host() {
		t.Fatalf("second on %s, first on %s", second.Host(), first.Host())
	}
	if got, err := second.Resolve(ctx, "snap"); err != nil || got != d {
		t.Fatalf("second Resolve = %s %v", got, err)
	}
	closeRegistry(t, second)
	if got, err := first.Resolve(ctx, "snap"); err != nil || got != d {
		t.Fatalf("closing the joined handle stopped the first registry: %s %v", got, err)
	}
}

func TestEmbeddedNeedsDataDir(t *testing.T) {
	_, err := New(context.Background(), config.Registry{Kind: config.KindEmbedded, Repository: "x"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "GANTRY_DATA_DIR") {
		t.Fatalf("New without a data dir: %v", err)
	}
}
