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
	"github.com/replaudit/replaudit/internal/setup"
	"github.com/replaudit/replaudit/internal/stack"
	"github.com/replaudit/replaudit/internal/sweep"
)

const (
	source, sourceRegion           = "acme-data-use1", "us-east-1"
	destination, destinationRegion = "acme-data-aps1", "ap-south-1"
	// The second source, on the same audit plane: the stack's one
	// AdditionalSources entry, until an update removes it. Its source is
	// in the stack's region, as the template requires, its destination in
	// a third.
	source2, destination2, destination2Region = "acme-logs-use1", "acme-logs-euw1", "eu-west-1"
	entry                                     = source2 + ">" + destination2
	stackName                                 = "replaudit-e2e"
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
	"AWS::IAM::Policy",
	"AWS::IAM::Role",
	"AWS::KMS::Key",
	"AWS::Logs::LogGroup",
	"AWS::SNS::TopicPolicy",
	"AWS::SQS::QueuePolicy",
}

// TestTheStackAsDeployed provisions the sandbox from template.yaml and
// runs replaudit's whole job through the functions' real bootstraps under
// the Lambda Runtime Interface Emulator, each with the environment the
// template gives it: CloudFormation creates the stack for two sources on
// one audit plane, the second an AdditionalSources entry; uploads to both
// are VERIFIED by the one auditor the one queue's event source mapping
// invokes; a denied destination of the second source is FAILED and pages
// once; an outage of the first is PENDING, the scheduled sweeper warns
// once when it lasts and resolves it when it ends; an update moves the
// rules to a prefix and a storage class; an update that removes the
// entry deletes the second source's resources alone, leaving that bucket
// as it was before the stack and the first source untouched; and a
// delete leaves the first source as it was too, and the ledger where its
// DeletionPolicy keeps it.
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
		"AdditionalSources":       entry,
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
	step("AdditionalSources' Fn::ForEach provisions the second source's role, policies and resource", w.entryProvisioned)
	step("CloudFormation's Create turns replication on for both sources, keeping the other teams' entries", w.created)
	step("uploads to both sources are VERIFIED by the one auditor the event source mapping invokes", w.uploads)
	step("a denied destination of the second source is FAILED, and on-call is paged once", w.denied)
	step("an outage is PENDING, warned of once by the sweeper, then RESOLVED", w.outage)
	step("an Update moves the rules to a prefix and a storage class", func(t *testing.T) { w.updated(t, params) })
	step("an Update that removes the second source deletes its resources alone and leaves it as it was", func(t *testing.T) { w.dropped(t, params) })
	step("a Delete leaves the first source as it was and the ledger where it is kept", w.deleted)
	t.Logf("the stack's whole job took %s", time.Since(began).Round(time.Millisecond))
}

// world is what the steps share.
type world struct {
	t   *testing.T
	ctx context.Context
	sb  *sandbox.Sandbox
	st  *e2e.Stack
	// src reaches both sources, in the stack's region; dst and dst2 their
	// destinations.
	src, dst, dst2 *s3.Client
	// before is each source's configuration before the stack.
	before map[string]string
	ledger *ledger.Ledger
	failed ledger.Key
	seen   int // SNS messages already accounted for
}

func (w *world) clients() {
	for _, c := range []struct {
		client **s3.Client
		region string
	}{{&w.src, sourceRegion}, {&w.dst, destinationRegion}, {&w.dst2, destination2Region}} {
		cfg, err := w.sb.AWSConfig(w.ctx, c.region)
		if err != nil {
			w.t.Fatal(err)
		}
		*c.client = s3.NewFromConfig(cfg)
	}
}

// bucketsBeforeTheStack makes the four existing buckets, none versioned,
// each source already notifying another team, and snapshots the sources.
func (w *world) bucketsBeforeTheStack() {
	t, ctx := w.t, w.ctx
	for _, b := range []struct {
		c      *s3.Client
		name   string
		region string
	}{{w.src, source, sourceRegion}, {w.dst, destination, destinationRegion}, {w.src, source2, sourceRegion}, {w.dst2, destination2, destination2Region}} {
		in := &s3.CreateBucketInput{Bucket: aws.String(b.name)}
		if b.region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(b.region)}
		}
		if _, err := b.c.CreateBucket(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for bucket, n := range map[string]*s3types.NotificationConfiguration{
		source: {TopicConfigurations: []s3types.TopicConfiguration{{
			Id: aws.String("restores-team"), TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:restores"),
			Events: []s3types.Event{"s3:ObjectRestore:*"},
		}}},
		// A function of another team's, and EventBridge on.
		source2: {
			LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{{
				Id: aws.String("tagging-indexer"), LambdaFunctionArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:tag-indexer"),
				Events: []s3types.Event{"s3:ObjectTagging:*"},
			}},
			EventBridgeConfiguration: &s3types.EventBridgeConfiguration{},
		},
	} {
		_, err := w.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(bucket), NotificationConfiguration: n})
		if err != nil {
			t.Fatal(err)
		}
	}
	w.before = map[string]string{source: w.snapshot(source), source2: w.snapshot(source2)}
}

// snapshot is a source's replication and notification configuration.
func (w *world) snapshot(bucket string) string {
	w.t.Helper()
	rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	var cfg any
	var ae smithy.APIError
	switch {
	case err == nil:
		cfg = rep.ReplicationConfiguration
	case !errors.As(err, &ae) || ae.ErrorCode() != "ReplicationConfigurationNotFoundError":
		w.t.Fatalf("read replication of %s: %v", bucket, err)
	}
	n, err := w.src.GetBucketNotificationConfiguration(w.ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		w.t.Fatalf("read notifications of %s: %v", bucket, err)
	}
	b, err := json.Marshal(map[string]any{"replication": cfg, "topics": n.TopicConfigurations, "queues": n.QueueConfigurations,
		"functions": n.LambdaFunctionConfigurations, "eventBridge": n.EventBridgeConfiguration})
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// asBefore checks that a source's configuration is as before the stack.
func (w *world) asBefore(bucket, when string) {
	w.t.Helper()
	if after := w.snapshot(bucket); after != w.before[bucket] {
		w.t.Errorf("%s's configuration %s differs from before the stack:\nbefore %s\nafter  %s", bucket, when, w.before[bucket], after)
	}
}

// stackID is the stack's id, from which the entry's rule is named.
func (w *world) stackID() string { return w.st.Resolved().Pseudo["AWS::StackId"] }

// entryRule is the rule ID the auditor audits for the entry, as it derives
// it from ADDITIONAL_SOURCES and STACK_ID.
func (w *world) entryRule() string {
	w.t.Helper()
	id, err := setup.EntryRuleID(w.stackID(), entry)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// entryIDs are the logical ids the template's Fn::ForEach gives the
// entry's resources. Its &{Entry} keeps the entry's letters and digits, as
// package setup's EntryLogicalID does for the Custom::S3Replication
// resource, whose rule the audit functions derive from it.
type entryIDs struct{ replication, role, setupAccess, auditAccess string }

func entryResources() entryIDs {
	replication := setup.EntryLogicalID(entry)
	suffix := strings.TrimPrefix(replication, "SourceReplication")
	return entryIDs{replication: replication, role: "SourceRole" + suffix, setupAccess: "SourceSetupAccess" + suffix, auditAccess: "SourceAuditAccess" + suffix}
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

	// Each function runs with the environment the template gives it: the
	// audit functions audit the first source's rules and, named from the
	// stack's id, the entry's; the setup function may configure both.
	rules := st.Resource("Replication").Attrs["RuleIds"]
	for id, want := range map[string][]string{
		"ReplicationAuditorFunction": {"LEDGER_TABLE=" + table, "ALERT_TOPIC_ARN=" + topic, "RULE_IDS=" + rules, "PENDING_THRESHOLD_MINUTES=1",
			"STACK_ID=" + w.stackID(), "ADDITIONAL_SOURCES=" + entry},
		"ReplicationSweeperFunction": {"LEDGER_TABLE=" + table, "ALERT_TOPIC_ARN=" + topic, "RULE_IDS=" + rules, "PENDING_THRESHOLD_MINUTES=1",
			"STACK_ID=" + w.stackID(), "ADDITIONAL_SOURCES=" + entry},
		"ReplicationSetupFunction": {"LEDGER_TABLE=" + table, "SOURCE_BUCKETS=" + source + "," + entry, "STACK_ID=" + w.stackID()},
	} {
		env := st.Function(id).Env()
		for _, kv := range want {
			if !slices.Contains(env, kv) {
				t.Errorf("%s runs without %s", id, kv)
			}
		}
	}
	if st.Function("InventoryReconcilerFunction") != nil {
		t.Error("the reconciler runs, though EnableInventory is false")
	}
}

// entryProvisioned checks what the template's Fn::ForEach made of the
// entry: the role S3 assumes, the policies on the functions' roles (which the sandbox does not
// enforce), and the Custom::S3Replication resource, which Requires the
// policy that lets the setup function configure its bucket, so that it is
// created after it and deleted before it.
func (w *world) entryProvisioned(t *testing.T) {
	st := w.st
	ids := entryResources()
	replicationID, roleID, setupID, auditID := ids.replication, ids.role, ids.setupAccess, ids.auditAccess
	for id, typ := range map[string]string{roleID: "AWS::IAM::Role", setupID: "AWS::IAM::Policy", auditID: "AWS::IAM::Policy", replicationID: "Custom::S3Replication"} {
		r := st.Resource(id)
		if r == nil {
			t.Fatalf("%s (%s) is not provisioned; the stack has %v", id, typ, sortedKeys(st.Skipped()))
		}
		if r.Type != typ || r.Skipped != (typ != "Custom::S3Replication") {
			t.Errorf("%s: type %s, skipped %v; want %s", id, r.Type, r.Skipped, typ)
		}
	}
	roles := func(id string) string { return asJSON(st.Resource(id).Properties["Roles"]) }
	if got, want := roles(setupID), asJSON([]any{st.Resource("ReplicationSetupFunctionRole").Ref}); got != want {
		t.Errorf("%s is on roles %s, want the setup function's %s", setupID, got, want)
	}
	if got, want := roles(auditID), asJSON([]any{st.Resource("ReplicationAuditorFunctionRole").Ref, st.Resource("ReplicationSweeperFunctionRole").Ref}); got != want {
		t.Errorf("%s is on roles %s, want the auditor's and the sweeper's %s", auditID, got, want)
	}

	p := st.Resource(replicationID).Properties
	for name, want := range map[string]any{
		"ServiceToken":         st.Function("ReplicationSetupFunction").ARN,
		"SourceBucket":         source2,
		"RoleArn":              st.Resource(roleID).Attrs["Arn"],
		"Destinations":         []any{map[string]any{"Bucket": destination2, "StorageClass": "STANDARD"}},
		"Prefix":               "",
		"NotificationQueueArn": st.Resource("EventQueue").Attrs["Arn"],
		"Requires":             []any{st.Resource("EventQueuePolicy").Ref, st.Resource(setupID).Ref},
	} {
		if got := asJSON(p[name]); got != asJSON(want) {
			t.Errorf("%s.%s: got %s, want %s", replicationID, name, got, asJSON(want))
		}
	}
}

func (w *world) created(t *testing.T) {
	st := w.st
	ids := entryResources()
	entryID := ids.replication
	answers := st.Answers()
	var answered []string
	for _, a := range answers {
		if a.RequestType != cfn.RequestCreate || a.Response.Status != cfn.StatusSuccess {
			t.Errorf("answer: %+v", a)
		}
		answered = append(answered, a.LogicalID)
	}
	sort.Strings(answered)
	if want := []string{"Replication", entryID}; !slices.Equal(answered, want) {
		t.Fatalf("Create answered for %v, want %v", answered, want)
	}
	// The rule the entry's resource wrote is the one the audit functions
	// name from ADDITIONAL_SOURCES and STACK_ID.
	if got := st.Resource(entryID).Attrs["RuleIds"]; got != w.entryRule() {
		t.Errorf("%s wrote rule %s; the audit functions audit %s for it", entryID, got, w.entryRule())
	}
	queue := st.Resource("EventQueue").Attrs["Arn"]
	for _, c := range []struct {
		source, destination string
		dst                 *s3.Client
		resource, role      string
		foreign             func(*s3.GetBucketNotificationConfigurationOutput) bool
	}{
		{source, destination, w.dst, "Replication", st.Resource("ReplicationRole").Attrs["Arn"], func(n *s3.GetBucketNotificationConfigurationOutput) bool {
			return len(n.TopicConfigurations) == 1 && aws.ToString(n.TopicConfigurations[0].Id) == "restores-team"
		}},
		{source2, destination2, w.dst2, entryID, st.Resource(ids.role).Attrs["Arn"], func(n *s3.GetBucketNotificationConfigurationOutput) bool {
			return len(n.LambdaFunctionConfigurations) == 1 && aws.ToString(n.LambdaFunctionConfigurations[0].Id) == "tagging-indexer" && n.EventBridgeConfiguration != nil
		}},
	} {
		r := st.Resource(c.resource)
		if id := r.Ref; !strings.HasSuffix(id, ":"+c.source) {
			t.Errorf("%s's PhysicalResourceId %s does not name its source %s", c.resource, id, c.source)
		}
		for _, b := range []struct {
			c    *s3.Client
			name string
		}{{w.src, c.source}, {c.dst, c.destination}} {
			v, err := b.c.GetBucketVersioning(w.ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
			if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
				t.Errorf("%s versioning: %v, %v", b.name, v, err)
			}
		}
		rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(c.source)})
		if err != nil {
			t.Fatalf("%s: %v", c.source, err)
		}
		rules := rep.ReplicationConfiguration.Rules
		if len(rules) != 1 || aws.ToString(rules[0].ID) != r.Attrs["RuleIds"] || aws.ToString(rules[0].Destination.Bucket) != "arn:aws:s3:::"+c.destination ||
			aws.ToString(rep.ReplicationConfiguration.Role) != c.role {
			t.Errorf("%s's replication: role %s, rules %s; the stack's rule %s to %s and role %s", c.source, aws.ToString(rep.ReplicationConfiguration.Role), asJSON(rules),
				r.Attrs["RuleIds"], c.destination, c.role)
		}
		n, err := w.src.GetBucketNotificationConfiguration(w.ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(c.source)})
		if err != nil {
			t.Fatal(err)
		}
		if !c.foreign(n) {
			t.Errorf("%s: the other team's entries: %s", c.source, asJSON(n))
		}
		for _, q := range n.QueueConfigurations {
			if aws.ToString(q.QueueArn) != queue {
				t.Errorf("%s's notification entry %s goes to %s, not the stack's queue %s", c.source, aws.ToString(q.Id), aws.ToString(q.QueueArn), queue)
			}
		}
		if len(n.QueueConfigurations) == 0 {
			t.Errorf("%s sends the queue nothing", c.source)
		}
	}

	// The setup function records what it did, as evidence.
	configs := map[string]ledger.Item{}
	err := w.ledger.Period(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if ledger.IsConfig(it) {
			if _, twice := configs[it.Bucket]; twice {
				t.Errorf("more than one configuration record for %s", it.Bucket)
			}
			configs[it.Bucket] = it
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{source, source2} {
		if c, ok := configs[b]; !ok || c.RequestType != "Create" || c.Status != "SUCCESS" {
			t.Fatalf("configuration evidence for %s: %+v", b, configs)
		}
	}
	if len(configs) != 2 {
		t.Fatalf("configuration evidence: %+v", configs)
	}
	kept := time.Unix(configs[source].TTL, 0).Sub(configs[source].EventTime)
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

// keys are uploaded to the first source; keys2 to the second.
var (
	keys = []string{
		"reports/2026/Q3 summary.pdf",
		"photos/été/plage à midi.jpg",
		"data/売上_2026.csv",
		"odd/100% a+b=c.txt",
	}
	keys2 = []string{
		"app/2026/12/01/api.log.gz",
		"app/ünïcode/ä b+c.log",
	}
)

// upload is one version written to a source, and the destination its
// stack's rule replicates it to.
type upload struct{ bucket, destination, key, version string }

// put uploads to the first source.
func (w *world) put(key string) upload { return w.putTo(source, destination, key) }

func (w *world) putTo(bucket, destination, key string) upload {
	w.t.Helper()
	out, err := w.src.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("contents of " + key)})
	if err != nil {
		w.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return upload{bucket: bucket, destination: destination, key: key, version: aws.ToString(out.VersionId)}
}

func (u upload) ledgerKey() ledger.Key {
	return ledger.KeyOf(u.bucket, u.key, u.version, u.destination)
}

// item waits until the ledger's item for an upload satisfies ok.
func (w *world) item(u upload, timeout time.Duration, what string, ok func(ledger.Item) error) ledger.Item {
	w.t.Helper()
	var it ledger.Item
	sandboxtest.EventuallyNoError(w.t, timeout, u.bucket+"/"+u.key+": "+what, func() error {
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
	for i := range max(len(keys), len(keys2)) {
		if i < len(keys) {
			ups = append(ups, w.put(keys[i]))
		}
		if i < len(keys2) {
			ups = append(ups, w.putTo(source2, destination2, keys2[i]))
		}
	}
	rules := map[string]string{source: w.st.Resource("Replication").Attrs["RuleIds"], source2: w.entryRule()}
	for _, u := range ups {
		it := w.item(u, 15*time.Second, "VERIFIED", verdict(audit.Verified))
		if it.Replica == nil || it.Replica.VersionID != u.version || it.Replica.Status != "REPLICA" || it.LagSeconds == nil {
			t.Errorf("%s/%s: replica %+v, lag %v", u.bucket, u.key, it.Replica, it.LagSeconds)
		}
		if it.Bucket != u.bucket || it.ObjectKey != u.key || it.Destination != u.destination || it.RuleID != rules[u.bucket] {
			t.Errorf("the ledger keeps %s/%s to %s under rule %s for %s/%s, whose rule is %s", it.Bucket, it.ObjectKey, it.Destination, it.RuleID, u.bucket, u.key, rules[u.bucket])
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
	if a.JSON["kind"] != kind || a.Attributes["verdict"] != verdict || a.Attributes["bucket"] != u.bucket || a.JSON["key"] != u.key || a.JSON["versionId"] != u.version {
		w.t.Errorf("message: subject %q, attributes %v, JSON %v; want kind %s, verdict %s about %s/%s %s", a.Subject, a.Attributes, a.JSON, kind, verdict, u.bucket, u.key, u.version)
	}
}

// denied denies the second source's destination. S3's failure event names
// the entry's rule: had the auditor not audited it (ADDITIONAL_SOURCES,
// STACK_ID), it would count the event OutOfScope, and page nobody.
func (w *world) denied(t *testing.T) {
	if err := w.sb.InjectFault(sandbox.Fault{Bucket: destination2, Kind: sandbox.FaultDeny}); err != nil {
		t.Fatal(err)
	}
	u := w.putTo(source2, destination2, "app/2026/12/02/payments.log.gz")
	it := w.item(u, 15*time.Second, "FAILED and paged", func(it ledger.Item) error {
		if it.Verdict != audit.Failed || it.Alert != incident.Sent {
			return fmt.Errorf("verdict %s, alert %q", it.Verdict, it.Alert)
		}
		return nil
	})
	w.sb.ClearFaults(destination2)
	if it.FailureReason != sandbox.DefaultDenyReason || it.RuleID != w.entryRule() {
		t.Errorf("failure reason %q under rule %s, want %s under %s", it.FailureReason, it.RuleID, sandbox.DefaultDenyReason, w.entryRule())
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

// withParams is the stack's parameters with some changed.
func withParams(params map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// updateParams are the parameters of the first update: the first source's
// rule moves to a prefix, and both sources' replicas to a storage class.
func updateParams(params map[string]string) map[string]string {
	return withParams(params, "ReplicationPrefix", "reports/", "DestinationStorageClass", "STANDARD_IA")
}

func (w *world) updated(t *testing.T, params map[string]string) {
	st := w.st
	entryID := entryResources().replication
	physical := map[string]string{"Replication": st.Resource("Replication").Ref, entryID: st.Resource(entryID).Ref}
	asked := len(st.Answers())
	changes, err := st.Update(w.ctx, updateParams(params))
	if err != nil {
		t.Fatal(err)
	}
	// The prefix is the first source's; the storage class, both sources'.
	if want := []e2e.Change{{LogicalID: "Replication", Action: e2e.Updated}, {LogicalID: entryID, Action: e2e.Updated}}; !sameChanges(changes, want) {
		t.Errorf("the update: got %v, want %v", changes, want)
	}
	for _, a := range st.Answers()[asked:] {
		if a.RequestType != cfn.RequestUpdate || a.Response.Status != cfn.StatusSuccess || a.Response.PhysicalResourceID != physical[a.LogicalID] {
			t.Errorf("the Update's answer: %+v; want SUCCESS with PhysicalResourceId %s", a, physical[a.LogicalID])
		}
	}
	for bucket, prefix := range map[string]string{source: "reports/", source2: ""} {
		rep, err := w.src.GetBucketReplication(w.ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		rules := rep.ReplicationConfiguration.Rules
		if len(rules) != 1 || rules[0].Filter == nil || aws.ToString(rules[0].Filter.Prefix) != prefix || rules[0].Destination.StorageClass != s3types.StorageClassStandardIa {
			t.Errorf("%s's rules after the update: %s", bucket, asJSON(rules))
		}
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

	for _, u := range []upload{w.put("reports/2027/plan.pdf"), w.putTo(source2, destination2, "app/2027/01/01/api.log.gz")} {
		w.item(u, 15*time.Second, "VERIFIED after the update", verdict(audit.Verified))
		dst := map[string]*s3.Client{destination: w.dst, destination2: w.dst2}[u.destination]
		h, err := dst.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(u.destination), Key: aws.String(u.key), VersionId: aws.String(u.version)})
		if err != nil || h.StorageClass != s3types.StorageClassStandardIa {
			t.Errorf("%s/%s's replica's storage class: %v, %v", u.destination, u.key, h.StorageClass, err)
		}
	}
	if got := w.newAlerts(); len(got) != 0 {
		t.Errorf("alerts after the update: %+v", got)
	}
}

// dropped removes the entry. CloudFormation updates what the removal
// changes first (the functions' environment, the queue's policy), then,
// in its cleanup, deletes the entry's resources, each before what it
// refers to: the Custom::S3Replication resource gets its Delete while the
// policy letting the setup function configure the bucket still stands,
// though SOURCE_BUCKETS no longer names it. The first source's resource
// is not even updated.
func (w *world) dropped(t *testing.T, params map[string]string) {
	st := w.st
	ids := entryResources()
	entryID := ids.replication
	physical := st.Resource(entryID).Ref
	first := w.snapshot(source)
	asked := len(st.Answers())
	changes, err := st.Update(w.ctx, withParams(updateParams(params), "AdditionalSources", ""))
	if err != nil {
		t.Fatal(err)
	}
	want := []e2e.Change{
		{LogicalID: "EventQueuePolicy", Action: e2e.Updated}, // any bucket of the account no longer sends
		{LogicalID: "ReplicationAuditorFunction", Action: e2e.Updated},
		{LogicalID: "ReplicationSetupFunction", Action: e2e.Updated},
		{LogicalID: "ReplicationSweeperFunction", Action: e2e.Updated},
		{LogicalID: entryID, Action: e2e.Deleted},
		{LogicalID: ids.setupAccess, Action: e2e.Deleted},
		{LogicalID: ids.role, Action: e2e.Deleted},
		{LogicalID: ids.auditAccess, Action: e2e.Deleted},
	}
	if !sameChanges(changes, want) {
		t.Errorf("the update: got %v, want %v", changes, want)
	}
	// Deletes come after every update, each before what it refers to.
	at := map[string]int{}
	lastUpdate, firstDelete := -1, len(changes)
	for i, c := range changes {
		at[c.LogicalID] = i
		if c.Action == e2e.Deleted {
			firstDelete = min(firstDelete, i)
		} else {
			lastUpdate = i
		}
	}
	if lastUpdate > firstDelete {
		t.Errorf("a delete before an update: %v", changes)
	}
	if !(at[entryID] < at[ids.setupAccess] && at[ids.setupAccess] < at[ids.role]) {
		t.Errorf("the entry's resources deleted in the order %v; want its Custom::S3Replication, the policy that Requires, then the role the policy names", changes)
	}
	answers := st.Answers()[asked:]
	if len(answers) != 1 || answers[0].LogicalID != entryID || answers[0].RequestType != cfn.RequestDelete ||
		answers[0].Response.Status != cfn.StatusSuccess || answers[0].Response.PhysicalResourceID != physical {
		t.Errorf("the update's requests: %+v; want one Delete of %s, SUCCESS", answers, entryID)
	}
	if st.Resource(entryID) != nil || st.Resource("Replication") == nil {
		t.Errorf("after the update, %s is in the stack: %v; Replication: %v", entryID, st.Resource(entryID) != nil, st.Resource("Replication") != nil)
	}
	for _, id := range []string{"ReplicationAuditorFunction", "ReplicationSweeperFunction"} {
		if env := st.Function(id).Env(); !slices.Contains(env, "ADDITIONAL_SOURCES=") {
			t.Errorf("%s runs with %v after the update", id, env)
		}
	}

	// The second source is as it was before the stack; the first, as the
	// stack left it.
	w.asBefore(source2, "after the update that removed it")
	if after := w.snapshot(source); after != first {
		t.Errorf("the update that removed the second source changed the first:\nbefore %s\nafter  %s", first, after)
	}

	// Uploads to both: the first is audited as before, the second no
	// longer reaches the queue. Its event, had S3 sent one, would be
	// visible no later than the first's, which it precedes: once the
	// first's is VERIFIED and the queue holds no more than before (the
	// denied upload's first delivery waits out the visibility timeout),
	// the auditor would have recorded it.
	waiting := w.queued()
	gone := w.putTo(source2, destination2, "app/2027/02/01/api.log.gz")
	u := w.put("reports/2027/forecast.pdf")
	w.item(u, 15*time.Second, "VERIFIED after the second source left", verdict(audit.Verified))
	sandboxtest.Eventually(t, 5*time.Second, "the queue drained", func() bool { return w.queued() <= waiting })
	var items []string
	err = w.ledger.Period(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if it.Bucket == source2 && it.ObjectKey == gone.key {
			items = append(items, it.SK)
		}
		return nil
	})
	if err != nil || len(items) != 0 {
		t.Errorf("the ledger has %v for %s/%s, an upload after its source left the stack (%v)", items, source2, gone.key, err)
	}
	h, err := w.src.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(source2), Key: aws.String(gone.key), VersionId: aws.String(gone.version)})
	if err != nil || h.ReplicationStatus != "" {
		t.Errorf("%s/%s after its source left: replication status %q, %v; want none", source2, gone.key, h.ReplicationStatus, err)
	}
	if got := w.newAlerts(); len(got) != 0 {
		t.Errorf("alerts after the update: %+v", got)
	}
}

// queued counts the messages in the events queue, visible, in flight or
// delayed.
func (w *world) queued() int {
	w.t.Helper()
	cfg, err := w.sb.AWSConfig(w.ctx, sourceRegion)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := sqs.NewFromConfig(cfg).GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(w.st.Resource("EventQueue").Ref),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, a := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
		var k int
		if _, err := fmt.Sscan(out.Attributes[a], &k); err != nil {
			w.t.Fatalf("%s %q: %v", a, out.Attributes[a], err)
		}
		n += k
	}
	return n
}

// sameChanges compares an update's changes as sets: Order breaks ties by
// name, which says nothing of CloudFormation's.
func sameChanges(got, want []e2e.Change) bool {
	key := func(c e2e.Change) string { return c.LogicalID + " " + c.Action }
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = key(got[i])
	}
	for i := range want {
		w[i] = key(want[i])
	}
	sort.Strings(g)
	sort.Strings(w)
	return slices.Equal(g, w)
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
	if got, ok := outcomes[entryResources().replication]; ok {
		t.Errorf("the Delete met the removed entry's resource again: %s", got)
	}
	answers := w.st.Answers()
	if last := answers[len(answers)-1]; last.LogicalID != "Replication" || last.RequestType != cfn.RequestDelete || last.Response.Status != cfn.StatusSuccess {
		t.Errorf("the Delete's answer: %+v", last)
	}
	w.asBefore(source, "after the delete")
	w.asBefore(source2, "after the delete")
	for _, b := range []struct {
		c    *s3.Client
		name string
	}{{w.src, source}, {w.dst, destination}, {w.src, source2}, {w.dst2, destination2}} {
		v, err := b.c.GetBucketVersioning(w.ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.name)})
		if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
			t.Errorf("%s versioning after the delete: %v, %v (S3 cannot turn it off)", b.name, v, err)
		}
	}
	// The evidence outlives the stack: the verdicts, and what the setup
	// function did at each request, for each source.
	if it, err := w.ledger.Get(w.ctx, w.failed); err != nil || it.Verdict != audit.Failed {
		t.Errorf("the ledger after the delete: %s, %v", it.Verdict, err)
	}
	requests := map[string][]string{}
	err = w.ledger.Period(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if ledger.IsConfig(it) {
			requests[it.Bucket] = append(requests[it.Bucket], it.RequestType+" "+it.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One Update each: the removal did not touch the first source.
	want := []string{"Create SUCCESS", "Delete SUCCESS", "Update SUCCESS"}
	for _, b := range []string{source, source2} {
		sort.Strings(requests[b])
		if !slices.Equal(requests[b], want) {
			t.Errorf("configuration evidence for %s: %v; want %v", b, requests[b], want)
		}
	}
	if len(requests) != 2 {
		t.Errorf("configuration evidence: %v", requests)
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
