// Package plane assembles replaudit's audit plane on the sandbox as the
// stack deploys it: the events queue with its dead-letter queue, the
// ledger table, the alert topic, and the auditor and sweeper wired by the
// functions' own code (package env). The demo, the integration tests and
// the fault suite all run on it, so they exercise what is deployed.
package plane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sweep"
)

// Options describe a plane. Zero values take the stack's defaults.
type Options struct {
	// Region is the plane's (and the source buckets') region; us-east-1.
	Region string
	// Table, Topic and Queue name the ledger table, the alert topic and
	// the events queue.
	Table, Topic, Queue string
	// QueueDelay is the first check's delay (the stack's
	// FirstCheckDelaySeconds); VisibilityTimeout and MaxReceiveCount are
	// the queue's, before a message goes to the dead-letter queue.
	QueueDelay        time.Duration
	VisibilityTimeout time.Duration
	MaxReceiveCount   int
	// Config is the functions' configuration; Table and Topic are filled in.
	Config env.Config
	// Clock is the ledger's and the incidents' clock; time.Now by default.
	Clock func() time.Time
	// Log receives the functions' logs; Metrics their metric lines.
	Log     *slog.Logger
	Metrics io.Writer
}

// Plane is a running audit plane.
type Plane struct {
	env.Parts
	Sandbox *sandbox.Sandbox
	Options Options
	// Queue is the events queue's ARN, Topic the alert topic's.
	Queue, Topic string
	Handler      *auditor.Handler
	Sweeper      *sweep.Sweeper
	Config       aws.Config
	DB           *dynamodb.Client

	bucketsOnce sync.Once
	buckets     *Buckets
}

// Start creates the queue, the table and the topic on sb, and wires the
// auditor and the sweeper to them.
func Start(ctx context.Context, sb *sandbox.Sandbox, o Options) (*Plane, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Table == "" {
		o.Table = "replaudit-ledger"
	}
	if o.Topic == "" {
		o.Topic = "replaudit-alerts"
	}
	if o.Queue == "" {
		o.Queue = "replaudit-events"
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 5
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &o.Config
	defaults := env.Config{Retention: 400 * 24 * time.Hour, Concurrency: 8, StormLimit: 20, StormWindow: 5 * time.Minute,
		ConfigTTL: time.Minute, PendingThreshold: 30 * time.Minute, PerGiB: 4 * time.Minute, CallTimeout: 10 * time.Second}
	for _, f := range []struct{ v, d *time.Duration }{{&c.Retention, &defaults.Retention}, {&c.StormWindow, &defaults.StormWindow},
		{&c.ConfigTTL, &defaults.ConfigTTL}, {&c.PendingThreshold, &defaults.PendingThreshold}, {&c.PerGiB, &defaults.PerGiB}, {&c.CallTimeout, &defaults.CallTimeout}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaults.Concurrency
	}
	if c.StormLimit == 0 {
		c.StormLimit = defaults.StormLimit
	}
	cfg, err := sb.AWSConfig(ctx, o.Region)
	if err != nil {
		return nil, err
	}
	p := &Plane{Sandbox: sb, Options: o, Config: cfg, DB: dynamodb.NewFromConfig(cfg)}
	if p.Queue, err = sb.CreateQueue(sandbox.QueueOptions{Name: o.Queue, Region: o.Region, Delay: o.QueueDelay,
		VisibilityTimeout: o.VisibilityTimeout, MaxReceiveCount: o.MaxReceiveCount}); err != nil {
		return nil, err
	}
	if err := ledger.CreateTable(ctx, p.DB, o.Table); err != nil {
		return nil, err
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(o.Topic)})
	if err != nil {
		return nil, fmt.Errorf("create topic %s: %w", o.Topic, err)
	}
	p.Topic = aws.ToString(topic.TopicArn)
	c.Table, c.Topic = o.Table, p.Topic
	p.Options = o
	if p.Parts, err = env.Wire(cfg, *c, o.Log, o.Clock); err != nil {
		return nil, err
	}
	if p.Handler, err = auditor.New(auditor.Options{Checker: p.Checker, Tracker: p.Tracker, Concurrency: c.Concurrency, Log: o.Log, Metrics: o.Metrics, Clock: o.Clock}); err != nil {
		return nil, err
	}
	if p.Sweeper, err = sweep.New(sweep.Options{Checker: p.Checker, Ledger: p.Ledger, Tracker: p.Tracker, Concurrency: c.Concurrency, Log: o.Log, Metrics: o.Metrics}); err != nil {
		return nil, err
	}
	return p, nil
}

// Listen routes a source bucket's object and replication events to the
// plane's queue, as the setup function does for the stack's source.
func (p *Plane) Listen(ctx context.Context, bucket string) error {
	_, err := s3.NewFromConfig(p.Config).PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String(p.Queue), Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"}}}}})
	if err != nil {
		return fmt.Errorf("route the events of %s to %s: %w", bucket, p.Queue, err)
	}
	return nil
}

// Run attaches the auditor to the queue, as the stack's event source
// mapping does, delivering batches of batchSize.
func (p *Plane) Run(batchSize int) error {
	return p.Sandbox.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: p.Queue, Function: sandbox.HandlerFunc(p.Handler.Handle), BatchSize: batchSize})
}

// Attention returns every item in the attention index, due or not.
func (p *Plane) Attention(ctx context.Context) ([]ledger.Item, error) {
	var items []ledger.Item
	err := p.Ledger.Due(ctx, 0, time.Now().Add(100*365*24*time.Hour), func(it ledger.Item) error {
		items = append(items, it)
		return nil
	})
	return items, err
}
