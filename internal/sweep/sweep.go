// Package sweep is the scheduled sweeper: it goes through the ledger items
// that need attention, checks PENDING ones again, alerts once on those
// pending past the threshold, resolves those now done, and sends alerts and
// storm digests that could not be sent before. It stops short of its
// deadline; what it did not reach stays in the index for the next run.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Options tune a sweep.
type Options struct {
	// Threshold is how long an item may stay PENDING before one alert.
	Threshold time.Duration
	// PerGiB adds time to the threshold for large objects: replication of a
	// big object takes longer. The default is one minute per 256 MiB.
	PerGiB time.Duration
	// Concurrency bounds the checks in flight.
	Concurrency int
	// Margin is how long before the deadline the sweep stops starting work.
	Margin time.Duration
	// Grace is how long a claimed alert is left to its claimant before the
	// sweeper sends it instead.
	Grace time.Duration
	// Clock stands in for time.Now, in tests.
	Clock func() time.Time
}

// Summary says what one run did.
type Summary struct {
	Seen, Rechecked, Alerted, Resolved, Digests, Left int
}

// Sweeper is one scheduled sweep's work.
type Sweeper struct {
	checker  *audit.Checker
	ledger   *ledger.Ledger
	notifier *alert.Notifier
	opts     Options
	log      *slog.Logger
	now      func() time.Time
}

// New returns a Sweeper.
func New(c *audit.Checker, l *ledger.Ledger, n *alert.Notifier, o Options, log *slog.Logger) (*Sweeper, error) {
	if c == nil || l == nil || n == nil {
		return nil, errors.New("sweep: a checker, a ledger and a notifier are required")
	}
	if o.Threshold <= 0 {
		o.Threshold = 30 * time.Minute
	}
	if o.PerGiB == 0 {
		o.PerGiB = 4 * time.Minute
	}
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Margin <= 0 {
		o.Margin = 20 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	now := o.Clock
	if now == nil {
		now = time.Now
	}
	return &Sweeper{checker: c, ledger: l, notifier: n, opts: o, log: log, now: now}, nil
}

// allowance is how long an object of this size may stay PENDING.
func (s *Sweeper) allowance(size int64) time.Duration {
	return s.opts.Threshold + time.Duration(float64(s.opts.PerGiB)*float64(size)/float64(1<<30))
}

var errStop = errors.New("stop before the deadline")

// Run sweeps until the work is done or the deadline nears.
func (s *Sweeper) Run(ctx context.Context) (Summary, error) {
	var sum Summary
	var seen, rechecked, alerted, resolved, digests atomic.Int64
	stopAt := time.Time{}
	if d, ok := ctx.Deadline(); ok {
		stopAt = d.Add(-s.opts.Margin)
	}
	began := time.Now()
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// Each run starts at another shard: a backlog too big for one run is
	// covered by the next ones, whatever shard it sits in.
	first := int(s.now().Unix()/60) % ledger.Shards
	var failed atomic.Int64
	err := s.ledger.Attention(ctx, first, func(it ledger.Item) error {
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			return errStop
		}
		seen.Add(1)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			kind, err := s.one(ctx, it)
			if err != nil {
				s.log.Warn("sweep item failed; the next run retries it", "pk", it.PK, "sk", it.SK, "error", err)
				failed.Add(1)
				fail(err)
				return
			}
			switch kind {
			case "recheck":
				rechecked.Add(1)
			case "alert":
				alerted.Add(1)
			case "resolve":
				resolved.Add(1)
			case "digest":
				digests.Add(1)
			}
		}()
		return nil
	})
	wg.Wait()
	sum = Summary{Seen: int(seen.Load()), Rechecked: int(rechecked.Load()), Alerted: int(alerted.Load()), Resolved: int(resolved.Load()), Digests: int(digests.Load())}
	if errors.Is(err, errStop) {
		sum.Left = 1 // at least one item waits for the next run
		err = nil
	}
	if err == nil && firstErr != nil {
		// Surface it, so the function's error metric and alarm see it; the
		// items that failed stay in the index for the next run.
		err = fmt.Errorf("%d of %d items failed, first: %w", failed.Load(), sum.Seen, firstErr)
	}
	s.log.Info("sweep done", "seconds", time.Since(began).Seconds(), "seen", sum.Seen, "rechecked", sum.Rechecked, "alerted", sum.Alerted, "resolved", sum.Resolved, "digests", sum.Digests, "stoppedEarly", sum.Left > 0)
	return sum, err
}

// one handles one item from the attention index.
func (s *Sweeper) one(ctx context.Context, it ledger.Item) (string, error) {
	if ledger.IsWindow(it) {
		return "digest", s.notifier.SendDigest(ctx, it.Key)
	}
	switch it.Alert {
	case ledger.AlertDue, ledger.AlertResolveDue:
		if err := s.notifier.Resend(ctx, it, s.opts.Grace); err != nil {
			return "", err
		}
		if it.Alert == ledger.AlertResolveDue {
			return "resolve", nil
		}
		return "alert", nil
	}
	f, err := s.checker.Recheck(ctx, it.Finding())
	if err != nil {
		return "", err
	}
	if f.Verdict == audit.Pending && it.Alert == "" && s.now().Sub(it.FirstSeen) > s.allowance(it.Size) {
		f.LongPending = true
		f.Detail = "PENDING for " + s.now().Sub(it.FirstSeen).Round(time.Minute).String() + ", past the threshold of " + s.allowance(it.Size).String() + "."
	}
	before := it.Alert
	if err := auditor.Settle(ctx, s.ledger, s.notifier, s.log, f); err != nil {
		return "", err
	}
	switch {
	case f.Verdict == audit.Verified && before == ledger.AlertSent:
		return "resolve", nil
	case f.LongPending && before == "":
		return "alert", nil
	}
	return "recheck", nil
}
