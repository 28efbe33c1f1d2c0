package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Filter selects ledger items.
type Filter struct {
	Verdict audit.Verdict // "" for any
	Bucket  string        // "" for any
	Since   time.Time
	Until   time.Time
	// Limit stops the read after this many items pass (0: no limit).
	Limit int
	// DayDone, when set, is told after each day is read: days done, of
	// days in the period. It is progress, not a filter.
	DayDone func(done, total int)
}

// ErrUsage marks a filter or argument a person got wrong.
var ErrUsage = errors.New("usage")

// ParseTime reads a point in time: an RFC 3339 time, a date, or a duration
// back from now such as 30m, 24h or 7d.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: an empty time", ErrUsage)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a time: use RFC 3339 (2026-11-29T10:00:00Z), a date (2026-11-29) or a duration back from now (90m, 24h, 7d)", ErrUsage, s)
}

// ParseVerdict reads a verdict name, in any case.
func ParseVerdict(s string) (audit.Verdict, error) {
	if s == "" {
		return "", nil
	}
	v := strings.ToUpper(strings.TrimSpace(s))
	if !audit.Valid(v) {
		names := make([]string, len(audit.Verdicts))
		for i, x := range audit.Verdicts {
			names[i] = string(x)
		}
		return "", fmt.Errorf("%w: unknown verdict %q: want one of %s", ErrUsage, s, strings.Join(names, ", "))
	}
	return audit.Verdict(v), nil
}

// Match reports whether an object item passes the filter. Configuration
// evidence never does.
func (f Filter) Match(it ledger.Item) bool {
	if ledger.IsConfig(it) || ledger.IsWindow(it) || ledger.IsRun(it) || ledger.IsBlind(it) {
		return false
	}
	if f.Verdict != "" && it.Verdict != f.Verdict {
		return false
	}
	if f.Bucket != "" && it.Bucket != f.Bucket {
		return false
	}
	return true
}

// Ledger is what queries read.
type Ledger interface {
	QueryPeriod(ctx context.Context, q ledger.PeriodQuery, fn func(ledger.Item) error) error
}

var _ Ledger = (*ledger.Ledger)(nil)

// errEnough stops the read at the limit.
var errEnough = errors.New("enough items")

// Run streams the items that pass the filter, in event time order. It has
// DynamoDB leave out what the verdict and bucket rule out, and still
// matches every item itself: the result is the same, only lighter.
func Run(ctx context.Context, l Ledger, f Filter, fn func(ledger.Item) error) error {
	if !f.Until.After(f.Since) {
		return fmt.Errorf("%w: --until (%s) is not after --since (%s)", ErrUsage, f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	if f.Limit < 0 {
		return fmt.Errorf("%w: --limit %d: want a count of items, or 0 for every one", ErrUsage, f.Limit)
	}
	n := 0
	q := ledger.PeriodQuery{Since: f.Since, Until: f.Until, Verdict: f.Verdict, Bucket: f.Bucket, DayDone: f.DayDone}
	err := l.QueryPeriod(ctx, q, func(it ledger.Item) error {
		if !f.Match(it) {
			return nil
		}
		if err := fn(it); err != nil {
			return err
		}
		if n++; f.Limit > 0 && n >= f.Limit {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		return nil
	}
	return err
}
