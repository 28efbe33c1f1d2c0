package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/e2e"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/stack"
	"github.com/replaudit/replaudit/internal/sweep"
)

const (
	source, sourceRegion           = "acme-data-use1", "us-east-1"
	destination, destinationRegion = "acme-data-aps1", "ap-south-1"
	stackName                      = "replaudit-e2e"
	// retentionDays is the stack's LedgerRetentionDays, not its default.
	retentionDays = 30
)

// knownDrift lists where the stack as deployed does not do what the
// template says, as this test found it: each is logged while it holds, and
// an error once it no longer does, so that its fix removes it from here.
// Delete an entry to make its drift fail the test.
var knownDrift = map[string]string{}

// skippedTypes are the resource types the sandbox cannot stand for: they
// get invented ids. A type the template adds fails the test until the
// provisioner stands it up or it is added here, knowingly.
var skippedTypes = []string{
	"AWS::CloudWatch::Alarm",
	"AWS::CloudWatch::Dashboard",
	"AWS::IAM::ManagedPolicy",
	"AWS::IAM::Role",
	"AWS::KMS::Key",
	"AWS::Logs::LogGroup",
	"AWS::SNS::TopicPolicy",
	"AWS::SQS::QueuePolicy",
}

// TestTheStackAsDeployed provisions the sandbox from template.yaml and
// runs replaudit's whole job through the functions' real bootstraps under
// the Lambda Runtime Interface Emulator, each with the environment the
// template gives it: CloudFormation creates the stack; uploads are
// VERIFIED by the auditor the queue's event source mapping invokes; a
// denied destination is FAILED and pages once; an outage is PENDING, the
// scheduled sweeper warns once when it lasts and resolves it when it
// ends; an update moves the rule to a prefix and a storage class; and a
// delete leaves the source bucket's configuration as it was before the
// stack, and the ledger where its DeletionPolicy keeps it.
func TestTheStackAsDeployed(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	sandboxtest.Need(t, sandboxtest.RIE)
	ctx := context.Background()
	began := time.Now()

	builder := &e2e.Builder{Root: "..", Dir: t.TempDir()}
	var buildErr error
	built := make(chan struct{})
	go func() {
		defer close(built)
		buildErr = builder.BuildAll(ctx)
	}()
	t.Cleanup(func() { <-built }) // before the builds' folder goes

	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("REPLAUDIT_E2E_LOGS") != "" {
			t.Logf("the sandbox's and the functions' output:\n%s", logs.String())
		}
	})
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, Logger: slog.New(slog.NewTextHandler(&prefixedLines{w: logs, prefix: "[sandbox] "}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	w := &world{t: t, ctx: ctx, sb: sb}
	w.clients()
	w.bucketsBeforeTheStack()
	<-built
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Logf("bootstraps built and buckets ready after %s", time.Since(began).Round(time.Millisecond))

	params := map[string]string{
		"SourceBucketName":        source,
		"DestinationBucketName":   destination,
		"FirstCheckDelaySeconds":  "1",
		"PendingThresholdMinutes": "1",
		"LedgerRetentionDays":     fmt.Sprint(retentionDays),
	}
	st, err := e2e.Provision(ctx, e2e.Options{
		Sandbox: sb, Template: "../template.yaml", Events: "../events", Builder: builder, Output: logs,
		Inputs: stack.Inputs{Parameters: params, Region: sourceRegion, StackName: stackName},
	})
	if st != nil {
		t.Cleanup(st.Close)
	}
	if err != nil {
		t.Fatalf("create the stack: %v", err)
	}
	w.st = st
	t.Logf("stack created after %s", time.Since(began).Round(time.Millisecond))

	step := func(name string, fn func(t *testing.T)) {
		t.Helper()
		start := time.Now()
		ok := t.Run(name, func(t *testing.T) {
			w.t = t
			fn(t)
		})
		w.t = t
		t.Logf("%-60s %s", name, time.Since(start).Round(time.Millisecond))
		if !ok {
			t.FailNow()
		}
	}
	step("the template provisions the sandbox, and what it cannot stand for is known", w.provisioned)
	step("CloudFormation's Create turns replication on, keeping the other team's entry", w.created)
	step("uploads are VERIFIED by the auditor the event source mapping invokes", w.uploads)
	step("a denied destination is FAILED, and on-call is paged once", w.denied)
	step("an outage is PENDING, warned of once by the sweeper, then RESOLVED", w.outage)
	step("an Update moves the rule to a prefix and a storage class", func(t *testing.T) { w.updated(t, params) })
	step("a Delete leaves the source as it was and the ledger where it is kept", w.deleted)
	t.Logf("the stack's whole job took %s", time.Since(began).Round(time.Millisecond))
}

// world is what the steps share.
type world struct {
	t        *testing.T
	ctx      context.Context
	sb       *sandbox.Sandbox
	st       *e2e.Stack
	src, dst *s3.Client
	before   string
	ledger   *ledger.Ledger
	failed   ledger.Key
	seen     int // SNS messages already accounted for
}

func (w *world) clients() {
	for _, c := range []struct {
		client **s3.Client
		region string
	}{{&w.src, sourceRegion}, {&w.dst, destinationRegion}} {
		cfg, err := w.sb.AWSConfig(w.ctx, c.region)
		if err != nil {
			w.t.Fatal(err)
		}
		*c.client = s3.NewFromConfig(cfg)
	}
}

// bucketsBeforeTheStack makes the two existing buckets, neither versioned,
// the source already notifying another team, and snapshots the source.
func (w *world) bucketsBeforeTheStack() {
	t, ctx := w.t, w.ctx
	for _, b := range []struct {
		c      *s3.Client
		name   string
		region string
	}{{w.src, source, sourceRegion}, {w.dst, destination, destinationRegion}} {
		in := &s3.CreateBucketInput{Bucket: aws.String(b.name)}
		if b.region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(b.region)}
		}
		if _, err := b.c.CreateBucket(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	_, err := w.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(source),
		NotificationConfiguration: &s3types.NotificationConfiguration{TopicConfigurations: []s3types.TopicConfiguration{{
			Id: aws.String("restores-team"), TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:restores"),
			Events: []s3types.Event{"s3:ObjectRestore:*"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.before = w.snapshot()
}

// snapshot is the source's replication and notification configuration.
func (w *world) snapshot() string {
	w.t.Helper()
	rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(source)})
	var cfg any
	var ae smithy.APIError
	switch {
	case err == nil:
		cfg = rep.ReplicationConfiguration
	case !errors.As(err, &ae) || ae.ErrorCode() != "ReplicationConfigurationNotFoundError":
		w.t.Fatalf("read replication: %v", err)
	}
	n, err := w.src.GetBucketNotificationConfiguration(w.ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(source)})
	if err != nil {
		w.t.Fatalf("read notifications: %v", err)
	}
	b, err := json.Marshal(map[string]any{"replication": cfg, "topics": n.TopicConfigurations, "queues": n.QueueConfigurations,
		"functions": n.LambdaFunctionConfigurations, "eventBridge": n.EventBridgeConfiguration})
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func (w *world) provisioned(t *testing.T) {
	ctx, st := w.ctx, w.st
	var types []string
	for _, typ := range st.Skipped() {
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	sort.Strings(types)
	if !slices.Equal(types, skippedTypes) {
		t.Errorf("skipped types: got %v, want %v", types, skippedTypes)
	}
	t.Logf("skipped (invented ids): %v", sortedKeys(st.Skipped()))
	for _, id := range sortedKeys(st.Unrepresented()) {
		t.Logf("not represented on the sandbox: %s: %s", id, strings.Join(st.Unrepresented()[id], "; "))
	}

	// The stack's outputs, as a tool reads them.
	cfg, err := w.sb.AWSConfig(ctx, sourceRegion)
	if err != nil {
		t.Fatal(err)
	}
	described, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stackName)})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}
	for _, o := range described.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	table, topic := st.Resource("LedgerTable").Ref, st.Resource("AlertTopic").Ref
	if outputs["LedgerTableName"] != table || outputs["AlertTopicArn"] != topic {
		t.Errorf("outputs: %v; the table is %s, the topic %s", outputs, table, topic)
	}
	if w.ledger, err = ledger.New(ledger.Options{DB: dynamodb.NewFromConfig(cfg), Table: outputs["LedgerTableName"], Retention: 400 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}

	// The events queue as the template declares it.
	queue := st.Resource("EventQueue")
	attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue.Ref), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	redrive := queue.Properties["RedrivePolicy"].(map[string]any)
	wantRedrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": st.Resource("EventDeadLetterQueue").Attrs["Arn"], "maxReceiveCount": redrive["maxReceiveCount"]})
	for name, want := range map[string]string{
		"DelaySeconds":      "1", // FirstCheckDelaySeconds
		"VisibilityTimeout": fmt.Sprint(queue.Properties["VisibilityTimeout"]),
		"RedrivePolicy":     string(wantRedrive),
	} {
		if got := attrs.Attributes[name]; got != want {
			t.Errorf("EventQueue %s: got %s, want %s", name, got, want)
		}
	}

	// The ledger table with the keys and indexes the ledger's code queries.
	desc, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keysOf(desc.Table.KeySchema), keysOf(ledger.TableInput(table).KeySchema); got != want {
		t.Errorf("the table's key: got %s, want %s", got, want)
	}
	indexes := map[string]string{}
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		indexes[aws.ToString(g.IndexName)] = keysOf(g.KeySchema)
	}
	for _, g := range ledger.TableInput(table).GlobalSecondaryIndexes {
		if got, want := indexes[aws.ToString(g.IndexName)], keysOf(g.KeySchema); got != want {
			t.Errorf("index %s: got %q, want %q", aws.ToString(g.IndexName), got, want)
		}
	}

	// Each audit function runs with the environment the template gives it.
	rules := st.Resource("Replication").Attrs["RuleIds"]
	for _, id := range []string{"ReplicationAuditorFunction", "ReplicationSweeperFunction"} {
		env := st.Function(id).Env()
		for _, kv := range []string{"LEDGER_TABLE=" + table, "ALERT_TOPIC_ARN=" + topic, "RULE_IDS=" + rules, "PENDING_THRESHOLD_MINUTES=1"} {
			if !slices.Contains(env, kv) {
				t.Errorf("%s runs without %s", id, kv)
			}
		}
	}
	if st.Function("InventoryReconcilerFunction") != nil {
		t.Error("the reconciler runs, though EnableInventory is false")
	}
}

func (w *world) created(t *testing.T) {
	st := w.st
	answers := st.Answers()
	if len(answers) != 1 || answers[0].RequestType != cfn.RequestCreate || answers[0].Response.Status != cfn.StatusSuccess {
		t.Fatalf("answers: %+v", answers)
	}
	if id := answers[0].Response.PhysicalResourceID; !strings.HasSuffix(id, ":"+source) {
		t.Errorf("PhysicalResourceId %s does not name the source", id)
	}
	for _, b := range []struct {
		c    *s3.Client
		name string
	}{{w.src, source}, {w.dst, destination}} {
		v, err := b.c.GetBucketVersioning(w.ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
		if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("%s versioning: %v, %v", b.name, v, err)
		}
	}
	rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	rules := rep.ReplicationConfiguration.Rules
	if len(rules) != 1 || aws.ToString(rules[0].ID) != st.Resource("Replication").Attrs["RuleIds"] ||
		aws.ToString(rep.ReplicationConfiguration.Role) != st.Resource("ReplicationRole").Attrs["Arn"] {
		t.Errorf("replication: role %s, rules %+v; the stack's rule %s and role %s", aws.ToString(rep.ReplicationConfiguration.Role), rules,
			st.Resource("Replication").Attrs["RuleIds"], st.Resource("ReplicationRole").Attrs["Arn"])
	}
	n, err := w.src.GetBucketNotificationConfiguration(w.ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.TopicConfigurations) != 1 || aws.ToString(n.TopicConfigurations[0].Id) != "restores-team" {
		t.Errorf("the other team's entry: %+v", n.TopicConfigurations)
	}
	queue := st.Resource("EventQueue").Attrs["Arn"]
	for _, q := range n.QueueConfigurations {
		if aws.ToString(q.QueueArn) != queue {
			t.Errorf("notification entry %s goes to %s, not the stack's queue %s", aws.ToString(q.Id), aws.ToString(q.QueueArn), queue)
		}
	}
	if len(n.QueueConfigurations) == 0 {
		t.Error("the source sends the queue nothing")
	}

	// The setup function records what it did, as evidence.
	var configs []ledger.Item
	err = w.ledger.Period(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if ledger.IsConfig(it) {
			configs = append(configs, it)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(configs) != 1 || configs[0].RequestType != "Create" || configs[0].Status != "SUCCESS" || configs[0].Bucket != source {
		t.Fatalf("configuration evidence: %+v", configs)
	}
	kept := time.Unix(configs[0].TTL, 0).Sub(configs[0].EventTime)
	w.drift("configuration evidence ignores LedgerRetentionDays", !near(kept, retention),
		fmt.Sprintf("the Create's evidence is kept %s; LedgerRetentionDays is %d", kept.Round(time.Hour), retentionDays))
}

const retention = retentionDays * 24 * time.Hour

func near(d, want time.Duration) bool { return d > want-time.Minute && d < want+time.Minute }

// drift reports where the deployed stack does not do what the template
// says: an error, or a log line while it is known (knownDrift).
func (w *world) drift(name string, seen bool, detail string) {
	w.t.Helper()
	why, known := knownDrift[name]
	switch {
	case seen && known:
		w.t.Logf("KNOWN DRIFT %s: %s (%s)", name, detail, why)
	case seen:
		w.t.Errorf("drift, %s: %s", name, detail)
	case known:
		w.t.Errorf("%q no longer drifts (%s): remove it from knownDrift", name, detail)
	}
}

var keys = []string{
	"reports/2026/Q3 summary.pdf",
	"photos/été/plage à midi.jpg",
	"data/売上_2026.csv",
	"odd/100% a+b=c.txt",
}

type upload struct{ key, version string }

func (w *world) put(key string) upload {
	w.t.Helper()
	out, err := w.src.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(source), Key: aws.String(key), Body: strings.NewReader("contents of " + key)})
	if err != nil {
		w.t.Fatalf("put %s: %v", key, err)
	}
	return upload{key: key, version: aws.ToString(out.VersionId)}
}

func (u upload) ledgerKey() ledger.Key { return ledger.KeyOf(source, u.key, u.version, destination) }

// item waits until the ledger's item for an upload satisfies ok.
func (w *world) item(u upload, timeout time.Duration, what string, ok func(ledger.Item) error) ledger.Item {
	w.t.Helper()
	var it ledger.Item
	sandboxtest.EventuallyNoError(w.t, timeout, u.key+": "+what, func() error {
		var err error
		if it, err = w.ledger.Get(w.ctx, u.ledgerKey()); err != nil {
			return err
		}
		return ok(it)
	})
	return it
}

func verdict(want audit.Verdict) func(ledger.Item) error {
	return func(it ledger.Item) error {
		if it.Verdict != want {
			return fmt.Errorf("verdict %s, alert %q", it.Verdict, it.Alert)
		}
		return nil
	}
}

func (w *world) uploads(t *testing.T) {
	var ups []upload
	for _, k := range keys {
		ups = append(ups, w.put(k))
	}
	for _, u := range ups {
		it := w.item(u, 15*time.Second, "VERIFIED", verdict(audit.Verified))
		if it.Replica == nil || it.Replica.VersionID != u.version || it.Replica.Status != "REPLICA" || it.LagSeconds == nil {
			t.Errorf("%s: replica %+v, lag %v", u.key, it.Replica, it.LagSeconds)
		}
		if it.ObjectKey != u.key {
			t.Errorf("the ledger keeps key %q for %q", it.ObjectKey, u.key)
		}
		if kept := time.Unix(it.TTL, 0).Sub(it.LastChecked); !near(kept, retention) {
			t.Errorf("%s is kept %s, LedgerRetentionDays is %d", u.key, kept.Round(time.Hour), retentionDays)
		}
	}
	queue := w.st.Resource("EventQueue").Attrs["Arn"]
	for _, b := range w.sb.Batches(queue) {
		if b.Err != nil || b.Failed > 0 {
			t.Errorf("a batch of %d failed %d: %v", b.Size, b.Failed, b.Err)
		}
	}
	if msgs := w.sb.SNSMessages(); len(msgs) != 0 {
		t.Errorf("alerts on the happy path: %+v", msgs)
	}
}

// alert is an SNS message with its machine-readable block.
type alert struct {
	sandbox.SNSMessage
	JSON map[string]any
}

// newAlerts returns the SNS messages published since the last call.
func (w *world) newAlerts() []alert {
	w.t.Helper()
	msgs := w.sb.SNSMessages()
	var out []alert
	for _, m := range msgs[w.seen:] {
		a := alert{SNSMessage: m}
		if _, block, ok := strings.Cut(m.Body, "--- JSON ---\n"); ok {
			if err := json.Unmarshal([]byte(block), &a.JSON); err != nil {
				w.t.Errorf("message %s: its JSON block: %v", m.ID, err)
			}
		}
		if m.Topic != w.st.Resource("AlertTopic").Ref {
			w.t.Errorf("message %s went to %s, not the stack's topic", m.ID, m.Topic)
		}
		out = append(out, a)
	}
	w.seen = len(msgs)
	return out
}

// oneAlert checks that exactly one message came since the last call, of
// a kind and verdict, about an upload.
func (w *world) oneAlert(u upload, kind, verdict string) {
	w.t.Helper()
	got := w.newAlerts()
	if len(got) != 1 {
		w.t.Fatalf("got %d messages, want one %s: %+v", len(got), kind, got)
	}
	a := got[0]
	if a.JSON["kind"] != kind || a.Attributes["verdict"] != verdict || a.Attributes["bucket"] != source || a.JSON["key"] != u.key || a.JSON["versionId"] != u.version {
		w.t.Errorf("message: subject %q, attributes %v, JSON %v; want kind %s, verdict %s about %s %s", a.Subject, a.Attributes, a.JSON, kind, verdict, u.key, u.version)
	}
}

func (w *world) denied(t *testing.T) {
	if err := w.sb.InjectFault(sandbox.Fault{Bucket: destination, Kind: sandbox.FaultDeny}); err != nil {
		t.Fatal(err)
	}
	u := w.put("reports/2026/Q4 draft.pdf")
	it := w.item(u, 15*time.Second, "FAILED and paged", func(it ledger.Item) error {
		if it.Verdict != audit.Failed || it.Alert != incident.Sent {
			return fmt.Errorf("verdict %s, alert %q", it.Verdict, it.Alert)
		}
		return nil
	})
	w.sb.ClearFaults(destination)
	if it.FailureReason != sandbox.DefaultDenyReason {
		t.Errorf("failure reason %q, want %s", it.FailureReason, sandbox.DefaultDenyReason)
	}
	w.oneAlert(u, "FAILED", "FAILED")
	w.failed = u.ledgerKey()
}

func (w *world) sweep() {
	w.t.Helper()
	sc := w.st.Schedule("ReplicationSweeperFunctionEveryFiveMinutes")
	if sc == nil {
		w.t.Fatal("the sweeper has no schedule")
	}
	if _, err := sc.Fire(w.ctx); err != nil {
		w.t.Fatalf("sweep: %v", err)
	}
}

// sweepUntil fires the sweeper's schedule until the upload's item
// satisfies ok.
func (w *world) sweepUntil(u upload, timeout time.Duration, what string, ok func(ledger.Item) error) ledger.Item {
	w.t.Helper()
	var it ledger.Item
	sc := w.st.Schedule("ReplicationSweeperFunctionEveryFiveMinutes")
	sandboxtest.EventuallyNoError(w.t, timeout, u.key+": "+what, func() error {
		if _, err := sc.Fire(w.ctx); err != nil {
			return err
		}
		var err error
		if it, err = w.ledger.Get(w.ctx, u.ledgerKey()); err != nil {
			return err
		}
		return ok(it)
	})
	return it
}

func (w *world) outage(t *testing.T) {
	if err := w.sb.InjectFault(sandbox.Fault{Bucket: destination, Kind: sandbox.FaultOutage}); err != nil {
		t.Fatal(err)
	}
	lifted := false
	defer func() {
		if !lifted {
			w.sb.ClearFaults(destination)
		}
	}()
	u := w.put("data/big-export.parquet")
	w.item(u, 15*time.Second, "PENDING at the first check", verdict(audit.Pending))

	// Not due yet: a sweep changes nothing and tells nobody.
	w.sweep()
	if it, err := w.ledger.Get(w.ctx, u.ledgerKey()); err != nil || it.Verdict != audit.Pending || it.LongPending || it.Alert != incident.None {
		t.Errorf("after a sweep before the threshold: %+v, %v", it, err)
	}
	if got := w.newAlerts(); len(got) != 0 {
		t.Errorf("alerts before the threshold: %+v", got)
	}

	w.elapse(u.ledgerKey())
	w.sweepUntil(u, 15*time.Second, "long PENDING, and warned", func(it ledger.Item) error {
		if it.Verdict != audit.Pending || !it.LongPending || it.Alert != incident.Sent {
			return fmt.Errorf("verdict %s, long pending %v, alert %q", it.Verdict, it.LongPending, it.Alert)
		}
		return nil
	})
	w.oneAlert(u, "LONG_PENDING", "LONG_PENDING")
	w.sweep()
	if got := w.newAlerts(); len(got) != 0 {
		t.Errorf("a second sweep alerted again: %+v", got)
	}

	w.sb.ClearFaults(destination)
	lifted = true
	sandboxtest.EventuallyNoError(t, 10*time.Second, "S3 catches up", func() error {
		h, err := w.src.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(source), Key: aws.String(u.key), VersionId: aws.String(u.version)})
		if err != nil {
			return err
		}
		if h.ReplicationStatus != "COMPLETED" {
			return fmt.Errorf("status %s", h.ReplicationStatus)
		}
		return nil
	})
	w.elapse(u.ledgerKey())
	it := w.sweepUntil(u, 15*time.Second, "VERIFIED, and resolved", func(it ledger.Item) error {
		if it.Verdict != audit.Verified || it.Alert != incident.Resolved {
			return fmt.Errorf("verdict %s, alert %q", it.Verdict, it.Alert)
		}
		return nil
	})
	if it.Replica == nil || it.Replica.VersionID != u.version {
		t.Errorf("replica %+v", it.Replica)
	}
	w.oneAlert(u, "RESOLVED", "VERIFIED")

	// Every sweep released the lease it took: the next starts at once.
	if lease, err := w.ledger.Lease(sweep.LeaseName).State(w.ctx); err != nil || lease.Holder != "" {
		t.Errorf("the sweep lease after the sweeps: %+v, %v", lease, err)
	}
	// The FAILED version is still FAILED, and its incident open.
	if it, err := w.ledger.Get(w.ctx, w.failed); err != nil || it.Verdict != audit.Failed || it.Alert != incident.Sent {
		t.Errorf("the FAILED version: %s %q, %v", it.Verdict, it.Alert, err)
	}
}

func (w *world) updated(t *testing.T, params map[string]string) {
	st := w.st
	physical := st.Resource("Replication").Ref
	next := map[string]string{"ReplicationPrefix": "reports/", "DestinationStorageClass": "STANDARD_IA"}
	for k, v := range params {
		next[k] = v
	}
	changed, err := st.Update(w.ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"Replication"}) {
		t.Errorf("the update changed %v, want [Replication]", changed)
	}
	answers := st.Answers()
	last := answers[len(answers)-1]
	if last.RequestType != cfn.RequestUpdate || last.Response.Status != cfn.StatusSuccess || last.Response.PhysicalResourceID != physical {
		t.Errorf("the Update's answer: %+v; want SUCCESS with PhysicalResourceId %s", last, physical)
	}
	rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	rules := rep.ReplicationConfiguration.Rules
	if len(rules) != 1 || rules[0].Filter == nil || aws.ToString(rules[0].Filter.Prefix) != "reports/" || rules[0].Destination.StorageClass != s3types.StorageClassStandardIa {
		t.Errorf("rules after the update: %s", asJSON(rules))
	}
	n, err := w.src.GetBucketNotificationConfiguration(w.ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(source)})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range n.QueueConfigurations {
		if q.Filter == nil || q.Filter.Key == nil || len(q.Filter.Key.FilterRules) != 1 || aws.ToString(q.Filter.Key.FilterRules[0].Value) != "reports/" {
			t.Errorf("notification entry %s after the update: %s", aws.ToString(q.Id), asJSON(q))
		}
	}
	if len(n.TopicConfigurations) != 1 {
		t.Errorf("the other team's entry after the update: %s", asJSON(n.TopicConfigurations))
	}

	u := w.put("reports/2027/plan.pdf")
	w.item(u, 15*time.Second, "VERIFIED after the update", verdict(audit.Verified))
	h, err := w.dst.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(destination), Key: aws.String(u.key), VersionId: aws.String(u.version)})
	if err != nil || h.StorageClass != s3types.StorageClassStandardIa {
		t.Errorf("the replica's storage class: %v, %v", h.StorageClass, err)
	}
	if got := w.newAlerts(); len(got) != 0 {
		t.Errorf("alerts after the update: %+v", got)
	}
}

func (w *world) deleted(t *testing.T) {
	outcomes, err := w.st.Delete(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"Replication":          e2e.Deleted,
		"LedgerTable":          e2e.Retained,
		"EventDeadLetterQueue": e2e.Retained,
		"EventQueue":           e2e.Left,
		"SourceEvents":         e2e.Deleted,
	} {
		if outcomes[id] != want {
			t.Errorf("%s: %q, want %q", id, outcomes[id], want)
		}
	}
	answers := w.st.Answers()
	if last := answers[len(answers)-1]; last.RequestType != cfn.RequestDelete || last.Response.Status != cfn.StatusSuccess {
		t.Errorf("the Delete's answer: %+v", last)
	}
	if after := w.snapshot(); after != w.before {
		t.Errorf("the source's configuration differs from before the stack:\nbefore %s\nafter  %s", w.before, after)
	}
	for _, b := range []struct {
		c    *s3.Client
		name string
	}{{w.src, source}, {w.dst, destination}} {
		v, err := b.c.GetBucketVersioning(w.ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
		if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("%s versioning after the delete: %v, %v (S3 cannot turn it off)", b.name, v, err)
		}
	}
	// The evidence outlives the stack: the verdicts, and what the setup
	// function did at each request.
	if it, err := w.ledger.Get(w.ctx, w.failed); err != nil || it.Verdict != audit.Failed {
		t.Errorf("the ledger after the delete: %s, %v", it.Verdict, err)
	}
	var requests []string
	err = w.ledger.Period(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if ledger.IsConfig(it) && it.Bucket == source {
			requests = append(requests, it.RequestType+" "+it.Status)
		}
		return nil
	})
	sort.Strings(requests)
	if want := []string{"Create SUCCESS", "Delete SUCCESS", "Update SUCCESS"}; err != nil || !slices.Equal(requests, want) {
		t.Errorf("configuration evidence: %v, %v; want %v", requests, err, want)
	}
	if dead := w.sb.DeadLetters(); len(dead) != 0 {
		t.Errorf("dead letters: %+v", dead)
	}
}

// elapse stands for the wait until the sweeper next checks an item. The
// functions run on real time, which the sandbox cannot move for another
// process, and the template's shortest threshold is a minute, its
// back-off five: so the item is moved back in time instead, every time it
// holds by as much, as if it had been written that much earlier, in one
// conditional write through the ledger. With REPLAUDIT_E2E_REAL_TIME set,
// nothing is moved: the test waits until the item is due, minutes.
func (w *world) elapse(k ledger.Key) {
	w.t.Helper()
	it, err := w.ledger.Get(w.ctx, k)
	if err != nil {
		w.t.Fatal(err)
	}
	due, err := time.Parse(time.RFC3339Nano, it.AttnDue)
	if err != nil {
		w.t.Fatalf("the item is due at %q: %v", it.AttnDue, err)
	}
	d := time.Until(due) + time.Millisecond
	if d <= 0 {
		return
	}
	if os.Getenv("REPLAUDIT_E2E_REAL_TIME") != "" {
		w.t.Logf("waiting %s in real time until %s is due", d.Round(time.Second), it.ObjectKey)
		sandboxtest.Eventually(w.t, d+time.Second, it.ObjectKey+" due", func() bool { return time.Now().After(due) })
		return
	}
	_, _, err = w.ledger.Change(w.ctx, k, &it, func(cur *ledger.Item) (ledger.Item, bool, error) {
		if cur == nil {
			return ledger.Item{}, false, errors.New("the item is gone")
		}
		return earlier(*cur, d), true, nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// earlier is an item with every time it holds d earlier.
func earlier(it ledger.Item, d time.Duration) ledger.Item {
	back := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.Add(-d)
		}
	}
	backp := func(t **time.Time) {
		if *t != nil {
			x := (*t).Add(-d)
			*t = &x
		}
	}
	back(&it.EventTime)
	back(&it.FirstSeen)
	back(&it.LastChecked)
	it.History = slices.Clone(it.History)
	for i := range it.History {
		back(&it.History[i].At)
	}
	if it.Replica != nil {
		r := *it.Replica
		back(&r.VerifiedAt)
		it.Replica = &r
	}
	for _, p := range []**time.Time{&it.RedriveAt, &it.ClaimedAt, &it.DueAt, &it.OpenedAt, &it.AlertedAt, &it.ResolvedAt} {
		backp(p)
	}
	if due, err := time.Parse(time.RFC3339Nano, it.AttnDue); err == nil {
		it.AttnDue = ledger.AttnTime(due.Add(-d))
	}
	return it
}

func keysOf(ks []dbtypes.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return strings.Join(parts, ",")
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// syncBuffer collects the output of every emulator and the sandbox.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// prefixedLines marks the sandbox's own log lines.
type prefixedLines struct {
	w      *syncBuffer
	prefix string
}

func (p *prefixedLines) Write(b []byte) (int, error) {
	_, err := p.w.Write(append([]byte(p.prefix), b...))
	return len(b), err
}
