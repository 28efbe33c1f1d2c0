package plane

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/setup"
)

// ReplicationRole is the role the plane's replication rules name, and the
// one Batch Replication jobs assume.
const ReplicationRole = "arn:aws:iam::000000000000:role/replication"

// InventoryOptions describe the reconciliation of a source.
type InventoryOptions struct {
	// Source is the bucket whose inventories are reconciled.
	Source string
	// Bucket is the inventory bucket, created in the plane's region;
	// replaudit-inventory by default.
	Bucket string
	// Format is CSV (default) or Parquet.
	Format string
	// Redrive is the stack's AutoRedrive: false, confirm or true.
	Redrive string
	// Detached leaves the queues without the reconciler attached: the
	// caller delivers their messages, to see each answer.
	Detached bool
}

// Inventory is a source's reconciliation, set up as the stack does.
type Inventory struct {
	Options InventoryOptions
	// Manifests and Files are the queues' ARNs: manifest.json
	// notifications, and the runs' file tasks.
	Manifests, Files string
	Reconciler       *reconcile.Reconciler
}

// InventoryPrefix is where in the inventory bucket S3 Inventory delivers,
// as the stack configures it.
const InventoryPrefix = "inventory"

// Reconcile sets up inventory reconciliation for a source as the stack
// does: the inventory bucket, notifying the manifests queue of each
// manifest.json; the source's inventory configuration, as the setup
// resource writes it; the files queue; and the reconciler, wired by the
// function's own code and attached to both queues.
func (p *Plane) Reconcile(ctx context.Context, o InventoryOptions) (*Inventory, error) {
	if o.Bucket == "" {
		o.Bucket = "replaudit-inventory"
	}
	if o.Format == "" {
		o.Format = "CSV"
	}
	if o.Redrive == "" {
		o.Redrive = reconcile.RedriveOff
	}
	inv := &Inventory{Options: o}
	var err error
	for _, q := range []struct {
		arn  *string
		name string
	}{{&inv.Manifests, o.Bucket + "-manifests"}, {&inv.Files, o.Bucket + "-files"}} {
		if *q.arn, err = p.Sandbox.CreateQueue(sandbox.QueueOptions{Name: q.name, Region: p.Options.Region,
			VisibilityTimeout: p.Options.VisibilityTimeout, MaxReceiveCount: p.Options.MaxReceiveCount}); err != nil {
			return nil, err
		}
	}
	c := p.Buckets().S3(p.Options.Region)
	in := &s3.CreateBucketInput{Bucket: aws.String(o.Bucket)}
	if p.Options.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(p.Options.Region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		return nil, fmt.Errorf("create inventory bucket %s: %w", o.Bucket, err)
	}
	if _, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(o.Bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String(inv.Manifests), Events: []types.Event{"s3:ObjectCreated:*"},
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
				{Name: types.FilterRuleNamePrefix, Value: aws.String(InventoryPrefix + "/")},
				{Name: types.FilterRuleNameSuffix, Value: aws.String("manifest.json")}}}}}}}}); err != nil {
		return nil, fmt.Errorf("notify the manifests of %s: %w", o.Bucket, err)
	}
	id := "replaudit-inventory"
	if _, err := c.PutBucketInventoryConfiguration(ctx, &s3.PutBucketInventoryConfigurationInput{Bucket: aws.String(o.Source), Id: aws.String(id),
		InventoryConfiguration: setup.InventoryConfiguration(id, setup.Inventory{Bucket: o.Bucket, Prefix: InventoryPrefix, Format: o.Format, Frequency: "Daily"}, "")}); err != nil {
		return nil, fmt.Errorf("configure the inventory of %s: %w", o.Source, err)
	}
	cfg := p.Options.Config
	cfg.FilesQueueURL = p.Sandbox.QueueURL(inv.Files)
	cfg.SourceBuckets = []string{o.Source}
	cfg.AutoRedrive = o.Redrive
	cfg.ReplicationRoleArn = ReplicationRole
	if inv.Reconciler, err = env.Reconciler(p.Config, cfg, p.Parts, p.Options.Log, p.Options.Clock, p.Options.Metrics); err != nil {
		return nil, err
	}
	for _, q := range []string{inv.Manifests, inv.Files} {
		if o.Detached {
			break
		}
		if err := p.Sandbox.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: q, Function: sandbox.HandlerFunc(inv.Reconciler.Handle), BatchSize: 1}); err != nil {
			return nil, err
		}
	}
	return inv, nil
}
