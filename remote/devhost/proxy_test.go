package devhost

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// TestProxyConfigRoundTrip: the upstream written into the proxy's config tar is the
// one read back, and names the container whose ID it starts.
func TestProxyConfigRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, configTar(caddyConfig("0123456789ab:8000", 3*time.Second))); err != nil {
		t.Fatal(err)
	}
	up, err := upstreamOf(buf.String())
	if err != nil || up != "0123456789ab:8000" {
		t.Fatalf("upstream = %q, %v", up, err)
	}
	if !strings.Contains(string(caddyConfig(up, 3*time.Second)), `"grace_period":"3s"`) || !strings.Contains(string(caddyConfig(up, 0)), `"localhost:2019"`) {
		t.Errorf("config: %s", caddyConfig(up, 3*time.Second))
	}
	cur := &Container{ID: "0123456789abcdef", Name: "/dev-app"}
	next := &Container{ID: "fedcba9876543210", Name: "/dev-app-next"}
	cur.State.Running, next.State.Running = true, true
	proxy := &Container{ID: "aaaa"}
	proxy.State.Running = true
	s := State{Name: "dev-app", Current: cur, Next: next, Proxy: proxy, Upstream: up}
	if s.Live() != cur || s.SwitchNow() != SwitchProxy || !strings.Contains(s.Recovery(), "remove dev-app-next") {
		t.Errorf("proxy on current: live %v, recovery %q", s.Live(), s.Recovery())
	}
	s.Upstream = "fedcba987654:8000"
	if s.Live() != next || !strings.Contains(s.Recovery(), "already sends traffic to dev-app-next") {
		t.Errorf("proxy on next: live %v, recovery %q", s.Live(), s.Recovery())
	}
	s.Proxy = nil
	if s.Live() != cur || s.SwitchNow() != SwitchDirect {
		t.Errorf("direct: live %v", s.Live())
	}
	if _, err := upstreamOf("not a tar"); err == nil {
		t.Error("garbage read as a config")
	}
}
