package sweep_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/sweep"
)

// world is an audit plane on the sandbox with one PENDING item due (its
// destination in an outage), on a clock the test moves.
type world struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	p       *plane.Plane
	clock   *sandboxtest.Clock
	logs    *sandboxtest.Buffer
	log     *slog.Logger
	version string
}

const heldLine = `"msg":"another sweep holds the lease; this run sweeps nothing"`

func newWorld(t *testing.T) *world {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	w := &world{t: t, sb: sb, clock: &sandboxtest.Clock{}, logs: &sandboxtest.Buffer{}}
	w.log = slog.New(slog.NewJSONHandler(w.logs, nil))
	if w.p, err = plane.Start(ctx, sb, plane.Options{Clock: w.clock.Now, Log: w.log}); err != nil {
		t.Fatal(err)
	}
	b := w.p.Buckets()
	if err := errors.Join(b.Create(ctx, "src", "us-east-1"), b.Create(ctx, "dst", "ap-south-1"), b.Replicate(ctx, "src", plane.Rule{Destination: "dst"})); err != nil {
		t.Fatal(err)
	}
	if err := sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage}); err != nil {
		t.Fatal(err)
	}
	if w.version, err = b.Put(ctx, "src", "k", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.Ledger.Record(ctx, audit.Finding{Bucket: "src", SourceRegion: "us-east-1", Key: "k", VersionID: w.version, Destination: "dst",
		DestinationRegion: "ap-south-1", RuleID: plane.RuleID("dst"), Verdict: audit.Pending, Size: 1, EventTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return w
}

// sweeper is another sweeper on the plane's parts, as another invocation
// of the function builds it.
func (w *world) sweeper(optFns ...func(*sweep.Options)) *sweep.Sweeper {
	w.t.Helper()
	s, err := sweep.New(sweep.Options{Checker: w.p.Checker, Ledger: w.p.Ledger, Tracker: w.p.Tracker, Log: w.log}, optFns...)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// checks is how often the item was checked: once when recorded, once more
// for each sweep that reached it.
func (w *world) checks() int {
	w.t.Helper()
	it, err := w.p.Ledger.Get(context.Background(), ledger.KeyOf("src", "k", w.version, "dst"))
	if err != nil {
		w.t.Fatal(err)
	}
	return it.Checks
}

func (w *world) lease() ledger.LeaseState {
	w.t.Helper()
	s, err := w.p.Ledger.Lease(sweep.LeaseName).State(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// mustSweep runs s and fails unless it held the lease and swept.
func (w *world) mustSweep(s *sweep.Sweeper, what string) sweep.Summary {
	w.t.Helper()
	sum, err := s.Run(context.Background())
	if err != nil || sum.Skipped {
		w.t.Fatalf("%s: got %+v, %v; want a sweep", what, sum, err)
	}
	return sum
}

// mustSkip runs s and fails unless it found the lease held and did nothing.
func (w *world) mustSkip(s *sweep.Sweeper, what string) {
	w.t.Helper()
	sum, err := s.Run(context.Background())
	if err != nil || sum != (sweep.Summary{Skipped: true}) {
		w.t.Fatalf("%s: got %+v, %v; want the run skipped, without an error", what, sum, err)
	}
}

func dynamoCalls(sb *sandbox.Sandbox) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Service == "dynamodb" {
			n += c.Count
		}
	}
	return n
}

func TestOfSweepsStartedAtOnceExactlyOneSweeps(t *testing.T) {
	w := newWorld(t)
	// S3 holds the winner's check until the others have returned, so the
	// runs overlap whatever the scheduling.
	if err := w.sb.InjectFault(sandbox.Fault{Service: "s3", Kind: sandbox.FaultHang}); err != nil {
		t.Fatal(err)
	}
	const runs = 4
	type result struct {
		sum sweep.Summary
		err error
	}
	results := make(chan result, runs)
	start := make(chan struct{})
	for i := range runs {
		s := w.p.Sweeper
		if i > 0 {
			s = w.sweeper()
		}
		go func() {
			<-start
			sum, err := s.Run(context.Background())
			results <- result{sum, err}
		}()
	}
	close(start)
	var got []result
	timeout := time.After(10 * time.Second)
	for len(got) < runs-1 {
		select {
		case r := <-results:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("after 10s, %d of %d runs returned, want all but the one holding the lease: %+v", len(got), runs, got)
		}
	}
	sandboxtest.Eventually(t, 5*time.Second, "the sweeping run's check held by S3", func() bool { return w.sb.Held() > 0 })
	if h := w.lease(); !h.HeldAt(w.clock.Now()) {
		t.Errorf("while a run sweeps, the lease is %+v, want it held", h)
	}
	w.sb.ClearFaultsMatching(sandbox.Fault{Service: "s3", Kind: sandbox.FaultHang})
	got = append(got, <-results)

	swept := 0
	for _, r := range got {
		switch {
		case r.err != nil:
			t.Errorf("a run failed: %v", r.err)
		case r.sum.Skipped && r.sum != (sweep.Summary{Skipped: true}):
			t.Errorf("a skipped run did something: %+v", r.sum)
		case !r.sum.Skipped:
			swept++
			if r.sum.Seen != 1 || r.sum.Rechecked != 1 {
				t.Errorf("the sweeping run: %+v, want the one due item seen and checked again", r.sum)
			}
		}
	}
	if swept != 1 {
		t.Errorf("%d of %d runs started at once swept, want exactly 1", swept, runs)
	}
	if n := w.checks(); n != 2 {
		t.Errorf("the item was checked %d times, want 2: recorded, then one sweep", n)
	}
	if n := strings.Count(w.logs.String(), heldLine); n != runs-1 {
		t.Errorf("%d INFO lines about the lease held, want %d, one per skipped run:\n%s", n, runs-1, w.logs.String())
	}
	if h := w.lease(); h.Holder != "" {
		t.Errorf("after the runs, the lease is %+v, want it free", h)
	}
}

func TestAHolderThatStoppedKeepsTheNextOutUntilItsLeaseExpires(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// A run took the lease for five minutes, then stopped, never to
	// release it.
	now := w.clock.Now()
	if _, err := w.p.Ledger.Lease(sweep.LeaseName).Take(ctx, "stopped", now, now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	w.mustSkip(w.p.Sweeper, "at once")
	if !strings.Contains(w.logs.String(), `"holder":"stopped"`) {
		t.Errorf("the INFO line does not name the holder:\n%s", w.logs.String())
	}
	w.clock.Advance(5*time.Minute - time.Second)
	w.mustSkip(w.p.Sweeper, "a second before the lease expires")
	if n := w.checks(); n != 1 {
		t.Fatalf("the item was checked %d times while the lease was held, want only when recorded", n)
	}
	w.clock.Advance(time.Second)
	if sum := w.mustSweep(w.p.Sweeper, "once the lease expired"); sum.Rechecked != 1 {
		t.Errorf("the run that took over: %+v, want the due item checked again", sum)
	}
	if h := w.lease(); h.Holder != "" {
		t.Errorf("after the run that took over, the lease is %+v, want it free", h)
	}
}

func TestARunThatEndsLetsTheNextStartAtOnce(t *testing.T) {
	w := newWorld(t)
	w.mustSweep(w.p.Sweeper, "the first run")
	if h := w.lease(); h.Holder != "" {
		t.Errorf("after a run, the lease is %+v, want it free", h)
	}
	w.mustSweep(w.sweeper(), "another sweeper at once")

	t.Run("even a run that failed", func(t *testing.T) {
		// An hour on, the item is past the PENDING threshold: its warning
		// cannot go out, and the run fails.
		_ = w.sb.InjectFault(sandbox.Fault{Service: "sns", Kind: sandbox.FaultUnavailable})
		w.clock.Advance(time.Hour)
		if sum, err := w.p.Sweeper.Run(context.Background()); err == nil || sum.Skipped || sum.Unsent != 1 {
			t.Fatalf("a run with SNS down: %+v, %v; want it to sweep and fail, a notice unsent", sum, err)
		}
		w.sb.ClearFaultsMatching(sandbox.Fault{Service: "sns"})
		if h := w.lease(); h.Holder != "" {
			t.Errorf("after a failed run, the lease is %+v, want it free", h)
		}
		w.mustSweep(w.sweeper(), "the next run")
	})
}

func TestARunThatDiesMidSweepKeepsTheNextOutNoLongerThanItsDeadline(t *testing.T) {
	w := newWorld(t)
	// The process dies after its first call, the lease's: nothing after it
	// lands, the release included.
	if err := w.sb.InjectFault(sandbox.Fault{Kind: sandbox.FaultCrash, After: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := w.p.Sweeper.Run(ctx)
	deadline, _ := ctx.Deadline()
	cancel()
	w.sb.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultCrash})
	if err == nil {
		t.Fatal("the run that died returned no error")
	}
	// The clock has not moved: the lease's times are real ones.
	h := w.lease()
	if h.Holder == "" || h.Until.After(deadline) {
		t.Fatalf("the dead run left the lease %+v, want it held until no later than its deadline %s", h, deadline)
	}
	if n := w.checks(); n != 1 {
		t.Fatalf("the dead run checked the item: %d checks", n)
	}
	w.mustSkip(w.p.Sweeper, "a run before the dead run's deadline")
	// Past its deadline, the next run takes over.
	w.clock.Advance(time.Second)
	if sum := w.mustSweep(w.p.Sweeper, "the next run"); sum.Rechecked != 1 {
		t.Errorf("the next run: %+v, want the due item checked again", sum)
	}
}

func TestALostAnswerOnTheLeaseLetsTheSameRunSweep(t *testing.T) {
	t.Run("the take's, with the SDK's retries", func(t *testing.T) {
		w := newWorld(t)
		// The take lands; its answer is a 500; the SDK tries again and the
		// write finds the run's own lease.
		if err := w.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose}); err != nil {
			t.Fatal(err)
		}
		if sum := w.mustSweep(w.p.Sweeper, "the run whose take's answer was lost"); sum.Rechecked != 1 {
			t.Errorf("got %+v, want the due item checked again", sum)
		}
		if len(w.sb.Faults()) != 1 {
			t.Fatalf("the lose fault did not fire: %+v", w.sb.Faults())
		}
		if h := w.lease(); h.Holder != "" {
			t.Errorf("after the run, the lease is %+v, want it free", h)
		}
		w.mustSweep(w.p.Sweeper, "the next run")
	})
	t.Run("the take's, without the SDK's retries", func(t *testing.T) {
		w := newWorld(t)
		// The run itself tries again with its token.
		once, err := ledger.New(ledger.Options{DB: dynamodb.NewFromConfig(w.p.Config, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }),
			Table: w.p.Ledger.Table(), Retention: w.p.Ledger.Retention(), Clock: w.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		s := w.sweeper(func(o *sweep.Options) { o.Lease = once.Lease(sweep.LeaseName) })
		if err := w.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose}); err != nil {
			t.Fatal(err)
		}
		if sum := w.mustSweep(s, "the run whose take's answer was lost"); sum.Rechecked != 1 {
			t.Errorf("got %+v, want the due item checked again", sum)
		}
		if len(w.sb.Faults()) != 1 {
			t.Fatalf("the lose fault did not fire: %+v", w.sb.Faults())
		}
		if h := w.lease(); h.Holder != "" {
			t.Errorf("after the run, the lease is %+v, want it free", h)
		}
	})
	t.Run("the release's", func(t *testing.T) {
		w := newWorld(t)
		// Count a run's DynamoDB calls once they are steady (the first run
		// also adopts the first release's incidents): the release is the
		// last.
		w.mustSweep(w.p.Sweeper, "the first run")
		var calls []int
		for range 2 {
			w.sb.ResetCalls()
			w.mustSweep(w.p.Sweeper, "a counted run")
			calls = append(calls, dynamoCalls(w.sb))
		}
		if calls[0] != calls[1] || calls[0] < 2 {
			t.Fatalf("runs made %v DynamoDB calls: not steady", calls)
		}
		if err := w.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose, After: calls[0] - 1}); err != nil {
			t.Fatal(err)
		}
		w.mustSweep(w.p.Sweeper, "the run whose release's answer was lost")
		if len(w.sb.Faults()) != 1 {
			t.Fatalf("the lose fault did not fire: %+v", w.sb.Faults())
		}
		if h := w.lease(); h.Holder != "" {
			t.Errorf("after the run, the lease is %+v, want it free", h)
		}
		if strings.Contains(w.logs.String(), `"level":"WARN"`) {
			t.Errorf("a release retried after its answer was lost is not a problem:\n%s", w.logs.String())
		}
		w.mustSweep(w.p.Sweeper, "the next run, at once")
	})
}

// An item whose last change an auditor's batch still running owes the
// rollups is left for the next run: no write, no error for the alarm.
// Once the batch added, the next run checks it.
func TestAnItemARunningBatchOwesIsLeftForTheNextRunWithoutAnError(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.Advance(10 * time.Minute) // the item is due
	running := w.p.Ledger.NewBatch(ctx, true)
	f := audit.Finding{Bucket: "src", SourceRegion: "us-east-1", Key: "k", VersionID: w.version, Destination: "dst",
		DestinationRegion: "ap-south-1", RuleID: plane.RuleID("dst"), Verdict: audit.Failed, FailureReason: "DstBucketNotFound", Size: 1, EventTime: time.Now()}
	if _, err := w.p.Ledger.Record(ledger.WithBatch(ctx, running, "m"), f); err != nil {
		t.Fatal(err)
	}
	before := w.checks()
	sum, err := w.sweeper().Run(ctx)
	if err != nil || sum.Waited != 1 || sum.Failed != 0 {
		t.Fatalf("sweep: %+v, %v; want the item waited for, no failure", sum, err)
	}
	if got := w.checks(); got != before {
		t.Errorf("the item was checked %d times more while a batch owed it", got-before)
	}
	if failed, err := running.Flush(ctx); err != nil || len(failed) > 0 {
		t.Fatalf("the batch's add: %v %v", failed, err)
	}
	w.clock.Advance(time.Hour)
	if sum, err := w.sweeper().Run(ctx); err != nil || sum.Waited != 0 || sum.Rechecked != 1 {
		t.Errorf("the next sweep: %+v, %v; want the item checked", sum, err)
	}
}
