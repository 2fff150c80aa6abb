package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// TestProdStatusReadsTheCluster reads what the TUI shows for prod (image, ready and
// desired replicas, last rollout) from the test cluster through the configured kubectl
// over SSH: absent, rolled out, and stuck on a new image.
func TestProdStatusReadsTheCluster(t *testing.T) {
	p := newProdApp(t, func(repo string) string { return ociSection(t, repo) })
	ctx := context.Background()
	if st := p.status(); st.State != "absent" || st.Namespace != p.kube.Namespace || !strings.HasPrefix(st.Host, "root@") {
		t.Fatalf("before any rollout: %+v", st)
	}
	kubectl := func(args ...string) {
		t.Helper()
		if _, err := p.kube.Run(ctx, hostexec.RunOptions{}, args...); err != nil {
			t.Fatal(err)
		}
	}
	good := "registry.test/book-shop:v2.0.1@sha256:" + strings.Repeat("ab", 32)
	kubectl("create", "deployment", "django-app", "--image", good, "--replicas", "3")
	kubectl("annotate", "deployment/django-app", "kubernetes.io/change-cause=gantry promote 2.0.1", "--overwrite")
	kubectl("rollout", "status", "deployment/django-app", "--timeout", "60s")
	// kubectl create names the container after the image; point the config at it.
	t.Setenv("GANTRY_PROD_CONTAINER", "book-shop")
	st := p.status()
	if st.Image != good || st.Version != "2.0.1" || st.Ready != 3 || st.Desired != 3 || st.State != "rolled out" ||
		st.Revision != "1" || st.LastRollout != "revision 1: gantry promote 2.0.1" {
		t.Fatalf("rolled out: %+v", st)
	}
	bad := "registry.test/book-shop-nopull:v2.0.2"
	kubectl("set", "image", "deployment/django-app", "book-shop="+bad)
	deadline := time.Now().Add(time.Minute)
	for {
		st = p.status()
		if st.Updated >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st.Image != bad || st.State != "progressing" || st.Ready != 3 || st.Revision != "2" {
		t.Fatalf("stuck rollout: %+v", st)
	}
}
