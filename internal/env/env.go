// Package env reads the audit functions' configuration from their
// environment, once, into a typed struct with defaults, and wires the
// clients and parts both functions use.
package env

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
)

// Config is what the auditor and the sweeper read from their environment.
type Config struct {
	Table            string        // LEDGER_TABLE, required
	Topic            string        // ALERT_TOPIC_ARN, required
	Retention        time.Duration // LEDGER_RETENTION_DAYS, default 400
	Concurrency      int           // CONCURRENCY, default 8
	StormLimit       int           // STORM_LIMIT, default 20
	StormWindow      time.Duration // STORM_WINDOW_MINUTES, default 5
	ConfigTTL        time.Duration // REPLICATION_CONFIG_TTL_SECONDS, default 60
	PendingThreshold time.Duration // PENDING_THRESHOLD_MINUTES, default 30
	PerGiB           time.Duration // PENDING_ALLOWANCE_MINUTES_PER_GIB, default 4
	RuleIDs          []string      // RULE_IDS, comma-separated: audit only these rules; empty audits all
	CallTimeout      time.Duration // CALL_TIMEOUT_SECONDS, default 10: the most one AWS call (with its retries) may take

	// The inventory reconciler's.
	SourceBuckets      []string // SOURCE_BUCKETS, comma-separated: the buckets whose inventories are reconciled
	FilesQueueURL      string   // FILES_QUEUE_URL: where a run's file tasks go
	AutoRedrive        string   // AUTO_REDRIVE: false (print the command), confirm or true
	ReplicationRoleArn string   // REPLICATION_ROLE_ARN: the role S3 Batch Replication jobs assume
}

// LoadReconciler reads the configuration of the inventory reconciler: the
// audit functions' and its own.
func LoadReconciler() (Config, error) {
	c, err := Load()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if c.FilesQueueURL = os.Getenv("FILES_QUEUE_URL"); c.FilesQueueURL == "" {
		errs = append(errs, errors.New("FILES_QUEUE_URL is not set"))
	}
	if ids := os.Getenv("SOURCE_BUCKETS"); ids != "" {
		for _, b := range strings.Split(ids, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.SourceBuckets = append(c.SourceBuckets, b)
			}
		}
	}
	switch c.AutoRedrive = strings.ToLower(strings.TrimSpace(os.Getenv("AUTO_REDRIVE"))); c.AutoRedrive {
	case "":
		c.AutoRedrive = "false"
	case "false", "confirm", "true":
	default:
		errs = append(errs, fmt.Errorf("AUTO_REDRIVE=%q is not false, confirm or true", c.AutoRedrive))
	}
	c.ReplicationRoleArn = os.Getenv("REPLICATION_ROLE_ARN")
	if c.AutoRedrive != "false" && c.ReplicationRoleArn == "" {
		errs = append(errs, errors.New("REPLICATION_ROLE_ARN is not set, and AUTO_REDRIVE needs it"))
	}
	return c, errors.Join(errs...)
}

// Load reads the configuration. Every problem is named in the error.
func Load() (Config, error) {
	var errs []error
	str := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
		return v
	}
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a positive whole number", name, v))
			return def
		}
		return n
	}
	c := Config{
		Table:            str("LEDGER_TABLE"),
		Topic:            str("ALERT_TOPIC_ARN"),
		Retention:        time.Duration(num("LEDGER_RETENTION_DAYS", 400)) * 24 * time.Hour,
		Concurrency:      num("CONCURRENCY", 8),
		StormLimit:       num("STORM_LIMIT", 20),
		StormWindow:      time.Duration(num("STORM_WINDOW_MINUTES", 5)) * time.Minute,
		ConfigTTL:        time.Duration(num("REPLICATION_CONFIG_TTL_SECONDS", 60)) * time.Second,
		PendingThreshold: time.Duration(num("PENDING_THRESHOLD_MINUTES", 30)) * time.Minute,
		PerGiB:           time.Duration(num("PENDING_ALLOWANCE_MINUTES_PER_GIB", 4)) * time.Minute,
		CallTimeout:      time.Duration(num("CALL_TIMEOUT_SECONDS", 10)) * time.Second,
	}
	if ids := os.Getenv("RULE_IDS"); ids != "" {
		c.RuleIDs = strings.Split(ids, ",")
	}
	return c, errors.Join(errs...)
}

// Parts are what both functions are built from.
type Parts struct {
	Checker *audit.Checker
	Ledger  *ledger.Ledger
	Tracker *incident.Tracker
}

// Boot loads the configuration and the AWS SDK's, and wires the parts: all
// a function's main needs before lambda.Start.
func Boot(ctx context.Context, log *slog.Logger) (Config, Parts, error) {
	c, err := Load()
	if err != nil {
		return c, Parts{}, fmt.Errorf("configuration: %w", err)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return c, Parts{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	p, err := Wire(cfg, c, log, nil)
	return c, p, err
}

// callReserve is the time kept back from each call for recording what is
// known and answering before the deadline.
const callReserve = 2 * time.Second

// Wire builds the parts on one AWS configuration: an S3 client per region,
// DynamoDB and SNS in the function's own region, every call limited by the
// invocation's remaining time.
// A nil clock is time.Now.
func Wire(cfg aws.Config, c Config, log *slog.Logger, clock func() time.Time) (Parts, error) {
	cfg = limited(cfg, c)
	checker, err := newChecker(cfg, c)
	if err != nil {
		return Parts{}, err
	}
	db := dynamodb.NewFromConfig(cfg)
	l, err := ledger.New(ledger.Options{DB: db, Table: c.Table, Retention: c.Retention, Clock: clock})
	if err != nil {
		return Parts{}, err
	}
	pub, err := alert.NewSNS(sns.NewFromConfig(cfg), c.Topic)
	if err != nil {
		return Parts{}, err
	}
	t, err := incident.New(incident.Options{Ledger: l, Windows: db, Publisher: pub, StormLimit: c.StormLimit, StormWindow: c.StormWindow,
		Policy: incident.Policy{Threshold: c.PendingThreshold, PerGiB: c.PerGiB}, Log: log})
	if err != nil {
		return Parts{}, err
	}
	return Parts{Checker: checker, Ledger: l, Tracker: t}, nil
}

// Checker builds the checker alone, for a caller that reads S3 and records
// nothing: it needs neither the ledger nor the topic.
func Checker(cfg aws.Config, c Config) (*audit.Checker, error) {
	return newChecker(limited(cfg, c), c)
}

// limited is cfg with every call limited by the invocation's remaining time.
func limited(cfg aws.Config, c Config) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, awscall.Timeout(c.CallTimeout, callReserve))
	return cfg
}

// newChecker reads S3 through a client per region. It keeps real time: it
// stamps when replicas are seen, and a lag is real time since the version
// was written.
func newChecker(cfg aws.Config, c Config) (*audit.Checker, error) {
	regional := bucketregion.Clients(cfg)
	return audit.New(audit.Options{Clients: func(r string) audit.S3 { return regional(r) }, Regions: bucketregion.New(regional(cfg.Region)),
		ConfigTTL: c.ConfigTTL, RuleIDs: c.RuleIDs, Concurrency: c.Concurrency})
}

// Reconciler wires the inventory reconciler on the parts: the inventory
// bucket (in the function's region) read and written through S3, file
// tasks through SQS, re-drives through S3 Batch Operations.
func Reconciler(base aws.Config, c Config, p Parts, log *slog.Logger, clock func() time.Time, metrics io.Writer) (*reconcile.Reconciler, error) {
	cfg := base.Copy()
	cfg.APIOptions = append(cfg.APIOptions, awscall.Timeout(c.CallTimeout, callReserve))
	db := dynamodb.NewFromConfig(cfg)
	pub, err := alert.NewSNS(sns.NewFromConfig(cfg), c.Topic)
	if err != nil {
		return nil, err
	}
	sources := map[string]bool{}
	for _, b := range c.SourceBuckets {
		sources[b] = true
	}
	return reconcile.New(reconcile.Options{
		// An inventory file is read whole, however long it takes: no
		// call timeout, but the invocation's.
		S3:          s3.NewFromConfig(base, reconcile.QuietChecksums),
		Checker:     p.Checker,
		Tracker:     p.Tracker,
		Ledger:      p.Ledger,
		Runs:        db,
		Dispatch:    reconcile.Queue{Client: sqs.NewFromConfig(cfg), URL: c.FilesQueueURL},
		Jobs:        s3control.NewFromConfig(cfg),
		Redrive:     reconcile.Redrive{Mode: c.AutoRedrive, RoleArn: c.ReplicationRoleArn},
		Publisher:   pub,
		Sources:     func(b string) bool { return len(sources) == 0 || sources[b] },
		Allowance:   p.Tracker.Policy().Allowance,
		Concurrency: c.Concurrency,
		Retention:   c.Retention,
		Log:         log,
		Metrics:     metrics,
		Clock:       clock,
	})
}
