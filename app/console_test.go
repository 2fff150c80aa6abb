package app_test

import (
	"context"
	"os"
	"testing"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/config"
)

// The console lists prod.dev_branch and HEAD's branch (the one promote releases from),
// whatever they are called, with the release tags; a missing dev branch falls back to
// its origin/ counterpart, and a repository with neither lists HEAD.
func TestCommitsWalkTheConfiguredBranches(t *testing.T) {
	r := newAppRepo(t) // on branch dev, one commit
	r.git("checkout", "-q", "-b", "release")
	rel := r.commit("release: merge for 1.4.2")
	r.git("tag", "v1.4.2", rel)
	r.git("checkout", "-q", "dev")
	dev := r.commit("dev work")
	r.git("checkout", "-q", "release")
	r.write("gantry.toml", "app = \"book-shop\"\n[prod]\ndev_branch = \"dev\"\n")

	commits := commitsOf(t, r.Dir)
	byBranch := map[string][]app.Commit{}
	for _, c := range commits {
		byBranch[c.Branch] = append(byBranch[c.Branch], c)
	}
	if len(byBranch["dev"]) != 2 || byBranch["dev"][0].SHA != dev {
		t.Fatalf("dev commits %+v, want 2 with %s first", byBranch["dev"], dev)
	}
	if len(byBranch["release"]) != 2 || byBranch["release"][0].SHA != rel || len(byBranch["release"][0].Releases) != 1 || byBranch["release"][0].Releases[0] != "v1.4.2" {
		t.Fatalf("release commits %+v, want %s tagged v1.4.2 first", byBranch["release"], rel)
	}
	if len(byBranch) != 2 {
		t.Fatalf("branches %v, want dev and release only (no hard-coded main)", byBranch)
	}

	// dev_branch names a branch that exists only as origin/<name>.
	r.write("gantry.toml", "app = \"book-shop\"\n[prod]\ndev_branch = \"staging\"\n")
	r.git("update-ref", "refs/remotes/origin/staging", dev)
	byBranch = map[string][]app.Commit{}
	for _, c := range commitsOf(t, r.Dir) {
		byBranch[c.Branch] = append(byBranch[c.Branch], c)
	}
	if len(byBranch["staging"]) != 2 || byBranch["staging"][0].SHA != dev {
		t.Fatalf("staging (origin/staging) commits %+v, want %s first", byBranch["staging"], dev)
	}

	// A detached HEAD and no dev branch: HEAD's history.
	r.write("gantry.toml", "app = \"book-shop\"\n[prod]\ndev_branch = \"nowhere\"\n")
	r.git("checkout", "-q", "--detach", rel)
	commits = commitsOf(t, r.Dir)
	if len(commits) != 2 || commits[0].SHA != rel {
		t.Fatalf("detached HEAD commits %+v, want HEAD's history", commits)
	}
}

func commitsOf(t *testing.T, dir string) []app.Commit {
	t.Helper()
	cfg, err := config.Load(config.Options{Dir: dir, Env: func(k string) (string, bool) {
		if k == "GANTRY_DATA_DIR" {
			return t.TempDir(), true
		}
		return os.LookupEnv(k)
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	commits, err := a.Commits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return commits
}

// The masker knows the environment's secrets before any step runs: a plan never shows one.
func TestMaskerKnowsEnvSecrets(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	a, err := app.New(&config.Config{}, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Masker().Mask("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here"); got == "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here" {
		t.Fatalf("masker left the secret: %q", got)
	}
}
