package reconcile

import (
	"fmt"
	"io"
	"strings"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/safetext"
)

// bytes writes a size for people.
func bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Write prints a summary for a person: what the inventory holds, class by
// class, what needs replicating, and what to do.
func (s Summary) Write(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintln(w, safetext.Line(fmt.Sprintf(format, a...))) }
	p("Inventory of s3://%s taken %s: %s", s.Source, s.Inventory.UTC().Format("2006-01-02 15:04 UTC"), s.State)
	p("  manifest     %s (%d files)", s.Manifest, s.Files)
	for _, c := range Classes {
		if n := s.Objects[c]; n > 0 {
			p("  %-15s %12d versions %12s", c, n, bytes(s.Bytes[c]))
		}
	}
	for reason, n := range s.Skipped {
		p("  skipped      %d rows: %s", n, reason)
	}
	if s.LookedUp > 0 {
		p("  ledger       %d versions looked up, %d already audited, %d findings recorded now", s.LookedUp, s.Known, s.Recorded)
	}
	for _, c := range Classes {
		for _, ex := range s.Examples[c] {
			p("  example      %s s3://%s/%s", c, s.Source, ex)
		}
	}
	if s.FailedFiles > 0 {
		p("  INCOMPLETE   %d of %d files could not be read; this is not a clean bill of health:", s.FailedFiles, s.Files)
		for _, f := range s.Failures {
			p("               %s", f)
		}
	}
	switch {
	case s.Job != "":
		p("  re-drive     Batch Replication job %s replicates the %s in %s", s.Job, versions(s.Redrive), s.RemediationManifest)
	case s.Command != "":
		p("  re-drive     %s in %s; start the job with:", versions(s.Redrive), s.RemediationManifest)
		p("    %s", s.Command)
	case s.RemediationManifest != "":
		p("  re-drive     %s listed in %s", versions(s.Redrive), s.RemediationManifest)
	case s.Redrive > 0:
		p("  re-drive     %s to replicate: list them with --out FILE, or re-drive them with --redrive", versions(s.Redrive))
	}
}

// FormatSummary is a run's digest alert: counts, bytes and examples, and
// the re-drive.
func FormatSummary(s Summary) alert.Message {
	var b strings.Builder
	s.Write(&b)
	problems := s.Objects[Failed] + s.Objects[NotReplicated] + s.Objects[LongPending]
	what := fmt.Sprintf("%s of s3://%s need replicating", versions(problems), s.Source)
	if problems == 1 {
		what = fmt.Sprintf("1 version of s3://%s needs replicating", s.Source)
	}
	severity := alert.KindDigest.Severity()
	if s.Objects[Failed] > 0 {
		severity = "critical"
	}
	if s.State == Incomplete {
		what = fmt.Sprintf("the inventory of s3://%s could not be read whole", s.Source)
	}
	js, _ := safetext.MarshalIndentJSON(s, "", "  ")
	body := b.String() + "\n--- JSON ---\n" + string(js) + "\n"
	return alert.Message{
		Subject:    safetext.ASCII("["+strings.ToUpper(severity)+"] INVENTORY "+what, 99),
		Body:       body,
		Attributes: map[string]string{"severity": severity, "verdict": "INVENTORY", "bucket": s.Source},
	}
}

// versions counts versions in words.
func versions(n int64) string {
	if n == 1 {
		return "1 version"
	}
	return fmt.Sprintf("%d versions", n)
}
