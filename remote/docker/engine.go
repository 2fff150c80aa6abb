// Package docker drives a Docker Engine through its HTTP API: it builds
// images with BuildKit (the classic builder where the engine lacks it), pushes and pulls them with aggregated
// progress, and inspects images and containers. It imports no gantry package.
package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// ErrNotFound reports that an image, container or remote reference does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnauthorized reports that the registry refused the credentials.
var ErrUnauthorized = errors.New("unauthorized")

// Engine is a connection to one Docker Engine; safe for concurrent use.
type Engine struct {
	cli *client.Client
	bk  buildKit
}

// New connects to the engine at host (e.g. "unix:///var/run/docker.sock",
// "tcp://127.0.0.1:2375"); an empty host means the environment
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION).
// No request is made until the first call; use Ping as a preflight.
func New(host string) (*Engine, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %q: %w", host, err)
	}
	return &Engine{cli: cli}, nil
}

// Host is the engine address this Engine talks to.
func (e *Engine) Host() string { return e.cli.DaemonHost() }

// Ping checks that the engine answers; its error says how to fix an unreachable one.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.cli.Ping(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("docker engine at %s: %w", e.Host(), ctxErr)
		}
		return fmt.Errorf("docker engine at %s is not reachable (%v): start dockerd "+
			"(e.g. `sudo systemctl start docker`) or set DOCKER_HOST to a running engine", e.Host(), err)
	}
	return nil
}

// Close releases the engine connection.
func (e *Engine) Close() error { return e.cli.Close() }

// ImageInfo describes a local image.
type ImageInfo struct {
	ID          string
	RepoTags    []string
	RepoDigests []string
	Labels      map[string]string
	Size        int64
	Created     time.Time
}

// ImageInspect describes the local image ref (name:tag, ID or name@digest);
// an absent image gives an error wrapping ErrNotFound.
func (e *Engine) ImageInspect(ctx context.Context, ref string) (ImageInfo, error) {
	resp, err := e.cli.ImageInspect(ctx, ref)
	if err != nil {
		return ImageInfo{}, wrapErr("inspect image "+ref, err)
	}
	info := ImageInfo{
		ID:          resp.ID,
		RepoTags:    resp.RepoTags,
		RepoDigests: resp.RepoDigests,
		Size:        resp.Size,
	}
	if resp.Config != nil {
		info.Labels = resp.Config.Labels
	}
	if resp.Created != "" {
		if t, err := time.Parse(time.RFC3339Nano, resp.Created); err == nil {
			info.Created = t
		}
	}
	return info, nil
}

// Tag gives the local image src the additional name dst.
func (e *Engine) Tag(ctx context.Context, src, dst string) error {
	if err := e.cli.ImageTag(ctx, src, dst); err != nil {
		return wrapErr(fmt.Sprintf("tag %s as %s", src, dst), err)
	}
	return nil
}

// ImageRemove untags ref and deletes the image once no name is left; images used
// by containers are refused. Its untagged parents stay: a build running on the same
// engine may stand on them (the classic builder's cache), and removing them fails it.
func (e *Engine) ImageRemove(ctx context.Context, ref string) error {
	if _, err := e.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: false}); err != nil {
		return wrapErr("remove image "+ref, err)
	}
	return nil
}

// ContainerInfo describes a container, for the environments view.
type ContainerInfo struct {
	ID        string
	Name      string
	Image     string // the image name the container was created from
	ImageID   string
	State     string // created, running, paused, restarting, removing, exited or dead
	Running   bool
	StartedAt time.Time
	Labels    map[string]string
	Health    string // starting, healthy, unhealthy; "" without a healthcheck
}

// ContainerInspect describes the container name (or ID); an absent one gives
// an error wrapping ErrNotFound.
func (e *Engine) ContainerInspect(ctx context.Context, name string) (ContainerInfo, error) {
	resp, err := e.cli.ContainerInspect(ctx, name)
	if err != nil {
		return ContainerInfo{}, wrapErr("inspect container "+name, err)
	}
	var info ContainerInfo
	if resp.ContainerJSONBase != nil {
		info.ID = resp.ID
		info.Name = strings.TrimPrefix(resp.Name, "/")
		info.ImageID = resp.Image
		if st := resp.State; st != nil {
			info.State = string(st.Status)
			info.Running = st.Running
			if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.Year() > 1 {
				info.StartedAt = t
			}
			if st.Health != nil {
				info.Health = string(st.Health.Status)
			}
		}
	}
	if resp.Config != nil {
		info.Image = resp.Config.Image
		info.Labels = resp.Config.Labels
	}
	return info, nil
}

// wrapErr adds op to err and maps engine error classes to this package's sentinels.
func wrapErr(op string, err error) error {
	switch {
	case cerrdefs.IsNotFound(err):
		return &engineError{op: op, kind: ErrNotFound, err: err}
	case cerrdefs.IsUnauthorized(err):
		return &engineError{op: op, kind: ErrUnauthorized, err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// engineError is an engine error that also matches one of the sentinels.
type engineError struct {
	op   string
	kind error
	err  error
}

func (e *engineError) Error() string   { return e.op + ": " + e.err.Error() }
func (e *engineError) Unwrap() []error { return []error{e.kind, e.err} }
