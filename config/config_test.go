package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

func TestDurationsMustBePositive(t *testing.T) {
	for _, f := range []struct{ section, key string }{
		{"dev", "health_timeout"}, {"dev", "uptime"}, {"dev", "lock_timeout"}, {"dev", "lock_stale"},
		{"prod", "rollout_timeout"}, {"prod", "lock_timeout"}, {"prod", "lock_stale"},
	} {
		field := f.section + "." + f.key
		def := defaultOf(field)
		for _, v := range []string{"-1s", "0s"} {
			_, err := load(t, fmt.Sprintf("[%s]\n%s = %q\n", f.section, f.key, v), nil)
			want := fmt.Sprintf("%s: %q must be a positive duration like %q", field, v, def)
			if !errors.Is(err, ErrInvalid) || err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %q: %v, want %q", field, v, err, want)
			}
		}
		// The environment is held to the same rule.
		if _, err := load(t, "", map[string]string{envName(field): "-5m"}); err == nil || !strings.Contains(err.Error(), field+": \"-5m0s\" must be a positive") {
			t.Errorf("%s from the environment: %v", envName(field), err)
		}
	}
}

func TestHealthPath(t *testing.T) {
	for _, good := range []string{"/healthz", "/", "/api/v1/health-check", "/health?full=1&verbose=yes", "/a%20b", "/~user/x.json"} {
		if cfg, err := load(t, fmt.Sprintf("[dev]\nhealth_path = %q\n", good), nil); err != nil || cfg.Dev.HealthPath != good {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []string{"healthz", "/a b", "/x[1]", "/{a}", "/x#frag", "/a\x01", "/%zz", "/a'b", "/a\"b", "/$(id)", "/a;b", "/a\\b", "/a\tb", "/a?b c", "http://x/healthz"} {
		_, err := load(t, fmt.Sprintf("[dev]\nhealth_path = %q\n", bad), nil)
		if err == nil || !strings.Contains(err.Error(), "dev.health_path") || !strings.Contains(err.Error(), "start it with /") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestTypeErrorsNameTheField: a value of the wrong type names its key and what it
// takes, not the decoder's Go struct path.
func TestTypeErrorsNameTheField(t *testing.T) {
	for in, want := range map[string]string{
		"[dev]\nports = 8080\n":              `dev.ports: must be a string like "8080:8000"`,
		"[dev]\nhealth_timeout = \"soon\"\n": `dev.health_timeout: "soon" is not a duration`,
		"[dev]\nhealth_timeout = 60\n":       `dev.health_timeout: is not a duration`,
		"[dev]\nport = \"22\"\n":             `dev.port: must be a whole number like 22`,
		"[prod]\nundo_on_failure = \"no\"\n": `prod.undo_on_failure: must be true or false`,
		"[build]\nargs = 3\n":                `build.args: must be a table of strings`,
		"[build.args]\nPIP = 3\n":            `build.args.PIP: must be a string`,
		"app = 3\n":                          `app: must be a string`,
	} {
		_, err := load(t, in, nil)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "config.") || strings.Contains(err.Error(), "malformed") {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	_, err := load(t, "[dev]\nhelth_path = '/x'\n", nil)
	if err == nil || !strings.Contains(err.Error(), "unknown key dev.helth_path") || !strings.Contains(err.Error(), "did you mean dev.health_path?") {
		t.Errorf("misspelt key: %v", err)
	}
	_, err = load(t, "[dev]\ncompletely_unknown = 1\n", nil)
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a key near nothing: %v", err)
	}
	got := UnknownEnv([]string{"GANTRY_DEV_HOTS=a", "GANTRY_DEV_HOST=b", "GANTRY_TEST_SSH=c", "GANTRY_WHO=d", "GANTRY_NOTHING_LIKE_IT=e", "PATH=/bin"})
	if len(got) != 2 || !strings.Contains(got[0], "GANTRY_DEV_HOTS is not a gantry setting; did you mean GANTRY_DEV_HOST?") || !strings.Contains(got[1], "GANTRY_NOTHING_LIKE_IT is not a gantry setting") {
		t.Errorf("env warnings = %q", got)
	}
}

// TestDefaultsDeclaredOnce: every declared default names a real field, parses, and is
// what an empty config gets (dev and prod share the SSH and lock defaults).
func TestDefaultsDeclaredOnce(t *testing.T) {
	types := fieldTypes()
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	walk(reflect.ValueOf(cfg).Elem(), "", func(field string, v reflect.Value) {
		values[field] = fmt.Sprint(v.Interface())
		if d, ok := v.Interface().(Duration); ok {
			values[field] = d.Duration.String()
		}
	})
	check := func(field, def string) {
		if _, ok := types[field]; !ok {
			t.Errorf("default for %s: no such field", field)
			return
		}
		want := def
		if d, err := time.ParseDuration(def); err == nil {
			want = d.String()
		}
		if values[field] != want {
			t.Errorf("%s = %q, want the default %q", field, values[field], want)
		}
	}
	for _, d := range defaults {
		if d.field == "registry.kind" {
			continue // the embedded default mode sets it too
		}
		check(d.field, d.value)
	}
	for _, d := range envDefaults {
		check("dev."+d.field, d.value)
		check("prod."+d.field, d.value)
	}
}

// The typed registry kind loads from the file and from GANTRY_REGISTRY_KIND alike.
func TestRegistryKindTyped(t *testing.T) {
	cfg, err := load(t, "[registry]\nkind = \"ecr\"\nregion = \"eu-west-1\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Registry.Kind != KindECR {
		t.Fatalf("file kind: got %q, want %q", cfg.Registry.Kind, KindECR)
	}
	cfg, err = load(t, "", map[string]string{"GANTRY_REGISTRY_KIND": "oci", "GANTRY_REGISTRY_HOST": "127.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Registry.Kind != KindOCI {
		t.Fatalf("env kind: got %q, want %q", cfg.Registry.Kind, KindOCI)
	}
}

func TestParseEnv(t *testing.T) {
	for s, want := range map[string]Env{"dev": EnvDev, "prod": EnvProd} {
		if got, err := ParseEnv(s); err != nil || got != want {
			t.Errorf("ParseEnv(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	for _, s := range []string{"", "Dev", "staging"} {
		if _, err := ParseEnv(s); err == nil || !strings.Contains(err.Error(), "use dev or prod") {
			t.Errorf("ParseEnv(%q): want an error naming dev and prod, got %v", s, err)
		}
	}
}

// TestDevSwitch: dev.switch defaults to direct (with caddy:2 and a 5s drain ready for
// proxy), takes proxy, and refuses anything else or a negative drain, naming the field.
func TestDevSwitch(t *testing.T) {
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.Switch != SwitchDirect || cfg.Dev.ProxyImage != "caddy:2" || cfg.Dev.Drain.Duration != 5*time.Second {
		t.Fatalf("defaults: switch %q, proxy_image %q, drain %s", cfg.Dev.Switch, cfg.Dev.ProxyImage, cfg.Dev.Drain.Duration)
	}
	cfg, err = load(t, "[dev]\nswitch = \"proxy\"\nproxy_image = \"gantry-test/caddy:2\"\ndrain = \"0s\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dev.Switch != SwitchProxy || cfg.Dev.ProxyImage != "gantry-test/caddy:2" || cfg.Dev.Drain.Duration != 0 {
		t.Fatalf("set: %+v", cfg.Dev)
	}
	for body, field := range map[string]string{
		"[dev]\nswitch = \"swap\"\n":                         "dev.switch",
		"[dev]\ndrain = \"-1s\"\n":                           "dev.drain",
		"[dev]\nswitch = \"proxy\"\nproxy_image = \"a b\"\n": "dev.proxy_image",
	} {
		if _, err := load(t, body, nil); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: err = %v, want one naming %s", body, err, field)
		}
	}
}
