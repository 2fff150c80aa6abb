package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/bookshop-ops/gantry/config"

	"github.com/bookshop-ops/gantry/remote/devhost"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

// LogOptions choose which log lines to stream.
type LogOptions struct {
	// Tail is how many of the last lines to start with; 0 or less means all.
	Tail int
	// Since is a duration such as "10m" or "1h" (docker/kubectl --since); "" means no limit.
	Since string
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
	// Pod, for prod, reads one pod instead of the whole deployment.
	Pod string
}

// DevLogCmd is the `docker logs` command that reads the dev container's log.
func (a *App) DevLogCmd(o LogOptions) hostexec.Cmd {
	d := a.Cfg.Dev
	words := append(devhost.DockerWords(d.DockerCommand), "logs")
	words = append(words, logFlags(o)...)
	return hostexec.Command(append(words, d.Container)...)
}

// DevLogs streams the dev container's log (stdout and stderr both) to line until
// ctx ends or, without Follow, the log is read. line is never called concurrently.
func (a *App) DevLogs(ctx context.Context, o LogOptions, line func(string)) error {
	h, err := a.Host(ctx, "dev")
	if err != nil {
		return err
	}
	return streamLog(ctx, h, a.DevLogCmd(o), line, "dev container "+a.Cfg.Dev.Container)
}

// ProdLogArgs are the kubectl arguments that read the prod deployment's (or a pod's) log.
func (a *App) ProdLogArgs(o LogOptions) []string {
	p := a.Cfg.Prod
	args := []string{"logs"}
	if o.Pod != "" {
		args = append(args, o.Pod, "--container", p.Container)
	} else {
		args = append(args, "deploy/"+p.Deployment, "--all-containers", "--prefix")
	}
	return append(args, logFlags(o)...)
}

// ProdLogs streams the prod deployment's log through kubectl on the prod host.
func (a *App) ProdLogs(ctx context.Context, o LogOptions, line func(string)) error {
	k, err := a.prodKubectl(ctx)
	if err != nil {
		return err
	}
	return streamLog(ctx, k.Host, k.Cmd(a.ProdLogArgs(o)...), line, "prod deployment "+a.Cfg.Prod.Deployment)
}

func logFlags(o LogOptions, extra ...string) []string {
	var f []string
	if o.Tail > 0 {
		f = append(f, "--tail", strconv.Itoa(o.Tail))
	}
	if o.Since != "" {
		f = append(f, "--since", o.Since)
	}
	if o.Follow {
		f = append(f, "--follow")
	}
	return append(f, extra...)
}

func streamLog(ctx context.Context, h hostexec.Runner, cmd hostexec.Cmd, line func(string), what string) error {
	_, err := h.Run(ctx, cmd, hostexec.RunOptions{OnStdout: line, OnStderr: line})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // the view closed
	}
	if err != nil {
		return fmt.Errorf("logs of %s: %w", what, err)
	}
	return nil
}

// DevURL is the dev app's address as a browser reaches it ("" when no port is published).
func (a *App) DevURL() string {
	d := a.Cfg.Dev
	port, _, _ := strings.Cut(d.Ports, ":")
	if port == "" {
		return ""
	}
	host := "127.0.0.1"
	if d.Target == config.TargetSSH && d.Host != "" {
		host = d.Host
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// repoURL is the web page of github.repo ("" when it is not set).
func (a *App) repoURL() string {
	g := a.Cfg.GitHub
	if g.Repo == "" {
		return ""
	}
	host := g.Host
	if host == "" {
		host = "github.com"
	}
	return "https://" + host + "/" + g.Repo
}

// ReleaseURL is the GitHub release page of tag.
func (a *App) ReleaseURL(tag string) string {
	if r := a.repoURL(); r != "" && tag != "" {
		return r + "/releases/tag/" + url.PathEscape(tag)
	}
	return ""
}

// CommitURL is the GitHub page of the commit sha.
func (a *App) CommitURL(sha string) string {
	if r := a.repoURL(); r != "" && sha != "" {
		return r + "/commit/" + url.PathEscape(sha)
	}
	return ""
}
