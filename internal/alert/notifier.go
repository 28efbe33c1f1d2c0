package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Publisher holds the SNS call the notifier makes.
type Publisher interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// ReasonGrace is how long a FAILED alert waits for S3's failure event, which
// names the reason, before going out without it.
const ReasonGrace = 2 * time.Minute

// Notifier decides, from what the ledger recorded, whether to alert, and
// sends the alert once: the ledger's conditional claim makes sure no
// redelivered or concurrent event sends it twice.
type Notifier struct {
	ledger *ledger.Ledger
	sns    Publisher
	topic  string
	limit  int
	window time.Duration
	log    *slog.Logger
	now    func() time.Time
}

// NewNotifier returns a Notifier that sends at most limit alerts per
// bucket per window, then holds the rest for one digest.
func NewNotifier(l *ledger.Ledger, p Publisher, topic string, limit int, window time.Duration, log *slog.Logger) (*Notifier, error) {
	if l == nil || p == nil || topic == "" {
		return nil, errors.New("alert: a ledger, an SNS client and a topic are required")
	}
	if limit < 1 || window <= 0 {
		return nil, errors.New("alert: the storm limit and window must be positive")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Notifier{ledger: l, sns: p, topic: topic, limit: limit, window: window, log: log, now: time.Now}, nil
}

// Settle raises the alert a recorded finding calls for, or the resolved
// notice when an alerted item is now verified. A publish that fails is not
// an error here: the ledger keeps the alert due and the sweeper sends it.
func (n *Notifier) Settle(ctx context.Context, f audit.Finding, out ledger.Outcome) error {
	k := ledger.KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination)
	if kind := KindOf(f); kind != "" && !out.Kept {
		if f.AwaitingReason && n.now().Sub(failedSince(out.Item)) < ReasonGrace {
			// S3's failure event carries the reason; alert with it. The
			// sweeper alerts without it if it never comes.
			return nil
		}
		claimed, err := n.ledger.ClaimAlert(ctx, k, string(kind), false)
		if err != nil || !claimed {
			return err
		}
		return n.send(ctx, k, f, kind, out.Item.FirstSeen)
	}
	if f.Verdict == audit.Verified {
		switch out.Item.Alert {
		case ledger.AlertSent:
			return n.resolve(ctx, k, f, out.Item.FirstSeen)
		case ledger.AlertDue:
			// Over before SNS took the alert: settle it without a page.
			return n.ledger.CloseUnsent(ctx, k, ResendGrace)
		}
	}
	return nil
}

func (n *Notifier) resolve(ctx context.Context, k ledger.Key, f audit.Finding, since time.Time) error {
	claimed, err := n.ledger.ClaimAlert(ctx, k, "", true)
	if err != nil || !claimed {
		return err
	}
	return n.send(ctx, k, f, KindResolved, since)
}

// failedSince is when the item was first recorded FAILED in this incident.
func failedSince(it ledger.Item) time.Time {
	for _, h := range it.History {
		if h.Verdict == audit.Failed {
			return h.At
		}
	}
	return it.LastChecked
}

// ResendGrace is how long a claimed alert is left to its claimant before
// the sweeper sends it instead.
const ResendGrace = 2 * time.Minute

// Resend sends an alert or resolved notice the ledger still holds as due,
// after its claimant had time to send it: the sweeper's half of "never lost".
// It takes the claim over first, so two sweeps never both send.
func (n *Notifier) Resend(ctx context.Context, it ledger.Item, grace time.Duration) error {
	if it.Alert != ledger.AlertDue && it.Alert != ledger.AlertResolveDue {
		return nil
	}
	ok, err := n.ledger.Reclaim(ctx, it.Key, it.Alert, grace)
	if err != nil || !ok {
		return err
	}
	switch it.Alert {
	case ledger.AlertDue:
		return n.send(ctx, it.Key, it.Finding(), Kind(it.AlertKind), it.FirstSeen)
	case ledger.AlertResolveDue:
		return n.send(ctx, it.Key, it.Finding(), KindResolved, it.FirstSeen)
	}
	return nil
}

func (n *Notifier) send(ctx context.Context, k ledger.Key, f audit.Finding, kind Kind, since time.Time) error {
	resolve := kind == KindResolved
	var start time.Time
	if !resolve {
		start = n.now().UTC().Truncate(n.window)
		count, err := n.ledger.CountAlert(ctx, f.Bucket, start, 1)
		if err != nil {
			return err
		}
		if count > n.limit {
			label := string(kind)
			if f.FailureReason != "" {
				label += "/" + f.FailureReason
			}
			if err := n.ledger.Suppress(ctx, f.Bucket, start, start.Add(n.window), label, "s3://"+f.Bucket+"/"+f.Key+" -> "+f.Destination); err != nil {
				return err
			}
			n.log.Info("alert held for the storm digest", "bucket", f.Bucket, "key", f.Key, "kind", kind, "windowCount", count)
			_, err := n.ledger.MarkAlerted(ctx, k, false, true)
			return err
		}
	}
	msg := Format(f, kind, since, f.SourceRegion)
	if err := n.publish(ctx, msg); err != nil {
		n.log.Warn("alert not published; the sweeper will retry it", "bucket", f.Bucket, "key", f.Key, "kind", kind, "error", err)
		if !resolve {
			// Only published alerts count towards the storm limit.
			if _, uerr := n.ledger.CountAlert(ctx, f.Bucket, start, -1); uerr != nil {
				n.log.Warn("storm count not corrected", "bucket", f.Bucket, "error", uerr)
			}
		}
		return nil
	}
	n.log.Info("alert published", "bucket", f.Bucket, "key", f.Key, "versionId", f.VersionID, "destination", f.Destination, "kind", kind)
	it, err := n.ledger.MarkAlerted(ctx, k, resolve, false)
	if err != nil || resolve || it.Verdict != audit.Verified {
		return err
	}
	// It was verified while the alert went out: resolve it now, or no one will.
	return n.resolve(ctx, k, it.Finding(), it.FirstSeen)
}

func (n *Notifier) publish(ctx context.Context, m Message) error {
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range m.Attributes {
		attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err := n.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(n.topic), Subject: aws.String(m.Subject), Message: aws.String(m.Body), MessageAttributes: attrs})
	if err != nil {
		return fmt.Errorf("publish to %s: %w", n.topic, err)
	}
	return nil
}

// SendDigest publishes a storm window's digest once its window is over.
func (n *Notifier) SendDigest(ctx context.Context, k ledger.Key) error {
	w, err := n.ledger.ReadWindow(ctx, k)
	if err != nil {
		return err
	}
	if w.Digest != ledger.AlertDue || n.now().Before(w.End) {
		return nil
	}
	msg := FormatDigest(Digest{Bucket: w.Bucket, WindowStart: w.Start, Window: w.End.Sub(w.Start), Counts: w.Counts, Examples: w.Examples})
	if err := n.publish(ctx, msg); err != nil {
		return err
	}
	_, err = n.ledger.MarkDigestSent(ctx, k)
	return err
}
