package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/schollz/progressbar/v3"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/reconcile"
)

var reconcileCommand = command{
	name:    "reconcile",
	summary: "account for every object version an S3 Inventory lists: what is replicated, what never was, what failed",
	examples: `  # what the latest inventory says, and the versions to re-drive in a CSV
  replaudit reconcile --manifest s3://acme-inventory/inventory/acme-data/replaudit-1a2b3c/2026-11-29T01-00Z/manifest.json --out redrive.csv

  # start the S3 Batch Replication job for them (confirmed in the console, unless --start)
  replaudit reconcile --manifest s3://.../manifest.json --redrive --stack replaudit

  # also record the findings in the ledger, as the stack's reconciler does
  replaudit reconcile --manifest s3://.../manifest.json --record --stack replaudit

Exit 1 when any version in scope needs replicating, or a data file could not be read.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		var lf ledgerFlags
		lf.register(fs)
		manifest := fs.String("manifest", "", "the inventory's `s3://bucket/key/manifest.json` (required)")
		out := fs.String("out", "", "write the remediation manifest (bucket,key,versionId CSV, as Batch Operations reads it) to `FILE`")
		redrive := fs.Bool("redrive", false, "write the remediation manifest beside the inventory and create an S3 Batch Replication job for it")
		start := fs.Bool("start", false, "with --redrive: the job runs without waiting for confirmation")
		roleArn := fs.String("role-arn", "", "with --redrive: the role the job assumes (default: the stack's ReplicationRoleArn output)")
		record := fs.Bool("record", false, "record the findings in the ledger and send their alerts, as the stack's reconciler does (needs --stack, or --table and --topic)")
		topic := fs.String("topic", "", "with --record: the alert topic ARN (default: the stack's AlertTopicArn output)")
		workers := fs.Int("workers", 4, "data files read at once")
		ruleIDs := fs.String("rule-ids", "", "audit only these comma-separated rule IDs (default: the stack's, with --stack; else every rule)")
		threshold := fs.Duration("threshold", 30*time.Minute, "how long a version may stay PENDING (the stack's PendingThresholdMinutes), plus 4 minutes per GiB")
		asJSON := fs.Bool("json", false, "print the summary as JSON")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			bucket, key, err := parseManifestURI(*manifest)
			if err != nil {
				return err
			}
			if *workers < 1 || *threshold <= 0 {
				return usageErrorf("--workers and --threshold must be positive")
			}
			if *start && !*redrive {
				return usageErrorf("--start goes with --redrive")
			}
			cfg, err := lf.config(ctx)
			if err != nil {
				return err
			}
			var outputs map[string]string
			if lf.stack != "" {
				if outputs, err = lf.stackOutputs(ctx, cfg); err != nil {
					return err
				}
			}
			c := env.Config{Table: lf.table, Topic: *topic, Retention: 400 * 24 * time.Hour, Concurrency: 8, StormLimit: 20,
				StormWindow: 5 * time.Minute, ConfigTTL: time.Minute, PendingThreshold: *threshold, PerGiB: 4 * time.Minute, CallTimeout: time.Minute}
			if outputs != nil {
				c.Table = outputs["LedgerTableName"]
				c.Topic = cmp.Or(c.Topic, outputs["AlertTopicArn"])
				*roleArn = cmp.Or(*roleArn, outputs["ReplicationRoleArn"])
				if *ruleIDs == "" {
					*ruleIDs = outputs["ReplicationRuleIds"]
				}
			}
			if *ruleIDs != "" {
				c.RuleIDs = strings.Split(*ruleIDs, ",")
			}
			if *record && (c.Table == "" || c.Topic == "") {
				return usageErrorf("--record needs the ledger and the alert topic: pass --stack, or --table and --topic")
			}
			if *redrive && *roleArn == "" {
				return usageErrorf("--redrive needs the replication role: pass --stack, or --role-arn")
			}
			log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			// Reading needs the checker alone; recording, the ledger and
			// the topic too.
			checker, err := env.Checker(cfg, c)
			if err != nil {
				return err
			}
			regional := bucketregion.Clients(cfg)
			region, err := bucketregion.New(regional(cfg.Region)).Region(ctx, bucket)
			switch {
			case errors.Is(err, bucketregion.ErrNoSuchBucket):
				return usageErrorf("--manifest %s: the bucket %s does not exist", *manifest, bucket)
			case err != nil:
				return fmt.Errorf("locate %s: %w", bucket, err)
			}
			invS3 := s3.NewFromConfig(cfg, reconcile.QuietChecksums, func(o *s3.Options) { o.Region = region })
			o := reconcile.Options{
				S3: invS3, Checker: checker, Allowance: incident.Policy{Threshold: c.PendingThreshold, PerGiB: c.PerGiB}.Allowance, Log: log,
				Manifests: reconcile.NoManifest{},
			}
			if *record {
				parts, err := env.Wire(cfg, c, log, nil)
				if err != nil {
					return err
				}
				pub, err := alert.NewSNS(sns.NewFromConfig(cfg), c.Topic)
				if err != nil {
					return err
				}
				o.Checker, o.Tracker, o.Ledger, o.Publisher = parts.Checker, parts.Tracker, parts.Ledger, pub
			}
			switch {
			case *redrive:
				o.Manifests = reconcile.S3Manifests{S3: invS3}
				o.Jobs = s3control.NewFromConfig(cfg, func(o *s3control.Options) { o.Region = region })
				mode := reconcile.RedriveConfirm
				if *start {
					mode = reconcile.RedriveRun
				}
				o.Redrive = reconcile.Redrive{Mode: mode, RoleArn: *roleArn}
			case *out != "":
				o.Manifests = &reconcile.FileManifest{Path: *out}
			}
			var bar *progressbar.ProgressBar
			started := func(files int, bytes int64) {
				if f, ok := stderr.(*os.File); ok && isTerminal(f) {
					bar = progressbar.NewOptions64(bytes, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
						progressbar.OptionSetDescription(fmt.Sprintf("%d files", files)), progressbar.OptionThrottle(200*time.Millisecond),
						progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
				}
			}
			o.Progress = func(n int64) {
				if bar != nil {
					_ = bar.Add64(n)
				}
			}
			r, err := reconcile.New(o)
			if err != nil {
				return err
			}
			s, err := r.Local(ctx, bucket, key, *workers, started)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				if errors.Is(err, reconcile.ErrBadManifest) {
					return &exitError{code: exitUsage, err: err}
				}
				return err
			}
			if *redrive && *out != "" && s.RemediationManifest != "" {
				if err := download(ctx, invS3, s.RemediationManifest, *out); err != nil {
					return err
				}
			}
			if *out != "" && s.RemediationManifest == "" {
				// Nothing to re-drive: FILE says so, rather than keep what
				// an earlier run listed.
				if err := os.WriteFile(*out, nil, 0o644); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			if *asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(s); err != nil {
					return err
				}
			} else {
				s.Write(stdout)
			}
			if s.State != reconcile.Clean {
				return errNeedsReplication
			}
			return nil
		}
	},
}

// parseManifestURI splits s3://bucket/key/manifest.json.
func parseManifestURI(s string) (bucket, key string, err error) {
	if s == "" {
		return "", "", usageErrorf("--manifest is required: the s3:// URI of an inventory's manifest.json")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || !strings.HasSuffix(u.Path, "/manifest.json") {
		return "", "", usageErrorf("--manifest %q is not s3://bucket/.../manifest.json", s)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// download copies an s3:// object to a local file.
func download(ctx context.Context, c *s3.Client, uri, path string) error {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("read %s: %w", uri, err)
	}
	defer obj.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := io.Copy(f, obj.Body); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	return f.Close()
}
