package alert_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
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
	m := alert.Format(alert.Notice{Finding: failed("reports/q3.pdf"), Kind: alert.KindFailed, Since: time.Now().Add(-10 * time.Minute), Now: time.Now(), SourceRegion: "us-east-1"})
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
	if got := jsonBlock(t, m.Body)["failureReason"]; got != "DstPutObjectNotPermitted" {
		t.Errorf("JSON block: got failureReason %v, want DstPutObjectNotPermitted", got)
	}
	if m.Attributes["severity"] != "critical" || m.Attributes["verdict"] != "FAILED" || m.Attributes["bucket"] != "acme-data" {
		t.Errorf("attributes: %v", m.Attributes)
	}
}

// nastyKeys are keys a user may write, by accident or to fool on-call.
var nastyKeys = map[string]string{
	"a right-to-left override":          "invoice-\u202Efdp.exe",
	"one that reverses FAILED":          "\u202E",
	"bidi isolates and marks":           "a\u2067b\u200Ec\u2069",
	"zero-width space and joiner":       "pay\u200Bpal/\u200Dlogin",
	"a byte order mark":                 "\uFEFFreport.csv",
	"C1 next line":                      "a\u0085Subject: [RESOLVED] all fine",
	"C1 control sequence introducer":    "a\u009B2J",
	"an ANSI colour sequence":           "\x1b[31mred\x1b[0m",
	"a forged line":                     "evil\nSubject: [RESOLVED] all fine\r\n\tx",
	"line and paragraph separators":     "a\u2028b\u2029c",
	"a tag character":                   "flag\U000E0041",
	"emoji and CJK":                     "photos/🏖️ 海滩.jpg",
	"a 1024-byte key of two-byte runes": strings.Repeat("é", 512),
	"a long key with an override late":  strings.Repeat("a/", 100) + "\u202Etxt.exe",
	"whitespace only":                   " \n\t ",
}

func TestNastyKeysReachOnCallEscaped(t *testing.T) {
	for name, key := range nastyKeys {
		t.Run(name, func(t *testing.T) {
			for _, m := range []alert.Message{
				alert.Format(alert.Notice{Finding: failed(key), Kind: alert.KindFailed, Since: time.Now().Add(-time.Minute), Now: time.Now(), SourceRegion: "us-east-1"}),
				alert.Format(alert.Notice{Finding: failed(key), Kind: alert.KindLongPending, Since: time.Time{}, Now: time.Now(), SourceRegion: "us-east-1"}),
				alert.FormatDigest(alert.Digest{Bucket: "acme-data", WindowStart: time.Now(), Window: time.Minute,
					Counts: map[string]int{"FAILED/" + key: 1}, Examples: []string{"s3://acme-data/" + key + " -> acme-dr"}}),
			} {
				if len(m.Subject) > 99 {
					t.Errorf("subject: got %d bytes, want at most 99: %q", len(m.Subject), m.Subject)
				}
				for i := 0; i < len(m.Subject); i++ {
					if c := m.Subject[i]; c < 0x20 || c > 0x7e {
						t.Errorf("subject: got byte %#x at %d, want printable ASCII only: %q", c, i, m.Subject)
					}
				}
				if r, _ := utf8.DecodeRuneInString(m.Subject); !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsPunct(r) {
					t.Errorf("subject: got %q first, want a letter, digit or punctuation: %q", r, m.Subject)
				}
				for _, line := range strings.Split(m.Body, "\n") {
					if r, ok := rawFormatOrControl(line); ok {
						t.Errorf("body: got a raw %U in %q, want it escaped", r, line)
					}
					if strings.HasPrefix(line, "Subject:") {
						t.Errorf("body: the key forged a line: %q", line)
					}
				}
			}
			m := alert.Format(alert.Notice{Finding: failed(key), Kind: alert.KindFailed, Since: time.Time{}, Now: time.Now(), SourceRegion: "us-east-1"})
			if got := jsonBlock(t, m.Body)["key"]; got != key {
				t.Errorf("JSON block: got key %q, want %q", got, key)
			}
		})
	}
}

func TestAnOverrideCannotDisguiseTheKey(t *testing.T) {
	m := alert.Format(alert.Notice{Finding: failed("invoice-\u202Efdp.exe"), Kind: alert.KindFailed, Since: time.Time{}, Now: time.Now(), SourceRegion: "us-east-1"})
	if want := "[CRITICAL] FAILED s3://acme-data/invoice-?fdp.exe"; m.Subject != want {
		t.Errorf("subject: got %q, want %q", m.Subject, want)
	}
	if want := `Replication of s3://acme-data/invoice-\u202efdp.exe to acme-dr FAILED.`; !strings.HasPrefix(m.Body, want+"\n") {
		t.Errorf("body: got\n%s\nwant it to begin %q", m.Body, want)
	}
	if want := `"key": "invoice-\u202efdp.exe"`; !strings.Contains(m.Body, want) {
		t.Errorf("JSON block: got\n%s\nwant %s", m.Body, want)
	}
}

func TestACutSubjectKeepsTheKindAndLosesTheKeysEnd(t *testing.T) {
	m := alert.Format(alert.Notice{Finding: failed(strings.Repeat("é", 200)), Kind: alert.KindLongPending, Now: time.Now(), SourceRegion: "us-east-1"})
	if !strings.HasPrefix(m.Subject, "[WARNING] LONG_PENDING s3://acme-data/???") || !strings.HasSuffix(m.Subject, "...") || len(m.Subject) != 99 {
		t.Errorf("subject: got %q (%d bytes), want the kind, the start of the key and ... in 99 bytes", m.Subject, len(m.Subject))
	}
}

func TestHostileKeysCannotForgeLines(t *testing.T) {
	m := alert.Format(alert.Notice{Finding: failed("evil\nSubject: [RESOLVED] all fine\r\n"), Kind: alert.KindFailed, Since: time.Time{}, Now: time.Now(), SourceRegion: "us-east-1"})
	if want := "[CRITICAL] FAILED s3://acme-data/evil Subject: [RESOLVED] all fine"; m.Subject != want {
		t.Errorf("subject: got %q, want %q", m.Subject, want)
	}
	if !strings.Contains(m.Body, `evil\u000aSubject`) {
		t.Errorf("the newline is not shown escaped:\n%s", m.Body)
	}
	if m.Attributes["bucket"] != "acme-data" {
		t.Errorf("attributes: %v", m.Attributes)
	}
}

// rawFormatOrControl returns the first rune of s that is a control or format
// character, or a line or paragraph separator.
func rawFormatOrControl(s string) (rune, bool) {
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return r, true
		}
	}
	return 0, false
}

func jsonBlock(t *testing.T, body string) map[string]any {
	t.Helper()
	_, block, ok := strings.Cut(body, "--- JSON ---\n")
	var js map[string]any
	if err := json.Unmarshal([]byte(block), &js); !ok || err != nil {
		t.Fatalf("JSON block: got %v, want one that decodes:\n%s", err, body)
	}
	return js
}

func TestSeverities(t *testing.T) {
	for k, want := range map[alert.Kind]string{alert.KindFailed: "critical", alert.KindMissing: "critical", alert.KindDiverged: "critical",
		alert.KindLongPending: "warning", alert.KindCannotVerify: "warning", alert.KindDigest: "warning", alert.KindResolved: "info"} {
		if got := k.Severity(); got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
}

func TestACannotVerifyAlertNamesThePermissionToGrant(t *testing.T) {
	f := failed("k")
	f.Verdict, f.FailureReason = audit.CannotVerify, "AccessDenied"
	f.Detail = "replaudit may not read the replica in acme-dr (eu-west-1): 403 Forbidden"
	m := alert.Format(alert.Notice{Finding: f, Kind: alert.KindCannotVerify, Now: time.Now(), SourceRegion: "us-east-1"})
	if m.Subject != "[WARNING] CANNOT_VERIFY replicas in s3://acme-dr of s3://acme-data" || !strings.Contains(m.Body, "s3:GetObjectVersion") || !strings.Contains(m.Body, "403") ||
		!strings.Contains(m.Body, "this alert stands for all of them") {
		t.Errorf("got %q\n%s", m.Subject, m.Body)
	}
}

func TestADigestCountsByVerdictAndReason(t *testing.T) {
	m := alert.FormatDigest(alert.Digest{Bucket: "acme-data", WindowStart: time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), Window: 5 * time.Minute,
		Counts: map[string]int{"FAILED/DstPutObjectNotPermitted": 40, "MISSING": 2}, Examples: []string{"s3://acme-data/a -> acme-dr"}})
	if !strings.Contains(m.Subject, "42") || !strings.Contains(m.Body, "FAILED/DstPutObjectNotPermitted") || !strings.Contains(m.Body, "s3://acme-data/a") {
		t.Errorf("digest:\n%s\n%s", m.Subject, m.Body)
	}
}
