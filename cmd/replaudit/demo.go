package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/setup"
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
	cr       *customResource
	before   string
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
	cr, stop, err := newCustomResource(ctx, sb)
	if err != nil {
		return err
	}
	defer stop()
	d.cr = cr
	steps := []func(context.Context) error{d.buckets, d.rule, d.uploads, d.failure, d.notifications, d.teardown}
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
	cr := &customResource{
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
		StackID:            "arn:aws:cloudformation:us-east-1:000000000000:stack/replaudit-demo/00000000-0000-4000-8000-000000000000",
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
		"RoleArn":                 "arn:aws:iam::000000000000:role/replaudit-replication",
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
		return fmt.Errorf("the configuration of %s differs from before the stack:\nbefore %s\nafter  %s", demoSource, d.before, after)
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
