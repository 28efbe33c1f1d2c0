package report_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/report"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// world is a ledger on the sandbox's DynamoDB, with a clock.
type world struct {
	l   *ledger.Ledger
	db  *dynamodb.Client
	now time.Time
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{now: time.Date(2026, 11, 10, 6, 0, 0, 0, time.UTC)}
	w.l, w.db, _ = sandboxtest.Ledger(t, func() time.Time { return w.now })
	return w
}

// input is what a write is computed from: a finding about an object and
// the incident state it leaves. Writing it again is a redelivery.
type input struct {
	f     audit.Finding
	alert string
}

func (w *world) write(ctx context.Context, in input) error {
	k := ledger.KeyOf(in.f.Bucket, in.f.Key, in.f.VersionID, in.f.Destination)
	_, _, err := w.l.Change(ctx, k, nil, func(cur *ledger.Item) (ledger.Item, bool, error) {
		next, news := w.l.Apply(cur, in.f)
		if next.Alert != in.alert && (cur == nil || in.alert != "") {
			next.Alert, news = in.alert, true
		}
		return next, news || cur == nil, nil
	})
	return err
}

// sweep does what the sweeper does to the items a rollup add is owed for:
// it takes those kept due only for the add out of the index (Unpark), and
// writes the others as it checks them.
func (w *world) sweep(t *testing.T, ctx context.Context) {
	t.Helper()
	b := w.l.NewBatch(ctx, false)
	err := w.l.Open(ctx, func(it ledger.Item) error {
		if !ledger.IsObject(it.Key) || it.RollBatch == "" {
			return nil
		}
		var err error
		if ledger.Parked(it) {
			_, err = w.l.Unpark(ledger.WithBatch(ctx, b, it.SK), it)
		} else {
			// An open item the sweeper checks again: its write settles.
			_, _, err = w.l.Change(ledger.WithBatch(ctx, b, it.SK), it.Key, &it, func(cur *ledger.Item) (ledger.Item, bool, error) {
				return *cur, true, nil
			})
		}
		if errors.Is(err, ledger.ErrOwedElsewhere) {
			return nil // a batch still running owes it: the next sweep
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := b.Flush(ctx); err != nil {
		t.Logf("sweep batch: %d unapplied: %v", len(failed), err)
	}
}

var verdicts = []audit.Verdict{audit.Pending, audit.Verified, audit.Verified, audit.Verified, audit.Failed, audit.Missing, audit.Diverged,
	audit.NotReplicated, audit.CannotVerify}

var alerts = []string{"", "", incident.Due, incident.Sent, incident.Held, incident.ResolveDue, incident.Resolved}

// randomInput is a finding about one of a few objects, written on one of
// three days, to one of two destinations.
func randomInput(r *rand.Rand, start time.Time, oneDestination bool) input {
	obj := r.IntN(24)
	dst := r.IntN(2)
	if oneDestination {
		dst = obj % 2
	}
	f := audit.Finding{Bucket: fmt.Sprintf("src-%d", obj%2), Key: fmt.Sprintf("k%02d", obj), VersionID: "v1", Destination: fmt.Sprintf("dst-%d", dst),
		Verdict: verdicts[r.IntN(len(verdicts))], EventTime: start.Add(time.Duration(obj%3)*24*time.Hour + time.Duration(obj)*time.Minute)}
	if f.Verdict == audit.Failed && r.IntN(2) == 0 {
		f.FailureReason = []string{"AssumeRoleNotPermitted", "DstBucketNotFound"}[r.IntN(2)]
	}
	if f.Verdict == audit.Verified {
		f.Replica = &audit.Replica{VerifiedAt: f.EventTime.Add(time.Duration(r.IntN(7200)) * time.Second)}
	}
	return input{f: f, alert: alerts[r.IntN(len(alerts))]}
}

// TestReportFromRollupsEqualsReportFromItems writes random ledgers, with
// verdicts that change, redeliveries, SQS batches that stop before their
// add and flush late or never, writers meeting an item another batch still
// owes, sweeps that stop, and items from before rollups, and holds the
// report from rollups to the report from items once every message was
// taken and a sweep came after every batch's deadline.
func TestReportFromRollupsEqualsReportFromItems(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(uint64(seed), 11))
			start := time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC)
			one := seed%3 == 0
			if seed%2 == 1 {
				legacy(t, w, r, start, seed)
			}
			var (
				queue   []input         // messages SQS delivers again
				zombies []*ledger.Batch // stopped before their add; one may flush late
				stats   = map[string]int{}
			)
			// deliver runs an SQS batch; its messages that fail (an item a
			// running batch owes, an add that did not apply) stay queued.
			deliver := func(ins []input, stop bool) {
				b := w.l.NewBatch(ctx, true)
				tags := map[string]input{}
				for i, in := range ins {
					tag := fmt.Sprint(i)
					tags[tag] = in
					err := w.write(ledger.WithBatch(ctx, b, tag), in)
					switch {
					case errors.Is(err, ledger.ErrOwedElsewhere):
						queue = append(queue, in)
						stats["waited"]++
					case err != nil:
						t.Fatal(err)
					}
				}
				if stop {
					queue, zombies = append(queue, ins...), append(zombies, b)
					stats["stopped"]++
					return
				}
				failed, _ := b.Flush(ctx)
				for _, tag := range failed {
					queue = append(queue, tags[tag])
				}
			}
			for range 60 {
				w.now = w.now.Add(time.Duration(r.IntN(600)) * time.Second)
				switch op := r.IntN(10); {
				case op < 5: // new messages, and some delivered again
					var ins []input
					for range 1 + r.IntN(5) {
						ins = append(ins, randomInput(r, start, one))
					}
					if len(queue) > 0 && r.IntN(2) == 0 {
						ins, queue = append(ins, queue...), nil
						stats["redelivered"]++
					}
					deliver(ins, r.IntN(5) == 0)
				case op < 6 && len(zombies) > 0: // a stopped batch flushes late: it applies, or was fenced
					z := zombies[0]
					zombies = zombies[1:]
					if _, err := z.Flush(ctx); err != nil {
						stats["fenced"]++
					} else {
						stats["late"]++
					}
				case op < 7: // a write with no batch: added at once
					err := w.write(ctx, randomInput(r, start, one))
					if err != nil && !errors.Is(err, ledger.ErrOwedElsewhere) {
						t.Fatal(err)
					}
				case op < 8: // a sweep that stops before its add
					b := w.l.NewBatch(ctx, false)
					err := w.write(ledger.WithBatch(ctx, b, "s"), randomInput(r, start, one))
					if err != nil && !errors.Is(err, ledger.ErrOwedElsewhere) {
						t.Fatal(err)
					}
					stats["sweep stopped"]++
				case op < 9:
					w.sweep(t, ctx)
				default:
					if seed%2 == 1 && r.IntN(3) == 0 {
						if err := w.l.Rebuild(ctx, start, start.Add(72*time.Hour), nil); err != nil {
							t.Fatal(err)
						}
						stats["rebuilt"]++
					}
				}
			}
			// Every message is delivered again until taken, past every
			// batch's deadline; then a sweep.
			for i := 0; len(queue) > 0; i++ {
				if i == 5 {
					t.Fatalf("%d messages still not taken after 5 deliveries", len(queue))
				}
				w.now = w.now.Add(12 * time.Minute)
				ins := queue
				queue = nil
				deliver(ins, false)
			}
			w.now = w.now.Add(20 * time.Minute)
			w.sweep(t, ctx)
			if seed%2 == 1 {
				if err := w.l.Rebuild(ctx, start, start.Add(72*time.Hour), nil); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%v", stats)
			compare(t, w, start, start.Add(72*time.Hour), one)
		})
	}
}

// legacy writes items as the release before rollups did: no rollup
// fields, and no rollups.
func legacy(t *testing.T, w *world, r *rand.Rand, start time.Time, seed int) {
	t.Helper()
	ctx := context.Background()
	for range 15 {
		if err := w.write(ctx, randomInput(r, start, seed%3 == 0)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := w.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("ledger")})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range out.Items {
		key := map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}
		if s := it["pk"].(*types.AttributeValueMemberS).Value; len(s) > 5 && s[:5] == "ROLL#" {
			_, err = w.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("ledger"), Key: key})
		} else {
			_, err = w.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("ledger"), Key: key, UpdateExpression: aws.String("REMOVE rc, rp, rb, rb0")})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// compare holds the report from rollups to the one from items: every
// count equal, each exact percentile within its bucket's bounds.
func compare(t *testing.T, w *world, since, until time.Time, oneDestination bool) {
	t.Helper()
	ctx := context.Background()
	exact, _, diffs, err := report.Check(ctx, w.l, since, until, 30*time.Minute, w.now, oneDestination)
	if err != nil {
		t.Fatal(err)
	}
	if exact.Checks == 0 {
		t.Fatal("an empty ledger proves nothing")
	}
	for _, d := range diffs {
		t.Error(d)
	}
}
