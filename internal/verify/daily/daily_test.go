package daily_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
	"github.com/replaudit/replaudit/internal/verify/daily"
	"github.com/replaudit/replaudit/internal/verify/verifytest"
)

// stage is the verification as the reconciler's function runs it, on the
// sandbox: verifytest's scene (a deleted, a tampered and an orphan
// replica; both inventories in buckets of their regions), Glue tables over
// both inventories' hive symlinks, Athena answered by DuckDB, the ledger
// on dynalite, the topic on the sandbox's SNS.
type stage struct {
	sc         *verifytest.Scene
	db         *dynamodb.Client
	handler    daily.Handler
	v          *daily.Verifier
	reconciled int
	date       string
	srcKey     string
}

func newStage(t *testing.T) *stage {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../../..") // where make tools put dynalite
	sc := verifytest.New(t, "CSV", sandbox.Options{DynamoDB: true})
	ctx := context.Background()
	cfg, err := sc.SB.AWSConfig(ctx, verifytest.SrcRegion)
	if err != nil {
		t.Fatal(err)
	}
	st := &stage{sc: sc, db: dynamodb.NewFromConfig(cfg)}
	if err := ledger.CreateTable(ctx, st.db, "ledger"); err != nil {
		t.Fatal(err)
	}
	for name, uri := range map[string]string{"source_inventory": sc.SrcURI, "destination_inventory": sc.DstURI} {
		if err := sc.SB.CreateAthenaTable("replaudit", name, uri); err != nil {
			t.Fatal(err)
		}
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := alert.NewSNS(sns.NewFromConfig(cfg), aws.ToString(topic.TopicArn))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Options{DB: st.db, Table: "ledger", Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st.v, err = daily.New(daily.Options{
		Source: daily.Location{Bucket: "src", Inventory: sc.InventoryBuckets[verifytest.SrcRegion], Prefix: "inventory", ConfigID: "all-versions",
			S3: daily.Fixed(sc.S3[verifytest.SrcRegion])},
		Destination: daily.Location{Bucket: "dst", Inventory: sc.InventoryBuckets[verifytest.DstRegion], Prefix: "inventory", ConfigID: "all-versions",
			S3: daily.Fixed(sc.S3[verifytest.DstRegion])},
		Athena: sc.Athena,
		Engine: verifyathena.Options{Workgroup: "primary", Output: "s3://athena-results/verify/", Database: "replaudit",
			SourceTable: "source_inventory", DestinationTable: "destination_inventory", MinDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond},
		Verify: verify.Options{Ledger: l, Publisher: pub, Redrive: reconcile.S3Manifests{S3: sc.S3[verifytest.SrcRegion]}, Settle: time.Nanosecond},
		States: st.db, Table: "ledger",
		Reserve: 500 * time.Millisecond,
		Log:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	st.handler = daily.Handler{Verifier: st.v, Log: slog.New(slog.DiscardHandler),
		Reconcile: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			st.reconciled++
			return events.SQSEventResponse{}, nil
		}}
	st.srcKey = strings.SplitN(strings.TrimPrefix(sc.SrcURI, "s3://"), "/", 2)[1]
	st.date = sc.SrcInv.Date()
	return st
}

// notify delivers the source manifest's notification as the inventory
// queue brings it: an SQS batch of one S3 event.
func (st *stage) notify(t *testing.T, ctx context.Context) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"Records": []map[string]any{{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": verifytest.SrcRegion, "eventTime": time.Now().UTC().Format(time.RFC3339),
		"eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": st.sc.InventoryBuckets[verifytest.SrcRegion]},
			"object": map[string]any{"key": s3events.EncodeKey(st.srcKey), "size": 1024}},
	}}})
	raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: fmt.Sprint(time.Now().UnixNano()), Body: string(body), EventSource: "aws:sqs"}}})
	resp, err := st.handler.Handle(ctx, raw)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("the notification: %+v, %v", resp, err)
	}
}

func (st *stage) schedule(ctx context.Context) error {
	_, err := st.handler.Handle(ctx, json.RawMessage(daily.PendingEvent))
	return err
}

func (st *stage) state(t *testing.T) string {
	t.Helper()
	s, err := st.v.State(context.Background(), st.date)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (st *stage) digests() int {
	n := 0
	for _, m := range st.sc.SB.SNSMessages() {
		if strings.Contains(m.Subject, "VERIFY") {
			n++
		}
	}
	return n
}

// recorded checks the day's summary and findings are what the scene holds.
func (st *stage) recorded(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if got := st.state(t); got != daily.Recorded {
		t.Fatalf("state %q, want RECORDED", got)
	}
	s, found, err := verify.Latest(ctx, st.db, "ledger", "src")
	if err != nil || !found || s.Date != st.date || s.Destination != "dst" || s.Engine != "athena" || s.Missing != 1 || s.Diverged != 1 || s.Orphans != 1 || s.Checked != 4 {
		t.Errorf("Latest: got %+v, %v, %v; want the day's 4 checked, 1 missing, 1 diverged, 1 orphan", s, found, err)
	}
	l, _ := ledger.New(ledger.Options{DB: st.db, Table: "ledger", Retention: 24 * time.Hour})
	for key, want := range map[string]audit.Verdict{verifytest.KeyDeleted: audit.Missing, verifytest.KeyTampered: audit.Diverged} {
		it, err := l.Get(ctx, ledger.KeyOf("src", key, st.sc.Versions[key], "dst"))
		if err != nil || it.Verdict != want {
			t.Errorf("%s: got %+v, %v; want %s", key, it.Verdict, err, want)
		}
	}
	if n := st.digests(); n != 1 {
		t.Errorf("%d digests, want one", n)
	}
}

// TestTheSourceManifestsNotificationVerifiesTheDayOnce: both inventories
// of the day are there when the source's manifest.json lands: the
// reconciler's function reconciles it and verifies the day on Athena,
// recording the findings, the summary and one digest; the notification
// delivered again, and the schedule, verify nothing more.
func TestTheSourceManifestsNotificationVerifiesTheDayOnce(t *testing.T) {
	st := newStage(t)
	ctx := context.Background()
	st.notify(t, ctx)
	if st.reconciled != 1 {
		t.Errorf("the batch reached the reconciler %d times, want once", st.reconciled)
	}
	st.recorded(t)
	starts := athenaStarts(st.sc.SB)
	st.notify(t, ctx)
	if err := st.schedule(ctx); err != nil {
		t.Fatal(err)
	}
	st.recorded(t)
	if got := athenaStarts(st.sc.SB); got != starts {
		t.Errorf("%d more queries after the day was recorded, want none", got-starts)
	}
}

// TestADestinationInventoryThatLandsLaterIsVerifiedByTheSchedule: the
// source's manifest lands first, and its day WAITs; the schedule finds
// nothing to verify until the destination's lands, then verifies it.
func TestADestinationInventoryThatLandsLaterIsVerifiedByTheSchedule(t *testing.T) {
	st := newStage(t)
	ctx := context.Background()
	dst := strings.SplitN(strings.TrimPrefix(st.sc.DstURI, "s3://"), "/", 2)
	if _, err := st.sc.S3[verifytest.DstRegion].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(dst[0]), Key: aws.String(dst[1])}); err != nil {
		t.Fatal(err)
	}
	st.notify(t, ctx)
	if got := st.state(t); got != daily.Waiting {
		t.Fatalf("state %q before the destination's inventory landed, want WAITING", got)
	}
	if err := st.schedule(ctx); err != nil {
		t.Fatal(err)
	}
	if got := st.state(t); got != daily.Waiting || st.digests() != 0 || athenaStarts(st.sc.SB) != 0 {
		t.Fatalf("state %q, %d digests, %d queries; want still WAITING, nothing run", got, st.digests(), athenaStarts(st.sc.SB))
	}
	st.sc.Inventory(t, "dst") // S3 delivers the destination's inventory, later that day
	if err := st.schedule(ctx); err != nil {
		t.Fatal(err)
	}
	st.recorded(t)
}

// TestAFailedQueryRecordsNothingCleanAndIsRetried: Athena fails the query:
// the day is FAILED, with no summary and no digest; the schedule's next
// invocation verifies it. A query that outlives the invocation is left
// running, and the next invocation reads it instead of starting another.
func TestAFailedQueryRecordsNothingCleanAndIsRetried(t *testing.T) {
	st := newStage(t)
	ctx := context.Background()
	st.sc.SB.SetAthenaFault(sandbox.AthenaFault{Fail: "HIVE_BAD_DATA: the sandbox was told to fail"})
	st.notify(t, ctx)
	if got := st.state(t); got != daily.Failed {
		t.Fatalf("state %q after a FAILED query, want FAILED", got)
	}
	if _, found, err := verify.Latest(ctx, st.db, "ledger", "src"); found || err != nil || st.digests() != 0 {
		t.Fatalf("a failed query left a summary (%v, %v) or %d digests", found, err, st.digests())
	}
	if err := st.schedule(ctx); err == nil || !strings.Contains(err.Error(), "HIVE_BAD_DATA") {
		t.Errorf("the schedule's retry while Athena still fails: %v, want the error, for Lambda to retry", err)
	}

	st.sc.SB.SetAthenaFault(sandbox.AthenaFault{Hang: true})
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.schedule(short); err == nil || !strings.Contains(err.Error(), "left running") {
		t.Fatalf("a query that outlives the invocation: %v, want it left running", err)
	}
	if got := st.state(t); got != daily.Running {
		t.Fatalf("state %q, want RUNNING", got)
	}
	starts := athenaStarts(st.sc.SB)
	st.sc.SB.SetAthenaFault(sandbox.AthenaFault{})
	if err := st.schedule(ctx); err != nil {
		t.Fatal(err)
	}
	st.recorded(t)
	if got := athenaStarts(st.sc.SB); got != starts {
		t.Errorf("%d queries started after the one left running, want none: it is read", got-starts)
	}
}

// athenaStarts counts StartQueryExecution calls.
func athenaStarts(sb *sandbox.Sandbox) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Operation == "StartQueryExecution" {
			n += c.Count
		}
	}
	return n
}
