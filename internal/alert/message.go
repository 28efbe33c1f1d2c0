package alert

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/safetext"
)

// Kind is what an alert is about.
type Kind string

// The kinds of alert.
const (
	KindFailed      Kind = "FAILED"
	KindMissing     Kind = "MISSING"
	KindDiverged    Kind = "DIVERGED"
	KindLongPending Kind = "LONG_PENDING"
	// KindCannotVerify: replaudit may not read a replica or its source, so
	// it cannot tell whether replication works.
	KindCannotVerify Kind = "CANNOT_VERIFY"
	KindResolved     Kind = "RESOLVED"
	KindDigest       Kind = "DIGEST"
)

// Severity is carried as a message attribute so subscriptions can filter.
func (k Kind) Severity() string {
	switch k {
	case KindFailed, KindMissing, KindDiverged:
		return "critical"
	case KindLongPending, KindCannotVerify, KindDigest:
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

// maxSubject keeps a subject within SNS's rule under each reading its
// documentation has given: ASCII, or UTF-8 of fewer than 100 characters.
const maxSubject = 99

// subject starts with what the alert is and where, so a cut takes the end of
// the key, never the kind.
func subject(parts ...string) string {
	return safetext.ASCII(strings.Join(parts, " "), maxSubject)
}

// consoleURL opens the object's versions in the S3 console.
func consoleURL(f audit.Finding, region string) string {
	return fmt.Sprintf("https://%s.console.aws.amazon.com/s3/object/%s?region=%s&prefix=%s&showversions=true",
		region, url.PathEscape(f.Bucket), region, url.QueryEscape(f.Key))
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// body is an alert's text. Every line passes through safetext.Line whole,
// so no value in it, a key or a detail, can forge a line or reorder one.
type body struct{ strings.Builder }

func (b *body) line(format string, a ...any) {
	b.WriteString(safetext.Line(fmt.Sprintf(format, a...)))
	b.WriteByte('\n')
}

// json ends the body with the machine-readable block, exact yet plain to
// read.
func (b *body) json(v any) {
	b.WriteString("\n--- JSON ---\n")
	js, err := safetext.MarshalIndentJSON(v, "", "  ")
	if err != nil { // a time past year 9999, say: the text above still stands
		b.line("(none: %v)", err)
		return
	}
	b.Write(js)
	b.WriteByte('\n')
}

// Notice is what an alert message is made from.
type Notice struct {
	Finding audit.Finding
	// Kind is what the message is; for KindResolved, Incident is the kind
	// of the incident that is over.
	Kind, Incident Kind
	// Since is when the incident began; Now, when the message is written.
	Since, Now   time.Time
	SourceRegion string
}

// Format writes the message for a notice: a subject of printable ASCII
// under 100 bytes with severity, kind and s3://bucket/key; a body for a
// person at 3 a.m. with what happened, since when, the cause, the fix, a
// console link and a command, every key and detail in it escaped as
// safetext.Line does; and a JSON block for machines that holds the key in
// full.
func Format(n Notice) Message {
	f, kind, since, sourceRegion := n.Finding, n.Kind, n.Since, n.SourceRegion
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
	case KindCannotVerify:
		what = fmt.Sprintf("replaudit cannot read %s, so it cannot verify the replicas of s3://%s there (first seen for %s). Each object it hides is checked again daily; this alert stands for all of them.", f.Destination, f.Bucket, where)
		cause = f.Detail
		fix = cannotVerifyFix(f)
	case KindResolved:
		what = fmt.Sprintf("RESOLVED: the %s incident of %s in %s is over; the version is now %s.", n.Incident, where, f.Destination, f.Verdict)
		if n.Incident == KindCannotVerify {
			what = fmt.Sprintf("RESOLVED: replaudit can read %s again, and verify the replicas of s3://%s there.", f.Destination, f.Bucket)
		}
		cause = "The earlier alert for this version is over."
		fix = "Nothing to do."
	}
	var b body
	b.line("%s", what)
	b.line("")
	b.line("Version:   %s", f.VersionID)
	if f.DestinationRegion != "" {
		b.line("Regions:   %s -> %s", sourceRegion, f.DestinationRegion)
	}
	if !since.IsZero() {
		b.line("Since:     %s (%s before this message)", since.UTC().Format(time.RFC3339), n.Now.Sub(since).Round(time.Second))
	}
	b.line("Cause:     %s", cause)
	if f.FailureReason != "" {
		b.line("Reason:    %s", f.FailureReason)
	}
	b.line("Fix:       %s", fix)
	b.line("Console:   %s", consoleURL(f, sourceRegion))
	b.line("Inspect:   replaudit status %s --version-id %s", shellQuote("s3://"+f.Bucket+"/"+f.Key), shellQuote(f.VersionID))
	b.json(map[string]any{
		"kind": kind, "severity": kind.Severity(), "verdict": f.Verdict, "bucket": f.Bucket, "key": f.Key,
		"versionId": f.VersionID, "destination": f.Destination, "destinationRegion": f.DestinationRegion,
		"ruleId": f.RuleID, "failureReason": f.FailureReason, "differences": f.Differences,
		"eventTime": f.EventTime, "checkedAt": f.CheckedAt,
	})
	verdict := string(f.Verdict)
	if kind == KindLongPending {
		verdict = "LONG_PENDING"
	}
	about := where
	if kind == KindCannotVerify || n.Incident == KindCannotVerify {
		about = "replicas in s3://" + f.Destination + " of s3://" + f.Bucket
	}
	return Message{
		Subject:    subject("["+strings.ToUpper(kind.Severity())+"]", string(kind), about),
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

// total is how many problems the digest counts.
func (d Digest) total() int {
	n := 0
	for _, c := range d.Counts {
		n += c
	}
	return n
}

// FormatDigest writes one message for a storm.
func FormatDigest(d Digest) Message {
	total := d.total()
	var b body
	b.line("%d more replication problems on s3://%s between %s and %s, held back to avoid an alert storm.",
		total, d.Bucket, d.WindowStart.UTC().Format(time.RFC3339), d.WindowStart.Add(d.Window).UTC().Format(time.RFC3339))
	b.line("")
	b.line("By verdict and reason:")
	for _, k := range slices.Sorted(maps.Keys(d.Counts)) {
		b.line("  %-50s %d", k, d.Counts[k])
	}
	if len(d.Examples) > 0 {
		b.line("")
		b.line("Examples:")
		for _, e := range d.Examples {
			b.line("  %s", e)
		}
	}
	b.line("")
	b.line("Every item is in the ledger: replaudit list --bucket %s --verdict FAILED --since %s",
		shellQuote(d.Bucket), d.WindowStart.UTC().Format(time.RFC3339))
	b.json(map[string]any{"kind": KindDigest, "bucket": d.Bucket, "windowStart": d.WindowStart, "counts": d.Counts, "examples": d.Examples})
	return Message{
		Subject:    subject("[WARNING] DIGEST", fmt.Sprintf("%d", total), "replication problems on", "s3://"+d.Bucket),
		Body:       b.String(),
		Attributes: map[string]string{"severity": KindDigest.Severity(), "verdict": "DIGEST", "bucket": d.Bucket},
	}
}

// cannotVerifyFix is the fix for a bucket replaudit may not read, from the
// error code that kept it out.
func cannotVerifyFix(f audit.Finding) string {
	bucket := f.Destination
	if strings.Contains(f.Detail, "the source") {
		bucket = f.Bucket
	}
	switch f.FailureReason {
	case "NoSuchBucket":
		return fmt.Sprintf("Create bucket %s, or point the rule at a bucket that exists; replication to it fails too.", bucket)
	case "AccessDenied", "Forbidden", "HTTP 403":
		return fmt.Sprintf("Allow the auditor and sweeper roles s3:GetObject, s3:GetObjectVersion and s3:ListBucket on %s (and kms:Decrypt for SSE-KMS), or audit only this stack's rules (RULE_IDS).", bucket)
	}
	return fmt.Sprintf("Check that the auditor and sweeper roles may read %s.", bucket)
}

// FormatDigestResolved writes the one message that tells on-call every
// problem a storm digest counted is over.
func FormatDigestResolved(d Digest) Message {
	total := d.total()
	var b body
	b.line("RESOLVED: the %d replication problems on s3://%s held back between %s and %s are over.",
		total, d.Bucket, d.WindowStart.UTC().Format(time.RFC3339), d.WindowStart.Add(d.Window).UTC().Format(time.RFC3339))
	b.line("")
	b.line("Each item's history is in the ledger: replaudit list --bucket %s --since %s", shellQuote(d.Bucket), d.WindowStart.UTC().Format(time.RFC3339))
	b.json(map[string]any{"kind": KindResolved, "bucket": d.Bucket, "windowStart": d.WindowStart, "counts": d.Counts})
	return Message{
		Subject:    subject("[INFO] RESOLVED", fmt.Sprintf("%d", total), "replication problems on", "s3://"+d.Bucket),
		Body:       b.String(),
		Attributes: map[string]string{"severity": KindResolved.Severity(), "verdict": "RESOLVED", "bucket": d.Bucket},
	}
}
