package app_test

import (
	"os"
	"testing"

	"github.com/bookshop-ops/gantry/cli"
)

// TestMain keeps the tests independent of the CI they run in: under GitHub Actions
// (GITHUB_ACTIONS=true) github.deployments defaults to on, which would add the
// deployment step to every workflow. Tests that want Actions set it themselves.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		// The test binary runs gantry itself; the arguments after it are gantry's,
		// untouched by the testing flags (m.Run parses those).
		os.Exit(cli.Main())
	}
	os.Unsetenv("GITHUB_ACTIONS")
	os.Exit(m.Run())
}
