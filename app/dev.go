package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
)

// DevOptions tune a run of the dev workflow.
type DevOptions struct {
	// ForceUnlock takes the dev lock even from a live-looking holder (with a warning).
	ForceUnlock bool
	// NoDeploy builds and pushes only.
	NoDeploy bool
}

// Dev returns the dev workflow's steps: preflight, metadata, login, build, push, deploy.
func (a *App) Dev(opts DevOptions) []pipeline.Step {
	run := workflow.NewDevRun(a.devParams(opts.ForceUnlock))
	checks := a.devChecks()
	if opts.NoDeploy {
		checks = a.buildChecks()
	}
	steps := []pipeline.Step{
		a.WithWarnings(workflow.WithSecrets(workflow.Preflight(checks), a.envSecrets()...)),
		workflow.Metadata(workflow.MetaOptions{Dir: a.Cfg.Dir, RefuseDirty: !a.opts.AllowDirty}, &run.Meta),
		run.Login(),
		run.Build(),
		run.Push(),
	}
	if !opts.NoDeploy {
		deploy := run.Deploy()
		if t := a.devDeployment(run); t != nil {
			steps = append(steps, workflow.DeploymentStep(t))
			deploy = workflow.WithDeployment(deploy, t)
		}
		steps = append(steps, deploy)
	}
	return steps
}

// devParams wires the configuration and the app's clients into the dev pipeline.
func (a *App) devParams(forceUnlock bool) workflow.DevParams {
	cfg := a.Cfg
	urlHost := a.sshConfig("dev", cfg.Dev.SSH).Host // the HostName behind an ssh_config alias
	if cfg.Dev.Target == config.TargetLocal {
		urlHost = "127.0.0.1"
	}
	return workflow.DevParams{
		Dir:      cfg.Dir,
		Build:    cfg.Build,
		Dev:      cfg.Dev,
		Registry: a.Registry,
		Engine: func() (workflow.DevEngine, error) {
			e, err := a.Engine()
			if err != nil {
				return nil, err
			}
			return e, nil
		},
		Host: func(ctx context.Context) (hostexec.Runner, error) { return a.Host(ctx, config.EnvDev) },
		RemoteURL: func(ctx context.Context) string {
			repo, err := a.Repo(ctx)
			if err != nil {
				return ""
			}
			return repo.RemoteURL(ctx, "origin")
		},
		App:         cfg.App,
		Who:         workflow.Who(a.getenv),
		ForceUnlock: forceUnlock,
		Env:         a.opts.Env,
		URLHost:     urlHost,
	}
}

// devChecks are the dev workflow's preflight checks: nothing is built until all pass.
func (a *App) devChecks() []workflow.Check {
	return append(a.buildChecks(), a.devHostCheck())
}

// devDoctorChecks are doctor's dev checks: the preflight's, and in proxy mode the
// proxy's. The proxy check stays out of the preflight: a stopped or missing proxy is
// what the next deploy repairs, so it must not refuse that deploy.
func (a *App) devDoctorChecks() []workflow.Check {
	checks := a.devChecks()
	if a.Cfg.Dev.Switch == config.SwitchProxy {
		checks = append(checks, a.devProxyCheck())
	}
	return checks
}

// devProxyCheck checks the proxy of dev.switch = "proxy": present and running, the
// host port its own, its admin API answering (none yet passes: the deploy makes it).
func (a *App) devProxyCheck() workflow.Check {
	d := a.Cfg.Dev
	return workflow.Check{Name: fmt.Sprintf("dev proxy %s-proxy on port %s", d.Container, strings.Split(d.Ports, ":")[0]), Run: func(ctx context.Context) error {
		h, err := a.devHost(ctx)
		if err != nil {
			return err
		}
		return h.CheckProxy(ctx)
	}}
}

// buildChecks are the checks of a build and push without a deploy.
func (a *App) buildChecks() []workflow.Check {
	return []workflow.Check{
		a.registryCheck(),
		{Name: "docker engine", Run: func(ctx context.Context) error {
			e, err := a.Engine()
			if err != nil {
				return err
			}
			return e.Ping(ctx)
		}},
		{Name: "Dockerfile", Run: func(ctx context.Context) error {
			b := a.Cfg.Build
			rel := filepath.Join(b.Context, b.Dockerfile)
			st, err := os.Stat(filepath.Join(a.Cfg.Dir, rel))
			switch {
			case errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("%s not found in %s: add a Dockerfile, or set build.dockerfile (relative to build.context) in gantry.toml", rel, a.Cfg.Dir)
			case err != nil:
				return fmt.Errorf("%s: %w", rel, err)
			case !st.Mode().IsRegular():
				return fmt.Errorf("%s is not a file: point build.dockerfile at the Dockerfile", rel)
			}
			return nil
		}},
	}
}

// devHostCheck checks the dev target: over SSH, a trusted host key and a docker CLI
// that reaches its engine; locally, the docker CLI and the engine it talks to.
func (a *App) devHostCheck() workflow.Check {
	d := a.Cfg.Dev
	docker := strings.Fields(d.DockerCommand)
	if len(docker) == 0 {
		docker = []string{"docker"}
	}
	version := hostexec.Command(append(docker, "version", "--format", "{{.Server.Version}}")...)
	if d.Target == config.TargetLocal {
		return workflow.Check{Name: "local docker CLI", Run: func(ctx context.Context) error {
			if _, err := exec.LookPath(docker[0]); err != nil {
				return fmt.Errorf("%s not found on PATH: install the Docker CLI, or set dev.docker in gantry.toml", docker[0])
			}
			h, err := a.Host(ctx, config.EnvDev)
			if err != nil {
				return err
			}
			if _, err := h.Run(ctx, version, hostexec.RunOptions{}); err != nil {
				return fmt.Errorf("%s cannot reach its Docker engine (%v): start dockerd or set DOCKER_HOST", strings.Join(docker, " "), err)
			}
			return nil
		}}
	}
	name := "dev host " + a.sshRoute("dev", d.SSH)
	return workflow.Check{Name: name, Run: func(ctx context.Context) error {
		h, err := a.Host(ctx, config.EnvDev)
		if err != nil {
			var hk *sshhost.HostKeyError
			if errors.As(err, &hk) {
				return err // says what the key is and how to trust it
			}
			if errors.Is(err, config.ErrInvalid) {
				return err // names the field (ssh_config, proxy_jump) and the fix
			}
			return fmt.Errorf("%w; check dev.host, dev.port, dev.user and the key (dev.key, GANTRY_SSH_KEY or ssh-agent), or the Host entry in ssh_config", err)
		}
		if _, err := h.Run(ctx, version, hostexec.RunOptions{}); err != nil {
			return fmt.Errorf("`%s version` fails on the host (%v): install Docker there and let %s use it (the docker group), or set dev.docker = \"sudo docker\"", strings.Join(docker, " "), err, d.User)
		}
		return nil
	}}
}

// envSecrets are the secret values gantry may find in its environment; registering
// them up front keeps them out of every log line, even one a tool prints. Both the
// injected environment and the process's count: the AWS SDK and go-gh read the latter.
func (a *App) envSecrets() []string {
	var out []string
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", registry.EnvPassword, "GITHUB_TOKEN", "GH_TOKEN", sshhost.PassphraseEnv, "GANTRY_SSH_KEY"} {
		for _, v := range []string{a.getenv(k), os.Getenv(k)} {
			if v == "" {
				continue
			}
			out = append(out, v)
			if k == "GANTRY_SSH_KEY" {
				out = append(out, keyLines(v)...)
			}
		}
	}
	return out
}

// keyLines are the lines of a PEM key long enough to mask, should a tool print part of it.
func keyLines(key string) []string {
	var out []string
	for _, line := range strings.Split(key, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 8 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}
