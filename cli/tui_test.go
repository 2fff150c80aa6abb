package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
	"github.com/bookshop-ops/gantry/remote/docker"
	"github.com/bookshop-ops/gantry/remote/github"
	"github.com/bookshop-ops/gantry/remote/registry"
	"github.com/bookshop-ops/gantry/remote/sshhost"
	"github.com/bookshop-ops/gantry/ui"
)

// The console colours "healthy" green; the app reports the health path's HTTP status.
func TestDevHealth(t *testing.T) {
	for answer, want := range map[string]string{
		"":               "",
		"200":            "healthy",
		"204":            "healthy",
		"503":            "unhealthy: HTTP 503",
		"000":            "unreachable",
		"000unreachable": "unreachable",
		"unreachable":    "unreachable",
		" 200\n":         "healthy",
	} {
		if got := devHealth(answer); got != want {
			t.Errorf("devHealth(%q) = %q, want %q", answer, got, want)
		}
	}
}

func TestProdEnvNotConfigured(t *testing.T) {
	a, err := app.New(&config.Config{Prod: config.Prod{Deployment: "django-app"}}, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := (&backend{app: a, logf: t.Logf}).ProdEnv(t.Context())
	if !errors.Is(env.Err, ui.ErrNotConfigured) || env.Deployment != "django-app" {
		t.Fatalf("ProdEnv without prod.host = %+v, want ErrNotConfigured for django-app", env)
	}
}

// The adapter classifies errors by their types for the console's hint; an
// error's text alone classifies nothing.
func TestProblemKinds(t *testing.T) {
	for _, c := range []struct {
		err  error
		want ui.ProblemKind
	}{
		{fmt.Errorf("ssh dev: %w", &sshhost.HostKeyError{Host: "h"}), ui.ProblemHostKey},
		{fmt.Errorf("list: %w", registry.ErrUnauthorized), ui.ProblemCredentials},
		{fmt.Errorf("login: %w", registry.ErrNoCredentials), ui.ProblemCredentials},
		{fmt.Errorf("push: %w", docker.ErrUnauthorized), ui.ProblemCredentials},
		{fmt.Errorf("release: %w", github.ErrForbidden), ui.ProblemGitHub},
		{&github.RateLimitError{}, ui.ProblemGitHub},
		{fmt.Errorf("deploy: %w", sshhost.ErrConnLost), ui.ProblemUnreachable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, ui.ProblemUnreachable},
		{errors.New("ssh: knownhosts: expired unauthorized dial"), ui.ProblemOther},
	} {
		err := problem(c.err)
		if got := ui.KindOf(err); got != c.want {
			t.Errorf("%v: kind %v, want %v", c.err, got, c.want)
		}
		if err.Error() != c.err.Error() || !errors.Is(err, c.err) {
			t.Errorf("%v: classification changed the error: %v", c.err, err)
		}
	}
	if problem(nil) != nil {
		t.Error("problem(nil) is not nil")
	}

	// A real failed dial: nothing listens on port 1.
	cfg := &config.Config{Dev: config.Dev{Target: config.TargetSSH, SSH: config.SSH{Host: "127.0.0.1", Port: 1, User: "u", SSHConfig: config.SSHConfigOff, InsecureIgnoreHostKey: true}}}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Host(context.Background(), config.EnvDev)
	if err == nil || ui.KindOf(problem(err)) != ui.ProblemUnreachable {
		t.Fatalf("dial to a closed port: %v (kind %v), want unreachable", err, ui.KindOf(problem(err)))
	}
}

func TestDevTraffic(t *testing.T) {
	for _, tc := range []struct {
		st   app.DevStatus
		want string
	}{
		{app.DevStatus{Container: "dev-app", Switch: "direct", SwitchWant: "direct", Receiving: "dev-app"}, "direct"},
		{app.DevStatus{Container: "dev-app", Switch: "proxy", SwitchWant: "proxy", Proxy: "running", Receiving: "dev-app"}, "proxy (running) → dev-app"},
		{app.DevStatus{Container: "dev-app", Switch: "direct", SwitchWant: "direct", Receiving: "dev-app-next"}, "direct → dev-app-next (left by an interrupted deploy; the next run recovers it)"},
		{app.DevStatus{Container: "dev-app", Switch: "direct", SwitchWant: "proxy", Proxy: "absent", Receiving: "dev-app"}, "direct; dev.switch = proxy: the next deploy migrates"},
		{app.DevStatus{}, ""},
	} {
		if got := devTraffic(tc.st); got != tc.want {
			t.Errorf("devTraffic(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
}
