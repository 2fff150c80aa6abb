package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/internal/testbed"
)

// run executes gantry in-process with a controlled environment.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code = Execute(context.Background(), args, strings.NewReader(""), &out, &errb, lookup)
	return code, out.String(), errb.String()
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testbed.Git(t, dir, args...)
}

// appRepo makes a committed app folder with the given pyproject and gantry.toml.
func appRepo(t *testing.T, pyproject, gantryToml string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(pyproject), 0o644)
	if gantryToml != "" {
		os.WriteFile(filepath.Join(dir, "gantry.toml"), []byte(gantryToml), 0o644)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "init")
	return dir
}

func TestMetaJSON(t *testing.T) {
	dir := appRepo(t, "[project]\nname='book-shop'\nversion='1.4.2'\n", "")
	head := gitIn(t, dir, "rev-parse", "HEAD")
	code, out, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir()}, "meta", "--json", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m struct {
		Version, Commit, ShortSHA, ImageTag string
		Short                               string `json:"short_sha"`
		Tag                                 string `json:"image_tag"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if m.Version != "1.4.2" || m.Commit != head || m.Short != head[:7] || m.Tag != "1.4.2-SNAPSHOT-"+head[:7] {
		t.Fatalf("meta = %+v", m)
	}
}

func TestExampleAppMeta(t *testing.T) {
	// The example app lives in gantry's own repository; its HEAD is this checkout's.
	dir, _ := filepath.Abs("../examples/book-shop")
	head := gitIn(t, dir, "rev-parse", "HEAD")
	if head == "" {
		t.Skip("no commits in this checkout")
	}
	code, out, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir()}, "meta", "--json", "-C", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"image_tag": "1.4.2-SNAPSHOT-`+head[:7]+`"`) {
		t.Fatalf("meta of examples/book-shop:\n%s", out)
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	good := "[project]\nname='x'\nversion='1.0.0'\n"
	notGit := t.TempDir()
	os.WriteFile(filepath.Join(notGit, "pyproject.toml"), []byte(good), 0o644)
	noCommits := t.TempDir()
	os.WriteFile(filepath.Join(noCommits, "pyproject.toml"), []byte(good), 0o644)
	gitIn(t, noCommits, "init", "-q")

	cases := []struct {
		name string
		dir  string
		args []string
		want []string
	}{
		{"malformed toml", appRepo(t, good, "app = \"x\"\n[registry\nkind='oci'\n"), []string{"meta"}, []string{"gantry.toml:2:", "malformed TOML"}},
		{"unknown key", appRepo(t, good, "app = \"x\"\n[dev]\nhots = 'a'\n"), []string{"meta"}, []string{"unknown key dev.hots", "line 3"}},
		{"bad kind", appRepo(t, good, "[registry]\nkind = 'gcr'\n"), []string{"meta"}, []string{"registry.kind", "\"ecr\""}},
		{"hostile version ;", appRepo(t, "[project]\nversion='1.0;rm -rf /'\n", ""), []string{"meta"}, []string{"1.0;rm -rf /", "may hold only"}},
		{"hostile version $()", appRepo(t, "[project]\nversion='$(id)'\n", ""), []string{"meta"}, []string{"$(id)"}},
		{"not git", notGit, []string{"meta"}, []string{"not a git repository"}},
		{"no commits", noCommits, []string{"meta"}, []string{"no commits"}},
		{"unknown flag", notGit, []string{"meta", "--jsn"}, []string{"unknown flag"}},
		{"unknown command", notGit, []string{"deploy"}, []string{"unknown command"}},
		{"bad output", appRepo(t, good, ""), []string{"dev", "--ci", "--output", "yaml"}, []string{"--output \"yaml\""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{}, c.args...), "--dir", c.dir)
			code, out, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir()}, args...)
			if code != ExitBadInput {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func TestNoTerminalPointsToCI(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"GANTRY_DATA_DIR": t.TempDir()})
	if code != ExitBadInput || !strings.Contains(errOut, "--ci") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for _, c := range [][]string{{"--help"}, {"dev", "--help"}, {"promote", "--help"}, {"meta", "--help"}, {"snapshots", "--help"}, {"doctor", "--help"}, {"rollback", "--help"}, {"completion", "bash"}} {
		code, out, errOut := run(t, nil, c...)
		if code != 0 || len(out) < 50 {
			t.Errorf("%v: exit %d, %d bytes\n%s", c, code, len(out), errOut)
		}
	}
}
