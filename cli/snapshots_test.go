package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/internal/testbed"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// pagedRegistry hands out pages one at a time: the next only once release says so.
type pagedRegistry struct {
	registry.Registry
	pages   [][]registry.Image
	release chan struct{}
	served  int // pages fn accepted
	stopped error
}

func (p *pagedRegistry) Repository() string { return "example/book-shop" }

func (p *pagedRegistry) List(ctx context.Context, fn func([]registry.Image) error) error {
	for i, pg := range p.pages {
		if i > 0 && p.release != nil {
			<-p.release
		}
		if err := fn(pg); err != nil {
			p.stopped = err
			return err
		}
		p.served++
	}
	return nil
}

func fakePage(from, n int) []registry.Image {
	var out []registry.Image
	for i := from; i < from+n; i++ {
		tag := fmt.Sprintf("1.0.%d-SNAPSHOT-%07x", i, i)
		out = append(out, registry.Image{Tag: tag, Tags: []string{tag}, Digest: fmt.Sprintf("sha256:%064x", i), Size: 1000, PushedAt: time.Unix(int64(1e9+i), 0)})
	}
	return out
}

// lockedBuffer is a bytes.Buffer written by the listing and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The rows of a page are printed as soon as it arrives, before the next exists.
func TestSnapshotsStreamPages(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		reg := &pagedRegistry{pages: [][]registry.Image{fakePage(0, 3), fakePage(3, 3)}, release: make(chan struct{})}
		var out lockedBuffer
		done := make(chan error, 1)
		go func() { done <- writeSnapshots(context.Background(), &out, reg, snapshotsOptions{json: asJSON}) }()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "1.0.2-SNAPSHOT") {
			if time.Now().After(deadline) {
				t.Fatalf("json=%v: the first page was not printed while the second was pending:\n%s", asJSON, out.String())
			}
			time.Sleep(time.Millisecond)
		}
		if strings.Contains(out.String(), "1.0.3-SNAPSHOT") {
			t.Fatal("a row of a page not yet listed")
		}
		close(reg.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		want := 7 // header and six rows
		if asJSON {
			want = 6
			var row snapshotJSON
			if err := json.Unmarshal([]byte(lines[5]), &row); err != nil || row.Tag != "1.0.5-SNAPSHOT-0000005" || len(row.Tags) != 1 {
				t.Fatalf("JSON line %q: %+v %v", lines[5], row, err)
			}
		}
		if len(lines) != want {
			t.Fatalf("json=%v: %d lines, want %d:\n%s", asJSON, len(lines), want, out.String())
		}
	}
}

// --limit stops the listing itself, not just the printing.
func TestSnapshotsLimitStopsListing(t *testing.T) {
	reg := &pagedRegistry{pages: [][]registry.Image{fakePage(0, 3), fakePage(3, 3), fakePage(6, 3)}}
	var out bytes.Buffer
	if err := writeSnapshots(context.Background(), &out, reg, snapshotsOptions{json: true, limit: 4}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 || reg.served != 1 || reg.stopped == nil {
		t.Fatalf("%d rows, %d pages served, stopped by %v; want 4 rows and a stop on the second page", n, reg.served, reg.stopped)
	}
}

// `gantry snapshots` against the test registry: the table, JSON lines with
// every tag of a digest, --limit, and a bad --limit exits 2.
func TestSnapshotsAgainstRegistry(t *testing.T) {
	host := testbed.Registry(t)
	repo := fmt.Sprintf("gantry/cli-snapshots-%d", time.Now().UnixNano())
	base, _ := name.NewRepository(host + "/" + repo)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		img := testbed.RandomImage(t, 128, 1, nil, t0.Add(time.Duration(i)*time.Hour))
		if err := remote.Write(base.Tag(fmt.Sprintf("1.0.%d-SNAPSHOT-%07x", i, i)), img); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := remote.Write(base.Tag("v1.0.2"), img); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := appRepo(t, "[project]\nname='book-shop'\nversion='1.0.2'\n", fmt.Sprintf("app = 'book-shop'\n[registry]\nkind = 'oci'\nhost = %q\nrepository = %q\n", host, repo))
	env := map[string]string{"GANTRY_DATA_DIR": t.TempDir(), "DOCKER_CONFIG": t.TempDir(), "HOME": t.TempDir()}
	code, out, errOut := run(t, env, "snapshots", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "TAG") || !strings.HasPrefix(lines[1], "1.0.2-SNAPSHOT-0000002") && !strings.HasPrefix(lines[1], "v1.0.2") {
		t.Fatalf("table:\n%s", out)
	}
	// Warm (from the cache written above) and as JSON lines.
	code, out, errOut = run(t, env, "snapshots", "--json", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := map[string]snapshotJSON{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r snapshotJSON
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		rows[r.Tag] = r
	}
	if r := rows["v1.0.2"]; len(rows) != 4 || len(r.Tags) != 2 || r.Digest != rows["1.0.2-SNAPSHOT-0000002"].Digest || !r.PushedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("JSON rows: %+v", rows)
	}
	code, out, _ = run(t, env, "snapshots", "--json", "--limit", "1", "--refresh", "--dir", dir)
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("--limit 1: exit %d, %q", code, out)
	}
	if code, _, errOut = run(t, env, "snapshots", "--limit", "-1", "--dir", dir); code != ExitBadInput || !strings.Contains(errOut, "--limit") {
		t.Fatalf("--limit -1: exit %d, %s", code, errOut)
	}
}
