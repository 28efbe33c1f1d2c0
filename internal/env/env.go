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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/athena"
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
	"github.com/replaudit/replaudit/internal/setup"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
	"github.com/replaudit/replaudit/internal/verify/daily"
)

// Config is what the audit functions read from their environment. Each
// field is set by one variable of Audit or Reconciling.
type Config struct {
	Table            string
	Topic            string
	Retention        time.Duration
	Concurrency      int
	StormLimit       int
	StormWindow      time.Duration
	ConfigTTL        time.Duration
	PendingThreshold time.Duration
	PerGiB           time.Duration
	RuleIDs          []string
	CallTimeout      time.Duration

	// The inventory reconciler's (SourceBuckets also the setup function's).
	SourceBuckets      []string
	FilesQueueURL      string
	AutoRedrive        string
	ReplicationRoleArn string

	// The inventory reconciler's verification on Athena (VERIFY_*): off
	// while VerifyDestination is empty.
	InventoryBucket              string
	InventoryPrefix              string
	VerifyDestination            string
	VerifyDestinationInventory   string
	VerifySourceInventoryID      string
	VerifyDestinationInventoryID string
	AthenaWorkgroup              string
	AthenaDatabase               string
	AthenaSourceTable            string
	AthenaDestinationTable       string
	VerifySettle                 time.Duration

	// The setup function's.
	StackID string
}

// Var is one variable of a function's environment: its name, its default
// (empty when Required), what it means, and how it sets the Config. It is
// the one place each is declared; template.yaml's Environment.Variables are
// held against these lists by internal/stack's tests.
type Var struct {
	Name     string
	Required bool
	Default  string
	Doc      string
	set      func(c *Config, v string) error
}

// Audit is the environment of the auditor and the sweeper.
var Audit = []Var{
	{Name: "LEDGER_TABLE", Required: true, Doc: "the ledger's DynamoDB table", set: func(c *Config, v string) error { c.Table = v; return nil }},
	{Name: "ALERT_TOPIC_ARN", Required: true, Doc: "the SNS topic alerts go to", set: func(c *Config, v string) error { c.Topic = v; return nil }},
	{Name: "LEDGER_RETENTION_DAYS", Default: "400", Doc: "how long items are kept", set: days(func(c *Config) *time.Duration { return &c.Retention })},
	{Name: "PENDING_THRESHOLD_MINUTES", Default: "30", Doc: "how long PENDING may last before one warning", set: minutes(func(c *Config) *time.Duration { return &c.PendingThreshold })},
	{Name: "PENDING_ALLOWANCE_MINUTES_PER_GIB", Default: "4", Doc: "more time PENDING per GiB of the object", set: minutes(func(c *Config) *time.Duration { return &c.PerGiB })},
	{Name: "RULE_IDS", Doc: "comma-separated: audit only these rules; empty audits all", set: func(c *Config, v string) error { c.RuleIDs = list(v); return nil }},
	{Name: "STACK_ID", Doc: "the stack's id, from which the rules of its AdditionalSources are named", set: func(c *Config, v string) error { c.StackID = strings.TrimSpace(v); return nil }},
	{Name: "ADDITIONAL_SOURCES", Doc: "comma-separated SOURCE>DESTINATION[>PREFIX]: the stack's other sources, whose rules are audited too", set: func(c *Config, v string) error {
		entries := list(v)
		if len(entries) > 0 && c.StackID == "" {
			return errors.New("set, but STACK_ID is not: the rules of these sources are named from the stack's id")
		}
		for _, e := range entries {
			id, err := setup.EntryRuleID(c.StackID, e)
			if err != nil {
				return err
			}
			c.RuleIDs = append(c.RuleIDs, id)
		}
		return nil
	}},
	{Name: "CONCURRENCY", Default: "8", Doc: "objects checked at once by one invocation", set: whole(func(c *Config) *int { return &c.Concurrency })},
	{Name: "STORM_LIMIT", Default: "20", Doc: "alerts per bucket in a window before one digest instead", set: whole(func(c *Config) *int { return &c.StormLimit })},
	{Name: "STORM_WINDOW_MINUTES", Default: "5", Doc: "the storm window", set: minutes(func(c *Config) *time.Duration { return &c.StormWindow })},
	{Name: "REPLICATION_CONFIG_TTL_SECONDS", Default: "60", Doc: "how long a source's replication configuration is cached", set: seconds(func(c *Config) *time.Duration { return &c.ConfigTTL })},
	{Name: "CALL_TIMEOUT_SECONDS", Default: "10", Doc: "the most one AWS call, retries included, may take", set: seconds(func(c *Config) *time.Duration { return &c.CallTimeout })},
}

// Reconciling is the inventory reconciler's environment: Audit's, and its own.
var Reconciling = append(slices.Clip(Audit),
	Var{Name: "FILES_QUEUE_URL", Required: true, Doc: "where a run's file tasks go", set: func(c *Config, v string) error { c.FilesQueueURL = v; return nil }},
	Var{Name: "SOURCE_BUCKETS", Doc: "comma-separated: the buckets whose inventories are reconciled; empty accepts any", set: func(c *Config, v string) error { c.SourceBuckets = list(v); return nil }},
	Var{Name: "AUTO_REDRIVE", Default: "false", Doc: "false (print the command), confirm or true", set: func(c *Config, v string) error {
		switch c.AutoRedrive = strings.ToLower(strings.TrimSpace(v)); c.AutoRedrive {
		case "false", "confirm", "true":
			return nil
		}
		return errors.New("not false, confirm or true")
	}},
	Var{Name: "REPLICATION_ROLE_ARN", Doc: "the role S3 Batch Replication jobs assume; needed unless AUTO_REDRIVE is false", set: func(c *Config, v string) error { c.ReplicationRoleArn = v; return nil }},
	Var{Name: "INVENTORY_BUCKET", Doc: "the stack's inventory bucket, where the source's inventories land; needed with VERIFY_DESTINATION_BUCKET", set: func(c *Config, v string) error { c.InventoryBucket = v; return nil }},
	Var{Name: "INVENTORY_PREFIX", Default: "inventory", Doc: "the prefix both inventories land under, in their buckets", set: func(c *Config, v string) error { c.InventoryPrefix = strings.Trim(v, "/"); return nil }},
	Var{Name: "VERIFY_DESTINATION_BUCKET", Doc: "the destination bucket verified from inventories on Athena once both of a day landed; empty verifies nothing", set: func(c *Config, v string) error { c.VerifyDestination = v; return nil }},
	Var{Name: "VERIFY_DESTINATION_INVENTORY_BUCKET", Doc: "the bucket, in the destination's region, the destination's inventories land in", set: func(c *Config, v string) error { c.VerifyDestinationInventory = v; return nil }},
	Var{Name: "VERIFY_SOURCE_INVENTORY_ID", Doc: "the id of the source's inventory configuration (the setup's InventoryConfigurationId)", set: func(c *Config, v string) error { c.VerifySourceInventoryID = v; return nil }},
	Var{Name: "VERIFY_DESTINATION_INVENTORY_ID", Doc: "the id of the destination's inventory configuration (the setup's DestinationInventoryConfigurationId)", set: func(c *Config, v string) error { c.VerifyDestinationInventoryID = v; return nil }},
	Var{Name: "ATHENA_WORKGROUP", Default: "primary", Doc: "the Athena workgroup that runs the verification's query, and keeps its results", set: func(c *Config, v string) error { c.AthenaWorkgroup = v; return nil }},
	Var{Name: "ATHENA_DATABASE", Doc: "the Glue database of both inventories' tables", set: func(c *Config, v string) error { c.AthenaDatabase = v; return nil }},
	Var{Name: "ATHENA_SOURCE_TABLE", Doc: "the Glue table over the source inventory's hive symlinks, partitioned by dt", set: func(c *Config, v string) error { c.AthenaSourceTable = v; return nil }},
	Var{Name: "ATHENA_DESTINATION_TABLE", Doc: "the Glue table over the destination inventory's hive symlinks, partitioned by dt", set: func(c *Config, v string) error { c.AthenaDestinationTable = v; return nil }},
	Var{Name: "VERIFY_SETTLE_HOURS", Default: "6", Doc: "judge only versions written this long before the other inventory began", set: duration(time.Hour)(func(c *Config) *time.Duration { return &c.VerifySettle })},
)

// Setup is the environment of the Custom::S3Replication function. Nothing
// in it is required: a function that cannot start never answers, and
// CloudFormation would wait out the ServiceTimeout; without SOURCE_BUCKETS
// the function answers every Create and Update FAILED, naming it.
var Setup = []Var{
	{Name: "LEDGER_TABLE", Doc: "where configuration changes are recorded as evidence; empty records none", set: func(c *Config, v string) error { c.Table = v; return nil }},
	{Name: "LEDGER_RETENTION_DAYS", Default: "400", Doc: "how long that evidence is kept", set: days(func(c *Config) *time.Duration { return &c.Retention })},
	{Name: "SOURCE_BUCKETS", Doc: "comma-separated: the only source buckets the function may configure, each alone or as an AdditionalSources entry (SOURCE>DESTINATION[>PREFIX])", set: func(c *Config, v string) error {
		for _, e := range list(v) {
			source, _, _ := strings.Cut(e, ">")
			c.SourceBuckets = append(c.SourceBuckets, source)
		}
		return nil
	}},
	{Name: "STACK_ID", Doc: "the stack's id: requests of another stack are refused, and an old source is cleaned after a move", set: func(c *Config, v string) error { c.StackID = strings.TrimSpace(v); return nil }},
}

// LoadSetup reads the setup function's configuration.
func LoadSetup() (Config, error) { return read(Setup) }

// read sets a Config from the environment, through vars. Every problem is
// named in the error.
func read(vars []Var) (Config, error) {
	var c Config
	var errs []error
	for _, v := range vars {
		val := os.Getenv(v.Name)
		switch {
		case val == "" && v.Required:
			errs = append(errs, fmt.Errorf("%s is not set: %s", v.Name, v.Doc))
			continue
		case val == "":
			val = v.Default
		}
		if err := v.set(&c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is %w", v.Name, val, err))
		}
	}
	return c, errors.Join(errs...)
}

// Load reads the auditor's and the sweeper's configuration.
func Load() (Config, error) { return read(Audit) }

// LoadReconciler reads the inventory reconciler's configuration.
func LoadReconciler() (Config, error) {
	c, err := read(Reconciling)
	if err == nil && c.AutoRedrive != "false" && c.ReplicationRoleArn == "" {
		err = errors.New("REPLICATION_ROLE_ARN is not set, and AUTO_REDRIVE needs it")
	}
	if err == nil && c.VerifyDestination != "" {
		var missing []string
		for name, v := range map[string]string{"INVENTORY_BUCKET": c.InventoryBucket, "VERIFY_DESTINATION_INVENTORY_BUCKET": c.VerifyDestinationInventory,
			"VERIFY_SOURCE_INVENTORY_ID": c.VerifySourceInventoryID, "VERIFY_DESTINATION_INVENTORY_ID": c.VerifyDestinationInventoryID,
			"ATHENA_DATABASE": c.AthenaDatabase, "ATHENA_SOURCE_TABLE": c.AthenaSourceTable, "ATHENA_DESTINATION_TABLE": c.AthenaDestinationTable} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		switch {
		case len(missing) > 0:
			err = fmt.Errorf("VERIFY_DESTINATION_BUCKET is set, and needs %s too", strings.Join(missing, ", "))
		case len(c.SourceBuckets) != 1:
			err = fmt.Errorf("VERIFY_DESTINATION_BUCKET is set, and needs SOURCE_BUCKETS to name its one source, not %d", len(c.SourceBuckets))
		}
	}
	return c, err
}

func whole(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return errors.New("not a positive whole number")
		}
		*field(c) = n
		return nil
	}
}

func duration(unit time.Duration) func(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(field func(*Config) *time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			var n int
			if err := whole(func(*Config) *int { return &n })(c, v); err != nil {
				return err
			}
			*field(c) = time.Duration(n) * unit
			return nil
		}
	}
}

var (
	seconds = duration(time.Second)
	minutes = duration(time.Minute)
	days    = duration(24 * time.Hour)
)

// list splits a comma-separated value, dropping empty entries and spaces.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
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

// Verifier wires the verification of each day's inventories on Athena,
// or returns nil when the stack does not verify (VERIFY_DESTINATION_BUCKET
// empty): the source's inventory bucket in the function's region, the
// destination's found in its own, the findings in the ledger, one digest
// to the topic, the versions to re-drive beside the source's inventory.
func Verifier(base aws.Config, c Config, p Parts, log *slog.Logger, clock func() time.Time) (*daily.Verifier, error) {
	if c.VerifyDestination == "" {
		return nil, nil
	}
	cfg := limited(base, c)
	db := dynamodb.NewFromConfig(cfg)
	pub, err := alert.NewSNS(sns.NewFromConfig(cfg), c.Topic)
	if err != nil {
		return nil, err
	}
	srcS3 := s3.NewFromConfig(base, reconcile.QuietChecksums)
	regional := bucketregion.Clients(cfg)
	regions := bucketregion.New(regional(cfg.Region))
	dstS3 := func(ctx context.Context) (daily.S3, error) {
		region, err := regions.Region(ctx, c.VerifyDestinationInventory)
		if err != nil {
			return nil, fmt.Errorf("locate the destination's inventory bucket %s: %w", c.VerifyDestinationInventory, err)
		}
		return regional(region), nil
	}
	return daily.New(daily.Options{
		Source: daily.Location{Bucket: c.SourceBuckets[0], Inventory: c.InventoryBucket, Prefix: c.InventoryPrefix, ConfigID: c.VerifySourceInventoryID,
			S3: daily.Fixed(srcS3)},
		Destination: daily.Location{Bucket: c.VerifyDestination, Inventory: c.VerifyDestinationInventory, Prefix: c.InventoryPrefix,
			ConfigID: c.VerifyDestinationInventoryID, S3: dstS3},
		// Polls are calls of their own: each is limited, the wait is the
		// invocation's.
		Athena: athena.NewFromConfig(cfg),
		Engine: verifyathena.Options{Workgroup: c.AthenaWorkgroup, Database: c.AthenaDatabase, SourceTable: c.AthenaSourceTable,
			DestinationTable: c.AthenaDestinationTable},
		Verify: verify.Options{Ledger: p.Ledger, Publisher: pub, Redrive: reconcile.S3Manifests{S3: srcS3}, Settle: c.VerifySettle, Retention: c.Retention},
		States: db,
		Table:  c.Table,
		Log:    log,
		Clock:  clock,
	})
}
