package alert_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
)

func failed(key string) audit.Finding {
	return audit.Finding{Bucket: "acme-data", SourceRegion: "us-east-1", Key: key, VersionID: "3HL4kqtJvjVBH40Nrjfkd",
		Destination: "acme-dr", DestinationRegion: "eu-west-1", Verdict: audit.Failed, FailureReason: "DstPutObjectNotPermitted",
		EventTime: time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)}
}

func TestAnAlertSaysWhatWhyAndHowToFix(t *testing.T) {
	m := alert.Format(failed("reports/q3.pdf"), alert.KindFailed, time.Now().Add(-10*time.Minute), "us-east-1")
	if m.Subject != "[CRITICAL] FAILED s3://acme-data/reports/q3.pdf" {
		t.Errorf("subject: %q", m.Subject)
	}
	for _, want := range []string{
		"Replication of s3://acme-data/reports/q3.pdf to acme-dr FAILED.",
		"Cause:     The replication role may not write objects into the destination.",
		"Reason:    DstPutObjectNotPermitted",
		"Fix:       Grant s3:ReplicateObject",
		"Console:   https://us-east-1.console.aws.amazon.com/s3/object/acme-data?region=us-east-1&prefix=reports%2Fq3.pdf",
		"Inspect:   replaudit status 's3://acme-data/reports/q3.pdf' --version-id '3HL4kqtJvjVBH40Nrjfkd'",
		"Regions:   us-east-1 -> eu-west-1",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("the body does not say %q:\n%s", want, m.Body)
		}
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(m.Body[strings.Index(m.Body, "--- JSON ---")+12:]), &js); err != nil || js["failureReason"] != "DstPutObjectNotPermitted" {
		t.Errorf("JSON block: %v %v", js, err)
	}
	if m.Attributes["severity"] != "critical" || m.Attributes["verdict"] != "FAILED" || m.Attributes["bucket"] != "acme-data" {
		t.Errorf("attributes: %v", m.Attributes)
	}
}

func TestHostileKeysCannotForgeLinesOrOverflowTheSubject(t *testing.T) {
	key := "evil\nSubject: [RESOLVED] all fine\r\n" + strings.Repeat("é", 200)
	m := alert.Format(failed(key), alert.KindFailed, time.Time{}, "us-east-1")
	if strings.ContainsAny(m.Subject, "\r\n") || utf8.RuneCountInString(m.Subject) >= 100 {
		t.Errorf("subject: %q", m.Subject)
	}
	for _, line := range strings.Split(m.Body, "\n") {
		if strings.HasPrefix(line, "Subject:") {
			t.Errorf("the key forged a line: %q", line)
		}
	}
	if !strings.Contains(m.Body, `evil\u000aSubject`) {
		t.Errorf("the newline is not shown escaped:\n%s", m.Body)
	}
	if m.Attributes["bucket"] != "acme-data" {
		t.Errorf("attributes: %v", m.Attributes)
	}
}

func TestKinds(t *testing.T) {
	p := failed("k")
	p.Verdict = audit.Pending
	if alert.KindOf(p) != "" {
		t.Error("a plain PENDING alerts")
	}
	p.LongPending = true
	if alert.KindOf(p) != alert.KindLongPending || alert.KindLongPending.Severity() != "warning" {
		t.Error("a long PENDING does not warn")
	}
	for _, v := range []audit.Verdict{audit.Verified, audit.NotReplicated, audit.Superseded, audit.DeleteNotReplicated, audit.NotTracked} {
		if alert.KindOf(audit.Finding{Verdict: v}) != "" {
			t.Errorf("%s alerts", v)
		}
	}
}

func TestADigestCountsByVerdictAndReason(t *testing.T) {
	m := alert.FormatDigest(alert.Digest{Bucket: "acme-data", WindowStart: time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), Window: 5 * time.Minute,
		Counts: map[string]int{"FAILED/DstPutObjectNotPermitted": 40, "MISSING": 2}, Examples: []string{"s3://acme-data/a -> acme-dr"}})
	if !strings.Contains(m.Subject, "42") || !strings.Contains(m.Body, "FAILED/DstPutObjectNotPermitted") || !strings.Contains(m.Body, "s3://acme-data/a") {
		t.Errorf("digest:\n%s\n%s", m.Subject, m.Body)
	}
}
