package report_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/report"
)

// BenchmarkReport30DaysOf100MillionObjects reads a month's report from the
// rollups of a ledger that stands for 100 million objects: for each of 30
// days, the rollups of 48 writers (ten auditors' execution environments
// recycled through the day, the sweeper, the CLI) for one source and
// destination, each with a spread of verdicts, reasons, lags and
// incidents, and 2,000 items still open. Nothing of it grows with objects,
// which is the point: the rollups make this ledger buildable without
// writing 100 million items. It reports the time per report and the peak
// heap while it runs.
//
//	go test -run '^$' -bench Report30Days -benchtime 5x ./internal/report/
func BenchmarkReport30DaysOf100MillionObjects(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	const days, writers, objects = 30, 48, 100_000_000
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var total int64
	for d := range days {
		day := start.Add(time.Duration(d) * 24 * time.Hour).Format(time.DateOnly)
		for wr := range writers {
			n := int64(objects / days / writers)
			counts := map[string]int64{ledger.CellChecks: n, ledger.CellVerdict(audit.Failed): 3, ledger.CellReason("DstPutObjectNotPermitted"): 3,
				ledger.CellVerdict(audit.Pending): 2, ledger.CellOpen: 1, ledger.CellResolved: 2}
			verified := n - 5
			counts[ledger.CellVerdict(audit.Verified)] = verified
			// Lags spread over the histogram's first half hour.
			for i := range 36 {
				counts[ledger.CellLag(i)] = verified / 36
			}
			counts[ledger.CellLag(36)] += verified % 36
			total += n
			if err := w.l.PutRollup(ctx, ledger.Rollup{RollKey: ledger.RollKey{Day: day, Source: "acme-data", Destination: "acme-dr"},
				Writer: fmt.Sprintf("w%02d", wr), Counts: counts}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range 2000 {
		f := audit.Finding{Bucket: "acme-data", Key: fmt.Sprintf("open/%04d", i), VersionID: "v", Destination: "acme-dr", Verdict: audit.Pending,
			EventTime: start.Add(time.Duration(i) * 20 * time.Minute)}
		if _, err := w.l.Record(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	runtime.GC()
	var r *report.Report
	b.ResetTimer()
	for b.Loop() {
		var err error
		r, err = report.FromRollups(ctx, w.l, start, start.Add(days*24*time.Hour), 30*time.Minute, w.now)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	if int64(r.Checks) != total+2000 {
		b.Fatalf("the report counts %d checks, want %d", r.Checks, total+2000)
	}
	b.ReportMetric(float64(r.Checks)/1e6, "million-objects")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}
