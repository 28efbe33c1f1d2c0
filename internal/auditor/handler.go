package auditor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/metrics"
	"github.com/replaudit/replaudit/internal/s3events"
)

// Options configure a Handler.
type Options struct {
	Checker *audit.Checker
	Tracker *incident.Tracker
	// Concurrency bounds the messages checked at once.
	Concurrency int
	// Margin is how long before the invocation's deadline the handler stops
	// starting messages; those it did not start go back to the queue. Zero
	// keeps a quarter of the invocation's time, at most five seconds.
	Margin time.Duration
	Log    *slog.Logger
	// Metrics receives CloudWatch embedded-metric lines.
	Metrics io.Writer
	// Clock stamps the metric lines; time.Now by default. Deadlines are
	// the invocation's, in real time.
	Clock func() time.Time
}

// Handler handles SQS batches of S3 notifications.
type Handler struct {
	opts Options
}

// New returns a Handler.
func New(o Options, optFns ...func(*Options)) (*Handler, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Checker == nil || o.Tracker == nil {
		return nil, errors.New("auditor: a checker and an incident tracker are required")
	}
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = io.Discard
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Handler{opts: o}, nil
}

// Handle checks a batch and reports the messages SQS must deliver again:
// those that failed for a reason that may pass, and those not started
// before the deadline neared.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu       sync.Mutex
		failures []events.SQSBatchItemFailure
		tally    = metrics.New()
		wg       sync.WaitGroup
		sem      = make(chan struct{}, h.opts.Concurrency)
	)
	fail := func(id string) {
		mu.Lock()
		failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: id})
		mu.Unlock()
	}
	stopAt := time.Time{}
	if d, ok := ctx.Deadline(); ok {
		margin := h.opts.Margin
		if margin <= 0 {
			margin = min(5*time.Second, time.Until(d)/4)
		}
		stopAt = d.Add(-margin)
		// The work ends before the deadline, so the answer gets out in
		// time: a handler that answers late fails the whole batch.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-min(time.Second, time.Until(d)/10)))
		defer cancel()
	}
	batch := h.opts.Tracker.Ledger().NewBatch(ctx, true)
	for _, m := range ev.Records {
		sem <- struct{}{}
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			<-sem
			tally.Count("Deferred", 1)
			fail(m.MessageId)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := h.message(ledger.WithBatch(ctx, batch, m.MessageId), m, tally); err != nil {
				h.opts.Log.Error("message failed; SQS delivers it again", "messageId", m.MessageId, "error", err)
				fail(m.MessageId)
			}
		})
	}
	wg.Wait()
	// The batch's verdict changes go into the rollups in one add per day,
	// source and destination. A message whose add did not apply is
	// delivered again, and its item's change is added then.
	unapplied, err := batch.Flush(ctx)
	if err != nil {
		h.opts.Log.Warn("rollup adds did not apply; SQS delivers their messages again", "messages", len(unapplied), "error", err)
		tally.Count("RollupUnapplied", float64(len(unapplied)))
	}
	for _, id := range unapplied {
		if !slices.ContainsFunc(failures, func(f events.SQSBatchItemFailure) bool { return f.ItemIdentifier == id }) {
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	if n := tally.Get("Deferred"); n > 0 {
		h.opts.Log.Warn("messages not started before the deadline; SQS delivers them again", "count", n)
	}
	tally.Write(h.opts.Metrics, h.opts.Clock())
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// maxLoggedBody bounds the message body an error log line carries.
const maxLoggedBody = 64 * 1024

// message checks one message's records, each on its own. It returns an
// error when a record failed for a reason that may pass: the whole message
// is then delivered again, and the records already settled settle again
// to the same result. A message or record that can never be checked is
// logged with its body and counted (metric Unprocessable), once, and not
// retried.
func (h *Handler) message(ctx context.Context, m events.SQSMessage, t *metrics.Tally) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	n, err := audit.ParseNotification(m.Body)
	if err != nil {
		h.unprocessable(m, err, t)
		return nil
	}
	if n.Test {
		h.opts.Log.Info("s3:TestEvent ignored", "messageId", m.MessageId)
		return nil
	}
	// Only a first delivery waits for S3's failure event (see record); a
	// message without the attribute, handed over directly, does not.
	first := m.Attributes["ApproximateReceiveCount"] == "1"
	retry, bad := []error(nil), n.Malformed
	for i, r := range n.Records {
		err := h.record(ctx, r, first, t)
		switch {
		case err == nil:
		case errors.Is(err, audit.ErrOutOfScope):
			h.opts.Log.Debug("replication event skipped", "messageId", m.MessageId, "reason", err.Error())
			t.Count("OutOfScope", 1)
		case errors.Is(err, errWaitForReason):
			t.Count("WaitingForReason", 1)
			retry = append(retry, err)
		case errors.Is(err, audit.ErrMalformed) || !mayPass(err):
			bad = append(bad, fmt.Errorf("record %d (%s %s): %w", i, r.EventName, r.S3.Object.Key, err))
		default:
			retry = append(retry, fmt.Errorf("record %d (%s %s): %w", i, r.EventName, r.S3.Object.Key, err))
		}
	}
	if len(retry) > 0 {
		return errors.Join(retry...)
	}
	if len(bad) > 0 {
		h.unprocessable(m, errors.Join(bad...), t)
	}
	return nil
}

// mayPass reports whether a record's error may pass on its own, so SQS
// should deliver the message again: what the SDK would retry, a call or
// an invocation out of time, an item that kept changing. An error the SDK
// would not retry (403 AccessDenied, a bucket that does not exist) will
// fail the same way five times.
func mayPass(err error) bool {
	return awscall.Transient(err) || errors.Is(err, ledger.ErrContended) || errors.Is(err, context.Canceled)
}

func (h *Handler) unprocessable(m events.SQSMessage, err error, t *metrics.Tally) {
	body := m.Body
	if len(body) > maxLoggedBody {
		body = strings.ToValidUTF8(body[:maxLoggedBody], "") + "…"
	}
	h.opts.Log.Error("message can never be checked as it is; it is logged here with its body and not retried", "messageId", m.MessageId, "error", err, "body", body)
	t.Count("Unprocessable", 1)
}

// errWaitForReason returns a first delivery to the queue: the source says
// FAILED and S3's failure event, which names the reason, is on its way.
var errWaitForReason = errors.New("FAILED on the source; S3's failure event, with the reason, is on its way: the message comes back after the visibility timeout")

// record checks one record and settles each finding: its evidence and its
// incident, in one conditional write each. A FAILED seen on the source's
// status under a rule with Metrics waits, on the message's first
// delivery, for S3's failure event: that event records the FAILED with its
// reason and pages once, and this message, delivered again, finds nothing
// new to write. The page then costs three writes, whichever event comes
// first; if the failure event never comes, the redelivery records the
// FAILED and pages without the reason.
func (h *Handler) record(ctx context.Context, r events.S3EventRecord, first bool, t *metrics.Tally) error {
	began := time.Now()
	findings, err := h.opts.Checker.Check(ctx, r)
	if err != nil {
		return err
	}
	t.Observe("CheckLatency", "Milliseconds", float64(time.Since(began).Microseconds())/1000)
	guess := incident.LikelyNew
	if !first || strings.HasPrefix(s3events.Name(r.EventName), "Replication:") {
		guess = incident.ReadFirst // about a version already seen
	}
	var errs []error
	for _, f := range findings {
		if f.AwaitingReason {
			if first && !h.opts.Tracker.HasReason(ctx, f) {
				errs = append(errs, errWaitForReason)
				continue
			}
			f.AwaitingReason = false // the wait is over
		}
		out, err := h.opts.Tracker.Settle(ctx, f, guess)
		if err != nil {
			errs = append(errs, fmt.Errorf("settle %s -> %s: %w", f.Key, f.Destination, err))
			continue
		}
		out.Count(t)
		out.Log(h.opts.Log, f)
	}
	return errors.Join(errs...)
}
