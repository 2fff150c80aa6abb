// Package app wires a validated configuration to the real clients of every outside
// system and assembles the workflows' steps from them. The CLI and the TUI share it.
// It imports config, pipeline, workflow and remote/*; never cli, ui or printer.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/git"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/localhost"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// Options tune how the app behaves around the clients.
type Options struct {
	// Headless is true for --ci and non-terminal runs.
	Headless bool
	// AllowDirty lets a run build from a work tree with uncommitted changes.
	AllowDirty bool
	// Warn receives warnings meant for the user (e.g. disabled host key checks).
	Warn func(string)
	// Logf receives debug logs of the clients (never secrets).
	Logf func(format string, args ...any)
	// PromptPassphrase, if set, asks for the passphrase of an encrypted SSH key
	// (interactive CLI runs: sshhost.TTYPassphrase); nil never asks.
	PromptPassphrase func(prompt string) ([]byte, error)
	// Dial, when set, opens the TCP connections to SSH hosts (tests cut them).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Env looks up environment variables (default os.LookupEnv): credentials, SSH
	// key and agent, who deploys. cli passes the environment it was given.
	Env func(string) (string, bool)
}

// App holds the configuration and lazily opened clients. Safe for concurrent use.
type App struct {
	Cfg  *config.Config
	opts Options

	mu      sync.Mutex
	reg     registry.Registry
	engine  *docker.Engine
	gh      *github.Client
	hosts   map[config.Env]hostexec.Runner
	closers []io.Closer

	cmdOnce sync.Once
	cmds    *commandLog
}

// New returns an App for cfg. It opens nothing yet.
func New(cfg *config.Config, opts Options) (*App, error) {
	if cfg == nil {
		return nil, errors.New("no configuration")
	}
	if opts.Warn == nil {
		opts.Warn = func(string) {}
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	return &App{Cfg: cfg, opts: opts, hosts: map[config.Env]hostexec.Runner{}}, nil
}

// getenv is the injected environment's value of k ("" when unset).
func (a *App) getenv(k string) string {
	v, _ := a.opts.Env(k)
	return v
}

// Close closes every client the app opened.
func (a *App) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	a.reg, a.engine, a.gh = nil, nil, nil
	a.hosts = map[config.Env]hostexec.Runner{}
	return errors.Join(errs...)
}

// Registry opens (once) the configured image registry.
func (a *App) Registry(ctx context.Context) (registry.Registry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg != nil {
		return a.reg, nil
	}
	r, err := registry.New(ctx, a.Cfg.Registry, registry.Options{DataDir: a.Cfg.DataDir, Logf: a.opts.Logf, HTTPClient: a.httpClient(), Env: a.opts.Env})
	if err != nil {
		return nil, fmt.Errorf("registry (%s): %w", a.Cfg.Registry.Kind, err)
	}
	if c, ok := r.(io.Closer); ok {
		a.closers = append(a.closers, c)
	}
	a.reg = r
	return r, nil
}

// Engine opens (once) the local Docker engine ($DOCKER_HOST or the default socket).
func (a *App) Engine() (*docker.Engine, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.engine != nil {
		return a.engine, nil
	}
	e, err := docker.New("")
	if err != nil {
		return nil, fmt.Errorf("docker engine: %w", err)
	}
	a.closers = append(a.closers, e)
	a.engine = e
	return e, nil
}

// GitHub opens (once) the GitHub client for github.repo.
func (a *App) GitHub() (*github.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gh != nil {
		return a.gh, nil
	}
	g := a.Cfg.GitHub
	if g.Repo == "" {
		return nil, &config.FieldError{Field: "github.repo", Problem: "is not set", Fix: "set it to owner/name of the app's repository (or GANTRY_GITHUB_REPO; GitHub Actions sets GITHUB_REPOSITORY)"}
	}
	// New picks the token for g.Host as gh does (and names its source in
	// errors); rate-limit waits show in the debug log.
	c, err := github.New(github.Options{Repo: g.Repo, Host: g.Host, APIURL: g.APIURL, Logf: a.opts.Logf,
		WrapTransport: func(next http.RoundTripper) http.RoundTripper { return loggingTransport{next: next, log: a.cmdLog()} }})
	if err != nil {
		return nil, err
	}
	a.gh = c
	return c, nil
}

// Repo opens the app's git repository.
func (a *App) Repo(ctx context.Context) (*git.Repo, error) {
	return git.Open(ctx, a.Cfg.Dir)
}

// sshConfig turns a config section into an SSH client config. Key text may come
// from GANTRY_SSH_KEY (as a CI secret would provide it) instead of a file. The host
// is looked up in ssh_config (Host aliases, HostName, User, Port, IdentityFile,
// ProxyJump, ProxyCommand, ...); keys the user set in gantry.toml or GANTRY_* win.
// A problem with ssh_config is in Config.Invalid (Dial returns it).
func (a *App) sshConfig(field string, s config.SSH) sshhost.Config {
	c, _ := a.resolveSSH(field, s)
	return c
}

// resolveSSH is sshConfig plus the ssh_config file(s) the settings came from
// ("" when none applied), for doctor.
func (a *App) resolveSSH(field string, s config.SSH) (sshhost.Config, string) {
	c := sshhost.Config{
		Host:                  s.Host,
		Port:                  s.Port,
		User:                  s.User,
		KeyName:               field + ".key",
		KeyFile:               expandHome(s.Key),
		KnownHosts:            expandHome(s.KnownHosts),
		GlobalKnownHosts:      []string{"/etc/ssh/ssh_known_hosts"},
		InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
		UseAgent:              a.getenv("SSH_AUTH_SOCK") != "",
		AgentSocket:           a.getenv("SSH_AUTH_SOCK"),
		Warn:                  a.opts.Warn,
		PassphrasePrompt:      a.opts.PromptPassphrase,
	}
	if k := a.getenv("GANTRY_SSH_KEY"); k != "" {
		c.KeyPEM = []byte(k)
	}
	if p := a.getenv(sshhost.PassphraseEnv); p != "" {
		c.Passphrase = []byte(p)
	}
	invalid := func(key string, err error) (sshhost.Config, string) {
		c.Invalid = &config.FieldError{Field: field + "." + key, Problem: err.Error(),
			Fix: "fix the file, or set " + field + ".ssh_config = \"false\" to ignore ssh_config"}
		return c, ""
	}
	var files, system []string
	switch s.SSHConfig {
	case config.SSHConfigOff:
	case "":
		for _, f := range sshhost.DefaultSSHConfigFiles() {
			if f == sshhost.SystemSSHConfig {
				system = append(system, f)
			} else {
				files = append(files, f)
			}
		}
	default:
		files = []string{expandHome(s.SSHConfig)}
	}
	sc, err := sshhost.LoadSSHConfigLenient(files, system, a.opts.Warn)
	if err != nil {
		return invalid("ssh_config", err)
	}
	h, err := sc.Lookup(s.Host)
	if err != nil {
		return invalid("ssh_config", err)
	}
	if h.HostName != "" {
		c.Host = h.HostName
	}
	c.HostKeyAlias = h.HostKeyAlias
	if !s.IsSet("port") && h.Port != 0 {
		c.Port = h.Port
	}
	if !s.IsSet("user") && h.User != "" {
		c.User = h.User
	}
	if !s.IsSet("key") && len(h.IdentityFiles) > 0 {
		c.KeyFiles = h.IdentityFiles
		c.KeyName = "IdentityFile"
	}
	c.IdentitiesOnly = h.IdentitiesOnly
	if !s.IsSet("known_hosts") && h.KnownHosts != "" {
		c.KnownHosts = h.KnownHosts
	}
	if h.ServerAliveInterval != 0 {
		c.KeepAlive = h.ServerAliveInterval
	}
	c.KeepAliveCountMax = h.ServerAliveCountMax
	jump := h.ProxyJump
	if s.IsSet("proxy_jump") {
		jump = s.ProxyJump
	} else if jump == "" && h.ProxyCommand != "" {
		c.ProxyCommand = h.ProxyCommand
	}
	if jump != "" {
		base := c
		base.KeyName = field + ".key"
		if c.Jumps, err = sc.ResolveJumps(jump, base); err != nil {
			key := "ssh_config"
			if s.IsSet("proxy_jump") {
				key = "proxy_jump"
			}
			return invalid(key, err)
		}
	}
	return c, strings.Join(h.Files(), ", ")
}

// sshRoute says where an environment's SSH connection goes and why, for doctor:
// "devbox → 10.0.1.5:2222 as ec2-user via ec2-user@bastion:22 (from ~/.ssh/config)".
func (a *App) sshRoute(field string, s config.SSH) string {
	c, from := a.resolveSSH(field, s)
	if c.Invalid != nil {
		return fmt.Sprintf("%s@%s:%d", s.User, s.Host, s.Port)
	}
	route := c.Route()
	if c.Host != s.Host {
		route = s.Host + " → " + route
	}
	if from != "" {
		if home, err := os.UserHomeDir(); err == nil && strings.HasPrefix(from, home+"/") {
			from = strings.ReplaceAll(from, home+"/", "~/")
		}
		route += " (from " + from + ")"
	}
	return route
}

// Warnings are what the user must know on every run about the configuration's
// hosts (a host key that is not checked); the TUI shows them in its header and each
// workflow's preflight plan carries them as warnings.
func (a *App) Warnings() []string {
	var out []string
	if a.Cfg.Dev.Target != config.TargetLocal && a.Cfg.Dev.InsecureIgnoreHostKey {
		out = append(out, fmt.Sprintf("dev.insecure_ignore_host_key = true: the host key of %s is not checked, anyone on the network path can impersonate the dev host", a.Cfg.Dev.Host))
	}
	if a.Cfg.Prod.Host != "" && a.Cfg.Prod.InsecureIgnoreHostKey {
		out = append(out, fmt.Sprintf("prod.insecure_ignore_host_key = true: the host key of %s is not checked, anyone on the network path can impersonate the prod host", a.Cfg.Prod.Host))
	}
	return out
}

// WithWarnings adds the app's Warnings to step's plan, so the runner reports each as
// a Warning event (::warning:: under Actions, a JSON record, a plain line) every run.
func (a *App) WithWarnings(step pipeline.Step) pipeline.Step {
	warns := a.Warnings()
	if len(warns) == 0 {
		return step
	}
	return pipeline.NewStep(step.Name(), func(ctx context.Context) (pipeline.StepPlan, error) {
		p, err := step.Plan(ctx)
		if err != nil {
			return p, err
		}
		for _, w := range warns {
			p = p.Warn("%s", w)
		}
		return p, nil
	}, step.Run)
}

// Host returns (once per environment) the command runner of "dev" or "prod":
// one SSH connection reused by every command, or this machine for dev.target = local.
func (a *App) Host(ctx context.Context, env config.Env) (hostexec.Runner, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.hosts[env]; ok {
		return h, nil
	}
	var cfg sshhost.Config
	switch env {
	case config.EnvDev:
		if a.Cfg.Dev.Target == config.TargetLocal {
			h := a.logged(localhost.Host{}, "dev (local)")
			a.hosts[env] = h
			return h, nil
		}
		cfg = a.sshConfig("dev", a.Cfg.Dev.SSH)
	case config.EnvProd:
		if a.Cfg.Prod.Host == "" {
			return nil, &config.FieldError{Field: "prod.host", Problem: "is not set", Fix: "set it to the host that runs microk8s (or GANTRY_PROD_HOST)"}
		}
		cfg = a.sshConfig("prod", a.Cfg.Prod.SSH)
	default:
		return nil, fmt.Errorf("unknown environment %q", env)
	}
	if a.opts.Dial != nil {
		cfg.DialContext = a.opts.Dial
	}
	// A dropped connection is dialled again, so clean-up after a cut-off deploy
	// (previous container back, lock freed) still reaches the host.
	c, err := sshhost.DialRedialing(ctx, cfg)
	if err != nil {
		return nil, &HostError{Env: env, Err: err}
	}
	a.closers = append(a.closers, c)
	h := a.logged(c, string(env)+" "+cfg.User+"@"+cfg.Host)
	a.hosts[env] = h
	return h, nil
}

// HostError is a failure to connect to an environment's host.
type HostError struct {
	Env config.Env
	Err error
}

func (e *HostError) Error() string { return "ssh " + string(e.Env) + ": " + e.Err.Error() }

// Unwrap returns the connection error.
func (e *HostError) Unwrap() error { return e.Err }

func expandHome(p string) string {
	if len(p) >= 2 && p[:2] == "~/" {
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}

// Checks returns the preflight checks of a workflow ("dev" or "promote").
func (a *App) Checks(workflow string) []workflow.Check {
	switch workflow {
	case "dev":
		return a.devDoctorChecks()
	case "promote":
		return a.promoteChecks()
	}
	return nil
}
