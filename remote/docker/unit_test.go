package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/pkg/jsonmessage"
)

func tarNames(t *testing.T, bc *buildContext) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := bc.writeTar(&buf); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" {
			t.Errorf("%s owned by %d:%d %q, want 0:0", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname)
		}
		data, _ := io.ReadAll(tr)
		files[hdr.Name] = string(data)
	}
	return files
}

func TestBuildContextHonoursDockerignore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore":    "# comment\nsecret.txt\nlogs/\n*.tmp\n!keep.tmp\ndocs/**\n!docs/keep.md\nbuild\n.dockerignore\n",
		"build/Dockerfile": "FROM scratch\n",
		"build/other":      "x",
		"app/main.py":      "print()",
		"app/secret.txt":   "nested, not matched by a root pattern",
		"secret.txt":       "s3cr3t",
		"logs/a.log":       "log",
		"x.tmp":            "tmp",
		"keep.tmp":         "keep",
		"docs/a.md":        "a",
		"docs/keep.md":     "keep",
	})
	bc, err := newBuildContext(dir, "build/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if bc.dockerfile != "build/Dockerfile" {
		t.Errorf("dockerfile = %q", bc.dockerfile)
	}
	got := tarNames(t, bc)
	var names []string
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{".dockerignore", "app/", "app/main.py", "app/secret.txt", "build/Dockerfile", "docs/", "docs/keep.md", "keep.tmp"}
	if !slices.Equal(names, want) {
		t.Errorf("context holds %q\nwant %q", names, want)
	}
	if got["build/Dockerfile"] != "FROM scratch\n" {
		t.Errorf("Dockerfile content %q", got["build/Dockerfile"])
	}
}

func TestBuildContextExternalDockerfile(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	writeTree(t, other, map[string]string{"Dockerfile.prod": "FROM scratch\nCOPY a.txt /\n"})
	bc, err := newBuildContext(dir, filepath.Join(other, "Dockerfile.prod"))
	if err != nil {
		t.Fatal(err)
	}
	got := tarNames(t, bc)
	if got[bc.dockerfile] != "FROM scratch\nCOPY a.txt /\n" || got["a.txt"] != "a" || len(got) != 2 {
		t.Errorf("context %v with dockerfile %q", got, bc.dockerfile)
	}
}

func TestBuildContextErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := newBuildContext(dir, ""); err == nil || !strings.Contains(err.Error(), "dockerfile") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	if _, err := newBuildContext(filepath.Join(dir, "nope"), ""); err == nil {
		t.Error("missing context dir gave no error")
	}
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", ".dockerignore": "!\n"})
	if _, err := newBuildContext(dir, ""); err == nil || !strings.Contains(err.Error(), ".dockerignore") {
		t.Errorf("bad .dockerignore: %v", err)
	}
}

func TestLineSplitter(t *testing.T) {
	var got []string
	s := &lineSplitter{emit: func(l string) { got = append(got, l) }}
	for _, chunk := range []string{"Step 1/2 : FROM scratch\n", " ---> ", "abc\n\n", "half", " line\r\n", "10%\r50%\r100%\n", "tail"} {
		s.write(chunk)
	}
	s.flush()
	want := []string{"Step 1/2 : FROM scratch", " ---> abc", "half line", "100%", "tail"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q\nwant %q", got, want)
	}
}

func TestStatusLoggerThrottles(t *testing.T) {
	var got []string
	l := newStatusLogger(func(s string) { got = append(got, s) })
	for _, m := range []jsonmessage.JSONMessage{
		{Status: "The push refers to repository [r/x]"},
		{ID: "a", Status: "Preparing"},
		{ID: "a", Status: "Pushing", Progress: &jsonmessage.JSONProgress{Current: 1, Total: 10}},
		{ID: "a", Status: "Pushing", Progress: &jsonmessage.JSONProgress{Current: 5, Total: 10}},
		{ID: "a", Status: "Pushed"},
		{Stream: "no status"},
	} {
		l.status(&m)
	}
	want := []string{"The push refers to repository [r/x]", "a: Preparing", "a: Pushing", "a: Pushed"}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

func TestLayerProgressAggregates(t *testing.T) {
	var got []Progress
	p := newLayerProgress(func(pr Progress) { got = append(got, pr) })
	p.known = map[string]int64{"cccccccccccc": 300, "eeeeeeeeeeee": 50}
	prog := func(cur, total int64) *jsonmessage.JSONProgress {
		return &jsonmessage.JSONProgress{Current: cur, Total: total}
	}
	for _, m := range []jsonmessage.JSONMessage{
		{Status: "The push refers to repository [r/x]"},
		{ID: "eeeeeeeeeeee", Status: "Preparing"},
		{ID: "aaaaaaaaaaaa", Status: "Preparing"},
		{ID: "aaaaaaaaaaaa", Status: "Pushing", Progress: prog(10, 100)},
		{ID: "bbbbbbbbbbbb", Status: "Pushing", Progress: prog(50, 200)},
		{ID: "cccccccccccc", Status: "Layer already exists"},
		{ID: "aaaaaaaaaaaa", Status: "Pushing", Progress: prog(100, 100)},
		{ID: "aaaaaaaaaaaa", Status: "Pushed"},
		{ID: "dddddddddddd", Status: "Mounted from other/repo"},
		{ID: "eeeeeeeeeeee", Status: "Pushing", Progress: prog(50, 50)},
		{ID: "eeeeeeeeeeee", Status: "Pushed"},
		{ID: "bbbbbbbbbbbb", Status: "Pushed"},
		{ID: "1.0", Status: "digest: sha256:0000 size: 528"},
	} {
		p.update(&m, pushDone)
	}
	p.finish()
	want := []Progress{{0, 50}, {10, 150}, {60, 350}, {360, 650}, {450, 650}, {500, 650}, {650, 650}}
	if !slices.Equal(got, want) {
		t.Errorf("progress %v\nwant %v", got, want)
	}
}

func TestLayerProgressPull(t *testing.T) {
	var got []Progress
	p := newLayerProgress(func(pr Progress) { got = append(got, pr) })
	for _, m := range []jsonmessage.JSONMessage{
		{ID: "1.0", Status: "Pulling from app"},
		{ID: "aaaaaaaaaaaa", Status: "Pulling fs layer"},
		{ID: "bbbbbbbbbbbb", Status: "Already exists"},
		{ID: "aaaaaaaaaaaa", Status: "Downloading", Progress: &jsonmessage.JSONProgress{Current: 30, Total: 90}},
		{ID: "aaaaaaaaaaaa", Status: "Verifying Checksum"},
		{ID: "aaaaaaaaaaaa", Status: "Download complete"},
		{ID: "aaaaaaaaaaaa", Status: "Extracting", Progress: &jsonmessage.JSONProgress{Current: 10, Total: 90}},
		{ID: "aaaaaaaaaaaa", Status: "Pull complete"},
	} {
		p.update(&m, pullDone)
	}
	want := []Progress{{30, 90}, {90, 90}}
	if !slices.Equal(got, want) {
		t.Errorf("progress %v\nwant %v", got, want)
	}
}

func TestAuthNeverShowsPassword(t *testing.T) {
	a := Auth{Username: "AWS", Password: "planted-Pa55word", ServerAddress: "1234.dkr.ecr.eu-west-1.amazonaws.com"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("login", "auth", a)
	for _, s := range []string{a.String(), fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a), fmt.Sprintf("%v", &a), buf.String()} {
		if strings.Contains(s, a.Password) {
			t.Errorf("password shown in %q", s)
		}
		if !strings.Contains(s, "AWS") || !strings.Contains(s, "***") {
			t.Errorf("%q does not describe the login", s)
		}
	}
}

// fakeEngine is an HTTP Docker API that echoes the registry password back in
// statuses, stream errors and HTTP errors, as a careless daemon or registry
// proxy might.
func fakeEngine(t *testing.T, password string) *Engine {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		send := func(msgs ...jsonmessage.JSONMessage) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			for _, m := range msgs {
				enc.Encode(m)
			}
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/json"): // inspect and history, for layer sizes
			http.Error(w, `{"message":"no such image"}`, http.StatusNotFound)
		case strings.Contains(r.URL.Path, "/r/echo/push"):
			send(jsonmessage.JSONMessage{Status: "login as u:" + password},
				jsonmessage.JSONMessage{ID: "aaaaaaaaaaaa", Status: "Preparing " + password},
				jsonmessage.JSONMessage{Error: &jsonmessage.JSONError{Message: "denied: bad password " + password}})
		case strings.Contains(r.URL.Path, "/r/reject/push"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message":"wrong credentials %s / %s"}`, password, r.Header.Get("X-Registry-Auth"))
		case strings.Contains(r.URL.Path, "/images/create"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"manifest for r/gone:1 not found (auth %s)"}`, password)
		default:
			http.Error(w, "unexpected "+r.URL.Path, http.StatusTeapot)
		}
	}))
	t.Cleanup(srv.Close)
	e, err := New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEchoedPasswordIsMasked(t *testing.T) {
	const password = "planted-Pa55word"
	e := fakeEngine(t, password)
	ctx := context.Background()
	auth := Auth{Username: "u", Password: password, ServerAddress: "r"}
	var logs logCollector

	_, err := e.Push(ctx, "r/echo:1", auth, nil, logs.log)
	if err == nil || !strings.Contains(err.Error(), "bad password ***") || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("stream error: %v", err)
	}
	if !logs.contains("login as u:***") || !logs.contains("aaaaaaaaaaaa: Preparing ***") {
		t.Errorf("log lines not passed on masked: %q", logs.all())
	}

	_, err = e.Push(ctx, "r/reject:1", auth, nil, logs.log)
	if err == nil || !strings.Contains(err.Error(), "wrong credentials *** / ***") || !errors.Is(err, ErrUnauthorized) {
		t.Errorf("HTTP error: %v", err)
	}

	err = e.Pull(ctx, "r/gone:1", auth, nil, logs.log)
	if err == nil || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "auth ***") {
		t.Errorf("pull error: %v", err)
	}

	for _, s := range append(logs.all(), fmt.Sprint(err)) {
		if strings.Contains(s, password) {
			t.Errorf("password in %q", s)
		}
	}
	// Unwrapping must not reach the unmasked text either.
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		if strings.Contains(u.Error(), password) {
			t.Errorf("password in wrapped %q", u.Error())
		}
	}
}

func TestPingUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	e, err := New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "DOCKER_HOST") || !strings.Contains(err.Error(), sock) {
		t.Errorf("Ping = %v, want a hint naming the host and DOCKER_HOST", err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("Ping created the socket")
	}
}

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "npmrc")
	if err := os.WriteFile(file, []byte("//registry/:_authToken=abc123\nalways-auth=true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GANTRY_TEST_PIP_TOKEN", "tok-value")
	got, err := ReadSecrets(map[string]string{"pip_token": "env:GANTRY_TEST_PIP_TOKEN", "npmrc": "file:" + file})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["pip_token"]) != "tok-value" || !strings.Contains(string(got["npmrc"]), "abc123") {
		t.Errorf("secrets %q", got)
	}
	vals := SecretValues(got)
	if !slices.Contains(vals, "tok-value") || !slices.Contains(vals, "//registry/:_authToken=abc123") {
		t.Errorf("mask values %q", vals)
	}
	_, err = ReadSecrets(map[string]string{"x": "env:GANTRY_TEST_UNSET_VAR"})
	if err == nil || !strings.Contains(err.Error(), "GANTRY_TEST_UNSET_VAR") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := ReadSecrets(map[string]string{"x": "file:" + filepath.Join(dir, "absent")}); err == nil {
		t.Error("absent file accepted")
	}
}
