package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/safetext"
)

func round(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// Text writes the report as plain text.
func (r *Report) Text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// String arguments come from keys, events and stacks' properties: each is
	// shown as safetext.Line does. The tabs between columns are the format's.
	p := func(format string, a ...any) {
		for i, v := range a {
			if s, ok := v.(string); ok {
				a[i] = safetext.Line(s)
			}
		}
		fmt.Fprintf(tw, format+"\n", a...)
	}
	p("replaudit compliance report")
	p("period\t%s to %s", r.Since.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))
	if r.FromRollups {
		p("read from\trollups, whole UTC days (--exact reads every item)")
	}
	if len(r.Unrolled) > 0 {
		p("NOT COUNTED\t%d days hold items no rollup counts (%s): run replaudit rollup rebuild --since %s", len(r.Unrolled), strings.Join(r.Unrolled, ", "), r.Unrolled[0])
	}
	p("")
	p("objects audited\t%s", r.audited())
	p("expected to replicate\t%d (and %d still in flight at the end)", r.Expected, r.InFlight)
	p("verified within %s\t%s", round(r.Threshold), r.ofExpected(r.WithinThreshold))
	p("verified within 15 minutes\t%s", r.ofExpected(r.Within15Minutes))
	p("time to verified (%s)\t%s", r.lagKind(), r.lags(", "))
	p("")
	p("verdicts")
	for _, v := range audit.Verdicts {
		if r.Verdicts[v] > 0 {
			p("  %s\t%d", v, r.Verdicts[v])
		}
	}
	p("")
	p("failures by reason")
	if len(r.FailuresByReason) == 0 {
		p("  none")
	}
	for _, k := range slices.Sorted(maps.Keys(r.FailuresByReason)) {
		p("  %s\t%d", k, r.FailuresByReason[k])
	}
	p("")
	p("incidents\t%d open, %d resolved", r.OpenIncidents, r.ResolvedIncidents)
	if lp := r.LongestPending; lp != nil {
		p("longest pending\ts3://%s/%s (%s) to %s, written %s", lp.Bucket, lp.ObjectKey, lp.VersionID, lp.Destination, lp.EventTime.UTC().Format(time.RFC3339))
	} else {
		p("longest pending\tnone")
	}
	p("")
	p("coverage (latest inventory reconciliation)")
	if len(r.Coverage) == 0 {
		p("  none in the period: enable inventory (EnableInventory) to account for objects never announced")
	}
	for _, c := range r.Coverage {
		p("  s3://%s	%s", c.Source, c.Line())
	}
	p("")
	p("destination verified from inventory")
	if len(r.Verifications) == 0 {
		p("  never: replaudit verify compares a destination's inventory with its source's")
	}
	for _, v := range r.Verifications {
		p("  %s", v.Line())
		for _, e := range v.Examples() {
			p("    %s", e)
		}
	}
	p("")
	p("configuration changes")
	if len(r.Changes) == 0 {
		p("  none")
	}
	for _, c := range r.Changes {
		p("  %s\t%s %s on %s\t%s", c.At.UTC().Format(time.RFC3339), c.RequestType, c.Status, c.Bucket, strings.Join(c.Rules, ", "))
	}
	return tw.Flush()
}
