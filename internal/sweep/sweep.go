package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/metrics"
)

// Options configure a Sweeper.
type Options struct {
	Checker *audit.Checker
	Ledger  *ledger.Ledger
	Tracker *incident.Tracker
	// Concurrency bounds the items in flight.
	Concurrency int
	// Margin is how long before the deadline the sweep stops starting work.
	Margin time.Duration
	// MaxItems bounds the items one run takes on.
	MaxItems int
	Log      *slog.Logger
	// Metrics receives CloudWatch embedded-metric lines.
	Metrics io.Writer
	// Clock stands in for time.Now; it defaults to the ledger's.
	Clock func() time.Time
	// Lease keeps one sweep at a time (see the package doc); it defaults
	// to the ledger's lease LeaseName.
	Lease Lease
	// LeaseTerm is how long a run holds the lease when its context has no
	// deadline (with one, until the deadline); 5 minutes, the schedule's
	// period, by default.
	LeaseTerm time.Duration
}

// Summary says what one run did. Alerted, Resolved and Digests count
// notices SNS took; Unsent counts notices owed that could not be sent.
type Summary struct {
	Seen, Rechecked, Alerted, Resolved, Held, Digests, Unsent, Failed int
	// Waited counts items a running batch still owed the rollups for:
	// left for the next run, not failed.
	Waited int
	// Left reports a run that stopped before it reached every due item.
	Left bool
	// Skipped reports a run that swept nothing: another held the lease.
	Skipped bool
}

// Sweeper is one scheduled sweep's work.
type Sweeper struct {
	opts Options
}

// New returns a Sweeper.
func New(o Options, optFns ...func(*Options)) (*Sweeper, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Checker == nil || o.Ledger == nil || o.Tracker == nil {
		return nil, errors.New("sweep: a checker, a ledger and an incident tracker are required")
	}
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Margin <= 0 {
		o.Margin = 20 * time.Second
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 20000
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = io.Discard
	}
	if o.Clock == nil {
		o.Clock = o.Ledger.Now
	}
	if o.Lease == nil {
		o.Lease = o.Ledger.Lease(LeaseName)
	}
	if o.LeaseTerm <= 0 {
		o.LeaseTerm = 5 * time.Minute
	}
	return &Sweeper{opts: o}, nil
}

var errStop = errors.New("stop")

// Run sweeps what is due until the work is done, the bound is reached or
// the deadline nears, holding the sweep lease. It returns an error when
// items failed or notices could not be sent, so the function's error alarm
// sees it; those items stay due for the next run. A run that finds the
// lease held by another logs it and returns Skipped, without an error: the
// schedule comes again. An error taking the lease is returned.
func (s *Sweeper) Run(ctx context.Context) (Summary, error) {
	token := ledger.NewID()
	held, err := s.take(ctx, token)
	if err != nil {
		return Summary{}, err
	}
	if !held {
		return Summary{Skipped: true}, nil
	}
	defer s.release(ctx, token)
	return s.sweep(ctx)
}

// sweep is one run's work, under the lease.
func (s *Sweeper) sweep(ctx context.Context) (Summary, error) {
	began := time.Now()
	now := s.opts.Clock()
	stopAt := time.Time{}
	if d, ok := ctx.Deadline(); ok {
		stopAt = d.Add(-s.opts.Margin)
	}
	var (
		mu       sync.Mutex
		sum      Summary
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, s.opts.Concurrency)
		tally    = metrics.New()
	)
	// Each run starts at another shard: a backlog too big for one run is
	// covered by the next ones, whatever shard it sits in.
	first := int(now.Unix()/60) % ledger.Shards
	// The run's verdict changes go into the rollups in one add per day,
	// source and destination, at its end. Nothing delivers a sweep again,
	// so an item whose add is owed stays due until a later sweep sees it
	// added, or adds it itself.
	batch := s.opts.Ledger.NewBatch(ctx, false)
	defer func() {
		if unapplied, err := batch.Flush(ctx); err != nil {
			s.opts.Log.Warn("rollup adds did not apply; their items stay due and the next sweep adds them", "items", len(unapplied), "error", err)
		}
	}()
	err := s.opts.Ledger.Due(ctx, first, now, func(it ledger.Item) error {
		if !stopAt.IsZero() && time.Now().After(stopAt) || sum.Seen >= s.opts.MaxItems {
			return errStop
		}
		mu.Lock()
		sum.Seen++
		mu.Unlock()
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, rechecked, err := s.one(ledger.WithBatch(ctx, batch, it.PK+" "+it.SK), it)
			out.Count(tally)
			mu.Lock()
			defer mu.Unlock()
			if rechecked {
				sum.Rechecked++
			}
			for _, k := range out.Published {
				switch k {
				case alert.KindResolved:
					sum.Resolved++
				case alert.KindDigest:
					sum.Digests++
				default:
					sum.Alerted++
				}
			}
			if out.Held {
				sum.Held++
			}
			if out.SendErr != nil {
				sum.Unsent++
				err = errors.Join(err, out.SendErr)
			}
			if errors.Is(err, ledger.ErrOwedElsewhere) && out.SendErr == nil {
				// An auditor's batch still running owes the item's last
				// change to the rollups: the next sweep sees it settled.
				// Nothing is wrong, so no error for the alarm.
				sum.Waited++
				return
			}
			if err != nil {
				sum.Failed++
				s.opts.Log.Warn("sweep item failed; it stays due for the next run", "pk", it.PK, "sk", it.SK, "error", err)
				if firstErr == nil {
					firstErr = err
				}
			}
		})
		return nil
	})
	wg.Wait()
	if errors.Is(err, errStop) {
		sum.Left, err = true, nil
	}
	if err == nil && !sum.Left && (stopAt.IsZero() || time.Now().Before(stopAt)) {
		// Time to spare: bring back incidents the first release left out
		// of the index, a page of the table at a time.
		if _, aerr := s.opts.Tracker.Adopt(ledger.WithBatch(ctx, batch, "adopt"), 1000); aerr != nil {
			s.opts.Log.Warn("adopting the first release's incidents failed; the next run goes on", "error", aerr)
		}
	}
	if err == nil && firstErr != nil {
		err = fmt.Errorf("%d of %d items failed, %d notices unsent; first: %w", sum.Failed, sum.Seen, sum.Unsent, firstErr)
	}
	tally.Write(s.opts.Metrics, time.Now())
	s.opts.Log.Info("sweep done", "seconds", time.Since(began).Seconds(), "seen", sum.Seen, "rechecked", sum.Rechecked, "alerted", sum.Alerted,
		"resolved", sum.Resolved, "held", sum.Held, "digests", sum.Digests, "unsent", sum.Unsent, "failed", sum.Failed, "waited", sum.Waited, "stoppedEarly", sum.Left)
	return sum, err
}

// one handles one due item: a storm window's digest, a notice owed, or a
// new check of an open item.
func (s *Sweeper) one(ctx context.Context, it ledger.Item) (incident.Outcome, bool, error) {
	t := s.opts.Tracker
	switch {
	case ledger.IsWindow(it):
		out, err := t.Window(ctx, it.Key)
		return out, false, err
	case t.Claimable(it):
		out, err := t.Resend(ctx, it)
		return out, false, err
	case ledger.Parked(it):
		// Due only until the rollup add of its last change settled.
		_, err := s.opts.Ledger.Unpark(ctx, it)
		return incident.Outcome{}, false, err
	case it.Verdict.Open():
		// A destination's CANNOT_VERIFY incident names an example object:
		// checking it again tells whether the destination can be read.
		f, err := s.opts.Checker.Recheck(ctx, it.Finding())
		if err != nil {
			return incident.Outcome{}, false, err
		}
		out, err := t.Recheck(ctx, it, f)
		if err == nil {
			out.Log(s.opts.Log, f)
		}
		return out, true, err
	}
	// Nothing to check or send: record it as seen, which schedules it
	// again or takes it out of the index.
	out, err := t.Recheck(ctx, it, it.Finding())
	return out, false, err
}
