package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
)

// DynamoDB holds the calls the ledger makes.
type DynamoDB interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Index names.
const (
	// AttentionIndex holds only items that need attention: a check to
	// repeat, an alert or a resolved notice to send. It is sparse and
	// sharded, never hot. Its sort key is when the item next needs
	// attention, so a sweep reads only what is due.
	AttentionIndex = "attention"
	// DayIndex holds every item, by day of the event and shard, for queries
	// over a period.
	DayIndex = "byDay"
	// Shards spreads each index partition over this many keys.
	Shards = 16
)

// Options configure a Ledger.
type Options struct {
	DB    DynamoDB
	Table string
	// Retention is how long items are kept (their TTL).
	Retention time.Duration
	// PageSize caps the items a query page returns (0: DynamoDB's 1 MB).
	PageSize int32
	// Clock stands in for time.Now.
	Clock func() time.Time
}

// Ledger is the durable record of what was verified, when, and with what
// evidence: one item per object version and destination.
type Ledger struct {
	opts    Options
	writers writers
}

// New returns a Ledger on a table.
func New(o Options, optFns ...func(*Options)) (*Ledger, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.DB == nil || o.Table == "" {
		return nil, errors.New("ledger: a DynamoDB client and a table name are required")
	}
	if o.Retention <= 0 {
		return nil, errors.New("ledger: retention must be positive")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Ledger{opts: o}, nil
}

// Now is the ledger's clock.
func (l *Ledger) Now() time.Time { return l.opts.Clock().UTC() }

// Retention is how long items are kept.
func (l *Ledger) Retention() time.Duration { return l.opts.Retention }

// Client is the DynamoDB client the ledger calls, for the readers of other
// items its table holds.
func (l *Ledger) Client() DynamoDB { return l.opts.DB }

// Table is the table's name.
func (l *Ledger) Table() string { return l.opts.Table }

func (l *Ledger) limit() *int32 {
	if l.opts.PageSize <= 0 {
		return nil
	}
	return aws.Int32(l.opts.PageSize)
}

// Key is an item's primary key.
type Key struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

// KeyOf returns the key of a finding's item. One partition holds every
// version and destination of one object, so "everything about this key" is
// one Query.
func KeyOf(bucket, key, versionID, destination string) Key {
	if destination == "" {
		destination = "-"
	}
	return Key{PK: ObjectPK(bucket, key), SK: "V#" + versionID + "#D#" + destination}
}

// ObjectPK is the partition key of an object's items.
func ObjectPK(bucket, key string) string { return "O#" + bucket + "#" + key }

// Shard spreads keys over the index shards.
func Shard(k Key) int {
	h := fnv.New32a()
	h.Write([]byte(k.PK + k.SK))
	return int(h.Sum32() % Shards)
}

// AttnShard is the attention index partition of a key.
func AttnShard(k Key) string { return fmt.Sprintf("A#%02d", Shard(k)) }

// attnFormat has a fixed width, so that times sort as strings.
const attnFormat = "2006-01-02T15:04:05.000000000Z07:00"

// AttnTime formats when an item next needs attention, the attention
// index's sort key.
func AttnTime(t time.Time) string { return t.UTC().Format(attnFormat) }

// AV is the key as DynamoDB attribute values.
func (k Key) AV() map[string]types.AttributeValue {
	m, _ := attributevalue.MarshalMap(k)
	return m
}

// Change is one verdict in an item's history.
type Change struct {
	Verdict audit.Verdict `dynamodbav:"verdict" json:"verdict"`
	At      time.Time     `dynamodbav:"at" json:"at"`
	Detail  string        `dynamodbav:"detail,omitempty" json:"detail,omitempty"`
}

// Item is one ledger item, as stored.
type Item struct {
	Key
	Bucket            string         `dynamodbav:"bucket"`
	SourceRegion      string         `dynamodbav:"sourceRegion,omitempty"`
	ObjectKey         string         `dynamodbav:"key"`
	VersionID         string         `dynamodbav:"versionId"`
	Destination       string         `dynamodbav:"destination,omitempty"`
	DestinationRegion string         `dynamodbav:"destinationRegion,omitempty"`
	RuleID            string         `dynamodbav:"ruleId,omitempty"`
	Size              int64          `dynamodbav:"size"`
	ETag              string         `dynamodbav:"etag,omitempty"`
	EventTime         time.Time      `dynamodbav:"eventTime"`
	EventTimeClamped  bool           `dynamodbav:"eventTimeClamped,omitempty"`
	FirstSeen         time.Time      `dynamodbav:"firstSeen"`
	LastChecked       time.Time      `dynamodbav:"lastChecked"`
	Checks            int            `dynamodbav:"checks"`
	Verdict           audit.Verdict  `dynamodbav:"verdict"`
	History           []Change       `dynamodbav:"history"`
	Replica           *audit.Replica `dynamodbav:"replica,omitempty"`
	LagSeconds        *float64       `dynamodbav:"lagSeconds,omitempty"`
	FailureReason     string         `dynamodbav:"failureReason,omitempty"`
	Differences       []string       `dynamodbav:"differences,omitempty"`
	Detail            string         `dynamodbav:"detail,omitempty"`
	LongPending       bool           `dynamodbav:"longPending,omitempty"`
	DeleteMarker      bool           `dynamodbav:"deleteMarker,omitempty"`
	// RedriveAt is when a reconciliation re-drove the version (see
	// audit.Finding).
	RedriveAt *time.Time `dynamodbav:"redriveAt,omitempty"`

	// The item's incident, whose states and transitions package incident
	// keeps.
	Alert      string     `dynamodbav:"alert,omitempty"`
	AlertKind  string     `dynamodbav:"alertKind,omitempty"`
	Claim      string     `dynamodbav:"claim,omitempty"`
	ClaimedAt  *time.Time `dynamodbav:"alertClaimedAt,omitempty"`
	DueAt      *time.Time `dynamodbav:"alertDueAt,omitempty"`
	OpenedAt   *time.Time `dynamodbav:"openedAt,omitempty"`
	AlertedAt  *time.Time `dynamodbav:"alertedAt,omitempty"`
	ResolvedAt *time.Time `dynamodbav:"resolvedAt,omitempty"`
	// Window is the storm window a page claim counts in, kept when another
	// sender takes the claim over (Retaken); HeldIn is the window whose
	// digest counted the item instead of a page.
	Window  string `dynamodbav:"stormWindow,omitempty"`
	Retaken bool   `dynamodbav:"retaken,omitempty"`
	HeldIn  string `dynamodbav:"heldIn,omitempty"`
	// Pages counts the pages sent for the item, resolved notices apart.
	Pages int `dynamodbav:"pages,omitempty"`

	// Attn is the attention index partition, set while the item needs
	// attention; AttnDue is when it next does (attribute attnSince, the
	// index's sort key).
	Attn    string `dynamodbav:"attn,omitempty"`
	AttnDue string `dynamodbav:"attnSince,omitempty"`

	Day      string `dynamodbav:"day,omitempty"`
	DayShard string `dynamodbav:"dayShard,omitempty"`
	TTL      int64  `dynamodbav:"ttl"`
	// Rev counts the item's writes; each write is conditional on it, so
	// that no two writers both think they moved the item. WriteID names the
	// last write, so a writer whose answer was lost knows its write landed.
	Rev     int64  `dynamodbav:"rev,omitempty"`
	WriteID string `dynamodbav:"wid,omitempty"`

	// What the rollups count for the item (see Batch): its counters
	// (RollCells), those counted before the change a batch owes
	// (RollPrev), that batch (RollBatch, "writer:seq"), and for an item
	// written before rollups, what `rollup rebuild` counts (RollBase).
	RollCells string `dynamodbav:"rc,omitempty"`
	RollPrev  string `dynamodbav:"rp,omitempty"`
	RollBatch string `dynamodbav:"rb,omitempty"`
	RollBase  string `dynamodbav:"rb0,omitempty"`

	// Set on storm windows (IsWindow) only: the state of the window's digest.
	Digest string `dynamodbav:"digest,omitempty"`
	// Set on reconciliation runs (IsRun) only: the run's summary, as JSON.
	Summary string `dynamodbav:"summary,omitempty"`

	// Set on configuration evidence (IsConfig) only.
	RequestType string   `dynamodbav:"requestType,omitempty"`
	Status      string   `dynamodbav:"status,omitempty"`
	RuleIDs     []string `dynamodbav:"ruleIds,omitempty"`
}

// Finding rebuilds the finding an item records.
func (it Item) Finding() audit.Finding {
	return audit.Finding{
		Bucket: it.Bucket, SourceRegion: it.SourceRegion, Key: it.ObjectKey, VersionID: it.VersionID, Destination: it.Destination,
		DestinationRegion: it.DestinationRegion, RuleID: it.RuleID, Verdict: it.Verdict, Size: it.Size, ETag: it.ETag,
		EventTime: it.EventTime, EventTimeClamped: it.EventTimeClamped, CheckedAt: it.LastChecked, Replica: it.Replica, Differences: it.Differences,
		FailureReason: it.FailureReason, Detail: it.Detail, LongPending: it.LongPending, DeleteMarker: it.DeleteMarker,
	}
}

// Started is when the version's replication started, which the PENDING
// threshold and the lag count from: its re-drive, if a reconciliation
// re-drove it; else its writing; else, lacking an event time, its first
// sighting.
func (it Item) Started() time.Time {
	switch {
	case it.RedriveAt != nil && it.RedriveAt.After(it.EventTime):
		return *it.RedriveAt
	case it.EventTime.IsZero():
		return it.FirstSeen
	}
	return it.EventTime
}

// Since returns when the item's current verdict was first recorded, in
// its latest run of that verdict.
func (it Item) Since(v audit.Verdict) time.Time {
	at := it.LastChecked
	for i := len(it.History) - 1; i >= 0 && it.History[i].Verdict == v; i-- {
		at = it.History[i].At
	}
	return at
}

// Apply returns the item with a finding recorded: a new verdict where it
// may replace the current one (a final verdict such as VERIFIED never moves
// back, PENDING never hides a problem found), its evidence, a counted
// check. cur is nil for an item not yet written. news reports whether the
// finding told anything the item did not hold.
func (l *Ledger) Apply(cur *Item, f audit.Finding) (next Item, news bool) {
	now := l.Now()
	if cur == nil {
		next = Item{Key: KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination), Bucket: f.Bucket, ObjectKey: f.Key, VersionID: f.VersionID,
			Size: f.Size, ETag: f.ETag, FirstSeen: now, EventTime: f.EventTime.UTC(), EventTimeClamped: f.EventTimeClamped}
		if next.EventTime.IsZero() {
			next.EventTime = now
		}
		next.Day = next.EventTime.Format(time.DateOnly)
		next.DayShard = fmt.Sprintf("%s#%02d", next.Day, Shard(next.Key))
		news = true
	} else {
		next = *cur
		next.History = append([]Change(nil), cur.History...)
	}
	next.LastChecked = now
	next.Checks++
	next.TTL = now.Add(l.opts.Retention).Unix()
	fill := func(dst *string, v string) {
		if *dst == "" && v != "" {
			*dst, news = v, true
		}
	}
	fill(&next.SourceRegion, f.SourceRegion)
	fill(&next.Destination, f.Destination)
	fill(&next.DestinationRegion, f.DestinationRegion)
	fill(&next.RuleID, f.RuleID)
	fill(&next.ETag, f.ETag)
	if f.DeleteMarker {
		next.DeleteMarker = true
	}
	if !f.RedriveAt.IsZero() && (next.RedriveAt == nil || f.RedriveAt.After(*next.RedriveAt)) {
		at := f.RedriveAt.UTC()
		next.RedriveAt, news = &at, true
	}
	switch {
	case next.Verdict != f.Verdict && f.Replaces(next.Verdict):
		next.Verdict, next.Detail = f.Verdict, f.Detail
		next.History = append(next.History, Change{Verdict: f.Verdict, At: now, Detail: f.Detail})
		next.FailureReason, next.Differences, next.Replica, next.LagSeconds = f.FailureReason, f.Differences, f.Replica, nil
		if f.Replica != nil && f.Verdict == audit.Verified {
			lag := max(f.Replica.VerifiedAt.Sub(next.Started()), 0).Seconds()
			next.LagSeconds = &lag
		}
		news = true
	case next.Verdict == f.Verdict && f.Verdict == audit.Failed && next.FailureReason == "" && f.FailureReason != "":
		// S3's failure event names the reason after a check saw FAILED.
		next.FailureReason, next.Detail = f.FailureReason, f.Detail
		news = true
	case next.Verdict == f.Verdict && f.Detail != next.Detail && f.Verdict.Open():
		next.Detail = f.Detail
	}
	if f.LongPending && !next.LongPending && next.Verdict == audit.Pending {
		next.LongPending, news = true, true
	}
	if next.Verdict.Open() {
		if next.Attn == "" {
			next.Attn, next.AttnDue = AttnShard(next.Key), AttnTime(now)
		}
	} else if next.Alert == "" {
		next.Attn, next.AttnDue = "", ""
	}
	return next, news
}

// Get reads one item. It returns ErrNotFound when there is none.
func (l *Ledger) Get(ctx context.Context, k Key) (Item, error) {
	out, err := l.opts.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.opts.Table), Key: k.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Item{}, fmt.Errorf("get %s %s: %w", k.PK, k.SK, err)
	}
	if out.Item == nil {
		return Item{}, ErrNotFound
	}
	return decode(out.Item)
}

func decode(raw map[string]types.AttributeValue) (Item, error) {
	var it Item
	if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
		return Item{}, fmt.Errorf("decode item: %w", err)
	}
	return it, nil
}

// GetMany reads many items, a hundred a call, and returns those that
// exist. Reads are eventually consistent: it serves bulk decisions (which
// versions an inventory lists that the ledger holds), and a write made on
// a stale read fails its condition and is computed again.
func (l *Ledger) GetMany(ctx context.Context, keys []Key) (map[Key]Item, error) {
	out := make(map[Key]Item, len(keys))
	for chunk := range slices.Chunk(keys, 100) {
		req := map[string]types.KeysAndAttributes{l.opts.Table: {Keys: make([]map[string]types.AttributeValue, 0, len(chunk))}}
		seen := map[Key]bool{}
		for _, k := range chunk {
			if !seen[k] {
				seen[k] = true
				ka := req[l.opts.Table]
				ka.Keys = append(ka.Keys, k.AV())
				req[l.opts.Table] = ka
			}
		}
		for delay := 50 * time.Millisecond; len(req) > 0 && len(req[l.opts.Table].Keys) > 0; delay = min(2*delay, 2*time.Second) {
			res, err := l.opts.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read %d items: %w", len(chunk), err)
			}
			for _, raw := range res.Responses[l.opts.Table] {
				it, err := decode(raw)
				if err != nil {
					return nil, err
				}
				out[it.Key] = it
			}
			req = res.UnprocessedKeys
			if len(req) > 0 {
				// Throttled: DynamoDB hands back what it did not read.
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(delay):
				}
			}
		}
	}
	return out, nil
}

// ErrNotFound is returned for an item that does not exist.
var ErrNotFound = errors.New("ledger: no such item")

// ErrContended is returned when an item kept changing under a writer.
var ErrContended = errors.New("ledger: the item kept changing under this write")

// Mutation computes an item's next state from its current one (nil for
// none). It returns write false when there is nothing to write.
type Mutation func(cur *Item) (next Item, write bool, err error)

// Change writes an item's next state in one conditional write: it applies
// only if the item is still as fn saw it. guess is what the caller believes
// the item is (nil: no item yet); on a conflict, fn runs again on the item
// as it is, so every change is computed from the state it replaces. It
// returns the item as written, or as it is when fn had nothing to write.
//
// An object version's write also adds its change to the rollups, through
// the batch ctx carries (WithBatch), or else a batch of its own flushed
// at once. An item whose last change a stopped batch never added is
// written again, as it is, for this batch to add it (wrote stays false).
func (l *Ledger) Change(ctx context.Context, k Key, guess *Item, fn Mutation) (Item, bool, error) {
	b, tag := batchOf(ctx)
	if b == nil && IsObject(k) {
		b = l.NewBatch(ctx, false)
		defer func() {
			if _, err := b.Flush(ctx); err != nil {
				slog.Default().Warn("a rollup add did not apply; the item stays due until a sweep settles it", "pk", k.PK, "sk", k.SK, "error", err)
			}
		}()
	}
	cur := guess
	for range 8 {
		next, write, err := fn(cur)
		if err != nil || (!write && !IsObject(k)) {
			if cur == nil {
				return Item{}, false, err
			}
			return *cur, false, err
		}
		var adds map[string]int64
		parked := false
		if IsObject(k) {
			counted, mine, err := b.counted(ctx, cur)
			if err != nil {
				return Item{}, false, err
			}
			if !write {
				if cur == nil {
					return Item{}, false, nil
				}
				if mine || joinCells(Contribution(*cur)) == counted {
					return *cur, false, nil
				}
				next = *cur // a stopped batch never added its change: add it now
			}
			next.Key = k
			adds, parked = b.stamp(&next, cur, counted, mine)
		}
		next.Key = k
		owes := len(adds) > 0 || next.RollBatch != ""
		written, current, err := l.put(ctx, next, cur)
		if err == nil {
			if owes {
				b.add(written, adds, tag, parked)
			}
			return written, write, nil
		}
		if !errors.Is(err, errConflict) {
			if owes {
				b.breaks(rollKeyOf(next), tag) // it may have landed
			}
			return Item{}, false, err
		}
		cur = current
	}
	return Item{}, false, fmt.Errorf("write %s %s: %w", k.PK, k.SK, ErrContended)
}

var errConflict = errors.New("conflict")

// put writes next if the item is still cur. On a conflict it returns the
// item as it is now (nil for none) and errConflict.
func (l *Ledger) put(ctx context.Context, next Item, cur *Item) (Item, *Item, error) {
	cond, values := "attribute_not_exists(pk)", map[string]types.AttributeValue(nil)
	next.Rev = 1
	if cur != nil {
		next.Rev = cur.Rev + 1
		if cur.Rev == 0 {
			cond = "attribute_exists(pk) AND attribute_not_exists(rev)"
		} else {
			cond = "rev = :rev"
			values = map[string]types.AttributeValue{":rev": &types.AttributeValueMemberN{Value: fmt.Sprint(cur.Rev)}}
		}
	}
	next.WriteID = newID()
	av, err := attributevalue.MarshalMap(next)
	if err != nil {
		return Item{}, nil, fmt.Errorf("encode item: %w", err)
	}
	_, err = l.opts.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.opts.Table), Item: av,
		ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return next, nil, nil
	case !errors.As(err, &ccf):
		return Item{}, nil, fmt.Errorf("write %s %s: %w", next.PK, next.SK, err)
	}
	var now *Item
	if ccf.Item != nil {
		it, err := decode(ccf.Item)
		if err != nil {
			return Item{}, nil, err
		}
		now = &it
	} else if it, err := l.Get(ctx, next.Key); err == nil {
		now = &it
	} else if !errors.Is(err, ErrNotFound) {
		return Item{}, nil, err
	}
	if now != nil && now.WriteID == next.WriteID {
		// The write landed; its answer was lost and the SDK's retry is
		// what failed.
		return *now, nil, nil
	}
	return Item{}, now, errConflict
}

// NewID returns a random id, for a write or a claim.
func NewID() string { return newID() }

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Record writes a finding as evidence, in one conditional write. The audit
// functions record through package incident, which keeps the alert in the
// same write; Record is for tools and tests that fill a ledger.
func (l *Ledger) Record(ctx context.Context, f audit.Finding) (Item, error) {
	it, _, err := l.Change(ctx, KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination), nil, func(cur *Item) (Item, bool, error) {
		next, news := l.Apply(cur, f)
		return next, news || cur == nil, nil
	})
	return it, err
}

// Due streams the items that need attention by until, shard by shard from
// shard first (so that runs cut short start in turn at every shard), the
// most overdue first within a shard, page by page. fn returning an error
// stops it.
func (l *Ledger) Due(ctx context.Context, first int, until time.Time, fn func(Item) error) error {
	for i := range Shards {
		in := &dynamodb.QueryInput{
			TableName: aws.String(l.opts.Table), IndexName: aws.String(AttentionIndex),
			KeyConditionExpression: aws.String("attn = :a AND attnSince <= :t"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":a": &types.AttributeValueMemberS{Value: fmt.Sprintf("A#%02d", (first+i)%Shards)},
				":t": &types.AttributeValueMemberS{Value: AttnTime(until)},
			},
			Limit: l.limit(),
		}
		if err := l.query(ctx, "the attention index", in, fn); err != nil {
			return err
		}
	}
	return nil
}

// query streams a query's items, page by page, to fn.
func (l *Ledger) query(ctx context.Context, what string, in *dynamodb.QueryInput, fn func(Item) error) error {
	p := dynamodb.NewQueryPaginator(l.opts.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s: %w", what, err)
		}
		for _, raw := range page.Items {
			it, err := decode(raw)
			if err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// Orphans reads one page of object items that an open verdict should keep
// in the attention index and that are not there: the first release took
// paged incidents out of it. It reads from after (a key, or nil for the
// start), at most limit items examined, and returns where to go on, or
// nil at the end of the table.
func (l *Ledger) Orphans(ctx context.Context, after *Key, limit int32, fn func(Item) error) (*Key, error) {
	open := []types.AttributeValue{}
	for _, v := range audit.Verdicts {
		if v.Open() {
			open = append(open, &types.AttributeValueMemberS{Value: string(v)})
		}
	}
	values := map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: "O#"}}
	var in []string
	for i, v := range open {
		name := fmt.Sprintf(":v%d", i)
		values[name] = v
		in = append(in, name)
	}
	scan := &dynamodb.ScanInput{
		TableName:                 aws.String(l.opts.Table),
		FilterExpression:          aws.String("begins_with(pk, :o) AND attribute_not_exists(attn) AND verdict IN (" + strings.Join(in, ", ") + ")"),
		ExpressionAttributeValues: values,
		Limit:                     aws.Int32(limit),
		ConsistentRead:            aws.Bool(true),
	}
	if after != nil {
		scan.ExclusiveStartKey = after.AV()
	}
	out, err := l.opts.DB.Scan(ctx, scan)
	if err != nil {
		return nil, fmt.Errorf("scan for items out of the attention index: %w", err)
	}
	for _, raw := range out.Items {
		it, err := decode(raw)
		if err != nil {
			return nil, err
		}
		if err := fn(it); err != nil {
			return nil, err
		}
	}
	if len(out.LastEvaluatedKey) == 0 {
		return nil, nil
	}
	var next Key
	if err := attributevalue.UnmarshalMap(out.LastEvaluatedKey, &next); err != nil {
		return nil, fmt.Errorf("decode where the scan stopped: %w", err)
	}
	return &next, nil
}

// Object streams every item of one object: each version and destination,
// or only those of versionID when it is not empty.
func (l *Ledger) Object(ctx context.Context, bucket, key, versionID string, fn func(Item) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.opts.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: ObjectPK(bucket, key)}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     l.limit(),
	}
	if versionID != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :v)")
		in.ExpressionAttributeValues[":v"] = &types.AttributeValueMemberS{Value: "V#" + versionID + "#"}
	}
	return l.query(ctx, "s3://"+bucket+"/"+key, in, fn)
}

// BlindKey is the item of a destination replaudit may not read: its one
// CANNOT_VERIFY incident, whatever the number of objects it hides. It
// names an example object, which the sweeper checks again.
func BlindKey(bucket, destination string) Key {
	return Key{PK: blindPrefix + bucket, SK: "D#" + destination}
}

const blindPrefix = "BLIND#"

// IsBlind reports whether an item is a destination's CANNOT_VERIFY
// incident rather than an object version.
func IsBlind(it Item) bool { return strings.HasPrefix(it.PK, blindPrefix) }

// RunPrefix starts the partition key of inventory reconciliation runs,
// which package reconcile keeps in the ledger table.
const RunPrefix = "RUN#"

// IsRun reports whether an item from a period query is a reconciliation
// run's summary rather than an object version.
func IsRun(it Item) bool { return strings.HasPrefix(it.PK, RunPrefix) }

// WindowPrefix starts the partition key of storm windows, which package
// incident keeps in the ledger table beside the items.
const WindowPrefix = "STORM#"

// IsWindow reports whether an item read from an index is a storm window
// rather than an object version.
func IsWindow(it Item) bool {
	return len(it.PK) >= len(WindowPrefix) && it.PK[:len(WindowPrefix)] == WindowPrefix
}

var plainName = regexp.MustCompile(`(^|[^:#\w])([a-zA-Z][a-zA-Z0-9]*)\b`)

var keywords = map[string]bool{"SET": true, "ADD": true, "REMOVE": true, "DELETE": true, "AND": true, "OR": true, "NOT": true,
	"IN": true, "if_not_exists": true, "attribute_exists": true, "attribute_not_exists": true, "size": true, "contains": true,
	"begins_with": true, "list_append": true}

// Placeholders rewrites an update or condition expression written with
// plain attribute names so that every one goes through a #placeholder,
// added to names: DynamoDB reserves many words (bucket, open, status...).
func Placeholders(expr string, names map[string]string) string {
	return plainName.ReplaceAllStringFunc(expr, func(m string) string {
		sub := plainName.FindStringSubmatch(m)
		if keywords[sub[2]] {
			return m
		}
		names["#"+sub[2]] = sub[2]
		return sub[1] + "#" + sub[2]
	})
}
