package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// scene is a sandbox with a source in us-east-1 replicating to destinations
// in ap-south-1, a queue of the source's events, and a checker.
type scene struct {
	sb      *sandbox.Sandbox
	s3      func(region string) *s3.Client
	queue   string
	checker *audit.Checker
}

func newScene(t *testing.T, dests ...string) *scene {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{ReplicationDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	clients := map[string]*s3.Client{}
	get := func(region string) *s3.Client {
		if c, ok := clients[region]; ok {
			return c
		}
		cfg, _ := sb.AWSConfig(ctx, region)
		clients[region] = s3.NewFromConfig(cfg)
		return clients[region]
	}
	sc := &scene{sb: sb, s3: get}
	sc.bucket(t, "src", "us-east-1")
	for _, d := range dests {
		sc.bucket(t, d, "ap-south-1")
	}
	sc.queue, _ = sb.CreateQueue(sandbox.QueueOptions{Name: "events"})
	if _, err := get("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String(sc.queue), Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"}}}},
	}); err != nil {
		t.Fatal(err)
	}
	sc.checker, err = audit.New(audit.Options{Clients: func(region string) audit.S3 { return get(region) }, Regions: bucketregion.New(get("us-east-1"))})
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (sc *scene) bucket(t *testing.T, name, region string) {
	t.Helper()
	ctx := context.Background()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	c := sc.s3(region)
	if _, err := c.CreateBucket(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
}

func (sc *scene) replicate(t *testing.T, deleteMarkers bool, dests ...string) {
	t.Helper()
	sc.replicateWith(t, deleteMarkers, true, dests...)
}

func (sc *scene) replicateWith(t *testing.T, deleteMarkers, metrics bool, dests ...string) {
	t.Helper()
	var rules []types.ReplicationRule
	for i, d := range dests {
		dm := types.DeleteMarkerReplicationStatusDisabled
		if deleteMarkers {
			dm = types.DeleteMarkerReplicationStatusEnabled
		}
		rules = append(rules, types.ReplicationRule{ID: aws.String("to-" + d), Priority: aws.Int32(int32(i + 1)), Status: types.ReplicationRuleStatusEnabled,
			Filter: &types.ReplicationRuleFilter{Prefix: aws.String("")}, DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: dm},
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::" + d)}})
		if metrics {
			rules[i].Destination.Metrics = &types.Metrics{Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
		}
	}
	if _, err := sc.s3("us-east-1").PutBucketReplication(context.Background(), &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/r"), Rules: rules}}); err != nil {
		t.Fatal(err)
	}
}

func (sc *scene) put(t *testing.T, key, body string) string {
	t.Helper()
	out, err := sc.s3("us-east-1").PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// records takes the queued notifications, as the auditor receives them.
func (sc *scene) records(t *testing.T, eventName string) []events.S3EventRecord {
	t.Helper()
	var out []events.S3EventRecord
	for _, m := range sc.sb.QueueMessages(sc.queue) {
		n, err := audit.ParseNotification(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range n.Records {
			if r.EventName == eventName {
				out = append(out, r)
			}
		}
	}
	return out
}

func (sc *scene) check(t *testing.T, r events.S3EventRecord) []audit.Finding {
	t.Helper()
	fs, err := sc.checker.Check(context.Background(), r)
	if err != nil {
		t.Fatalf("check %s %s: %v", r.EventName, r.S3.Object.Key, err)
	}
	return fs
}

func (sc *scene) status(t *testing.T, key, version string) string {
	out, err := sc.s3("us-east-1").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.ReplicationStatus)
}

func TestAReplicatedObjectIsVerifiedWithOneHEADPerDestination(t *testing.T) {
	sc := newScene(t, "dst-a", "dst-b")
	sc.replicate(t, false, "dst-a", "dst-b")
	v := sc.put(t, "reports/Q3 summary+final.pdf", "hello")
	sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "reports/Q3 summary+final.pdf", v) == "COMPLETED" })
	recs := sc.records(t, "ObjectCreated:Put")
	sc.checker.Config(context.Background(), "src") // warm the caches, as a running auditor has them
	sc.checker.Region(context.Background(), "dst-a")
	sc.checker.Region(context.Background(), "dst-b")
	sc.sb.ResetCalls()

	fs := sc.check(t, recs[0])
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want one per destination", len(fs))
	}
	for _, f := range fs {
		if f.Verdict != audit.Verified || f.Key != "reports/Q3 summary+final.pdf" || f.Replica == nil || f.Replica.VersionID != v || f.DestinationRegion != "ap-south-1" {
			t.Errorf("finding: %+v", f)
		}
		if lag, ok := f.Lag(); !ok || lag <= 0 {
			t.Errorf("lag: %v %v", lag, ok)
		}
	}
	heads := map[string]int{}
	for _, c := range sc.sb.Calls() {
		if c.Service == "s3" {
			heads[c.Operation+" "+c.Resource] += c.Count
		}
	}
	if len(heads) != 2 || heads["HeadObject dst-a"] != 1 || heads["HeadObject dst-b"] != 1 {
		t.Errorf("calls: got %v, want exactly one HEAD per destination and nothing else", heads)
	}
}

func TestEachVerdictFromItsCause(t *testing.T) {
	sc := newScene(t, "dst")
	ctx := context.Background()
	old := sc.put(t, "before-the-rule", "x")
	sc.replicate(t, true, "dst")

	t.Run("NOT_REPLICATED for an object written before the rule", func(t *testing.T) {
		f := sc.check(t, sc.records(t, "ObjectCreated:Put")[0])[0]
		if f.Verdict != audit.NotReplicated || f.VersionID != old {
			t.Errorf("got %+v", f)
		}
	})
	t.Run("PENDING during an outage, never FAILED", func(t *testing.T) {
		_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
		defer sc.sb.ClearFaults("")
		sc.put(t, "held", "x")
		recs := sc.records(t, "ObjectCreated:Put")
		if f := sc.check(t, recs[len(recs)-1])[0]; f.Verdict != audit.Pending {
			t.Errorf("got %+v", f)
		}
	})
	t.Run("FAILED from the source status and from the failure event", func(t *testing.T) {
		_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny, Reason: "DstKmsKeyNotFound"})
		defer sc.sb.ClearFaults("")
		v := sc.put(t, "denied", "x")
		sandboxtest.Eventually(t, 5*time.Second, "FAILED", func() bool { return sc.status(t, "denied", v) == "FAILED" })
		var failure events.S3EventRecord
		sandboxtest.Eventually(t, 5*time.Second, "the failure event", func() bool {
			for _, r := range sc.records(t, "Replication:OperationFailedReplication") {
				if r.S3.Object.Key == "denied" {
					failure = r
					return true
				}
			}
			return false
		})
		recs := sc.records(t, "ObjectCreated:Put")
		if f := sc.check(t, recs[len(recs)-1])[0]; f.Verdict != audit.Failed {
			t.Errorf("from the status: got %+v", f)
		}
		f := sc.check(t, failure)[0]
		if f.Verdict != audit.Failed || f.FailureReason != "DstKmsKeyNotFound" || f.Destination != "dst" || !strings.Contains(f.Detail, "KMS key") {
			t.Errorf("from the event: got %+v", f)
		}
	})
	t.Run("MISSING when the source says COMPLETED and the replica is gone", func(t *testing.T) {
		v := sc.put(t, "tampered", "original")
		sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "tampered", v) == "COMPLETED" })
		// Someone writes over the replica in the destination.
		if _, err := sc.s3("ap-south-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dst"), Key: aws.String("tampered"), Body: strings.NewReader("forged!")}); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.s3("ap-south-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("dst"), Key: aws.String("tampered"), VersionId: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
		recs := sc.records(t, "ObjectCreated:Put")
		f := sc.check(t, recs[len(recs)-1])[0]
		if f.Verdict != audit.Missing {
			t.Errorf("a deleted replica of a COMPLETED source: got %s, want MISSING (%s)", f.Verdict, f.Detail)
		}
	})
	t.Run("SUPERSEDED when the version is gone", func(t *testing.T) {
		_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
		defer sc.sb.ClearFaults("")
		v := sc.put(t, "short-lived", "x")
		if _, err := sc.s3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("short-lived"), VersionId: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
		recs := sc.records(t, "ObjectCreated:Put")
		if f := sc.check(t, recs[len(recs)-1])[0]; f.Verdict != audit.Superseded {
			t.Errorf("got %+v", f)
		}
		dels := sc.records(t, "ObjectRemoved:Delete")
		if f := sc.check(t, dels[len(dels)-1])[0]; f.Verdict != audit.DeleteNotReplicated {
			t.Errorf("the version delete: got %+v", f)
		}
	})
	t.Run("delete markers are verified in the destination", func(t *testing.T) {
		v := sc.put(t, "to-delete", "x")
		sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "to-delete", v) == "COMPLETED" })
		if _, err := sc.s3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("to-delete")}); err != nil {
			t.Fatal(err)
		}
		rec := sc.records(t, "ObjectRemoved:DeleteMarkerCreated")[0]
		sandboxtest.Eventually(t, 5*time.Second, "the replicated marker", func() bool { return sc.check(t, rec)[0].Verdict == audit.Verified })
	})
}

func TestDivergedWhenTheReplicaDiffers(t *testing.T) {
	sc := newScene(t, "dst")
	sc.replicate(t, false, "dst")
	v := sc.put(t, "k", "original")
	sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "k", v) == "COMPLETED" })
	rec := sc.records(t, "ObjectCreated:Put")[0]
	rec.S3.Object.Size = 999 // as if the source had been written with another size
	rec.S3.Object.ETag = "0123456789abcdef0123456789abcdef"
	f := sc.check(t, rec)[0]
	if f.Verdict != audit.Diverged || len(f.Differences) != 2 {
		t.Errorf("got %s with %v, want DIVERGED on size and ETag", f.Verdict, f.Differences)
	}
}

func TestAnUnreachableDestinationStaysPending(t *testing.T) {
	sc := newScene(t, "dst")
	sc.replicate(t, false, "dst")
	v := sc.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "k", v) == "COMPLETED" })
	sc.checker.Region(context.Background(), "dst")
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultSlowdown, Share: 1})
	f := sc.check(t, sc.records(t, "ObjectCreated:Put")[0])[0]
	// A HEAD answer has no body, so the SDK sees 503 ServiceUnavailable.
	if f.Verdict != audit.Pending || !strings.Contains(f.Detail, "503") {
		t.Errorf("got %s (%s), want PENDING naming the 503", f.Verdict, f.Detail)
	}
}

func TestMalformedRecordsGetAClearError(t *testing.T) {
	sc := newScene(t)
	cases := map[string]events.S3EventRecord{
		"a key that is not URL-encoded": {EventName: "ObjectCreated:Put", S3: events.S3Entity{Bucket: events.S3Bucket{Name: "src"}, Object: events.S3Object{Key: "bad%zz"}}},
		"no bucket":                     {EventName: "ObjectCreated:Put", S3: events.S3Entity{Object: events.S3Object{Key: "k"}}},
		"an unknown event":              {EventName: "ObjectRestore:Completed", S3: events.S3Entity{Bucket: events.S3Bucket{Name: "src"}, Object: events.S3Object{Key: "k"}}},
		"a failure without its data":    {EventName: "Replication:OperationFailedReplication", S3: events.S3Entity{Bucket: events.S3Bucket{Name: "src"}, Object: events.S3Object{Key: "k"}}},
	}
	for name, r := range cases {
		if _, err := sc.checker.Check(context.Background(), r); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	for _, body := range []string{"not json", `{"foo":1}`} {
		if _, err := audit.ParseNotification(body); err == nil {
			t.Errorf("ParseNotification(%q): no error", body)
		}
	}
	// One bad record does not take its neighbours with it.
	n, err := audit.ParseNotification(`{"Records":[{"eventSource":"aws:sqs"},{"eventSource":"aws:s3","s3":{"object":{"key":"bad%zz"}}},{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"good"}}}]}`)
	if err != nil || len(n.Records) != 1 || len(n.Malformed) != 2 || !errors.Is(n.Malformed[1], audit.ErrMalformed) || !strings.Contains(n.Malformed[1].Error(), "record 1") {
		t.Errorf("got %d records and %v, %v; want the good one, and two malformed named by index", len(n.Records), n.Malformed, err)
	}
	if n, err := audit.ParseNotification(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"src"}`); err != nil || !n.Test {
		t.Errorf("a test event: %+v %v", n, err)
	}
}

func TestOneDestinationsFailureIsNeverPinnedOnAnother(t *testing.T) {
	// Without Metrics, S3 sends no failure event: only the source's
	// aggregate status, FAILED as soon as any destination failed.
	sc := newScene(t, "dst-a", "dst-b")
	sc.replicateWith(t, false, false, "dst-a", "dst-b")
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst-a", Kind: sandbox.FaultDeny})
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst-b", Kind: sandbox.FaultOutage})
	v := sc.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "FAILED on the source", func() bool { return sc.status(t, "k", v) == "FAILED" })
	for _, f := range sc.check(t, sc.records(t, "ObjectCreated:Put")[0]) {
		if f.Verdict != audit.Pending {
			t.Errorf("%s during deny + outage: got %s (%s), want PENDING: the source's FAILED may be either's", f.Destination, f.Verdict, f.Detail)
		}
	}
	sc.sb.ClearFaults("dst-b")
	sandboxtest.Eventually(t, 5*time.Second, "the replica in dst-b", func() bool {
		_, err := sc.s3("ap-south-1").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("dst-b"), Key: aws.String("k"), VersionId: aws.String(v)})
		return err == nil
	})
	byDest := map[string]audit.Finding{}
	for _, f := range sc.check(t, sc.records(t, "ObjectCreated:Put")[0]) {
		byDest[f.Destination] = f
	}
	if f := byDest["dst-a"]; f.Verdict != audit.Failed {
		t.Errorf("dst-a once dst-b holds its replica: got %s (%s), want FAILED: the FAILED can only be dst-a's now", f.Verdict, f.Detail)
	}
	if f := byDest["dst-b"]; f.Verdict != audit.Verified {
		t.Errorf("dst-b: got %s, want VERIFIED", f.Verdict)
	}
	// The sweeper's recheck of one item draws the same conclusion.
	f, err := sc.checker.Recheck(context.Background(), audit.Finding{Bucket: "src", Key: "k", VersionID: v, Size: 1, Destination: "dst-a", RuleID: "to-dst-a", Verdict: audit.Pending})
	if err != nil || f.Verdict != audit.Failed {
		t.Errorf("recheck of dst-a: got %s, %v; want FAILED", f.Verdict, err)
	}
}

func TestADestinationReplauditMayNotReadCannotBeVerified(t *testing.T) {
	sc := newScene(t, "dst")
	sc.replicate(t, false, "dst")
	v := sc.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "k", v) == "COMPLETED" })
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultForbid})
	f := sc.check(t, sc.records(t, "ObjectCreated:Put")[0])[0]
	if f.Verdict != audit.CannotVerify || f.FailureReason != "Forbidden" || f.DestinationRegion != "ap-south-1" || !strings.Contains(f.Detail, "403") {
		t.Errorf("got %s reason %q region %q (%s), want CANNOT_VERIFY for Forbidden (a HEAD answer has no body) in ap-south-1", f.Verdict, f.FailureReason, f.DestinationRegion, f.Detail)
	}
	sc.sb.ClearFaults("dst")
	if f := sc.check(t, sc.records(t, "ObjectCreated:Put")[0])[0]; f.Verdict != audit.Verified {
		t.Errorf("readable again: got %s, want VERIFIED", f.Verdict)
	}
	t.Run("a destination bucket that does not exist", func(t *testing.T) {
		f, err := sc.checker.Recheck(context.Background(), audit.Finding{Bucket: "src", Key: "k", VersionID: v, Size: 1, Destination: "no-such-bucket", RuleID: "gone", Verdict: audit.Pending})
		if err != nil || f.Verdict != audit.CannotVerify || f.FailureReason != "NoSuchBucket" {
			t.Errorf("got %s %q, %v; want CANNOT_VERIFY NoSuchBucket", f.Verdict, f.FailureReason, err)
		}
	})
}

func TestAReplicationEventOfAnotherRuleIsOutOfScope(t *testing.T) {
	sc := newScene(t, "ours", "theirs")
	sc.replicate(t, false, "ours", "theirs")
	checker, err := audit.New(audit.Options{Clients: func(region string) audit.S3 { return sc.s3(region) }, Regions: bucketregion.New(sc.s3("us-east-1")), RuleIDs: []string{"to-ours"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "theirs", Kind: sandbox.FaultDeny})
	sc.put(t, "k", "x")
	var failure events.S3EventRecord
	sandboxtest.Eventually(t, 5*time.Second, "the failure event", func() bool {
		fs := sc.records(t, "Replication:OperationFailedReplication")
		if len(fs) > 0 {
			failure = fs[0]
		}
		return len(fs) > 0
	})
	sc.sb.ResetCalls()
	if _, err := checker.Check(context.Background(), failure); !errors.Is(err, audit.ErrOutOfScope) {
		t.Errorf("got %v, want ErrOutOfScope", err)
	}
	if calls := sc.sb.Calls(); len(calls) != 0 {
		t.Errorf("calls for a skipped event: %+v, want none", calls)
	}
}
