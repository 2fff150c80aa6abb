package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/printer"
)

// Version is gantry's own version, set at build time.
var Version = "dev"

// globals are the flags every command shares.
type globals struct {
	dir        string
	configFile string
	ci         bool
	output     string
	allowDirty bool
	noColor    bool
	debug      string

	// debugFile and debugLog are the --debug file of a headless command (see debug.go).
	debugFile *os.File
	debugLog  *log.Logger

	stdout, stderr io.Writer
	stdin          io.Reader
	env            func(string) (string, bool)
}

func (g *globals) getenv(k string) string {
	v, _ := g.env(k)
	return v
}

// interactive reports whether gantry may prompt and draw: a terminal on both ends and no --ci.
func (g *globals) interactive() bool {
	if g.ci || g.getenv("CI") == "true" {
		return false
	}
	in, ok1 := g.stdin.(*os.File)
	out, ok2 := g.stdout.(*os.File)
	return ok1 && ok2 && term.IsTerminal(in.Fd()) && term.IsTerminal(out.Fd())
}

func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(config.Options{Dir: g.dir, File: g.configFile, Env: g.env})
	if err != nil {
		return nil, badInput(err)
	}
	// A misspelt GANTRY_* variable would silently not apply: say so (a warning, as the
	// environment is shared with other tools). Only variables this run sees count.
	var seen []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := g.env(k); ok {
			seen = append(seen, k+"="+v)
		}
	}
	for _, w := range config.UnknownEnv(seen) {
		g.logf("warning: %s", w)
		fmt.Fprintf(g.stderr, "gantry: warning: %s\n", w)
	}
	return cfg, nil
}

// format picks the headless output: --output, else GitHub's when GITHUB_ACTIONS=true,
// else plain; and the writer (colour only for plain on a terminal) to stdout.
func (g *globals) format() (printer.Format, io.Writer, bool, error) {
	format := printer.Plain
	if g.getenv("GITHUB_ACTIONS") == "true" {
		format = printer.GitHub
	}
	if g.output != "" {
		f, err := printer.ParseFormat(g.output)
		if err != nil {
			return "", nil, false, badInput(err)
		}
		format = f
	}
	w, color := g.colorWriter(g.stdout)
	if format != printer.Plain {
		w, color = g.stdout, false
	}
	return format, w, color, nil
}

// colorWriter wraps w so ANSI colours reach only a terminal (colorprofile strips them
// otherwise and honours NO_COLOR/CLICOLOR); --no-color and NO_COLOR turn them off.
func (g *globals) colorWriter(w io.Writer) (io.Writer, bool) {
	if g.noColor || g.getenv("NO_COLOR") != "" {
		return w, false
	}
	return colorprofile.NewWriter(w, os.Environ()), true
}

// sink picks the headless printer (see format).
func (g *globals) sink() (pipeline.Sink, error) {
	format, w, color, err := g.format()
	if err != nil {
		return nil, err
	}
	return g.debugSink(printer.New(format, w, color, g.getenv)), nil
}

// NewRoot builds the command tree. env, stdin, stdout and stderr are injectable for tests.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) *cobra.Command {
	root, _ := newRoot(stdin, stdout, stderr, env)
	return root
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) (*cobra.Command, *globals) {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := &cobra.Command{
		Use:   "gantry",
		Short: "A terminal release console: build, push and deploy dev; promote and roll out prod",
		Long: `gantry runs the book-shop's two release workflows:

  dev      build the image of HEAD as X.Y.Z-SNAPSHOT-<sha7>, push it, deploy it as dev-app
  promote  find HEAD's snapshot, create the GitHub release, tag it vX.Y.Z, roll it out on Kubernetes

With no command it opens the release console (a terminal UI). Every workflow command
also runs headless with --ci (GitHub Actions, scripts).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTUI(cmd.Context(), g)
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.HasParent() {
				// Every command but the console (which keeps its own) logs to --debug.
				return g.openDebug()
			}
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.dir, "dir", "C", "", "the app's root folder (default: the current directory)")
	pf.StringVar(&g.configFile, "config", "", "the project file (default: <dir>/gantry.toml, or $GANTRY_CONFIG)")
	pf.BoolVar(&g.ci, "ci", false, "headless: no prompts, no TUI, plain/GitHub/JSON output")
	pf.StringVarP(&g.output, "output", "o", "", "headless output: plain, github or json (default: github under GitHub Actions, else plain)")
	pf.BoolVar(&g.allowDirty, "allow-dirty", false, "allow uncommitted changes in the app folder under --ci")
	pf.BoolVar(&g.noColor, "no-color", false, "no colours in plain output")
	pf.StringVar(&g.debug, "debug", "", "write a debug log to this file")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"plain", "github", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.MarkPersistentFlagDirname("dir")
	_ = root.MarkPersistentFlagFilename("config", "toml")

	root.AddCommand(
		newDevCmd(g),
		newPromoteCmd(g),
		newRollbackCmd(g),
		newMetaCmd(g),
		newSnapshotsCmd(g),
		newDoctorCmd(g),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	return root, g
}

// Main runs gantry with the process's arguments and returns the exit status.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
}

// Execute runs one command line and returns the exit status.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	root, g := newRoot(stdin, stdout, stderr, env)
	defer g.closeDebug()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	var reported *reportedError
	if !errors.As(err, &reported) {
		if code == ExitOK {
			code = ExitFailed
		}
		fmt.Fprintf(stderr, "gantry: %v\n", err)
	}
	if isUsage(err) {
		code = ExitBadInput
	}
	return code
}

// reportedError is an error the printer already showed; Execute only sets the status.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	// cobra's own argument and command errors are plain errors (cobra has no typed
	// errors to match with errors.Is/As), so their text is all there is; they all mean bad input.
	var ie inputError
	if errors.As(err, &ie) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
