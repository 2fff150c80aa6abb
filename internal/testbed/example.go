package testbed

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ExampleApp copies examples/book-shop, without its build output (dist/), into a new
// temp folder and returns the copy's path. Callers make it a git repository as they need.
func ExampleApp(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the testbed package")
	}
	src := filepath.Join(filepath.Dir(file), "..", "..", "examples", "book-shop")
	dir := filepath.Join(t.TempDir(), "book-shop")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "dist" {
			return filepath.SkipDir
		}
		to := filepath.Join(dir, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the example app: %v", err)
	}
	return dir
}
