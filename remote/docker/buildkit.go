package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clitypes "github.com/docker/cli/cli/config/types"
	dockerbk "github.com/docker/docker/client/buildkit"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

// Builders BuildOptions.Builder can name.
const (
	BuilderAuto    = ""         // BuildKit where the engine has it, else the classic builder
	BuilderKit     = "buildkit" // BuildKit or an error
	BuilderClassic = "classic"  // the engine's deprecated classic builder
)

// Cache modes for BuildOptions.Cache.
const (
	CacheOff      = "off"      // only the engine's local cache
	CacheInline   = "inline"   // cache metadata inside the pushed image; import from CacheRef's image
	CacheRegistry = "registry" // a separate cache manifest at CacheRef (mode=max)
	CacheLocal    = "local"    // a cache directory at CacheDir (e.g. restored by CI's cache action)
)

// classicMissing is what the classic builder cannot do, for the fallback warning.
const classicMissing = "RUN --mount (cache, secret), COPY --chmod/--link, heredocs, " +
	"TARGETPLATFORM/TARGETARCH, FROM --platform, skipping stages --target does not need, build secrets, registry cache"

// ErrNoBuildKit reports that the engine does not serve BuildKit's API.
var ErrNoBuildKit = errors.New("engine has no BuildKit")

// keepLogLines is how many of the failing step's last log lines a BuildError keeps.
const keepLogLines = 20

// buildKit is what the engine's BuildKit endpoint can do, probed once.
type buildKit struct {
	mu     sync.Mutex
	probed bool
	err    error
	// noRegistryCache: the engine exports only the inline cache (its images
	// are in a graph driver, not the containerd image store).
	noRegistryCache bool
	warned          bool
}

// newBuildKitClient connects to the engine's BuildKit over the Engine API's
// hijacked /grpc and /session endpoints, as buildx's docker driver does.
func (e *Engine) newBuildKitClient(ctx context.Context) (*bkclient.Client, error) {
	return bkclient.New(ctx, "", dockerbk.ClientOpts(e.cli)...)
}

// HasBuildKit reports whether the engine serves BuildKit; its error says why not.
// The answer is kept, unless ctx ended before the engine gave one.
func (e *Engine) HasBuildKit(ctx context.Context) error {
	e.bk.mu.Lock()
	defer e.bk.mu.Unlock()
	if e.bk.probed {
		return e.bk.err
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := e.newBuildKitClient(pctx)
	if err == nil {
		_, err = c.ListWorkers(pctx)
		c.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("docker engine at %s: %w", e.Host(), ctx.Err())
		}
		e.bk.probed = true
		e.bk.err = fmt.Errorf("%w at %s: %v", ErrNoBuildKit, e.Host(), err)
		return e.bk.err
	}
	// An engine storing images in its graph driver (not containerd's
	// snapshotters) exports only the inline cache, whatever its version.
	info, err := e.cli.Info(pctx)
	if err != nil {
		return fmt.Errorf("docker engine at %s: %w", e.Host(), err)
	}
	containerdStore := false
	for _, kv := range info.DriverStatus {
		if len(kv) == 2 && kv[0] == "driver-type" && strings.Contains(kv[1], "io.containerd.snapshotter") {
			containerdStore = true
		}
	}
	e.bk.noRegistryCache = !containerdStore
	e.bk.probed = true
	return nil
}

// buildKitBuild builds with the engine's BuildKit, running the current
// Dockerfile frontend in this process through BuildKit's gateway.
func (e *Engine) buildKitBuild(ctx context.Context, opts BuildOptions, log func(string)) (string, error) {
	bc, err := newBuildContext(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	patterns, err := readDockerignore(bc.dir)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	ctxFS, err := fsutil.NewFS(bc.dir)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	if len(patterns) > 0 {
		// Ignored files never leave this machine; the frontend applies the same patterns.
		if ctxFS, err = fsutil.NewFilterFS(ctxFS, &fsutil.FilterOpt{ExcludePatterns: patterns}); err != nil {
			return "", fmt.Errorf("build %s: .dockerignore: %w", opts.ContextDir, err)
		}
	}
	dfHost := bc.external
	if dfHost == "" {
		dfHost = filepath.Join(bc.dir, filepath.FromSlash(bc.dockerfile))
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dfHost))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	dfData, err := os.ReadFile(dfHost)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
	}
	syntaxRef, _, _, hasSyntax := parser.DetectSyntax(dfData)

	attrs := map[string]string{"filename": filepath.Base(dfHost)}
	for k, v := range opts.Args {
		attrs["build-arg:"+k] = v
	}
	for k, v := range opts.Labels {
		attrs["label:"+k] = v
	}
	if opts.Target != "" {
		attrs["target"] = opts.Target
	}
	if opts.Platform != "" {
		attrs["platform"] = opts.Platform
	}
	if opts.Pull {
		attrs["image-resolve-mode"] = "pull"
	}

	attachables := []session.Attachable{
		secretsprovider.FromMap(opts.Secrets),
		authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: func(_ context.Context, host string, _ []string, _ authprovider.ExpireCachedAuthCheck) (clitypes.AuthConfig, error) {
				return opts.Auth.forHost(host), nil
			},
		}),
	}

	cacheExports, cacheImports, err := e.cacheOptions(opts, log)
	if err != nil {
		return "", err
	}
	export := bkclient.ExportEntry{Type: "moby", Attrs: map[string]string{}}
	if len(opts.Tags) > 0 {
		// The engine's own exporter: the image lands in its store under the tags.
		export.Attrs["name"] = strings.Join(opts.Tags, ",")
	}
	solve := bkclient.SolveOpt{
		Exports:       []bkclient.ExportEntry{export},
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		FrontendAttrs: attrs,
		CacheExports:  cacheExports,
		CacheImports:  cacheImports,
		Session:       attachables,
	}

	c, err := e.newBuildKitClient(ctx)
	if err != nil {
		return "", fmt.Errorf("build %s: buildkit: %w", opts.ContextDir, err)
	}
	defer c.Close()

	progress := newProgressLog(log)
	statusCh := make(chan *bkclient.SolveStatus)
	var resp *bkclient.SolveResponse
	eg, egCtx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		if opts.engineFrontend {
			solve.Frontend = "dockerfile.v0"
			resp, err = c.Solve(egCtx, nil, solve, statusCh)
			return err
		}
		resp, err = c.Build(egCtx, solve, "", builder.Build, statusCh)
		return err
	})
	eg.Go(func() error {
		for s := range statusCh {
			progress.status(s)
		}
		return nil
	})
	err = eg.Wait()
	progress.flush()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("build %s: %w", opts.ContextDir, ctxErr)
		}
		if len(cacheExports) > 0 && cacheExports[0].Type != CacheInline && unknownCacheExporter(err) {
			e.bk.mu.Lock()
			e.bk.noRegistryCache = true
			e.bk.mu.Unlock()
			log(fmt.Sprintf("warning: the engine's BuildKit cannot export a registry cache (%v); using the inline cache", err))
			return e.buildKitBuild(ctx, opts, log)
		}
		be := progress.buildError(err, dfData, filepath.Base(dfHost))
		if hasSyntax && (strings.Contains(be.Message, syntaxRef) || strings.Contains(be.Message, "gateway.v0")) {
			be.Message = fmt.Sprintf("%s (the Dockerfile's `# syntax=%s` directive makes the engine pull and run that frontend image: "+
				"make it pullable from the engine, or remove the line to use gantry's built-in Dockerfile frontend)", be.Message, syntaxRef)
		}
		return "", be
	}

	id := resp.ExporterResponse["containerimage.digest"]
	if len(opts.Tags) > 0 {
		if info, err := e.ImageInspect(ctx, opts.Tags[0]); err == nil {
			id = info.ID
		} else if id == "" {
			return "", fmt.Errorf("build %s: %w", opts.ContextDir, err)
		}
	}
	if id == "" {
		return "", fmt.Errorf("build %s: engine reported no image ID", opts.ContextDir)
	}
	return id, nil
}

// cacheOptions turns the cache mode into BuildKit cache exports and imports.
func (e *Engine) cacheOptions(opts BuildOptions, log func(string)) (exports, imports []bkclient.CacheOptionsEntry, err error) {
	mode := opts.Cache
	e.bk.mu.Lock()
	if (mode == CacheRegistry || mode == CacheLocal) && e.bk.noRegistryCache {
		if !e.bk.warned {
			e.bk.warned = true
			log(fmt.Sprintf("warning: this engine keeps images in its graph driver, so its BuildKit cannot export a %s cache "+
				"(that needs the containerd image store); using the inline cache in the pushed image, imported from the previous snapshot", mode))
		}
		mode = CacheInline
	}
	e.bk.mu.Unlock()
	for _, ref := range opts.CacheFrom {
		imports = append(imports, bkclient.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": ref}})
	}
	switch mode {
	case "", CacheOff:
	case CacheInline:
		// The cache travels in the pushed image; CacheFrom names the previous one.
		exports = append(exports, bkclient.CacheOptionsEntry{Type: "inline"})
	case CacheRegistry:
		if opts.CacheRef == "" {
			return nil, nil, errors.New("build: registry cache needs a cache reference")
		}
		attrs := map[string]string{"ref": opts.CacheRef, "mode": "max", "image-manifest": "true", "oci-mediatypes": "true"}
		exports = append(exports, bkclient.CacheOptionsEntry{Type: CacheRegistry, Attrs: attrs})
		imports = append(imports, bkclient.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": opts.CacheRef}})
	case CacheLocal:
		dir := opts.CacheDir
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return nil, nil, fmt.Errorf("build: local cache: %w", err)
			}
			name := opts.CacheRef
			if name == "" {
				name = opts.ContextDir
			}
			dir = filepath.Join(base, "gantry", "buildcache", unsafePathChars.ReplaceAllString(name, "_"))
		}
		exports = append(exports, bkclient.CacheOptionsEntry{Type: CacheLocal, Attrs: map[string]string{"dest": dir, "mode": "max"}})
		if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
			imports = append(imports, bkclient.CacheOptionsEntry{Type: CacheLocal, Attrs: map[string]string{"src": dir}})
		}
	default:
		return nil, nil, fmt.Errorf("build: unknown cache mode %q (want registry, inline, local or off)", opts.Cache)
	}
	return exports, imports, nil
}

// unknownCacheExporter reports the engine refusing a cache exporter type.
func unknownCacheExporter(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unknown cache exporter") || strings.Contains(msg, "unsupported cache exporter")
}

// forHost is the login for the registry host BuildKit asks about; other hosts get none.
func (a Auth) forHost(host string) clitypes.AuthConfig {
	if a.Username == "" && a.Password == "" {
		return clitypes.AuthConfig{}
	}
	srv := strings.TrimPrefix(strings.TrimPrefix(a.ServerAddress, "https://"), "http://")
	srv, _, _ = strings.Cut(srv, "/")
	if srv != "" && srv != host {
		return clitypes.AuthConfig{}
	}
	return clitypes.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: host}
}

// progressLog turns BuildKit's status stream into log lines, in the style of
// `docker build --progress=plain`: "#3 [app 2/4] RUN make", "#3 CACHED", "#3 DONE 0.4s".
type progressLog struct {
	log     func(string)
	ids     map[string]int // vertex digest → its number in the log
	names   map[string]string
	started map[string]bool
	done    map[string]bool
	logs    map[string][]string // each vertex's last log lines
	partial map[string]string   // a log line not yet ended by a newline
	failed  string              // digest of the vertex that failed
}

func newProgressLog(log func(string)) *progressLog {
	return &progressLog{
		log: log, ids: map[string]int{}, names: map[string]string{}, started: map[string]bool{},
		done: map[string]bool{}, logs: map[string][]string{}, partial: map[string]string{},
	}
}

func (p *progressLog) id(d string) int {
	n, ok := p.ids[d]
	if !ok {
		n = len(p.ids) + 1
		p.ids[d] = n
	}
	return n
}

func (p *progressLog) status(s *bkclient.SolveStatus) {
	// Headers first, then the logs, then the ends: a message may carry a
	// step's last output together with its end.
	for _, v := range s.Vertexes {
		d := v.Digest.String()
		if v.Name != "" {
			p.names[d] = v.Name
		}
		if (v.Started != nil || v.Cached) && !p.started[d] {
			p.started[d] = true
			p.log(fmt.Sprintf("#%d %s", p.id(d), p.names[d]))
		}
		if v.Cached && v.Error == "" && !p.done[d] {
			// A cached step has no output.
			p.done[d] = true
			p.log(fmt.Sprintf("#%d CACHED", p.id(d)))
		}
	}
	for _, l := range s.Logs {
		d := l.Vertex.String()
		text := p.partial[d] + string(l.Data)
		lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
		p.partial[d] = lines[len(lines)-1]
		for _, line := range lines[:len(lines)-1] {
			p.line(d, line)
		}
	}
	for _, v := range s.Vertexes {
		d := v.Digest.String()
		if p.done[d] {
			continue
		}
		switch {
		case v.Error != "":
			p.done[d] = true
			p.flushVertex(d)
			if p.failed == "" && !strings.Contains(v.Error, "context canceled") {
				p.failed = d
			}
			p.log(fmt.Sprintf("#%d ERROR: %s", p.id(d), v.Error))
		case v.Completed != nil:
			p.done[d] = true
			p.flushVertex(d)
			took := ""
			if v.Started != nil {
				took = fmt.Sprintf(" %.1fs", v.Completed.Sub(*v.Started).Seconds())
			}
			p.log(fmt.Sprintf("#%d DONE%s", p.id(d), took))
		}
	}
}

func (p *progressLog) line(d, line string) {
	// A carriage return redraws a progress bar: keep the last state.
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.TrimRight(line, " \t")
	if line == "" {
		return
	}
	kept := append(p.logs[d], line)
	if len(kept) > keepLogLines {
		kept = kept[len(kept)-keepLogLines:]
	}
	p.logs[d] = kept
	p.log(fmt.Sprintf("#%d %s", p.id(d), line))
}

func (p *progressLog) flushVertex(d string) {
	if rest := p.partial[d]; rest != "" {
		p.partial[d] = ""
		p.line(d, rest)
	}
}

func (p *progressLog) flush() {
	ds := make([]string, 0, len(p.partial))
	for d := range p.partial {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		p.flushVertex(d)
	}
}

// buildError makes the solve error a BuildError naming the failing
// instruction, its Dockerfile line and the step's last log lines.
func (p *progressLog) buildError(err error, dockerfile []byte, name string) *BuildError {
	be := &BuildError{Message: rootMessage(err)}
	if p.failed != "" {
		be.Step = p.names[p.failed]
		be.Log = p.logs[p.failed]
		// Older engines drop the frontend's source map from errors: find the
		// instruction by the step's name ("[app 3/4] RUN make").
		if line, text := instructionLine(dockerfile, be.Step); line > 0 {
			be.File, be.Line, be.Instruction = name, line, text
		}
	}
	if m := parseErrorLine.FindStringSubmatch(be.Message); m != nil && be.Line == 0 {
		be.File = name
		be.Line, _ = strconv.Atoi(m[1])
		if lines := strings.Split(string(dockerfile), "\n"); be.Line >= 1 && be.Line <= len(lines) {
			be.Instruction = strings.TrimSpace(lines[be.Line-1])
		}
	}
	for _, src := range errdefs.Sources(err) {
		if src.Info == nil || len(src.Ranges) == 0 {
			continue
		}
		be.Line = int(src.Ranges[0].Start.Line)
		be.File = src.Info.Filename
		if lines := strings.Split(string(src.Info.Data), "\n"); be.Line >= 1 && be.Line <= len(lines) {
			be.Instruction = strings.TrimSpace(lines[be.Line-1])
		}
		break
	}
	return be
}

// instructionLine finds the Dockerfile line of the instruction a step is named after.
func instructionLine(dockerfile []byte, step string) (int, string) {
	if !strings.HasPrefix(step, "[") {
		return 0, ""
	}
	_, instr, ok := strings.Cut(step, "] ")
	if !ok {
		return 0, ""
	}
	instr = strings.TrimSpace(instr)
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return 0, ""
	}
	for _, n := range res.AST.Children {
		orig := strings.TrimSpace(n.Original)
		if orig == instr || strings.HasPrefix(instr, orig) || (len(instr) > 8 && strings.HasPrefix(orig, strings.SplitN(instr, " (", 2)[0])) {
			return n.StartLine, orig
		}
	}
	return 0, ""
}

var (
	unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
	parseErrorLine  = regexp.MustCompile(`parse error on line (\d+)`)
	grpcPrefix      = regexp.MustCompile(`rpc error: code = \w+ desc = `)
)

// rootMessage is the solve error without gRPC's wrapping.
func rootMessage(err error) string {
	msg := grpcPrefix.ReplaceAllString(err.Error(), "")
	msg = strings.TrimPrefix(msg, "failed to solve: ")
	return strings.TrimSpace(msg)
}
