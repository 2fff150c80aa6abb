package embedded

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func TestStartServesV2AndMarksItself(t *testing.T) {
	s, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Shared() {
		t.Fatal("a fresh server says it is shared")
	}
	resp, err := http.Get("http://" + s.Addr() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" || resp.Header.Get(IdentityHeader) == "" {
		t.Fatalf("GET /v2/: %d %v", resp.StatusCode, resp.Header)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/v2/"); err == nil {
		t.Fatal("still serving after Close")
	}
}

func TestStartRefusesAPortHeldByAnotherProgram(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not a registry"))
	}))
	defer other.Close()
	addr := strings.TrimPrefix(other.URL, "http://")
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: addr})
	if err == nil || !strings.Contains(err.Error(), "in use by another program") || !strings.Contains(err.Error(), "registry.host") {
		t.Fatalf("Start on a busy port: %v", err)
	}
}

func TestStartSharesAnotherGantrysRegistry(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(context.Background(), Options{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	rec := &recorder{}
	second, err := Start(context.Background(), Options{Dir: dir, Addr: first.Addr(), Logf: rec.logf})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Shared() || second.Addr() != first.Addr() {
		t.Fatalf("second: shared=%v addr=%s", second.Shared(), second.Addr())
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + first.Addr() + "/v2/"); err != nil {
		t.Fatalf("closing the shared handle stopped the server: %v", err)
	} else {
		resp.Body.Close()
	}
	if !strings.Contains(rec.all(), "another gantry serves") {
		t.Errorf("no note about sharing: %q", rec.all())
	}
}

func TestStartRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:5055", "192.168.1.10:5055", "example.com:5055", "5055"} {
		if _, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: addr}); err == nil {
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

// TestRegistryFaultsGoToLogf checks that distribution's own logging reaches Logf and
// that a 404 (a tag not pushed yet) is not reported as a fault.
func TestRegistryFaultsGoToLogf(t *testing.T) {
	rec := &recorder{}
	s, err := Start(context.Background(), Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", Logf: rec.logf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr() + "/v2/app/manifests/"
	resp, err := http.Get(base + "absent")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET absent: %d", resp.StatusCode)
	}
	// A manifest naming blobs the registry never received is a client fault it logs.
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[]}`
	req, _ := http.NewRequest(http.MethodPut, base+"bad", bytes.NewBufferString(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT bad manifest: %d", resp.StatusCode)
	}
	logs := rec.all()
	if !strings.Contains(logs, "MANIFEST_BLOB_UNKNOWN") && !strings.Contains(strings.ToLower(logs), "blob unknown") {
		t.Errorf("the fault did not reach Logf: %q", logs)
	}
	if strings.Contains(logs, "absent") || strings.Contains(logs, "MANIFEST_UNKNOWN ") {
		t.Errorf("a 404 was logged as a fault: %q", logs)
	}
}
