package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Local reconciles a run on this machine, files in parallel: the command
// line's way. Its counts are summed in memory, not in a run item; its
// ledger writes, when it has a ledger, are the function's. started, if
// set, learns the run's files and their bytes before any is read.
func (r *Reconciler) Local(ctx context.Context, bucket, key string, workers int, started func(files int, bytes int64)) (Summary, error) {
	if workers < 1 {
		workers = 4
	}
	var pending collect
	r.opts.Dispatch = &pending
	rn, err := r.Start(ctx, bucket, key)
	if err != nil {
		return Summary{}, err
	}
	if len(pending.tasks) == 0 {
		return Summary{}, fmt.Errorf("%w: %s lists no files", ErrBadManifest, rn.Manifest)
	}
	if started != nil {
		var bytes int64
		for _, t := range pending.tasks {
			bytes += t.File.Size
		}
		started(len(pending.tasks), bytes)
	}
	total := newCounts()
	var (
		mu       sync.Mutex
		failures []string
		errs     []error
	)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, t := range pending.tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := r.File(ctx, t)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", t.File.Key, err))
			case c.Failure != "":
				failures = append(failures, t.File.Key+": "+c.Failure)
			default:
				total.Add(c)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Summary{}, err
	}
	slices.Sort(failures)
	return r.finish(ctx, pending.tasks[0], len(pending.tasks), total, failures)
}

// collect keeps a run's tasks for Local.
type collect struct{ tasks []Task }

func (c *collect) Dispatch(_ context.Context, tasks []Task) error {
	c.tasks = append(c.tasks, tasks...)
	return nil
}
