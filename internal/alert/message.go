package alert

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/replication"
)

// Kind is what an alert is about.
type Kind string

// The kinds of alert.
const (
	KindFailed      Kind = "FAILED"
	KindMissing     Kind = "MISSING"
	KindDiverged    Kind = "DIVERGED"
	KindLongPending Kind = "LONG_PENDING"
	KindResolved    Kind = "RESOLVED"
	KindDigest      Kind = "DIGEST"
)

// KindOf returns the alert a finding calls for, or "" for none.
func KindOf(f audit.Finding) Kind {
	switch {
	case f.Verdict == audit.Failed:
		return KindFailed
	case f.Verdict == audit.Missing:
		return KindMissing
	case f.Verdict == audit.Diverged:
		return KindDiverged
	case f.Verdict == audit.Pending && f.LongPending:
		return KindLongPending
	}
	return ""
}

// Severity is carried as a message attribute so subscriptions can filter.
func (k Kind) Severity() string {
	switch k {
	case KindFailed, KindMissing, KindDiverged:
		return "critical"
	case KindLongPending, KindDigest:
		return "warning"
	}
	return "info"
}

// Message is one SNS message.
type Message struct {
	Subject    string
	Body       string
	Attributes map[string]string
}

// Sanitize makes text from S3 (keys above all) safe to print on one line:
// control characters, newlines among them, are escaped so they cannot
// forge lines in a subject or body.
func Sanitize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const maxSubject = 99

func subject(parts ...string) string {
	s := Sanitize(strings.Join(parts, " "))
	if utf8.RuneCountInString(s) <= maxSubject {
		return s
	}
	r := []rune(s)
	return string(r[:maxSubject-1]) + "…"
}

// consoleURL opens the object's versions in the S3 console.
func consoleURL(f audit.Finding, region string) string {
	return fmt.Sprintf("https://%s.console.aws.amazon.com/s3/object/%s?region=%s&prefix=%s&showversions=true",
		region, url.PathEscape(f.Bucket), region, url.QueryEscape(f.Key))
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Format writes the alert for a finding: a subject under 100 characters
// with severity, verdict and s3://bucket/key; a body for a person at 3 a.m.
// with what happened, since when, the cause, the fix, a console link and a
// command; and a JSON block for machines.
func Format(f audit.Finding, kind Kind, since time.Time, sourceRegion string) Message {
	where := "s3://" + f.Bucket + "/" + f.Key
	var what, cause, fix string
	switch kind {
	case KindFailed:
		what = fmt.Sprintf("Replication of %s to %s FAILED.", where, f.Destination)
		cause, fix = replication.Explain(f.FailureReason)
		if f.FailureReason == "" && f.Detail != "" {
			cause = f.Detail + " The failure reason arrives in a Replication:OperationFailedReplication event when the rule has Metrics on."
		}
	case KindMissing:
		what = fmt.Sprintf("The replica of %s in %s is MISSING.", where, f.Destination)
		cause = f.Detail
		fix = "Check the destination for lifecycle rules, deletes or another writer; re-replicate the version with S3 Batch Replication."
	case KindDiverged:
		what = fmt.Sprintf("The replica of %s in %s DIVERGED from its source.", where, f.Destination)
		cause = f.Detail
		fix = "Find who writes to the destination; replicas should be written by replication alone. Re-replicate the version with S3 Batch Replication."
	case KindLongPending:
		what = fmt.Sprintf("Replication of %s to %s has been PENDING too long.", where, f.Destination)
		cause = "S3 has not finished replicating it. A regional outage or a large object keeps objects PENDING; FAILED would mean permissions or KMS."
		if f.Detail != "" {
			cause = f.Detail + " " + cause
		}
		fix = "Usually nothing: replaudit sends a resolved notice when the replica arrives. If it lasts, check the AWS Health Dashboard for S3 in both regions."
	case KindResolved:
		what = fmt.Sprintf("RESOLVED: the replica of %s in %s is now verified.", where, f.Destination)
		cause = "The earlier alert for this version is over."
		fix = "Nothing to do."
	}
	var b strings.Builder
	fmt.Fprintln(&b, Sanitize(what))
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Version:   %s\n", Sanitize(f.VersionID))
	if f.DestinationRegion != "" {
		fmt.Fprintf(&b, "Regions:   %s -> %s\n", sourceRegion, f.DestinationRegion)
	}
	if !since.IsZero() {
		fmt.Fprintf(&b, "Since:     %s (%s ago)\n", since.UTC().Format(time.RFC3339), time.Since(since).Round(time.Second))
	}
	fmt.Fprintf(&b, "Cause:     %s\n", Sanitize(cause))
	if f.FailureReason != "" {
		fmt.Fprintf(&b, "Reason:    %s\n", Sanitize(f.FailureReason))
	}
	fmt.Fprintf(&b, "Fix:       %s\n", Sanitize(fix))
	fmt.Fprintf(&b, "Console:   %s\n", consoleURL(f, sourceRegion))
	fmt.Fprintf(&b, "Inspect:   replaudit status %s --version-id %s\n",
		shellQuote(Sanitize("s3://"+f.Bucket+"/"+f.Key)), shellQuote(Sanitize(f.VersionID)))
	machine := map[string]any{
		"kind": kind, "severity": kind.Severity(), "verdict": f.Verdict, "bucket": f.Bucket, "key": f.Key,
		"versionId": f.VersionID, "destination": f.Destination, "destinationRegion": f.DestinationRegion,
		"ruleId": f.RuleID, "failureReason": f.FailureReason, "differences": f.Differences,
		"eventTime": f.EventTime, "checkedAt": f.CheckedAt,
	}
	js, _ := json.MarshalIndent(machine, "", "  ")
	fmt.Fprintf(&b, "\n--- JSON ---\n%s\n", js)
	verdict := string(f.Verdict)
	if kind == KindLongPending {
		verdict = "LONG_PENDING"
	}
	return Message{
		Subject:    subject("["+strings.ToUpper(kind.Severity())+"]", string(kind), where),
		Body:       b.String(),
		Attributes: map[string]string{"severity": kind.Severity(), "verdict": verdict, "bucket": f.Bucket},
	}
}

// Digest is what a storm of alerts on one bucket in one window becomes.
type Digest struct {
	Bucket      string
	WindowStart time.Time
	Window      time.Duration
	Counts      map[string]int // by verdict, or verdict/reason
	Examples    []string       // s3:// paths
}

// FormatDigest writes one message for a storm.
func FormatDigest(d Digest) Message {
	total := 0
	for _, n := range d.Counts {
		total += n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d more replication problems on s3://%s between %s and %s, held back to avoid an alert storm.\n\n",
		total, Sanitize(d.Bucket), d.WindowStart.UTC().Format(time.RFC3339), d.WindowStart.Add(d.Window).UTC().Format(time.RFC3339))
	fmt.Fprintln(&b, "By verdict and reason:")
	for _, k := range slices.Sorted(maps.Keys(d.Counts)) {
		fmt.Fprintf(&b, "  %-50s %d\n", Sanitize(k), d.Counts[k])
	}
	if len(d.Examples) > 0 {
		fmt.Fprintln(&b, "\nExamples:")
		for _, e := range d.Examples {
			fmt.Fprintf(&b, "  %s\n", Sanitize(e))
		}
	}
	fmt.Fprintf(&b, "\nEvery item is in the ledger: replaudit list --bucket %s --verdict FAILED --since %s\n",
		shellQuote(Sanitize(d.Bucket)), d.WindowStart.UTC().Format(time.RFC3339))
	js, _ := json.MarshalIndent(map[string]any{"kind": KindDigest, "bucket": d.Bucket, "windowStart": d.WindowStart, "counts": d.Counts, "examples": d.Examples}, "", "  ")
	fmt.Fprintf(&b, "\n--- JSON ---\n%s\n", js)
	return Message{
		Subject:    subject("[WARNING] DIGEST", fmt.Sprintf("%d", total), "replication problems on", "s3://"+d.Bucket),
		Body:       b.String(),
		Attributes: map[string]string{"severity": KindDigest.Severity(), "verdict": "DIGEST", "bucket": d.Bucket},
	}
}
