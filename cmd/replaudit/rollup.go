package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/replaudit/replaudit/internal/report"
)

var rollupCommand = command{
	name:    "rollup",
	summary: "rebuild the ledger's rollups from its items, or check them against the items",
	args:    true,
	examples: `  replaudit rollup rebuild --since 400d   # once, after upgrading a stack whose ledger predates rollups
  replaudit rollup check --since 7d        # the report from rollups against the report from every item
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		since := fs.String("since", "30d", "from this day: RFC 3339, a date, or back from now (24h, 30d)")
		until := fs.String("until", "", "up to this time (default: now)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			if fs.NArg() != 1 || (fs.Arg(0) != "rebuild" && fs.Arg(0) != "check") {
				return usageErrorf("want rebuild or check, as in: replaudit rollup rebuild --since 400d")
			}
			f, err := filter("", "", *since, *until)
			if err != nil {
				return err
			}
			if !f.Until.After(f.Since) {
				return usageErrorf("--until is not after --since")
			}
			l, err := lf.open(ctx)
			if err != nil {
				return err
			}
			if fs.Arg(0) == "check" {
				exact, rolled, diffs, err := report.Check(ctx, l, f.Since, f.Until, 30*time.Minute, time.Now(), false)
				if err != nil {
					return err
				}
				for _, d := range diffs {
					fmt.Fprintln(stdout, d)
				}
				if len(diffs) > 0 {
					return &exitError{code: exitFail, err: fmt.Errorf("%d figures differ", len(diffs))}
				}
				fmt.Fprintf(stdout, "rollups agree with the %d items of %s to %s\n", exact.Checks, rolled.Since.Format(time.DateOnly), rolled.Until.Add(-time.Nanosecond).Format(time.DateOnly))
				return nil
			}
			p := progressOn(stderr, false)
			days, items := 0, 0
			err = l.Rebuild(ctx, f.Since, f.Until, func(day string, n int) {
				days, items = days+1, items+n
				if p != nil {
					p.show(fmt.Sprintf("%s done: %d days, %d items from before rollups", day, days, items))
				}
			})
			if p != nil {
				p.end(0)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rebuilt the base rollups of %d days: %d items from before rollups counted\n", days, items)
			return nil
		}
	},
}
