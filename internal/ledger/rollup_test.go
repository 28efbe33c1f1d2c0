package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// clocked is a ledger on the sandbox's DynamoDB whose clock the test
// moves.
func clocked(t *testing.T) (*ledger.Ledger, *sandbox.Sandbox, *time.Time) {
	t.Helper()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l, _, sb := sandboxtest.Ledger(t, func() time.Time { return now })
	return l, sb, &now
}

// checks sums the rollups' checks and VERIFIED of the finding's day.
func checks(t *testing.T, l *ledger.Ledger) (n, verified int64) {
	t.Helper()
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	err := l.Rollups(context.Background(), day, day.Add(24*time.Hour), func(r ledger.Rollup) error {
		n += r.Counts[ledger.CellChecks]
		verified += r.Counts[ledger.CellVerdict(audit.Verified)]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, verified
}

func record(ctx context.Context, l *ledger.Ledger, key string, v audit.Verdict) error {
	f := finding(v)
	f.Key = key
	if v == audit.Verified {
		f.Replica = &audit.Replica{VerifiedAt: f.EventTime.Add(time.Minute)}
	}
	_, err := l.Record(ctx, f)
	return err
}

// A batch another writer fenced, having found it stopped past its
// deadline, learns it when it flushes: its add never applies, the writes
// it tagged come back, and its writer is not used again (a later batch of
// the same writer would read the fenced batch as applied).
func TestAStoppedBatchIsFencedAndItsWriterDropped(t *testing.T) {
	l, _, now := clocked(t)
	ctx := context.Background()
	stopped := l.NewBatch(ctx, true)
	if err := record(ledger.WithBatch(ctx, stopped, "m1"), l, "a", audit.Pending); err != nil {
		t.Fatal(err)
	}
	if err := record(ledger.WithBatch(ctx, stopped, "m2"), l, "b", audit.Pending); err != nil {
		t.Fatal(err)
	}
	owed, _ := l.Get(ctx, ledger.KeyOf("src", "b", "v1", "dst"))
	stoppedWriter := writerOf(owed.RollBatch)
	if stoppedWriter == "" {
		t.Fatalf("item b names no batch that owes its change: %+v", owed)
	}
	// While the batch may still flush, another writer waits.
	other := l.NewBatch(ctx, true)
	if err := record(ledger.WithBatch(ctx, other, "m3"), l, "a", audit.Verified); !errors.Is(err, ledger.ErrOwedElsewhere) {
		t.Fatalf("writing an item a running batch owes: %v, want ErrOwedElsewhere", err)
	}
	// Past its deadline, the next writer fences it and adds the change.
	*now = now.Add(12 * time.Minute)
	if err := record(ledger.WithBatch(ctx, other, "m3"), l, "a", audit.Verified); err != nil {
		t.Fatal(err)
	}
	if failed, err := other.Flush(ctx); err != nil || len(failed) > 0 {
		t.Fatalf("the fencer's add: %v %v", failed, err)
	}
	failed, err := stopped.Flush(ctx)
	if !errors.Is(err, ledger.ErrFenced) || len(failed) != 2 {
		t.Fatalf("the stopped batch's late flush: %v %v, want ErrFenced and both its messages back", failed, err)
	}
	if n, v := checks(t, l); n != 1 || v != 1 {
		t.Errorf("rollups count %d checks, %d VERIFIED; want item a alone, VERIFIED (b's change was never added)", n, v)
	}
	// b's message comes again; a new batch adds it.
	again := l.NewBatch(ctx, true)
	if err := record(ledger.WithBatch(ctx, again, "m2"), l, "b", audit.Pending); err != nil {
		t.Fatal(err)
	}
	if failed, err := again.Flush(ctx); err != nil || len(failed) > 0 {
		t.Fatalf("the redelivery's add: %v %v", failed, err)
	}
	if n, _ := checks(t, l); n != 2 {
		t.Errorf("rollups count %d checks after the redelivery, want 2", n)
	}
	// The writers of later batches are never the fenced one's.
	next := l.NewBatch(ctx, true)
	if err := record(ledger.WithBatch(ctx, next, "m4"), l, "c", audit.Pending); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"b", "c"} {
		it, err := l.Get(ctx, ledger.KeyOf("src", key, "v1", "dst"))
		if err != nil {
			t.Fatal(err)
		}
		if writerOf(it.RollBatch) == stoppedWriter {
			t.Errorf("%s was written again by the fenced batch's writer (%s)", key, it.RollBatch)
		}
	}
}

func writerOf(batch string) string {
	w, _, _ := strings.Cut(batch, ":")
	return w
}

// A lost answer to a batch's add: the SDK's retry fails its condition, and
// the batch knows by its token that the add applied, once.
func TestALostAnswerToAnAddCountsOnce(t *testing.T) {
	l, sb, _ := clocked(t)
	ctx := context.Background()
	b := l.NewBatch(ctx, true)
	if err := record(ledger.WithBatch(ctx, b, "m"), l, "a", audit.Verified); err != nil {
		t.Fatal(err)
	}
	// The next DynamoDB call is the add: its answer is lost.
	if err := sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose}); err != nil {
		t.Fatal(err)
	}
	failed, err := b.Flush(ctx)
	sb.ClearFaultsMatching(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose})
	if err != nil || len(failed) > 0 {
		t.Fatalf("flush: %v %v, want it applied", failed, err)
	}
	if n, v := checks(t, l); n != 1 || v != 1 {
		t.Errorf("rollups count %d checks, %d VERIFIED; want 1 and 1", n, v)
	}
}
