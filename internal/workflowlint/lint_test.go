package workflowlint

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// repoRoot is two levels up from this package's folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// workflowFiles lists .github/workflows/* and examples/*/.github/workflows/*.yml|yaml.
func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		".github/workflows/*.yml", ".github/workflows/*.yaml",
		"examples/*/.github/workflows/*.yml", "examples/*/.github/workflows/*.yaml",
	} {
		m, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
		if err != nil {
			t.Fatalf("glob %s: %v", pattern, err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	return files
}

// newLinter returns an actionlint linter that runs shellcheck on `run:` scripts when
// shellcheck is installed (scripts/test installs it).
func newLinter(t *testing.T, out *bytes.Buffer) *actionlint.Linter {
	t.Helper()
	opts := &actionlint.LinterOptions{LogWriter: out}
	if p, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = p
	} else {
		t.Log("shellcheck not found: run: scripts are not shell-checked")
	}
	l, err := actionlint.NewLinter(out, opts)
	if err != nil {
		t.Fatalf("new linter: %v", err)
	}
	return l
}

func report(errs []*actionlint.Error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

func TestWorkflows(t *testing.T) {
	root := repoRoot(t)
	files := workflowFiles(t, root)
	// The project's own CI must exist; an empty list would make this test pass vacuously.
	if !slices.Contains(files, filepath.Join(root, ".github", "workflows", "ci.yml")) {
		t.Fatalf("no .github/workflows/ci.yml under %s (found %v)", root, files)
	}
	var out bytes.Buffer
	errs, err := newLinter(t, &out).LintFiles(files, nil)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("actionlint found %d error(s) in %d workflow file(s):%s", len(errs), len(files), report(errs))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Logf("ok: %s", rel)
	}
}

// TestLinterReportsErrors proves the linter used above does report problems.
func TestLinterReportsErrors(t *testing.T) {
	broken := []byte(`on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.evnt.ref }}"
      - uses: actions/setup-go
`)
	var out bytes.Buffer
	errs, err := newLinter(t, &out).Lint("broken.yml", broken, nil)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	var kinds []string
	for _, e := range errs {
		kinds = append(kinds, e.Kind)
	}
	// An unknown property of the github context and an action without a version.
	for _, want := range []string{"expression", "action"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %q error reported; got:%s", want, report(errs))
		}
	}
}
