package testbed_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// TestMotoCreatesAreIdempotent repeats each create as an SDK retry after a slow
// success would: the second call finds its effect in place and succeeds.
func TestMotoCreatesAreIdempotent(t *testing.T) {
	c := testbed.MotoECR(t)
	repo := "idem/app-" + testbed.Suffix()
	testbed.CreateECRRepo(t, c, repo, true)
	testbed.CreateECRRepo(t, c, repo, true)

	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	d1, raw := testbed.PutECRImage(t, c, repo, "1.0.0", img)
	d2, _ := testbed.PutECRImage(t, c, repo, "1.0.0", img)
	if d1 != d2 || len(raw) == 0 {
		t.Fatalf("digests %s and %s of the same manifest", d1, d2)
	}
}
