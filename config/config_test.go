package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, toml string, env map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	if toml != "" {
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if env == nil {
		env = map[string]string{}
	}
	env["GANTRY_DATA_DIR"] = filepath.Join(dir, "data")
	return Load(Options{Dir: dir, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
}

func TestEmbeddedDefault(t *testing.T) {
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Embedded() || cfg.Dev.Target != TargetLocal || cfg.File != "" {
		t.Fatalf("no gantry.toml should give the embedded default: %+v", cfg)
	}
	if cfg.Dev.Container != "dev-app" || cfg.Dev.Ports != "8080:8000" || cfg.Prod.Kubectl != "microk8s kubectl" ||
		cfg.Prod.Manifest != "k8s/app-prod.yaml" || cfg.Prod.Deployment != "django-app" || cfg.Prod.Container != "django-container" {
		t.Fatalf("defaults: %+v %+v", cfg.Dev, cfg.Prod)
	}
}

func TestFileAndEnvOverrides(t *testing.T) {
	cfg, err := load(t, `
app = "book-shop"
[registry]
kind = "ecr"
region = "eu-west-1"
[dev]
host = "ec2.example.com"
health_timeout = "90s"
[prod]
undo_on_failure = false
`, map[string]string{"GANTRY_DEV_HOST": "10.1.2.3", "GANTRY_REGISTRY_HOST": "127.0.0.1:5000", "GANTRY_DEV_KEEP_IMAGES": "5", "GITHUB_REPOSITORY": "acme/book-shop"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.Host != "10.1.2.3" || cfg.Registry.Host != "127.0.0.1:5000" || cfg.Dev.KeepImages != 5 {
		t.Fatalf("env overrides not applied: %+v %+v", cfg.Dev, cfg.Registry)
	}
	if cfg.Dev.Target != TargetSSH || cfg.Dev.HealthTimeout.Duration != 90*time.Second || Enabled(cfg.Prod.UndoOnFailure, true) {
		t.Fatalf("file values: %+v", cfg.Dev)
	}
	if cfg.Registry.Repository != "book-shop" || cfg.GitHub.Repo != "acme/book-shop" {
		t.Fatalf("derived values: %+v %+v", cfg.Registry, cfg.GitHub)
	}
}

func TestValidationNamesFieldAndFix(t *testing.T) {
	cases := map[string]struct{ toml, field, fix string }{
		"ecr without region": {"[registry]\nkind='ecr'\n", "registry.region", "eu-west-1"},
		"bad kind":           {"[registry]\nkind='gcr'\n", "registry.kind", "\"oci\""},
		"oci without host":   {"[registry]\nkind='oci'\n", "registry.host", "host ="},
		"host with scheme":   {"[registry]\nkind='oci'\nhost='https://x'\n", "registry.host", "without a scheme"},
		"ssh without host":   {"[dev]\ntarget='ssh'\n", "dev.host", "target = \"local\""},
		"bad ports":          {"[dev]\nports='8080'\n", "dev.ports", "8080:8000"},
		"hostile container":  {"[dev]\ncontainer='x;rm -rf /'\n", "dev.container", "dev-app"},
		"hostile kubectl":    {"[prod]\nkubectl='kubectl $(id)'\n", "prod.kubectl", "words only"},
		"health path":        {"[dev]\nhealth_path='healthz'\n", "dev.health_path", "start it with /"},
		"bad duration":       {"[dev]\nhealth_timeout='soon'\n", FileName, "duration"},
		"bad repo":           {"[github]\nrepo='book-shop'\n", "github.repo", "acme/book-shop"},
		"manifest escape":    {"[prod]\nmanifest='../../etc/passwd'\n", "prod.manifest", "inside the app folder"},
		"tag format":         {"[github]\ntag_format='release'\n", "github.tag_format", "{version}"},
		"dev branch":         {"[prod]\ndev_branch='--all'\n", "prod.dev_branch", "\"dev\""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, c.toml, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not match ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.fix) {
				t.Errorf("error %q should name %q and the fix %q", err, c.field, c.fix)
			}
		})
	}
}

func TestEnvOverrideErrorNamesVariable(t *testing.T) {
	_, err := load(t, "", map[string]string{"GANTRY_DEV_PORT": "twenty-two"})
	if err == nil || !strings.Contains(err.Error(), "GANTRY_DEV_PORT") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownKeyAndMalformed(t *testing.T) {
	_, err := load(t, "[registry]\nkidn = 'oci'\n", nil)
	if err == nil || !strings.Contains(err.Error(), "unknown key registry.kidn (line 2") {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = load(t, "app = 'x'\n[dev\n", nil)
	if err == nil || !strings.Contains(err.Error(), FileName+":2:") {
		t.Fatalf("malformed: %v", err)
	}
}
