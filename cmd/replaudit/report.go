package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/report"
)

var reportCommand = command{
	name:    "report",
	summary: "the compliance summary of a period, as text or a self-contained HTML file",
	examples: `  replaudit report --since 30d
  replaudit report --since 2026-10-01 --until 2026-11-01 --html october.html
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		since := fs.String("since", "30d", "from this time: RFC 3339, a date, or back from now (24h, 30d)")
		until := fs.String("until", "", "up to this time (default: now)")
		threshold := fs.Duration("threshold", 30*time.Minute, "the replication threshold to report against (the stack's PendingThresholdMinutes)")
		htmlOut := fs.String("html", "", "also write the report as one self-contained HTML `FILE`")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			f, err := filter("", "", *since, *until)
			if err != nil {
				return err
			}
			if !f.Until.After(f.Since) {
				return fmt.Errorf("%w: --until is not after --since", errUsage)
			}
			if *threshold <= 0 {
				return fmt.Errorf("%w: --threshold must be positive", errUsage)
			}
			l, err := lf.open(ctx)
			if err != nil {
				return err
			}
			r, err := report.Compute(ctx, l, f.Since, f.Until, *threshold, time.Now())
			if err != nil {
				return err
			}
			if err := r.Text(stdout); err != nil {
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
