package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
)

var demoCommand = command{
	name:    "demo",
	summary: "show replication working, and failing, on the local sandbox",
	examples: `  replaudit demo                 # the whole story, in a few seconds
  replaudit demo --dynamodb=false  # without starting dynalite
`,
	flags: func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		dynamo := fs.Bool("dynamodb", true, "start dynalite too, as the full sandbox does")
		return func(ctx context.Context, stdout, _ io.Writer) error {
			return runDemo(ctx, stdout, *dynamo)
		}
	},
}

const (
	demoSource      = "acme-data-use1"
	demoDestination = "acme-data-aps1"
	demoSrcRegion   = "us-east-1"
	demoDstRegion   = "ap-south-1"
)

// demo tells the story step by step on a sandbox of its own.
type demo struct {
	out      io.Writer
	sb       *sandbox.Sandbox
	src, dst *s3.Client
	queue    string
	step     int
	began    time.Time
}

func (d *demo) title(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "   "+format+"\n", a...)
}

func runDemo(ctx context.Context, out io.Writer, dynamo bool) error {
	d := &demo{out: out, began: time.Now()}
	fmt.Fprintln(out, "replaudit demo: cross-region replication on the local sandbox, no AWS account needed.")

	d.title("Start the sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: dynamo, ReplicationDelay: 700 * time.Millisecond})
	if errors.Is(err, sandbox.ErrNoDynalite) {
		return fmt.Errorf("%w (or run `replaudit demo --dynamodb=false`)", err)
	}
	if err != nil {
		return fmt.Errorf("start sandbox: %w", err)
	}
	defer sb.Close()
	d.sb = sb
	d.say("S3, SNS and DynamoDB answer at %s; the control API at %s.", sb.Endpoint(), sb.ControlURL())
	if !dynamo {
		d.say("(DynamoDB is off for this run.)")
	}
	if d.src, err = client(ctx, sb, demoSrcRegion); err != nil {
		return err
	}
	if d.dst, err = client(ctx, sb, demoDstRegion); err != nil {
		return err
	}
	steps := []func(context.Context) error{d.buckets, d.rule, d.uploads, d.failure, d.notifications}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.title("Stop")
	d.say("Done in %.1fs. The sandbox and everything in it are gone.", time.Since(d.began).Seconds())
	return nil
}

func client(ctx context.Context, sb *sandbox.Sandbox, region string) (*s3.Client, error) {
	cfg, err := sb.AWSConfig(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("aws config for %s: %w", region, err)
	}
	return s3.NewFromConfig(cfg), nil
}

func (d *demo) buckets(ctx context.Context) error {
	d.title("Create two versioned buckets, an ocean apart")
	for _, b := range []struct {
		c      *s3.Client
		name   string
		region string
	}{{d.src, demoSource, demoSrcRegion}, {d.dst, demoDestination, demoDstRegion}} {
		in := &s3.CreateBucketInput{Bucket: aws.String(b.name)}
		if b.region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(b.region)}
		}
		if _, err := b.c.CreateBucket(ctx, in); err != nil {
			return fmt.Errorf("create bucket %s: %w", b.name, err)
		}
		if _, err := b.c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(b.name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			return fmt.Errorf("enable versioning on %s: %w", b.name, err)
		}
		d.say("%-16s in %-10s  versioning Enabled", b.name, b.region)
	}
	arn, err := d.sb.CreateQueue(sandbox.QueueOptions{Name: "replaudit-events", MaxReceiveCount: 5})
	if err != nil {
		return err
	}
	d.queue = arn
	_, err = d.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(demoSource),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("replaudit"), QueueArn: aws.String(arn),
			Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"},
		}}},
	})
	if err != nil {
		return fmt.Errorf("put notification configuration: %w", err)
	}
	d.say("%s sends its object and replication events to the queue %s.", demoSource, arn)
	return nil
}

func (d *demo) rule(ctx context.Context) error {
	d.title("Turn replication on")
	_, err := d.src.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{
		Bucket: aws.String(demoSource),
		ReplicationConfiguration: &types.ReplicationConfiguration{
			Role: aws.String("arn:aws:iam::000000000000:role/replaudit-replication"),
			Rules: []types.ReplicationRule{{
				ID: aws.String("replaudit-everything"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
				Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
				Destination: &types.Destination{
					Bucket:  aws.String(replication.BucketARN(demoDestination)),
					Metrics: &types.Metrics{Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}},
				},
			}},
		},
	})
	if err != nil {
		return fmt.Errorf("put bucket replication: %w", err)
	}
	d.say("Rule replaudit-everything: every key in %s -> %s, delete markers too,", demoSource, demoDestination)
	d.say("with replication metrics on, so failures raise events.")
	return nil
}

var demoKeys = []string{
	"reports/2026/Q3 summary.pdf",
	"photos/été/plage à midi.jpg",
	"data/売上_2026.csv",
}

type uploaded struct {
	key, version string
	at           time.Time
}

func (d *demo) put(ctx context.Context, key string) (uploaded, error) {
	out, err := d.src.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(demoSource), Key: aws.String(key),
		Body: strings.NewReader("contents of " + key),
	})
	if err != nil {
		return uploaded{}, fmt.Errorf("put %s: %w", key, err)
	}
	return uploaded{key: key, version: aws.ToString(out.VersionId), at: time.Now()}, nil
}

func (d *demo) status(ctx context.Context, u uploaded) (string, error) {
	out, err := d.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(demoSource), Key: aws.String(u.key), VersionId: aws.String(u.version)})
	if err != nil {
		return "", fmt.Errorf("head %s: %w", u.key, err)
	}
	return string(out.ReplicationStatus), nil
}

// settle polls the source until the version leaves PENDING, and says how
// long after the upload that was seen.
func (d *demo) settle(ctx context.Context, u uploaded) (string, time.Duration, error) {
	for {
		st, err := d.status(ctx, u)
		if err != nil || st != replication.StatusPending {
			return st, time.Since(u.at), err
		}
		if time.Since(u.at) > 30*time.Second {
			return st, time.Since(u.at), fmt.Errorf("%s is still PENDING after 30s", u.key)
		}
		select {
		case <-ctx.Done():
			return st, time.Since(u.at), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) uploads(ctx context.Context) error {
	d.title("Upload objects, keys with spaces and unicode among them")
	var ups []uploaded
	for _, k := range demoKeys {
		u, err := d.put(ctx, k)
		if err != nil {
			return err
		}
		st, err := d.status(ctx, u)
		if err != nil {
			return err
		}
		d.say("%-30s version %s  status %s", k, short(u.version), st)
		ups = append(ups, u)
	}

	d.title("Watch them replicate (HEAD on the source, then on the replica in %s)", demoDstRegion)
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   key\tsource\tseen after\treplica\treplica version")
	for _, u := range ups {
		st, took, err := d.settle(ctx, u)
		if err != nil {
			return err
		}
		rep, err := d.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(demoDestination), Key: aws.String(u.key), VersionId: aws.String(u.version)})
		if err != nil {
			return fmt.Errorf("head replica of %s: %w", u.key, err)
		}
		same := "same"
		if aws.ToString(rep.VersionId) != u.version {
			same = "DIFFERENT: " + aws.ToString(rep.VersionId)
		}
		fmt.Fprintf(tw, "   %s\tPENDING -> %s\t%.1fs\t%s\t%s\n", u.key, st, took.Seconds(), rep.ReplicationStatus, same)
	}
	return tw.Flush()
}

func (d *demo) failure(ctx context.Context) error {
	d.title("Break replication: deny writes to %s", demoDestination)
	if err := d.sb.InjectFault(sandbox.Fault{Bucket: demoDestination, Kind: sandbox.FaultDeny}); err != nil {
		return err
	}
	d.say("Fault injected: S3 may no longer put objects into %s (DstPutObjectNotPermitted).", demoDestination)
	u, err := d.put(ctx, "reports/2026/Q4 draft.pdf")
	if err != nil {
		return err
	}
	st, took, err := d.settle(ctx, u)
	if err != nil {
		return err
	}
	d.say("%-30s version %s  PENDING -> %s after %.1fs", u.key, short(u.version), st, took.Seconds())
	_, err = d.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(demoDestination), Key: aws.String(u.key), VersionId: aws.String(u.version)})
	var nf *types.NotFound
	if errors.As(err, &nf) {
		d.say("No replica in %s: this is what replaudit's auditor will alert on.", demoDestination)
	}
	d.sb.ClearFaults("")
	return nil
}

func (d *demo) notifications(_ context.Context) error {
	d.title("The notifications S3 delivered to the queue")
	// Failure events arrive just after the status turns FAILED.
	time.Sleep(100 * time.Millisecond)
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   event\tkey\tversion\tdetail")
	for _, m := range d.sb.QueueMessages(d.queue) {
		var ev events.S3Event
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil || len(ev.Records) == 0 {
			var test events.S3TestEvent
			if json.Unmarshal([]byte(m.Body), &test) == nil && test.Event != "" {
				fmt.Fprintf(tw, "   %s\t\t\tsent when the configuration was saved\n", test.Event)
			}
			continue
		}
		r := ev.Records[0]
		detail := fmt.Sprintf("%d bytes", r.S3.Object.Size)
		if rd := r.ReplicationEventData; rd != nil {
			detail = "failureReason " + rd.FailureReason
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", r.EventName, r.S3.Object.URLDecodedKey, short(r.S3.Object.VersionID), detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	d.say("Keys arrive URL-encoded (%q); aws-lambda-go decodes them.", s3events.EncodeKey(demoKeys[0]))
	var s3calls int
	for _, c := range d.sb.Calls() {
		if c.Service == "s3" {
			s3calls += c.Count
		}
	}
	d.say("%d S3 API calls in all; `GET %s/calls` breaks them down.", s3calls, d.sb.ControlURL())
	return nil
}

func short(version string) string {
	if len(version) > 8 {
		return version[:8] + "…"
	}
	return version
}
