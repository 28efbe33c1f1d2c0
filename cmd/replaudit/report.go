package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/query"
	"github.com/replaudit/replaudit/internal/report"
	"github.com/replaudit/replaudit/internal/safetext"
	"github.com/replaudit/replaudit/internal/verify"
)

var reportCommand = command{
	name:    "report",
	summary: "the compliance summary of a period, as text, JSON or a self-contained HTML file",
	examples: `  replaudit report --since 30d
  replaudit report --since 30d --format json | jq .withinThreshold
  replaudit report --since 2026-10-01 --until 2026-11-01 --html october.html
  replaudit report --since 2d --exact                  # every item read: exact lags
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		since := fs.String("since", "30d", "from this time: RFC 3339, a date, or back from now (24h, 30d)")
		until := fs.String("until", "", "up to this time (default: now)")
		threshold := fs.Duration("threshold", 30*time.Minute, "the replication threshold to report against (default: the stack's PendingThresholdMinutes output, with --stack; else 30m)")
		htmlOut := fs.String("html", "", "also write the report as one self-contained HTML `FILE`")
		format := fs.String("format", "text", "text or json (HTML goes to a file, with --html)")
		exact := fs.Bool("exact", false, "read every item of the period, not the rollups: exact percentiles and any period, at a read per item")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			if *format != "text" && *format != "json" {
				return usageErrorf("report writes text or json, not %q (and HTML with --html FILE)", *format)
			}
			f, err := filter("", "", *since, *until)
			if err != nil {
				return err
			}
			if !f.Until.After(f.Since) {
				return usageErrorf("--until is not after --since")
			}
			if *threshold <= 0 {
				return usageErrorf("--threshold must be positive")
			}
			l, err := lf.open(ctx)
			if err != nil {
				return err
			}
			if !given(fs, "threshold") {
				if *threshold, err = stackThreshold(lf.outputs, *threshold); err != nil {
					return err
				}
			}
			var r *report.Report
			if *exact {
				r, err = report.Compute(ctx, l, f.Since, f.Until, *threshold, time.Now())
			} else {
				r, err = report.FromRollups(ctx, l, f.Since, f.Until, *threshold, time.Now())
			}
			if err != nil {
				return err
			}
			err = r.AddVerifications(ctx, func(ctx context.Context, source string) (verify.Summary, bool, error) {
				return verify.Latest(ctx, l.Client(), l.Table(), source)
			})
			if err != nil {
				return err
			}
			if len(r.Unrolled) > 0 {
				fmt.Fprintf(stderr, "replaudit report: %d days hold items no rollup counts; run replaudit rollup rebuild --since %s, or report --exact\n", len(r.Unrolled), r.Unrolled[0])
			}
			write := r.Text
			if *format == "json" {
				write = func(w io.Writer) error { return writeReportJSON(w, r) }
			}
			if err := write(stdout); err != nil {
				return err
			}
			if *htmlOut != "" {
				file, err := os.Create(*htmlOut)
				if err != nil {
					return fmt.Errorf("--html: %w", err)
				}
				if err := r.HTML(file); err != nil {
					file.Close()
					return err
				}
				if err := file.Close(); err != nil {
					return err
				}
			}
			if r.Verdicts[audit.Failed] > 0 {
				return errFoundFailed
			}
			return nil
		}
	},
}

// reportJSON is the report for machines: durations in seconds, verdicts
// and reasons by name, as list and export name them.
type reportJSON struct {
	Since             time.Time        `json:"since"`
	Until             time.Time        `json:"until"`
	Generated         time.Time        `json:"generated"`
	ThresholdSeconds  float64          `json:"thresholdSeconds"`
	Objects           int              `json:"objects"`
	Checks            int              `json:"checks"`
	Expected          int              `json:"expected"`
	InFlight          int              `json:"inFlight"`
	Verdicts          map[string]int   `json:"verdicts"`
	WithinThreshold   int              `json:"withinThreshold"`
	Within15Minutes   int              `json:"within15Minutes"`
	Measured          int              `json:"measured"`
	FromRollups       bool             `json:"fromRollups"`
	LagSeconds        lagJSON          `json:"lagSeconds"`
	LagSecondsFloor   *lagJSON         `json:"lagSecondsFloor,omitempty"`
	Unrolled          []string         `json:"daysNotCounted,omitempty"`
	FailuresByReason  map[string]int   `json:"failuresByReason"`
	OpenIncidents     int              `json:"openIncidents"`
	ResolvedIncidents int              `json:"resolvedIncidents"`
	LongestPending    *query.Row       `json:"longestPending,omitempty"`
	Changes           []changeJSON     `json:"changes"`
	Coverage          []string         `json:"coverage"`
	Verifications     []verify.Summary `json:"destinationVerified"`
}

type lagJSON struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type changeJSON struct {
	At          time.Time `json:"at"`
	Bucket      string    `json:"bucket"`
	RequestType string    `json:"requestType"`
	Status      string    `json:"status"`
	Rules       []string  `json:"rules"`
}

func writeReportJSON(w io.Writer, r *report.Report) error {
	out := reportJSON{Since: r.Since, Until: r.Until, Generated: r.Generated, ThresholdSeconds: r.Threshold.Seconds(),
		Objects: r.Objects, Checks: r.Checks, Expected: r.Expected, InFlight: r.InFlight, Verdicts: map[string]int{},
		WithinThreshold: r.WithinThreshold, Within15Minutes: r.Within15Minutes, Measured: r.Measured,
		LagSeconds:  lagJSON{P50: r.P50.Seconds(), P95: r.P95.Seconds(), P99: r.P99.Seconds(), Max: r.MaxLag.Seconds()},
		FromRollups: r.FromRollups, Unrolled: r.Unrolled,
		FailuresByReason: map[string]int{}, OpenIncidents: r.OpenIncidents, ResolvedIncidents: r.ResolvedIncidents,
		Changes: []changeJSON{}, Coverage: []string{}, Verifications: []verify.Summary{}}
	for _, v := range r.Verifications {
		out.Verifications = append(out.Verifications, v.Summary)
	}
	for v, n := range r.Verdicts {
		out.Verdicts[string(v)] = n
	}
	if r.FromRollups {
		// Lags are histogram buckets: each figure is the bucket's upper
		// bound (0: beyond the last bound), the floor its lower one.
		out.LagSecondsFloor = &lagJSON{P50: r.P50Floor.Seconds(), P95: r.P95Floor.Seconds(), P99: r.P99Floor.Seconds(), Max: r.MaxLagFloor.Seconds()}
	}
	maps.Copy(out.FailuresByReason, r.FailuresByReason)
	if r.LongestPending != nil {
		row := query.RowOf(*r.LongestPending)
		out.LongestPending = &row
	}
	for _, c := range r.Changes {
		out.Changes = append(out.Changes, changeJSON(c))
	}
	for _, c := range r.Coverage {
		out.Coverage = append(out.Coverage, c.Line())
	}
	js, err := safetext.MarshalIndentJSON(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", js)
	return err
}

// given reports whether the command line set a flag.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// stackThreshold is the threshold the stack audits against: its
// PendingThresholdMinutes output, or def when it has none (an older stack,
// or no --stack).
func stackThreshold(outputs map[string]string, def time.Duration) (time.Duration, error) {
	v, ok := outputs["PendingThresholdMinutes"]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("the stack's PendingThresholdMinutes output %q is not a positive number of minutes", v)
	}
	return time.Duration(n) * time.Minute, nil
}
