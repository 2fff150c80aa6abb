// Command gantry is a terminal release console for the book-shop: it builds, pushes
// and deploys dev snapshots and promotes them to prod, as a TUI or headless (--ci).
package main

import (
	"os"

	"github.com/bookshop-ops/gantry/cli"
)

func main() {
	os.Exit(cli.Main())
}
