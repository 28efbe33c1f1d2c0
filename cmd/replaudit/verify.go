package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/schollz/progressbar/v3"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
)

// errNotVerified ends a verification that found replicas MISSING or
// DIVERGED: the output has shown them.
var errNotVerified = &exitError{code: exitFail, err: errors.New("replicas missing or diverged")}

var verifyCommand = command{
	name:    "verify",
	summary: "check a destination against its source from both buckets' S3 Inventories of one day: what is missing, diverged or orphaned",
	examples: `  # DuckDB, embedded: downloads both inventories' data files and joins them here
  replaudit verify --source-manifest s3://acme-inventory/inventory/acme-data/replaudit-1a2b3c/2026-11-29T01-00Z/manifest.json \
    --destination-manifest s3://acme-inventory-dr/inventory/acme-data-dr/all-versions/2026-11-29T02-00Z/manifest.json

  # Amazon Athena, over the Glue tables of both inventories' hive symlinks
  replaudit verify --source-manifest s3://.../manifest.json --destination-manifest s3://.../manifest.json \
    --engine athena --athena-database inventories --source-table acme_data --destination-table acme_data_dr \
    --athena-output s3://acme-athena-results/replaudit/

  # record MISSING and DIVERGED in the ledger, alert once, and list what to re-drive
  replaudit verify --source-manifest s3://.../manifest.json --destination-manifest s3://.../manifest.json \
    --record --stack replaudit --out redrive.csv

Exit 1 when any replica is MISSING or DIVERGED, 2 when the inventories cannot be compared
(different days or formats, no versions, not an inventory), 3 when the query could not finish.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		srcURI := fs.String("source-manifest", "", "the source bucket's inventory `s3://bucket/key/manifest.json` (required)")
		dstURI := fs.String("destination-manifest", "", "the destination bucket's inventory of the same day, of all versions: `s3://bucket/key/manifest.json` (required)")
		engine := fs.String("engine", "duckdb", "`duckdb` (embedded, reads the data files here) or athena")
		memory := fs.String("memory", "4GB", "with --engine duckdb: the most memory DuckDB may use (`SIZE` such as 2GB); it spills the rest to a temporary directory")
		workgroup := fs.String("athena-workgroup", "primary", "with --engine athena: the `workgroup` that runs the query")
		output := fs.String("athena-output", "", "with --engine athena: the query results' `s3://` location (default: the workgroup's)")
		database := fs.String("athena-database", "", "with --engine athena: the Glue `database` of the inventory tables")
		srcTable := fs.String("source-table", "", "with --engine athena: the Glue `table` over the source inventory's hive symlinks")
		dstTable := fs.String("destination-table", "", "with --engine athena: the Glue `table` over the destination inventory's hive symlinks")
		timeout := fs.Duration("athena-timeout", 30*time.Minute, "with --engine athena: how long to wait for the query before stopping it")
		record := fs.Bool("record", false, "record MISSING and DIVERGED in the ledger, and the run's summary (needs --stack, or --table)")
		topic := fs.String("alert", "", "send one digest alert to this SNS `topic ARN` when anything is MISSING or DIVERGED (default with --record and --stack: the stack's AlertTopicArn output)")
		out := fs.String("out", "", "write the versions to re-drive (bucket,key,versionId CSV, as S3 Batch Replication reads it) to `FILE`")
		format := fs.String("format", "table", "`table` (a summary), json (the summary), jsonl or csv (every problem, one a line)")
		settle := fs.Duration("settle", 6*time.Hour, "judge only versions written this long before the other inventory began")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			srcBucket, srcKey, err := parseVerifyURI("--source-manifest", *srcURI)
			if err != nil {
				return err
			}
			dstBucket, dstKey, err := parseVerifyURI("--destination-manifest", *dstURI)
			if err != nil {
				return err
			}
			switch *format {
			case "table", "json", "jsonl", "csv":
			default:
				return usageErrorf("--format %q: want table, json, jsonl or csv", *format)
			}
			if *settle < 0 {
				return usageErrorf("--settle must not be negative")
			}
			switch *engine {
			case "duckdb":
			case "athena":
				if *database == "" || *srcTable == "" || *dstTable == "" {
					return usageErrorf("--engine athena needs --athena-database, --source-table and --destination-table")
				}
				if *timeout <= 0 {
					return usageErrorf("--athena-timeout must be positive")
				}
			default:
				return usageErrorf("--engine %q: want duckdb or athena", *engine)
			}
			cfg, err := lf.config(ctx)
			if err != nil {
				return err
			}
			if lf.stack != "" && (*record || *topic == "") {
				if lf.outputs, err = lf.stackOutputs(ctx, cfg); err != nil {
					return err
				}
				lf.table = lf.outputs["LedgerTableName"]
				if *record && *topic == "" {
					*topic = lf.outputs["AlertTopicArn"]
				}
			}
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			regions := bucketregion.New(bucketregion.Clients(cfg)(cfg.Region))
			inventoryS3 := func(flagName, uri, bucket string) (*s3.Client, error) {
				region, err := regions.Region(ctx, bucket)
				switch {
				case errors.Is(err, bucketregion.ErrNoSuchBucket):
					return nil, usageErrorf("%s %s: the bucket %s does not exist", flagName, uri, bucket)
				case err != nil:
					return nil, fmt.Errorf("locate %s: %w", bucket, err)
				}
				return s3.NewFromConfig(cfg, reconcile.QuietChecksums, func(o *s3.Options) { o.Region = region }), nil
			}
			load := func(flagName, uri, bucket, key string) (verify.Inventory, error) {
				c, err := inventoryS3(flagName, uri, bucket)
				if err != nil {
					return verify.Inventory{}, err
				}
				inv, err := verify.Load(ctx, c, bucket, key)
				if errors.Is(err, verify.ErrBadInput) {
					return inv, &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", flagName, err)}
				}
				return inv, err
			}
			src, err := load("--source-manifest", *srcURI, srcBucket, srcKey)
			if err != nil {
				return err
			}
			dst, err := load("--destination-manifest", *dstURI, dstBucket, dstKey)
			if err != nil {
				return err
			}
			if _, err := verify.Compatible(src, dst); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			o := verify.Options{EngineName: *engine, Settle: *settle, Log: log}
			if *settle == 0 {
				o.Settle = time.Nanosecond
			}
			var bar *progressbar.ProgressBar
			switch *engine {
			case "duckdb":
				var bytes int64
				for _, inv := range []verify.Inventory{src, dst} {
					for _, f := range inv.Manifest.Files {
						bytes += f.Size
					}
				}
				var progress func(int64)
				if f, ok := stderr.(*os.File); ok && isTerminal(f) {
					bar = progressbar.NewOptions64(bytes, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
						progressbar.OptionSetDescription(fmt.Sprintf("%d files", len(src.Manifest.Files)+len(dst.Manifest.Files))),
						progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
					progress = func(n int64) { _ = bar.Add64(n) }
				}
				e, closeEngine, err := newDuckEngine(*memory, progress)
				if err != nil {
					return err
				}
				defer closeEngine()
				o.Engine = e
			case "athena":
				e, err := verifyathena.New(athena.NewFromConfig(cfg), verifyathena.Options{Workgroup: *workgroup, Output: *output, Database: *database,
					SourceTable: *srcTable, DestinationTable: *dstTable, Timeout: *timeout})
				if err != nil {
					return err
				}
				o.Engine = e
			}
			if *record {
				if lf.table == "" {
					return usageErrorf("--record needs the ledger: pass --stack, or --table")
				}
				db := dynamodb.NewFromConfig(cfg)
				if o.Ledger, err = ledger.New(ledger.Options{DB: db, Table: lf.table, Retention: 400 * 24 * time.Hour}); err != nil {
					return err
				}
				o.Summaries, o.Table = db, lf.table
			}
			if *topic != "" {
				if o.Publisher, err = alert.NewSNS(sns.NewFromConfig(cfg), *topic); err != nil {
					return err
				}
			}
			if *out != "" {
				o.Redrive = &reconcile.FileManifest{Path: *out}
			}
			var rows *csv.Writer
			switch *format {
			case "jsonl":
				enc := json.NewEncoder(stdout)
				o.Found = func(p verify.Problem) error { return enc.Encode(p) }
			case "csv":
				rows = csv.NewWriter(stdout)
				if err := rows.Write([]string{"outcome", "bucket", "key", "versionId", "size", "etag", "replicaSize", "replicaEtag", "status", "differences"}); err != nil {
					return err
				}
				o.Found = func(p verify.Problem) error {
					rep := ""
					if p.ReplicaSize != nil {
						rep = strconv.FormatInt(*p.ReplicaSize, 10)
					}
					return rows.Write([]string{string(p.Outcome), p.Bucket, s3events.EncodeKey(p.Key), p.VersionID, strconv.FormatInt(p.Size, 10), p.ETag,
						rep, p.ReplicaETag, p.Status, strings.Join(p.Differences, "; ")})
				}
			}
			v, err := verify.New(o)
			if err != nil {
				return err
			}
			s, err := v.Verify(ctx, src, dst)
			if bar != nil {
				_ = bar.Finish()
			}
			if rows != nil {
				rows.Flush()
			}
			if err != nil {
				if errors.Is(err, verify.ErrBadInput) {
					return &exitError{code: exitUsage, err: err}
				}
				return err
			}
			if *out != "" && s.RedriveManifest == "" {
				// Nothing to re-drive: FILE says so, rather than keep what
				// an earlier run listed.
				if err := os.WriteFile(*out, nil, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			switch *format {
			case "table":
				s.Write(stdout)
			case "json":
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(s); err != nil {
					return err
				}
			}
			if !s.Clean() {
				return errNotVerified
			}
			return nil
		}
	},
}

// parseVerifyURI splits a flag's s3://bucket/key/manifest.json.
func parseVerifyURI(flagName, s string) (bucket, key string, err error) {
	if s == "" {
		return "", "", usageErrorf("%s is required: the s3:// URI of an inventory's manifest.json", flagName)
	}
	bucket, key, err = parseManifestURI(s)
	if err != nil {
		return "", "", usageErrorf("%s %q is not s3://bucket/.../manifest.json", flagName, s)
	}
	return bucket, key, nil
}
