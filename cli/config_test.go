package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigExitsTwoNamingTheField: every bad value stops gantry dev before
// anything starts, with exit status 2 and an error naming the field and the fix.
func TestBadConfigExitsTwoNamingTheField(t *testing.T) {
	good := "[project]\nname='x'\nversion='1.0.0'\n"
	for toml, want := range map[string][]string{
		"[dev]\nhealth_timeout = \"-1s\"\n":   {`dev.health_timeout: "-1s" must be a positive duration like "60s"`},
		"[dev]\nlock_timeout = \"0s\"\n":      {`dev.lock_timeout: "0s" must be a positive duration like "5m"`},
		"[dev]\nlock_stale = \"-30m\"\n":      {`dev.lock_stale:`, "positive duration"},
		"[dev]\nuptime = \"-1s\"\n":           {`dev.uptime:`, "positive duration"},
		"[prod]\nrollout_timeout = \"-5m\"\n": {`prod.rollout_timeout:`, "positive duration"},
		"[prod]\nlock_timeout = \"-1s\"\n":    {`prod.lock_timeout:`, "positive duration"},
		"[dev]\nhealth_path = \"/x[1]\"\n":    {"dev.health_path", "start it with /"},
		"[dev]\nhealth_path = \"/a b\"\n":     {"dev.health_path"},
		"[dev]\nports = 8080\n":               {`dev.ports: must be a string like "8080:8000"`},
		"[dev]\nhealth_timeout = \"soon\"\n":  {"dev.health_timeout", `"soon" is not a duration`},
		"[dev]\nhealth_timeout = 30\n":        {"dev.health_timeout", "is not a duration"},
		"[dev]\nhelth_path = \"/healthz\"\n":  {"unknown key dev.helth_path", "did you mean dev.health_path?"},
		"[prod]\nundo_on_failure = \"yes\"\n": {"prod.undo_on_failure: must be true or false"},
	} {
		dir := appRepo(t, good, toml)
		code, out, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir()}, "dev", "--ci", "--dir", dir)
		if code != ExitBadInput {
			t.Errorf("%q: exit %d, want 2\nstdout: %s\nstderr: %s", toml, code, out, errOut)
			continue
		}
		if strings.Contains(out, "preflight") || strings.Contains(errOut, "config.Dev") {
			t.Errorf("%q: something started, or a Go path leaked:\n%s%s", toml, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q: stderr lacks %q:\n%s", toml, w, errOut)
			}
		}
	}
}

// TestMisspeltEnvWarns: an unknown GANTRY_* variable is a warning, not a failure.
func TestMisspeltEnvWarns(t *testing.T) {
	dir := appRepo(t, "[project]\nname='x'\nversion='1.0.0'\n", "")
	code, out, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir(), "GANTRY_DEV_HOTS": "x"}, "meta", "--dir", dir)
	// The variable must be in the process environment too: run only passes lookups.
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_ = out
	t.Setenv("GANTRY_DEV_HOTS", "x")
	code, _, errOut = run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir(), "GANTRY_DEV_HOTS": "x"}, "meta", "--dir", dir)
	if code != 0 || !strings.Contains(errOut, "warning: GANTRY_DEV_HOTS is not a gantry setting; did you mean GANTRY_DEV_HOST?") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestDebugFileForHeadlessRuns: --debug gets the events of a headless run (here one
// that stops at preflight) and a bad --debug path is bad input.
func TestDebugFileForHeadlessRuns(t *testing.T) {
	dir := appRepo(t, "[project]\nname='x'\nversion='1.0.0'\n", "[registry]\nkind = \"oci\"\nhost = \"127.0.0.1:1\"\n")
	dbg := filepath.Join(t.TempDir(), "debug.log")
	env := map[string]string{"GANTRY_DATA_DIR": t.TempDir(), "DOCKER_HOST": "tcp://127.0.0.1:1"}
	code, out, _ := run(t, env, "--debug", dbg, "dev", "--ci", "--no-deploy", "--dir", dir)
	if code == 0 {
		t.Fatalf("a run against closed ports passed:\n%s", out)
	}
	log, err := os.ReadFile(dbg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "preflight") || !strings.Contains(string(log), "registry access (oci") {
		t.Fatalf("--debug file:\n%s", log)
	}
	code, _, errOut := run(t, env, "--debug", filepath.Join(t.TempDir(), "no", "such", "dir", "x.log"), "dev", "--ci", "--dir", dir)
	if code != ExitBadInput || !strings.Contains(errOut, "--debug") {
		t.Fatalf("bad --debug path: exit %d, %s", code, errOut)
	}
}
