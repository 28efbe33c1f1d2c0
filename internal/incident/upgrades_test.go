package incident_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/incident"
)

// a held warning that becomes critical in a later window is paged
// there, and its HeldIn is cleared (observe, Held + upgrade), but its hash
// stays in the first window's open set: when it ends, its resolved notice
// goes to on-call directly and nothing takes it off that set. The first
// window's "storm is over" notice never goes out, and its head stays in
// the attention index for good.
func TestAHeldWarningUpgradedLaterStillEndsItsStorm(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.mustSettle(w.longPending("a")) // paged: the window's one page
	w.mustSettle(w.longPending("b")) // held in the window's digest
	if it := w.item("b"); it.Alert != incident.Held {
		t.Fatalf("b: alert %q, want HELD", it.Alert)
	}
	w.clock.Advance(7 * time.Minute) // a new window
	w.mustSettle(w.failed("b"))      // the warning becomes critical: a new page
	if it := w.item("b"); it.Alert != incident.Sent || it.HeldIn != "" {
		t.Fatalf("b after the upgrade: alert %q heldIn %q, want SENT in no window", it.Alert, it.HeldIn)
	}
	if _, err := w.p.Sweeper.Run(context.Background()); err != nil { // the first window's digest
		t.Logf("sweep: %v", err)
	}
	w.redrive()
	w.mustSettle(w.verified("a"))
	w.mustSettle(w.verified("b"))
	w.quiet()
	if d, n := w.messages("DIGEST"), w.messages("[INFO] RESOLVED 1 replication problems"); n != d {
		t.Errorf("%d digests, %d notices that their storm is over: every problem they counted is over", d, n)
	}
	items, err := w.p.Attention(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		t.Errorf("left in the attention index after all is over: %s %s digest %q", it.PK, it.SK, it.Digest)
	}
}

// "A digest counts each held-back item exactly once." A held
// warning that becomes critical in the same window is held again under
// the new label; the window's sets hold its hash twice and the digest
// counts one item as two problems.
func TestADigestCountsAnUpgradedHeldItemOnce(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 1)
	w.mustSettle(w.longPending("a"))
	w.mustSettle(w.longPending("b"))
	w.mustSettle(w.failed("b")) // same window: held again, as FAILED
	if it := w.item("b"); it.Alert != incident.Held {
		t.Fatalf("b: alert %q, want HELD", it.Alert)
	}
	w.clock.Advance(7 * time.Minute)
	if _, err := w.p.Sweeper.Run(context.Background()); err != nil {
		t.Logf("sweep: %v", err)
	}
	for _, m := range w.sb.SNSMessages() {
		if m.Topic == w.p.Topic && strings.Contains(m.Subject, "DIGEST") && !strings.Contains(m.Subject, "DIGEST 1 replication problems") {
			t.Errorf("digest %q: one item (b) was held back", m.Subject)
		}
	}
}

// refusingSNS refuses the alert's own subject, as SNS does with a 400
// InvalidParameter, and takes the publisher's plain one.
type refusingSNS struct {
	mu    sync.Mutex
	calls int
}

func (r *refusingSNS) Publish(ctx context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if strings.Contains(aws.ToString(in.Subject), "s3://") {
		return nil, &awshttp.ResponseError{RequestID: "r", ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusBadRequest}},
			Err:      &smithy.GenericAPIError{Code: "InvalidParameter", Message: "Invalid parameter: Subject"}}}
	}
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}

// "A publish that SNS refuses for a reason that will not pass
// (4xx) is logged as an error, counted in a metric with an alarm, and sent
// without the offending part." It is sent again and counted, but when the
// plain form goes through, nothing is logged above INFO.
func TestARefusedPageIsLoggedAsAnError(t *testing.T) {
	sb := sharedSandbox(t)
	w := newWorld(t, sb, 20)
	f := w.failed("k")
	snsc := &refusingSNS{}
	pub, err := alert.NewSNS(snsc, w.p.Topic)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	tr, err := incident.New(incident.Options{Ledger: w.p.Ledger, Windows: w.p.DB, Publisher: pub, Clock: w.clock.Now,
		Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tr.Settle(context.Background(), f, incident.ReadFirst)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Refused || len(out.Published) != 1 || snsc.calls != 2 {
		t.Fatalf("refused %v published %v after %d calls: want the plain form sent", out.Refused, out.Published, snsc.calls)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("SNS refused the page (400) and only its plain form went out; no error was logged:\n%s", logs.String())
	}
}
