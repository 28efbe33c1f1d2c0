package ledger

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
)

// PeriodQuery is a read of the day index: the items whose event time is in
// [Since, Until).
type PeriodQuery struct {
	Since, Until time.Time
	// Verdict and Bucket, when set, have DynamoDB leave out the items
	// without that verdict or source bucket. The index's keys are the day
	// shard and the event time, so this is a FilterExpression, applied
	// after the read: it saves the transfer and the decoding, not read
	// capacity. Callers filter again; this only narrows what they see.
	Verdict audit.Verdict
	Bucket  string
	// DayDone, when set, is told after each day is read: days done, of
	// days in the period.
	DayDone func(done, total int)
}

// Period streams every item whose event time is in [since, until), in
// event time order: back-to-back periods never count an item twice.
func (l *Ledger) Period(ctx context.Context, since, until time.Time, fn func(Item) error) error {
	return l.QueryPeriod(ctx, PeriodQuery{Since: since, Until: until}, fn)
}

// QueryPeriod streams the items of a period in event time order, day by
// day. A day's shards are read at once, page by page, and merged: it holds
// at most two pages a shard (the one merged and the next, read meanwhile),
// and the items of one second, which it sorts, never a whole day. fn
// returning an error stops the read, without reading further pages, and
// QueryPeriod returns that error.
func (l *Ledger) QueryPeriod(ctx context.Context, q PeriodQuery, fn func(Item) error) error {
	first := q.Since.UTC().Truncate(24 * time.Hour)
	total := 0
	for day := first; day.Before(q.Until); day = day.Add(24 * time.Hour) {
		total++
	}
	filter, names, values := q.filter()
	for i := range total {
		day := first.Add(time.Duration(i) * 24 * time.Hour).Format(time.DateOnly)
		ins := make([]*dynamodb.QueryInput, Shards)
		for s := range ins {
			vals := map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: fmt.Sprintf("%s#%02d", day, s)}}
			for k, v := range values {
				vals[k] = v
			}
			ins[s] = &dynamodb.QueryInput{
				TableName: aws.String(l.opts.Table), IndexName: aws.String(DayIndex),
				KeyConditionExpression:    aws.String("dayShard = :v"),
				FilterExpression:          filter,
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: vals,
				Limit:                     l.limit(),
			}
		}
		err := l.merge(ctx, ins, func(it Item) error {
			if it.EventTime.Before(q.Since) || !it.EventTime.Before(q.Until) {
				return nil
			}
			return fn(it)
		})
		if err != nil {
			return err
		}
		if q.DayDone != nil {
			q.DayDone(i+1, total)
		}
	}
	return nil
}

// filter is the query's FilterExpression, or nil for none.
func (q PeriodQuery) filter() (*string, map[string]string, map[string]types.AttributeValue) {
	var conds []string
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	if q.Verdict != "" {
		conds = append(conds, "#verdict = :verdict")
		names["#verdict"], values[":verdict"] = "verdict", &types.AttributeValueMemberS{Value: string(q.Verdict)}
	}
	if q.Bucket != "" {
		conds = append(conds, "#bucket = :bucket")
		names["#bucket"], values[":bucket"] = "bucket", &types.AttributeValueMemberS{Value: q.Bucket}
	}
	switch len(conds) {
	case 0:
		return nil, nil, nil
	case 1:
		return aws.String(conds[0]), names, values
	}
	return aws.String(conds[0] + " AND " + conds[1]), names, values
}

// page is one page of a shard's items, decoded, or why there is none.
type page struct {
	items []Item
	err   error
}

// run is a shard's items in the merge: the page being merged and where
// the next ones come from.
type run struct {
	shard int
	items []Item
	next  <-chan page
}

// fill moves to the shard's next page with items. It returns false at the
// shard's end.
func (r *run) fill(ctx context.Context) (bool, error) {
	r.items = nil
	for len(r.items) == 0 {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case p, ok := <-r.next:
			if !ok {
				return false, nil
			}
			if p.err != nil {
				return false, p.err
			}
			r.items = p.items
		}
	}
	return true, nil
}

// runs orders the shards by their next item's second, as the index
// orders event times (RFC 3339 strings sort as times to the second only:
// ".5Z" sorts after ".123Z"), then by shard.
type runs []*run

func (h runs) Len() int { return len(h) }
func (h runs) Less(i, j int) bool {
	a, b := h[i].items[0].EventTime.Unix(), h[j].items[0].EventTime.Unix()
	if a != b {
		return a < b
	}
	return h[i].shard < h[j].shard
}
func (h runs) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runs) Push(x any)   { *h = append(*h, x.(*run)) }
func (h *runs) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// merge runs the queries at once and streams their items to fn in event
// time order: a k-way merge of runs that are each in index order.
func (l *Ledger) merge(ctx context.Context, ins []*dynamodb.QueryInput, fn func(Item) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	h := make(runs, 0, len(ins))
	all := make([]*run, len(ins))
	for s, in := range ins {
		ch := make(chan page)
		wg.Go(func() {
			defer close(ch)
			l.pages(ctx, in, ch)
		})
		all[s] = &run{shard: s, next: ch}
	}
	for _, r := range all {
		ok, err := r.fill(ctx)
		if err != nil {
			return err
		}
		if ok {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	var sec secondSort
	for len(h) > 0 {
		r := h[0]
		if err := sec.add(r.items[0], fn); err != nil {
			return err
		}
		if r.items = r.items[1:]; len(r.items) > 0 {
			heap.Fix(&h, 0)
			continue
		}
		ok, err := r.fill(ctx)
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return sec.flush(fn)
}

// pages reads a query's pages into ch until the end, an error, or ctx is
// done.
func (l *Ledger) pages(ctx context.Context, in *dynamodb.QueryInput, ch chan<- page) {
	p := dynamodb.NewQueryPaginator(l.opts.DB, in)
	for p.HasMorePages() {
		var pg page
		out, err := p.NextPage(ctx)
		if err != nil {
			pg.err = fmt.Errorf("query the day index: %w", err)
		} else {
			pg.items = make([]Item, 0, len(out.Items))
			for _, raw := range out.Items {
				it, err := decode(raw)
				if err != nil {
					pg.err = err
					break
				}
				pg.items = append(pg.items, it)
			}
		}
		select {
		case ch <- pg:
		case <-ctx.Done():
			return
		}
		if pg.err != nil {
			return
		}
	}
}

// secondSort puts the items of one second in event time order, which the
// index does not (see runs), keeping shard order between equal times.
type secondSort struct {
	sec   int64
	items []Item
}

func (s *secondSort) add(it Item, fn func(Item) error) error {
	if sec := it.EventTime.Unix(); len(s.items) > 0 && sec != s.sec {
		if err := s.flush(fn); err != nil {
			return err
		}
	}
	s.sec = it.EventTime.Unix()
	s.items = append(s.items, it)
	return nil
}

func (s *secondSort) flush(fn func(Item) error) error {
	slices.SortStableFunc(s.items, func(a, b Item) int { return a.EventTime.Compare(b.EventTime) })
	for i, it := range s.items {
		if err := fn(it); err != nil {
			s.items = s.items[:0]
			return err
		}
		s.items[i] = Item{}
	}
	s.items = s.items[:0]
	return nil
}
