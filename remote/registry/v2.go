package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

const (
	// listPageSize is how many tags one List page covers.
	listPageSize = 50
	// listJobs bounds the concurrent per-tag lookups of List.
	listJobs = 8
)

// v2Client speaks the registry V2 (OCI distribution) API to one repository.
type v2Client struct {
	// repository is host/repo.
	repository string
	insecure   bool
	auth       func(ctx context.Context) (authn.Authenticator, error)
	transport  http.RoundTripper
	// loginFix tells the user how to fix refused credentials.
	loginFix string
}

// isLoopback reports whether host[:port] names this machine.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (c *v2Client) repo() (name.Repository, error) {
	var opts []name.Option
	if c.insecure || isLoopback(strings.SplitN(c.repository, "/", 2)[0]) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(c.repository, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %w", c.repository, err)
	}
	return r, nil
}

func (c *v2Client) tagRef(tag string) (name.Tag, error) {
	if err := ValidTag(tag); err != nil {
		return name.Tag{}, err
	}
	r, err := c.repo()
	if err != nil {
		return name.Tag{}, err
	}
	return r.Tag(tag), nil
}

// authTransport is the client's authenticator (anonymous without one) and its
// base transport (http.DefaultTransport without one).
func (c *v2Client) authTransport(ctx context.Context) (authn.Authenticator, http.RoundTripper, error) {
	a := authn.Anonymous
	if c.auth != nil {
		var err error
		if a, err = c.auth(ctx); err != nil {
			return nil, nil, err
		}
	}
	t := c.transport
	if t == nil {
		t = http.DefaultTransport
	}
	return a, t, nil
}

func (c *v2Client) options(ctx context.Context) ([]remote.Option, error) {
	a, t, err := c.authTransport(ctx)
	if err != nil {
		return nil, err
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(a),
		remote.WithTransport(t),
		remote.WithUserAgent("gantry"),
	}, nil
}

func (c *v2Client) puller(ctx context.Context) (*remote.Puller, []remote.Option, error) {
	opts, err := c.options(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, nil, err
	}
	return p, append(opts, remote.Reuse(p)), nil
}

// isNotFound reports a registry 404 (unknown manifest, tag or repository).
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

func isNameUnknown(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}

func isAuthError(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	return te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden
}

func (c *v2Client) resolve(ctx context.Context, tag string) (string, error) {
	ref, err := c.tagRef(tag)
	if err != nil {
		return "", err
	}
	p, _, err := c.puller(ctx)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", tag, err)
	}
	d, err := p.Head(ctx, ref)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("resolve %s in %s: %w", tag, c.repository, ErrNotFound)
		}
		return "", fmt.Errorf("resolve %s: %w", tag, err)
	}
	return d.Digest.String(), nil
}

func (c *v2Client) labels(ctx context.Context, tag string) (map[string]string, error) {
	ref, err := c.tagRef(tag)
	if err != nil {
		return nil, err
	}
	p, opts, err := c.puller(ctx)
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", tag, err)
	}
	d, err := p.Get(ctx, ref)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("labels of %s in %s: %w", tag, c.repository, ErrNotFound)
		}
		return nil, fmt.Errorf("labels of %s: %w", tag, err)
	}
	img, err := imageOf(d, opts)
	if err != nil {
		return nil, fmt.Errorf("labels of %s: %w", tag, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("labels of %s: config: %w", tag, err)
	}
	labels := map[string]string{}
	for k, v := range cf.Config.Labels {
		labels[k] = v
	}
	return labels, nil
}

// imageOf returns the image a descriptor names, choosing linux/amd64 (else the first
// image) from an index.
func imageOf(d *remote.Descriptor, opts []remote.Option) (v1.Image, error) {
	if !d.MediaType.IsIndex() {
		return d.Image()
	}
	idx, err := d.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var pick *v1.Descriptor
	for i := range im.Manifests {
		m := &im.Manifests[i]
		if !m.MediaType.IsImage() {
			continue
		}
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
			pick = m
			break
		}
		if pick == nil {
			pick = m
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("index %s holds no image", d.Digest)
	}
	return idx.Image(pick.Digest)
}

// rawManifest is a manifest pushed byte for byte: go-containerregistry sees no
// layers in it, so a tag push uploads the manifest and nothing else.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func (c *v2Client) tag(ctx context.Context, srcTag, newTag string) (TagResult, error) {
	src, err := c.tagRef(srcTag)
	if err != nil {
		return TagResult{}, err
	}
	dst, err := c.tagRef(newTag)
	if err != nil {
		return TagResult{}, err
	}
	// One authenticated transport with pull and push scope serves the read, the check and
	// the write, so the registry is pinged (and a token fetched) once, not per client.
	tr, err := c.pushTransport(ctx, src.Context())
	if err != nil {
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(tr)}
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	// Read the source and look at the new tag at the same time: it must not move.
	var (
		ex      *v1.Descriptor
		headErr error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		ex, headErr = p.Head(ctx, dst)
	}()
	d, err := p.Get(ctx, src)
	<-done
	if err != nil {
		if isNotFound(err) {
			return TagResult{}, fmt.Errorf("tag %s as %s: source %s: %w", srcTag, newTag, srcTag, ErrNotFound)
		}
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	want := d.Digest.String()
	switch {
	case headErr == nil && ex.Digest.String() == want:
		return TagResult{Digest: want, AlreadyDone: true}, nil
	case headErr == nil:
		return TagResult{}, &TagMovedError{Tag: newTag, Existing: ex.Digest.String(), Wanted: want}
	case !isNotFound(headErr):
		return TagResult{}, fmt.Errorf("check tag %s: %w", newTag, headErr)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	// Put writes the manifest alone: no layer, and no second existence check.
	if err := pusher.Put(ctx, dst, rawManifest{b: d.Manifest, mt: d.MediaType}); err != nil {
		// An immutable-tag registry refuses the put; say which image holds the tag.
		if done, cerr := c.existing(ctx, p, dst, want); cerr != nil && errors.Is(cerr, ErrTagExists) {
			return TagResult{}, cerr
		} else if done {
			return TagResult{Digest: want, AlreadyDone: true}, nil
		}
		return TagResult{}, fmt.Errorf("tag %s as %s: %w", srcTag, newTag, err)
	}
	return TagResult{Digest: want, BytesMoved: int64(len(d.Manifest))}, nil
}

// retryStatus are the answers worth a retry, as go-containerregistry's defaults.
var retryStatus = []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// pushTransport returns a transport authenticated for pulling from and pushing to repo,
// with go-containerregistry's retries and gantry's user agent. Being a
// transport.Wrapper, the remote clients use it as it is.
func (c *v2Client) pushTransport(ctx context.Context, repo name.Repository) (http.RoundTripper, error) {
	a, base, err := c.authTransport(ctx)
	if err != nil {
		return nil, err
	}
	inner := transport.NewUserAgent(transport.NewRetry(base, transport.WithRetryStatusCodes(retryStatus...)), "gantry")
	return transport.NewWithContext(ctx, repo.Registry, a, inner, []string{repo.Scope(transport.PushScope)})
}

// existing checks newTag before a put: true when it is already on want, a
// *TagMovedError when it is on another digest, false when it does not exist.
func (c *v2Client) existing(ctx context.Context, p *remote.Puller, dst name.Tag, want string) (bool, error) {
	ex, err := p.Head(ctx, dst)
	switch {
	case err == nil && ex.Digest.String() == want:
		return true, nil
	case err == nil:
		return false, &TagMovedError{Tag: dst.TagStr(), Existing: ex.Digest.String(), Wanted: want}
	case isNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("check tag %s: %w", dst.TagStr(), err)
	}
}

// imageDetail is what List reports about one digest.
type imageDetail struct {
	mediaType string
	size      int64
	created   time.Time
}

func (c *v2Client) list(ctx context.Context, fn func([]Image) error) error {
	repo, err := c.repo()
	if err != nil {
		return err
	}
	p, opts, err := c.puller(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.repository, err)
	}
	tags, err := p.List(ctx, repo)
	if err != nil {
		if isNotFound(err) {
			return nil // nothing pushed yet
		}
		if isAuthError(err) {
			return withKind(ErrUnauthorized, fmt.Errorf("list %s: %w", c.repository, err))
		}
		return fmt.Errorf("list %s: %w", c.repository, err)
	}
	// Every tag's digest first (HEADs are cheap), so each Image can carry all its tags.
	digests := make([]string, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listJobs)
	for i, t := range tags {
		g.Go(func() error {
			d, err := p.Head(gctx, repo.Tag(t))
			if err != nil {
				if isNotFound(err) {
					return nil // deleted while listing
				}
				return fmt.Errorf("list %s: %s: %w", c.repository, t, err)
			}
			digests[i] = d.Digest.String()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	tagsOf := map[string][]string{}
	for i, t := range tags {
		if digests[i] != "" {
			tagsOf[digests[i]] = append(tagsOf[digests[i]], t)
		}
	}
	details := map[string]imageDetail{}
	for start := 0; start < len(tags); start += listPageSize {
		end := min(start+listPageSize, len(tags))
		var need []string
		for _, d := range digests[start:end] {
			if _, ok := details[d]; d != "" && !ok && !slices.Contains(need, d) {
				need = append(need, d)
			}
		}
		got := make([]imageDetail, len(need))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(listJobs)
		for i, dg := range need {
			g.Go(func() error {
				det, err := c.detail(gctx, p, opts, repo.Digest(dg))
				if err != nil {
					return fmt.Errorf("list %s: %s: %w", c.repository, dg, err)
				}
				got[i] = det
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for i, dg := range need {
			details[dg] = got[i]
		}
		page := make([]Image, 0, end-start)
		for i := start; i < end; i++ {
			dg := digests[i]
			if dg == "" {
				continue
			}
			det := details[dg]
			page = append(page, Image{
				Tag: tags[i], Tags: slices.Clone(tagsOf[dg]), Digest: dg,
				MediaType: det.mediaType, PushedAt: det.created, Size: det.size,
			})
		}
		sortNewestFirst(page)
		if len(page) == 0 {
			continue
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func (c *v2Client) detail(ctx context.Context, p *remote.Puller, opts []remote.Option, ref name.Digest) (imageDetail, error) {
	d, err := p.Get(ctx, ref)
	if err != nil {
		return imageDetail{}, err
	}
	det := imageDetail{mediaType: string(d.MediaType), size: d.Size}
	if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
		return det, nil // an artifact: no layers or config to sum
	}
	img, err := imageOf(d, opts)
	if err != nil {
		return imageDetail{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return imageDetail{}, err
	}
	det.size = m.Config.Size
	for _, l := range m.Layers {
		det.size += l.Size
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return imageDetail{}, fmt.Errorf("config: %w", err)
	}
	det.created = cf.Created.Time
	return det, nil
}

// sortNewestFirst orders a page by push time, newest first, then by tag.
func sortNewestFirst(page []Image) {
	slices.SortStableFunc(page, func(a, b Image) int {
		if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Tag, b.Tag)
	})
}

// check verifies the registry answers, accepts the credentials and serves the
// repository. A repository never pushed to is fine: V2 registries create it on push.
func (c *v2Client) check(ctx context.Context) (fresh bool, err error) {
	repo, err := c.repo()
	if err != nil {
		return false, err
	}
	host := repo.RegistryStr()
	p, _, err := c.puller(ctx)
	if err != nil {
		return false, fmt.Errorf("registry %s: %w", host, err)
	}
	l, err := p.Lister(ctx, repo)
	if err == nil && l.HasNext() {
		_, err = l.Next(ctx)
	}
	switch {
	case err == nil:
		return false, nil
	case isNameUnknown(err) || isNotFound(err):
		return true, nil
	case isAuthError(err):
		return false, withKind(ErrUnauthorized, fmt.Errorf("registry %s refused the credentials for %s; %s", host, c.repository, c.loginFix))
	default:
		var ne net.Error
		var oe *net.OpError
		if errors.As(err, &oe) || errors.As(err, &ne) {
			return false, fmt.Errorf("cannot reach registry %s: %w; check registry.host and that the registry is running", host, err)
		}
		return false, fmt.Errorf("registry %s: %w", host, err)
	}
}
