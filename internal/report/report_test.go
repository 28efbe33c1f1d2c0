package report_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/report"
)

// items is a ledger of known items; the report only needs Period.
type items []ledger.Item

func (l items) Period(_ context.Context, since, until time.Time, fn func(ledger.Item) error) error {
	for _, it := range l {
		if !it.EventTime.Before(since) && it.EventTime.Before(until) {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

func item(key string, v audit.Verdict, at time.Time, lag time.Duration, alertState string) ledger.Item {
	it := ledger.Item{Key: ledger.KeyOf("b", key, "v", "d"), Bucket: "b", ObjectKey: key, VersionID: "v", Destination: "d", Verdict: v, EventTime: at, Alert: alertState}
	if v == audit.Verified {
		s := lag.Seconds()
		it.LagSeconds = &s
	}
	return it
}

func TestFiguresFromKnownItems(t *testing.T) {
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	var l items
	// Lags of 1..100 seconds, and one of 20 minutes: 101 values, so the
	// nearest ranks are the 51st, 96th and 100th.
	for i := 1; i <= 100; i++ {
		l = append(l, item("ok", audit.Verified, day.Add(time.Duration(i)*time.Minute), time.Duration(i)*time.Second, ""))
	}
	l = append(l,
		item("stormy", audit.Failed, day.Add(3*time.Hour), 0, incident.Held),
		item("paged", audit.Failed, day.Add(4*time.Hour), 0, incident.Sent),
		item("healed", audit.Verified, day.Add(5*time.Hour), 20*time.Minute, incident.Resolved),
		item("outside", audit.Verified, day.Add(24*time.Hour), time.Second, ""), // exactly at until: not in the period
		item("in-flight", audit.Pending, day.Add(24*time.Hour-30*time.Second), 0, ""),
	)
	r, err := report.Compute(context.Background(), l, day, day.Add(24*time.Hour), 90*time.Second, day)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checks != 104 || r.Expected != 103 || r.InFlight != 1 {
		t.Errorf("checks %d expected %d in flight %d, want 104, 103 and 1 (the item at --until is out)", r.Checks, r.Expected, r.InFlight)
	}
	if r.P50 != 51*time.Second || r.P95 != 96*time.Second || r.P99 != 100*time.Second || r.MaxLag != 20*time.Minute {
		t.Errorf("percentiles: %v %v %v max %v", r.P50, r.P95, r.P99, r.MaxLag)
	}
	if r.WithinThreshold != 90 || r.Within15Minutes != 100 {
		t.Errorf("within 90s: %d, within 15m: %d; want 90 and 100", r.WithinThreshold, r.Within15Minutes)
	}
	if r.OpenIncidents != 2 || r.ResolvedIncidents != 1 {
		t.Errorf("incidents: %d open, %d resolved; want 2 (one paged, one in a digest) and 1", r.OpenIncidents, r.ResolvedIncidents)
	}
	if r.FailuresByReason["(no reason reported)"] != 2 {
		t.Errorf("failures: %v", r.FailuresByReason)
	}
}

// A share of nothing is no figure: "0 (100.00%) verified" would read as a
// pass for a period in which nothing was checked.
func TestNothingToCountIsNeverAPercentage(t *testing.T) {
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	percent := regexp.MustCompile(`[0-9.]+%`)
	render := func(t *testing.T, r *report.Report) map[string]string {
		t.Helper()
		var text, page strings.Builder
		if err := r.Text(&text); err != nil {
			t.Fatal(err)
		}
		if err := r.HTML(&page); err != nil {
			t.Fatal(err)
		}
		return map[string]string{"text": text.String(), "HTML": strings.ReplaceAll(page.String(), "width:100%", "")}
	}
	for _, c := range []struct {
		name  string
		items items
		says  []string
	}{
		{"an empty period", nil, []string{"no objects in the period", "no objects expected to replicate", "no objects verified"}},
		{"nothing expected to replicate", items{item("old", audit.NotReplicated, day.Add(time.Hour), 0, "")},
			[]string{"1 versions, 1 checks", "no objects expected to replicate", "no objects verified"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := report.Compute(context.Background(), c.items, day, day.Add(24*time.Hour), 90*time.Second, day)
			if err != nil {
				t.Fatal(err)
			}
			for format, got := range render(t, r) {
				for _, want := range c.says {
					if !strings.Contains(got, want) {
						t.Errorf("the %s report does not say %q:\n%s", format, want, got)
					}
				}
				if p := percent.FindString(got); p != "" {
					t.Errorf("the %s report gives a share, %s, of nothing:\n%s", format, p, got)
				}
			}
		})
	}
	t.Run("an inventory with nothing in scope", func(t *testing.T) {
		line := report.Coverage{Source: "b", Inventory: day, State: "CLEAN"}.Line()
		if !strings.Contains(line, "no objects in scope") || percent.MatchString(line) {
			t.Errorf("got %q, want it to say no objects in scope, without a share", line)
		}
	})
	t.Run("a report without histogram buckets", func(t *testing.T) {
		var page strings.Builder
		if err := (&report.Report{}).HTML(&page); err != nil || !strings.Contains(page.String(), "no objects") {
			t.Errorf("got %v, want a page that says no objects", err)
		}
	})
}
