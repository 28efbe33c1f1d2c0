package report

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// counts are the rollup counters, by day, source and destination: what a
// report from items adds up item by item, and a report from rollups reads.
type counts map[ledger.RollKey]map[string]int64

func newCounts() counts { return counts{} }

func (c counts) add(k ledger.RollKey, cells []string, n int64) {
	if c[k] == nil {
		c[k] = map[string]int64{}
	}
	for _, cell := range cells {
		c[k][cell] += n
	}
}

// displayBuckets are the report's histogram: bounds of ledger.LagBounds,
// so that both kinds of report fill them exactly.
var displayBuckets = []Bucket{{"≤ 1 min", time.Minute, 0}, {"1–5 min", 5 * time.Minute, 0}, {"5–15 min", 15 * time.Minute, 0},
	{"15–60 min", time.Hour, 0}, {"1–6 h", 6 * time.Hour, 0}, {"> 6 h", 0, 0}}

// figures works out what the counters say: checks, verdicts, expected,
// shares within the threshold and 15 minutes, the histogram and its
// percentile bounds, failures by reason, incidents, days, and objects
// (for a day and source, the most checks of any one destination).
func (r *Report) figures(c counts) {
	r.Histogram = slices.Clone(displayBuckets)
	lagHist := make([]int64, len(ledger.LagBounds)+1)
	daily := map[string]*Day{}
	objects := map[string]int64{}
	for k, cells := range c {
		if daily[k.Day] == nil {
			daily[k.Day] = &Day{Date: k.Day}
		}
		for cell, n := range cells {
			kind, arg := ledger.ParseCell(cell)
			switch kind {
			case ledger.CellChecks:
				r.Checks += int(n)
				daily[k.Day].NotVerified += int(n)
				objects[k.Day+"\x00"+k.Source] = max(objects[k.Day+"\x00"+k.Source], n)
			case "v":
				v := audit.Verdict(arg)
				r.Verdicts[v] += int(n)
				if expected(v) {
					r.Expected += int(n)
				}
				if v == audit.Verified {
					daily[k.Day].Verified += int(n)
					daily[k.Day].NotVerified -= int(n)
				}
			case "r":
				r.FailuresByReason[arg] += int(n)
			case "h":
				if i, err := strconv.Atoi(arg); err == nil && i >= 0 && i < len(lagHist) {
					lagHist[i] += n
				}
			case ledger.CellOpen:
				r.OpenIncidents += int(n)
			case ledger.CellResolved:
				r.ResolvedIncidents += int(n)
			}
		}
	}
	for v, n := range r.Verdicts {
		if n == 0 {
			delete(r.Verdicts, v)
		}
	}
	for k, n := range r.FailuresByReason {
		if n == 0 {
			delete(r.FailuresByReason, k)
		}
	}
	r.Expected -= r.InFlight
	for _, n := range objects {
		r.Objects += int(n)
	}
	sources := map[string]bool{}
	for k := range c {
		sources[k.Source] = true
	}
	r.sources = slices.Sorted(maps.Keys(sources))
	for _, d := range daily {
		r.Daily = append(r.Daily, *d)
	}
	var measured int64
	for i, n := range lagHist {
		measured += n
		upper := time.Duration(0)
		if i < len(ledger.LagBounds) {
			upper = ledger.LagBounds[i]
		}
		if upper != 0 && upper <= r.Threshold {
			r.WithinThreshold += int(n)
		}
		if upper != 0 && upper <= 15*time.Minute {
			r.Within15Minutes += int(n)
		}
		for j := range r.Histogram {
			if r.Histogram[j].Upto == 0 || (upper != 0 && upper <= r.Histogram[j].Upto) {
				r.Histogram[j].Count += int(n)
				break
			}
		}
	}
	r.Measured = int(measured)
	r.lagHist = lagHist
	r.P50, r.P50Floor = bucketPercentile(lagHist, measured, 50)
	r.P95, r.P95Floor = bucketPercentile(lagHist, measured, 95)
	r.P99, r.P99Floor = bucketPercentile(lagHist, measured, 99)
	r.MaxLag, r.MaxLagFloor = bucketPercentile(lagHist, measured, 100)
}

// bucketPercentile is the bucket holding the nearest-rank percentile: its
// upper bound (0 for the open bucket) and its lower bound.
func bucketPercentile(hist []int64, total int64, p float64) (upper, lower time.Duration) {
	if total == 0 {
		return 0, 0
	}
	rank := max(int64(p/100*float64(total)+0.999999999), 1)
	var seen int64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			if i > 0 {
				lower = ledger.LagBounds[i-1]
			}
			if i < len(ledger.LagBounds) {
				upper = ledger.LagBounds[i]
			}
			return upper, lower
		}
	}
	return 0, ledger.LagBounds[len(ledger.LagBounds)-1]
}

// Rolled is what a report from rollups reads: the rollups of the period's
// days, the open items (for what is still in flight, and the longest
// pending), and each source's configuration changes and reconciliation
// runs.
type Rolled interface {
	Rollups(ctx context.Context, since, until time.Time, fn func(ledger.Rollup) error) error
	Open(ctx context.Context, fn func(ledger.Item) error) error
	Evidence(ctx context.Context, source string, since, until time.Time, fn func(ledger.Item) error) error
	DayHasItems(ctx context.Context, day time.Time) (bool, error)
}

// FromRollups works out the period's figures from the rollups: its cost
// grows with days, not objects. The period is widened to whole UTC days,
// the rollups' grain. Percentiles come from the lag histogram, as the
// bounds of the bucket that holds them; the shares within the threshold
// and 15 minutes are exact when the threshold is a bucket bound (every
// whole minute up to an hour is). sources adds buckets whose evidence is
// read even with no object in the period.
func FromRollups(ctx context.Context, l Rolled, since, until time.Time, threshold time.Duration, now time.Time, sources ...string) (*Report, error) {
	since = since.UTC().Truncate(24 * time.Hour)
	if u := until.UTC().Truncate(24 * time.Hour); u.Before(until) {
		until = u.Add(24 * time.Hour)
	}
	r := newReport(since, until, threshold, now)
	r.FromRollups = true
	c := newCounts()
	seen := map[string]bool{}
	for _, s := range sources {
		seen[s] = true
	}
	rolledDays := map[string]bool{}
	err := l.Rollups(ctx, since, until, func(ru ledger.Rollup) error {
		for cell, n := range ru.Counts {
			c.add(ru.RollKey, []string{cell}, n)
		}
		seen[ru.Source], rolledDays[ru.Day] = true, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	for day := since; day.Before(until); day = day.Add(24 * time.Hour) {
		if rolledDays[day.Format(time.DateOnly)] {
			continue
		}
		has, err := l.DayHasItems(ctx, day)
		if err != nil {
			return nil, err
		}
		if has {
			r.Unrolled = append(r.Unrolled, day.Format(time.DateOnly))
		}
	}
	err = l.Open(ctx, func(it ledger.Item) error {
		if ledger.IsObject(it.Key) && !it.EventTime.Before(since) && it.EventTime.Before(until) {
			r.pending(it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the open items: %w", err)
	}
	r.figures(c)
	for _, s := range slices.Sorted(maps.Keys(seen)) {
		err := l.Evidence(ctx, s, since, until, func(it ledger.Item) error {
			if !it.EventTime.Before(since) && it.EventTime.Before(until) || ledger.IsRun(it) {
				r.evidence(it)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the evidence of %s: %w", s, err)
		}
	}
	r.sort()
	return r, nil
}

// Differences lists where a report from rollups disagrees with the report
// from items of the same whole days: every count must be equal, and each
// percentile from items within its bucket's bounds. Versions are the one
// figure rollups only bound from below (the most checks of one
// destination, for each day and source); sameVersions asks for equality,
// right when each source replicates to one destination.
func Differences(exact, rolled *Report, sameVersions bool) []string {
	var out []string
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"checks", rolled.Checks, exact.Checks},
		{"verdicts", rolled.Verdicts, exact.Verdicts},
		{"expected", rolled.Expected, exact.Expected},
		{"in flight", rolled.InFlight, exact.InFlight},
		{"within the threshold", rolled.WithinThreshold, exact.WithinThreshold},
		{"within 15 minutes", rolled.Within15Minutes, exact.Within15Minutes},
		{"measured", rolled.Measured, exact.Measured},
		{"histogram", rolled.Histogram, exact.Histogram},
		{"failures by reason", rolled.FailuresByReason, exact.FailuresByReason},
		{"open incidents", rolled.OpenIncidents, exact.OpenIncidents},
		{"resolved incidents", rolled.ResolvedIncidents, exact.ResolvedIncidents},
		{"days", rolled.Daily, exact.Daily},
		{"longest pending", rolled.LongestPending != nil, exact.LongestPending != nil},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			out = append(out, fmt.Sprintf("%s: from rollups %v, from items %v", f.name, f.got, f.want))
		}
	}
	if rolled.Objects > exact.Objects || sameVersions && rolled.Objects != exact.Objects {
		out = append(out, fmt.Sprintf("versions: from rollups %d, from items %d", rolled.Objects, exact.Objects))
	}
	if exact.Measured > 0 {
		for _, p := range []struct {
			name                string
			exact, upper, lower time.Duration
		}{
			{"p50", exact.P50, rolled.P50, rolled.P50Floor}, {"p95", exact.P95, rolled.P95, rolled.P95Floor},
			{"p99", exact.P99, rolled.P99, rolled.P99Floor}, {"max", exact.MaxLag, rolled.MaxLag, rolled.MaxLagFloor},
		} {
			if p.exact <= p.lower && p.lower > 0 || p.upper != 0 && p.exact > p.upper {
				out = append(out, fmt.Sprintf("%s: %s from items is outside (%s, %s] from rollups", p.name, p.exact, p.lower, p.upper))
			}
		}
	}
	return out
}

// Source is a ledger read both ways.
type Source interface {
	Ledger
	Rolled
}

// Check works out the report of the whole UTC days around [since, until)
// both ways, from every item and from the rollups, and lists where they
// differ (see Differences).
func Check(ctx context.Context, l Source, since, until time.Time, threshold time.Duration, now time.Time, sameVersions bool) (exact, rolled *Report, diffs []string, err error) {
	rolled, err = FromRollups(ctx, l, since, until, threshold, now)
	if err != nil {
		return nil, nil, nil, err
	}
	exact, err = Compute(ctx, l, rolled.Since, rolled.Until, threshold, now)
	if err != nil {
		return nil, nil, nil, err
	}
	return exact, rolled, Differences(exact, rolled, sameVersions), nil
}
