package ui_test

import (
	"testing"
	"time"

	"github.com/bookshop-ops/gantry/ui"
)

const benchSnapshots = 10_000

// loadedDriver returns a 120×40 model holding 10,000 snapshots.
func loadedDriver(b *testing.B) *driver {
	b.Helper()
	d := newDriver(b, fake(benchSnapshots), ui.Options{}, 120, 40)
	d.loaded()
	if all, _ := d.m.SnapshotCount(); all != benchSnapshots {
		b.Fatalf("loaded %d snapshots", all)
	}
	return d
}

// BenchmarkSnapshotsView draws one full frame of the Snapshots screen.
func BenchmarkSnapshotsView(b *testing.B) {
	d := loadedDriver(b)
	d.press("G", "k") // somewhere other than the top
	b.ReportAllocs()
	for b.Loop() {
		_ = d.m.View()
	}
}

// BenchmarkFilterKeystroke is one keystroke in the `/` filter plus the frame
// it causes: iterations alternate typing a character (narrowing the previous
// matches) and backspace (rescanning every row).
func BenchmarkFilterKeystroke(b *testing.B) {
	d := loadedDriver(b)
	d.press("/")
	d.typeText("snapshot-")
	typeKey, back := keyPress("1"), keyPress("backspace")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			d.m.Update(typeKey)
		} else {
			d.m.Update(back)
		}
		_ = d.m.View()
		i++
	}
}

// BenchmarkFirstFrame is New, Init and the first View: what stands between
// starting gantry and seeing its screen.
func BenchmarkFirstFrame(b *testing.B) {
	backend := fake(benchSnapshots)
	opts := ui.Options{Now: func() time.Time { return clock }, Theme: "dark"}
	b.ReportAllocs()
	for b.Loop() {
		m := ui.New(backend, opts)
		_ = m.Init()
		_ = m.View()
	}
}

// BenchmarkLoad10kSnapshots streams 10,000 snapshots in pages of 1,000 through
// Update until the listing is complete (informational).
func BenchmarkLoad10kSnapshots(b *testing.B) {
	backend := fake(benchSnapshots)
	b.ReportAllocs()
	for b.Loop() {
		d := newDriver(b, backend, ui.Options{}, 120, 40)
		d.wait("listing", func() bool { all, _ := d.m.SnapshotCount(); return all == benchSnapshots && !d.m.SnapshotsLoading() })
	}
}
