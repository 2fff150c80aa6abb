package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/registry/embedded"
)

// embeddedRegistry is an oci registry served in-process; Close stops it.
type embeddedRegistry struct {
	*ociRegistry
	srv *embedded.Server
}

func newEmbedded(ctx context.Context, cfg config.Registry, opts Options) (*embeddedRegistry, error) {
	if opts.DataDir == "" {
		return nil, errors.New("registry: the embedded registry needs a data directory; set GANTRY_DATA_DIR")
	}
	addr := embedded.DefaultAddr
	if cfg.Host != "" {
		_, port, err := net.SplitHostPort(cfg.Host)
		if err != nil {
			return nil, fmt.Errorf("registry: registry.host %q needs a port for the embedded registry, e.g. host = \"127.0.0.1:5055\"", cfg.Host)
		}
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	srv, err := embedded.Start(ctx, embedded.Options{
		Dir:  filepath.Join(opts.DataDir, "registry"),
		Addr: addr,
		Logf: opts.Logf,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	host := srv.Addr()
	r := &ociRegistry{kind: config.KindEmbedded, host: host, opts: opts, anonymous: true}
	r.v2 = &v2Client{
		repository: host + "/" + cfg.Repository,
		auth:       r.authenticator,
		transport:  opts.transport(),
		loginFix:   "the embedded registry needs no login; is another program serving " + host + "?",
	}
	if _, err := r.v2.repo(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("registry: %w", err)
	}
	return &embeddedRegistry{ociRegistry: r, srv: srv}, nil
}

// Close stops the embedded registry (a registry another gantry serves keeps running).
func (r *embeddedRegistry) Close() error { return r.srv.Close() }
