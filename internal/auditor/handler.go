package auditor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Handler handles SQS batches of S3 notifications.
type Handler struct {
	checker     *audit.Checker
	ledger      *ledger.Ledger
	notifier    *alert.Notifier
	concurrency int
	log         *slog.Logger
	metrics     io.Writer
	now         func() time.Time
}

// New returns a Handler checking at most concurrency messages at once. It
// writes CloudWatch embedded-metric lines to metrics.
func New(c *audit.Checker, l *ledger.Ledger, n *alert.Notifier, concurrency int, log *slog.Logger, metrics io.Writer) (*Handler, error) {
	if c == nil || l == nil || n == nil {
		return nil, errors.New("auditor: a checker, a ledger and a notifier are required")
	}
	if concurrency < 1 {
		concurrency = 1
	}
	if log == nil {
		log = slog.Default()
	}
	if metrics == nil {
		metrics = io.Discard
	}
	return &Handler{checker: c, ledger: l, notifier: n, concurrency: concurrency, log: log, metrics: metrics, now: time.Now}, nil
}

// Handle checks a batch and reports the messages to retry.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		mu       sync.Mutex
		failures []events.SQSBatchItemFailure
		tally    = newTally()
		wg       sync.WaitGroup
		sem      = make(chan struct{}, h.concurrency)
	)
	for _, m := range ev.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := h.message(ctx, m, tally); err != nil {
				h.log.Error("message failed; SQS will deliver it again", "messageId", m.MessageId, "error", err)
				mu.Lock()
				failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tally.write(h.metrics, h.now())
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

func (h *Handler) message(ctx context.Context, m events.SQSMessage, t *tally) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	n, err := audit.ParseNotification(m.Body)
	if err != nil {
		return err
	}
	if n.Test {
		h.log.Info("s3:TestEvent ignored", "messageId", m.MessageId)
		return nil
	}
	for _, r := range n.Records {
		began := h.now()
		findings, err := h.checker.Check(ctx, r)
		if err != nil {
			return fmt.Errorf("check %s %s: %w", r.EventName, r.S3.Object.Key, err)
		}
		t.latency(h.now().Sub(began))
		for _, f := range findings {
			if err := h.settle(ctx, f); err != nil {
				return err
			}
			t.verdict(f.Verdict)
		}
	}
	return nil
}

// settle records a finding and raises or resolves its alert.
func (h *Handler) settle(ctx context.Context, f audit.Finding) error {
	return Settle(ctx, h.ledger, h.notifier, h.log, f)
}

// Settle records a finding, logs its verdict as one JSON line, and raises
// or resolves its alert. The auditor and the sweeper share it.
func Settle(ctx context.Context, l *ledger.Ledger, n *alert.Notifier, log *slog.Logger, f audit.Finding) error {
	out, err := l.Record(ctx, f)
	if err != nil {
		return err
	}
	attrs := []any{"bucket", f.Bucket, "key", f.Key, "versionId", f.VersionID, "destination", f.Destination,
		"verdict", f.Verdict, "changed", out.Changed, "kept", out.Kept}
	if f.FailureReason != "" {
		attrs = append(attrs, "failureReason", f.FailureReason)
	}
	if lag, ok := f.Lag(); ok {
		attrs = append(attrs, "lagSeconds", lag.Seconds())
	}
	if f.Detail != "" {
		attrs = append(attrs, "detail", f.Detail)
	}
	log.Info("verdict", attrs...)
	return n.Settle(ctx, f, out)
}

// tally counts a batch's verdicts and check latencies for CloudWatch.
type tally struct {
	mu       sync.Mutex
	verdicts map[audit.Verdict]int
	millis   []float64
}

func newTally() *tally { return &tally{verdicts: map[audit.Verdict]int{}} }

func (t *tally) verdict(v audit.Verdict) {
	t.mu.Lock()
	t.verdicts[v]++
	t.mu.Unlock()
}

func (t *tally) latency(d time.Duration) {
	t.mu.Lock()
	t.millis = append(t.millis, float64(d.Microseconds())/1000)
	t.mu.Unlock()
}

// write prints CloudWatch embedded metric format lines: findings per
// verdict, and the check latencies. Lambda turns them into metrics without
// a PutMetricData call.
func (t *tally) write(w io.Writer, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	emit := func(doc map[string]any) {
		b, err := json.Marshal(doc)
		if err == nil {
			fmt.Fprintln(w, string(b))
		}
	}
	for v, n := range t.verdicts {
		emit(map[string]any{
			"_aws": map[string]any{"Timestamp": now.UnixMilli(), "CloudWatchMetrics": []any{map[string]any{
				"Namespace": "replaudit", "Dimensions": [][]string{{"Verdict"}},
				"Metrics": []any{map[string]string{"Name": "Findings", "Unit": "Count"}}}}},
			"Verdict": string(v), "Findings": n,
		})
	}
	// The format takes at most 100 values per metric in one line.
	for vals := range slices.Chunk(t.millis, 100) {
		emit(map[string]any{
			"_aws": map[string]any{"Timestamp": now.UnixMilli(), "CloudWatchMetrics": []any{map[string]any{
				"Namespace": "replaudit", "Dimensions": [][]string{{}},
				"Metrics": []any{map[string]string{"Name": "CheckLatency", "Unit": "Milliseconds"}}}}},
			"CheckLatency": vals,
		})
	}
}
