package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// appDockerfile builds in stages so Target can be tested: "deps" then "app";
// "broken" after the target would fail if it were built.
const appDockerfile = `FROM scratch AS deps
COPY deps/ /deps/
COPY probe /probe

FROM deps AS app
ARG VERSION=unset
RUN ["/probe", "write", "/out/version", "VERSION"]
COPY . /ctx/
LABEL app.version=$VERSION
HEALTHCHECK --interval=1s CMD ["/probe", "true"]

FROM app AS broken
COPY no-such-file /
`

// appContext writes a context for appDockerfile; deps content is unique to
// the call so no earlier build's cache can match it.
func appContext(t testing.TB) (dir, deps string) {
	t.Helper()
	dir = t.TempDir()
	deps = uniqueName("requirements")
	writeTree(t, dir, map[string]string{
		"Dockerfile":        appDockerfile,
		".dockerignore":     "secret.env\n*.log\n!important.log\n",
		"deps/requirements": deps,
		"app.py":            "print('hello')\n",
		"secret.env":        "TOKEN=do-not-ship\n",
		"debug.log":         "noise",
		"important.log":     "kept",
	})
	copyProbe(t, dir)
	return dir, deps
}

func TestBuild(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	dir, deps := appContext(t)
	tag := uniqueName("gantry-test/build") + ":1.2.3"
	var logs logCollector

	id, err := e.Build(ctx, BuildOptions{
		Builder:    BuilderClassic,
		ContextDir: dir,
		Tags:       []string{tag},
		Args:       map[string]string{"VERSION": "1.2.3"},
		Target:     "app",
		Labels:     map[string]string{"org.opencontainers.image.revision": "abc1234"},
	}, logs.log)
	if err != nil {
		t.Fatalf("build: %v\nlog:\n%s", err, strings.Join(logs.all(), "\n"))
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), tag) })
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("image ID %q", id)
	}
	if !logs.contains("Step 1/") || !logs.contains("Successfully built") {
		t.Errorf("build log lacks steps:\n%s", strings.Join(logs.all(), "\n"))
	}
	for _, l := range logs.all() {
		if strings.Contains(l, "\n") || strings.TrimSpace(l) == "" {
			t.Errorf("log line %q is not one line", l)
		}
	}

	info, err := e.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || !slices.Contains(info.RepoTags, tag) {
		t.Errorf("inspect %s: ID %s tags %v, want %s", tag, info.ID, info.RepoTags, id)
	}
	if info.Labels["app.version"] != "1.2.3" || info.Labels["org.opencontainers.image.revision"] != "abc1234" {
		t.Errorf("labels %v", info.Labels)
	}
	if info.Size <= 0 || time.Since(info.Created) > time.Hour || time.Since(info.Created) < 0 {
		t.Errorf("size %d created %v", info.Size, info.Created)
	}

	// The build arg reached RUN, .dockerignore held back its files, and the
	// stage after the target never ran (it would have failed).
	checks := []struct {
		path, want string
		present    bool
	}{
		{"/out/version", "1.2.3", true},
		{"/deps/requirements", deps, true},
		{"/ctx/app.py", "print('hello')\n", true},
		{"/ctx/important.log", "kept", true},
		{"/ctx/Dockerfile", appDockerfile, true},
		{"/ctx/secret.env", "", false},
		{"/ctx/debug.log", "", false},
	}
	for _, c := range checks {
		got, ok := fileInImage(t, e, id, c.path)
		if ok != c.present || got != c.want {
			t.Errorf("%s in image: present=%v %q, want present=%v %q", c.path, ok, got, c.present, c.want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	cases := []struct {
		name, dockerfile, step, message string
	}{
		{"missing file", "FROM scratch\nCOPY present.txt /\nCOPY absent.txt /\n", "Step 3/3 : COPY absent.txt /", "absent.txt"},
		{"unknown instruction", "FROM scratch\nFROBNICATE now\n", "", "unknown instruction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": c.dockerfile, "present.txt": uniqueName("x")})
			var logs logCollector
			t.Cleanup(func() {
				// The classic builder keeps the images of the steps that succeeded.
				for _, id := range intermediateIDs(logs.all()) {
					e.ImageRemove(context.Background(), id)
				}
			})
			id, err := e.Build(ctx, BuildOptions{Builder: BuilderClassic, ContextDir: dir}, logs.log)
			if err == nil {
				e.ImageRemove(context.Background(), id)
				t.Fatalf("build succeeded with %s", id)
			}
			if !strings.Contains(strings.ToLower(err.Error()), c.message) {
				t.Errorf("error %q does not mention %q", err, c.message)
			}
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %T %v is not a *BuildError", err, err)
			}
			if be.Step != c.step {
				t.Errorf("failing step %q, want %q", be.Step, c.step)
			}
		})
	}
}

func TestBuildCancel(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	copyProbe(t, dir)
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY probe /probe\nCOPY f /\nRUN [\"/probe\", \"sleep\", \"120\"]\n",
		"f":          uniqueName("f"),
	})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var logs logCollector
	_, err := e.Build(ctx, BuildOptions{Builder: BuilderClassic, ContextDir: dir}, func(line string) {
		logs.log(line)
		if strings.Contains(line, "Running in") {
			cancel()
		}
	})
	t.Cleanup(func() {
		for _, id := range intermediateIDs(logs.all()) {
			e.ImageRemove(context.Background(), id)
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v, want context.Canceled\n%s", err, strings.Join(logs.all(), "\n"))
	}
	// The engine stops the step and removes its container.
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := e.cli.ContainerList(context.Background(), container.ListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, c := range list {
			if strings.Contains(c.Command, "sleep 120") {
				running++
			}
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d step containers left after cancel", running)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// registryDigest asks the registry which manifest digest it holds for repo:tag.
func registryDigest(t *testing.T, reg, repo, tag string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, tag), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registry manifest %s:%s: %s", repo, tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// progressRecorder keeps every Progress reported.
type progressRecorder struct {
	mu  sync.Mutex
	got []Progress
}

func (p *progressRecorder) report(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, pr)
}

// check asserts the reports are sane and end complete with a non-zero total.
func (p *progressRecorder) check(t *testing.T, what string) Progress {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) == 0 {
		t.Errorf("%s: no progress reported", what)
		return Progress{}
	}
	for _, pr := range p.got {
		if pr.Done < 0 || pr.Done > pr.Total {
			t.Errorf("%s: progress %+v out of range", what, pr)
		}
	}
	last := p.got[len(p.got)-1]
	if last.Total <= 0 || last.Done != last.Total {
		t.Errorf("%s: last progress %+v, want Done == Total > 0 (all: %v)", what, last, p.got)
	}
	return last
}

// intermediateIDs are the image IDs the classic builder printed (" ---> 1a2b3c4d5e6f").
func intermediateIDs(lines []string) []string {
	re := regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)
	var ids []string
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// TestPushPullCacheFrom runs the dev deploy's image life cycle: build, push,
// push again, drop the local copy, pull it back as the next build's cache.
func TestPushPullCacheFrom(t *testing.T) {
	e := newTestEngine(t)
	reg := testRegistry(t)
	ctx := testContext(t)
	dir, _ := appContext(t)
	repo := uniqueName("gantry-test/app")
	ref := reg + "/" + repo + ":1.0.0-SNAPSHOT-abc1234"
	tag := ref[strings.LastIndexByte(ref, ':')+1:]
	t.Cleanup(func() { e.ImageRemove(context.Background(), ref) })

	var buildLog logCollector
	opts := BuildOptions{Builder: BuilderClassic, ContextDir: dir, Tags: []string{ref}, Target: "app", Args: map[string]string{"VERSION": "1.0.0"}}
	id, err := e.Build(ctx, opts, buildLog.log)
	if err != nil {
		t.Fatal(err)
	}

	var first progressRecorder
	var pushLog logCollector
	digest, err := e.Push(ctx, ref, Auth{}, first.report, pushLog.log)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, strings.Join(pushLog.all(), "\n"))
	}
	if want := registryDigest(t, reg, repo, tag); digest != want {
		t.Errorf("push returned digest %q, registry holds %q", digest, want)
	}
	firstTotal := first.check(t, "first push").Total
	if !pushLog.contains(": Pushed") {
		t.Errorf("first push log has no Pushed layer:\n%s", strings.Join(pushLog.all(), "\n"))
	}
	// Status lines are logged on change, not per progress tick.
	seen := map[string]bool{}
	for _, l := range pushLog.all() {
		if seen[l] {
			t.Errorf("log line %q repeated", l)
		}
		seen[l] = true
	}

	var second progressRecorder
	var againLog logCollector
	digest2, err := e.Push(ctx, ref, Auth{}, second.report, againLog.log)
	if err != nil {
		t.Fatal(err)
	}
	if digest2 != digest {
		t.Errorf("second push digest %s, first %s", digest2, digest)
	}
	if !againLog.contains("Layer already exists") || againLog.contains(": Pushed") {
		t.Errorf("second push did not find the layers in the registry:\n%s", strings.Join(againLog.all(), "\n"))
	}
	if total := second.check(t, "second push").Total; total != firstTotal {
		t.Errorf("second push total %d, first %d: existing layers should count with their sizes", total, firstTotal)
	}

	// A fresh CI machine: neither the image nor the builder's intermediate images exist.
	if err := e.ImageRemove(ctx, ref); err != nil {
		t.Fatal(err)
	}
	inter := intermediateIDs(buildLog.all())
	for _, p := range slices.Backward(inter) { // children first: ImageRemove leaves parents
		if err := e.ImageRemove(ctx, p); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
	for _, gone := range append(inter, id) {
		if _, err := e.ImageInspect(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Fatalf("image %s still present after remove (err %v): cache test would be void", gone, err)
		}
	}

	var pulled progressRecorder
	var pullLog logCollector
	if err := e.Pull(ctx, ref, Auth{}, pulled.report, pullLog.log); err != nil {
		t.Fatalf("pull: %v\n%s", err, strings.Join(pullLog.all(), "\n"))
	}
	pulled.check(t, "pull")
	if !pullLog.contains("Pull complete") {
		t.Errorf("pull log:\n%s", strings.Join(pullLog.all(), "\n"))
	}
	info, err := e.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || !slices.Contains(info.RepoDigests, reg+"/"+repo+"@"+digest) {
		t.Errorf("pulled image %s digests %v, want ID %s digest %s", info.ID, info.RepoDigests, id, digest)
	}

	// Unchanged context: every step comes from the pulled image.
	var cachedLog logCollector
	opts.CacheFrom = []string{ref}
	opts.Tags = nil
	id2, err := e.Build(ctx, opts, cachedLog.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), id2) })
	steps := cachedSteps(cachedLog.all())
	for step, cached := range steps {
		if !cached && !strings.HasPrefix(step, "FROM ") && !strings.HasPrefix(step, "ARG ") {
			t.Errorf("unchanged rebuild did not use the cache for %q", step)
		}
	}
	if !steps["COPY deps/ /deps/"] {
		t.Errorf("dependency layer not cached: %v\n%s", steps, strings.Join(cachedLog.all(), "\n"))
	}
	if id2 != id {
		t.Errorf("cached rebuild gave %s, want the pulled %s", id2, id)
	}

	// Changed app code: the dependency layer still comes from the cache.
	writeTree(t, dir, map[string]string{"app.py": "print('changed')\n"})
	var changedLog logCollector
	id3, err := e.Build(ctx, opts, changedLog.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), id3) })
	steps = cachedSteps(changedLog.all())
	if !steps["COPY deps/ /deps/"] || steps["COPY . /ctx/"] {
		t.Errorf("after an app change, want deps cached and app rebuilt: %v", steps)
	}
}

func TestPushPullNeverShowPassword(t *testing.T) {
	e := newTestEngine(t)
	reg := testRegistry(t)
	ctx := testContext(t)
	const password = "planted-Pa55word-7f3a"
	auth := Auth{Username: "AWS", Password: password, ServerAddress: reg}

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /\n", "f": uniqueName("f")})
	ref := reg + "/" + uniqueName("gantry-test/secret") + ":1"
	if _, err := e.Build(ctx, BuildOptions{Builder: BuilderClassic, ContextDir: dir, Tags: []string{ref}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), ref) })

	var logs logCollector
	var texts []string
	// The test registry ignores credentials: the push succeeds.
	if _, err := e.Push(ctx, ref, auth, nil, logs.log); err != nil {
		t.Fatal(err)
	}
	// A registry that is not there, an image that is not there, a tag that is not there.
	closed := "127.0.0.1:9/" + uniqueName("gantry-test/nowhere") + ":1"
	if err := e.Tag(ctx, ref, closed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), closed) })
	_, err := e.Push(ctx, closed, auth, nil, logs.log)
	if err == nil {
		t.Error("push to a closed port succeeded")
	}
	texts = append(texts, fmt.Sprint(err))
	_, err = e.Push(ctx, reg+"/gantry-test/never-built:1", auth, nil, logs.log)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("push of an absent image: %v, want ErrNotFound", err)
	}
	texts = append(texts, fmt.Sprint(err))
	err = e.Pull(ctx, reg+"/gantry-test/never-pushed:1", auth, nil, logs.log)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("pull of an absent tag: %v, want ErrNotFound", err)
	}
	texts = append(texts, fmt.Sprint(err))

	if len(logs.all()) == 0 {
		t.Error("no log lines to check")
	}
	for _, s := range append(texts, logs.all()...) {
		if strings.Contains(s, password) {
			t.Errorf("password appears in %q", s)
		}
	}
}

func TestTagAndRemove(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /\n", "f": uniqueName("f")})
	src := uniqueName("gantry-test/tag") + ":1.0.0-SNAPSHOT-abc1234"
	id, err := e.Build(ctx, BuildOptions{Builder: BuilderClassic, ContextDir: dir, Tags: []string{src}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := strings.Replace(src, ":1.0.0-SNAPSHOT-abc1234", ":v1.0.0", 1)
	if err := e.Tag(ctx, src, dst); err != nil {
		t.Fatal(err)
	}
	info, err := e.ImageInspect(ctx, dst)
	if err != nil || info.ID != id || !slices.Contains(info.RepoTags, src) || !slices.Contains(info.RepoTags, dst) {
		t.Fatalf("after tag: %+v %v", info, err)
	}
	if err := e.ImageRemove(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ImageInspect(ctx, dst); err != nil {
		t.Errorf("removing one tag removed the image: %v", err)
	}
	if err := e.ImageRemove(ctx, dst); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{dst, id} {
		if _, err := e.ImageInspect(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("inspect %s after remove: %v, want ErrNotFound", ref, err)
		}
	}
	if err := e.ImageRemove(ctx, dst); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v, want ErrNotFound", err)
	}
	if err := e.Tag(ctx, dst, src); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of an absent image: %v, want ErrNotFound", err)
	}
}

func TestContainerInspect(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)

	if _, err := e.ContainerInspect(ctx, uniqueName("dev-app")); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent container: %v, want ErrNotFound", err)
	}

	dir, _ := appContext(t)
	ref := uniqueName("gantry-test/run") + ":1"
	id, err := e.Build(ctx, BuildOptions{Builder: BuilderClassic, ContextDir: dir, Tags: []string{ref}, Target: "app"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), ref) })
	name := uniqueName("dev-app")
	c, err := e.cli.ContainerCreate(ctx,
		&container.Config{Image: ref, Cmd: []string{"/probe", "sleep", "60"}, Labels: map[string]string{"gantry.env": "dev"}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })

	info, err := e.ContainerInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != c.ID || info.Name != name || info.Image != ref || info.ImageID != id ||
		info.State != "created" || info.Running || !info.StartedAt.IsZero() || info.Labels["gantry.env"] != "dev" {
		t.Errorf("created container: %+v", info)
	}

	before := time.Now().Add(-time.Minute)
	if err := e.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	// The healthcheck runs every second; wait (bounded) for its first result.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if info, err = e.ContainerInspect(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if info.Health != "starting" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if info.State != "running" || !info.Running || info.StartedAt.Before(before) || info.Health != "healthy" {
		t.Errorf("running container: %+v", info)
	}
}

// BenchmarkBuildCached measures a rebuild of an unchanged context: tar,
// upload and a full cache hit.
func BenchmarkBuildCached(b *testing.B) {
	e := newTestEngine(b)
	ctx := context.Background()
	dir := b.TempDir()
	copyProbe(b, dir)
	files := map[string]string{"Dockerfile": appDockerfile, "deps/requirements": uniqueName("deps")}
	for i := range 200 {
		files[fmt.Sprintf("app/module%03d.py", i)] = strings.Repeat("x = 1\n", 200)
	}
	writeTree(b, dir, files)
	opts := BuildOptions{Builder: BuilderClassic, ContextDir: dir, Target: "app", Args: map[string]string{"VERSION": "1"}}
	first, err := e.Build(ctx, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.ImageRemove(context.Background(), first) })
	b.ResetTimer()
	for b.Loop() {
		id, err := e.Build(ctx, opts, nil)
		if err != nil {
			b.Fatal(err)
		}
		if id != first {
			b.Fatalf("rebuild gave %s, want cached %s", id, first)
		}
	}
}
