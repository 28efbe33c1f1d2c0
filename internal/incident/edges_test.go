package incident_test

// The edges of the incident state machine and its storage under faults
// that a review found: a raised held item, a claim taken over late, lost
// answers to window writes, SNS retries, the first release's items. Each
// failed before its fix. They use the helpers of faults_test.go.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// stormSettled fails keys in one window (a limit of one pages the first,
// holds the others), and moves the clock past the window's settling.
func (w *world) stormSettled(keys ...string) {
	w.t.Helper()
	w.alignWindow()
	for _, k := range keys {
		w.mustSettle(w.failed(k))
	}
	w.clock.Advance(7 * time.Minute)
	w.head = w.window()
}

// alignWindow moves the world's clock to 5 seconds into the next storm
// window, so that a test's steps all fall in one window.
func (w *world) alignWindow() time.Time {
	now := w.clock.Now().UTC()
	start := now.Truncate(5 * time.Minute).Add(5 * time.Minute)
	w.clock.Advance(start.Sub(now) + 5*time.Second)
	return start
}

// longPending is the finding of a check that saw the key PENDING past its
// threshold (its object exists, and its replication is denied, so a later
// FAILED is true).
func (w *world) longPending(key string) audit.Finding {
	f := w.failed(key)
	f.Verdict, f.FailureReason, f.Detail, f.LongPending = audit.Pending, "", "PENDING past the threshold.", true
	return f
}

func (w *world) mustSettle(f audit.Finding) {
	w.t.Helper()
	if err := w.settle(context.Background(), f); err != nil {
		w.t.Fatalf("settle %s %s: %v", f.Key, f.Verdict, err)
	}
}

// head reads the storm window head of the world's source bucket.
func (w *world) headItem(start time.Time) map[string]types.AttributeValue {
	w.t.Helper()
	k := ledger.Key{PK: ledger.WindowPrefix + w.src, SK: "W#" + start.UTC().Format(time.RFC3339)}
	out, err := w.p.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.p.Options.Table), Key: k.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		w.t.Fatal(err)
	}
	return out.Item
}

// windowsInAttention lists the storm window heads in the attention index.
func (w *world) windowsInAttention() []ledger.Item {
	w.t.Helper()
	items, err := w.p.Attention(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	var heads []ledger.Item
	for _, it := range items {
		if ledger.IsWindow(it) {
			heads = append(heads, it)
		}
	}
	return heads
}

func (w *world) sweep() {
	w.t.Helper()
	if _, err := w.p.Sweeper.Run(context.Background()); err != nil {
		w.t.Logf("sweep: %v", err)
	}
}

func (w *world) subjects() []string {
	var s []string
	for _, m := range w.sb.SNSMessages() {
		if m.Topic == w.p.Topic {
			s = append(s, m.Subject)
		}
	}
	return s
}

// hookDB is the storm windows' DynamoDB with a hook on UpdateItem.
type hookDB struct {
	incident.WindowDB
	onUpdate func(ctx context.Context, in *dynamodb.UpdateItemInput, next func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error)
}

func (h *hookDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	next := func() (*dynamodb.UpdateItemOutput, error) { return h.WindowDB.UpdateItem(ctx, in, opts...) }
	if h.onUpdate != nil {
		return h.onUpdate(ctx, in, next)
	}
	return next()
}

// trackerWith is a second tracker on the world's ledger and topic whose
// storm-window calls go through db.
func (w *world) trackerWith(db incident.WindowDB, stormLimit int) *incident.Tracker {
	w.t.Helper()
	pub, err := alert.NewSNS(sns.NewFromConfig(w.p.Config), w.p.Topic)
	if err != nil {
		w.t.Fatal(err)
	}
	tr, err := incident.New(incident.Options{Ledger: w.p.Ledger, Windows: db, Publisher: pub, StormLimit: stormLimit,
		Log: slog.New(slog.DiscardHandler), Clock: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return tr
}

func isHold(in *dynamodb.UpdateItemInput) bool {
	return strings.Contains(aws.ToString(in.UpdateExpression), "ADD #label")
}

// 1. A held warning that turns critical is held again in the same window
// under its new label: the digest counts one item twice.
func TestDigestCountsAnUpgradedHeldItemOnce(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	start := w.alignWindow()
	w.mustSettle(w.longPending("first"))  // paged: the window's one page
	w.mustSettle(w.longPending("second")) // held
	if it := w.item("second"); it.Alert != incident.Held {
		t.Fatalf("second: alert %q, want HELD", it.Alert)
	}
	w.mustSettle(w.failed("second")) // S3's failure event: critical now
	w.clock.Advance(7 * time.Minute)
	if _, err := w.p.Tracker.Window(context.Background(), ledger.Key{PK: ledger.WindowPrefix + w.src, SK: "W#" + start.Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	if got := w.messages("DIGEST 1 replication problems"); got != 1 {
		t.Errorf("one item was held back (second), so one digest counting 1; got subjects %q", w.subjects())
	}
}

// 2. A held warning that turns critical leaves HELD for DUE with HeldIn
// cleared, so it never leaves its first window's open set: that window's
// resolved notice never goes out and its head stays in the attention index
// for ever.
func TestAStormEndsWhenAnUpgradedHeldItemEnds(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	start := w.alignWindow()
	w.mustSettle(w.longPending("first"))
	w.mustSettle(w.longPending("second"))
	w.clock.Advance(7 * time.Minute) // W1 is over and settled; the clock is in the next window
	// W1's digest, before any sweep rechecks second (which a sweep may do
	// first, in parallel, and page on its own).
	if _, err := w.p.Tracker.Window(context.Background(), ledger.Key{PK: ledger.WindowPrefix + w.src, SK: "W#" + start.Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	if w.messages("DIGEST 1 replication problems") != 1 {
		t.Fatalf("prepare: no digest; subjects %q", w.subjects())
	}
	w.mustSettle(w.failed("second")) // critical now: a new page, in the current window
	w.redrive()
	w.mustSettle(w.verified("first"))
	w.mustSettle(w.verified("second"))
	for range 4 {
		w.clock.Advance(25 * time.Hour)
		w.sweep()
	}
	// The sweeps raise first to FAILED too (its replication is denied):
	// second's raised page lands in a full window and is held there. Each
	// window that held an item gets one digest and one notice of its end.
	if digests, ends := w.messages("DIGEST"), w.messages("replication problems on")-w.messages("DIGEST"); digests == 0 || ends != digests {
		t.Errorf("every problem is over: %d digests, %d notices that a storm is over; want one each per window; subjects %q", digests, ends, w.subjects())
	}
	for _, h := range w.windowsInAttention() {
		t.Errorf("storm window %s still in the attention index (digest %q, due %s) after every problem ended", h.SK, h.Digest, h.AttnDue)
	}
}

// 3. A page claim taken over after its lease keeps its old storm window;
// the taker's reservation re-adds that window's head to the attention
// index (if_not_exists(attn)) after the window's resolved notice took it
// out, and Window does nothing for a RESOLVED head: it stays there for
// ever.
func TestATakenOverClaimDoesNotReopenAResolvedWindow(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.alignWindow()
	w.mustSettle(w.failed("first"))  // paged
	w.mustSettle(w.failed("second")) // held
	third := w.failed("third")
	// The process handling third stops right after its claim landed.
	if err := sb.InjectFault(sandbox.Fault{Kind: sandbox.FaultCrash, After: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	_, _ = w.p.Tracker.Settle(ctx, third, incident.LikelyNew)
	cancel()
	sb.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultCrash})
	if it := w.item("third"); it.Alert != incident.Sending || it.Claim == "" {
		t.Fatalf("prepare: third alert %q claim %q, want a claim left behind", it.Alert, it.Claim)
	}
	w.clock.Advance(7 * time.Minute)
	w.head = w.window()
	if _, err := w.p.Tracker.Window(context.Background(), w.head); err != nil || w.messages("DIGEST 1") != 1 {
		t.Fatalf("prepare: digest: %v %q", err, w.subjects())
	}
	w.redrive()
	w.mustSettle(w.verified("first"))
	w.mustSettle(w.verified("second"))
	if _, err := w.p.Tracker.Window(context.Background(), w.head); err != nil || w.messages("RESOLVED 1 replication problems") != 1 {
		t.Fatalf("prepare: the storm's end: %v %q", err, w.subjects())
	}
	if heads := w.windowsInAttention(); len(heads) != 0 {
		t.Fatalf("prepare: the resolved window is still in the attention index")
	}
	// third's lease ends; sweeps take its claim over and page it later.
	for range 6 {
		w.clock.Advance(11 * time.Minute)
		w.sweep()
	}
	for _, h := range w.windowsInAttention() {
		if h.Key == w.head {
			t.Errorf("the storm window %s, resolved and told, is back in the attention index (digest %q, due %s) and no sweep takes it out", h.SK, h.Digest, h.AttnDue)
		}
	}
}

// 4. A hold whose write to the window's sets landed but whose answer did
// not (a timeout) is taken for certain: the claim is given back, the item
// is paged in a later window, and the first window's digest counts it
// too; its open set never empties, so that storm never ends.
func TestAHoldWhoseAnswerIsLostIsNotToldTwice(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.alignWindow()
	var fired atomic.Bool
	tr := w.trackerWith(&hookDB{WindowDB: w.p.DB, onUpdate: func(ctx context.Context, in *dynamodb.UpdateItemInput, next func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error) {
		out, err := next()
		if isHold(in) && err == nil && fired.CompareAndSwap(false, true) {
			// DynamoDB applied it; the answer did not come back in time.
			return nil, &awscall.TimeoutError{Operation: "UpdateItem", Limit: time.Second, Err: context.DeadlineExceeded}
		}
		return out, err
	}}, 1)
	ctx := context.Background()
	for _, k := range []string{"first", "second"} {
		if _, err := tr.Settle(ctx, w.failed(k), incident.ReadFirst); err != nil {
			t.Fatal(err)
		}
	}
	if !fired.Load() {
		t.Fatal("prepare: second was not held")
	}
	w.clock.Advance(7 * time.Minute)
	w.sweep()
	w.clock.Advance(2 * time.Minute)
	w.sweep()
	digested := w.messages("DIGEST 1 replication problems")
	paged := w.messages("[CRITICAL] FAILED s3://" + w.src + "/second")
	if digested+paged != 1 {
		t.Errorf("second told %d times (digest %d, page %d), want once; subjects %q", digested+paged, digested, paged, w.subjects())
	}
	w.redrive()
	for _, k := range []string{"first", "second"} {
		w.mustSettle(w.verified(k))
	}
	for range 4 {
		w.clock.Advance(25 * time.Hour)
		w.sweep()
	}
	for _, h := range w.windowsInAttention() {
		t.Errorf("storm window %s still in the attention index (digest %q) after every problem ended", h.SK, h.Digest)
	}
}

// 5. Taking back a reservation (ADD alerts -1) is not idempotent: when its
// answer is lost, the SDK's retry takes it back twice, and the window lets
// one page more than its limit through ("a lost correction errs towards a
// digest, never towards a page too many").
func TestALostAnswerDoesNotLetAPagePastTheStormLimit(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	start := w.alignWindow()
	first := w.failed("first")
	w.failed("second")
	w.failed("third")
	_ = sb.InjectFault(sandbox.Fault{Service: "sns", Kind: sandbox.FaultUnavailable})
	// DynamoDB calls of a LikelyNew settle: the item's write, the
	// reservation, then (the publish failed) the reservation taken back,
	// whose answer is lost.
	_ = sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose, After: 2})
	out, err := w.p.Tracker.Settle(context.Background(), first, incident.LikelyNew)
	sb.ClearFaultsMatching(sandbox.Fault{Service: "sns"})
	sb.ClearFaultsMatching(sandbox.Fault{Service: "dynamodb"})
	if err != nil || out.SendErr == nil {
		t.Fatalf("prepare: settle: %v, send error %v; want the publish to fail", err, out.SendErr)
	}
	var h struct {
		Alerts int `dynamodbav:"alerts"`
	}
	_ = attributevalue.UnmarshalMap(w.headItem(start), &h)
	if h.Alerts != 0 {
		t.Errorf("window's page count after one reservation taken back: %d, want 0", h.Alerts)
	}
	w.clock.Advance(2 * time.Minute) // first is due again, in the same window
	w.sweep()
	w.mustSettle(w.failed("second"))
	w.mustSettle(w.failed("third"))
	if got := w.messages("[CRITICAL] FAILED"); got != 1 {
		t.Errorf("pages in a window limited to 1: %d; subjects %q", got, w.subjects())
	}
}

// 6. A critical problem recorded while a warning's page claim is in
// flight is noted on the claim (observe); when the holder then holds the
// page back, hold() makes the item HELD without looking at the kind, so
// the critical problem is never paged (confirm() does look: "upgraded
// while in flight").
func TestAnUpgradeDuringAHoldIsPaged(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.alignWindow()
	failedSecond := w.failed("second")
	var fired atomic.Bool
	tr := w.trackerWith(&hookDB{WindowDB: w.p.DB, onUpdate: func(ctx context.Context, in *dynamodb.UpdateItemInput, next func() (*dynamodb.UpdateItemOutput, error)) (*dynamodb.UpdateItemOutput, error) {
		if isHold(in) && fired.CompareAndSwap(false, true) {
			// Another auditor instance records S3's failure event now.
			if _, err := w.p.Tracker.Settle(ctx, failedSecond, incident.ReadFirst); err != nil {
				t.Errorf("the concurrent settle: %v", err)
			}
		}
		return next()
	}}, 1)
	ctx := context.Background()
	if _, err := tr.Settle(ctx, w.longPending("first"), incident.ReadFirst); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Settle(ctx, w.longPending("second"), incident.ReadFirst); err != nil {
		t.Fatal(err)
	}
	if !fired.Load() {
		t.Fatal("prepare: second was not held")
	}
	it := w.item("second")
	t.Logf("second after the hold: verdict %s alert %q kind %q", it.Verdict, it.Alert, it.AlertKind)
	for range 4 {
		w.clock.Advance(11 * time.Minute)
		w.sweep()
	}
	// The sweeps find first FAILED too (its replication is denied), and
	// its page fills the later window (limit 1): second's critical alert
	// is then paged, or counted as FAILED in that window's digest.
	it = w.item("second")
	paged := w.messages("[CRITICAL] FAILED s3://"+w.src+"/second") == 1 && it.Alert == incident.Sent
	held := it.Alert == incident.Held && it.HeldIn != "" && strings.Contains(strings.Join(bodies(w, "DIGEST"), "\n"), "FAILED/")
	if !paged && !held {
		t.Errorf("second turned FAILED after a warning: alert %q held in %q; want one critical page, or a FAILED count in a digest; subjects %q", it.Alert, it.HeldIn, w.subjects())
	}
}

func bodies(w *world, fragment string) []string {
	var out []string
	for _, m := range w.sb.SNSMessages() {
		if m.Topic == w.p.Topic && strings.Contains(m.Subject, fragment) {
			out = append(out, m.Body)
		}
	}
	return out
}

// 7. A page claim whose holder stopped is taken over after the lease and
// published even when the problem ended meanwhile: on-call is paged
// FAILED for a replicated object, then told it is resolved. The holder's
// own release of the same state goes to RESOLVED without a page
// ("over, never paged").
func TestATakenOverClaimDoesNotPageAProblemAlreadyOver(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 0)
	f := w.failed("k")
	if err := sb.InjectFault(sandbox.Fault{Kind: sandbox.FaultCrash, After: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	_, _ = w.p.Tracker.Settle(ctx, f, incident.LikelyNew)
	cancel()
	sb.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultCrash})
	if it := w.item("k"); it.Alert != incident.Sending {
		t.Fatalf("prepare: alert %q, want a claim left behind", it.Alert)
	}
	w.redrive()
	// The next event comes once the stopped write's batch is past its
	// deadline; before, it would wait for that batch (ErrOwedElsewhere).
	w.clock.Advance(2 * time.Minute)
	w.mustSettle(w.verified("k"))
	w.quiet()
	if it := w.item("k"); it.Verdict != audit.Verified || it.Alert != incident.Resolved {
		t.Errorf("k: %s alert %q, want VERIFIED RESOLVED", it.Verdict, it.Alert)
	}
	if got := w.messages("[CRITICAL] FAILED"); got != 0 {
		t.Errorf("the problem was over before any page went out; got subjects %q", w.subjects())
	}
}

// 8. SNS's answer to an accepted page is lost: the README says the page
// then goes out again when the claim's lease ends, 10 minutes later. The
// SDK's own retry sends it again at once.
func TestALostSNSAnswerIsNotRepeatedBeforeTheLease(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 0)
	f := w.failed("k")
	_ = sb.InjectFault(sandbox.Fault{Service: "sns", Kind: sandbox.FaultLose})
	out, err := w.p.Tracker.Settle(context.Background(), f, incident.ReadFirst)
	sb.ClearFaultsMatching(sandbox.Fault{Service: "sns"})
	if err != nil {
		t.Fatal(err)
	}
	it := w.item("k")
	if got := w.messages("[CRITICAL] FAILED"); got != 1 {
		t.Errorf("pages before any lease ended: %d (ledger: alert %q, pages %d, published %v)", got, it.Alert, it.Pages, out.Published)
	}
}

// 9. The window's confirmation write, whose answer is lost and whose SDK
// retry then fails its condition, is reported as an unsent notice
// (fmt.Errorf wraps ignoreConflict(err) == nil): the sweep fails and
// counts a notice unsent although the digest went out and was recorded.
func TestADigestRecordedDespiteALostAnswerIsNotReportedUnsent(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.stormSettled("first", "second", "third")
	// Window's DynamoDB calls: read the head, query the shards, claim the
	// digest, record it (its answer lost).
	_ = sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose, After: 3})
	out, err := w.p.Tracker.Window(context.Background(), w.head)
	sb.ClearFaultsMatching(sandbox.Fault{Service: "dynamodb"})
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Digest string `dynamodbav:"digest"`
		Claim  string `dynamodbav:"claim"`
	}
	raw, _ := w.p.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.p.Options.Table), Key: w.head.AV(), ConsistentRead: aws.Bool(true)})
	_ = attributevalue.UnmarshalMap(raw.Item, &h)
	if w.messages("DIGEST 2") != 1 || h.Digest != incident.Sent || h.Claim != "" {
		t.Fatalf("prepare: digest %q claim %q, subjects %q: want the digest sent and recorded", h.Digest, h.Claim, w.subjects())
	}
	if out.SendErr != nil {
		t.Errorf("the digest went out and was recorded, yet the outcome says: %v", out.SendErr)
	}
}

// 10. A storm window written by the previous version, whose digest was
// owed when the new code was deployed (digest "DUE", counts in c_<label>
// attributes, attnSince in RFC3339Nano): Window matches none of its cases
// for digest "DUE", so the digest is never sent and the head is read by
// every sweep for ever.
func TestALegacyStormWindowIsSettled(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 0)
	start := w.clock.Now().UTC().Truncate(5 * time.Minute).Add(-10 * time.Minute)
	k := ledger.Key{PK: ledger.WindowPrefix + w.src, SK: "W#" + start.Format(time.RFC3339)}
	end := start.Add(5 * time.Minute)
	item, err := attributevalue.MarshalMap(map[string]any{
		"pk": k.PK, "sk": k.SK, "alerts": 25, "bucket": w.src, "windowEnd": end,
		"c_FAILED/DstPutObjectNotPermitted": 5, "digest": "DUE", "examples": []string{"s3://" + w.src + "/a -> " + w.dst},
		"attn": ledger.AttnShard(k), "attnSince": end.Format(time.RFC3339Nano), "ttl": end.Add(400 * 24 * time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.p.Options.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.clock.Advance(11 * time.Minute)
		w.sweep()
	}
	if got := w.messages("DIGEST"); got != 1 {
		t.Errorf("the digest the previous version owed: %d sent, want 1; subjects %q", got, w.subjects())
	}
	for _, h := range w.windowsInAttention() {
		t.Errorf("legacy storm window %s still in the attention index (digest %q, due %s)", h.SK, h.Digest, h.AttnDue)
	}
}

// 11. An incident the previous version paged (alert SENT, verdict FAILED)
// was taken out of the attention index by that version; nothing puts it
// back, so a re-drive never resolves it: the ledger says FAILED for ever
// and on-call never gets the resolved notice.
func TestALegacyIncidentIsResolvedAfterARedrive(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 0)
	f := w.failed("k")
	k := ledger.KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination)
	now := w.clock.Now().UTC().Add(-time.Hour)
	item, err := attributevalue.MarshalMap(map[string]any{
		"pk": k.PK, "sk": k.SK, "bucket": f.Bucket, "sourceRegion": f.SourceRegion, "key": f.Key, "versionId": f.VersionID,
		"destination": f.Destination, "destinationRegion": f.DestinationRegion, "ruleId": f.RuleID, "size": 1,
		"eventTime": now, "firstSeen": now, "lastChecked": now, "checks": 1, "verdict": "FAILED", "detail": f.Detail,
		"failureReason": f.FailureReason, "history": []map[string]any{{"verdict": "FAILED", "at": now}},
		"alert": "SENT", "alertKind": "FAILED", "alertedAt": now,
		"day": now.Format(time.DateOnly), "dayShard": fmt.Sprintf("%s#%02d", now.Format(time.DateOnly), ledger.Shard(k)),
		"ttl": now.Add(400 * 24 * time.Hour).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(w.p.Options.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
	w.redrive()
	for _, d := range []time.Duration{10 * time.Minute, 2 * time.Hour, 25 * time.Hour} {
		w.clock.Advance(d)
		w.sweep()
	}
	if it := w.item("k"); it.Verdict != audit.Verified || it.Alert != incident.Resolved {
		t.Errorf("legacy incident after a re-drive: %s alert %q attention %q, want VERIFIED RESOLVED", it.Verdict, it.Alert, it.Attn)
	}
	if got := w.messages("[INFO] RESOLVED"); got != 1 {
		t.Errorf("resolved notices: %d, want 1", got)
	}
}

// 12. The digest's claim, whose answer is lost and whose SDK retry then
// fails its condition, is taken for another sender's (ignoreConflict):
// nothing is published, and the digest waits for the claim's lease, 10
// minutes, although the write was this sender's. Item writes know their
// own landed write by its write id; window writes do not.
func TestALostAnswerToTheDigestClaimDoesNotDelayTheDigest(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.stormSettled("first", "second", "third")
	// Window's DynamoDB calls: read the head, query the shards, claim the
	// digest (its answer lost).
	_ = sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose, After: 2})
	out, err := w.p.Tracker.Window(context.Background(), w.head)
	sb.ClearFaultsMatching(sandbox.Fault{Service: "dynamodb"})
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(5 * time.Minute) // a sweep later, within the lease
	w.sweep()
	if got := w.messages("DIGEST 2"); got != 1 {
		t.Errorf("digests sent by the call that claimed it, and a sweep later: %d, want 1 (outcome %+v)", got, out.Published)
	}
}
