package docker

import (
	"context"
	"strings"
	"testing"
)

// benchDockerfile builds with both builders: a slow dependency step under the app code.
const benchDockerfile = `FROM scratch AS deps
COPY probe /probe
COPY requirements.txt /deps/
RUN ["/probe", "sleep", "3"]

FROM deps AS app
COPY app.py /app/
`

// BenchmarkWarmRebuild rebuilds an app-code-only change on a warm engine:
// gantry's BuildKit path against the classic builder.
//
//	go test ./remote/docker -run '^$' -bench WarmRebuild -benchtime 5x
func BenchmarkWarmRebuild(b *testing.B) {
	e := newTestEngine(b)
	for _, builder := range []string{BuilderKit, "engine-frontend", BuilderClassic} {
		b.Run(builder, func(b *testing.B) {
			ctx := testContext(b)
			dir := b.TempDir()
			writeTree(b, dir, map[string]string{"Dockerfile": benchDockerfile, "requirements.txt": uniqueName("django"), "app.py": "0"})
			copyProbe(b, dir)
			tag := uniqueName("gantry-bench/warm") + ":1"
			b.Cleanup(func() { e.ImageRemove(context.Background(), tag) })
			opts := BuildOptions{ContextDir: dir, Tags: []string{tag}, Builder: builder}
			if builder == "engine-frontend" {
				// BuildKit with the engine's own (old) Dockerfile frontend.
				opts.Builder, opts.engineFrontend = BuilderKit, true
			}
			if _, err := e.Build(ctx, opts, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				writeTree(b, dir, map[string]string{"app.py": uniqueName("code")})
				var logs logCollector
				b.StartTimer()
				if _, err := e.Build(ctx, opts, logs.log); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if opts.Builder == BuilderKit {
					if _, cached := vertexCached(logs.all(), `"sleep", "3"]`); !cached {
						b.Fatalf("deps step not cached:\n%s", strings.Join(logs.all(), "\n"))
					}
				} else if steps := cachedSteps(logs.all()); !steps[`RUN ["/probe", "sleep", "3"]`] {
					b.Fatalf("deps step not cached: %v", steps)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkFreshEngineRebuild rebuilds an app-code-only change on a fresh
// engine, with the cache exported by an earlier build on another engine and without.
//
//	go test ./remote/docker -run '^$' -bench FreshEngine -benchtime 3x
func BenchmarkFreshEngineRebuild(b *testing.B) {
	bed := newTestEngine(b)
	reg := testRegistry(b)
	ctx := testContext(b)
	repo := reg + "/" + uniqueName("gantry-bench/fresh")
	dir := b.TempDir()
	writeTree(b, dir, map[string]string{"Dockerfile": depsDockerfile, "requirements.txt": uniqueName("django"), "app.py": "v1\n"})
	copyProbe(b, dir)
	first := repo + ":1.0.0-SNAPSHOT-aaaaaaa"
	cacheOpts := BuildOptions{ContextDir: dir, Tags: []string{first}, Cache: CacheRegistry, CacheRef: repo + ":buildcache"}
	if _, err := bed.Build(ctx, cacheOpts, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bed.ImageRemove(context.Background(), first) })
	if _, err := bed.Push(ctx, first, Auth{}, nil, nil); err != nil {
		b.Fatal(err)
	}
	for _, withCache := range []bool{true, false} {
		name := "without-cache"
		if withCache {
			name = "registry-cache"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				writeTree(b, dir, map[string]string{"app.py": uniqueName("code")})
				fresh := freshEngine(b)
				opts := BuildOptions{ContextDir: dir, Tags: []string{repo + ":next"}}
				if withCache {
					opts.Cache, opts.CacheRef, opts.CacheFrom = CacheRegistry, repo+":buildcache", []string{first}
				}
				b.StartTimer()
				if _, err := fresh.Build(ctx, opts, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
