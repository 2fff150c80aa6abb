package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bookshop-ops/gantry/workflow"

	"github.com/spf13/cobra"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/meta"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/printer"
	"github.com/bookshop-ops/gantry/remote/sshhost"
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
	opts := app.Options{Headless: g.headless(), AllowDirty: g.allowDirty || !g.headless(), Warn: g.warn, Logf: g.logf, Env: g.env}
	if !g.headless() {
		opts.PromptPassphrase = sshhost.TTYPassphrase // an encrypted key the agent lacks: ask on the terminal
	}
	a, err := app.New(cfg, opts)
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

// workflowRun is one workflow command as its flags ask for it.
type workflowRun struct {
	name string
	// steps builds fresh step instances on every call: a plan and the run that
	// carries it out never share state.
	steps  func() []pipeline.Step
	masker *pipeline.Masker
	// dryRun prints the plan and stops.
	dryRun bool
	// ask shows the plan on the terminal and asks question before running it; the
	// run then executes exactly that plan (a step whose plan went stale stops it).
	ask      bool
	question string
}

// errPlanRefused ends a --dry-run or a confirm whose plan refuses (exit 1).
var errPlanRefused = errors.New("the plan refuses: nothing was changed")

// execute plans, asks and runs a workflow; see workflowRun.
func (g *globals) execute(ctx context.Context, wr workflowRun) error {
	if wr.dryRun {
		format, w, color, err := g.format()
		if err != nil {
			return err
		}
		plan := pipeline.PlanSteps(ctx, wr.name, wr.steps(), wr.masker)
		if err := printer.WritePlan(format, w, plan, color); err != nil {
			return err
		}
		if plan.Refused() {
			return &reportedError{fmt.Errorf("%s: %w", wr.name, errPlanRefused)}
		}
		return nil
	}
	sink, err := g.sink()
	if err != nil {
		return err
	}
	var approved *pipeline.Plan
	if wr.ask {
		plan := pipeline.PlanSteps(ctx, wr.name, wr.steps(), wr.masker)
		w, color := g.colorWriter(g.stderr)
		if err := printer.WritePlan(printer.Plain, w, plan, color); err != nil {
			return err
		}
		if plan.Refused() {
			fmt.Fprintf(g.stderr, "gantry: %s: %v\n", wr.name, errPlanRefused)
			return &reportedError{fmt.Errorf("%s: %w", wr.name, errPlanRefused)}
		}
		if !g.confirm(wr.question) {
			return badInput(fmt.Errorf("%s: not confirmed", wr.name))
		}
		approved = &plan
	}
	r := &pipeline.Runner{Sink: sink, Masker: wr.masker, Approved: approved}
	if _, err := r.Run(ctx, wr.name, wr.steps()); err != nil {
		// The printer has shown the failure; only the exit status is left to set.
		return &reportedError{err}
	}
	return nil
}

// confirm asks a yes/no question on the terminal.
func (g *globals) confirm(question string) bool {
	fmt.Fprintf(g.stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
}

const dryRunHelp = "print the plan (what each step would do, nothing is changed) and exit: 0 when it would run, 1 when it refuses"

func newDevCmd(g *globals) *cobra.Command {
	var opts app.DevOptions
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Build HEAD as X.Y.Z-SNAPSHOT-<sha7>, push it and deploy it as dev-app",
		Long: `dev runs the dev workflow: preflight, metadata, registry login, build, push, deploy.

A re-run after a failure picks up where it stopped: a snapshot already in the registry
is not rebuilt or pushed again.

--dry-run prints what every step would do and changes nothing; it exits 0 when the
plan would run and 1 when a step refuses (the reason says how to fix it).`,
		Example: "  gantry dev --dry-run\n  gantry dev\n  gantry dev --ci                      # in GitHub Actions\n  gantry dev --ci --output json | jq .",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.prepare(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer a.Close()
			return g.execute(cmd.Context(), workflowRun{name: "dev", steps: func() []pipeline.Step { return a.Dev(opts) }, masker: a.Masker(), dryRun: dryRun})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunHelp)
	cmd.Flags().BoolVar(&opts.ForceUnlock, "force-unlock", false, "take the dev deploy lock even from a live holder (warns with holder and age); an expired lease is taken over without it")
	cmd.Flags().BoolVar(&opts.NoDeploy, "no-deploy", false, "build and push only")
	return cmd
}

func newPromoteCmd(g *globals) *cobra.Command {
	var opts app.PromoteOptions
	var yes, dryRun bool
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Release HEAD's snapshot: GitHub release, tag vX.Y.Z, Kubernetes rollout",
		Long: `promote runs the prod workflow: preflight, metadata, find the snapshot built from
HEAD's sources, create the GitHub release, tag the snapshot vX.Y.Z in the registry
(a manifest copy, no layer upload), and roll it out with kubectl over SSH.

A release tag never moves: if vX.Y.Z already names another image, promote stops.

On a terminal (no --ci, no --yes) promote shows its plan (the snapshot, digest, release
and rollout target it will use) and asks; the run then carries out exactly that plan and
stops if it went stale meanwhile. --dry-run prints the plan and changes nothing; it exits
0 when the plan would run and 1 when a step refuses.`,
		Example: "  gantry promote --dry-run\n  gantry promote --dry-run -o json | jq .steps\n  gantry promote\n  gantry promote --snapshot 1.4.2-SNAPSHOT-3f2a9c1\n  gantry promote --ci",
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
			return g.execute(cmd.Context(), workflowRun{
				name: "promote", steps: func() []pipeline.Step { return a.Promote(opts) }, masker: a.Masker(),
				dryRun: dryRun, ask: !yes && g.interactive(),
				question: fmt.Sprintf("Promote to prod as release %s, as planned above?", meta.ReleaseTag(a.Cfg.GitHub.TagFormat, m.Version)),
			})
		},
	}
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "promote this snapshot tag instead of HEAD's")
	cmd.Flags().BoolVar(&opts.ForceUnlock, "force-unlock", false, "take the prod deploy lock even from a live holder (warns with holder and age); an expired lease is taken over without it")
	cmd.Flags().BoolVar(&opts.AllowDowngrade, "allow-downgrade", false, "roll out a version older than the one prod runs (audited)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunHelp)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var forceUnlock, yes, dryRun bool
	cmd := &cobra.Command{
		Use:   "rollback dev|prod",
		Short: "Put the previous version back on dev (previous image) or prod (rollout undo)",
		Long: `rollback puts the previous version back: on dev the previous image kept on the host,
on prod a rollout undo, under the environment's lock, with an audit line.

On a terminal (no --ci, no --yes) rollback shows its plan (what runs now and what it goes
back to) and asks; the run carries out exactly that plan. --dry-run prints the plan and
changes nothing; it exits 0 when the plan would run and 1 when a step refuses.`,
		Example: "  gantry rollback dev --dry-run\n  gantry rollback dev\n  gantry rollback prod --ci",
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(_ *cobra.Command, args []string) error {
			if _, err := config.ParseEnv(args[0]); err != nil {
				return badInput(fmt.Errorf("rollback: %w (gantry rollback dev, or gantry rollback prod)", err))
			}
			return nil
		}),
		ValidArgs: []string{string(config.EnvDev), string(config.EnvProd)},
		RunE: func(cmd *cobra.Command, args []string) error {
			a, _, err := g.prepare(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer a.Close()
			env, err := config.ParseEnv(args[0])
			if err != nil {
				return err
			}
			return g.execute(cmd.Context(), workflowRun{
				name: "rollback " + env.String(), steps: func() []pipeline.Step { return a.Rollback(env, forceUnlock) }, masker: a.Masker(),
				dryRun: dryRun, ask: !yes && g.interactive(),
				question: fmt.Sprintf("Roll back %s as planned above?", env),
			})
		},
	}
	cmd.Flags().BoolVar(&forceUnlock, "force-unlock", false, "take the deploy lock even from a live holder (warns with holder and age)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunHelp)
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
					} else if res.Note != "" {
						fmt.Fprintf(g.stdout, "  ✓ %s: ok (%s)\n", res.Name, res.Note)
					} else {
						fmt.Fprintf(g.stdout, "  ✓ %s\n", res.Name)
					}
					for _, w := range res.Warnings {
						fmt.Fprintf(g.stdout, "    ⚠ warning: %s\n", w)
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
