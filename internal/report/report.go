package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
)

// Ledger is what a report reads.
type Ledger interface {
	Period(ctx context.Context, since, until time.Time, fn func(ledger.Item) error) error
}

// Bucket of the lag histogram.
type Bucket struct {
	Label string
	Upto  time.Duration // inclusive upper bound; 0 for the last, open bucket
	Count int
}

// Day is one day's count of checks, verified or not.
type Day struct {
	Date        string
	Verified    int
	NotVerified int
}

// Change is one configuration change in the period.
type Change struct {
	At          time.Time
	Bucket      string
	RequestType string
	Status      string
	Rules       []string
}

// Report is the period's figures.
type Report struct {
	Since, Until time.Time
	Threshold    time.Duration
	Generated    time.Time

	Objects  int // distinct object versions audited
	Checks   int // version × destination items
	Expected int // items that should replicate (not NOT_REPLICATED, DELETE_NOT_REPLICATED, SUPERSEDED, NOT_TRACKED), less those in flight
	InFlight int // PENDING items written less than the threshold before the period's end: not yet late
	Verdicts map[audit.Verdict]int

	WithinThreshold  int // expected items VERIFIED with a lag bound within the threshold
	Within15Minutes  int
	Measured         int           // VERIFIED items with a lag bound: those the percentiles are of
	P50, P95, P99    time.Duration // of the lag bounds of VERIFIED items
	MaxLag           time.Duration
	FailuresByReason map[string]int

	OpenIncidents     int // alerted, not resolved
	ResolvedIncidents int
	LongestPending    *ledger.Item

	// FromRollups: the figures come from the rollups, the percentiles and
	// the longest lag as bucket bounds, between the Floor and the figure
	// (0: beyond the last bound, past the Floor).
	FromRollups                               bool
	P50Floor, P95Floor, P99Floor, MaxLagFloor time.Duration
	lagHist                                   []int64
	// Unrolled are the days whose items no rollup counts: written before
	// rollups, until `replaudit rollup rebuild` runs.
	Unrolled []string

	Histogram []Bucket
	Daily     []Day
	Changes   []Change
	// Coverage is the latest closed inventory reconciliation of each
	// source in the period, by source.
	Coverage []Coverage
	// Verifications are the latest verification of each source's
	// destination from both inventories (AddVerifications).
	Verifications []Verified
	sources       []string // the source buckets the period's items name
}

// Coverage is what the latest inventory of a source says of the audit's
// reach: the versions in scope, and those the ledger had never heard of.
type Coverage struct {
	Source       string
	Inventory    time.Time
	State        string
	InScope      int64
	NeverAudited int64 // no verdict until the reconciliation recorded one
	Redrive      int64 // versions in the remediation manifest
	FailedFiles  int
}

// Line says it in one line, for the text and HTML reports.
func (c Coverage) Line() string {
	line := fmt.Sprintf("inventory of %s, %s: no objects in scope", c.Inventory.UTC().Format("2006-01-02 15:04 UTC"), c.State)
	if audited, ok := Share(c.InScope-c.NeverAudited, c.InScope); ok {
		line = fmt.Sprintf("inventory of %s, %s: %d versions in scope, %d with a verdict (%.2f%%), %d never audited (%.2f%%), recorded by the reconciliation",
			c.Inventory.UTC().Format("2006-01-02 15:04 UTC"), c.State, c.InScope, c.InScope-c.NeverAudited, audited, c.NeverAudited, 100-audited)
	}
	if c.Redrive > 0 {
		line += fmt.Sprintf("; %d to re-drive", c.Redrive)
	}
	if c.FailedFiles > 0 {
		line += fmt.Sprintf("; %d files unread", c.FailedFiles)
	}
	return line
}

// coverage keeps a run if it is its source's latest closed one.
func (r *Report) coverage(it ledger.Item) {
	if it.Summary == "" {
		return // still running
	}
	var s reconcile.Summary
	if json.Unmarshal([]byte(it.Summary), &s) != nil || s.Source == "" {
		return
	}
	c := Coverage{Source: s.Source, Inventory: s.Inventory, State: s.State, InScope: s.InScope(), NeverAudited: s.NeverAudited(),
		Redrive: s.Redrive, FailedFiles: s.FailedFiles}
	for i, have := range r.Coverage {
		if have.Source == c.Source {
			if c.Inventory.After(have.Inventory) {
				r.Coverage[i] = c
			}
			return
		}
	}
	r.Coverage = append(r.Coverage, c)
}

// Share is part of whole as a percentage. It is not ok when whole is 0: a
// share of nothing is no figure, and 100% of it would read as a pass.
func Share[N int | int64](part, whole N) (pct float64, ok bool) {
	if whole == 0 {
		return 0, false
	}
	return 100 * float64(part) / float64(whole), true
}

// audited says how many versions and checks the period holds, or that it
// holds none.
func (r *Report) audited() string {
	if r.Checks == 0 {
		return "no objects in the period"
	}
	return fmt.Sprintf("%d versions, %d checks against destinations", r.Objects, r.Checks)
}

// ofExpected says n and its share of the items expected to replicate, or
// that none were expected.
func (r *Report) ofExpected(n int) string {
	pct, ok := Share(n, r.Expected)
	if !ok {
		return "no objects expected to replicate"
	}
	return fmt.Sprintf("%d (%.2f%%)", n, pct)
}

// lags says the percentiles of time to verified, separated by sep, or that
// none was measured: 0s would read as instant.
func (r *Report) lags(sep string) string {
	if r.Measured == 0 {
		return "no objects verified"
	}
	if r.FromRollups {
		b := func(upper, lower time.Duration) string {
			if upper == 0 {
				return "over " + round(lower)
			}
			return round(lower) + "–" + round(upper)
		}
		return strings.Join([]string{"p50 " + b(r.P50, r.P50Floor), "p95 " + b(r.P95, r.P95Floor), "p99 " + b(r.P99, r.P99Floor), "max " + b(r.MaxLag, r.MaxLagFloor)}, sep)
	}
	return strings.Join([]string{"p50 " + round(r.P50), "p95 " + round(r.P95), "p99 " + round(r.P99), "max " + round(r.MaxLag)}, sep)
}

// lagKind says what the lag figures are.
func (r *Report) lagKind() string {
	if r.FromRollups {
		return "histogram buckets"
	}
	return "upper bounds"
}

func expected(v audit.Verdict) bool {
	switch v {
	case audit.NotReplicated, audit.DeleteNotReplicated, audit.Superseded, audit.NotTracked:
		return false
	}
	return true
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// Compute reads every item of the period once, in bounded memory but for
// the lags of verified items, and works out the figures: exact, for small
// periods and for checking the rollups (replaudit report --exact).
func Compute(ctx context.Context, l Ledger, since, until time.Time, threshold time.Duration, now time.Time) (*Report, error) {
	r := newReport(since, until, threshold, now)
	c := newCounts()
	objects := map[string]bool{}
	var lags []time.Duration
	err := l.Period(ctx, since, until, func(it ledger.Item) error {
		if r.evidence(it) || !ledger.IsObject(it.Key) {
			return nil
		}
		c.add(ledger.RollKeyOf(it), ledger.Contribution(it), 1)
		objects[it.Bucket+"\x00"+it.ObjectKey+"\x00"+it.VersionID] = true
		r.pending(it)
		if it.Verdict == audit.Verified && it.LagSeconds != nil {
			lags = append(lags, time.Duration(*it.LagSeconds*float64(time.Second)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	r.figures(c)
	r.Objects = len(objects)
	// The lags themselves give exact shares and percentiles.
	slices.Sort(lags)
	r.WithinThreshold, r.Within15Minutes = 0, 0
	for _, lag := range lags {
		if lag <= threshold {
			r.WithinThreshold++
		}
		if lag <= 15*time.Minute {
			r.Within15Minutes++
		}
	}
	r.P50, r.P95, r.P99 = percentile(lags, 50), percentile(lags, 95), percentile(lags, 99)
	if len(lags) > 0 {
		r.MaxLag = lags[len(lags)-1]
	}
	r.sort()
	return r, nil
}

func newReport(since, until time.Time, threshold time.Duration, now time.Time) *Report {
	return &Report{Since: since, Until: until, Threshold: threshold, Generated: now,
		Verdicts: map[audit.Verdict]int{}, FailuresByReason: map[string]int{}}
}

// evidence keeps a configuration change or a reconciliation run, and
// reports whether the item was one (or another item that is no object
// version).
func (r *Report) evidence(it ledger.Item) bool {
	switch {
	case ledger.IsConfig(it):
		r.Changes = append(r.Changes, Change{At: it.EventTime, Bucket: it.Bucket, RequestType: it.RequestType, Status: it.Status, Rules: it.RuleIDs})
	case ledger.IsRun(it):
		r.coverage(it)
	default:
		return false
	}
	return true
}

// pending counts a PENDING item still in flight at the period's end, and
// keeps the longest pending.
func (r *Report) pending(it ledger.Item) {
	if it.Verdict != audit.Pending {
		return
	}
	if r.Until.Sub(it.EventTime) < r.Threshold {
		r.InFlight++
	}
	if r.LongestPending == nil || it.EventTime.Before(r.LongestPending.EventTime) {
		cp := it
		r.LongestPending = &cp
	}
}

func (r *Report) sort() {
	sort.Slice(r.Daily, func(i, j int) bool { return r.Daily[i].Date < r.Daily[j].Date })
	sort.Slice(r.Changes, func(i, j int) bool { return r.Changes[i].At.Before(r.Changes[j].At) })
	sort.Slice(r.Coverage, func(i, j int) bool { return r.Coverage[i].Source < r.Coverage[j].Source })
}
