package auditor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func createdBody(key, version string) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":%q,"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":%q,"size":1,"versionId":%q}}}]}`,
		time.Now().UTC().Format(time.RFC3339Nano), key, version)
}

// "A permanent error is retried like a transient one" was a
// defect; "a message that can never succeed is logged and counted once,
// not retried five times", and "transient or permanent comes from the
// SDK's retry classification". A source whose configuration the auditor
// may not read (403 AccessDenied, which the SDK never retries) goes back
// to SQS, five times, then to the DLQ: the handler never asks
// awscall.Transient.
func TestAPermanentErrorIsNotRetried(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	v := st.put(t, "k", "x")
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "src", Kind: sandbox.FaultForbid})
	resp, err := st.Handler.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m", Body: createdBody("k", v), Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("a 403 on the source's configuration went back to SQS (%+v); want it settled once (CANNOT_VERIFY, or logged and counted), not retried\nlogs: %s",
			resp.BatchItemFailures, st.logs.String())
	}
}

// "A destination that cannot be read for a permanent reason (403,
// no such bucket) becomes one 'cannot verify' incident with the cause and
// the fix." The README: "one warning with the permission to grant,
// re-checked daily". Each object version is its own incident: one
// forbidden destination pages once per object (then a digest per storm
// window, forever), and is re-checked every 5 minutes in its first hour.
func TestAForbiddenDestinationIsOneIncident(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultForbid})
	st.run(t)
	var versions []string
	for i := range 3 {
		versions = append(versions, st.put(t, fmt.Sprintf("k%d", i), "x"))
	}
	for i, v := range versions {
		// Settled: the incident's page recorded, or (as the fix should do)
		// folded into the destination's one incident.
		st.waitItem(t, fmt.Sprintf("k%d", i), v, "dst", "CANNOT_VERIFY, settled", func(it ledger.Item) bool {
			return it.Verdict == audit.CannotVerify && it.Alert != "DUE" && it.Alert != "SENDING"
		})
	}
	sandboxtest.Eventually(t, 5*time.Second, "the destination's incident paged", func() bool {
		it, err := st.Ledger.Get(context.Background(), ledger.BlindKey("src", "dst"))
		return err == nil && it.Alert == incident.Sent
	})
	if n := len(st.alerts("CANNOT_VERIFY")); n != 1 {
		t.Errorf("one destination replaudit may not read: %d CANNOT_VERIFY pages, want 1 incident", n)
	}
	it := st.item(t, "k0", versions[0], "dst")
	due, _ := time.Parse("2006-01-02T15:04:05.000000000Z07:00", it.AttnDue)
	if gap := due.Sub(it.LastChecked); gap < 23*time.Hour {
		t.Errorf("CANNOT_VERIFY re-checked %s after the last check; the README promises daily", gap)
	}
}

// breakAfterPublish publishes, then makes DynamoDB unavailable: the page
// went out and the ledger cannot record it.
type breakAfterPublish struct {
	inner incident.Publisher
	sb    *sandbox.Sandbox
}

func (b breakAfterPublish) Publish(ctx context.Context, m alert.Message) (error, error) {
	refused, err := b.inner.Publish(ctx, m)
	_ = b.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultUnavailable, Millis: 8000})
	return refused, err
}

// "The handler stops starting records when the deadline nears"
// and "after a publish, retry the ledger write within the invocation's
// remaining time". The retry loop (incident.Tracker.finish) stops only on
// ctx.Done: awscall gives each try three quarters of what remains and
// ErrNoTimeLeft counts as transient, so the handler answers at its
// deadline, which on Lambda is a timeout of the whole batch, the messages
// already settled included.
func TestTheHandlerAnswersBeforeItsDeadline(t *testing.T) {
	st := newStack(t, stackOptions{stormLimit: 20, rules: dests("dst")})
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := st.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "FAILED on the source", func() bool {
		s, _ := st.b.Status(context.Background(), "src", "k", v)
		return s == "FAILED"
	})
	pub, err := alert.NewSNS(sns.NewFromConfig(st.Config), st.Topic)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := incident.New(incident.Options{Ledger: st.Ledger, Windows: st.DB, Publisher: breakAfterPublish{inner: pub, sb: st.Sandbox}, Clock: st.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := auditor.New(auditor.Options{Checker: st.Checker, Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: createdBody("k", v)}}}); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(deadline); left < 200*time.Millisecond {
		t.Errorf("the handler answered %s before its deadline: on Lambda the invocation times out and every message of the batch comes back", left.Round(time.Millisecond))
	}
}
