package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bookshop-ops/gantry/app"
	"github.com/bookshop-ops/gantry/printer"
	"github.com/bookshop-ops/gantry/remote/registry"
)

// snapshotJSON is one line of `gantry snapshots --json`.
type snapshotJSON struct {
	Tag      string    `json:"tag"`
	Tags     []string  `json:"tags"`
	Digest   string    `json:"digest"`
	PushedAt time.Time `json:"pushed_at,omitzero"`
	Size     int64     `json:"size"`
}

func printSnapshots(ctx context.Context, g *globals, a *app.App, asJSON bool) error {
	reg, err := a.Registry(ctx)
	if err != nil {
		return err
	}
	var all []registry.Image
	if err := reg.List(ctx, func(page []registry.Image) error {
		all = append(all, page...)
		return nil
	}); err != nil {
		return fmt.Errorf("list %s: %w", reg.Repository(), err)
	}
	// Newest push first across pages.
	sortImages(all)
	if asJSON {
		enc := json.NewEncoder(g.stdout)
		for _, img := range all {
			if err := enc.Encode(snapshotJSON{Tag: img.Tag, Tags: img.Tags, Digest: img.Digest, PushedAt: img.PushedAt, Size: img.Size}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintf(g.stdout, "no images in %s yet: run `gantry dev` to build the first snapshot\n", reg.Repository())
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAG\tDIGEST\tSIZE\tPUSHED")
	for _, img := range all {
		d := img.Digest
		if len(d) > 19 {
			d = d[:19]
		}
		pushed := "-"
		if !img.PushedAt.IsZero() {
			pushed = img.PushedAt.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Tag, d, printer.Bytes(img.Size), pushed)
	}
	return tw.Flush()
}

func sortImages(imgs []registry.Image) {
	slices.SortStableFunc(imgs, func(a, b registry.Image) int {
		if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Tag, a.Tag)
	})
}
