package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/query"
)

var listCommand = command{
	name:    "list",
	summary: "list ledger items by verdict, bucket and period",
	examples: `  replaudit list --verdict FAILED --since 7d
  replaudit list --bucket acme-data --since 2026-11-01 --until 2026-12-01 --format csv > november.csv
  replaudit list --env-file .sandbox.env --since 1h      # on the local sandbox
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		verdict := fs.String("verdict", "", "only this verdict: "+verdictNames())
		bucket := fs.String("bucket", "", "only this source bucket")
		since := fs.String("since", "7d", "from this time: RFC 3339, a date, or back from now (90m, 24h, 7d)")
		until := fs.String("until", "", "up to this time (default: now)")
		format := fs.String("format", "", "table, json or csv (default: table on a terminal, json otherwise)")
		limit := fs.Int("limit", 0, "stop after `N` items (default: every item)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			f, err := filter(*verdict, *bucket, *since, *until)
			if err != nil {
				return err
			}
			f.Limit = *limit
			if *format == "" {
				*format = query.JSON
				if isTerminal(stdout) {
					*format = query.Table
				}
			}
			if *format == query.JSONL {
				return fmt.Errorf("%w: list writes table, json or csv; export writes jsonl", errUsage)
			}
			w, err := query.NewWriter(stdout, *format)
			if err != nil {
				return err
			}
			l, err := lf.open(ctx)
			if err != nil {
				return err
			}
			return write(ctx, l, f, w, progressOn(stderr, false))
		}
	},
}

var exportCommand = command{
	name:    "export",
	summary: "export a whole period of evidence as CSV or JSON lines, streaming",
	examples: `  replaudit export --since 30d --format csv --out evidence.csv
  replaudit export --since 2026-10-01 --until 2026-11-01 --format jsonl | gzip > october.jsonl.gz
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		since := fs.String("since", "", "from this time (required): RFC 3339, a date, or back from now (24h, 30d)")
		until := fs.String("until", "", "up to this time (default: now)")
		format := fs.String("format", query.CSV, "csv or jsonl")
		out := fs.String("out", "", "write to `FILE` instead of stdout")
		verdict := fs.String("verdict", "", "only this verdict")
		bucket := fs.String("bucket", "", "only this source bucket")
		limit := fs.Int("limit", 0, "stop after `N` items (default: every item)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			if *since == "" {
				return fmt.Errorf("%w: --since is required, such as --since 30d", errUsage)
			}
			if *format != query.CSV && *format != query.JSONL {
				return fmt.Errorf("%w: export writes csv or jsonl, not %q", errUsage, *format)
			}
			f, err := filter(*verdict, *bucket, *since, *until)
			if err != nil {
				return err
			}
			f.Limit = *limit
			l, err := lf.open(ctx)
			if err != nil {
				return err
			}
			dst := stdout
			var file *os.File
			if *out != "" {
				if file, err = os.Create(*out); err != nil {
					return fmt.Errorf("%w: --out: %v", errUsage, err)
				}
				dst = file
			}
			w, err := query.NewWriter(dst, *format)
			if err != nil {
				return err
			}
			err = write(ctx, l, f, w, progressOn(stderr, true))
			if file != nil {
				if cerr := file.Close(); err == nil || errors.Is(err, errFoundFailed) && cerr != nil {
					err = cmp.Or(cerr, err)
				}
				if err != nil && !errors.Is(err, errFoundFailed) {
					os.Remove(*out) // no half an export that looks whole
				}
			}
			return err
		}
	},
}

func verdictNames() string {
	names := make([]string, len(audit.Verdicts))
	for i, v := range audit.Verdicts {
		names[i] = string(v)
	}
	return strings.Join(names, "|")
}

func filter(verdict, bucket, since, until string) (query.Filter, error) {
	now := time.Now().UTC()
	v, err := query.ParseVerdict(verdict)
	if err != nil {
		return query.Filter{}, err
	}
	f := query.Filter{Verdict: v, Bucket: bucket, Until: now}
	if f.Since, err = query.ParseTime(since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if until != "" {
		if f.Until, err = query.ParseTime(until, now); err != nil {
			return f, fmt.Errorf("--until: %w", err)
		}
	}
	return f, nil
}

// progress is the line a terminal's stderr shows while a query reads:
// days done of days in the period, and items so far. Into a pipe or a
// file there is none.
type progress struct {
	w          io.Writer
	summary    bool // end with the count of items and FAILED ones; else erase the line
	days       string
	items      int
	shownWidth int
}

// progressOn returns the progress line for stderr, or nil when stderr is
// not a terminal.
func progressOn(stderr io.Writer, summary bool) *progress {
	if !isTerminal(stderr) {
		return nil
	}
	return &progress{w: stderr, summary: summary}
}

func (p *progress) show(line string) {
	pad := max(p.shownWidth-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.shownWidth = len(line)
}

func (p *progress) dayDone(done, total int) {
	p.days = fmt.Sprintf("day %d of %d, ", done, total)
	p.show(fmt.Sprintf("%s%d items", p.days, p.items))
}

func (p *progress) item() {
	if p.items++; p.items%1000 == 0 {
		p.show(fmt.Sprintf("%s%d items", p.days, p.items))
	}
}

func (p *progress) end(failed int) {
	if p.summary {
		p.show(fmt.Sprintf("%d items, %d FAILED", p.items, failed))
		fmt.Fprintln(p.w)
	} else if p.shownWidth > 0 {
		p.show("")
		fmt.Fprint(p.w, "\r")
	}
}

// write streams the filtered items through w, in event time order, with a
// progress line on a terminal (p nil for none), and returns errFoundFailed
// when any item is FAILED.
func write(ctx context.Context, l *ledger.Ledger, f query.Filter, w query.Writer, p *progress) error {
	failed := 0
	if p != nil {
		f.DayDone = p.dayDone
	}
	err := query.Run(ctx, l, f, func(it ledger.Item) error {
		if it.Verdict == audit.Failed {
			failed++
		}
		if p != nil {
			p.item()
		}
		return w.Write(query.RowOf(it))
	})
	if p != nil {
		p.end(failed)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && failed > 0 {
		return errFoundFailed
	}
	return err
}
