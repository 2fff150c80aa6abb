package registry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// ecrEndpoint is moto_server's URL (ECR API); the test skips (or fails under
// GANTRY_TESTBED_REQUIRED=1) without it.
func ecrEndpoint(t testing.TB) string { return testbed.ECREndpoint(t) }

// registryHost is the Debian docker-registry's host:port (plain http).
func registryHost(t testing.TB) string { return testbed.Registry(t) }

// uniqueName keeps tests that share a peer (and other packages' tests) apart.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// awsTestEnv gives the AWS SDK moto's static credentials and nothing from the machine.
// countingTransport counts requests and the request body bytes actually sent.
type countingTransport struct {
	base     http.RoundTripper
	uploaded atomic.Int64
	mu       sync.Mutex
	requests []string
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, req.Method+" "+req.URL.Path+" "+req.Header.Get("X-Amz-Target"))
	c.mu.Unlock()
	if req.Body != nil && req.Body != http.NoBody {
		r := req.Clone(req.Context())
		r.Body = &countingBody{rc: req.Body, n: &c.uploaded}
		req = r
	}
	return c.base.RoundTrip(req)
}

func (c *countingTransport) count(substr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.requests {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	c.requests = nil
	c.mu.Unlock()
	c.uploaded.Store(0)
}

type countingBody struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

func newCounting() *countingTransport {
	return &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
}

// push writes img to host/repo:tag over the V2 API and returns its digest.
func push(t testing.TB, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// imageSize is what List should report: config plus compressed layers.
func imageSize(t testing.TB, img v1.Image) int64 {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
