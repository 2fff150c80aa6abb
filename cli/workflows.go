package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/spf13/cobra"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
)

// prepare loads config and metadata up front, so bad input exits 2 before anything starts.
func (g *globals) prepare(ctx context.Context, needMeta bool) (*app.App, meta.Meta, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, meta.Meta{}, err
	}
	var m meta.Meta
	if needMeta {
		m, err = meta.Read(ctx, cfg.Dir)
		if err != nil {
			return nil, m, badInput(err)
		}
		if m.Dirty && g.headless() && !g.allowDirty {
			return nil, m, badInput(fmt.Errorf("%w in %s (%s): a headless run refuses them so the image matches commit %s; commit or stash them, or pass --allow-dirty",
				workflow.ErrDirty, cfg.Dir, strings.Join(firstN(m.Changes, 5), ", "), m.ShortSHA))
		}
	}
	a, err := app.New(cfg, app.Options{Headless: g.headless(), AllowDirty: g.allowDirty || !g.headless(), Warn: g.warn})
	if err != nil {
		return nil, m, badInput(err)
	}
	return a, m, nil
}

func (g *globals) headless() bool { return !g.interactive() }

func (g *globals) warn(msg string) { fmt.Fprintf(g.stderr, "gantry: warning: %s\n", msg) }

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// runSteps runs a workflow through the headless printer and maps the result to an exit status.
func (g *globals) runSteps(ctx context.Context, workflow string, steps []pipeline.Step) error {
	sink, err := g.sink()
	if err != nil {
		return err
	}
	_, err = pipeline.Run(ctx, workflow, steps, sink)
	if err != nil {
		// The printer has shown the failure; only the exit status is left to set.
		return &reportedError{err}
	}
	return nil
}

// confirm asks a yes/no question on the terminal; headless runs never ask.
func (g *globals) confirm(question string) bool {
	if g.headless() {
		return true
	}
	fmt.Fprintf(g.stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}

func newDevCmd(g *globals) *cobra.Command {
	var opts app.DevOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Build HEAD as X.Y.Z-SNAPSHOT-<sha7>, push it and deploy it as dev-app",
		Long: `dev runs the dev workflow: preflight, metadata, registry login, build, push, deploy.

A re-run after a failure picks up where it stopped: a snapshot already in the registry
is not rebuilt or pushed again.`,
		Example: "  gantry dev\n  gantry dev --ci                      # in GitHub Actions\n  gantry dev --ci --output json | jq .",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.prepare(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer a.Close()
			return g.runSteps(cmd.Context(), "dev", a.Dev(opts))
		},
	}
	cmd.Flags().BoolVar(&opts.ForceUnlock, "force-unlock", false, "break a deploy lock older than dev.lock_stale")
	cmd.Flags().BoolVar(&opts.NoDeploy, "no-deploy", false, "build and push only")
	return cmd
}

func newPromoteCmd(g *globals) *cobra.Command {
	var opts app.PromoteOptions
	var yes bool
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Release HEAD's snapshot: GitHub release, tag vX.Y.Z, Kubernetes rollout",
		Long: `promote runs the prod workflow: preflight, metadata, find the snapshot built from
HEAD's sources, create the GitHub release, tag the snapshot vX.Y.Z in the registry
(a manifest copy, no layer upload), and roll it out with kubectl over SSH.

A release tag never moves: if vX.Y.Z already names another image, promote stops.`,
		Example: "  gantry promote\n  gantry promote --snapshot 1.4.2-SNAPSHOT-3f2a9c1\n  gantry promote --ci",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Snapshot != "" {
				if err := meta.ValidateTag(opts.Snapshot); err != nil {
					return badInput(fmt.Errorf("--snapshot: %w", err))
				}
			}
			a, m, err := g.prepare(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer a.Close()
			if !yes && !g.confirm(fmt.Sprintf("Promote %s to prod as release %s?", orDefault(opts.Snapshot, m.ImageTag), meta.ReleaseTag(a.Cfg.GitHub.TagFormat, m.Version))) {
				return badInput(fmt.Errorf("promote: not confirmed"))
			}
			return g.runSteps(cmd.Context(), "promote", a.Promote(opts))
		},
	}
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "promote this snapshot tag instead of HEAD's")
	cmd.Flags().BoolVar(&opts.ForceUnlock, "force-unlock", false, "break a deploy lock older than prod.lock_stale")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newRollbackCmd(g *globals) *cobra.Command {
	var forceUnlock bool
	cmd := &cobra.Command{
		Use:       "rollback dev|prod",
		Short:     "Put the previous version back on dev (previous image) or prod (rollout undo)",
		Example:   "  gantry rollback dev\n  gantry rollback prod --ci",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"dev", "prod"},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.prepare(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer a.Close()
			if !g.confirm(fmt.Sprintf("Roll back %s to the previous version?", args[0])) {
				return badInput(fmt.Errorf("rollback: not confirmed"))
			}
			return g.runSteps(cmd.Context(), "rollback "+args[0], a.Rollback(args[0], forceUnlock))
		},
	}
	cmd.Flags().BoolVar(&forceUnlock, "force-unlock", false, "break a stale deploy lock")
	return cmd
}

func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Run the preflight checks of both workflows and say how to fix each failure",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.prepare(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer a.Close()
			failed := 0
			for _, wf := range []string{"dev", "promote"} {
				fmt.Fprintf(g.stdout, "%s\n", wf)
				for _, res := range workflow.RunChecks(cmd.Context(), a.Checks(wf)) {
					if res.Err != nil {
						failed++
						fmt.Fprintf(g.stdout, "  ✗ %s: %v\n", res.Name, res.Err)
					} else {
						fmt.Fprintf(g.stdout, "  ✓ %s\n", res.Name)
					}
				}
			}
			if failed > 0 {
				return &reportedError{fmt.Errorf("%d check(s) failed", failed)}
			}
			fmt.Fprintln(g.stdout, "all checks passed")
			return nil
		},
	}
}

func newSnapshotsCmd(g *globals) *cobra.Command {
	var o snapshotsOptions
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List the image tags in the configured registry as they arrive, newest first within each page",
		Long: "List the image tags in the configured registry. Rows are printed page by page as the registry answers " +
			"(ECR: newest push first across all pages). Digest details and the digests of release and snapshot tags " +
			"are cached under the data dir; --refresh asks the registry for every tag again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.limit < 0 {
				return badInput(fmt.Errorf("--limit %d: give a positive number of rows, or 0 for all", o.limit))
			}
			a, _, err := g.prepare(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer a.Close()
			return printSnapshots(cmd.Context(), g, a, o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON lines, one image per line")
	cmd.Flags().IntVar(&o.limit, "limit", 0, "stop after `N` rows (0: all)")
	cmd.Flags().BoolVar(&o.refresh, "refresh", false, "re-check every tag's digest instead of using the listing cache")
	return cmd
}
