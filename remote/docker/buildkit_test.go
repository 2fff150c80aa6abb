package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// runProbe runs the image with probe args and returns its exit code.
func runProbe(t *testing.T, e *Engine, image string, args ...string) int {
	t.Helper()
	ctx := testContext(t)
	c, err := e.cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: args},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	waitC, errC := e.cli.ContainerWait(ctx, c.ID, container.WaitConditionNextExit)
	if err := e.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-waitC:
		return int(w.StatusCode)
	case err := <-errC:
		t.Fatal(err)
	}
	return -1
}

// TestBuildKitFeatures builds each Dockerfile feature the classic builder
// lacks, through the engine's BuildKit and the in-process frontend, and runs the result.
func TestBuildKitFeatures(t *testing.T) {
	e := newTestEngine(t)
	if err := e.HasBuildKit(testContext(t)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		dockerfile string
		target     string
		files      map[string]string // path in image → content
	}{
		{"cache mount", "FROM scratch\nCOPY probe /probe\nCOPY f /f\nRUN --mount=type=cache,target=/cache [\"/probe\", \"count\", \"/cache/n\", \"/out/n\"]\n",
			"", map[string]string{"/out/n": ""}},
		{"copy chmod", "FROM scratch\nCOPY --chmod=0755 probe /probe\nCOPY --chmod=0600 f /f\n", "", nil},
		{"heredoc", "FROM scratch\nCOPY probe /probe\nSHELL [\"/probe\", \"sh\"]\nRUN <<EOF\ncopy /probe /bin/probe2\necho heredoc ran\nEOF\nCOPY <<EOF /hello.txt\nhello heredoc\nEOF\n",
			"", map[string]string{"/hello.txt": "hello heredoc\n"}},
		{"copy link", "FROM scratch\nCOPY --link probe /probe\nCOPY --link f /f\n", "", nil},
		{"target platform args", "FROM scratch\nARG TARGETARCH\nARG TARGETPLATFORM\nCOPY probe /probe\nRUN [\"/probe\", \"write\", \"/arch\", \"TARGETARCH\"]\nRUN [\"/probe\", \"write\", \"/platform\", \"TARGETPLATFORM\"]\n",
			"", map[string]string{"/arch": "amd64", "/platform": "linux/amd64"}},
		{"from build platform", "FROM --platform=$BUILDPLATFORM scratch AS tools\nCOPY probe /probe\nFROM scratch\nCOPY --from=tools /probe /probe\n", "", nil},
		{"unneeded failing stage", "FROM scratch AS broken\nCOPY no-such-file /\nFROM scratch AS app\nCOPY probe /probe\nFROM app AS after\nCOPY also-missing /\n",
			"app", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": c.dockerfile, "f": uniqueName("f")})
			copyProbe(t, dir)
			tag := uniqueName("gantry-test/bk") + ":1"
			var logs logCollector
			id, err := e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag}, Target: c.target}, logs.log)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, strings.Join(logs.all(), "\n"))
			}
			t.Cleanup(func() { e.ImageRemove(context.Background(), tag) })
			if !strings.HasPrefix(id, "sha256:") {
				t.Errorf("image ID %q", id)
			}
			if logs.contains("classic builder") || !logs.contains("DONE") {
				t.Errorf("not a BuildKit log:\n%s", strings.Join(logs.all(), "\n"))
			}
			if code := runProbe(t, e, tag, "/probe", "true"); code != 0 {
				t.Errorf("container exited %d", code)
			}
			for path, want := range c.files {
				got, ok := fileInImage(t, e, id, path)
				if !ok || (want != "" && got != want) {
					t.Errorf("%s: present=%v %q, want %q", path, ok, got, want)
				}
			}
		})
	}
}

// TestBuildKitContext checks build args, labels, target and .dockerignore on the BuildKit path.
func TestBuildKitContext(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	dir, deps := appContext(t)
	tag := uniqueName("gantry-test/bkctx") + ":1.2.3"
	var logs logCollector
	id, err := e.Build(ctx, BuildOptions{
		ContextDir: dir, Tags: []string{tag, tag + "-b"}, Target: "app", Builder: BuilderKit,
		Args:   map[string]string{"VERSION": "1.2.3"},
		Labels: map[string]string{"org.opencontainers.image.revision": "abc1234"},
	}, logs.log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs.all(), "\n"))
	}
	t.Cleanup(func() {
		e.ImageRemove(context.Background(), tag)
		e.ImageRemove(context.Background(), tag+"-b")
	})
	info, err := e.ImageInspect(ctx, tag+"-b")
	if err != nil || info.ID != id {
		t.Fatalf("second tag: %v %s, want %s", err, info.ID, id)
	}
	if info.Labels["app.version"] != "1.2.3" || info.Labels["org.opencontainers.image.revision"] != "abc1234" {
		t.Errorf("labels %v", info.Labels)
	}
	for _, l := range logs.all() {
		if strings.Contains(l, "\n") || strings.TrimSpace(l) == "" {
			t.Errorf("log line %q is not one line", l)
		}
	}
	checks := []struct {
		path, want string
		present    bool
	}{
		{"/out/version", "1.2.3", true},
		{"/deps/requirements", deps, true},
		{"/ctx/app.py", "print('hello')\n", true},
		{"/ctx/important.log", "kept", true},
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

// TestBuildKitSecret mounts a secret into RUN and checks that it reached the
// step but not the image, its history, its config or the log.
func TestBuildKitSecret(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	secret := uniqueName("s3cr3t-token")
	sum := sha256.Sum256([]byte(secret))
	dir := t.TempDir()
	// The unique file keeps the engine's cache from an earlier run out (a secret is not part of a step's cache key).
	writeTree(t, dir, map[string]string{"f": uniqueName("f"), "Dockerfile": "FROM scratch\nCOPY probe /probe\nCOPY f /f\n" +
		"RUN --mount=type=secret,id=pip_token [\"/probe\", \"sha\", \"/run/secrets/pip_token\", \"/secret.sha\"]\n" +
		"RUN --mount=type=secret,id=pip_token,required=true [\"/probe\", \"true\"]\n"})
	copyProbe(t, dir)
	tag := uniqueName("gantry-test/secret") + ":1"
	var logs logCollector
	id, err := e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag},
		Secrets: map[string][]byte{"pip_token": []byte(secret)}}, logs.log)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(logs.all(), "\n"))
	}
	t.Cleanup(func() { e.ImageRemove(context.Background(), tag) })
	if got, _ := fileInImage(t, e, id, "/secret.sha"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("the step saw secret sha %q", got)
	}
	if _, ok := fileInImage(t, e, id, "/run/secrets/pip_token"); ok {
		t.Error("the secret file is in the image")
	}
	if logs.contains(secret) {
		t.Error("the secret is in the build log")
	}
	hist, err := e.cli.ImageHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	histJSON, _ := json.Marshal(hist)
	if strings.Contains(string(histJSON), secret) {
		t.Error("the secret is in the image history")
	}
	if !strings.Contains(string(histJSON), "/secret.sha") {
		t.Errorf("history lacks the RUN step: %s", histJSON)
	}
	raw, err := e.cli.ImageInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON, _ := json.Marshal(raw)
	if strings.Contains(string(cfgJSON), secret) {
		t.Error("the secret is in the image config")
	}

	// A missing required secret fails the step, naming the id.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY probe /probe\nCOPY f /f\n" +
		"RUN --mount=type=secret,id=pip_token,required=true [\"/probe\", \"true\"]\n", "f": uniqueName("f")})
	_, err = e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{tag + "x"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "pip_token") {
		t.Errorf("build without the secret: %v", err)
	}
}

// TestBuildKitError checks that a failing RUN names its instruction, its
// Dockerfile line and the step's last log lines.
func TestBuildKitError(t *testing.T) {
	e := newTestEngine(t)
	ctx := testContext(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY probe /probe\nCOPY f /f\n" +
		"RUN [\"/probe\", \"fail\", \"compiler said: no such module\"]\n", "f": uniqueName("f")})
	copyProbe(t, dir)
	var logs logCollector
	_, err := e.Build(ctx, BuildOptions{ContextDir: dir, Tags: []string{uniqueName("gantry-test/fail") + ":1"}}, logs.log)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("error %T %v is not a *BuildError\n%s", err, err, strings.Join(logs.all(), "\n"))
	}
	if be.Line != 4 || !strings.Contains(be.Instruction, "RUN") || !strings.Contains(be.Step, "RUN") {
		t.Errorf("failing step %q line %d %q", be.Step, be.Line, be.Instruction)
	}
	if !strings.Contains(err.Error(), "compiler said: no such module") || !strings.Contains(err.Error(), "Dockerfile:4") {
		t.Errorf("error lacks the step's log or line: %v", err)
	}
	if !logs.contains("ERROR") {
		t.Errorf("log lacks the error:\n%s", strings.Join(logs.all(), "\n"))
	}

	// A syntax error in the Dockerfile names the line too.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nFROBNICATE now\n"})
	_, err = e.Build(ctx, BuildOptions{ContextDir: dir}, nil)
	if !errors.As(err, &be) || !strings.Contains(strings.ToLower(err.Error()), "unknown instruction") || be.Line != 2 {
		t.Errorf("unknown instruction: %v", err)
	}

	// A # syntax= frontend the engine cannot pull: a clear error with the fix.
	writeTree(t, dir, map[string]string{"Dockerfile": "# syntax=127.0.0.1:1/no/frontend:1\nFROM scratch\nCOPY f /f\n"})
	_, err = e.Build(ctx, BuildOptions{ContextDir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/no/frontend:1") || !strings.Contains(err.Error(), "remove the line") {
		t.Errorf("unpullable syntax image: %v", err)
	}
}

// TestBuildKitCancel cancels a build in a long RUN: Build returns the
// context's error promptly.
func TestBuildKitCancel(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"f": uniqueName("f"),
		"Dockerfile": "FROM scratch\nCOPY probe /probe\nCOPY f /f\nRUN [\"/probe\", \"sleep\", \"120\"]\n"})
	copyProbe(t, dir)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	var logs logCollector
	start := time.Now()
	_, err := e.Build(ctx, BuildOptions{ContextDir: dir}, func(line string) {
		logs.log(line)
		if strings.Contains(line, `"sleep", "120"]`) {
			go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled build: %v, want context.Canceled\n%s", err, strings.Join(logs.all(), "\n"))
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("cancel took %v", took)
	}
}
