package setup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/setup"
)

// The stack lives in the sandbox's account, where its queues are.
const (
	stackID = "arn:aws:cloudformation:us-east-1:" + sandbox.Account + ":stack/replaudit/6a1b2c3d-0000-4000-8000-000000000001"
	roleArn = "arn:aws:iam::" + sandbox.Account + ":role/replaudit-replication"
)

// scope is what the tests' function may configure, as the template sets
// SOURCE_BUCKETS and STACK_ID.
var scope = setup.Scope{Sources: []string{"src", "old-src", "new-src", "missing-src"}, StackID: stackID}

// responder stands in for CloudFormation's presigned ResponseURL and keeps
// every response it receives.
type responder struct {
	mu   sync.Mutex
	got  []cfn.Response
	size []int
	srv  *httptest.Server
}

func newResponder(t *testing.T) *responder {
	t.Helper()
	r := &responder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var resp cfn.Response
		if req.Method != http.MethodPut || json.Unmarshal(body, &resp) != nil {
			http.Error(w, "bad response", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, resp)
		r.size = append(r.size, len(body))
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *responder) responses() []cfn.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cfn.Response{}, r.got...)
}

// world is a sandbox, the setup wired to it, and CloudFormation's side.
type world struct {
	evidence evidence
	sb       *sandbox.Sandbox
	s3       func(region string) *s3.Client
	setup    *setup.Setup
	cfn      *responder
	n        int
	stack    string // the StackId requests carry
	logs     *sandboxtest.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{ReplicationDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	cfg, err := sb.AWSConfig(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	clients := setup.NewClients(cfg)
	logs := &sandboxtest.Buffer{}
	s, err := setup.New(clients, bucketregion.New(s3.NewFromConfig(cfg)), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{sb: sb, setup: s, cfn: newResponder(t), s3: func(region string) *s3.Client { return clients(region).(*s3.Client) }, stack: stackID, logs: logs}
	s.WithEvidence(&w.evidence).WithScope(scope).WithRoleChecks(sts.NewFromConfig(cfg), iam.NewFromConfig(cfg))
	// The stack's replication role, as the template makes it, for any
	// bucket the tests name.
	if _, err := sb.PutRole("replaudit-replication", replicationPolicy("*", "*")); err != nil {
		t.Fatal(err)
	}
	return w
}

// writes lists the calls that reached the sandbox since the last
// ResetCalls and would change something.
func (w *world) writes() []sandbox.Call {
	var out []sandbox.Call
	for _, c := range w.sb.Calls() {
		if strings.HasPrefix(c.Operation, "Put") || strings.HasPrefix(c.Operation, "Delete") || c.Operation == "CreateBucket" {
			out = append(out, c)
		}
	}
	return out
}

// evidence keeps what the setup records, in place of the ledger table.
type evidence struct {
	mu      sync.Mutex
	changes []ledger.ConfigChange
}

func (e *evidence) RecordConfig(_ context.Context, c ledger.ConfigChange) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.changes = append(e.changes, c)
	return nil
}

// bucket creates a bucket, versioned or not.
func (w *world) bucket(t *testing.T, name, region string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	c := w.s3(region)
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		t.Fatal(err)
	}
	if versioned {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
}

// send delivers one request through cfn.LambdaWrap and the Guard, as Lambda
// would, and returns the one response CloudFormation received for it.
func (w *world) send(t *testing.T, typ cfn.RequestType, physicalID string, props, old map[string]any) cfn.Response {
	t.Helper()
	w.n++
	ev := cfn.Event{
		RequestType: typ, RequestID: "req-" + string(rune('a'+w.n)), ResponseURL: w.cfn.srv.URL + "/response",
		ResourceType: "Custom::S3Replication", LogicalResourceID: "Replication", StackID: w.stack,
		PhysicalResourceID: physicalID, ResourceProperties: props, OldResourceProperties: old,
	}
	before := len(w.cfn.responses())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fn := cfn.LambdaWrap(setup.Guard(w.setup.Handle, 2*time.Second, slog.New(slog.DiscardHandler)))
	if _, err := fn(ctx, ev); err != nil {
		t.Fatalf("sending the response: %v", err)
	}
	got := w.cfn.responses()[before:]
	if len(got) != 1 {
		t.Fatalf("CloudFormation got %d responses, want exactly 1: %+v", len(got), got)
	}
	return got[0]
}

func props(source string, dests ...map[string]any) map[string]any {
	list := make([]any, len(dests))
	for i, d := range dests {
		list[i] = d
	}
	return map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:" + sandbox.Account + ":function:setup",
		"SourceBucket": source, "RoleArn": roleArn, "Destinations": list}
}

func dest(bucket, region string) map[string]any {
	return map[string]any{"Bucket": bucket, "Region": region}
}

func (w *world) replication(t *testing.T, bucket, region string) *types.ReplicationConfiguration {
	t.Helper()
	out, err := w.s3(region).GetBucketReplication(context.Background(), &s3.GetBucketReplicationInput{Bucket: aws.String(bucket)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "ReplicationConfigurationNotFoundError" {
			return nil
		}
		t.Fatal(err)
	}
	return out.ReplicationConfiguration
}

func (w *world) notifications(t *testing.T, bucket, region string) *s3.GetBucketNotificationConfigurationOutput {
	t.Helper()
	out, err := w.s3(region).GetBucketNotificationConfiguration(context.Background(), &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *world) versioning(t *testing.T, bucket, region string) types.BucketVersioningStatus {
	t.Helper()
	out, err := w.s3(region).GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Status
}

func ruleIDs(cfg *types.ReplicationConfiguration) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for _, r := range cfg.Rules {
		out = append(out, aws.ToString(r.ID))
	}
	return out
}

func mustSucceed(t *testing.T, r cfn.Response) {
	t.Helper()
	if r.Status != cfn.StatusSuccess {
		t.Fatalf("got %s: %s", r.Status, r.Reason)
	}
}

func TestCreateTurnsOnVersioningAndWritesTheRule(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", false)
	w.bucket(t, "dst", "ap-south-1", false)

	r := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "ap-south-1")), nil)
	mustSucceed(t, r)
	for bucket, region := range map[string]string{"src": "us-east-1", "dst": "ap-south-1"} {
		if got := w.versioning(t, bucket, region); got != types.BucketVersioningStatusEnabled {
			t.Errorf("versioning of %s: got %q, want Enabled", bucket, got)
		}
	}
	cfg := w.replication(t, "src", "us-east-1")
	if cfg == nil || len(cfg.Rules) != 1 {
		t.Fatalf("replication: got %+v, want one rule", cfg)
	}
	rule := cfg.Rules[0]
	if aws.ToString(cfg.Role) != roleArn || aws.ToString(rule.Destination.Bucket) != "arn:aws:s3:::dst" ||
		rule.DeleteMarkerReplication.Status != types.DeleteMarkerReplicationStatusEnabled ||
		rule.Destination.Metrics == nil || rule.Destination.ReplicationTime != nil {
		t.Errorf("rule: got %+v, want role, destination, delete markers and metrics on, no RTC", rule)
	}
	if !strings.HasPrefix(r.PhysicalResourceID, "replaudit-") || !strings.HasSuffix(r.PhysicalResourceID, ":src") {
		t.Errorf("physical id: got %q", r.PhysicalResourceID)
	}
	want := map[string]any{"SourceBucketArn": "arn:aws:s3:::src", "DestinationBucketArns": "arn:aws:s3:::dst",
		"RuleIds": aws.ToString(rule.ID), "ReplicationKinds": "cross-region"}
	for k, v := range want {
		if r.Data[k] != v {
			t.Errorf("Data[%s]: got %v, want %v", k, r.Data[k], v)
		}
	}

	t.Run("the change is recorded as evidence", func(t *testing.T) {
		w.evidence.mu.Lock()
		defer w.evidence.mu.Unlock()
		if len(w.evidence.changes) != 1 {
			t.Fatalf("got %d records, want 1", len(w.evidence.changes))
		}
		c := w.evidence.changes[0]
		if c.Bucket != "src" || c.RequestType != "Create" || c.Status != "SUCCESS" || len(c.RuleIDs) != 1 || !strings.Contains(c.Rules, "arn:aws:s3:::dst") {
			t.Errorf("evidence: %+v", c)
		}
	})
	t.Run("objects now replicate", func(t *testing.T) {
		ctx := context.Background()
		out, err := w.s3("us-east-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("k"), Body: strings.NewReader("x")})
		if err != nil {
			t.Fatal(err)
		}
		sandboxtest.EventuallyNoError(t, 5*time.Second, "the replica in dst", func() error {
			h, err := w.s3("ap-south-1").HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"), VersionId: out.VersionId})
			if err != nil {
				return err
			}
			if h.ReplicationStatus != "REPLICA" {
				return fmt.Errorf("got replication status %q, want REPLICA", h.ReplicationStatus)
			}
			return nil
		})
	})
}

func TestForeignRulesAndNotificationsSurviveEveryRequest(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	w.bucket(t, "theirs", "eu-west-1", true)
	queue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "auditor"})
	theirQueue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "their-queue"})
	foreignRule := types.ReplicationRule{
		ID: aws.String("their-rule"), Priority: aws.Int32(7), Status: types.ReplicationRuleStatusEnabled,
		Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("legal/")},
		DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
		Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::theirs"), StorageClass: types.StorageClassGlacier},
	}
	if _, err := w.s3("us-east-1").PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String(roleArn), Rules: []types.ReplicationRule{foreignRule}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s3("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{
			QueueConfigurations: []types.QueueConfiguration{{Id: aws.String("their-thumbnails"), QueueArn: aws.String(theirQueue),
				Events: []types.Event{"s3:ObjectCreated:*"},
				Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNameSuffix, Value: aws.String(".jpg")}}}}}},
			EventBridgeConfiguration: &types.EventBridgeConfiguration{},
		}}); err != nil {
		t.Fatal(err)
	}
	beforeRules := w.replication(t, "src", "us-east-1")

	p := props("src", dest("dst", "ap-south-1"))
	p["Prefix"] = "data/"
	p["NotificationQueueArn"] = queue
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	// their .jpg entry overlaps ObjectCreated for data/*.jpg keys
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "their-thumbnails") {
		t.Fatalf("an overlapping foreign entry: got %s %q, want FAILED naming their-thumbnails", r.Status, r.Reason)
	}
	if got := w.replication(t, "src", "us-east-1"); !sameJSON(got, beforeRules) {
		t.Errorf("the refused Create wrote rules: %s", js(got))
	}
	mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p, nil))

	// Narrow theirs so that it no longer overlaps, as the Reason told them.
	if _, err := w.s3("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{
			QueueConfigurations: []types.QueueConfiguration{{Id: aws.String("their-thumbnails"), QueueArn: aws.String(theirQueue),
				Events: []types.Event{"s3:ObjectCreated:*"},
				Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: types.FilterRuleNamePrefix, Value: aws.String("images/")}}}}}},
			EventBridgeConfiguration: &types.EventBridgeConfiguration{},
		}}); err != nil {
		t.Fatal(err)
	}
	beforeNotes := w.notifications(t, "src", "us-east-1")

	r = w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)
	afterCreate := w.replication(t, "src", "us-east-1")
	if ids := ruleIDs(afterCreate); len(ids) != 2 || ids[0] != "their-rule" {
		t.Errorf("after Create: rules %v, want their-rule and ours", ids)
	}
	if pr := aws.ToInt32(afterCreate.Rules[1].Priority); pr <= 7 {
		t.Errorf("our priority %d collides with or sits under theirs (7)", pr)
	}
	n := w.notifications(t, "src", "us-east-1")
	if len(n.QueueConfigurations) != 4 || n.EventBridgeConfiguration == nil {
		t.Errorf("after Create: %d queue entries, EventBridge %v; want theirs plus three, EventBridge kept", len(n.QueueConfigurations), n.EventBridgeConfiguration != nil)
	}

	p2 := props("src", dest("dst", "ap-south-1"))
	p2["Prefix"] = "data/v2/"
	p2["NotificationQueueArn"] = queue
	mustSucceed(t, w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p2, p))
	if got := w.replication(t, "src", "us-east-1"); aws.ToString(got.Rules[0].ID) != "their-rule" || len(got.Rules) != 2 {
		t.Errorf("after Update: rules %v", ruleIDs(got))
	}

	mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p2, nil))
	if got := w.replication(t, "src", "us-east-1"); !sameJSON(got, beforeRules) {
		t.Errorf("replication after Delete:\ngot  %s\nwant %s", js(got), js(beforeRules))
	}
	if got := w.notifications(t, "src", "us-east-1"); !sameJSON(got.QueueConfigurations, beforeNotes.QueueConfigurations) || got.EventBridgeConfiguration == nil {
		t.Errorf("notifications after Delete:\ngot  %s\nwant %s", js(got), js(beforeNotes))
	}
	if got := w.versioning(t, "src", "us-east-1"); got != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning after Delete: got %q, want it left Enabled", got)
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func sameJSON(a, b any) bool { return js(a) == js(b) }

func TestUpdateChangesThePrefixAndTheStorageClass(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	p := props("src", dest("dst", "ap-south-1"))
	r := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, r)

	d := dest("dst", "ap-south-1")
	d["StorageClass"] = "STANDARD_IA"
	p2 := props("src", d)
	p2["Prefix"] = "reports/"
	u := w.send(t, cfn.RequestUpdate, r.PhysicalResourceID, p2, p)
	mustSucceed(t, u)
	if u.PhysicalResourceID != r.PhysicalResourceID {
		t.Errorf("physical id changed on an Update of the same source: %q -> %q", r.PhysicalResourceID, u.PhysicalResourceID)
	}
	cfg := w.replication(t, "src", "us-east-1")
	if len(cfg.Rules) != 1 {
		t.Fatalf("rules: got %v, want one", ruleIDs(cfg))
	}
	rule := cfg.Rules[0]
	if aws.ToString(rule.Filter.Prefix) != "reports/" || rule.Destination.StorageClass != types.StorageClassStandardIa {
		t.Errorf("rule after Update: prefix %q storage class %q, want reports/ and STANDARD_IA", aws.ToString(rule.Filter.Prefix), rule.Destination.StorageClass)
	}
}

func TestUpdateChangingTheSourceBucketReplacesTheResource(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "old-src", "us-east-1", true)
	w.bucket(t, "new-src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	oldProps := props("old-src", dest("dst", "ap-south-1"))
	created := w.send(t, cfn.RequestCreate, "", oldProps, nil)
	mustSucceed(t, created)

	newProps := props("new-src", dest("dst", "ap-south-1"))
	updated := w.send(t, cfn.RequestUpdate, created.PhysicalResourceID, newProps, oldProps)
	mustSucceed(t, updated)
	if updated.PhysicalResourceID == created.PhysicalResourceID {
		t.Fatalf("a new source kept the physical id %q; CloudFormation would not clean up the old one", updated.PhysicalResourceID)
	}
	// CloudFormation now deletes the old physical resource, with the old properties.
	mustSucceed(t, w.send(t, cfn.RequestDelete, created.PhysicalResourceID, oldProps, nil))
	if got := w.replication(t, "old-src", "us-east-1"); got != nil {
		t.Errorf("old source still has rules %v", ruleIDs(got))
	}
	if got := ruleIDs(w.replication(t, "new-src", "us-east-1")); len(got) != 1 {
		t.Errorf("new source rules: got %v, want one", got)
	}
}

func TestAFailedCreateIsFollowedByADeleteThatSucceeds(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	cases := map[string]map[string]any{
		"a destination that does not exist": props("src", dest("nowhere", "ap-south-1")),
		"properties that do not parse":      {"SourceBucket": 42, "Destinations": "nope"},
		"a source that does not exist":      props("missing-src", dest("dst", "ap-south-1")),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			r := w.send(t, cfn.RequestCreate, "", p, nil)
			if r.Status != cfn.StatusFailed || r.PhysicalResourceID == "" {
				t.Fatalf("Create: got %s with id %q, want FAILED with an id", r.Status, r.PhysicalResourceID)
			}
			mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, p, nil))
		})
	}
	if got := w.replication(t, "src", "us-east-1"); got != nil {
		t.Errorf("failed creates left rules %v", ruleIDs(got))
	}
}

func TestStringTypedPropertiesAsCloudFormationSendsThem(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	raw := `{"ServiceToken":"arn:aws:lambda:us-east-1:` + sandbox.Account + `:function:setup","ServiceTimeout":"300",
		"SourceBucket":"src","RoleArn":"` + roleArn + `","Prefix":"logs/",
		"Destinations":[{"Bucket":"dst","Region":"ap-south-1","CreateIfMissing":"false","StorageClass":"standard_ia"}],
		"DeleteMarkerReplication":"false","ReplicationTimeControl":"true","Metrics":"true","ReplicateSseKmsObjects":"false"}`
	var p map[string]any
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, w.send(t, cfn.RequestCreate, "", p, nil))
	rule := w.replication(t, "src", "us-east-1").Rules[0]
	if rule.DeleteMarkerReplication.Status != types.DeleteMarkerReplicationStatusDisabled || rule.Destination.ReplicationTime == nil ||
		rule.Destination.StorageClass != types.StorageClassStandardIa {
		t.Errorf("rule: got %s", js(rule))
	}
}

func TestAReplayedCreateChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	queue, _ := w.sb.CreateQueue(sandbox.QueueOptions{Name: "auditor"})
	p := props("src", dest("dst", "ap-south-1"))
	p["NotificationQueueArn"] = queue
	first := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, first)
	before := js(w.replication(t, "src", "us-east-1"))
	w.sb.ResetCalls()

	again := w.send(t, cfn.RequestCreate, "", p, nil)
	mustSucceed(t, again)
	if again.PhysicalResourceID != first.PhysicalResourceID {
		t.Errorf("physical id: got %q then %q", first.PhysicalResourceID, again.PhysicalResourceID)
	}
	for _, c := range w.writes() {
		t.Errorf("the replay wrote: %d %s on %s", c.Count, c.Operation, c.Resource)
	}
	if after := js(w.replication(t, "src", "us-east-1")); after != before {
		t.Errorf("configuration changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestCreateIfMissingMakesASafeDestination(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	d := dest("fresh-dst", "eu-west-1")
	d["CreateIfMissing"] = "true"
	r := w.send(t, cfn.RequestCreate, "", props("src", d), nil)
	mustSucceed(t, r)
	c := w.s3("eu-west-1")
	if got := w.versioning(t, "fresh-dst", "eu-west-1"); got != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning: got %q", got)
	}
	pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("fresh-dst")})
	if err != nil || !aws.ToBool(pab.PublicAccessBlockConfiguration.BlockPublicAcls) || !aws.ToBool(pab.PublicAccessBlockConfiguration.RestrictPublicBuckets) {
		t.Errorf("public access block: %+v %v", pab, err)
	}
	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("fresh-dst")})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), `"aws:SecureTransport":"false"`) {
		t.Errorf("policy: %v %v", pol, err)
	}
	if !strings.Contains(r.Data["Notes"].(string), "Created fresh-dst in eu-west-1") {
		t.Errorf("Notes: %v", r.Data["Notes"])
	}
	mustSucceed(t, w.send(t, cfn.RequestDelete, r.PhysicalResourceID, props("src", d), nil))
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("fresh-dst")}); err != nil {
		t.Errorf("the created destination was not retained: %v", err)
	}
}

func TestSameRegionReplicationIsAcceptedAndSaidSo(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "near", "us-east-1", true)
	r := w.send(t, cfn.RequestCreate, "", props("src", dest("near", "")), nil)
	mustSucceed(t, r)
	if r.Data["ReplicationKinds"] != "same-region" || !strings.Contains(r.Data["Notes"].(string), "same-region replication") {
		t.Errorf("Data: %v", r.Data)
	}
}

func TestCreateRefusesWhatWouldClobber(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	w.bucket(t, "theirs", "ap-south-1", true)
	_, err := w.s3("us-east-1").PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::111122223333:role/their-role"), Rules: []types.ReplicationRule{{
			ID: aws.String("their-rule"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::theirs")},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	before := js(w.replication(t, "src", "us-east-1"))
	r := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "ap-south-1")), nil)
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "their-role") {
		t.Errorf("another role: got %s %q, want FAILED naming their role", r.Status, r.Reason)
	}
	if after := js(w.replication(t, "src", "us-east-1")); after != before {
		t.Errorf("the refused Create changed the configuration:\n%s\n%s", before, after)
	}
}

func TestS3ThatKeepsFailingGivesOneClearFailure(t *testing.T) {
	w := newWorld(t)
	w.bucket(t, "src", "us-east-1", true)
	w.bucket(t, "dst", "ap-south-1", true)
	if err := w.sb.InjectFault(sandbox.Fault{Bucket: "src", Kind: sandbox.FaultSlowdown, Share: 1}); err != nil {
		t.Fatal(err)
	}
	r := w.send(t, cfn.RequestCreate, "", props("src", dest("dst", "ap-south-1")), nil)
	// Every call to the bucket answers 503; the SDK retries, then one FAILED.
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "503") || !strings.Contains(r.Reason, "src") {
		t.Errorf("got %s %q, want FAILED naming the bucket and S3's 503", r.Status, r.Reason)
	}
}
