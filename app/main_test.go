package app_test

import (
	"os"
	"testing"
)

// TestMain keeps the tests independent of the CI they run in: under GitHub Actions
// (GITHUB_ACTIONS=true) github.deployments defaults to on, which would add the
// deployment step to every workflow. Tests that want Actions set it themselves.
func TestMain(m *testing.M) {
	os.Unsetenv("GITHUB_ACTIONS")
	os.Exit(m.Run())
}
