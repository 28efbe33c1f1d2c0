package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/ledger"
)

// LeaseName names the sweep lease in the ledger's table (item LEASE#sweeper).
const LeaseName = "sweeper"

// Lease is the lease that keeps one sweep at a time.
type Lease interface {
	Take(ctx context.Context, token string, now, until time.Time) (ledger.LeaseState, error)
	Release(ctx context.Context, token string, now time.Time) (ledger.LeaseState, error)
}

var _ Lease = (*ledger.Lease)(nil)

// take takes the lease for this run, until its deadline. It reports false,
// having logged who holds it, when another run does.
func (s *Sweeper) take(ctx context.Context, token string) (bool, error) {
	now := s.opts.Clock()
	until := now.Add(s.opts.LeaseTerm)
	if d, ok := ctx.Deadline(); ok {
		// The invocation cannot outlive its deadline, and neither can the
		// lease; on the lease's clock.
		until = now.Add(time.Until(d))
	}
	st, err := s.opts.Lease.Take(ctx, token, now, until)
	if mayHaveLanded(err) {
		// The answer may have been lost: tried again with the same token,
		// the write finds its own lease.
		if st, err = s.opts.Lease.Take(ctx, token, now, until); err != nil && !errors.Is(err, ledger.ErrLeaseHeld) {
			// Should the first have landed all the same, free it; if that
			// fails too, it expires with this invocation.
			s.release(ctx, token)
		}
	}
	switch {
	case errors.Is(err, ledger.ErrLeaseHeld):
		s.opts.Log.Info("another sweep holds the lease; this run sweeps nothing", "holder", st.Holder, "since", st.Since, "until", st.Until)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sweep lease: %w", err)
	}
	return true, nil
}

// mayHaveLanded reports whether a lease write failed without proof that
// it did not land: neither refused (4xx, 503) nor the lease held by another.
func mayHaveLanded(err error) bool {
	return err != nil && !errors.Is(err, ledger.ErrLeaseHeld) && !awscall.Rejected(err)
}

// release frees the lease at the end of the run, so that the next need not
// wait for its expiry. A lease left held expires by itself.
func (s *Sweeper) release(ctx context.Context, token string) {
	st, err := s.opts.Lease.Release(ctx, token, s.opts.Clock())
	switch {
	case err != nil:
		s.opts.Log.Warn("the sweep lease was not released; it expires by itself", "error", err)
	case st.Holder != "" && st.Holder != token:
		s.opts.Log.Warn("the sweep lease expired before the run ended, and another run took it", "holder", st.Holder, "until", st.Until)
	}
}
