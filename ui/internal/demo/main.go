// Command demo runs gantry's UI on the fake backend, for trying it by hand:
//
//	go run ./ui/internal/demo [-n 300] [-step 1.5s] [-fail "build image"]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/fakebackend"
)

func main() {
	n := flag.Int("n", 300, "snapshots in the fake registry")
	step := flag.Duration("step", 1500*time.Millisecond, "how long each simulated workflow step takes")
	pageDelay := flag.Duration("page-delay", 300*time.Millisecond, "pause before each page of snapshots")
	pageSize := flag.Int("page-size", 100, "snapshots per page")
	fail := flag.String("fail", "", "name of a workflow step that fails, e.g. \"build image\"")
	errs := flag.String("err", "", "backend method that fails, e.g. DevEnv or Snapshots")
	theme := flag.String("theme", "", "light or dark; empty asks the terminal")
	screen := flag.String("screen", "", "first screen: snapshots, commits, environments, run, history")
	debug := flag.String("debug", "", "debug log file")
	flag.Parse()

	b := fakebackend.New(*n, time.Now())
	b.Now = time.Now
	b.StepDelay = *step
	b.PageDelay = *pageDelay
	b.PageSize = *pageSize
	b.FailStep = *fail
	if *errs != "" {
		b.Errs = map[string]error{*errs: fmt.Errorf("dial tcp 10.0.1.23:22: connect: connection refused")}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := ui.Run(ctx, b, ui.Options{Debug: *debug, Theme: *theme, Screen: *screen}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
