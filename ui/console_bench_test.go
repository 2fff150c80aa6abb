package ui_test

import (
	"testing"

	"github.com/bookshop-ops/gantry/ui"
	"github.com/bookshop-ops/gantry/ui/fakebackend"
)

const benchLogLines = 100_000

// BenchmarkLogView draws a 120×40 frame of a log view holding 100,000 lines,
// searching for a word so highlights are drawn (target ≤ 2 ms/op).
func BenchmarkLogView(b *testing.B) {
	view, search := ui.NewLogViewForBench(fake(10), fakebackend.LogLines(benchLogLines), 120, 40)
	if n := search("books"); n == 0 {
		b.Fatal("no hits")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = view()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/op")
}

// BenchmarkLogSearch searches 100,000 lines (target ≤ 20 ms/op).
func BenchmarkLogSearch(b *testing.B) {
	_, search := ui.NewLogViewForBench(fake(10), fakebackend.LogLines(benchLogLines), 120, 40)
	b.ReportAllocs()
	for b.Loop() {
		if n := search("warning"); n != benchLogLines/5 {
			b.Fatalf("%d hits", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/op")
}
