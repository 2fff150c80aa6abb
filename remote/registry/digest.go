package registry

import (
	"context"
	"fmt"
)

// ManifestDigester is implemented by every kind in this package: it reads a tag's
// manifest digest over the registry V2 API of Host(), the endpoint docker push writes
// to and docker pull reads from. For ECR, Resolve asks the ECR API instead, which a
// registry.host override (tests, pull-through proxies) may not agree with.
type ManifestDigester interface {
	ManifestDigest(ctx context.Context, tag string) (string, error)
}

// ManifestDigest returns the digest r's registry host serves for tag, falling back to
// Resolve for a Registry that has no V2 view. A missing tag matches ErrNotFound.
func ManifestDigest(ctx context.Context, r Registry, tag string) (string, error) {
	if m, ok := r.(ManifestDigester); ok {
		return m.ManifestDigest(ctx, tag)
	}
	return r.Resolve(ctx, tag)
}

// ManifestDigest reads tag's digest from the registry host over V2.
func (r *ecrRegistry) ManifestDigest(ctx context.Context, tag string) (string, error) {
	c, err := r.v2(ctx)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", tag, err)
	}
	return c.resolve(ctx, tag)
}

// ManifestDigest is Resolve, which for ECR Public already goes over V2.
func (r *ecrPublicRegistry) ManifestDigest(ctx context.Context, tag string) (string, error) {
	return r.Resolve(ctx, tag)
}

// ManifestDigest is Resolve: an oci registry has only the V2 API.
func (r *ociRegistry) ManifestDigest(ctx context.Context, tag string) (string, error) {
	return r.v2.resolve(ctx, tag)
}
