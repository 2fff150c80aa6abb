package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/remote/docker"
)

// secretEchoEngine is a fake engine whose build echoes every secret it got,
// as a careless RUN step could.
type secretEchoEngine struct{ devFakeEngine }

func (e *secretEchoEngine) Build(ctx context.Context, o docker.BuildOptions, log func(string)) (string, error) {
	e.builds = append(e.builds, o)
	for id, v := range o.Secrets {
		for _, line := range strings.Split(string(v), "\n") {
			log(fmt.Sprintf("#5 %s: %s", id, line))
		}
	}
	return "sha256:0123456789abcdef0123", nil
}

func TestDevBuildSecretsCacheAndAuth(t *testing.T) {
	npmrc := filepath.Join(t.TempDir(), "npmrc")
	if err := os.WriteFile(npmrc, []byte("//npm.example/:_authToken=npm-tok-5678\nalways-auth=true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GANTRY_TEST_PIP_TOKEN", "pip-secret-1234")
	reg := &devFakeRegistry{password: func(n int) string { return fmt.Sprintf("reg-pass-%d-xyz", n) }}
	eng := &secretEchoEngine{devFakeEngine{reg: reg, digest: "sha256:" + strings.Repeat("e", 64)}}
	d := devTestRun(reg, &eng.devFakeEngine, false)
	d.p.Engine = func() (DevEngine, error) { return eng, nil }
	d.p.Build.Secrets = map[string]string{"pip_token": "env:GANTRY_TEST_PIP_TOKEN", "npmrc": "file:" + npmrc}
	d.p.Build.Cache = "registry"
	rec, _, err := runDev(t, d)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rec.Text())
	}
	if len(eng.builds) != 1 {
		t.Fatalf("%d builds", len(eng.builds))
	}
	b := eng.builds[0]
	if string(b.Secrets["pip_token"]) != "pip-secret-1234" || !strings.Contains(string(b.Secrets["npmrc"]), "npm-tok-5678") {
		t.Errorf("secrets %v", b.Secrets)
	}
	if b.Cache != "registry" || b.CacheRef != "reg.example:5000/book-shop:buildcache" {
		t.Errorf("cache %q %q", b.Cache, b.CacheRef)
	}
	if b.Auth.Username != "AWS" || !strings.HasPrefix(b.Auth.Password, "reg-pass-") || b.Auth.ServerAddress != "reg.example:5000" {
		t.Errorf("auth %v", b.Auth)
	}
	var shown strings.Builder // everything but the Secret events, which carry values on purpose
	for _, e := range rec.Events() {
		if _, ok := e.(pipeline.Secret); !ok {
			fmt.Fprintf(&shown, "%#v\n", e)
		}
	}
	out := shown.String()
	for _, s := range []string{"pip-secret-1234", "npm-tok-5678", "reg-pass-"} {
		if strings.Contains(out, s) {
			t.Errorf("%q leaked into the output:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "#5 pip_token:") {
		t.Errorf("the build log is missing:\n%s", out)
	}

	// An unset secret variable stops the build before it starts, naming the variable.
	// A registry of its own: the first build's snapshot tag is taken (write-once) in reg.
	reg2 := &devFakeRegistry{password: reg.password}
	eng2 := &secretEchoEngine{devFakeEngine{reg: reg2, digest: "sha256:" + strings.Repeat("f", 64)}}
	d = devTestRun(reg2, &eng2.devFakeEngine, false)
	d.p.Engine = func() (DevEngine, error) { return eng2, nil }
	d.p.Build.Secrets = map[string]string{"pip_token": "env:GANTRY_TEST_UNSET_SECRET"}
	_, _, err = runDev(t, d)
	if err == nil || !strings.Contains(err.Error(), "GANTRY_TEST_UNSET_SECRET") || len(eng2.builds) != 0 {
		t.Errorf("unset secret: %v (%d builds)", err, len(eng2.builds))
	}
}
