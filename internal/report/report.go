package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
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

	Histogram []Bucket
	Daily     []Day
	Changes   []Change
	// Coverage is the latest closed inventory reconciliation of each
	// source in the period, by source.
	Coverage []Coverage
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
	return strings.Join([]string{"p50 " + round(r.P50), "p95 " + round(r.P95), "p99 " + round(r.P99), "max " + round(r.MaxLag)}, sep)
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

// Compute reads the period once, in bounded memory but for the lags of
// verified items, and works out the figures.
func Compute(ctx context.Context, l Ledger, since, until time.Time, threshold time.Duration, now time.Time) (*Report, error) {
	r := &Report{Since: since, Until: until, Threshold: threshold, Generated: now,
		Verdicts: map[audit.Verdict]int{}, FailuresByReason: map[string]int{}}
	r.Histogram = []Bucket{{"≤ 1 min", time.Minute, 0}, {"1–5 min", 5 * time.Minute, 0}, {"5–15 min", 15 * time.Minute, 0},
		{"15–60 min", time.Hour, 0}, {"1–6 h", 6 * time.Hour, 0}, {"> 6 h", 0, 0}}
	objects := map[string]bool{}
	daily := map[string]*Day{}
	var lags []time.Duration
	err := l.Period(ctx, since, until, func(it ledger.Item) error {
		if ledger.IsConfig(it) {
			r.Changes = append(r.Changes, Change{At: it.EventTime, Bucket: it.Bucket, RequestType: it.RequestType, Status: it.Status, Rules: it.RuleIDs})
			return nil
		}
		if ledger.IsRun(it) {
			r.coverage(it)
			return nil
		}
		if ledger.IsWindow(it) || ledger.IsBlind(it) {
			return nil
		}
		r.Checks++
		objects[it.Bucket+"\x00"+it.ObjectKey+"\x00"+it.VersionID] = true
		r.Verdicts[it.Verdict]++
		d := it.EventTime.UTC().Format(time.DateOnly)
		if daily[d] == nil {
			daily[d] = &Day{Date: d}
		}
		if it.Verdict == audit.Verified {
			daily[d].Verified++
		} else {
			daily[d].NotVerified++
		}
		switch {
		case it.Verdict == audit.Pending && until.Sub(it.EventTime) < threshold:
			r.InFlight++
		case expected(it.Verdict):
			r.Expected++
		}
		switch it.Alert {
		case incident.Due, incident.Sending, incident.Sent, incident.Held:
			r.OpenIncidents++
		case incident.ResolveDue, incident.Resolving, incident.Resolved:
			r.ResolvedIncidents++
		}
		switch it.Verdict {
		case audit.Verified:
			if it.LagSeconds != nil {
				lag := time.Duration(*it.LagSeconds * float64(time.Second))
				lags = append(lags, lag)
				if lag <= threshold {
					r.WithinThreshold++
				}
				if lag <= 15*time.Minute {
					r.Within15Minutes++
				}
				for i := range r.Histogram {
					if r.Histogram[i].Upto == 0 || lag <= r.Histogram[i].Upto {
						r.Histogram[i].Count++
						break
					}
				}
			}
		case audit.Failed:
			reason := it.FailureReason
			if reason == "" {
				reason = "(no reason reported)"
			}
			r.FailuresByReason[reason]++
		case audit.Missing, audit.Diverged:
			r.FailuresByReason[string(it.Verdict)]++
		case audit.Pending:
			if r.LongestPending == nil || it.EventTime.Before(r.LongestPending.EventTime) {
				cp := it
				r.LongestPending = &cp
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	r.Objects = len(objects)
	r.Measured = len(lags)
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	r.P50, r.P95, r.P99 = percentile(lags, 50), percentile(lags, 95), percentile(lags, 99)
	if len(lags) > 0 {
		r.MaxLag = lags[len(lags)-1]
	}
	for _, d := range daily {
		r.Daily = append(r.Daily, *d)
	}
	sort.Slice(r.Daily, func(i, j int) bool { return r.Daily[i].Date < r.Daily[j].Date })
	sort.Slice(r.Changes, func(i, j int) bool { return r.Changes[i].At.Before(r.Changes[j].At) })
	sort.Slice(r.Coverage, func(i, j int) bool { return r.Coverage[i].Source < r.Coverage[j].Source })
	return r, nil
}
