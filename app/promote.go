package app

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/bookshop-ops/gantry/remote/kubectl"
	"github.com/bookshop-ops/gantry/remote/registry"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/bookshop-ops/gantry/remote/hostexec"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/github"
)

// PromoteOptions are the choices of one `gantry promote`.
type PromoteOptions struct {
	// Snapshot promotes this snapshot tag instead of the one built from HEAD's sources.
	Snapshot string
	// ForceUnlock breaks a prod lock older than prod.lock_stale.
	ForceUnlock bool
	// AllowDowngrade rolls out a version older than the one prod runs (--allow-downgrade);
	// the audit line says so.
	AllowDowngrade bool
}

// snapshotLineages are the branches searched for HEAD's tree after a squash merge.
func (a *App) snapshotLineages() []string {
	b := a.Cfg.Prod.DevBranch
	return []string{"origin/" + b, b}
}

// Promote returns the prod workflow's steps: preflight, metadata, find snapshot,
// release, promote, rollout.
func (a *App) Promote(opts PromoteOptions) []pipeline.Step {
	return workflow.Promote(a.promoteOptions(opts))
}

func (a *App) promoteOptions(opts PromoteOptions) workflow.PromoteOptions {
	return workflow.PromoteOptions{
		Dir:         a.Cfg.Dir,
		RefuseDirty: a.opts.Headless && !a.opts.AllowDirty,
		Checks:      a.promoteChecks(),
		Secrets:     a.promoteSecrets(a.Cfg.GitHub.Host),
		Snapshot:    opts.Snapshot,
		Lineages:    a.snapshotLineages(),
		TagFormat:   a.Cfg.GitHub.TagFormat,
		ReleaseRepo: a.Cfg.GitHub.Repo,
		Registry: func(ctx context.Context) (workflow.PromoteRegistry, error) {
			return a.Registry(ctx)
		},
		GitHub: func(context.Context) (workflow.ReleaseAPI, error) {
			return a.GitHub()
		},
		Repo: func(ctx context.Context) (workflow.GitHistory, error) {
			return a.Repo(ctx)
		},
		Host: func(ctx context.Context) (hostexec.Runner, error) {
			return a.Host(ctx, config.EnvProd)
		},
		Prod:           a.prodTarget(opts.ForceUnlock),
		AllowDowngrade: opts.AllowDowngrade,
		Who:            workflow.Who(a.getenv),
		Deployment:     a.deploymentOptions("prod"),
	}
}

// prodTarget turns the [prod] section into the rollout's target.
func (a *App) prodTarget(forceUnlock bool) workflow.ProdTarget {
	p := a.Cfg.Prod
	return workflow.ProdTarget{
		Kubectl:        kubectl.Words(p.Kubectl),
		Namespace:      p.Namespace,
		HostName:       prodHostName(p.User, p.Host),
		App:            a.Cfg.App,
		Deployment:     p.Deployment,
		Container:      p.Container,
		Manifest:       a.Cfg.Path(p.Manifest),
		PinDigest:      config.Enabled(p.PinDigest, true),
		UndoOnFailure:  config.Enabled(p.UndoOnFailure, true),
		RolloutTimeout: p.RolloutTimeout.Duration,
		Lock:           workflow.LockOptions{Timeout: p.LockTimeout.Duration, Stale: p.LockStale.Duration, Force: forceUnlock},
	}
}

func prodHostName(user, host string) string {
	if host == "" {
		return ""
	}
	if user == "" {
		return host
	}
	return user + "@" + host
}

// promoteSecrets are envSecrets plus a GitHub token found in gh's own config.
func (a *App) promoteSecrets(ghHost string) []string {
	out := a.envSecrets()
	if tok, _ := github.TokenFromEnv(ghHost); tok != "" {
		out = append(out, tok)
	}
	return out
}

// prodKubectl returns kubectl on the prod host.
func (a *App) prodKubectl(ctx context.Context) (kubectl.Client, error) {
	h, err := a.Host(ctx, config.EnvProd)
	if err != nil {
		return kubectl.Client{}, err
	}
	return kubectl.Client{Host: h, Command: kubectl.Words(a.Cfg.Prod.Kubectl), Namespace: a.Cfg.Prod.Namespace}, nil
}

// promoteChecks are the prod workflow's preflight checks; none of them changes anything.
func (a *App) promoteChecks() []workflow.Check {
	return []workflow.Check{
		a.registryCheck(),
		{
			Name: "GitHub token may create releases in " + orUnset(a.Cfg.GitHub.Repo),
			Run: func(ctx context.Context) error {
				gh, err := a.GitHub()
				if err != nil {
					return err
				}
				return gh.CheckReleasePermission(ctx)
			},
		},
		a.sshCheck(),
		a.kubectlCheck(),
		{
			Name: "manifest " + a.Cfg.Prod.Manifest + " is Kubernetes YAML",
			Run: func(ctx context.Context) error {
				_, err := a.prodManifest()
				return err
			},
		},
	}
}

func orUnset(s string) string {
	if s == "" {
		return "(github.repo unset)"
	}
	return s
}

func (a *App) registryCheck() workflow.Check {
	r := a.Cfg.Registry
	return workflow.Check{
		Name: fmt.Sprintf("registry access (%s %s)", r.Kind, r.Repository),
		Inspect: func(ctx context.Context) (string, []string, error) {
			reg, err := a.Registry(ctx)
			if err != nil {
				return "", nil, err
			}
			res, err := registry.Inspect(ctx, reg)
			if err != nil {
				return "", nil, err
			}
			note := ""
			if res.TagMutability != "" {
				note = "tag mutability " + res.TagMutability
			}
			return note, res.Warnings, nil
		},
	}
}

func (a *App) sshCheck() workflow.Check {
	p := a.Cfg.Prod
	name := "SSH to the prod host (prod.host unset)"
	if p.Host != "" {
		name = "SSH to prod " + a.sshRoute("prod", p.SSH) + " with a known host key"
	}
	return workflow.Check{
		Name: name,
		Run: func(ctx context.Context) error {
			h, err := a.Host(ctx, config.EnvProd)
			if err != nil {
				return err
			}
			if _, err := h.Run(ctx, hostexec.Command("true"), hostexec.RunOptions{}); err != nil {
				return fmt.Errorf("run a command on the prod host: %w", err)
			}
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// kubectlCheck asks the cluster, through the configured kubectl, whether it may
// update the deployment, and that the namespace exists unless the manifest creates it.
func (a *App) kubectlCheck() workflow.Check {
	p := a.Cfg.Prod
	return workflow.Check{
		Name: fmt.Sprintf("%s answers on the prod host and may update deployments", p.Kubectl),
		Run: func(ctx context.Context) error {
			k, err := a.prodKubectl(ctx)
			if err != nil {
				return err
			}
			if _, err := k.Run(ctx, hostexec.RunOptions{}, "get", "deployments", "--output", "name"); err != nil {
				return fmt.Errorf("%w; check prod.kubectl (%q) and that the cluster is up", err, p.Kubectl)
			}
			res, err := k.Run(ctx, hostexec.RunOptions{}, "auth", "can-i", "patch", "deployments")
			if err != nil && strings.TrimSpace(res.Stdout) == "no" {
				return fmt.Errorf("kubectl on the prod host may not patch deployments%s; grant its user that permission", inNS(p.Namespace))
			}
			if err != nil {
				return err
			}
			if p.Namespace != "" {
				if objs, merr := a.prodManifest(); merr == nil && createsNamespace(objs, p.Namespace) {
					return nil
				}
				res, err := k.Run(ctx, hostexec.RunOptions{}, "get", "namespace", p.Namespace, "--output", "name")
				if err != nil {
					if strings.Contains(res.Stderr, "(NotFound)") {
						return fmt.Errorf("namespace %s does not exist: create it (%s create namespace %s) or fix prod.namespace", p.Namespace, p.Kubectl, p.Namespace)
					}
					return err
				}
			}
			return nil
		},
	}
}

func inNS(ns string) string {
	if ns == "" {
		return ""
	}
	return " in namespace " + ns
}

func createsNamespace(objs []kubectl.ManifestObject, ns string) bool {
	for _, o := range objs {
		if o.Kind == "Namespace" && o.Name == ns {
			return true
		}
	}
	return false
}

// prodManifest parses the manifest and checks it fits the configured deployment.
func (a *App) prodManifest() ([]kubectl.ManifestObject, error) {
	p := a.Cfg.Prod
	data, err := os.ReadFile(a.Cfg.Path(p.Manifest))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w; set prod.manifest to the app's Kubernetes manifest", p.Manifest, err)
	}
	objs, err := kubectl.ParseManifest(p.Manifest, data)
	if err != nil {
		return nil, err
	}
	if err := kubectl.CheckManifestTarget(p.Manifest, objs, p.Deployment, p.Container, p.Namespace); err != nil {
		return nil, err
	}
	return objs, nil
}

// rollbackProd returns the steps of `gantry rollback prod`: `rollout undo` watched to
// the end, under the prod lock, with an audit line.
func (a *App) rollbackProd(forceUnlock bool) []pipeline.Step {
	return workflow.RollbackProd(workflow.RollbackProdOptions{
		Checks: []workflow.Check{a.sshCheck(), a.kubectlCheck()},
		Host: func(ctx context.Context) (hostexec.Runner, error) {
			return a.Host(ctx, config.EnvProd)
		},
		Prod: a.prodTarget(forceUnlock),
		GitHub: func(context.Context) (workflow.ReleaseAPI, error) {
			return a.GitHub()
		},
		TagFormat: a.Cfg.GitHub.TagFormat,
		Who:       workflow.Who(a.getenv),
	})
}
