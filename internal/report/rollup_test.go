package report_test

import (
	"context"
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
	"github.com/replaudit/replaudit/internal/sandbox"
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
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	w := &world{db: dynamodb.NewFromConfig(cfg), now: time.Date(2026, 11, 10, 6, 0, 0, 0, time.UTC)}
	if err := ledger.CreateTable(ctx, w.db, "ledger"); err != nil {
		t.Fatal(err)
	}
	w.l, err = ledger.New(ledger.Options{DB: w.db, Table: "ledger", Retention: 400 * 24 * time.Hour, Clock: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
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
	b := w.l.NewBatch(false)
	err := w.l.Open(ctx, func(it ledger.Item) error {
		if !ledger.IsObject(it.Key) || it.RollBatch == "" {
			return nil
		}
		if ledger.Parked(it) {
			_, err := w.l.Unpark(ledger.WithBatch(ctx, b, it.SK), it)
			return err
		}
		// An open item the sweeper checks again: its write settles.
		_, _, err := w.l.Change(ledger.WithBatch(ctx, b, it.SK), it.Key, &it, func(cur *ledger.Item) (ledger.Item, bool, error) {
			next := *cur
			if !next.Verdict.Open() {
				next.Attn, next.AttnDue = "", ""
			}
			return next, true, nil
		})
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
// verdicts that change, redeliveries, batches that stop before their add,
// writers racing on an item, and items from before rollups, and holds the
// report from rollups to the report from items once every stopped batch
// was delivered again or swept.
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
			if seed%2 == 1 {
				legacy(t, w, r, start, seed)
			}
			var owed []input // inputs of stopped SQS batches, delivered again later
			stats := map[string]int{}
			for range 40 {
				w.now = w.now.Add(time.Duration(r.IntN(600)) * time.Second)
				switch op := r.IntN(10); {
				case op < 5: // an SQS batch: its messages come again if it stops
					b := w.l.NewBatch(true)
					var ins []input
					for range 1 + r.IntN(5) {
						ins = append(ins, randomInput(r, start, seed%3 == 0))
					}
					if len(owed) > 0 && r.IntN(2) == 0 {
						ins, owed = append(ins, owed...), nil
						stats["redelivered"]++
					}
					tags := map[string]input{}
					for i, in := range ins {
						tag := fmt.Sprint(i)
						tags[tag] = in
						if err := w.write(ledger.WithBatch(ctx, b, tag), in); err != nil {
							t.Fatal(err)
						}
					}
					if r.IntN(5) == 0 {
						owed = append(owed, ins...) // stopped before its add
						stats["stopped"]++
						continue
					}
					failed, err := b.Flush(ctx)
					if err != nil {
						stats["fenced"]++
					}
					for _, tag := range failed {
						owed = append(owed, tags[tag])
					}
				case op < 7: // two writers on one item: the second fences the first
					in := randomInput(r, start, seed%3 == 0)
					// The first batch also holds another write, which
					// its fenced add takes down with it.
					first, other := w.l.NewBatch(true), randomInput(r, start, seed%3 == 0)
					if err := w.write(ledger.WithBatch(ctx, first, "a"), in); err != nil {
						t.Fatal(err)
					}
					if err := w.write(ledger.WithBatch(ctx, first, "a"), other); err != nil {
						t.Fatal(err)
					}
					again := in
					again.f.Verdict = verdicts[r.IntN(len(verdicts))]
					second := w.l.NewBatch(true)
					if err := w.write(ledger.WithBatch(ctx, second, "b"), again); err != nil {
						t.Fatal(err)
					}
					for _, x := range []struct {
						b  *ledger.Batch
						in input
					}{{second, again}, {first, in}} {
						if failed, _ := x.b.Flush(ctx); len(failed) > 0 {
							owed = append(owed, x.in)
							if x.b == first {
								owed = append(owed, other)
							}
							stats["fenced"]++
						}
					}
				case op < 8: // a write with no batch: added at once
					if err := w.write(ctx, randomInput(r, start, seed%3 == 0)); err != nil {
						t.Fatal(err)
					}
				case op < 9: // a sweep that stops before its add
					b := w.l.NewBatch(false)
					if err := w.write(ledger.WithBatch(ctx, b, "s"), randomInput(r, start, seed%3 == 0)); err != nil {
						t.Fatal(err)
					}
					stats["sweep stopped"]++
				default:
					if seed%2 == 1 && r.IntN(3) == 0 {
						if err := w.l.Rebuild(ctx, start, start.Add(72*time.Hour), nil); err != nil {
							t.Fatal(err)
						}
						stats["rebuilt"]++
					}
				}
			}
			// Every stopped SQS batch is delivered again, and a sweep
			// comes after any invocation could still add.
			b := w.l.NewBatch(true)
			for i, in := range owed {
				if err := w.write(ledger.WithBatch(ctx, b, fmt.Sprint(i)), in); err != nil {
					t.Fatal(err)
				}
			}
			if failed, err := b.Flush(ctx); err != nil || len(failed) > 0 {
				t.Fatalf("the redelivery's add: %v %v", failed, err)
			}
			w.now = w.now.Add(20 * time.Minute)
			w.sweep(t, ctx)
			if seed%2 == 1 {
				if err := w.l.Rebuild(ctx, start, start.Add(72*time.Hour), nil); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%v", stats)
			compare(t, w, start, start.Add(72*time.Hour), seed%3 == 0)
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
