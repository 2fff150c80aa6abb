package app_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/github/githubtest"
	"github.com/bookshop-ops/gantry/remote/hostexec"
)

func consoleApp(t *testing.T, toml string, logf func(string, ...any)) *app.App {
	t.Helper()
	r := newAppRepo(t)
	r.write("gantry.toml", toml)
	cfg, err := config.Load(config.Options{Dir: r.Dir, Env: func(k string) (string, bool) {
		if k == "GANTRY_DATA_DIR" {
			return t.TempDir(), true
		}
		return os.LookupEnv(k)
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// Every command run on a host lands in the command log and the debug log, with
// its host, exit code and duration, and never with a secret in it.
func TestCommandLogRecordsHostCommandsMasked(t *testing.T) {
	const token = "ghp_commandlogsecret0123456789"
	t.Setenv("GH_TOKEN", token)
	var mu sync.Mutex
	var debug []string
	a := consoleApp(t, "app = \"book-shop\"\n[dev]\ntarget = \"local\"\n", func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		debug = append(debug, fmt.Sprintf(f, args...))
	})
	h, err := a.Host(t.Context(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Run(t.Context(), hostexec.Command("sh", "-c", "echo "+token+"; exit 4"), hostexec.RunOptions{}); err == nil {
		t.Fatal("exit 4 succeeded")
	}
	if _, err := h.Run(t.Context(), hostexec.Command("true"), hostexec.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	recs := a.CommandLog()
	if len(recs) != 2 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	newest, failed := recs[0], recs[1]
	if newest.Cmd != "true" || newest.ExitCode != 0 || newest.Host != "dev (local)" {
		t.Errorf("newest record %+v", newest)
	}
	if failed.ExitCode != 4 || !strings.Contains(failed.Cmd, "echo ***") || strings.Contains(failed.Cmd+failed.Err, token) {
		t.Errorf("failed record %+v: want exit 4 and the token masked", failed)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(debug, "\n")
	if strings.Contains(all, token) || !strings.Contains(all, "command dev (local) [exit 4") || !strings.Contains(all, "echo ***") {
		t.Errorf("debug log:\n%s", all)
	}
}

func TestLogCommandsAndURLs(t *testing.T) {
	a := consoleApp(t, `app = "book-shop"
[dev]
target = "local"
container = "dev-app"
ports = "8080:8000"
[prod]
deployment = "django-app"
container = "web"
namespace = "shop"
[github]
repo = "acme/book-shop"
`, nil)
	if got := a.DevLogCmd(app.LogOptions{Tail: 500, Since: "10m", Follow: true}).String(); got != "docker logs --tail 500 --since 10m --follow dev-app" {
		t.Errorf("dev log command %q", got)
	}
	if got := strings.Join(a.ProdLogArgs(app.LogOptions{Tail: 200, Follow: true}), " "); got != "logs deploy/django-app --all-containers --prefix --tail 200 --follow" {
		t.Errorf("prod log args %q", got)
	}
	if got := strings.Join(a.ProdLogArgs(app.LogOptions{Pod: "django-app-7d9-abc"}), " "); got != "logs django-app-7d9-abc --container web" {
		t.Errorf("pod log args %q", got)
	}
	if got := a.DevURL(); got != "http://127.0.0.1:8080/" {
		t.Errorf("dev URL %q", got)
	}
	if got := a.ReleaseURL("v1.4.2"); got != "https://github.com/acme/book-shop/releases/tag/v1.4.2" {
		t.Errorf("release URL %q", got)
	}
	if got := a.CommitURL("3f2a9c1"); got != "https://github.com/acme/book-shop/commit/3f2a9c1" {
		t.Errorf("commit URL %q", got)
	}
}

// DevLogs on the local dev target runs docker logs; a missing container is an
// error naming it, and a closed view (cancelled context) is not an error.
func TestDevLogsOfMissingContainer(t *testing.T) {
	if _, err := os.Stat("/usr/bin/docker"); err != nil {
		t.Skip("no docker CLI")
	}
	a := consoleApp(t, "app = \"book-shop\"\n[dev]\ntarget = \"local\"\ncontainer = \"gantry-no-such-container-logs\"\n", nil)
	err := a.DevLogs(t.Context(), app.LogOptions{Tail: 10}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "gantry-no-such-container-logs") {
		t.Fatalf("err %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.DevLogs(ctx, app.LogOptions{Follow: true}, func(string) {}); err != nil {
		t.Fatalf("cancelled stream: %v", err)
	}
}

// GitHub API requests land in the command log too (method and path, never the token).
func TestCommandLogRecordsGitHubRequests(t *testing.T) {
	gh := githubtest.New(t)
	gh.AddRepo("acme/book-shop", true)
	t.Setenv("GH_TOKEN", gh.Token)
	a := consoleApp(t, fmt.Sprintf("app = \"book-shop\"\n[github]\nrepo = \"acme/book-shop\"\napi_url = %q\n", gh.URL), nil)
	c, err := a.GitHub()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReleaseByTag(t.Context(), "9.9.9"); err == nil {
		t.Fatal("a missing release was found")
	}
	var found bool
	for _, r := range a.CommandLog() {
		if strings.HasPrefix(r.Cmd, "GET ") && strings.Contains(r.Cmd, "/repos/acme/book-shop/releases/tags/9.9.9") {
			found = true
			if r.ExitCode != 404 || strings.Contains(r.Cmd+r.Err, gh.Token) {
				t.Errorf("record %+v: want the 404 and no token", r)
			}
		}
	}
	if !found {
		t.Fatalf("the GitHub request is not in the command log: %+v", a.CommandLog())
	}
}
