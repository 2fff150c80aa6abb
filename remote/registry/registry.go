// Package registry is gantry's view of an image registry: list the images of one
// repository, resolve tags, read image labels, promote a tag without moving layers,
// and log in. One implementation per config.Registry kind: ecr, ecr-public, oci and
// embedded (an OCI registry served in-process). It imports config (for its settings).
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/bookshop-ops/gantry/config"
)

// Image is one tag of one image in the repository.
type Image struct {
	// Tag is the tag this entry is listed under.
	Tag string
	// Tags is every tag on the same digest, Tag included. The images of one digest
	// share this slice (memory stays linear in the rows): read it, never modify it.
	Tags []string
	// Digest is the manifest digest, sha256:...
	Digest string
	// MediaType is the manifest media type.
	MediaType string
	// PushedAt is when the registry received the image (ECR) or the image's creation time (oci).
	PushedAt time.Time
	// Size is the compressed size of the layers and config, in bytes.
	Size int64
}

// TagResult says what a promotion did.
type TagResult struct {
	// Digest is the manifest digest both tags now point at.
	Digest string
	// BytesMoved is how many bytes were uploaded: the manifest, never a layer.
	BytesMoved int64
	// AlreadyDone is true when the new tag was already on the same digest.
	AlreadyDone bool
}

// Registry is one repository in one registry. Implementations are safe for concurrent use.
type Registry interface {
	// Kind is the config kind: ecr, ecr-public, oci or embedded.
	Kind() config.RegistryKind
	// Host is the registry host images are pushed to, e.g. 127.0.0.1:5000. For ecr with
	// neither registry.host nor registry.account_id it comes from AWS: New asks, and if
	// that fails it stays empty until a Login or Check succeeds.
	Host() string
	// Repository is host/repo: the image name without a tag ("" while Host is unknown).
	Repository() string
	// Login returns registry credentials, cached until they are about to expire.
	Login(ctx context.Context) (Credentials, error)
	// List calls fn with each page of images as it arrives; fn's error stops the listing and is returned.
	// Pages are sorted newest first within themselves; ECR sorts across all pages.
	// It may answer from the listing cache (see ListOptions); never use it to decide what to deploy.
	List(ctx context.Context, fn func(page []Image) error) error
	// Resolve returns the digest tag points at, or an error matching ErrNotFound.
	Resolve(ctx context.Context, tag string) (digest string, err error)
	// Labels returns the image config labels of tag.
	Labels(ctx context.Context, tag string) (map[string]string, error)
	// Tag adds newTag to the manifest srcTag points at, uploading no layer.
	// It never moves an existing tag: that is a *TagMovedError.
	Tag(ctx context.Context, srcTag, newTag string) (TagResult, error)
	// Check verifies that the credentials work and the repository exists; its error says what to fix.
	Check(ctx context.Context) error
}

// Options are the inputs besides the config.
type Options struct {
	// DataDir holds the embedded registry's storage (DataDir/registry).
	DataDir string
	// Logf receives diagnostics; nil discards them. Never given a secret.
	Logf func(format string, args ...any)
	// HTTPClient is used for AWS API and registry calls; nil means a default client
	// whose idle connections per host match the listing's concurrency.
	HTTPClient *http.Client
	// CacheDir holds listing caches (CacheDir/<host>/<repo>/index.json); empty means
	// DataDir/cache/registry, and no cache without a DataDir.
	CacheDir string
	// NoCache turns the listing cache off.
	NoCache bool
	// Env looks up the credential variables (default os.LookupEnv). The AWS SDK
	// reads its own variables from the process environment.
	Env func(string) (string, bool)
}

func (o Options) getenv(k string) string {
	lookup := o.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, _ := lookup(k)
	return v
}

// CheckResult is what a registry check learned besides "it works".
type CheckResult struct {
	// TagMutability is ECR's setting for the repository: MUTABLE, IMMUTABLE,
	// IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION; "" for kinds without one.
	TagMutability string
	// Warnings are what to fix that does not stop gantry, each with its fix.
	Warnings []string
}

// Inspector is implemented by kinds whose check learns more than Check says.
type Inspector interface {
	Inspect(ctx context.Context) (CheckResult, error)
}

// Inspect is r.Check, plus what an Inspector reports (for gantry doctor).
func Inspect(ctx context.Context, r Registry) (CheckResult, error) {
	if in, ok := r.(Inspector); ok {
		return in.Inspect(ctx)
	}
	return CheckResult{}, r.Check(ctx)
}

// ListOptions tune one listing.
type ListOptions struct {
	// Refresh ignores the cached tag digests and asks the registry for every tag
	// (digest details, which never change, still come from the cache).
	Refresh bool
	// Revalidate re-checks the cached tag digests in the background after the
	// listing (at most once per process and 10 minutes): for long-lived callers
	// such as the TUI; a CLI run would exit before it finishes.
	Revalidate bool
}

// ListerWith is implemented by the kinds that take ListOptions.
type ListerWith interface {
	ListWith(ctx context.Context, opts ListOptions, fn func(page []Image) error) error
}

// ListImages lists r with opts, falling back to r.List for a Registry without options.
func ListImages(ctx context.Context, r Registry, opts ListOptions, fn func(page []Image) error) error {
	if l, ok := r.(ListerWith); ok {
		return l.ListWith(ctx, opts, fn)
	}
	return r.List(ctx, fn)
}

func (o Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

func (o Options) transport() http.RoundTripper {
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		return o.HTTPClient.Transport
	}
	return defaultTransport
}

// defaultTransport keeps as many idle connections per host as a listing runs
// requests at once: http.DefaultTransport keeps 2, so the other workers would
// open (and drop) a connection per request.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * listJobs
	t.MaxIdleConnsPerHost = 2 * listJobs
	return t
}()

var (
	// ErrNotFound means the tag (or image) does not exist in the repository.
	ErrNotFound = errors.New("image not found")
	// ErrTagExists means a tag already points at a different image; see TagMovedError.
	ErrTagExists = errors.New("tag already exists on another image")
	// ErrRepositoryNotFound means the repository itself does not exist.
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrInvalidTag means a tag is not a valid OCI tag.
	ErrInvalidTag = errors.New("invalid tag")
	// ErrUnauthorized means the registry (or AWS) refused the credentials.
	ErrUnauthorized = errors.New("registry refused the credentials")
	// ErrNoCredentials means no credentials were found (e.g. no AWS credential source).
	ErrNoCredentials = errors.New("no registry credentials")
)

// kindError is an error that matches one of the sentinels above with errors.Is
// while keeping its own message (which already names the problem and the fix).
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// withKind marks err as kind (nil stays nil).
func withKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// TagMovedError refuses to move an existing tag to another image.
type TagMovedError struct {
	// Tag is the tag that already exists.
	Tag string
	// Existing is the digest it points at ("" when the registry would not say).
	Existing string
	// Wanted is the digest the caller asked for.
	Wanted string
}

func (e *TagMovedError) Error() string {
	existing := e.Existing
	if existing == "" {
		existing = "another image"
	}
	return fmt.Sprintf("tag %s already points at %s, not %s: a release tag never moves, release a new version instead", e.Tag, existing, e.Wanted)
}

// Is makes every TagMovedError match ErrTagExists.
func (e *TagMovedError) Is(target error) bool { return target == ErrTagExists }

var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// ValidTag reports whether tag is a valid OCI tag.
func ValidTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return fmt.Errorf("%w %q: use letters, digits, _ . and - (at most 128, not starting with . or -)", ErrInvalidTag, tag)
	}
	return nil
}

// New returns the registry cfg describes. For kind embedded it starts (or joins) the
// in-process registry; close it by type-asserting the result to io.Closer.
func New(ctx context.Context, cfg config.Registry, opts Options) (Registry, error) {
	if cfg.Repository == "" {
		return nil, fmt.Errorf("registry: repository is empty; set registry.repository")
	}
	switch cfg.Kind {
	case config.KindECR:
		return newECR(ctx, cfg, opts)
	case config.KindECRPublic:
		return newECRPublic(ctx, cfg, opts)
	case config.KindOCI:
		return newOCI(cfg, opts)
	case config.KindEmbedded:
		return newEmbedded(ctx, cfg, opts)
	default:
		return nil, fmt.Errorf("registry: unknown kind %q; use ecr, ecr-public, oci or embedded", cfg.Kind)
	}
}
