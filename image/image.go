// Package image holds gantry's one image-reference type, Ref, parsed and validated with
// go-containerregistry's name package. It imports no gantry package, so workflow, app
// and remote/* may all use it (ui does not: its display-only split stays its own).
package image

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is an image reference, repository[:tag][@digest], with the repository as written
// (not normalised: "book-shop" stays "book-shop", not index.docker.io/library/book-shop),
// so it compares equal to what Docker and Kubernetes report.
type Ref struct {
	Repository string // e.g. 127.0.0.1:5000/book-shop
	Tag        string // e.g. v1.4.2, "" when none
	Digest     string // e.g. sha256:…, "" when not pinned
}

// Parse reads "repo", "repo:tag", "repo@sha256:…" or "repo:tag@sha256:…".
func Parse(s string) (Ref, error) {
	base, dig, pinned := strings.Cut(s, "@")
	var r Ref
	if pinned {
		d, err := name.NewDigest(s, name.WeakValidation)
		if err != nil {
			return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
		}
		r.Digest = d.DigestStr()
		if dig != r.Digest {
			return Ref{}, fmt.Errorf("image reference %q: bad digest", s)
		}
	}
	t, err := name.NewTag(base, name.WeakValidation, name.WithDefaultTag(""))
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
	}
	r.Tag = t.TagStr()
	r.Repository = base
	if r.Tag != "" {
		r.Repository = strings.TrimSuffix(base, ":"+r.Tag)
	}
	return r, nil
}

// New is the reference to tag in repository, pinned to digest when digest is set.
func New(repository, tag, digest string) Ref {
	return Ref{Repository: repository, Tag: tag, Digest: digest}
}

// String is the reference as Docker and kubectl take it.
func (r Ref) String() string {
	s := r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// WithTag is r with tag instead of its tag; the digest goes, as it named the old tag's image.
func (r Ref) WithTag(tag string) Ref {
	return Ref{Repository: r.Repository, Tag: tag}
}

// Version is the tag without a leading "v": the release version of a vX.Y.Z tag, a
// snapshot tag as it is, "" when there is no tag.
func (r Ref) Version() string { return strings.TrimPrefix(r.Tag, "v") }
