package workflowlint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/bookshop-ops/gantry/printer"
)

type actionMeta struct {
	Inputs map[string]struct {
		Required bool   `yaml:"required"`
		Default  string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID   string            `yaml:"id"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

func readAction(t *testing.T, root string) actionMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatalf("read action.yml: %v", err)
	}
	var a actionMeta
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

// The action exposes every result gantry writes to $GITHUB_OUTPUT, its steps run scripts
// that exist, and the example workflows give it only inputs it declares.
func TestActionMetadata(t *testing.T) {
	root := repoRoot(t)
	a := readAction(t, root)
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using = %q, want composite", a.Runs.Using)
	}
	for _, in := range []string{"command", "args", "version", "working-directory"} {
		if _, ok := a.Inputs[in]; !ok {
			t.Errorf("action input %q missing", in)
		}
	}
	if !a.Inputs["command"].Required {
		t.Errorf("the command input must be required")
	}
	for _, k := range printer.OutputKeys {
		o, ok := a.Outputs[k]
		if !ok {
			t.Errorf("gantry writes output %q, the action does not expose it", k)
			continue
		}
		if o.Value != "${{ steps.run.outputs."+k+" }}" {
			t.Errorf("output %s = %q, want the run step's output", k, o.Value)
		}
	}
	scriptRE := regexp.MustCompile(`\$GITHUB_ACTION_PATH/(scripts/action/[a-z]+\.sh)`)
	var ids []string
	for _, s := range a.Runs.Steps {
		ids = append(ids, s.ID)
		if s.Run == "" {
			continue
		}
		m := scriptRE.FindStringSubmatch(s.Run)
		if m == nil {
			t.Errorf("step %q runs inline shell %q; keep it in scripts/action so it is tested", s.ID, s.Run)
			continue
		}
		if st, err := os.Stat(filepath.Join(root, m[1])); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("step %q runs %s, which is missing or not executable (%v)", s.ID, m[1], err)
		}
	}
	if !slices.Contains(ids, "install") || !slices.Contains(ids, "run") {
		t.Errorf("steps %v: want install and run", ids)
	}

	// Example workflows that use the action pass only declared inputs.
	usesRE := regexp.MustCompile(`uses: bookshop-ops/gantry@\S+\n((?:\s+.*\n)*?)\s+with:\n((?:\s{10,}\S.*\n)+)`)
	for _, f := range workflowFiles(t, root) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesRE.FindAllStringSubmatch(string(data), -1) {
			for _, line := range strings.Split(strings.TrimSpace(m[2]), "\n") {
				name, _, _ := strings.Cut(strings.TrimSpace(line), ":")
				if _, ok := a.Inputs[name]; !ok {
					t.Errorf("%s gives the action input %q, which action.yml does not declare", filepath.Base(f), name)
				}
			}
		}
	}
}

func TestActionScriptsShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("GANTRY_TESTBED_REQUIRED") == "1" {
			t.Fatal("shellcheck missing (scripts/test installs it)")
		}
		t.Skip("shellcheck not installed")
	}
	root := repoRoot(t)
	scripts, _ := filepath.Glob(filepath.Join(root, "scripts", "action", "*.sh"))
	if len(scripts) == 0 {
		t.Fatal("no scripts/action/*.sh")
	}
	out, err := exec.Command(sc, scripts...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// goreleaser returns the GoReleaser binary of the test bed, or skips.
func goreleaser(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GANTRY_TEST_GORELEASER")
	if p == "" {
		if os.Getenv("GANTRY_TESTBED_REQUIRED") == "1" {
			t.Fatal("GANTRY_TEST_GORELEASER is not set: scripts/testbed/tools.sh builds it")
		}
		t.Skip("GANTRY_TEST_GORELEASER not set (run under scripts/test)")
	}
	return p
}

// TestGoReleaserConfig runs `goreleaser check` on gantry's own release configuration.
func TestGoReleaserConfig(t *testing.T) {
	gr := goreleaser(t)
	root := repoRoot(t)
	cmd := exec.Command(gr, "check", "--config", filepath.Join(root, ".goreleaser.yaml"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
}

// snapshotRelease builds a release of this checkout with GoReleaser's snapshot mode, for
// this machine's platform only (the configuration's archive, checksum and version
// settings as they are), into dir. It returns the snapshot version.
func snapshotRelease(t *testing.T, gr, dir string) string {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	builds, _ := cfg["builds"].([]any)
	if len(builds) != 1 {
		t.Fatalf(".goreleaser.yaml has %d builds, want 1", len(builds))
	}
	b := builds[0].(map[string]any)
	b["goos"] = []string{runtime.GOOS}
	b["goarch"] = []string{runtime.GOARCH}
	cfg["dist"] = filepath.Join(dir, "dist")
	delete(cfg, "sboms") // syft is not on the test bed; the release workflow installs it
	delete(cfg, "before")
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "goreleaser.yaml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gr, "release", "--snapshot", "--clean", "--skip=publish,announce,validate", "--parallelism", "1", "--config", cfgPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "dist", "checksums.txt"))
	if err != nil {
		t.Fatalf("the snapshot build wrote no checksums.txt: %v", err)
	}
	m := regexp.MustCompile(`gantry_(\S+)_` + runtime.GOOS + `_` + runtime.GOARCH + `\.tar\.gz`).FindSubmatch(sums)
	if m == nil {
		t.Fatalf("checksums.txt lists no archive for %s/%s:\n%s", runtime.GOOS, runtime.GOARCH, sums)
	}
	return string(m[1])
}

// TestActionInstallsVerifiedRelease runs the action's shell steps against a local file
// server holding a release that GoReleaser's snapshot build made: the archive is
// downloaded, checked against checksums.txt and cached; a tampered archive installs
// nothing; the run step runs the installed gantry.
func TestActionInstallsVerifiedRelease(t *testing.T) {
	gr := goreleaser(t)
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("the action supports Linux and macOS runners")
	}
	root := repoRoot(t)
	work := t.TempDir()
	num := snapshotRelease(t, gr, work)
	tag := "v" + num
	archive := fmt.Sprintf("gantry_%s_%s_%s.tar.gz", num, runtime.GOOS, runtime.GOARCH)

	// A release download tree: <base>/<tag>/<archive> and <base>/<tag>/checksums.txt.
	files := map[string][]byte{}
	for _, name := range []string{archive, "checksums.txt"} {
		data, err := os.ReadFile(filepath.Join(work, "dist", name))
		if err != nil {
			t.Fatal(err)
		}
		files["/"+tag+"/"+name] = data
	}
	var hits atomic.Int32
	var mu sync.Mutex // the test swaps the archive while the server may be reading
	serve := func(path string, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		files[path] = data
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		data, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	defer srv.Close()

	toolCache := filepath.Join(work, "tool-cache")
	install := func(t *testing.T) (string, map[string]string, error) {
		t.Helper()
		ghOut := filepath.Join(t.TempDir(), "output")
		ghPath := filepath.Join(t.TempDir(), "path")
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "action", "install.sh"))
		cmd.Env = append(os.Environ(),
			"GANTRY_VERSION="+tag, "GANTRY_DOWNLOAD_BASE="+srv.URL,
			"RUNNER_TOOL_CACHE="+toolCache, "RUNNER_OS=", "RUNNER_ARCH=",
			"GITHUB_OUTPUT="+ghOut, "GITHUB_PATH="+ghPath)
		out, err := cmd.CombinedOutput()
		outputs := map[string]string{}
		if data, rerr := os.ReadFile(ghOut); rerr == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					outputs[k] = v
				}
			}
		}
		return string(out), outputs, err
	}

	out, outputs, err := install(t)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	bin := outputs["path"]
	if bin == "" || !strings.HasPrefix(bin, toolCache) || outputs["version"] != tag {
		t.Fatalf("outputs %v\n%s", outputs, out)
	}
	if !strings.Contains(out, "verified "+archive) || !strings.Contains(out, num) {
		t.Fatalf("install did not verify or the binary does not report %s:\n%s", num, out)
	}
	ver, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(ver), num) {
		t.Fatalf("%s --version = %q, %v; want the stamped %s", bin, ver, err, num)
	}

	// Cached: a second install downloads nothing.
	before := hits.Load()
	out, _, err = install(t)
	if err != nil || hits.Load() != before || !strings.Contains(out, "from the tool cache") {
		t.Fatalf("second install: %v, %d downloads\n%s", err, hits.Load()-before, out)
	}

	// A tampered archive is refused, and nothing is installed.
	if err := os.RemoveAll(toolCache); err != nil {
		t.Fatal(err)
	}
	good := files["/"+tag+"/"+archive]
	bad := append(bytes.Clone(good), 0)
	serve("/"+tag+"/"+archive, bad)
	out, _, err = install(t)
	if err == nil || !strings.Contains(out, "checksum mismatch") {
		t.Fatalf("tampered archive: err %v\n%s", err, out)
	}
	sum := sha256.Sum256(bad)
	if !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Errorf("the mismatch message does not name the archive's digest:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(toolCache, "gantry", tag)); !os.IsNotExist(err) {
		t.Fatalf("a refused archive left files in the tool cache: %v", err)
	}
	serve("/"+tag+"/"+archive, good)
	if out, _, err = install(t); err != nil {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}

	// The run step runs the installed gantry headless in the working directory.
	app := t.TempDir()
	for _, c := range [][]string{{"init", "-q", "-b", "main"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"}} {
		if out, err := exec.Command("git", append([]string{"-C", app}, c...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", c, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(app, "pyproject.toml"), []byte("[project]\nname = \"x\"\nversion = \"2.3.4\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", app, "add", ".").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", app, "commit", "-q", "-m", "init").CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, out)
	}
	run := exec.Command("bash", filepath.Join(root, "scripts", "action", "run.sh"))
	run.Env = append(os.Environ(), "GANTRY_BIN="+bin, "GANTRY_COMMAND=meta", "GANTRY_ARGS=--json", "GANTRY_WORKDIR="+app)
	got, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(got), `"2.3.4-SNAPSHOT-`) {
		t.Fatalf("run.sh meta --json: %v\n%s", err, got)
	}
	bad2 := exec.Command("bash", filepath.Join(root, "scripts", "action", "run.sh"))
	bad2.Env = append(os.Environ(), "GANTRY_BIN="+bin, "GANTRY_COMMAND=rm -rf /", "GANTRY_WORKDIR="+app)
	if got, err := bad2.CombinedOutput(); err == nil || !strings.Contains(string(got), "unknown command") {
		t.Fatalf("run.sh with a hostile command: %v\n%s", err, got)
	}
}
