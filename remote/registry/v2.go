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
// base transport (defaultTransport without one).
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
		t = defaultTransport
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
type imageDetail = cachedDetail

// list streams the repository's images in pages of listPageSize tags, in the
// registry's tag order, each page newest first. Requests: the tag list, a HEAD
// per tag whose digest is not cached, and a manifest plus config GET per
// distinct digest whose details are not cached, listJobs at a time over kept-alive
// connections. Details are fetched ahead in tag order, and a page goes out as
// soon as its own digests are known.
func (c *v2Client) list(ctx context.Context, cache *listCache, lo ListOptions, fn func([]Image) error) error {
	repo, err := c.repo()
	if err != nil {
		return err
	}
	p, opts, err := c.puller(ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.repository, err)
	}
	// Read the cache while the registry answers the tag list.
	loaded := make(chan *cacheIndex, 1)
	go func() { loaded <- cache.load() }()
	tags, err := p.List(ctx, repo)
	idx := <-loaded
	if err != nil {
		if isNotFound(err) {
			return nil // nothing pushed yet
		}
		if isAuthError(err) {
			return withKind(ErrUnauthorized, fmt.Errorf("list %s: %w", c.repository, err))
		}
		return fmt.Errorf("list %s: %w", c.repository, err)
	}
	// Every tag's digest first, so each Image can carry all its tags: the cached
	// ones of write-once tags, a HEAD for the rest.
	digests := make([]string, len(tags))
	var head []int
	usedCache := false
	for i, t := range tags {
		if d, ok := idx.Tags[t]; ok && !lo.Refresh && isWriteOnce(t) {
			digests[i] = d
			usedCache = true
			continue
		}
		head = append(head, i)
	}
	if err := c.headAll(ctx, p, repo, tags, head, digests); err != nil {
		return err
	}
	learned := map[string]string{}
	for _, i := range head {
		if isWriteOnce(tags[i]) && idx.Tags[tags[i]] != digests[i] {
			learned[tags[i]] = digests[i] // "" forgets a deleted tag
		}
	}
	// One slice of tags per digest, shared by its images.
	tagsOf := map[string][]string{}
	for i, t := range tags {
		if dg := digests[i]; dg != "" {
			tagsOf[dg] = append(tagsOf[dg], t)
		}
	}
	for dg, ts := range tagsOf {
		tagsOf[dg] = slices.Clip(ts)
	}

	// The digests to fetch, in the order their first tag appears.
	var need []string
	want := map[string]int{}
	for _, dg := range digests {
		if _, cached := idx.Digests[dg]; dg == "" || cached {
			continue
		}
		if _, ok := want[dg]; !ok {
			want[dg] = len(need)
			need = append(need, dg)
		}
	}
	got := make([]imageDetail, len(need))
	ready := make([]chan struct{}, len(need))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	g.Go(func() error {
		defer close(jobs)
		for i := range need {
			select {
			case jobs <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range min(listJobs, len(need)) {
		g.Go(func() error {
			for i := range jobs {
				det, err := c.detail(gctx, p, opts, repo.Digest(need[i]))
				if err != nil {
					return fmt.Errorf("list %s: %s: %w", c.repository, need[i], err)
				}
				got[i] = det
				close(ready[i])
			}
			return nil
		})
	}
	emit := func() error {
		for start := 0; start < len(tags); start += listPageSize {
			end := min(start+listPageSize, len(tags))
			page := make([]Image, 0, end-start)
			for i := start; i < end; i++ {
				dg := digests[i]
				if dg == "" {
					continue
				}
				det, ok := idx.Digests[dg]
				if !ok {
					j := want[dg]
					select {
					case <-ready[j]:
					case <-gctx.Done():
						return nil // the fetch error (or ctx's) is g's
					}
					det = got[j]
				}
				page = append(page, Image{
					Tag: tags[i], Tags: tagsOf[dg], Digest: dg,
					MediaType: det.MediaType, PushedAt: det.Created, Size: det.Size,
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
	err = emit()
	if err != nil {
		// Stop the fetches; what fn returned is the answer.
		_ = stopGroup(g, err)
	} else if err = g.Wait(); err == nil {
		err = ctx.Err()
	}
	// Save what was learned, even from a listing fn stopped early.
	details := map[string]cachedDetail{}
	for i := range need {
		select {
		case <-ready[i]:
			details[need[i]] = got[i]
		default:
		}
	}
	cache.update(learned, details, revalidatedAt(lo, usedCache, err))
	if err == nil && usedCache && lo.Revalidate {
		c.revalidate(cache, idx)
	}
	return err
}

// revalidatedAt is the time a successful listing checked every tag digest: one
// that used no cached digest (a refresh, or a cold cache).
func revalidatedAt(lo ListOptions, usedCache bool, err error) time.Time {
	if err != nil || usedCache {
		return time.Time{}
	}
	return time.Now()
}

// stopGroup waits for g after its context is cancelled by err; errgroup cancels
// on the first error, so return err from a member.
func stopGroup(g *errgroup.Group, err error) error {
	g.Go(func() error { return err })
	return g.Wait()
}

// headAll HEADs tags[i] for each i in which, listJobs at a time, into digests[i]
// ("" for a tag deleted while listing).
func (c *v2Client) headAll(ctx context.Context, p *remote.Puller, repo name.Repository, tags []string, which []int, digests []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listJobs)
	for _, i := range which {
		g.Go(func() error {
			d, err := p.Head(gctx, repo.Tag(tags[i]))
			if err != nil {
				if isNotFound(err) {
					return nil // deleted while listing
				}
				return fmt.Errorf("list %s: %s: %w", c.repository, tags[i], err)
			}
			digests[i] = d.Digest.String()
			return nil
		})
	}
	return g.Wait()
}

// revalidate re-checks the cached tag digests in the background, at most once per
// process and revalidateEvery: snapshot and release tags are write-once, so this
// only catches a tag moved or deleted behind gantry's back.
func (c *v2Client) revalidate(cache *listCache, idx *cacheIndex) {
	if cache == nil || time.Since(idx.Revalidated) < revalidateEvery {
		return
	}
	cache.mu.Lock()
	if cache.started {
		cache.mu.Unlock()
		return
	}
	cache.started = true
	cache.revalidating.Add(1)
	cache.mu.Unlock()
	go func() {
		defer cache.revalidating.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		repo, err := c.repo()
		if err != nil {
			return
		}
		p, _, err := c.puller(ctx)
		if err != nil {
			cache.logf("registry cache: revalidate %s: %v", c.repository, err)
			return
		}
		tags := make([]string, 0, len(idx.Tags))
		for t := range idx.Tags {
			tags = append(tags, t)
		}
		all := make([]int, len(tags))
		for i := range all {
			all[i] = i
		}
		digests := make([]string, len(tags))
		if err := c.headAll(ctx, p, repo, tags, all, digests); err != nil {
			cache.logf("registry cache: revalidate %s: %v", c.repository, err)
			return
		}
		changed := map[string]string{}
		for i, t := range tags {
			if digests[i] != idx.Tags[t] {
				changed[t] = digests[i]
				cache.logf("registry cache: %s:%s now names %s, not the cached %s", c.repository, t, orGone(digests[i]), idx.Tags[t])
			}
		}
		cache.update(changed, nil, time.Now())
	}()
}

func orGone(d string) string {
	if d == "" {
		return "nothing (deleted)"
	}
	return d
}

func (c *v2Client) detail(ctx context.Context, p *remote.Puller, opts []remote.Option, ref name.Digest) (imageDetail, error) {
	d, err := p.Get(ctx, ref)
	if err != nil {
		return imageDetail{}, err
	}
	det := imageDetail{MediaType: string(d.MediaType), Size: d.Size}
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
	det.Size = m.Config.Size
	for _, l := range m.Layers {
		det.Size += l.Size
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return imageDetail{}, fmt.Errorf("config: %w", err)
	}
	det.Created = cf.Created.Time
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
