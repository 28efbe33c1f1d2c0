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
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			f, err := filter(*verdict, *bucket, *since, *until)
			if err != nil {
				return err
			}
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
			return write(ctx, l, f, w, nil)
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
			var progress io.Writer
			if isTerminal(stderr) {
				progress = stderr
			}
			err = write(ctx, l, f, w, progress)
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

// write streams the filtered items through w, with a progress line on a
// terminal, and returns errFoundFailed when any item is FAILED.
func write(ctx context.Context, l *ledger.Ledger, f query.Filter, w query.Writer, progress io.Writer) error {
	n, failed := 0, 0
	err := query.Run(ctx, l, f, func(it ledger.Item) error {
		n++
		if it.Verdict == audit.Failed {
			failed++
		}
		if progress != nil && n%1000 == 0 {
			fmt.Fprintf(progress, "\r%d items", n)
		}
		return w.Write(query.RowOf(it))
	})
	if progress != nil {
		fmt.Fprintf(progress, "\r%d items, %d FAILED\n", n, failed)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && failed > 0 {
		return errFoundFailed
	}
	return err
}
