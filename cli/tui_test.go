package cli

import (
	"errors"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
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
