package incident

import (
	"log/slog"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/metrics"
)

// Count adds what settling a finding or sending a notice did to a tally:
// the auditor and the sweeper count alike.
func (o Outcome) Count(t *metrics.Tally) {
	if o.Wrote && o.Item.Verdict != "" {
		t.Count("Findings", 1, "Verdict", string(o.Item.Verdict))
	}
	for _, k := range o.Published {
		switch k {
		case alert.KindResolved:
			t.Count("ResolvedNotices", 1)
		case alert.KindDigest:
			t.Count("Digests", 1)
		default:
			t.Count("AlertsPublished", 1)
		}
	}
	if o.Held {
		t.Count("AlertsHeld", 1)
	}
	if o.Refused {
		t.Count("AlertsRefused", 1)
	}
	if o.SendErr != nil {
		t.Count("AlertsUnsent", 1)
	}
}

// Log writes one JSON line for a settled finding.
func (o Outcome) Log(log *slog.Logger, f audit.Finding) {
	attrs := []any{"bucket", f.Bucket, "key", f.Key, "versionId", f.VersionID, "destination", f.Destination,
		"verdict", o.Item.Verdict, "found", f.Verdict, "changed", o.Previous != o.Item.Verdict, "alert", o.Item.Alert}
	if f.FailureReason != "" {
		attrs = append(attrs, "failureReason", f.FailureReason)
	}
	if o.Item.LagSeconds != nil {
		attrs = append(attrs, "lagSeconds", *o.Item.LagSeconds)
	}
	if f.EventTimeClamped {
		attrs = append(attrs, "eventTimeClamped", true)
	}
	if f.Detail != "" {
		attrs = append(attrs, "detail", f.Detail)
	}
	log.Info("verdict", attrs...)
}
