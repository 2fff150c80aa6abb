package docker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// noBuildKitEngine is an engine that refuses the /grpc upgrade (BuildKit) and
// runs classic builds with a canned answer, counting them.
func noBuildKitEngine(t *testing.T) (*Engine, *int) {
	t.Helper()
	classic := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/grpc"), strings.HasSuffix(r.URL.Path, "/session"):
			http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/build"):
			classic++
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"stream":"Step 1/1 : FROM scratch\n"}`+"\n"+`{"aux":{"ID":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}`+"\n")
		default:
			http.Error(w, `{"message":"unexpected"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	e, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, &classic
}

func TestClassicFallbackWithoutBuildKit(t *testing.T) {
	e, classic := noBuildKitEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})

	var logs logCollector
	id, err := e.Build(ctx, BuildOptions{ContextDir: dir}, logs.log)
	if err != nil {
		t.Fatal(err)
	}
	if *classic != 1 || !strings.HasPrefix(id, "sha256:0123") {
		t.Errorf("classic builds %d, id %q", *classic, id)
	}
	if !logs.contains("falling back to the deprecated classic builder") || !logs.contains("RUN --mount") {
		t.Errorf("no warning naming the missing features:\n%s", strings.Join(logs.all(), "\n"))
	}

	// Secrets cannot go to the classic builder: refused, nothing built.
	_, err = e.Build(ctx, BuildOptions{ContextDir: dir, Secrets: map[string][]byte{"tok": []byte("x")}}, nil)
	if !errors.Is(err, ErrNoBuildKit) || !strings.Contains(err.Error(), "secrets") {
		t.Errorf("secrets without BuildKit: %v", err)
	}
	// BuilderKit insists.
	_, err = e.Build(ctx, BuildOptions{ContextDir: dir, Builder: BuilderKit}, nil)
	if !errors.Is(err, ErrNoBuildKit) {
		t.Errorf("BuilderKit without BuildKit: %v", err)
	}
	if *classic != 1 {
		t.Errorf("classic builds %d, want 1", *classic)
	}
}

func TestProgressLog(t *testing.T) {
	var logs logCollector
	p := newProgressLog(logs.log)
	d1, d2 := digest.FromString("a"), digest.FromString("b")
	t0 := time.Unix(100, 0)
	t1 := t0.Add(1500 * time.Millisecond)
	p.status(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
		{Digest: d1, Name: "[deps 1/2] COPY req.txt /", Cached: true, Started: &t0, Completed: &t0},
		{Digest: d2, Name: "[deps 2/2] RUN make", Started: &t0},
	}})
	p.status(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{
		{Vertex: d2, Data: []byte("compiling 1%\rcompiling 100%\nerror: missing")},
	}})
	p.status(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: d2, Data: []byte(" header\n")}},
		Vertexes: []*bkclient.Vertex{{Digest: d2, Name: "[deps 2/2] RUN make", Started: &t0, Completed: &t1, Error: "exit code: 2"}}})
	want := []string{
		"#1 [deps 1/2] COPY req.txt /", "#1 CACHED",
		"#2 [deps 2/2] RUN make", "#2 compiling 100%", "#2 error: missing header", "#2 ERROR: exit code: 2",
	}
	if got := logs.all(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log\n%q\nwant\n%q", got, want)
	}
	be := p.buildError(errors.New("failed to solve: process \"make\" did not complete: exit code: 2"),
		[]byte("FROM scratch AS deps\nCOPY req.txt /\n\nRUN make\n"), "Dockerfile")
	if be.Step != "[deps 2/2] RUN make" || be.Line != 4 || be.Instruction != "RUN make" || len(be.Log) != 2 {
		t.Errorf("build error %+v", be)
	}
	msg := be.Error()
	for _, sub := range []string{"RUN make", "Dockerfile:4", "error: missing header", "exit code: 2"} {
		if !strings.Contains(msg, sub) {
			t.Errorf("error %q lacks %q", msg, sub)
		}
	}
	if strings.Contains(msg, "failed to solve") {
		t.Errorf("error keeps the wrapping: %q", msg)
	}
}

func TestCacheOptions(t *testing.T) {
	e := &Engine{}
	ref := "reg:5000/app:buildcache"
	exp, imp, err := e.cacheOptions(BuildOptions{Cache: CacheRegistry, CacheRef: ref, CacheFrom: []string{"reg:5000/app:1"}}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 1 || exp[0].Type != "registry" || exp[0].Attrs["mode"] != "max" || exp[0].Attrs["image-manifest"] != "true" ||
		exp[0].Attrs["oci-mediatypes"] != "true" || exp[0].Attrs["ref"] != ref {
		t.Errorf("exports %+v", exp)
	}
	if len(imp) != 2 || imp[1].Attrs["ref"] != ref || imp[0].Attrs["ref"] != "reg:5000/app:1" {
		t.Errorf("imports %+v", imp)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	exp, _, err = e.cacheOptions(BuildOptions{Cache: CacheLocal, CacheRef: ref}, nil)
	if err != nil || len(exp) != 1 || exp[0].Type != "local" || !strings.Contains(exp[0].Attrs["dest"], filepath.Join("gantry", "buildcache", "reg_5000_app_buildcache")) {
		t.Errorf("local cache %+v %v", exp, err)
	}
	// A graph-driver engine gets the inline cache, with a warning once.
	e.bk.noRegistryCache = true
	var logs logCollector
	for range 2 {
		exp, _, _ = e.cacheOptions(BuildOptions{Cache: CacheRegistry, CacheRef: ref}, logs.log)
		if len(exp) != 1 || exp[0].Type != "inline" {
			t.Errorf("exports on a graph-driver engine %+v", exp)
		}
	}
	if exp, _, _ = e.cacheOptions(BuildOptions{Cache: CacheLocal}, logs.log); len(exp) != 1 || exp[0].Type != "inline" {
		t.Errorf("local cache on a graph-driver engine %+v", exp)
	}
	if n := len(logs.all()); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	if exp, imp, _ := e.cacheOptions(BuildOptions{Cache: CacheOff}, nil); len(exp)+len(imp) != 0 {
		t.Errorf("cache off: %v %v", exp, imp)
	}
	if _, _, err := e.cacheOptions(BuildOptions{Cache: "s3"}, nil); err == nil {
		t.Error("unknown cache mode accepted")
	}
}

func TestAuthForHost(t *testing.T) {
	a := Auth{Username: "AWS", Password: "pw", ServerAddress: "https://123.dkr.ecr.eu-west-1.amazonaws.com"}
	if got := a.forHost("123.dkr.ecr.eu-west-1.amazonaws.com"); got.Username != "AWS" || got.Password != "pw" {
		t.Errorf("own host: %+v", got)
	}
	if got := a.forHost("docker.io"); got.Password != "" {
		t.Error("the password went to another host")
	}
}
