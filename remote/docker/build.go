package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"
)

// BuildOptions says what to build and how.
type BuildOptions struct {
	ContextDir string            // directory sent as the build context, filtered by its .dockerignore
	Dockerfile string            // relative to ContextDir unless absolute; "" means "Dockerfile"
	Tags       []string          // names given to the result
	Args       map[string]string // --build-arg values
	Target     string            // stage to stop at; "" builds the last stage
	Labels     map[string]string // labels added to the image
	CacheFrom  []string          // images whose layers may be reused (classic: pull them first; BuildKit: registry refs)
	Platform   string            // e.g. "linux/amd64"; "" is the engine's own
	Pull       bool              // always pull newer base images

	// Builder is BuilderAuto (BuildKit where the engine has it), BuilderKit or BuilderClassic.
	Builder string
	// Secrets are build secrets by id (RUN --mount=type=secret,id=ID); BuildKit only.
	// Their values reach the build through the session, never the image or the log.
	Secrets map[string][]byte
	// Cache is CacheOff (""), CacheInline, CacheRegistry or CacheLocal; BuildKit only.
	Cache string
	// CacheRef is the registry cache (CacheRegistry) or the image to import the
	// inline cache from (CacheInline), e.g. "registry/app:buildcache".
	CacheRef string
	// CacheDir is the directory of the local cache (CacheLocal).
	CacheDir string
	// Auth is the registry login BuildKit uses for the cache and base images of its host.
	Auth Auth

	// engineFrontend runs the engine's built-in Dockerfile frontend instead of
	// gantry's (for the benchmark that compares them).
	engineFrontend bool
}

// BuildError is a failed build: the daemon's message and the step that failed.
type BuildError struct {
	Step    string // e.g. "Step 3/7 : RUN make" or "[app 3/7] RUN make"; "" when the build failed before any step
	Message string
	// BuildKit only: where the failing instruction is and the step's last log lines.
	File        string // the Dockerfile's name
	Line        int    // 1-based line of the failing instruction; 0 if unknown
	Instruction string // that line's text
	Log         []string
}

func (e *BuildError) Error() string {
	var b strings.Builder
	b.WriteString("build: ")
	if e.Step != "" {
		b.WriteString(e.Step)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (%s:%d", e.File, e.Line)
		if e.Instruction != "" && !strings.Contains(e.Step, e.Instruction) {
			fmt.Fprintf(&b, ": %s", e.Instruction)
		}
		b.WriteString(")")
	}
	if len(e.Log) > 0 {
		b.WriteString("\nlast log lines:\n  ")
		b.WriteString(strings.Join(e.Log, "\n  "))
	}
	return b.String()
}

// stepLine matches the classic builder's step headers ("Step 2/5 : COPY . /").
var stepLine = regexp.MustCompile(`^Step \d+/\d+ : `)

// builtLine is the classic builder's last line, the fallback for the image ID.
var builtLine = regexp.MustCompile(`^Successfully built ([0-9a-f]{12,64})$`)

// Build builds an image, passing each log line to log (which may be nil), and
// returns the image ID ("sha256:..."). It uses the engine's BuildKit unless
// opts.Builder says otherwise; an engine without BuildKit gets the classic
// builder with a warning naming what it lacks.
func (e *Engine) Build(ctx context.Context, opts BuildOptions, log func(line string)) (string, error) {
	if log == nil {
		log = func(string) {}
	}
	switch opts.Builder {
	case BuilderClassic:
		return e.buildClassic(ctx, opts, log)
	case BuilderAuto, BuilderKit:
	default:
		return "", fmt.Errorf("build: unknown builder %q (want buildkit or classic)", opts.Builder)
	}
	if err := e.HasBuildKit(ctx); err != nil {
		if opts.Builder == BuilderKit || !errors.Is(err, ErrNoBuildKit) {
			return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
		}
		if len(opts.Secrets) > 0 {
			return "", fmt.Errorf("build %s: build secrets need BuildKit: %w", opts.ContextDir, err)
		}
		log(fmt.Sprintf("warning: %v; falling back to the deprecated classic builder, which lacks %s", err, classicMissing))
		return e.buildClassic(ctx, opts, log)
	}
	return e.buildKitBuild(ctx, opts, log)
}

// buildClassic builds with the engine's classic builder.
func (e *Engine) buildClassic(ctx context.Context, opts BuildOptions, log func(line string)) (string, error) {
	bc, err := newBuildContext(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(bc.writeTar(pw)) }()
	// Ends the tar writer if the request stops reading early.
	defer pr.Close()

	args := make(map[string]*string, len(opts.Args))
	for k, v := range opts.Args {
		args[k] = &v
	}
	resp, err := e.cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Version:    build.BuilderV1,
		Dockerfile: bc.dockerfile,
		Tags:       opts.Tags,
		BuildArgs:  args,
		Target:     opts.Target,
		Labels:     opts.Labels,
		CacheFrom:  opts.CacheFrom,
		Platform:   opts.Platform,
		PullParent: opts.Pull,
		// Step containers never outlive the build, failed or not.
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("build %s: %w", opts.ContextDir, ctxErr)
		}
		if cerrdefs.IsInvalidArgument(err) {
			// A Dockerfile the engine rejects before running any step.
			return "", &BuildError{Message: strings.TrimPrefix(err.Error(), "Error response from daemon: ")}
		}
		return "", wrapErr("build "+opts.ContextDir, err)
	}
	defer resp.Body.Close()

	var (
		imageID, step, built string
		statuses             = newStatusLogger(log)
	)
	lines := &lineSplitter{emit: func(line string) {
		if stepLine.MatchString(line) {
			step = line
		}
		if m := builtLine.FindStringSubmatch(line); m != nil {
			built = m[1]
		}
		log(line)
	}}
	err = decodeMessages(ctx, resp.Body, func(m *jsonmessage.JSONMessage) error {
		if m.Stream != "" {
			lines.write(m.Stream)
		}
		if msg := messageError(m); msg != "" {
			lines.flush()
			return &BuildError{Step: step, Message: strings.TrimSpace(msg)}
		}
		statuses.status(m)
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		return nil
	})
	lines.flush()
	if err != nil {
		var be *BuildError
		if errors.As(err, &be) {
			return "", err
		}
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	if imageID == "" && built != "" {
		// Engines older than API 1.30 report the ID only in the text.
		imageID = built
		if info, err := e.ImageInspect(ctx, built); err == nil {
			imageID = info.ID
		}
	}
	if imageID == "" {
		return "", fmt.Errorf("build %s: engine reported no image ID", opts.ContextDir)
	}
	return imageID, nil
}
