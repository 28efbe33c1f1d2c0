package auditor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/sweep"
)

// stack is the whole job on a sandbox: buckets with a replication rule, the
// source's events in a queue, the ledger table, the alert topic, and the
// auditor behind an event source mapping, as deployed.
type stack struct {
	sb       *sandbox.Sandbox
	s3       func(region string) *s3.Client
	queue    string
	topic    string
	snsc     *sns.Client
	ledger   *ledger.Ledger
	checker  *audit.Checker
	notifier *alert.Notifier
	handler  *auditor.Handler
	metrics  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newStack(t testing.TB, stormLimit int, dests ...string) *stack {
	return newStackWindow(t, stormLimit, time.Minute, dests...)
}

func newStackWindow(t testing.TB, stormLimit int, window time.Duration, dests ...string) *stack {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	clients := map[string]*s3.Client{}
	var mu sync.Mutex
	get := func(region string) *s3.Client {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c
		}
		cfg, _ := sb.AWSConfig(ctx, region)
		clients[region] = s3.NewFromConfig(cfg)
		return clients[region]
	}
	st := &stack{sb: sb, s3: get, metrics: &syncBuffer{}}
	st.bucket(t, "src", "us-east-1")
	for _, d := range dests {
		st.bucket(t, d, "ap-south-1")
	}
	var rules []types.ReplicationRule
	for i, d := range dests {
		rules = append(rules, types.ReplicationRule{ID: aws.String("to-" + d), Priority: aws.Int32(int32(i + 1)), Status: types.ReplicationRuleStatusEnabled,
			Filter: &types.ReplicationRuleFilter{Prefix: aws.String("")}, DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::" + d),
				Metrics: &types.Metrics{Status: types.MetricsStatusEnabled, EventThreshold: &types.ReplicationTimeValue{Minutes: aws.Int32(15)}}}})
	}
	st.put(t, "written-before-the-rule", "x")
	if _, err := get("us-east-1").PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/r"), Rules: rules}}); err != nil {
		t.Fatal(err)
	}
	// As deployed, a delivery delay lets most objects replicate before the
	// first check; the sweeper re-checks the rest.
	st.queue, _ = sb.CreateQueue(sandbox.QueueOptions{Name: "replaudit-events", Delay: 300 * time.Millisecond, VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 3})
	if _, err := get("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String(st.queue), Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"}}}}}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		t.Fatal(err)
	}
	st.ledger, _ = ledger.New(db, "ledger", 400*24*time.Hour)
	st.snsc = sns.NewFromConfig(cfg)
	topic, err := st.snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("replaudit-alerts")})
	if err != nil {
		t.Fatal(err)
	}
	st.topic = aws.ToString(topic.TopicArn)
	log := slog.New(slog.DiscardHandler)
	st.checker, _ = audit.NewChecker(func(r string) audit.S3 { return get(r) }, bucketregion.New(get("us-east-1")), time.Minute)
	st.notifier, err = alert.NewNotifier(st.ledger, st.snsc, st.topic, stormLimit, window, log)
	if err != nil {
		t.Fatal(err)
	}
	st.handler, err = auditor.New(st.checker, st.ledger, st.notifier, 8, log, st.metrics)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (st *stack) bucket(t testing.TB, name, region string) {
	t.Helper()
	ctx := context.Background()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := st.s3(region).CreateBucket(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := st.s3(region).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
}

func (st *stack) put(t testing.TB, key, body string) string {
	t.Helper()
	out, err := st.s3("us-east-1").PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// run attaches the auditor to the queue, as the event source mapping does.
func (st *stack) run(t testing.TB) {
	t.Helper()
	if err := st.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: st.queue, Function: sandbox.HandlerFunc(st.handler.Handle), BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
}

func (st *stack) item(t testing.TB, key, version, dest string) ledger.Item {
	t.Helper()
	it, err := st.ledger.Get(context.Background(), ledger.KeyOf("src", key, version, dest))
	if err != nil {
		t.Fatalf("ledger item %s@%s -> %s: %v", key, version, dest, err)
	}
	return it
}

func (st *stack) waitVerdict(t testing.TB, key, version, dest string, want audit.Verdict) ledger.Item {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		it, err := st.ledger.Get(context.Background(), ledger.KeyOf("src", key, version, dest))
		if err == nil && it.Verdict == want {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s@%s -> %s: got %+v (%v), want %s", key, version, dest, it.Verdict, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (st *stack) alerts(kind string) []sandbox.SNSMessage {
	var out []sandbox.SNSMessage
	for _, m := range st.sb.SNSMessages() {
		if kind == "" || strings.Contains(m.Subject, kind) {
			out = append(out, m)
		}
	}
	return out
}

func TestTheJobVerdictByVerdict(t *testing.T) {
	st := newStack(t, 20, "dst-a", "dst-b")
	st.run(t)
	keys := []string{"plain.txt", "with space.txt", "plus+sign.txt", "per%cent.txt", "unicodé/日本.csv", strings.Repeat("k", 1024)}
	versions := map[string]string{}
	for _, k := range keys {
		versions[k] = st.put(t, k, "hello "+k)
	}

	t.Run("every key is VERIFIED in both destinations, with no alert", func(t *testing.T) {
		for _, k := range keys {
			for _, d := range []string{"dst-a", "dst-b"} {
				it := st.waitVerdict(t, k, versions[k], d, audit.Verified)
				if it.Replica == nil || it.Replica.VersionID != versions[k] || it.LagSeconds == nil {
					t.Errorf("%s -> %s: evidence %+v lag %v", k, d, it.Replica, it.LagSeconds)
				}
			}
		}
		if a := st.alerts(""); len(a) != 0 {
			t.Errorf("got %d alerts on the happy path", len(a))
		}
	})
	t.Run("a pre-existing object is NOT_REPLICATED", func(t *testing.T) {
		// Its event was sent before the auditor listened; feed it again.
		rec := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"written-before-the-rule","size":1,"versionId":%q}}}]}`,
			latest(t, st, "written-before-the-rule"))
		if _, err := st.handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: rec}}}); err != nil {
			t.Fatal(err)
		}
		st.waitVerdict(t, "written-before-the-rule", latest(t, st, "written-before-the-rule"), "dst-a", audit.NotReplicated)
	})
	t.Run("deny: FAILED with its reason in the alert", func(t *testing.T) {
		_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst-b", Kind: sandbox.FaultDeny, Reason: "DstKmsKeyNotFound"})
		defer st.sb.ClearFaults("")
		v := st.put(t, "denied.txt", "x")
		it := st.waitVerdict(t, "denied.txt", v, "dst-b", audit.Failed)
		st.waitVerdict(t, "denied.txt", v, "dst-a", audit.Verified)
		deadline := time.Now().Add(5 * time.Second)
		for it.FailureReason == "" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			it = st.item(t, "denied.txt", v, "dst-b")
		}
		if it.FailureReason != "DstKmsKeyNotFound" {
			t.Errorf("failure reason: %q", it.FailureReason)
		}
		var a []sandbox.SNSMessage
		for deadline := time.Now().Add(5 * time.Second); len(a) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			a = st.alerts("FAILED")
		}
		time.Sleep(200 * time.Millisecond)
		if a = st.alerts("FAILED"); len(a) != 1 {
			t.Fatalf("got %d FAILED alerts, want 1: %+v", len(a), a)
		}
		if !strings.Contains(a[0].Body, "Reason:    DstKmsKeyNotFound") {
			t.Errorf("the alert does not name the reason:\n%s", a[0].Body)
		}
		if !strings.Contains(a[0].Subject, "s3://src/denied.txt") || len(a[0].Subject) >= 100 || a[0].Attributes["severity"] != "critical" || a[0].Attributes["bucket"] != "src" {
			t.Errorf("alert: %+v", a[0])
		}
	})
	t.Run("a tampered replica is DIVERGED, with the differences in the alert", func(t *testing.T) {
		_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst-a", Kind: sandbox.FaultTamper})
		defer st.sb.ClearFaults("")
		v := st.put(t, "tampered.bin", "the real bytes")
		it := st.waitVerdict(t, "tampered.bin", v, "dst-a", audit.Diverged)
		if len(it.Differences) != 2 {
			t.Errorf("differences: %v, want size and ETag", it.Differences)
		}
		var a []sandbox.SNSMessage
		for deadline := time.Now().Add(5 * time.Second); len(a) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			a = st.alerts("DIVERGED")
		}
		if len(a) != 1 || !strings.Contains(a[0].Body, "size") {
			t.Errorf("DIVERGED alerts: %+v", a)
		}
	})
	t.Run("delete markers", func(t *testing.T) {
		if _, err := st.s3("us-east-1").DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("plain.txt")}); err != nil {
			t.Fatal(err)
		}
		marker := latestMarker(t, st, "plain.txt")
		st.waitVerdict(t, "plain.txt", marker, "dst-a", audit.Verified)
	})
	if !strings.Contains(st.metrics.String(), `"CloudWatchMetrics"`) || !strings.Contains(st.metrics.String(), `"Verdict":"VERIFIED"`) {
		t.Errorf("no embedded metrics: %s", st.metrics.String())
	}
}

func latest(t testing.TB, st *stack, key string) string {
	t.Helper()
	out, err := st.s3("us-east-1").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func latestMarker(t testing.TB, st *stack, key string) string {
	t.Helper()
	out, err := st.s3("us-east-1").ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("src"), Prefix: aws.String(key)})
	if err != nil || len(out.DeleteMarkers) == 0 {
		t.Fatalf("no delete marker for %s: %v", key, err)
	}
	return aws.ToString(out.DeleteMarkers[0].VersionId)
}

func TestALongOutageAlertsOnceThenResolvesAndNeverFails(t *testing.T) {
	st := newStack(t, 20, "dst")
	st.run(t)
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	v := st.put(t, "held.bin", "x")
	st.waitVerdict(t, "held.bin", v, "dst", audit.Pending)
	sw, err := sweep.New(st.checker, st.ledger, st.notifier, sweep.Options{Threshold: time.Millisecond, PerGiB: time.Nanosecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 { // three sweeps during the outage: one alert
		if _, err := sw.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a := st.alerts("LONG_PENDING"); len(a) != 1 || a[0].Attributes["severity"] != "warning" {
		t.Fatalf("long-PENDING alerts: %+v, want exactly one warning", a)
	}
	st.sb.ClearFaults("")
	deadline := time.Now().Add(10 * time.Second)
	for st.item(t, "held.bin", v, "dst").Verdict != audit.Verified { // the sweep finds it replicated
		if time.Now().After(deadline) {
			t.Fatal("the sweep never verified the replica after the outage")
		}
		if _, err := sw.Run(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := sw.Run(ctx); err != nil {
		t.Fatal(err)
	}
	it := st.item(t, "held.bin", v, "dst")
	if it.Alert != ledger.AlertResolved || it.Attn != "" {
		t.Errorf("after the outage: alert %q attention %q, want RESOLVED and out of the index", it.Alert, it.Attn)
	}
	if a := st.alerts("RESOLVED"); len(a) != 1 {
		t.Errorf("resolved notices: %d, want 1", len(a))
	}
	for _, h := range it.History {
		if h.Verdict == audit.Failed {
			t.Error("an outage produced FAILED")
		}
	}
}

func TestRedeliveredShuffledEventsAlertOncePerIncident(t *testing.T) {
	st := newStack(t, 20, "dst")
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	for i := range 5 {
		st.put(t, fmt.Sprintf("denied-%d", i), "x")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(st.sb.QueueMessages(st.queue)) < 1+5+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var msgs []events.SQSMessage
	for _, m := range st.sb.QueueMessages(st.queue) {
		for copyN := range 3 {
			msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("%s-%d", m.ID, copyN), Body: m.Body})
		}
	}
	rand.New(rand.NewSource(7)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	for i := 0; i < len(msgs); i += 10 {
		resp, err := st.handler.Handle(context.Background(), events.SQSEvent{Records: msgs[i:min(i+10, len(msgs))]})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch: %+v %v", resp, err)
		}
	}
	if a := st.alerts("FAILED"); len(a) != 5 {
		t.Errorf("got %d FAILED alerts for 5 incidents delivered 3 times each", len(a))
	}
}

func TestABatchWithAPoisonRecord(t *testing.T) {
	st := newStack(t, 20, "dst")
	var msgs []events.SQSMessage
	for i := range 100 {
		v := st.put(t, fmt.Sprintf("batch/%03d", i), "x")
		body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T01:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"batch/%03d","size":1,"versionId":%q}}}]}`, i, v)
		if i == 42 {
			body = `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"bad%zzkey"}}}]}`
		}
		msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("m-%03d", i), Body: body})
	}
	resp, err := st.handler.Handle(context.Background(), events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m-042" {
		t.Errorf("failures: %+v, want only m-042", resp.BatchItemFailures)
	}
	n := 0
	_ = st.ledger.Period(context.Background(), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC), func(ledger.Item) error { n++; return nil })
	if n != 99 {
		t.Errorf("ledger holds %d items from the batch, want 99", n)
	}
}

func TestAnAlertSNSCouldNotTakeIsSentByTheSweep(t *testing.T) {
	st := newStack(t, 20, "dst")
	ctx := context.Background()
	if _, err := st.snsc.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(st.topic)}); err != nil {
		t.Fatal(err)
	}
	st.run(t)
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "lost?", "x")
	it := st.waitVerdict(t, "lost?", v, "dst", audit.Failed)
	time.Sleep(200 * time.Millisecond)
	if it = st.item(t, "lost?", v, "dst"); it.Alert != ledger.AlertDue {
		t.Fatalf("alert state with SNS down: %q, want DUE", it.Alert)
	}
	if _, err := st.snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("replaudit-alerts")}); err != nil {
		t.Fatal(err)
	}
	sw, _ := sweep.New(st.checker, st.ledger, st.notifier, sweep.Options{Grace: time.Millisecond}, slog.New(slog.DiscardHandler))
	if _, err := sw.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if a := st.alerts("FAILED"); len(a) != 1 {
		t.Errorf("after SNS came back: %d alerts, want 1", len(a))
	}
	if it = st.item(t, "lost?", v, "dst"); it.Alert != ledger.AlertSent {
		t.Errorf("alert state: %q, want SENT", it.Alert)
	}
}

func TestAStormBecomesOneDigest(t *testing.T) {
	const window = 2 * time.Second
	st := newStackWindow(t, 3, window, "dst")
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	st.run(t)
	// Start at a window's beginning, so that the storm falls in one window.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 10*time.Millisecond)))
	for i := range 8 {
		st.put(t, fmt.Sprintf("storm-%d", i), "x")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for i := range 8 {
			if it, err := st.ledger.Get(context.Background(), ledger.KeyOf("src", fmt.Sprintf("storm-%d", i), latest(t, st, fmt.Sprintf("storm-%d", i)), "dst")); err == nil && (it.Alert == ledger.AlertSent || it.Alert == ledger.AlertDigested) {
				n++
			}
		}
		if n == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 alerts settled", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := st.alerts("[CRITICAL] FAILED"); len(a) != 3 {
		t.Errorf("individual alerts: %d, want the limit of 3", len(a))
	}
	sw, _ := sweep.New(st.checker, st.ledger, st.notifier, sweep.Options{}, slog.New(slog.DiscardHandler))
	// The digest goes out once its window is over.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 50*time.Millisecond)))
	if _, err := sw.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := st.alerts("DIGEST")
	if len(d) != 1 || !strings.Contains(d[0].Body, "5 more replication problems") || !strings.Contains(d[0].Body, "FAILED") {
		t.Fatalf("digest: %+v", d)
	}
	var js map[string]any
	body := d[0].Body[strings.Index(d[0].Body, "--- JSON ---")+len("--- JSON ---"):]
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		t.Errorf("the digest's JSON block does not parse: %v", err)
	}
}

func TestABacklogTooBigForOneSweepIsCoveredByTheNext(t *testing.T) {
	st := newStack(t, 1000, "dst")
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	st.run(t)
	const items = 48
	versions := map[string]string{}
	for i := range items {
		k := fmt.Sprintf("backlog/%02d", i)
		versions[k] = st.put(t, k, "x")
	}
	for k, v := range versions {
		st.waitVerdict(t, k, v, "dst", audit.Pending)
	}
	// The outage lasts: every item stays PENDING, and each run may start
	// only a few checks before its deadline. The clock moves five minutes a
	// run, as the schedule does; every item must still be re-checked.
	clock := time.Now()
	sw, err := sweep.New(st.checker, st.ledger, st.notifier, sweep.Options{Threshold: time.Hour, Concurrency: 1,
		Margin: time.Second, Clock: func() time.Time { return clock }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 40; run++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second+150*time.Millisecond)
		if _, err := sw.Run(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		clock = clock.Add(5 * time.Minute)
		left := 0
		for k, v := range versions {
			if st.item(t, k, v, "dst").Checks < 2 {
				left++
			}
		}
		if left == 0 {
			if run == 0 {
				t.Fatal("one run covered the backlog: the test does not test resuming")
			}
			return
		}
	}
	t.Error("40 short runs left items never re-checked")
}
