package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bookshop-ops/gantry/remote/git"
)

// tagsOnly answers TagCommit from a map; every other release call is unused here.
type tagsOnly struct {
	ReleaseAPI
	tags map[string]string
}

func (f tagsOnly) TagCommit(_ context.Context, tag string) (string, error) {
	if sha, ok := f.tags[tag]; ok {
		return sha, nil
	}
	return "", errors.New("no such tag")
}

func TestMigrationWarning(t *testing.T) {
	ctx := context.Background()
	h := newHistRepo(t)
	prod := h.commit("first", map[string]string{"shop/models.py": "x", "shop/migrations/__init__.py": "", "shop/migrations/0001_initial.py": "a"})
	h.git("tag", "1.0.0")
	noMigration := h.commit("Views only (#12)", map[string]string{"shop/views.py": "v", "shop/migrations/__init__.py": "# touched"})
	repo, err := git.Open(ctx, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	gh := tagsOnly{tags: map[string]string{"1.1.0": prod, "9.9.9": strings.Repeat("0", 40)}}

	if w := migrationWarning(ctx, repo, gh, "1.0.0", noMigration); w != "" {
		t.Errorf("no migration changed (only __init__.py and views), got warning %q", w)
	}
	withMigrations := h.commit("Add stock (#13)", map[string]string{
		"shop/migrations/0002_stock.py":         "b",
		"shop/migrations/0001_initial.py":       "a2",
		"orders/migrations/0001_initial.py":     "c",
		"billing/migrations/0001_initial.py":    "d",
		"docs/migrations/notes.md":              "not python",
		"shop/migrations/helpers/not_a_step.py": "nested, not a migration",
	})
	w := migrationWarning(ctx, repo, gh, "1.0.0", withMigrations)
	for _, want := range []string{"database migrations changed since 1.0.0", "billing/migrations/0001_initial.py", "and 1 more"} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if strings.Contains(w, "notes.md") || strings.Contains(w, "not_a_step") {
		t.Errorf("warning lists a file that is no migration: %q", w)
	}
	// A prod tag that is not fetched is resolved through GitHub.
	if w := migrationWarning(ctx, repo, gh, "1.1.0", withMigrations); !strings.Contains(w, "since 1.1.0") {
		t.Errorf("tag resolved through GitHub: got %q", w)
	}
	// A range that cannot be read gives no warning (the commits fact says why).
	for _, tag := range []string{"9.9.9", "2.0.0"} {
		if w := migrationWarning(ctx, repo, gh, tag, withMigrations); w != "" {
			t.Errorf("unknown range from %s: got %q", tag, w)
		}
	}
	files, err := repo.ChangedFiles(ctx, prod, noMigration)
	if err != nil || strings.Join(files, ",") != "shop/migrations/__init__.py,shop/views.py" {
		t.Errorf("ChangedFiles = %v, %v", files, err)
	}
	if _, err := repo.ChangedFiles(ctx, "--output=/tmp/x", noMigration); err == nil {
		t.Error("ChangedFiles accepted an option as a revision")
	}
}
