package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// snapshotsOptions are the flags of `gantry snapshots`.
type snapshotsOptions struct {
	json    bool
	limit   int  // stop after this many rows; 0 means all
	refresh bool // re-check every tag's digest instead of trusting the cache
}

func printSnapshots(ctx context.Context, g *globals, a *app.App, o snapshotsOptions) error {
	reg, err := a.Registry(ctx)
	if err != nil {
		return err
	}
	return writeSnapshots(ctx, g.stdout, reg, o)
}

// errLimit stops a listing at --limit rows.
var errLimit = errors.New("limit reached")

// writeSnapshots prints each page of the listing as it arrives: a table (columns
// sized by the first page, widened when a later tag is longer) or JSON lines.
func writeSnapshots(ctx context.Context, out io.Writer, reg registry.Registry, o snapshotsOptions) error {
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	rows, tagW := 0, 0
	err := registry.ListImages(ctx, reg, registry.ListOptions{Refresh: o.refresh}, func(page []registry.Image) error {
		if tagW == 0 && !o.json {
			tagW = len("TAG")
			for _, img := range page {
				tagW = max(tagW, len(img.Tag))
			}
			fmt.Fprintf(w, "%-*s  %-19s  %-9s  %s\n", tagW, "TAG", "DIGEST", "SIZE", "PUSHED")
		}
		for _, img := range page {
			if o.limit > 0 && rows == o.limit {
				return errLimit
			}
			rows++
			if o.json {
				if err := enc.Encode(snapshotJSON{Tag: img.Tag, Tags: img.Tags, Digest: img.Digest, PushedAt: img.PushedAt, Size: img.Size}); err != nil {
					return err
				}
				continue
			}
			d := img.Digest
			if len(d) > 19 {
				d = d[:19]
			}
			pushed := "-"
			if !img.PushedAt.IsZero() {
				pushed = img.PushedAt.UTC().Format("2006-01-02 15:04")
			}
			tagW = max(tagW, len(img.Tag))
			fmt.Fprintf(w, "%-*s  %-19s  %-9s  %s\n", tagW, img.Tag, d, printer.Bytes(img.Size), pushed)
		}
		// The rows of a page are out as soon as it arrives.
		return w.Flush()
	})
	if errors.Is(err, errLimit) {
		err = nil
	}
	if err != nil {
		w.Flush()
		return fmt.Errorf("list %s: %w", reg.Repository(), err)
	}
	if rows == 0 && !o.json {
		fmt.Fprintf(w, "no images in %s yet: run `gantry dev` to build the first snapshot\n", reg.Repository())
	}
	return w.Flush()
}
