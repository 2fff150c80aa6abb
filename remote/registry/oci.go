package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Environment variables that give oci registry credentials, before the Docker credential store.
const (
	EnvUsername = "GANTRY_REGISTRY_USERNAME"
	EnvPassword = "GANTRY_REGISTRY_PASSWORD"
)

// ociRegistry is a plain V2 registry; the embedded kind reuses it.
type ociRegistry struct {
	kind   config.RegistryKind
	host   string
	v2     *v2Client
	opts   Options
	static *authn.Basic // from the environment; nil means the Docker credential store
	// anonymous sends no credentials (the embedded registry has no auth).
	anonymous bool
	login     loginCache
	cache     *listCache
}

func newOCI(cfg config.Registry, opts Options) (*ociRegistry, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("registry: kind oci needs registry.host, e.g. host = \"registry.example.com\"")
	}
	r := &ociRegistry{kind: config.KindOCI, host: cfg.Host, opts: opts}
	user, pw := opts.getenv(EnvUsername), opts.getenv(EnvPassword)
	if (user == "") != (pw == "") {
		return nil, fmt.Errorf("registry: set both %s and %s, or neither", EnvUsername, EnvPassword)
	}
	if user != "" {
		r.static = &authn.Basic{Username: user, Password: pw}
	}
	r.v2 = &v2Client{
		repository: cfg.Host + "/" + cfg.Repository,
		insecure:   cfg.Insecure,
		auth:       r.authenticator,
		transport:  opts.transport(),
		loginFix:   fmt.Sprintf("run `docker login %s` or set %s and %s", cfg.Host, EnvUsername, EnvPassword),
	}
	if _, err := r.v2.repo(); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.cache = newListCache(opts.cacheDir(), r.v2.repository, opts.logf)
	return r, nil
}

func (r *ociRegistry) authenticator(ctx context.Context) (authn.Authenticator, error) {
	if r.anonymous {
		return authn.Anonymous, nil
	}
	if r.static != nil {
		return r.static, nil
	}
	reg, err := name.NewRegistry(r.host)
	if err != nil {
		return nil, err
	}
	a, err := authn.Resolve(ctx, authn.DefaultKeychain, reg)
	if err != nil {
		return nil, fmt.Errorf("docker credential store: %w", err)
	}
	return a, nil
}

func (r *ociRegistry) Kind() config.RegistryKind { return r.kind }
func (r *ociRegistry) Host() string              { return r.host }
func (r *ociRegistry) Repository() string        { return r.v2.repository }

// Login returns the credentials gantry would send to the registry; both empty means anonymous.
func (r *ociRegistry) Login(ctx context.Context) (Credentials, error) {
	return r.login.get(ctx, func(ctx context.Context) (Credentials, error) {
		a, err := r.authenticator(ctx)
		if err != nil {
			return Credentials{}, fmt.Errorf("login %s: %w", r.host, err)
		}
		ac, err := authn.Authorization(ctx, a)
		if err != nil {
			return Credentials{}, fmt.Errorf("login %s: %w", r.host, err)
		}
		c := Credentials{Host: r.host, Username: ac.Username, Password: ac.Password}
		if ac.IdentityToken != "" {
			// Docker's convention for identity tokens.
			c.Username, c.Password = "<token>", ac.IdentityToken
		}
		if ac.Auth != "" && c.Username == "" {
			if u, p, err := decodeAWSToken(ac.Auth); err == nil {
				c.Username, c.Password = u, p
			}
		}
		return c, nil
	})
}

func (r *ociRegistry) List(ctx context.Context, fn func([]Image) error) error {
	return r.v2.list(ctx, r.cache, ListOptions{}, fn)
}

// ListWith is List with options (ListOptions.Refresh re-checks every tag).
func (r *ociRegistry) ListWith(ctx context.Context, opts ListOptions, fn func([]Image) error) error {
	return r.v2.list(ctx, r.cache, opts, fn)
}

func (r *ociRegistry) Resolve(ctx context.Context, tag string) (string, error) {
	return r.v2.resolve(ctx, tag)
}

func (r *ociRegistry) Labels(ctx context.Context, tag string) (map[string]string, error) {
	return r.v2.labels(ctx, tag)
}

func (r *ociRegistry) Tag(ctx context.Context, srcTag, newTag string) (TagResult, error) {
	return r.v2.tag(ctx, srcTag, newTag)
}

func (r *ociRegistry) Check(ctx context.Context) error {
	fresh, err := r.v2.check(ctx)
	if err != nil {
		return err
	}
	if fresh {
		r.opts.logf("registry: %s has no images yet; the first push creates it", r.v2.repository)
	}
	return nil
}

// trimScheme turns https://host into host.
func trimScheme(u string) string {
	u = strings.TrimPrefix(u, "https://")
	u = strings.TrimPrefix(u, "http://")
	return strings.TrimSuffix(u, "/")
}
