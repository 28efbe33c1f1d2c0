package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/safetext"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/setup"
)

const (
	demoSource      = "acme-data-use1"
	demoDestination = "acme-data-aps1"
	demoSrcRegion   = "us-east-1"
	demoDstRegion   = "ap-south-1"
	demoRole        = "arn:aws:iam::000000000000:role/replaudit-replication"
	demoStackID     = "arn:aws:cloudformation:us-east-1:000000000000:stack/" + StackName + "/00000000-0000-4000-8000-000000000000"
)

// demo tells the story step by step on a sandbox of its own.
type demo struct {
	out      io.Writer
	opts     Options
	sb       *sandbox.Sandbox
	src, dst *s3.Client
	queue    string
	cr       *customResource
	before   string
	created  map[string]any // the Create response's Data
	audit    *auditParts
	step     int
	began    time.Time
}

func (d *demo) title(format string, a ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, a...))
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.out, "   %s\n", safetext.Line(fmt.Sprintf(format, a...)))
}

// Options change how the story ends.
type Options struct {
	// Status writes what `replaudit status` shows of one object's items;
	// the ledger's step shows it for the version that failed. Nil skips it.
	Status func(w io.Writer, bucket, key string, items []ledger.Item)
	// Keep, when not nil, keeps everything after the story instead of
	// deleting the stack and stopping the sandbox: the stack StackName is
	// declared, the auditor keeps checking, and Keep runs with the sandbox,
	// which stops when Keep returns.
	Keep func(ctx context.Context, sb *sandbox.Sandbox) error
}

// StackName is the stack a kept demo declares, for the CLI's --stack.
const StackName = "replaudit-demo"

// Run tells the story on a sandbox of its own, writing it to out.
func Run(ctx context.Context, out io.Writer, o Options) error {
	d := &demo{out: out, opts: o, began: time.Now()}
	fmt.Fprintln(out, "replaudit demo: cross-region replication on the local sandbox, no AWS account needed.")

	d.title("Start the sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 700 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("start sandbox: %w", err)
	}
	defer sb.Close()
	d.sb = sb
	d.say("S3, SNS and DynamoDB answer at %s; the control API at %s.", sb.Endpoint(), sb.ControlURL())
	if d.src, err = client(ctx, sb, demoSrcRegion); err != nil {
		return err
	}
	if d.dst, err = client(ctx, sb, demoDstRegion); err != nil {
		return err
	}
	cr, stop, err := newCustomResource(ctx, sb)
	if err != nil {
		return err
	}
	defer stop()
	d.cr = cr
	steps := []func(context.Context) error{d.buckets, d.auditorUp, d.rule, d.uploads, d.failure, d.outage, d.inventory, d.summary}
	if o.Keep == nil {
		steps = append(steps, d.teardown)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if o.Keep != nil {
		return d.keep(ctx)
	}
	d.title("Stop")
	d.say("Done in %.1fs. The sandbox and everything in it are gone.", time.Since(d.began).Seconds())
	return nil
}

// keep declares the stack, as deployed, and hands the sandbox to Keep.
func (d *demo) keep(ctx context.Context) error {
	d.title("Keep the sandbox running, with the stack %s", StackName)
	DeclareStack(d.sb, StackName, d.audit.plane, d.created)
	d.say("Done in %.1fs. The stack stays: its ledger, alert topic, auditor and sweeper,", time.Since(d.began).Seconds())
	d.say("and both buckets, until Ctrl-C. replaudit's clock still runs %dx faster.", demoSpeed)
	return d.opts.Keep(ctx, d.sb)
}

func client(ctx context.Context, sb *sandbox.Sandbox, region string) (*s3.Client, error) {
	cfg, err := sb.AWSConfig(ctx, region)
	if err != nil {
		return nil, fmt.Errorf("aws config for %s: %w", region, err)
	}
	return s3.NewFromConfig(cfg), nil
}

func (d *demo) buckets(ctx context.Context) error {
	d.title("Two existing buckets, an ocean apart, neither versioned")
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
		d.say("%-16s in %s", b.name, b.region)
	}
	// A notification another team set up, which replaudit must leave alone.
	_, err := d.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(demoSource),
		NotificationConfiguration: &types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{{
			Id: aws.String("restores-team"), TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:restores"),
			Events: []types.Event{"s3:ObjectRestore:*"},
		}}},
	})
	if err != nil {
		return fmt.Errorf("put notification configuration: %w", err)
	}
	d.say("%s already notifies another team's topic of restores (entry restores-team).", demoSource)
	if d.before, err = d.snapshot(ctx); err != nil {
		return err
	}
	arn, err := d.sb.CreateQueue(sandbox.QueueOptions{Name: "replaudit-events", MaxReceiveCount: 5})
	if err != nil {
		return err
	}
	d.queue = arn
	return nil
}

// customResource sends CloudFormation requests to the setup function, as
// Lambda would, and captures its answers on a local stand-in for the
// presigned ResponseURL.
type customResource struct {
	setup     *setup.Setup
	fn        func(context.Context, cfn.Event) (string, error)
	responses chan cfn.Response
	url       string
	physical  string
}

func newCustomResource(ctx context.Context, sb *sandbox.Sandbox) (*customResource, func(), error) {
	cfg, err := sb.AWSConfig(ctx, demoSrcRegion)
	if err != nil {
		return nil, nil, err
	}
	s, err := setup.New(setup.NewClients(cfg), bucketregion.New(s3.NewFromConfig(cfg)), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	s.WithScope(setup.Scope{Sources: []string{demoSource}, StackID: demoStackID}) // as the template's SOURCE_BUCKETS and STACK_ID
	cr := &customResource{
		setup:     s,
		fn:        cfn.LambdaWrap(setup.Guard(s.Handle, 5*time.Second, slog.New(slog.DiscardHandler))),
		responses: make(chan cfn.Response, 1),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp cfn.Response
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cr.responses <- resp
	}))
	cr.url = srv.URL
	return cr, srv.Close, nil
}

func (cr *customResource) send(ctx context.Context, typ cfn.RequestType, props map[string]any) (cfn.Response, error) {
	ev := cfn.Event{
		RequestType: typ, RequestID: fmt.Sprintf("demo-%s", strings.ToLower(string(typ))), ResponseURL: cr.url,
		ResourceType: "Custom::S3Replication", LogicalResourceID: "Replication", PhysicalResourceID: cr.physical,
		StackID:            demoStackID,
		ResourceProperties: props,
	}
	callCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := cr.fn(callCtx, ev); err != nil {
		return cfn.Response{}, fmt.Errorf("send the %s response: %w", typ, err)
	}
	resp := <-cr.responses
	cr.physical = resp.PhysicalResourceID
	return resp, nil
}

func (d *demo) properties() map[string]any {
	// As CloudFormation sends them: every value a string.
	return map[string]any{
		"ServiceToken":            "arn:aws:lambda:us-east-1:000000000000:function:replaudit-setup",
		"SourceBucket":            demoSource,
		"RoleArn":                 demoRole,
		"Destinations":            []any{map[string]any{"Bucket": demoDestination, "Region": demoDstRegion, "StorageClass": "STANDARD"}},
		"DeleteMarkerReplication": "true", "Metrics": "true", "ReplicationTimeControl": "false",
		"NotificationQueueArn": d.queue,
	}
}

func (d *demo) rule(ctx context.Context) error {
	d.title("sam deploy: CloudFormation sends Create to the Custom::S3Replication function")
	resp, err := d.cr.send(ctx, cfn.RequestCreate, d.properties())
	if err != nil {
		return err
	}
	if resp.Status != cfn.StatusSuccess {
		return fmt.Errorf("create failed: %s", resp.Reason)
	}
	d.created = resp.Data
	d.say("Response captured: %s, PhysicalResourceId %s", resp.Status, resp.PhysicalResourceID)
	d.say("Data: RuleIds=%v DestinationBucketArns=%v", resp.Data["RuleIds"], resp.Data["DestinationBucketArns"])
	for _, b := range []struct {
		c    *s3.Client
		name string
	}{{d.src, demoSource}, {d.dst, demoDestination}} {
		v, err := b.c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
		if err != nil {
			return err
		}
		d.say("%-16s versioning %s", b.name, v.Status)
	}
	notes, err := d.notificationSummary(ctx)
	if err != nil {
		return err
	}
	d.say("Notifications on %s: %s", demoSource, notes)
	return nil
}

// snapshot captures the source's replication and notification configuration
// as JSON, to compare before and after the stack.
func (d *demo) snapshot(ctx context.Context) (string, error) {
	rep, err := d.src.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(demoSource)})
	var cfg any
	switch {
	case err == nil:
		cfg = rep.ReplicationConfiguration
	case !strings.Contains(err.Error(), "ReplicationConfigurationNotFoundError"):
		return "", fmt.Errorf("read replication: %w", err)
	}
	n, err := d.src.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(demoSource)})
	if err != nil {
		return "", fmt.Errorf("read notifications: %w", err)
	}
	b, err := json.Marshal(map[string]any{"replication": cfg, "topics": n.TopicConfigurations, "queues": n.QueueConfigurations,
		"functions": n.LambdaFunctionConfigurations, "eventBridge": n.EventBridgeConfiguration})
	return string(b), err
}

func (d *demo) notificationSummary(ctx context.Context) (string, error) {
	n, err := d.src.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(demoSource)})
	if err != nil {
		return "", fmt.Errorf("read notifications: %w", err)
	}
	var ids []string
	for _, t := range n.TopicConfigurations {
		ids = append(ids, aws.ToString(t.Id))
	}
	for _, q := range n.QueueConfigurations {
		ids = append(ids, aws.ToString(q.Id))
	}
	return strings.Join(ids, ", "), nil
}

func (d *demo) teardown(ctx context.Context) error {
	d.title("sam delete: CloudFormation sends Delete")
	resp, err := d.cr.send(ctx, cfn.RequestDelete, d.properties())
	if err != nil {
		return err
	}
	if resp.Status != cfn.StatusSuccess {
		return fmt.Errorf("delete failed: %s", resp.Reason)
	}
	d.say("Response captured: %s", resp.Status)
	after, err := d.snapshot(ctx)
	if err != nil {
		return err
	}
	if after != d.before {
		return fmt.Errorf("the configuration of %s differs from before the stack: before %s; after %s", demoSource, d.before, after)
	}
	notes, err := d.notificationSummary(ctx)
	if err != nil {
		return err
	}
	d.say("Replication and notification configuration of %s: identical to before the stack.", demoSource)
	d.say("Notifications left: %s (the other team's).", notes)
	d.say("Versioning stays on (S3 cannot turn it off) and both buckets are kept, with their data.")
	return nil
}

func short(version string) string {
	if len(version) > 8 {
		return version[:8] + "…"
	}
	return version
}
