package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/metrics"
	"github.com/replaudit/replaudit/internal/s3events"
)

// Handle is the inventory-reconciler function: its queues bring the
// inventory bucket's notifications (a manifest.json landed: start a run)
// and the runs' file tasks (read a file). A message that failed for a
// reason that may pass goes back to SQS; one that never can (a manifest
// that does not validate, an inventory of another bucket, a task that is
// not one) is logged once with its body and counted, not retried.
func (r *Reconciler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	tally := metrics.New()
	defer tally.Write(r.opts.Metrics, r.opts.Clock())
	for _, m := range ev.Records {
		err := r.message(ctx, m, tally)
		switch {
		case err == nil:
		case errors.Is(err, ErrBadManifest), errors.Is(err, ErrForeign), errors.Is(err, errNotATask):
			tally.Count("Unprocessable", 1)
			r.opts.Log.Error("inventory message can never be reconciled as it is; it is logged here with its body and not retried",
				"messageId", m.MessageId, "error", err, "body", truncate(m.Body, 64*1024))
		default:
			r.opts.Log.Error("inventory message failed; SQS delivers it again", "messageId", m.MessageId, "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

var errNotATask = errors.New("the message is neither an S3 notification nor a file task")

func (r *Reconciler) message(ctx context.Context, m events.SQSMessage, t *metrics.Tally) error {
	if strings.Contains(m.Body, `"Records"`) || strings.Contains(m.Body, `"s3:TestEvent"`) {
		n, err := audit.ParseNotification(m.Body)
		if err != nil {
			return fmt.Errorf("%w: %w", errNotATask, err)
		}
		for _, rec := range n.Records {
			key, err := s3events.DecodeKey(rec.S3.Object.Key)
			if err != nil || !strings.HasPrefix(s3events.Name(rec.EventName), "ObjectCreated:") || !strings.HasSuffix(key, "/manifest.json") ||
				strings.HasPrefix(key, RunPrefix) {
				continue // the inventory's other objects, a run's own, or not a write
			}
			began := time.Now()
			if _, err := r.Start(ctx, rec.S3.Bucket.Name, key); err != nil {
				return err
			}
			t.Count("RunsStarted", 1)
			t.Observe("StartLatency", "Milliseconds", float64(time.Since(began).Milliseconds()))
		}
		return nil
	}
	var task Task
	if err := json.Unmarshal([]byte(m.Body), &task); err != nil || task.File.Key == "" || task.Manifest == "" {
		return fmt.Errorf("%w: %v", errNotATask, err)
	}
	began := time.Now()
	c, err := r.File(ctx, task)
	if err != nil {
		return err
	}
	var rows int64
	for _, n := range c.Objects {
		rows += n
	}
	t.Count("InventoryRows", float64(rows))
	t.Count("InventoryFiles", 1)
	t.Observe("FileLatency", "Milliseconds", float64(time.Since(began).Milliseconds()))
	return nil
}

// SQS holds the call the queue dispatcher makes.
type SQS interface {
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Queue hands file tasks to the workers through an SQS queue, ten a call.
type Queue struct {
	Client SQS
	URL    string
}

// Dispatch sends the tasks; entries SQS did not take are sent again.
func (q Queue) Dispatch(ctx context.Context, tasks []Task) error {
	for start := 0; start < len(tasks); start += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i, t := range tasks[start:min(start+10, len(tasks))] {
			body, err := json.Marshal(t)
			if err != nil {
				return err
			}
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(start + i)), MessageBody: aws.String(string(body))})
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			out, err := q.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
			if err != nil {
				return fmt.Errorf("send file tasks to %s: %w", q.URL, err)
			}
			if len(out.Failed) == 0 {
				break
			}
			if attempt == 3 {
				return fmt.Errorf("send file tasks to %s: %d refused, first: %s", q.URL, len(out.Failed), aws.ToString(out.Failed[0].Message))
			}
			failed := map[string]bool{}
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = true
			}
			kept := entries[:0]
			for _, e := range entries {
				if failed[aws.ToString(e.Id)] {
					kept = append(kept, e)
				}
			}
			entries = kept
		}
	}
	return nil
}
