// Package workflowlint holds a test that lints the repository's GitHub Actions workflows,
// and the example workflows gantry ships, with actionlint, so a broken workflow fails
// `go test` instead of a push.
package workflowlint
