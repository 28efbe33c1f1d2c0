package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
)

// "Times in the future are clamped, and recorded as such." The
// ledger item carries eventTimeClamped, but no auditor-facing output says
// so: status shows the clamped time as "written", and list, export and
// status --format json have no field for it.
func TestAClampedEventTimeIsShownAsSuch(t *testing.T) {
	env := seeded(t, audit.Finding{Bucket: "acme-data", Key: "from-the-future", VersionID: "v9", Destination: "acme-dr", Verdict: audit.Pending,
		EventTime: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC), EventTimeClamped: true})
	for _, args := range [][]string{
		{"status", "s3://acme-data/from-the-future", "--env-file", env},
		{"status", "s3://acme-data/from-the-future", "--env-file", env, "--format", "json"},
		{"export", "--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-20T00:00:00Z", "--format", "jsonl"},
	} {
		var out, errOut bytes.Buffer
		run(context.Background(), args, &out, &errOut)
		if !strings.Contains(strings.ToLower(out.String()), "clamped") {
			t.Errorf("replaudit %s: nothing says the event time was in the future and clamped:\n%s%s", strings.Join(args[:2], " "), out.String(), errOut.String())
		}
	}
}
