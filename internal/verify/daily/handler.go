package daily

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/s3events"
)

// Event is what the stack's schedule sends the reconciler's function:
// {"verify":"pending"} verifies the newest day both inventories have
// that is not recorded yet.
type Event struct {
	Verify string `json:"verify"`
}

// PendingEvent is the schedule's event.
const PendingEvent = `{"verify":"pending"}`

// Handler is the inventory reconciler's entry point: SQS batches go to
// Reconcile, and each source manifest.json among them that Reconcile took
// is then verified against the destination's inventory of its day; the
// schedule's Event goes to Pending. A verification that does not finish
// never fails the SQS message (which would start the run again): the day
// stays WAITING, RUNNING or FAILED, for the schedule.
type Handler struct {
	Reconcile func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)
	// Verifier is nil when the stack does not verify.
	Verifier *Verifier
	Log      *slog.Logger
}

// Handle is the function's handler.
func (h Handler) Handle(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	var probe struct {
		Records json.RawMessage `json:"Records"`
		Verify  string          `json:"verify"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return events.SQSEventResponse{}, fmt.Errorf("an event that is neither an SQS batch nor %s: %w", PendingEvent, err)
	}
	if probe.Records == nil {
		if probe.Verify != "pending" {
			return events.SQSEventResponse{}, fmt.Errorf("an event that is neither an SQS batch nor %s: %.200s", PendingEvent, raw)
		}
		if h.Verifier == nil {
			log.Warn("asked to verify, but the stack does not verify inventories (DestinationInventoryBucketName is empty)")
			return events.SQSEventResponse{}, nil
		}
		_, err := h.Verifier.Pending(ctx)
		return events.SQSEventResponse{}, err
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return events.SQSEventResponse{}, fmt.Errorf("read the SQS batch: %w", err)
	}
	resp, err := h.Reconcile(ctx, ev)
	if err != nil || h.Verifier == nil {
		return resp, err
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range ev.Records {
		if failed[m.MessageId] || !strings.Contains(m.Body, `"Records"`) {
			continue
		}
		n, err := audit.ParseNotification(m.Body)
		if err != nil {
			continue // Reconcile logged it
		}
		for _, rec := range n.Records {
			key, err := s3events.DecodeKey(rec.S3.Object.Key)
			if err != nil || !strings.HasPrefix(s3events.Name(rec.EventName), "ObjectCreated:") {
				continue
			}
			out, ok, err := h.Verifier.Manifest(ctx, rec.S3.Bucket.Name, key)
			switch {
			case !ok:
			case errors.Is(err, ErrRunning):
				log.Warn("the verification's query runs on; the next invocation reads it", "manifest", key, "date", out.Date, "error", err)
			case err != nil:
				log.Error("the verification did not finish; the schedule runs it again", "manifest", key, "date", out.Date, "error", err)
			}
		}
	}
	return resp, nil
}
