package ledger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
)

// The stored states of an item's incident (Item.Alert). Package incident
// keeps their transitions; the rollups count them.
const (
	AlertDue        = "DUE"
	AlertSending    = "SENDING"
	AlertSent       = "SENT"
	AlertHeld       = "HELD"
	AlertResolveDue = "RESOLVE_DUE"
	AlertResolving  = "RESOLVING"
	AlertResolved   = "RESOLVED"
)

// IncidentOpen and IncidentResolved say how the report counts an item's
// incident: alerted and not over, or over.
func IncidentOpen(alert string) bool {
	return alert == AlertDue || alert == AlertSending || alert == AlertSent || alert == AlertHeld
}

// IncidentResolved reports an incident that is over.
func IncidentResolved(alert string) bool {
	return alert == AlertResolveDue || alert == AlertResolving || alert == AlertResolved
}

// LagBounds are the upper bounds (inclusive) of the lag histogram's
// buckets; a last, open bucket holds what is longer. The scale is
// logarithmic below a minute and above an hour, with a bucket per minute
// between, so that every whole-minute threshold up to an hour (the
// stack's PendingThresholdMinutes) and the report's 1, 5 and 15 minutes
// are bucket bounds, and their shares are exact.
var LagBounds = func() []time.Duration {
	b := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second}
	for m := 1; m <= 60; m++ {
		b = append(b, time.Duration(m)*time.Minute)
	}
	for _, h := range []float64{1.5, 2, 3, 4, 6, 8, 12, 18, 24, 36, 48, 72, 168} {
		b = append(b, time.Duration(h*float64(time.Hour)))
	}
	return b
}()

// LagBucket is the histogram bucket of a lag: an index into LagBounds, or
// len(LagBounds) for the open bucket.
func LagBucket(lag time.Duration) int {
	i, _ := slices.BinarySearch(LagBounds, lag)
	return i
}

// The rollup counters an item counts in. Each is an attribute of a
// rollup item, added to atomically.
const (
	CellChecks   = "n"  // every object item: a version against a destination
	CellOpen     = "io" // an incident alerted and not over
	CellResolved = "ir" // an incident over
	cellVerdict  = "v." // + the verdict
	cellReason   = "r." // + the failure's reason, or MISSING / DIVERGED
	cellLag      = "h." // + the lag bucket, two digits
	NoReason     = "(no reason reported)"
	cellSep      = "|"
)

// CellVerdict, CellReason and CellLag name a verdict's, a reason's and a
// lag bucket's counters.
func CellVerdict(v audit.Verdict) string { return cellVerdict + string(v) }

// CellReason names a failure reason's counter.
func CellReason(r string) string { return cellReason + strings.ReplaceAll(r, cellSep, "/") }

// CellLag names a lag bucket's counter.
func CellLag(bucket int) string { return fmt.Sprintf("%s%02d", cellLag, bucket) }

// ParseCell reads a counter's name back: its kind ("n", "io", "ir", "v",
// "r" or "h") and its argument.
func ParseCell(name string) (kind, arg string) {
	if k, a, ok := strings.Cut(name, "."); ok {
		return k, a
	}
	return name, ""
}

// Contribution is what an item counts in its day's rollup, the same
// figures the report counts item by item: sorted counter names, each
// counted once. Only object versions count.
func Contribution(it Item) []string {
	if !IsObject(it.Key) {
		return nil
	}
	c := []string{CellChecks, CellVerdict(it.Verdict)}
	switch it.Verdict {
	case audit.Verified:
		if it.LagSeconds != nil {
			c = append(c, CellLag(LagBucket(time.Duration(*it.LagSeconds*float64(time.Second)))))
		}
	case audit.Failed:
		r := it.FailureReason
		if r == "" {
			r = NoReason
		}
		c = append(c, CellReason(r))
	case audit.Missing, audit.Diverged:
		c = append(c, CellReason(string(it.Verdict)))
	}
	switch {
	case IncidentOpen(it.Alert):
		c = append(c, CellOpen)
	case IncidentResolved(it.Alert):
		c = append(c, CellResolved)
	}
	slices.Sort(c)
	return c
}

// IsObject reports whether a key is an object version's item: the items
// rollups count.
func IsObject(k Key) bool { return strings.HasPrefix(k.PK, "O#") }

func joinCells(c []string) string { return strings.Join(c, cellSep) }

func splitCells(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, cellSep)
}

// RollKey names the rollup an item counts in: its event's day, its source
// and its destination.
type RollKey struct{ Day, Source, Destination string }

func rollKeyOf(it Item) RollKey {
	d := it.Destination
	if d == "" {
		d = "-"
	}
	day := it.Day
	if day == "" {
		day = it.EventTime.UTC().Format(time.DateOnly)
	}
	return RollKey{Day: day, Source: it.Bucket, Destination: d}
}

const rollPrefix = "ROLL#"

// shard is where a writer's rollup of a key lives: a partition per day
// and shard, a writer's own item in it. Each writer adds to its own item,
// so no item is contended and no partition takes every writer's adds.
func (k RollKey) shard(writer string) Key {
	h := fnv.New32a()
	h.Write([]byte(writer))
	return Key{PK: fmt.Sprintf("%s%s#%02d", rollPrefix, k.Day, h.Sum32()%Shards), SK: k.Source + "#" + k.Destination + "#" + writer}
}

// IsRollup reports whether an item is a rollup rather than an object
// version.
func IsRollup(it Item) bool { return strings.HasPrefix(it.PK, rollPrefix) }

// baseWriter is the writer name of the rollups `rollup rebuild` writes:
// what items written before rollups existed count.
const baseWriter = "base"

// A batch's place in a writer's sequence and the time by which it has
// flushed, as items name it ("writer:seq:deadline", the deadline in Unix
// milliseconds).
func batchID(writer string, seq int64, deadline time.Time) string {
	return writer + ":" + strconv.FormatInt(seq, 10) + ":" + strconv.FormatInt(deadline.UnixMilli(), 10)
}

func parseBatch(id string) (writer string, seq int64, deadline time.Time, ok bool) {
	parts := strings.Split(id, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", 0, time.Time{}, false
	}
	n, err1 := strconv.ParseInt(parts[1], 10, 64)
	ms, err2 := strconv.ParseInt(parts[2], 10, 64)
	return parts[0], n, time.UnixMilli(ms).UTC(), err1 == nil && err2 == nil
}

// maxBatchLife bounds a batch without a deadline of its own (the CLI's):
// after it, and fenceAfter more, the batch is taken as stopped.
const maxBatchLife = 10 * time.Minute

// fenceAfter is how long past a batch's deadline another writer waits
// before fencing it: a batch is never fenced while it may still flush,
// clocks a little apart included.
const fenceAfter = time.Minute

// ErrOwedElsewhere is an item whose last change a batch still running
// owes the rollups: the write waits until that batch flushed or its
// deadline passed (an SQS message comes again; a sweep tries next time).
var ErrOwedElsewhere = fmt.Errorf("%w: its last change is owed by a batch still running", ErrContended)

// writer is a sequence of batches whose adds apply in order, one rollup
// item per key. A writer that fails to apply a batch is dropped: its
// later batches could not be told from the failed one.
type writer struct {
	id  string
	seq int64
}

// writers hands each batch in flight a writer of its own.
type writers struct {
	mu   sync.Mutex
	idle []*writer
	// failed are the writers this process dropped because a batch's add
	// failed: another batch of the process meeting their items fences at
	// once, without waiting for the deadline.
	failed map[string]bool
}

func (ws *writers) fail(w *writer) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.failed == nil || len(ws.failed) > 1000 {
		ws.failed = map[string]bool{}
	}
	ws.failed[w.id] = true
}

func (ws *writers) hasFailed(id string) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.failed[id]
}

func (ws *writers) take() *writer {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if n := len(ws.idle); n > 0 {
		w := ws.idle[n-1]
		ws.idle = ws.idle[:n-1]
		w.seq++
		return w
	}
	return &writer{id: newID(), seq: 1}
}

func (ws *writers) give(w *writer) {
	ws.mu.Lock()
	ws.idle = append(ws.idle, w)
	ws.mu.Unlock()
}

// Batch gathers the rollup adds of a batch of item writes, one add per
// rollup key when it is flushed. See the package documentation for its
// states and why every verdict change counts exactly once.
type Batch struct {
	l        *Ledger
	w        *writer
	deadline time.Time
	// redelivered: every input of the batch comes again if it is not
	// flushed (an SQS batch). Otherwise an item written with a rollup owed
	// stays in the attention index until the sweeper sees it settled.
	redelivered bool

	mu      sync.Mutex
	deltas  map[RollKey]map[string]int64
	tags    map[RollKey]map[string]bool
	broken  map[RollKey]bool
	settled map[string]bool // foreign batches ("writer:seq" + key) by whether they applied
	parked  map[Key]Item    // items kept due only until the batch is added, as written
	done    bool
}

// NewBatch starts a batch of writes, to flush before ctx's deadline (or
// within maxBatchLife). redelivered says the caller's inputs come again
// when the batch is not flushed, as an SQS batch's messages do; a batch
// whose inputs do not leaves the items it owes rollups for in the
// attention index, so a sweep settles them.
func (l *Ledger) NewBatch(ctx context.Context, redelivered bool) *Batch {
	life := maxBatchLife
	if d, ok := ctx.Deadline(); ok {
		life = min(life, max(time.Until(d), 0))
	}
	return &Batch{l: l, w: l.writers.take(), deadline: l.Now().Add(life), redelivered: redelivered, deltas: map[RollKey]map[string]int64{},
		tags: map[RollKey]map[string]bool{}, broken: map[RollKey]bool{}, settled: map[string]bool{}, parked: map[Key]Item{}}
}

func (b *Batch) id() string { return batchID(b.w.id, b.w.seq, b.deadline) }

type batchCtx struct{}

type batchTag struct {
	b   *Batch
	tag string
}

// WithBatch returns a context whose ledger writes add to b, tagged: Flush
// returns the tags of the writes whose adds did not apply (an SQS
// message id, so that the message is delivered again).
func WithBatch(ctx context.Context, b *Batch, tag string) context.Context {
	return context.WithValue(ctx, batchCtx{}, batchTag{b, tag})
}

func batchOf(ctx context.Context) (*Batch, string) {
	bt, _ := ctx.Value(batchCtx{}).(batchTag)
	return bt.b, bt.tag
}

// counted is what the rollups count for an item as it is, once the batch
// that last changed it is settled, and whether this batch holds that
// change unflushed (then counted is what the item counted before it).
func (b *Batch) counted(ctx context.Context, cur *Item) (cells string, mine bool, err error) {
	if cur == nil {
		return "", false, nil
	}
	if cur.RollCells == "" && cur.RollBase == "" {
		// Written before rollups: what `rollup rebuild` counts for it.
		return joinCells(Contribution(*cur)), false, nil
	}
	if cur.RollBatch == "" {
		return cur.RollCells, false, nil
	}
	w, seq, deadline, ok := parseBatch(cur.RollBatch)
	if !ok {
		return "", false, fmt.Errorf("item %s %s names no batch it can read: %q", cur.PK, cur.SK, cur.RollBatch)
	}
	if w == b.w.id {
		if seq == b.w.seq {
			return cur.RollPrev, true, nil
		}
		if seq < b.w.seq {
			return cur.RollCells, false, nil // this writer applied every earlier batch, or was dropped
		}
	}
	applied, err := b.settle(ctx, rollKeyOf(*cur).shard(w), w, seq, deadline)
	if err != nil {
		return "", false, err
	}
	if applied {
		return cur.RollCells, false, nil
	}
	return cur.RollPrev, false, nil
}

// settle reports whether another writer's batch applied its add to a
// rollup item. One that has not, past its deadline, is fenced, so it never
// will (its writer, if it still runs, learns it when it flushes); one that
// may still flush is ErrOwedElsewhere.
func (b *Batch) settle(ctx context.Context, k Key, w string, seq int64, deadline time.Time) (bool, error) {
	memo := k.PK + "/" + k.SK + "/" + strconv.FormatInt(seq, 10)
	b.mu.Lock()
	applied, known := b.settled[memo]
	b.mu.Unlock()
	if known {
		return applied, nil
	}
	s := strconv.FormatInt(seq, 10)
	for range 3 {
		out, err := b.l.opts.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(b.l.opts.Table), Key: k.AV(), ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("seq, fenced")})
		if err != nil {
			return false, fmt.Errorf("read rollup %s %s: %w", k.PK, k.SK, err)
		}
		var r struct {
			Seq    int64   `dynamodbav:"seq"`
			Fenced []int64 `dynamodbav:"fenced,numberset"`
		}
		if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
			return false, fmt.Errorf("decode rollup %s %s: %w", k.PK, k.SK, err)
		}
		switch {
		case slices.Contains(r.Fenced, seq):
			applied, known = false, true
		case r.Seq >= seq:
			applied, known = true, true
		case b.l.Now().Before(deadline.Add(fenceAfter)) && !b.l.writers.hasFailed(w):
			return false, fmt.Errorf("item of rollup %s %s: %w", k.PK, k.SK, ErrOwedElsewhere)
		default:
			_, err = b.l.opts.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(b.l.opts.Table), Key: k.AV(),
				UpdateExpression:          aws.String("ADD fenced :f"),
				ConditionExpression:       aws.String("attribute_not_exists(seq) OR seq < :s"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberNS{Value: []string{s}}, ":s": &types.AttributeValueMemberN{Value: s}},
			})
			var ccf *types.ConditionalCheckFailedException
			switch {
			case err == nil:
				applied, known = false, true
			case errors.As(err, &ccf):
				continue // it applied meanwhile: read it again
			default:
				return false, fmt.Errorf("fence batch %s:%d on rollup %s %s: %w", w, seq, k.PK, k.SK, err)
			}
		}
		if known {
			b.mu.Lock()
			b.settled[memo] = applied
			b.mu.Unlock()
			return applied, nil
		}
	}
	return false, fmt.Errorf("settle batch %s:%d on rollup %s %s: %w", w, seq, k.PK, k.SK, ErrContended)
}

// stamp writes into next what the rollups owe for it: its counters now,
// those counted before this batch's change, and the batch that owes the
// difference. It returns the adds this write brings to the batch, and
// whether it parked the item in the attention index until the add.
func (b *Batch) stamp(next *Item, cur *Item, counted string, mine bool) (adds map[string]int64, parked bool) {
	now := joinCells(Contribution(*next))
	before, base := counted, counted // what the batch's adds already assume for the item
	if mine {
		before = cur.RollCells
	}
	if cur != nil && cur.RollCells == "" && cur.RollBase == "" {
		next.RollBase = base // counted by `rollup rebuild`, not by a batch
	}
	next.RollPrev, next.RollCells, next.RollBatch = counted, now, b.id()
	if now == counted {
		next.RollPrev, next.RollBatch = "", ""
	}
	if next.RollBatch != "" && !b.redelivered && next.Attn == "" {
		// Nothing delivers this write's input again: the item stays due
		// until a sweep sees the batch settled.
		next.Attn, next.AttnDue = AttnShard(next.Key), AttnTime(b.l.Now().Add(settleAfter))
		parked = true
	}
	d := map[string]int64{}
	for _, c := range splitCells(now) {
		d[c]++
	}
	for _, c := range splitCells(before) {
		d[c]--
	}
	for c, n := range d {
		if n == 0 {
			delete(d, c)
		}
	}
	return d, parked
}

// Unpark takes an item out of the attention index that is there only
// until a rollup add settles: a closed verdict owing no notice. The write
// settles the add first, and adds the item's change itself if its batch
// stopped. Nothing else about the item changes: it was not checked again.
func (l *Ledger) Unpark(ctx context.Context, it Item) (Item, error) {
	out, _, err := l.Change(ctx, it.Key, &it, func(cur *Item) (Item, bool, error) {
		if cur == nil || cur.Verdict.Open() || cur.Attn == "" || owesNotice(cur.Alert) {
			return Item{}, false, nil
		}
		next := *cur
		next.Attn, next.AttnDue = "", ""
		return next, true, nil
	})
	return out, err
}

// Parked reports an item the attention index holds only until a rollup
// add settles (see Unpark).
func Parked(it Item) bool {
	return IsObject(it.Key) && it.RollBatch != "" && !it.Verdict.Open() && !owesNotice(it.Alert)
}

// owesNotice reports an incident whose notice is owed or being sent: the
// attention index keeps such an item for the sweeper.
func owesNotice(alert string) bool {
	return alert == AlertDue || alert == AlertSending || alert == AlertResolveDue || alert == AlertResolving
}

// settleAfter is when an item whose rollup add is owed by a batch that
// nothing delivers again is next seen: after any invocation that could
// still flush it has ended.
const settleAfter = 16 * time.Minute

// add takes a landed write's adds into the batch; a parked item is kept,
// as last written, for Flush to take out of the index.
func (b *Batch) add(written Item, d map[string]int64, tag string, parked bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := rollKeyOf(written)
	if _, was := b.parked[written.Key]; parked || was {
		b.parked[written.Key] = written
	}
	if b.deltas[k] == nil {
		b.deltas[k], b.tags[k] = map[string]int64{}, map[string]bool{}
	}
	for c, n := range d {
		b.deltas[k][c] += n
	}
	b.tags[k][tag] = true
}

// breaks marks a key whose write may or may not have landed: its add
// cannot be known, so the batch does not apply it and its inputs come
// again.
func (b *Batch) breaks(k RollKey, tag string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broken[k] = true
	if b.tags[k] == nil {
		b.tags[k] = map[string]bool{}
	}
	b.tags[k][tag] = true
}

// Flush applies the batch: one conditional add per rollup key, which a
// retry after a lost answer cannot apply twice. It returns the tags of
// the writes whose adds did not apply; their items owe them until their
// inputs come again (or a sweep), and the batch's writer is dropped.
// A batch flushes once.
func (b *Batch) Flush(ctx context.Context) (failed []string, err error) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil, errors.New("ledger: a batch flushes once")
	}
	b.done = true
	b.mu.Unlock()
	var errs []error
	keys := make([]RollKey, 0, len(b.tags))
	for k := range b.tags {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y RollKey) int {
		return strings.Compare(x.Day+x.Source+x.Destination, y.Day+y.Source+y.Destination)
	})
	applied := map[RollKey]bool{}
	for _, k := range keys {
		if b.broken[k] {
			errs = append(errs, fmt.Errorf("rollup %s %s>%s: a write's outcome is unknown", k.Day, k.Source, k.Destination))
		} else if err := b.apply(ctx, k); err != nil {
			errs = append(errs, err)
		} else {
			applied[k] = true
			continue
		}
		for tag := range b.tags[k] {
			if !slices.Contains(failed, tag) {
				failed = append(failed, tag)
			}
		}
	}
	id := b.id()
	if len(errs) == 0 {
		b.l.writers.give(b.w)
	} else {
		b.l.writers.fail(b.w)
	}
	// Items kept due for this batch's add are taken out of the index now
	// that it applied; one this misses is taken out by the next sweep.
	unbatched := context.WithValue(ctx, batchCtx{}, batchTag{})
	for key, it := range b.parked {
		if !applied[rollKeyOf(it)] || it.RollBatch != id {
			continue
		}
		if _, err := b.l.Unpark(unbatched, it); err != nil {
			errs = append(errs, fmt.Errorf("take %s %s out of the attention index: %w", key.PK, key.SK, err))
		}
	}
	slices.Sort(failed)
	return failed, errors.Join(errs...)
}

// ErrFenced is a batch's add that another writer fenced, having found an
// item it changed before it was flushed.
var ErrFenced = errors.New("ledger: another writer settled this batch as never applied")

func (b *Batch) apply(ctx context.Context, k RollKey) error {
	rk := k.shard(b.w.id)
	names := map[string]string{}
	values := map[string]types.AttributeValue{
		":s": &types.AttributeValueMemberN{Value: strconv.FormatInt(b.w.seq, 10)}, ":tok": &types.AttributeValueMemberS{Value: b.id()},
		":day": &types.AttributeValueMemberS{Value: k.Day}, ":src": &types.AttributeValueMemberS{Value: k.Source},
		":dst": &types.AttributeValueMemberS{Value: k.Destination}, ":w": &types.AttributeValueMemberS{Value: b.w.id},
		":ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(b.l.rollTTL(k.Day), 10)},
	}
	var adds []string
	cells := make([]string, 0, len(b.deltas[k]))
	for c := range b.deltas[k] {
		cells = append(cells, c)
	}
	slices.Sort(cells)
	for i, c := range cells {
		names[fmt.Sprintf("#c%d", i)] = c
		values[fmt.Sprintf(":c%d", i)] = &types.AttributeValueMemberN{Value: strconv.FormatInt(b.deltas[k][c], 10)}
		adds = append(adds, fmt.Sprintf("#c%d :c%d", i, i))
	}
	expr := "SET #seq = :s, #tok = :tok, #day = :day, #src = :src, #dst = :dst, #w = :w, #ttl = if_not_exists(#ttl, :ttl)"
	for _, n := range []string{"seq", "tok", "day", "src", "dst", "w", "ttl", "fenced"} {
		names["#"+n] = n
	}
	if len(adds) > 0 {
		expr += " ADD " + strings.Join(adds, ", ")
	}
	_, err := b.l.opts.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(b.l.opts.Table), Key: rk.AV(), UpdateExpression: aws.String(expr),
		ConditionExpression:      aws.String("(attribute_not_exists(#seq) OR #seq < :s) AND (attribute_not_exists(#fenced) OR NOT contains(#fenced, :s))"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ccf):
		return fmt.Errorf("add batch %s to rollup %s %s: %w", b.id(), rk.PK, rk.SK, err)
	}
	var old struct {
		Tok string `dynamodbav:"tok"`
	}
	_ = attributevalue.UnmarshalMap(ccf.Item, &old)
	if old.Tok == b.id() {
		return nil // it applied; the answer was lost and the SDK's retry is what failed
	}
	return fmt.Errorf("add batch %s to rollup %s %s: %w", b.id(), rk.PK, rk.SK, ErrFenced)
}

func (l *Ledger) rollTTL(day string) int64 {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		d = l.Now()
	}
	return d.Add(24*time.Hour + l.opts.Retention).Unix()
}

// Rollup is one writer's counts for a day, a source and a destination.
type Rollup struct {
	RollKey
	Writer string
	Counts map[string]int64
}

// Rollups streams the rollups of the days in [since, until), each day's
// shards read at once. Their cost grows with days, writers and pairs, not
// objects.
func (l *Ledger) Rollups(ctx context.Context, since, until time.Time, fn func(Rollup) error) error {
	for day := since.UTC().Truncate(24 * time.Hour); day.Before(until); day = day.Add(24 * time.Hour) {
		var (
			mu   sync.Mutex
			all  []Rollup
			wg   sync.WaitGroup
			errs = make([]error, Shards)
		)
		for s := range Shards {
			wg.Go(func() {
				in := &dynamodb.QueryInput{TableName: aws.String(l.opts.Table), KeyConditionExpression: aws.String("pk = :pk"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("%s%s#%02d", rollPrefix, day.Format(time.DateOnly), s)}}}
				p := dynamodb.NewQueryPaginator(l.opts.DB, in)
				for p.HasMorePages() {
					page, err := p.NextPage(ctx)
					if err != nil {
						errs[s] = fmt.Errorf("read the rollups of %s: %w", day.Format(time.DateOnly), err)
						return
					}
					for _, raw := range page.Items {
						r, err := decodeRollup(raw)
						if err != nil {
							errs[s] = err
							return
						}
						mu.Lock()
						all = append(all, r)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		slices.SortFunc(all, func(a, b Rollup) int {
			return strings.Compare(a.Source+"#"+a.Destination+"#"+a.Writer, b.Source+"#"+b.Destination+"#"+b.Writer)
		})
		for _, r := range all {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

var rollMeta = map[string]bool{"pk": true, "sk": true, "seq": true, "tok": true, "day": true, "src": true, "dst": true, "w": true, "ttl": true, "fenced": true}

func decodeRollup(raw map[string]types.AttributeValue) (Rollup, error) {
	var r Rollup
	r.Counts = map[string]int64{}
	str := func(name string) string {
		if v, ok := raw[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	r.Day, r.Source, r.Destination, r.Writer = str("day"), str("src"), str("dst"), str("w")
	for name, v := range raw {
		if rollMeta[name] {
			continue
		}
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		c, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return Rollup{}, fmt.Errorf("rollup %s: counter %s is not a whole number: %q", str("sk"), name, n.Value)
		}
		if c != 0 {
			r.Counts[name] = c
		}
	}
	return r, nil
}

// PutRollup writes a writer's rollup whole, replacing it: `rollup
// rebuild` writes the base rollups this way (writer "base"), and
// benchmarks the rollups of a large ledger.
func (l *Ledger) PutRollup(ctx context.Context, r Rollup) error {
	item := map[string]types.AttributeValue{}
	for c, n := range r.Counts {
		if n != 0 {
			item[c] = &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
		}
	}
	rk := r.shard(r.Writer)
	for name, v := range map[string]string{"pk": rk.PK, "sk": rk.SK, "day": r.Day, "src": r.Source, "dst": r.Destination, "w": r.Writer} {
		item[name] = &types.AttributeValueMemberS{Value: v}
	}
	item["ttl"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(l.rollTTL(r.Day), 10)}
	if _, err := l.opts.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.opts.Table), Item: item}); err != nil {
		return fmt.Errorf("write the rollup of %s %s>%s by %s: %w", r.Day, r.Source, r.Destination, r.Writer, err)
	}
	return nil
}

// BaseOf is what `rollup rebuild` counts for an item: its counters when it
// was written before rollups existed, what they were when a batch first
// counted its changes after, and nothing for an item rollups counted from
// its first write.
func BaseOf(it Item) []string {
	switch {
	case !IsObject(it.Key):
		return nil
	case it.RollCells == "" && it.RollBase == "":
		return Contribution(it)
	}
	return splitCells(it.RollBase)
}

// RollKeyOf names the rollup an item counts in.
func RollKeyOf(it Item) RollKey { return rollKeyOf(it) }

// Open streams every item in the attention index: the open verdicts and
// incidents, whatever their due time. A healthy ledger holds few.
func (l *Ledger) Open(ctx context.Context, fn func(Item) error) error {
	return l.Due(ctx, 0, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), fn)
}

// Evidence streams a source bucket's configuration changes and
// inventory reconciliation runs from since to until: the items a report
// from rollups reads one by one, since there are few.
func (l *Ledger) Evidence(ctx context.Context, source string, since, until time.Time, fn func(Item) error) error {
	for _, part := range []struct{ pk, from, to string }{
		{configPrefix + source, since.UTC().Truncate(time.Second).Format(time.RFC3339), until.UTC().Add(time.Second).Format(time.RFC3339)},
		{RunPrefix + source, "R#" + since.UTC().Format("2006-01-02T15:04:05.000Z"), "R#" + until.UTC().Format("2006-01-02T15:04:05.000Z")},
	} {
		in := &dynamodb.QueryInput{TableName: aws.String(l.opts.Table), KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :a AND :b"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: part.pk},
				":a": &types.AttributeValueMemberS{Value: part.from}, ":b": &types.AttributeValueMemberS{Value: part.to}}}
		if err := l.query(ctx, part.pk, in, fn); err != nil {
			return err
		}
	}
	return nil
}

// Rebuild writes the base rollups of the days in [since, until): what the
// items that rollups did not count from their first write add up to (see
// BaseOf). It pages through the items once, a day at a time, and replaces
// each day's base rollups, so it runs again safely, while the functions
// write. dayDone, when set, is told after each day.
func (l *Ledger) Rebuild(ctx context.Context, since, until time.Time, dayDone func(day string, items int)) error {
	since = since.UTC().Truncate(24 * time.Hour)
	for day := since; day.Before(until); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		base := map[RollKey]map[string]int64{}
		err := l.Rollups(ctx, day, end, func(r Rollup) error {
			if r.Writer == baseWriter {
				base[r.RollKey] = map[string]int64{} // replaced, even by nothing
			}
			return nil
		})
		if err != nil {
			return err
		}
		n := 0
		err = l.Period(ctx, day, end, func(it Item) error {
			cells := BaseOf(it)
			if len(cells) == 0 {
				return nil
			}
			n++
			k := rollKeyOf(it)
			if base[k] == nil {
				base[k] = map[string]int64{}
			}
			for _, c := range cells {
				base[k][c]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, counts := range base {
			if err := l.PutRollup(ctx, Rollup{RollKey: k, Writer: baseWriter, Counts: counts}); err != nil {
				return err
			}
		}
		if dayDone != nil {
			dayDone(day.Format(time.DateOnly), n)
		}
	}
	return nil
}

// DayHasItems reports whether the day index holds any item of a day: one
// query of at most one item a shard. A report from rollups asks it of the
// days it finds no rollup for, which only a ledger from before rollups
// has.
func (l *Ledger) DayHasItems(ctx context.Context, day time.Time) (bool, error) {
	for s := range Shards {
		out, err := l.opts.DB.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(l.opts.Table), IndexName: aws.String(DayIndex),
			KeyConditionExpression: aws.String("dayShard = :d"), Limit: aws.Int32(1), Select: types.SelectCount,
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": &types.AttributeValueMemberS{Value: fmt.Sprintf("%s#%02d", day.UTC().Format(time.DateOnly), s)}}})
		if err != nil {
			return false, fmt.Errorf("look for items of %s: %w", day.UTC().Format(time.DateOnly), err)
		}
		if out.Count > 0 {
			return true, nil
		}
	}
	return false, nil
}
