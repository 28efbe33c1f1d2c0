package auditor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/sweep"
)

// stack is the whole job on a sandbox, as deployed: a source in us-east-1
// replicating to destinations in ap-south-1, its events in a queue, the
// ledger table, the alert topic, the auditor and the sweeper, on a clock
// the test moves.
type stack struct {
	*plane.Plane
	b       *plane.Buckets
	clock   *sandboxtest.Clock
	metrics *sandboxtest.Buffer
	logs    *sandboxtest.Buffer
}

type stackOptions struct {
	stormLimit int
	rules      []plane.Rule
	ruleIDs    []string
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	st := &stack{clock: &sandboxtest.Clock{}, metrics: &sandboxtest.Buffer{}, logs: &sandboxtest.Buffer{}}
	// As deployed, a delivery delay lets most objects replicate before the
	// first check; the sweeper checks the rest again.
	st.Plane, err = plane.Start(ctx, sb, plane.Options{QueueDelay: 300 * time.Millisecond, VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 3,
		Config: env.Config{StormLimit: o.stormLimit, RuleIDs: o.ruleIDs}, Clock: st.clock.Now,
		Log: slog.New(slog.NewJSONHandler(st.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: st.metrics})
	if err != nil {
		t.Fatal(err)
	}
	st.b = st.Buckets()
	if err := st.b.Create(ctx, "src", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range o.rules {
		if err := st.b.Create(ctx, r.Destination, "ap-south-1"); err != nil {
			t.Fatal(err)
		}
	}
	st.put(t, "written-before-the-rule", "x")
	if err := st.b.Replicate(ctx, "src", o.rules...); err != nil {
		t.Fatal(err)
	}
	if err := st.Listen(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	return st
}

func dests(names ...string) []plane.Rule {
	var rs []plane.Rule
	for _, n := range names {
		rs = append(rs, plane.Rule{Destination: n, Metrics: true})
	}
	return rs
}

func (st *stack) put(t testing.TB, key, body string) string {
	t.Helper()
	v, err := st.b.Put(context.Background(), "src", key, body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// run attaches the auditor to the queue, as the event source mapping does.
func (st *stack) run(t testing.TB) {
	t.Helper()
	if err := st.Run(10); err != nil {
		t.Fatal(err)
	}
}

func (st *stack) item(t testing.TB, key, version, dest string) ledger.Item {
	t.Helper()
	it, err := st.Ledger.Get(context.Background(), ledger.KeyOf("src", key, version, dest))
	if err != nil {
		t.Fatalf("ledger item %s@%s -> %s: %v", key, version, dest, err)
	}
	return it
}

// waitItem waits until the item satisfies ok.
func (st *stack) waitItem(t testing.TB, key, version, dest, what string, ok func(ledger.Item) bool) ledger.Item {
	t.Helper()
	var it ledger.Item
	sandboxtest.EventuallyNoError(t, 10*time.Second, fmt.Sprintf("%s@%s -> %s: %s", key, version, dest, what), func() error {
		var err error
		if it, err = st.Ledger.Get(context.Background(), ledger.KeyOf("src", key, version, dest)); err != nil {
			return err
		}
		if !ok(it) {
			return fmt.Errorf("got %s alert %q (%s)", it.Verdict, it.Alert, it.Detail)
		}
		return nil
	})
	return it
}

func (st *stack) waitVerdict(t testing.TB, key, version, dest string, want audit.Verdict) ledger.Item {
	t.Helper()
	return st.waitItem(t, key, version, dest, string(want), func(it ledger.Item) bool { return it.Verdict == want })
}

func (st *stack) alerts(kind string) []sandbox.SNSMessage {
	var out []sandbox.SNSMessage
	for _, m := range st.Sandbox.SNSMessages() {
		if kind == "" || strings.Contains(m.Subject, kind) {
			out = append(out, m)
		}
	}
	return out
}

// sweep runs the sweeper once, failing the test on an error.
func (st *stack) sweep(t testing.TB) {
	t.Helper()
	if _, err := st.Sweeper.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTheJobVerdictByVerdict(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst-a", "dst-b")})
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
				if it.Replica == nil || it.Replica.VersionID != versions[k] || it.LagSeconds == nil || it.Attn != "" {
					t.Errorf("%s -> %s: evidence %+v lag %v attention %q", k, d, it.Replica, it.LagSeconds, it.Attn)
				}
			}
		}
		if a := st.alerts(""); len(a) != 0 {
			t.Errorf("got %d alerts on the happy path", len(a))
		}
	})
	t.Run("a pre-existing object is NOT_REPLICATED", func(t *testing.T) {
		// Its event was sent before the auditor listened; feed it again.
		v := latest(t, st, "written-before-the-rule")
		rec := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"written-before-the-rule","size":1,"versionId":%q}}}]}`, v)
		if _, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: rec}}}); err != nil {
			t.Fatal(err)
		}
		st.waitVerdict(t, "written-before-the-rule", v, "dst-a", audit.NotReplicated)
	})
	t.Run("deny: FAILED with its reason in one alert", func(t *testing.T) {
		_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst-b", Kind: sandbox.FaultDeny, Reason: "DstKmsKeyNotFound"})
		defer st.Sandbox.ClearFaults("")
		v := st.put(t, "denied.txt", "x")
		st.waitVerdict(t, "denied.txt", v, "dst-a", audit.Verified)
		it := st.waitItem(t, "denied.txt", v, "dst-b", "FAILED, paged with the reason", func(it ledger.Item) bool {
			return it.Verdict == audit.Failed && it.Alert == incident.Sent && it.FailureReason == "DstKmsKeyNotFound"
		})
		a := st.alerts("FAILED")
		if len(a) != 1 || it.Pages != 1 {
			t.Fatalf("got %d FAILED alerts (%d pages recorded), want 1: %+v", len(a), it.Pages, a)
		}
		if !strings.Contains(a[0].Body, "Reason:    DstKmsKeyNotFound") {
			t.Errorf("the alert does not name the reason:\n%s", a[0].Body)
		}
		if !strings.Contains(a[0].Subject, "s3://src/denied.txt") || len(a[0].Subject) >= 100 || a[0].Attributes["severity"] != "critical" || a[0].Attributes["bucket"] != "src" {
			t.Errorf("alert: %+v", a[0])
		}
		if it.Attn == "" {
			t.Error("an open incident left the attention index")
		}
	})
	t.Run("a tampered replica is DIVERGED, with the differences in the alert", func(t *testing.T) {
		_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst-a", Kind: sandbox.FaultTamper})
		defer st.Sandbox.ClearFaults("")
		v := st.put(t, "tampered.bin", "the real bytes")
		it := st.waitItem(t, "tampered.bin", v, "dst-a", "DIVERGED and paged", func(it ledger.Item) bool {
			return it.Verdict == audit.Diverged && it.Alert == incident.Sent
		})
		if len(it.Differences) != 2 {
			t.Errorf("differences: %v, want size and ETag", it.Differences)
		}
		if a := st.alerts("DIVERGED"); len(a) != 1 || !strings.Contains(a[0].Body, "size") {
			t.Errorf("DIVERGED alerts: %+v", a)
		}
	})
	t.Run("delete markers", func(t *testing.T) {
		if _, err := st.b.S3("us-east-1").DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("plain.txt")}); err != nil {
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
	out, err := st.b.S3("us-east-1").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

func latestMarker(t testing.TB, st *stack, key string) string {
	t.Helper()
	var marker string
	sandboxtest.Eventually(t, 5*time.Second, "the delete marker", func() bool {
		out, err := st.b.S3("us-east-1").ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("src"), Prefix: aws.String(key)})
		if err != nil || len(out.DeleteMarkers) == 0 {
			return false
		}
		marker = aws.ToString(out.DeleteMarkers[0].VersionId)
		return true
	})
	return marker
}

func TestALongOutageWarnsOnceThenResolvesAndNeverFails(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	v := st.put(t, "held.bin", "x")
	st.waitVerdict(t, "held.bin", v, "dst", audit.Pending)
	// Three sweeps, each five minutes apart, as scheduled: past the
	// threshold of 30 minutes, one warning, and no more.
	for range 12 {
		st.clock.Advance(5 * time.Minute)
		st.sweep(t)
	}
	if a := st.alerts("LONG_PENDING"); len(a) != 1 || a[0].Attributes["severity"] != "warning" {
		t.Fatalf("long-PENDING alerts: %+v, want exactly one warning", a)
	}
	st.Sandbox.ClearFaults("")
	sandboxtest.Eventually(t, 5*time.Second, "the replica after the outage", func() bool {
		s, _ := st.b.Status(context.Background(), "src", "held.bin", v)
		return s == "COMPLETED"
	})
	// The item is rechecked on its back-off: within the hour.
	for range 12 {
		st.clock.Advance(5 * time.Minute)
		st.sweep(t)
	}
	it := st.item(t, "held.bin", v, "dst")
	if it.Verdict != audit.Verified || it.Alert != incident.Resolved || it.Attn != "" {
		t.Errorf("after the outage: %s, alert %q, attention %q; want VERIFIED, RESOLVED and out of the index", it.Verdict, it.Alert, it.Attn)
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

func TestEachDestinationIsJudgedOnItsOwnEvidence(t *testing.T) {
	// S3's source status is an aggregate: FAILED as soon as one destination
	// failed. The destination in an outage must stay PENDING, and verify
	// when the outage ends.
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst-denied", "dst-out")})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst-denied", Kind: sandbox.FaultDeny})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst-out", Kind: sandbox.FaultOutage})
	v := st.put(t, "k", "x")
	st.waitItem(t, "k", v, "dst-denied", "FAILED from S3's failure event, paged", func(it ledger.Item) bool {
		return it.Verdict == audit.Failed && it.Alert == incident.Sent
	})
	out := st.waitVerdict(t, "k", v, "dst-out", audit.Pending)
	for range 3 {
		st.clock.Advance(5 * time.Minute)
		st.sweep(t)
	}
	if it := st.item(t, "k", v, "dst-out"); it.Verdict != audit.Pending || it.Alert != "" {
		t.Errorf("the destination in an outage: %s alert %q (%s), want PENDING without an alert", it.Verdict, it.Alert, out.Detail)
	}
	st.Sandbox.ClearFaults("dst-out")
	sandboxtest.Eventually(t, 5*time.Second, "the replica in dst-out", func() bool {
		_, err := st.b.S3("ap-south-1").HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("dst-out"), Key: aws.String("k"), VersionId: aws.String(v)})
		return err == nil
	})
	st.clock.Advance(5 * time.Minute)
	st.sweep(t)
	it := st.item(t, "k", v, "dst-out")
	if it.Verdict != audit.Verified {
		t.Errorf("after the outage: %s, want VERIFIED", it.Verdict)
	}
	for _, h := range it.History {
		if h.Verdict == audit.Failed {
			t.Errorf("dst-out was recorded FAILED: %+v", it.History)
		}
	}
	if a := st.alerts("FAILED"); len(a) != 1 || !strings.Contains(a[0].Subject, "s3://src/k") || !strings.Contains(a[0].Body, "dst-denied") {
		t.Errorf("FAILED alerts: %+v, want one, for dst-denied", a)
	}
}

func TestAFailedReplicaThatIsRedrivenIsResolved(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "k", "x")
	st.waitItem(t, "k", v, "dst", "FAILED and paged", func(it ledger.Item) bool { return it.Verdict == audit.Failed && it.Alert == incident.Sent })
	st.Sandbox.ClearFaults("")
	if n, err := st.Sandbox.Redrive("src"); err != nil || n != 1 {
		t.Fatalf("redrive: %d, %v", n, err)
	}
	sandboxtest.Eventually(t, 5*time.Second, "the re-driven replica", func() bool {
		s, _ := st.b.Status(context.Background(), "src", "k", v)
		return s == "COMPLETED"
	})
	// A FAILED item is rechecked soon at first, then hourly.
	for i := 0; i < 30 && st.item(t, "k", v, "dst").Alert != incident.Resolved; i++ {
		st.clock.Advance(10 * time.Minute)
		st.sweep(t)
	}
	it := st.item(t, "k", v, "dst")
	if it.Verdict != audit.Verified || it.Alert != incident.Resolved || it.Attn != "" {
		t.Errorf("after the re-drive: %s alert %q attention %q, want VERIFIED, RESOLVED, out of the index", it.Verdict, it.Alert, it.Attn)
	}
	if a := st.alerts("RESOLVED"); len(a) != 1 || !strings.Contains(a[0].Body, "FAILED incident") {
		t.Errorf("resolved notices: %+v, want one that names the FAILED incident", a)
	}
}

// TestAnIncidentOfARuleTheStackNoLongerAuditsIsClosed: when a source
// leaves the stack (an AdditionalSources entry removed), its rule goes,
// and so does the stack's leave to read it. Its open incidents are closed
// at their next check, NOT_REPLICATED with one resolved notice, rather
// than checked again until the ledger expires them.
func TestAnIncidentOfARuleTheStackNoLongerAuditsIsClosed(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst"), ruleIDs: []string{plane.RuleID("dst")}})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "k", "x")
	st.waitItem(t, "k", v, "dst", "FAILED and paged", func(it ledger.Item) bool { return it.Verdict == audit.Failed && it.Alert == incident.Sent })
	st.Sandbox.ClearFaults("")

	// The stack's functions after the update: the rule is not theirs.
	checker, err := env.Checker(st.Config, env.Config{RuleIDs: []string{plane.RuleID("elsewhere")}, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := sweep.New(sweep.Options{Checker: checker, Ledger: st.Ledger, Tracker: st.Tracker, Clock: st.clock.Now, Log: slog.New(slog.NewJSONHandler(st.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st.Sandbox.ResetCalls()
	for i := 0; i < 30 && st.item(t, "k", v, "dst").Alert != incident.Resolved; i++ {
		st.clock.Advance(10 * time.Minute)
		if _, err := sw.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	it := st.item(t, "k", v, "dst")
	if it.Verdict != audit.NotReplicated || it.Alert != incident.Resolved || it.Attn != "" || !strings.Contains(it.Detail, "no longer one this stack audits") {
		t.Errorf("got %s alert %q attention %q detail %q; want NOT_REPLICATED, RESOLVED, out of the index, saying why", it.Verdict, it.Alert, it.Attn, it.Detail)
	}
	if a := st.alerts("RESOLVED"); len(a) != 1 {
		t.Errorf("%d resolved notices, want one", len(a))
	}
	for _, c := range st.Sandbox.Calls() {
		if c.Service == "s3" && c.Resource == "dst" {
			t.Errorf("the sweep read the destination of a rule it no longer audits: %+v", c)
		}
	}
}

func TestRedeliveredShuffledEventsAlertOncePerIncident(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	for i := range 5 {
		st.put(t, fmt.Sprintf("denied-%d", i), "x")
	}
	sandboxtest.Eventually(t, 5*time.Second, "the events of 5 writes and 5 failures", func() bool {
		return len(st.Sandbox.QueueMessages(st.Queue)) >= 1+5+5
	})
	var msgs []events.SQSMessage
	for _, m := range st.Sandbox.QueueMessages(st.Queue) {
		for copyN := range 3 {
			msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("%s-%d", m.ID, copyN), Body: m.Body})
		}
	}
	rand.New(rand.NewSource(7)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	for i := 0; i < len(msgs); i += 10 {
		resp, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: msgs[i:min(i+10, len(msgs))]})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch: %+v %v", resp, err)
		}
	}
	if a := st.alerts("FAILED"); len(a) != 5 {
		t.Errorf("got %d FAILED alerts for 5 incidents delivered 3 times each", len(a))
	}
}

func TestAMessageThatCanNeverSucceedIsLoggedOnceNotRetried(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	var msgs []events.SQSMessage
	for i := range 100 {
		v := st.put(t, fmt.Sprintf("batch/%03d", i), "x")
		body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-29T01:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"batch/%03d","size":1,"versionId":%q}}}]}`, i, v)
		switch i {
		case 42:
			body = `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"bad%zzkey"}}}]}`
		case 43:
			body = `not json at all`
		}
		msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("m-%03d", i), Body: body})
	}
	resp, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures: %+v, want none: a message that can never succeed is not retried", resp.BatchItemFailures)
	}
	n := 0
	_ = st.Ledger.Period(context.Background(), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC), func(ledger.Item) error { n++; return nil })
	if n != 98 {
		t.Errorf("ledger holds %d items from the batch, want 98", n)
	}
	logs := st.logs.String()
	if strings.Count(logs, "can never be checked") != 2 || !strings.Contains(logs, "bad%zzkey") || !strings.Contains(logs, "not json at all") {
		t.Errorf("want two error lines carrying the bodies; logs:\n%s", logs)
	}
	if !strings.Contains(st.metrics.String(), `"Unprocessable":2`) {
		t.Errorf("metrics: %s", st.metrics.String())
	}
}

func TestEachRecordOfAMessageIsSettledOnItsOwn(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	v1, v2 := st.put(t, "first", "x"), st.put(t, "last", "x")
	sandboxtest.Eventually(t, 5*time.Second, "both replicated", func() bool {
		s1, _ := st.b.Status(context.Background(), "src", "first", v1)
		s2, _ := st.b.Status(context.Background(), "src", "last", v2)
		return s1 == "COMPLETED" && s2 == "COMPLETED"
	})
	rec := func(key, version string) string {
		return fmt.Sprintf(`{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":%q,"size":1,"versionId":%q}}}`, key, version)
	}
	body := `{"Records":[` + rec("first", v1) + `,` + rec("bad%zz", "v") + `,` + rec("last", v2) + `]}`
	resp, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %+v %v, want the message settled\n%s", resp, err, st.logs.String())
	}
	st.waitVerdict(t, "first", v1, "dst", audit.Verified)
	st.waitVerdict(t, "last", v2, "dst", audit.Verified) // not abandoned after the bad record
	if !strings.Contains(st.logs.String(), "record 1") {
		t.Errorf("the bad record is not named in the log:\n%s", st.logs.String())
	}
}

func TestNothingIsStartedPastTheDeadline(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	var msgs []events.SQSMessage
	for i := range 20 {
		v := st.put(t, fmt.Sprintf("late/%02d", i), "x")
		msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("m-%02d", i), Body: fmt.Sprintf(
			`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"late/%02d","size":1,"versionId":%q}}}]}`, i, v)})
	}
	// The invocation is already within its margin of the deadline.
	h, err := auditor.New(auditor.Options{Checker: st.Checker, Tracker: st.Tracker, Margin: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := h.Handle(ctx, events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 20 {
		t.Errorf("got %d messages back for SQS, want all 20 unstarted", len(resp.BatchItemFailures))
	}
	if calls := st.Sandbox.Calls(); countService(calls, "dynamodb", "PutItem") != 0 {
		t.Errorf("the handler wrote past its deadline: %+v", calls)
	}
}

func countService(calls []sandbox.Call, service, op string) int {
	n := 0
	for _, c := range calls {
		if c.Service == service && (op == "" || c.Operation == op) {
			n += c.Count
		}
	}
	return n
}

func TestReplicationEventsOfOtherRulesAreSkipped(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("ours", "theirs"), ruleIDs: []string{plane.RuleID("ours")}})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "theirs", Kind: sandbox.FaultDeny})
	v := st.put(t, "k", "x")
	st.waitVerdict(t, "k", v, "ours", audit.Verified)
	sandboxtest.Eventually(t, 5*time.Second, "the skipped failure event", func() bool {
		return strings.Contains(st.metrics.String(), `"OutOfScope":1`)
	})
	if _, err := st.Ledger.Get(context.Background(), ledger.KeyOf("src", "k", v, "theirs")); err != ledger.ErrNotFound {
		t.Errorf("another team's destination is in the ledger: %v", err)
	}
	if a := st.alerts(""); len(a) != 0 {
		t.Errorf("another team's rule paged our on-call: %+v", a)
	}
	if countService(st.Sandbox.Calls(), "s3", "HeadObject") == 0 || strings.Contains(fmt.Sprint(st.Sandbox.Calls()), "HeadObject theirs") {
		t.Errorf("calls: %+v", st.Sandbox.Calls())
	}
}

func TestLagIsMeasuredFromTheWriteTime(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	v := st.put(t, "slow", "x")
	sandboxtest.Eventually(t, 5*time.Second, "the replica", func() bool {
		s, _ := st.b.Status(context.Background(), "src", "slow", v)
		return s == "COMPLETED"
	})
	written := time.Now().Add(-20 * time.Minute).UTC()
	// S3 sends OperationReplicatedAfterThreshold when it is done: the
	// record's eventTime is then, its requestTime when the version was written.
	body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.2","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":%q,"eventName":"Replication:OperationReplicatedAfterThreshold","s3":{"bucket":{"name":"src"},"object":{"key":"slow","size":1,"versionId":%q}},"replicationEventData":{"replicationRuleId":"to-dst","destinationBucket":"arn:aws:s3:::dst","s3Operation":"OBJECT_PUT","requestTime":%q,"threshold":15,"replicationTime":1200}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), v, written.Format(time.RFC3339Nano))
	if _, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body}}}); err != nil {
		t.Fatal(err)
	}
	it := st.item(t, "slow", v, "dst")
	if it.Verdict != audit.Verified || it.LagSeconds == nil || *it.LagSeconds < 20*60 || it.EventTime.Sub(written).Abs() > time.Millisecond {
		t.Errorf("got %s lag %v event time %s, want VERIFIED at least 20 minutes after %s", it.Verdict, lag(it), it.EventTime, written)
	}

	t.Run("an event time in the future is clamped, and recorded as such", func(t *testing.T) {
		v := st.put(t, "from-the-future", "x")
		body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":%q,"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"from-the-future","size":1,"versionId":%q}}}]}`,
			time.Now().Add(72*time.Hour).UTC().Format(time.RFC3339Nano), v)
		if _, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body}}}); err != nil {
			t.Fatal(err)
		}
		it := st.item(t, "from-the-future", v, "dst")
		if !it.EventTimeClamped || it.EventTime.After(time.Now()) || it.Day != time.Now().UTC().Format(time.DateOnly) || (it.LagSeconds != nil && *it.LagSeconds < 0) {
			t.Errorf("got event time %s clamped %v day %s lag %s", it.EventTime, it.EventTimeClamped, it.Day, lag(it))
		}
	})
}

func TestAnAlertSNSCouldNotTakeIsSentByTheSweep(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	ctx := context.Background()
	_ = st.Sandbox.InjectFault(sandbox.Fault{Service: "sns", Kind: sandbox.FaultUnavailable})
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "lost?", "x")
	st.waitItem(t, "lost?", v, "dst", "FAILED with its reason, its page owed", func(it ledger.Item) bool {
		return it.Verdict == audit.Failed && it.FailureReason != "" && it.Alert == incident.Due
	})
	sandboxtest.Eventually(t, 5*time.Second, "the unsent alert counted in a metric", func() bool {
		return strings.Contains(st.metrics.String(), `"AlertsUnsent":1`)
	})
	// SNS still refuses: the sweep fails loudly, and counts nothing as alerted.
	st.clock.Advance(5 * time.Minute)
	sum, err := st.Sweeper.Run(ctx)
	if err == nil || sum.Alerted != 0 || sum.Unsent != 1 {
		t.Errorf("a sweep with SNS down: %+v %v, want an error, nothing alerted, one unsent", sum, err)
	}
	st.Sandbox.ClearFaultsMatching(sandbox.Fault{Service: "sns"})
	st.clock.Advance(5 * time.Minute)
	if sum, err := st.Sweeper.Run(ctx); err != nil || sum.Alerted != 1 {
		t.Fatalf("after SNS came back: %+v %v", sum, err)
	}
	if a := st.alerts("FAILED"); len(a) != 1 {
		t.Errorf("after SNS came back: %d alerts, want 1", len(a))
	}
	if it := st.item(t, "lost?", v, "dst"); it.Alert != incident.Sent || it.Pages != 1 {
		t.Errorf("alert state: %q with %d pages, want SENT with 1", it.Alert, it.Pages)
	}
}

func TestAnAlertSNSRefusesIsNeverSilent(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	ctx := context.Background()
	// A topic that is gone is a refusal that will not pass by itself.
	snsc := sns.NewFromConfig(st.Config)
	if _, err := snsc.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(st.Topic)}); err != nil {
		t.Fatal(err)
	}
	st.run(t)
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "refused", "x")
	st.waitItem(t, "refused", v, "dst", "FAILED, its page owed again in an hour", func(it ledger.Item) bool {
		return it.Verdict == audit.Failed && it.Alert == incident.Due && it.DueAt != nil && it.DueAt.After(st.clock.Now().Add(50*time.Minute))
	})
	sandboxtest.Eventually(t, 5*time.Second, "the refusal counted and logged as an error", func() bool {
		return strings.Contains(st.metrics.String(), `"AlertsRefused":1`) && strings.Contains(st.logs.String(), `"level":"ERROR","msg":"notice not sent`)
	})
	if _, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("replaudit-alerts")}); err != nil {
		t.Fatal(err)
	}
	st.clock.Advance(time.Hour + time.Minute)
	if sum, err := st.Sweeper.Run(ctx); err != nil || sum.Alerted != 1 {
		t.Fatalf("once the topic is back: %+v %v", sum, err)
	}
}

func TestAStormBecomesOneDigestThenOneResolution(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 3, rules: dests("dst")})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	st.run(t)
	var versions []string
	for i := range 8 {
		versions = append(versions, st.put(t, fmt.Sprintf("storm-%d", i), "x"))
	}
	for i, v := range versions {
		st.waitItem(t, fmt.Sprintf("storm-%d", i), v, "dst", "paged or held", func(it ledger.Item) bool {
			return it.Alert == incident.Sent || it.Alert == incident.Held
		})
	}
	if a := st.alerts("[CRITICAL] FAILED"); len(a) != 3 {
		t.Errorf("individual alerts: %d, want the limit of 3", len(a))
	}
	// The digest goes out once its window is over and settled.
	st.clock.Advance(7 * time.Minute)
	st.sweep(t)
	st.sweep(t)
	d := st.alerts("DIGEST")
	if len(d) != 1 || !strings.Contains(d[0].Body, "5 more replication problems") || !strings.Contains(d[0].Body, "FAILED/DstPutObjectNotPermitted") {
		t.Fatalf("digest: %+v", d)
	}
	var js map[string]any
	body := d[0].Body[strings.Index(d[0].Body, "--- JSON ---")+len("--- JSON ---"):]
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		t.Errorf("the digest's JSON block does not parse: %v", err)
	}
	// Re-driven, every problem ends: three resolved notices for the pages,
	// one for the digest.
	st.Sandbox.ClearFaults("")
	if _, err := st.Sandbox.Redrive("src"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		st.clock.Advance(10 * time.Minute)
		st.sweep(t)
		if items, _ := st.Attention(context.Background()); len(items) == 0 {
			break
		}
	}
	if items, _ := st.Attention(context.Background()); len(items) != 0 {
		t.Errorf("attention index after the storm: %d items, want none", len(items))
	}
	if r := st.alerts("RESOLVED"); len(r) != 4 || len(st.alerts("[INFO] RESOLVED 5 replication problems")) != 1 {
		t.Errorf("resolved notices: %d, want 3 for the pages and 1 for the digest: %+v", len(r), r)
	}
}

func TestABacklogTooBigForOneSweepIsCoveredByTheNext(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 1000, rules: dests("dst")})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
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
	// The outage lasts: every item stays PENDING, and each run may take on
	// only 10 items. Every item must still be checked again.
	sw, err := newSweeper(st, 10)
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 40; run++ {
		st.clock.Advance(5 * time.Minute)
		sum, err := sw.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 && !sum.Left {
			t.Fatal("one run covered the backlog: the test does not test resuming")
		}
		left := 0
		for k, v := range versions {
			if st.item(t, k, v, "dst").Checks < 2 {
				left++
			}
		}
		if left == 0 {
			return
		}
	}
	t.Error("40 bounded runs left items never checked again")
}

func lag(it ledger.Item) string {
	if it.LagSeconds == nil {
		return "none"
	}
	return fmt.Sprintf("%.1fs", *it.LagSeconds)
}

func newSweeper(st *stack, maxItems int) (*sweep.Sweeper, error) {
	return sweep.New(sweep.Options{Checker: st.Checker, Ledger: st.Ledger, Tracker: st.Tracker, MaxItems: maxItems, Concurrency: 1, Log: slog.New(slog.DiscardHandler)})
}
