package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/query"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/safetext"
)

var statusCommand = command{
	name:    "status",
	summary: "everything the ledger knows about one object: each version and destination",
	args:    true,
	examples: `  replaudit status 's3://acme-data/reports/2026/Q3 summary.pdf'
  replaudit status s3://acme-data/reports/q3.pdf --version-id 3HL4kqtJvjVBH40Nrjfkd --format json
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		version := fs.String("version-id", "", "only this version")
		format := fs.String("format", "text", "text or json")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			return runStatus(ctx, &lf, fs.Args(), *version, *format, stdout)
		}
	},
}

func parseS3URL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", usageErrorf("%q is not an s3://bucket/key address", s)
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", usageErrorf("%q names no key: want s3://bucket/key", s)
	}
	return bucket, key, nil
}

func runStatus(ctx context.Context, lf *ledgerFlags, args []string, version, format string, out io.Writer) error {
	if len(args) != 1 {
		return usageErrorf("status takes one s3://bucket/key")
	}
	if format != "text" && format != "json" {
		return usageErrorf("--format is text or json, not %q", format)
	}
	bucket, key, err := parseS3URL(args[0])
	if err != nil {
		return err
	}
	l, err := lf.open(ctx)
	if err != nil {
		return err
	}
	var items []ledger.Item
	if err := l.Object(ctx, bucket, key, version, func(it ledger.Item) error { items = append(items, it); return nil }); err != nil {
		return err
	}
	if len(items) == 0 && format == "json" {
		_, err := fmt.Fprintln(out, "[]") // what list writes when nothing matches
		return err
	}
	if len(items) == 0 {
		_, err := fmt.Fprintln(out, safetext.Line(fmt.Sprintf("The ledger holds nothing about s3://%s/%s%s: no event for it has been audited.",
			bucket, key, map[bool]string{true: " version " + version}[version != ""])))
		return err
	}
	failed := false
	for _, it := range items {
		failed = failed || it.Verdict == audit.Failed
	}
	if format == "json" {
		// The rows list and export write, with what status adds.
		type entry struct {
			query.Row
			History     []ledger.Change `json:"history"`
			Differences []string        `json:"differences,omitempty"`
			AlertKind   string          `json:"alertKind,omitempty"`
			AlertedAt   *time.Time      `json:"alertedAt,omitempty"`
			ResolvedAt  *time.Time      `json:"resolvedAt,omitempty"`
		}
		entries := make([]entry, len(items))
		for i, it := range items {
			entries[i] = entry{Row: query.RowOf(it), History: it.History, Differences: it.Differences,
				AlertKind: it.AlertKind, AlertedAt: it.AlertedAt, ResolvedAt: it.ResolvedAt}
		}
		js, err := safetext.MarshalIndentJSON(entries, "", "  ")
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(out, "%s\n", js); err != nil {
			return err
		}
	} else {
		writeStatus(out, bucket, key, items)
	}
	if failed {
		return errFoundFailed
	}
	return nil
}

// writeStatus writes each line through safetext.Line whole: keys, details
// and differences come from users and events.
func writeStatus(out io.Writer, bucket, key string, items []ledger.Item) {
	p := func(format string, a ...any) { fmt.Fprintln(out, safetext.Line(fmt.Sprintf(format, a...))) }
	p("s3://%s/%s", bucket, key)
	for _, it := range items {
		dest := it.Destination
		if dest == "" {
			dest = "(no destination)"
		}
		p("")
		p("version %s -> %s: %s", it.VersionID, dest, it.Verdict)
		if it.EventTimeClamped {
			p("  written      %s (clamped: the event's time was in the future)", stamp(it.EventTime))
		} else {
			p("  written      %s", stamp(it.EventTime))
		}
		p("  checked      %d times, first %s, last %s", it.Checks, stamp(it.FirstSeen), stamp(it.LastChecked))
		if it.Replica != nil {
			p("  replica      version %s, %d bytes, ETag %s, %s, verified %s", it.Replica.VersionID, it.Replica.Size, it.Replica.ETag, it.Replica.Status, stamp(it.Replica.VerifiedAt))
			if it.Replica.Checksum != "" {
				p("  checksum     %s", it.Replica.Checksum)
			}
		}
		if it.LagSeconds != nil {
			p("  lag          at most %.1fs", *it.LagSeconds)
		}
		if it.FailureReason != "" {
			meaning, fix := replication.Explain(it.FailureReason)
			p("  reason       %s: %s", it.FailureReason, meaning)
			p("  fix          %s", fix)
		}
		for _, d := range it.Differences {
			p("  differs      %s", d)
		}
		if it.Detail != "" && it.Verdict != audit.Verified && it.FailureReason == "" {
			p("  detail       %s", it.Detail)
		}
		if it.Alert != "" {
			line := fmt.Sprintf("  alert        %s %s", it.AlertKind, it.Alert)
			if it.AlertedAt != nil {
				line += ", alerted " + stamp(*it.AlertedAt)
			}
			if it.ResolvedAt != nil {
				line += ", resolved " + stamp(*it.ResolvedAt)
			}
			p("%s", line)
		}
		p("  history")
		for _, h := range it.History {
			p("    %s  %-14s %s", stamp(h.At), h.Verdict, h.Detail)
		}
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
