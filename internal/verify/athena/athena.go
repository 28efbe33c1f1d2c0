package athena

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/replaudit/replaudit/internal/verify"
)

// API holds the Athena calls a query makes.
type API interface {
	StartQueryExecution(context.Context, *athena.StartQueryExecutionInput, ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
	GetQueryExecution(context.Context, *athena.GetQueryExecutionInput, ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
	GetQueryResults(context.Context, *athena.GetQueryResultsInput, ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error)
	StopQueryExecution(context.Context, *athena.StopQueryExecutionInput, ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error)
}

// Options configure an Engine.
type Options struct {
	// Workgroup runs the query; "primary" by default.
	Workgroup string
	// Output is the s3:// location of the query's results; "" leaves it
	// to the workgroup's.
	Output string
	// Database holds the tables.
	Database string
	// SourceTable and DestinationTable are the Glue tables over each
	// inventory's hive symlinks, partitioned by dt.
	SourceTable, DestinationTable string
	// Timeout bounds the wait for the query; default 30 minutes.
	Timeout time.Duration
	// MinDelay and MaxDelay bound the wait between two polls; default
	// 500ms and 20s.
	MinDelay, MaxDelay time.Duration
	// PageSize is how many rows a results page holds; 1000, Athena's
	// most, by default.
	PageSize int32
	// Started, if set, is told each query's execution id as soon as
	// Athena has taken it, so that a caller stopped before the query ends
	// can Resume it; an error from it stops the query.
	Started func(ctx context.Context, id string) error
	// Detach leaves a query still running at Timeout running, rather than
	// stopping it: Query returns an error wrapping ErrRunning, and a later
	// engine can Resume it.
	Detach bool
}

// Engine is Athena as the verification's engine.
type Engine struct {
	api     API
	opts    Options
	scanned int64
	id      string
	resume  string
}

var _ verify.Engine = (*Engine)(nil)

// New returns an engine.
func New(api API, o Options) (*Engine, error) {
	if api == nil {
		return nil, errors.New("athena: a client is required")
	}
	if o.Database == "" || o.SourceTable == "" || o.DestinationTable == "" {
		return nil, errors.New("athena: the database and both inventories' tables are required")
	}
	if o.Workgroup == "" {
		o.Workgroup = "primary"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.MinDelay <= 0 {
		o.MinDelay = 500 * time.Millisecond
	}
	if o.MaxDelay < o.MinDelay {
		o.MaxDelay = max(20*time.Second, o.MinDelay)
	}
	if o.PageSize <= 0 || o.PageSize > 1000 {
		o.PageSize = 1000
	}
	return &Engine{api: api, opts: o}, nil
}

// Scanned is the bytes the last query read, as Athena bills them.
func (e *Engine) Scanned() int64 { return e.scanned }

// QueryID is the last query's execution id.
func (e *Engine) QueryID() string { return e.id }

// Tables names the Glue tables, each kept to its inventory's partition.
func (e *Engine) Tables(_ context.Context, src, dst verify.Inventory) (verify.Tables, error) {
	return verify.Tables{
		Source: quote(e.opts.SourceTable), Destination: quote(e.opts.DestinationTable),
		SourceFilter:      `"dt" = ` + literal(src.Partition),
		DestinationFilter: `"dt" = ` + literal(dst.Partition),
	}, nil
}

// ErrQuery marks a query Athena did not finish: FAILED, CANCELLED, or
// still running when the wait timed out.
var ErrQuery = errors.New("the Athena query did not succeed")

// ErrRunning marks a query left running at the timeout (Detach): it wraps
// ErrQuery too, and the engine's QueryID names it.
var ErrRunning = fmt.Errorf("%w: still running", ErrQuery)

// Resume has the next Query wait for, and read, the query id that an
// earlier engine started with the same statement, rather than start one.
func (e *Engine) Resume(id string) { e.resume = id }

// Query starts a statement (or resumes one, after Resume), waits for it,
// and streams its rows.
func (e *Engine) Query(ctx context.Context, sql string, row func([]string) error) error {
	if e.resume != "" {
		e.id, e.resume = e.resume, ""
		if err := e.wait(ctx, e.id); err != nil {
			return err
		}
		return e.results(ctx, row)
	}
	in := &athena.StartQueryExecutionInput{
		QueryString:           aws.String(sql),
		WorkGroup:             aws.String(e.opts.Workgroup),
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String(e.opts.Database)},
	}
	if e.opts.Output != "" {
		in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(e.opts.Output)}
	}
	out, err := e.api.StartQueryExecution(ctx, in)
	if err != nil {
		return fmt.Errorf("athena: start the query: %w", err)
	}
	e.id = aws.ToString(out.QueryExecutionId)
	if e.opts.Started != nil {
		if err := e.opts.Started(ctx, e.id); err != nil {
			e.stop(ctx, e.id)
			return fmt.Errorf("athena: query %s started: %w", e.id, err)
		}
	}
	if err := e.wait(ctx, e.id); err != nil {
		return err
	}
	return e.results(ctx, row)
}

// results pages through a finished query's rows.
func (e *Engine) results(ctx context.Context, row func([]string) error) error {
	p := athena.NewGetQueryResultsPaginator(e.api, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(e.id), MaxResults: aws.Int32(e.opts.PageSize)})
	header := true
	vals := []string{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("athena: read the results of query %s: %w", e.id, err)
		}
		if page.ResultSet == nil {
			continue
		}
		for _, r := range page.ResultSet.Rows {
			if header {
				// The first row of a SELECT's first page is its header.
				header = false
				continue
			}
			vals = vals[:0]
			for _, d := range r.Data {
				vals = append(vals, aws.ToString(d.VarCharValue))
			}
			if err := row(vals); err != nil {
				return err
			}
		}
	}
	return nil
}

// wait polls a query until it ends, with backoff from MinDelay to
// MaxDelay, for at most Timeout; a query still running then is stopped.
func (e *Engine) wait(ctx context.Context, id string) error {
	deadline := time.Now().Add(e.opts.Timeout)
	delay := e.opts.MinDelay
	for {
		out, err := e.api.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			return fmt.Errorf("athena: read query %s: %w", id, err)
		}
		q := out.QueryExecution
		var state types.QueryExecutionState
		var reason string
		if q != nil && q.Status != nil {
			state, reason = q.Status.State, aws.ToString(q.Status.StateChangeReason)
		}
		if q != nil && q.Statistics != nil {
			e.scanned = aws.ToInt64(q.Statistics.DataScannedInBytes)
		}
		switch state {
		case types.QueryExecutionStateSucceeded:
			return nil
		case types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
			if q.Status.AthenaError != nil && reason == "" {
				reason = aws.ToString(q.Status.AthenaError.ErrorMessage)
			}
			return fmt.Errorf("%w: query %s %s: %s", ErrQuery, id, state, cmp.Or(reason, "Athena gave no reason"))
		}
		if !time.Now().Add(delay).Before(deadline) {
			if e.opts.Detach {
				return fmt.Errorf("%w: query %s still %s after %s; it was left running", ErrRunning, id, cmp.Or(string(state), "unknown"), e.opts.Timeout)
			}
			// Nothing should keep running, and billing, once the answer
			// no longer matters.
			e.stop(ctx, id)
			return fmt.Errorf("%w: query %s still %s after %s; it was stopped", ErrQuery, id, cmp.Or(string(state), "unknown"), e.opts.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, e.opts.MaxDelay)
	}
}

// quote makes an identifier of a table name, database.table included.
func quote(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

// literal makes an SQL string of s.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// stop asks Athena to stop a query, even after ctx ended.
func (e *Engine) stop(ctx context.Context, id string) {
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = e.api.StopQueryExecution(stop, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)})
}
