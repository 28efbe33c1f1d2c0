package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// twoRegions creates a versioned source in us-east-1 and destinations in
// ap-south-1, and a queue that receives every source event.
func twoRegions(t *testing.T, e *env, dests ...string) (queue string) {
	t.Helper()
	mustBucket(t, e.src, "src", srcRegion, true)
	for _, d := range dests {
		mustBucket(t, e.dst, d, dstRegion, true)
	}
	arn, err := e.sb.CreateQueue(sandbox.QueueOptions{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.src.PutBucketNotificationConfiguration(context.Background(), &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("all"), QueueArn: aws.String(arn),
			Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"},
		}}},
	})
	if err != nil {
		t.Fatalf("put notification: %v", err)
	}
	e.sb.ReceiveMessages(arn, 10) // the s3:TestEvent
	return arn
}

func rule(id string, priority int32, dest string, f *types.ReplicationRuleFilter, mods ...func(*types.ReplicationRule)) types.ReplicationRule {
	if f == nil {
		f = &types.ReplicationRuleFilter{Prefix: aws.String("")}
	}
	r := types.ReplicationRule{
		ID: aws.String(id), Priority: aws.Int32(priority), Status: types.ReplicationRuleStatusEnabled,
		Filter:                  f,
		DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
		Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + dest)},
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func withMetrics(r *types.ReplicationRule) {
	r.Destination.Metrics = &types.Metrics{Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
}

func withRTC(r *types.ReplicationRule) {
	withMetrics(r)
	r.Destination.ReplicationTime = &types.ReplicationTime{Status: types.ReplicationTimeStatusEnabled, Time: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
}

func putReplication(t *testing.T, c *s3.Client, bucket string, rules ...types.ReplicationRule) error {
	t.Helper()
	_, err := c.PutBucketReplication(context.Background(), &s3.PutBucketReplicationInput{
		Bucket: aws.String(bucket),
		ReplicationConfiguration: &types.ReplicationConfiguration{
			Role: aws.String("arn:aws:iam::000000000000:role/replication"), Rules: rules,
		},
	})
	return err
}

func status(t *testing.T, c *s3.Client, bucket, key, version string) string {
	t.Helper()
	return string(head(t, c, bucket, key, version).ReplicationStatus)
}

func waitStatus(t *testing.T, c *s3.Client, bucket, key, version, want string) {
	t.Helper()
	sandboxtest.Eventually(t, waitLimit, key+" "+want, func() bool { return status(t, c, bucket, key, version) == want })
}

// pastReplicationDelay replicates a probe on a bucket pair of its own,
// free of faults, and waits until it has replicated. The sandbox starts
// replicating a write before it answers it, and every copy first waits the
// same ReplicationDelay: once the probe, written last, has replicated,
// every write answered before it has had its delay too. A test that checks
// what replication has not done yet waits on this, where a sleep would be
// too short on a slow machine and pass by default.
func pastReplicationDelay(t *testing.T, e *env) {
	t.Helper()
	const src, dst = "probe-src", "probe-dst"
	if _, err := e.src.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(src)}); err != nil {
		mustBucket(t, e.src, src, srcRegion, true)
		mustBucket(t, e.dst, dst, dstRegion, true)
		if err := putReplication(t, e.src, src, rule("probe", 1, dst, nil)); err != nil {
			t.Fatal(err)
		}
	}
	v := put(t, e.src, src, "probe", "x")
	waitStatus(t, e.src, src, "probe", aws.ToString(v.VersionId), "COMPLETED")
}

func TestReplicationCopiesNewVersionsAndReportsStatus(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	before := put(t, e.src, "src", "old.txt", "written before the rule")
	if err := putReplication(t, e.src, "src", rule("all", 1, "dst", nil)); err != nil {
		t.Fatalf("put replication: %v", err)
	}

	got, err := e.src.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
	if err != nil {
		t.Fatalf("get replication: %v", err)
	}
	if r := got.ReplicationConfiguration.Rules; len(r) != 1 || aws.ToString(r[0].ID) != "all" || aws.ToString(r[0].Destination.Bucket) != "arn:aws:s3:::dst" {
		t.Errorf("read back rules: got %+v", r)
	}

	key := "photos/été 2026.jpg"
	v := put(t, e.src, "src", key, "sunny", func(in *s3.PutObjectInput) { in.Metadata = map[string]string{"camera": "x100"} })
	id := aws.ToString(v.VersionId)
	if got := status(t, e.src, "src", key, id); got != "PENDING" {
		t.Errorf("status right after the write: got %q, want PENDING", got)
	}
	waitStatus(t, e.src, "src", key, id, "COMPLETED")

	src := head(t, e.src, "src", key, id)
	rep := head(t, e.dst, "dst", key, id)
	if rep.ReplicationStatus != "REPLICA" {
		t.Errorf("replica status: got %q, want REPLICA", rep.ReplicationStatus)
	}
	if aws.ToString(rep.VersionId) != id || !aws.ToTime(rep.LastModified).Equal(aws.ToTime(src.LastModified)) {
		t.Errorf("replica: got version %s modified %v, want %s %v", aws.ToString(rep.VersionId), rep.LastModified, id, src.LastModified)
	}
	if aws.ToString(rep.ETag) != aws.ToString(src.ETag) || rep.Metadata["camera"] != "x100" {
		t.Errorf("replica: got ETag %s metadata %v, want %s camera=x100", aws.ToString(rep.ETag), rep.Metadata, aws.ToString(src.ETag))
	}

	t.Run("objects written before the rule have no status", func(t *testing.T) {
		if got := status(t, e.src, "src", "old.txt", aws.ToString(before.VersionId)); got != "" {
			t.Errorf("got %q, want no status", got)
		}
	})
	t.Run("replicas are not replicated again", func(t *testing.T) {
		mustBucket(t, e.dst, "third", dstRegion, true)
		if err := putReplication(t, e.dst, "dst", rule("chain", 1, "third", nil)); err != nil {
			t.Fatal(err)
		}
		v := put(t, e.src, "src", "chained", "x")
		waitStatus(t, e.src, "src", "chained", aws.ToString(v.VersionId), "COMPLETED")
		// The source turned COMPLETED after the replica landed in dst and the
		// sandbox decided whether to replicate it on. An object written to
		// dst itself after that replicates to third by the chain rule, after
		// the same delay; once it has, the replica would have too.
		written := put(t, e.dst, "dst", "written-in-dst", "x")
		waitStatus(t, e.dst, "dst", "written-in-dst", aws.ToString(written.VersionId), "COMPLETED")
		_, err := e.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("third"), Key: aws.String("chained")})
		if err == nil {
			t.Error("a replica was replicated to a third bucket")
		}
	})
}

func TestReplicationFiltersPrioritiesAndDestinations(t *testing.T) {
	e := start(t, sandbox.Options{})
	twoRegions(t, e, "logs-dst", "tagged-dst", "a-dst", "b-dst")
	tagged := &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{
		Prefix: aws.String("docs/"), Tags: []types.Tag{{Key: aws.String("replicate"), Value: aws.String("yes")}},
	}}
	err := putReplication(t, e.src, "src",
		rule("logs", 1, "logs-dst", &types.ReplicationRuleFilter{Prefix: aws.String("logs/")}),
		rule("tagged", 2, "tagged-dst", tagged),
		rule("low", 3, "a-dst", &types.ReplicationRuleFilter{Prefix: aws.String("multi/")}, func(r *types.ReplicationRule) {
			r.Destination.StorageClass = types.StorageClassStandardIa
		}),
		rule("high", 4, "a-dst", &types.ReplicationRuleFilter{Prefix: aws.String("multi/")}, func(r *types.ReplicationRule) {
			r.Destination.StorageClass = types.StorageClassGlacierIr
		}),
		rule("second", 5, "b-dst", &types.ReplicationRuleFilter{Prefix: aws.String("multi/")}),
	)
	if err != nil {
		t.Fatalf("put replication: %v", err)
	}

	t.Run("prefix", func(t *testing.T) {
		in := put(t, e.src, "src", "logs/a", "x")
		out := put(t, e.src, "src", "other/a", "x")
		waitStatus(t, e.src, "src", "logs/a", aws.ToString(in.VersionId), "COMPLETED")
		if got := status(t, e.src, "src", "other/a", aws.ToString(out.VersionId)); got != "" {
			t.Errorf("a key outside every filter: got %q, want no status", got)
		}
	})
	t.Run("prefix and tags", func(t *testing.T) {
		yes := put(t, e.src, "src", "docs/yes", "x", func(in *s3.PutObjectInput) { in.Tagging = aws.String("replicate=yes&team=a") })
		no := put(t, e.src, "src", "docs/no", "x", func(in *s3.PutObjectInput) { in.Tagging = aws.String("replicate=no") })
		waitStatus(t, e.src, "src", "docs/yes", aws.ToString(yes.VersionId), "COMPLETED")
		if got := status(t, e.src, "src", "docs/no", aws.ToString(no.VersionId)); got != "" {
			t.Errorf("an object without the tag: got %q, want no status", got)
		}
	})
	t.Run("several destinations, highest priority per destination", func(t *testing.T) {
		v := put(t, e.src, "src", "multi/x", "x")
		id := aws.ToString(v.VersionId)
		waitStatus(t, e.src, "src", "multi/x", id, "COMPLETED")
		a := head(t, e.dst, "a-dst", "multi/x", id)
		b := head(t, e.dst, "b-dst", "multi/x", id)
		if a.StorageClass != types.StorageClassGlacierIr {
			t.Errorf("a-dst storage class: got %q, want GLACIER_IR from the priority-4 rule", a.StorageClass)
		}
		if b.ReplicationStatus != "REPLICA" {
			t.Errorf("b-dst: got %q, want REPLICA", b.ReplicationStatus)
		}
	})
	t.Run("with several destinations one failure makes the source FAILED", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "b-dst", Kind: sandbox.FaultDeny}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		v := put(t, e.src, "src", "multi/y", "x")
		waitStatus(t, e.src, "src", "multi/y", aws.ToString(v.VersionId), "FAILED")
		head(t, e.dst, "a-dst", "multi/y", aws.ToString(v.VersionId))
	})
}

func TestPutBucketReplicationIsValidatedAsS3Does(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "src", srcRegion, true)
	mustBucket(t, e.src, "unversioned-src", srcRegion, false)
	mustBucket(t, e.dst, "dst", dstRegion, true)
	mustBucket(t, e.dst, "unversioned-dst", dstRegion, false)
	tagFilter := &types.ReplicationRuleFilter{Tag: &types.Tag{Key: aws.String("k"), Value: aws.String("v")}}
	cases := []struct {
		name   string
		bucket string
		rules  []types.ReplicationRule
		want   string
	}{
		{"an unversioned source", "unversioned-src", []types.ReplicationRule{rule("r", 1, "dst", nil)}, "InvalidRequest"},
		{"a missing destination", "src", []types.ReplicationRule{rule("r", 1, "missing", nil)}, "InvalidRequest"},
		{"an unversioned destination", "src", []types.ReplicationRule{rule("r", 1, "unversioned-dst", nil)}, "InvalidRequest"},
		{"a V2 rule without a priority", "src", []types.ReplicationRule{rule("r", 1, "dst", nil, func(r *types.ReplicationRule) { r.Priority = nil })}, "InvalidArgument"},
		{"a V2 rule without DeleteMarkerReplication", "src", []types.ReplicationRule{rule("r", 1, "dst", nil, func(r *types.ReplicationRule) { r.DeleteMarkerReplication = nil })}, "InvalidRequest"},
		{"delete markers with a tag filter", "src", []types.ReplicationRule{rule("r", 1, "dst", tagFilter, func(r *types.ReplicationRule) {
			r.DeleteMarkerReplication.Status = types.DeleteMarkerReplicationStatusEnabled
		})}, "InvalidRequest"},
		{"duplicate rule ids", "src", []types.ReplicationRule{rule("r", 1, "dst", nil), rule("r", 2, "dst", nil)}, "InvalidRequest"},
		{"overlapping rules with one priority", "src", []types.ReplicationRule{rule("a", 1, "dst", nil), rule("b", 1, "dst", nil)}, "InvalidRequest"},
		{"RTC without metrics", "src", []types.ReplicationRule{rule("r", 1, "dst", nil, func(r *types.ReplicationRule) {
			r.Destination.ReplicationTime = &types.ReplicationTime{Status: types.ReplicationTimeStatusEnabled, Time: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}
		})}, "InvalidRequest"},
		{"an RTC threshold other than 15 minutes", "src", []types.ReplicationRule{rule("r", 1, "dst", nil, withRTC, func(r *types.ReplicationRule) {
			r.Destination.ReplicationTime.Time.Minutes = aws.Int32(30)
		})}, "InvalidArgument"},
		{"a destination that is not an ARN", "src", []types.ReplicationRule{rule("r", 1, "dst", nil, func(r *types.ReplicationRule) { r.Destination.Bucket = aws.String("dst") })}, "InvalidRequest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := putReplication(t, e.src, c.bucket, c.rules...)
			if got := apiCode(err); got != c.want {
				t.Errorf("got %q (%v), want %s", got, err, c.want)
			}
		})
	}
	t.Run("versioning cannot be suspended under a replication rule", func(t *testing.T) {
		if err := putReplication(t, e.src, "src", rule("ok", 1, "dst", nil)); err != nil {
			t.Fatal(err)
		}
		_, err := e.src.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
			Bucket: aws.String("src"), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended},
		})
		if got := apiCode(err); got != "InvalidBucketState" {
			t.Errorf("got %q, want InvalidBucketState", got)
		}
	})
	t.Run("DeleteBucketReplication removes the configuration", func(t *testing.T) {
		ctx := context.Background()
		if _, err := e.src.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("src")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.src.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
		if got := apiCode(err); got != "ReplicationConfigurationNotFoundError" {
			t.Errorf("got %q, want ReplicationConfigurationNotFoundError", got)
		}
	})
}

func TestDeleteMarkersReplicateOnlyWhenTheRuleSaysSo(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "with", "without")
	err := putReplication(t, e.src, "src",
		rule("with", 1, "with", &types.ReplicationRuleFilter{Prefix: aws.String("a/")}, func(r *types.ReplicationRule) {
			r.DeleteMarkerReplication.Status = types.DeleteMarkerReplicationStatusEnabled
		}),
		rule("without", 2, "without", &types.ReplicationRuleFilter{Prefix: aws.String("b/")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	// b/x goes first: a/x's marker, made after b/x's and copied after the
	// same delay, reaching "with" shows that b/x's has had its chance.
	for _, k := range []string{"b/x", "a/x"} {
		v := put(t, e.src, "src", k, "x")
		waitStatus(t, e.src, "src", k, aws.ToString(v.VersionId), "COMPLETED")
		if _, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	markers := func(bucket string) int {
		out, err := e.dst.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.DeleteMarkers)
	}
	sandboxtest.Eventually(t, waitLimit, "the delete marker in the destination", func() bool { return markers("with") == 1 })
	if n := markers("without"); n != 0 {
		t.Errorf("a rule without DeleteMarkerReplication replicated %d markers", n)
	}

	t.Run("version deletes are never replicated", func(t *testing.T) {
		v := put(t, e.src, "src", "a/y", "x")
		id := aws.ToString(v.VersionId)
		waitStatus(t, e.src, "src", "a/y", id, "COMPLETED")
		if _, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("a/y"), VersionId: v.VersionId}); err != nil {
			t.Fatal(err)
		}
		// A write after the delete, copied by the same rule after the same
		// delay: once it has replicated, the delete would have too.
		after := put(t, e.src, "src", "a/after", "x")
		waitStatus(t, e.src, "src", "a/after", aws.ToString(after.VersionId), "COMPLETED")
		head(t, e.dst, "with", "a/y", id)
	})
}

func TestFaultsOnTheDestination(t *testing.T) {
	e := start(t, sandbox.Options{})
	queue := twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, withMetrics)); err != nil {
		t.Fatal(err)
	}

	t.Run("deny fails the source with the reason, in an event", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny, Reason: "DstKmsKeyNotFound"}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		v := put(t, e.src, "src", "denied", "x")
		waitStatus(t, e.src, "src", "denied", aws.ToString(v.VersionId), "FAILED")
		var body string
		sandboxtest.Eventually(t, waitLimit, "the failure event", func() bool {
			for _, m := range e.sb.QueueMessages(queue) {
				if strings.Contains(m.Body, "OperationFailedReplication") {
					body = m.Body
					return true
				}
			}
			return false
		})
		r := decodeS3Event(t, body)
		if r.ReplicationEventData == nil || r.ReplicationEventData.FailureReason != "DstKmsKeyNotFound" ||
			r.ReplicationEventData.DestinationBucket != "arn:aws:s3:::dst" || r.ReplicationEventData.ReplicationRuleID != "r" {
			t.Errorf("replication event data: got %+v", r.ReplicationEventData)
		}
		if r.S3.Object.VersionID != aws.ToString(v.VersionId) {
			t.Errorf("event version: got %s, want %s", r.S3.Object.VersionID, aws.ToString(v.VersionId))
		}
	})
	t.Run("deny defaults to DstPutObjectNotPermitted", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		if f := e.sb.Faults(); len(f) != 1 || f[0].Reason != "DstPutObjectNotPermitted" {
			t.Errorf("faults: got %+v", f)
		}
	})
	t.Run("outage holds PENDING until lifted", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage}); err != nil {
			t.Fatal(err)
		}
		v := put(t, e.src, "src", "held", "x")
		id := aws.ToString(v.VersionId)
		pastReplicationDelay(t, e)
		if got := status(t, e.src, "src", "held", id); got != "PENDING" {
			t.Errorf("during the outage, past the replication delay: got %q, want PENDING", got)
		}
		e.sb.ClearFaults("dst")
		waitStatus(t, e.src, "src", "held", id, "COMPLETED")
	})
	t.Run("latency delays replication", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultLatency, Millis: 300}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		began := time.Now()
		v := put(t, e.src, "src", "slow", "x")
		id := aws.ToString(v.VersionId)
		pastReplicationDelay(t, e)
		if got := status(t, e.src, "src", "slow", id); got != "PENDING" {
			t.Errorf("past the replication delay, within the latency: got %q, want PENDING", got)
		}
		waitStatus(t, e.src, "src", "slow", id, "COMPLETED")
		if d := time.Since(began); d < 300*time.Millisecond {
			t.Errorf("replicated after %v, want at least the 300ms of added latency", d)
		}
	})
	t.Run("without Metrics a failure raises no event", func(t *testing.T) {
		if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, withMetrics)); err != nil {
				t.Fatal(err)
			}
		}()
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		e.sb.ReceiveMessages(queue, 100)
		v := put(t, e.src, "src", "quiet", "x")
		waitStatus(t, e.src, "src", "quiet", aws.ToString(v.VersionId), "FAILED")
		// A failure event follows its FAILED status at once. Fail another
		// object under a rule with Metrics: once its event is in the queue,
		// one for quiet, which failed first, would be there too.
		if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, withMetrics)); err != nil {
			t.Fatal(err)
		}
		put(t, e.src, "src", "loud", "x")
		failures := func() (keys []string) {
			for _, m := range e.sb.QueueMessages(queue) {
				if r := decodeS3Event(t, m.Body); r.EventName == "Replication:OperationFailedReplication" {
					keys = append(keys, r.S3.Object.Key)
				}
			}
			return keys
		}
		sandboxtest.Eventually(t, waitLimit, "loud's failure event", func() bool { return slices.Contains(failures(), "loud") })
		if got := failures(); len(got) != 1 || got[0] != "loud" {
			t.Errorf("failure events for %v, want only loud's: a rule without Metrics raised one", got)
		}
	})
	t.Run("tamper writes a replica that differs", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultTamper}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		v := put(t, e.src, "src", "tampered", "original")
		id := aws.ToString(v.VersionId)
		waitStatus(t, e.src, "src", "tampered", id, "COMPLETED")
		rep := head(t, e.dst, "dst", "tampered", id)
		if aws.ToInt64(rep.ContentLength) == 8 || aws.ToString(rep.ETag) == aws.ToString(v.ETag) || rep.ReplicationStatus != "REPLICA" {
			t.Errorf("replica: size %d ETag %s status %s, want a REPLICA that differs", aws.ToInt64(rep.ContentLength), aws.ToString(rep.ETag), rep.ReplicationStatus)
		}
	})
	t.Run("a missing destination fails with DstBucketNotFound", func(t *testing.T) {
		ctx := context.Background()
		mustBucket(t, e.dst, "doomed", dstRegion, true)
		if err := putReplication(t, e.src, "src", rule("d", 1, "doomed", nil, withMetrics)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dst.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("doomed")}); err != nil {
			t.Fatal(err)
		}
		e.sb.ReceiveMessages(queue, 100)
		v := put(t, e.src, "src", "orphan", "x")
		waitStatus(t, e.src, "src", "orphan", aws.ToString(v.VersionId), "FAILED")
		sandboxtest.Eventually(t, waitLimit, "the failure event", func() bool {
			return strings.Contains(strings.Join(bodies(e.sb.QueueMessages(queue)), ""), `"failureReason":"DstBucketNotFound"`)
		})
	})
}

func bodies(ms []sandbox.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

func TestReplicationTimeControlThresholdEvents(t *testing.T) {
	e := start(t, sandbox.Options{ReplicationThreshold: 100 * time.Millisecond})
	queue := twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("rtc", 1, "dst", nil, withRTC)); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage}); err != nil {
		t.Fatal(err)
	}
	v := put(t, e.src, "src", "late", "x")
	sandboxtest.Eventually(t, waitLimit, "OperationMissedThreshold", func() bool {
		return strings.Contains(strings.Join(bodies(e.sb.QueueMessages(queue)), ""), "Replication:OperationMissedThreshold")
	})
	e.sb.ClearFaults("")
	waitStatus(t, e.src, "src", "late", aws.ToString(v.VersionId), "COMPLETED")
	sandboxtest.Eventually(t, waitLimit, "OperationReplicatedAfterThreshold", func() bool {
		return strings.Contains(strings.Join(bodies(e.sb.QueueMessages(queue)), ""), "Replication:OperationReplicatedAfterThreshold")
	})
}

func TestSlowdownFaultOnTheS3API(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "busy", srcRegion, true)
	put(t, e.src, "busy", "k", "x")
	if err := e.sb.InjectFault(sandbox.Fault{Bucket: "busy", Kind: sandbox.FaultSlowdown, Share: 1}); err != nil {
		t.Fatal(err)
	}
	noRetry := s3.NewFromConfig(mustConfig(t, e.sb), func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	_, err := noRetry.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("busy"), Key: aws.String("k")})
	var re interface{ HTTPStatusCode() int }
	if err == nil || !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("share 1: got %v, want HTTP 503", err)
	}

	t.Run("a share of requests fails and the SDK retries through it", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "busy", Kind: sandbox.FaultSlowdown, Share: 0.5}); err != nil {
			t.Fatal(err)
		}
		failed := 0
		for range 10 {
			if _, err := noRetry.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("busy"), Key: aws.String("k")}); err != nil {
				failed++
			}
		}
		if failed != 5 {
			t.Errorf("share 0.5 over 10 requests: %d failed, want 5", failed)
		}
		head(t, e.src, "busy", "k", "") // the default retryer gets through
	})
	t.Run("added latency", func(t *testing.T) {
		if err := e.sb.InjectFault(sandbox.Fault{Bucket: "busy", Kind: sandbox.FaultSlowdown, Millis: 200}); err != nil {
			t.Fatal(err)
		}
		defer e.sb.ClearFaults("")
		began := time.Now()
		head(t, e.src, "busy", "k", "")
		if d := time.Since(began); d < 200*time.Millisecond {
			t.Errorf("HEAD took %v, want at least the 200ms of added latency", d)
		}
	})
}

func mustConfig(t *testing.T, sb *sandbox.Sandbox) aws.Config {
	t.Helper()
	cfg, err := sb.AWSConfig(context.Background(), srcRegion)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
