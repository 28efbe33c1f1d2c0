package ledger

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
)

// DynamoDB holds the calls the ledger makes.
type DynamoDB interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Index names.
const (
	// AttentionIndex holds only items that need attention: PENDING, an alert
	// to send or resolve. It is sparse and sharded, never hot.
	AttentionIndex = "attention"
	// DayIndex holds every item, by day of the event and shard, for queries
	// over a period.
	DayIndex = "byDay"
	// Shards spreads each index partition over this many keys.
	Shards = 16
)

// LongPendingKind is the alert kind of a long-PENDING warning, which a
// later critical alert may follow.
const LongPendingKind = "LONG_PENDING"

// Alert states.
const (
	AlertDue        = "DUE"         // an alert must be sent
	AlertSent       = "SENT"        // on-call has been told
	AlertResolveDue = "RESOLVE_DUE" // a resolved notice must be sent
	AlertResolved   = "RESOLVED"    // on-call has been told it is over
	AlertDigested   = "DIGESTED"    // counted in a storm digest instead
)

// Ledger is the durable record of what was verified, when, and with what
// evidence: one item per object version and destination.
type Ledger struct {
	db        DynamoDB
	table     string
	retention time.Duration
	now       func() time.Time
	pageSize  int32
}

// WithClock makes the ledger stamp items with clock's time, for tests and
// golden files.
func (l *Ledger) WithClock(clock func() time.Time) *Ledger {
	l.now = clock
	return l
}

// WithPageSize caps the items a query page returns (0: DynamoDB's 1 MB).
func (l *Ledger) WithPageSize(n int32) *Ledger {
	l.pageSize = n
	return l
}

func (l *Ledger) limit() *int32 {
	if l.pageSize <= 0 {
		return nil
	}
	return aws.Int32(l.pageSize)
}

// New returns a Ledger on a table. Items expire after retention.
func New(db DynamoDB, table string, retention time.Duration) (*Ledger, error) {
	if db == nil || table == "" {
		return nil, errors.New("ledger: a DynamoDB client and a table name are required")
	}
	if retention <= 0 {
		return nil, errors.New("ledger: retention must be positive")
	}
	return &Ledger{db: db, table: table, retention: retention, now: time.Now}, nil
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

func shard(k Key) int {
	h := fnv.New32a()
	h.Write([]byte(k.PK + k.SK))
	return int(h.Sum32() % Shards)
}

func (k Key) av() map[string]types.AttributeValue {
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
	Alert             string         `dynamodbav:"alert,omitempty"`
	AlertKind         string         `dynamodbav:"alertKind,omitempty"`
	AlertClaimedAt    *time.Time     `dynamodbav:"alertClaimedAt,omitempty"`
	AlertedAt         *time.Time     `dynamodbav:"alertedAt,omitempty"`
	ResolvedAt        *time.Time     `dynamodbav:"resolvedAt,omitempty"`
	Day               string         `dynamodbav:"day"`
	DayShard          string         `dynamodbav:"dayShard"`
	Attn              string         `dynamodbav:"attn,omitempty"`
	AttnSince         string         `dynamodbav:"attnSince,omitempty"`
	TTL               int64          `dynamodbav:"ttl"`

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
		EventTime: it.EventTime, CheckedAt: it.LastChecked, Replica: it.Replica, Differences: it.Differences,
		FailureReason: it.FailureReason, Detail: it.Detail, LongPending: it.LongPending, DeleteMarker: it.DeleteMarker,
	}
}

// Outcome says what recording a finding did.
type Outcome struct {
	// Changed: the verdict moved (or the item is new).
	Changed bool
	// Kept: the item holds a verdict this finding may not replace.
	Kept bool
	// Previous is the verdict before, when it changed.
	Previous audit.Verdict
	Item     Item
}

func needsAttention(v audit.Verdict) bool {
	return v == audit.Pending || v.Alerts()
}

// Record writes a finding. Writes are conditional: a final verdict such as
// VERIFIED is never replaced, PENDING never replaces a problem found, and
// a repeated finding only counts a check. Safe under redelivery.
func (l *Ledger) Record(ctx context.Context, f audit.Finding) (Outcome, error) {
	k := KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination)
	now := l.now().UTC()
	out, err := l.transition(ctx, k, f, now)
	if err == nil {
		return out, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return Outcome{}, fmt.Errorf("record %s %s: %w", k.PK, k.SK, err)
	}
	// Same verdict as before, or one that may not replace it: count the check.
	return l.touch(ctx, k, f, now)
}

func (l *Ledger) transition(ctx context.Context, k Key, f audit.Finding, now time.Time) (Outcome, error) {
	day := f.EventTime.UTC()
	if day.IsZero() {
		day = now
	}
	s := shard(k)
	change := []Change{{Verdict: f.Verdict, At: now, Detail: f.Detail}}
	upd := expression.
		Set(expression.Name("bucket"), expression.Value(f.Bucket)).
		Set(expression.Name("key"), expression.Value(f.Key)).
		Set(expression.Name("versionId"), expression.Value(f.VersionID)).
		Set(expression.Name("size"), expression.Value(f.Size)).
		Set(expression.Name("verdict"), expression.Value(f.Verdict)).
		Set(expression.Name("detail"), expression.Value(f.Detail)).
		Set(expression.Name("lastChecked"), expression.Value(now)).
		Set(expression.Name("firstSeen"), expression.IfNotExists(expression.Name("firstSeen"), expression.Value(now))).
		Set(expression.Name("eventTime"), expression.IfNotExists(expression.Name("eventTime"), expression.Value(day))).
		Set(expression.Name("day"), expression.IfNotExists(expression.Name("day"), expression.Value(day.Format(time.DateOnly)))).
		Set(expression.Name("dayShard"), expression.IfNotExists(expression.Name("dayShard"), expression.Value(fmt.Sprintf("%s#%02d", day.Format(time.DateOnly), s)))).
		Set(expression.Name("ttl"), expression.Value(now.Add(l.retention).Unix())).
		Set(expression.Name("history"), expression.ListAppend(expression.IfNotExists(expression.Name("history"), expression.Value([]any{})), expression.Value(change))).
		Add(expression.Name("checks"), expression.Value(1))
	setIf := func(name, v string) {
		if v != "" {
			upd = upd.Set(expression.Name(name), expression.Value(v))
		}
	}
	setIf("sourceRegion", f.SourceRegion)
	setIf("destination", f.Destination)
	setIf("destinationRegion", f.DestinationRegion)
	setIf("ruleId", f.RuleID)
	setIf("etag", f.ETag)
	setIf("failureReason", f.FailureReason)
	if f.Replica != nil {
		upd = upd.Set(expression.Name("replica"), expression.Value(f.Replica))
	}
	if lag, ok := f.Lag(); ok {
		upd = upd.Set(expression.Name("lagSeconds"), expression.Value(lag.Seconds()))
	}
	if len(f.Differences) > 0 {
		upd = upd.Set(expression.Name("differences"), expression.Value(f.Differences))
	}
	if f.LongPending {
		upd = upd.Set(expression.Name("longPending"), expression.Value(true))
	}
	if f.DeleteMarker {
		upd = upd.Set(expression.Name("deleteMarker"), expression.Value(true))
	}
	if needsAttention(f.Verdict) {
		upd = upd.Set(expression.Name("attn"), expression.Value(fmt.Sprintf("A#%02d", s))).
			Set(expression.Name("attnSince"), expression.IfNotExists(expression.Name("attnSince"), expression.Value(now.Format(time.RFC3339Nano))))
	} else {
		// Out of the index; a resolved notice still owed puts it back
		// through ClaimAlert.
		upd = upd.Remove(expression.Name("attn")).Remove(expression.Name("attnSince"))
	}
	it, err := l.update(ctx, k, upd, l.replaceable(f.Verdict))
	if err != nil {
		return Outcome{}, err
	}
	prev := audit.Verdict("")
	if len(it.History) >= 2 {
		prev = it.History[len(it.History)-2].Verdict
	}
	return Outcome{Changed: true, Previous: prev, Item: it}, nil
}

// replaceable is the condition under which a new verdict replaces the
// stored one: there is none, or it differs and may be replaced.
func (l *Ledger) replaceable(v audit.Verdict) expression.ConditionBuilder {
	none := expression.AttributeNotExists(expression.Name("verdict"))
	var blockers []expression.OperandBuilder
	for _, cur := range audit.Verdicts {
		if cur == v || !v.Replaces(cur) {
			blockers = append(blockers, expression.Value(cur))
		}
	}
	if len(blockers) == 0 {
		return none
	}
	in := expression.Name("verdict").In(blockers[0], blockers[1:]...)
	return none.Or(expression.Not(in))
}

// touch counts a check that did not change the verdict.
func (l *Ledger) touch(ctx context.Context, k Key, f audit.Finding, now time.Time) (Outcome, error) {
	// An UpdateBuilder shares its operations with its copies: build afresh.
	base := func() expression.UpdateBuilder {
		upd := expression.Set(expression.Name("lastChecked"), expression.Value(now)).
			Add(expression.Name("checks"), expression.Value(1))
		if f.LongPending {
			upd = upd.Set(expression.Name("longPending"), expression.Value(true))
		}
		return upd
	}
	upd := base()
	if f.FailureReason != "" && f.Verdict == audit.Failed {
		// S3's failure event names the reason after a check saw FAILED; it
		// goes onto a FAILED item only.
		withReason := base().Set(expression.Name("failureReason"), expression.Value(f.FailureReason)).
			Set(expression.Name("detail"), expression.Value(f.Detail))
		it, err := l.update(ctx, k, withReason, expression.Name("verdict").Equal(expression.Value(audit.Failed)))
		if err == nil {
			return Outcome{Item: it}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return Outcome{}, fmt.Errorf("count a check of %s %s: %w", k.PK, k.SK, err)
		}
	}
	it, err := l.update(ctx, k, upd, expression.AttributeExists(expression.Name("verdict")))
	if err != nil {
		return Outcome{}, fmt.Errorf("count a check of %s %s: %w", k.PK, k.SK, err)
	}
	return Outcome{Kept: it.Verdict != f.Verdict, Item: it}, nil
}

// update applies a conditional update and returns the item as it now is.
func (l *Ledger) update(ctx context.Context, k Key, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (Item, error) {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return Item{}, err
	}
	res, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table), Key: k.av(),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return Item{}, err
	}
	var it Item
	if err := attributevalue.UnmarshalMap(res.Attributes, &it); err != nil {
		return Item{}, fmt.Errorf("decode item: %w", err)
	}
	return it, nil
}

// Get reads one item. It returns ErrNotFound when there is none.
func (l *Ledger) Get(ctx context.Context, k Key) (Item, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: k.av(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Item{}, fmt.Errorf("get %s %s: %w", k.PK, k.SK, err)
	}
	if out.Item == nil {
		return Item{}, ErrNotFound
	}
	var it Item
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return Item{}, fmt.Errorf("decode item: %w", err)
	}
	return it, nil
}

// ErrNotFound is returned for an item that does not exist.
var ErrNotFound = errors.New("ledger: no such item")

// ClaimAlert moves an item's alert to DUE, or to RESOLVE_DUE for a
// resolution, if no one else has. Only the caller that gets true sends the
// message, which makes one alert per incident under redelivery.
func (l *Ledger) ClaimAlert(ctx context.Context, k Key, kind string, resolve bool) (bool, error) {
	now := l.now().UTC()
	var cond expression.ConditionBuilder
	state := AlertDue
	if resolve {
		state = AlertResolveDue
		cond = expression.Name("alert").Equal(expression.Value(AlertSent))
	} else {
		cond = expression.AttributeNotExists(expression.Name("alert")).
			Or(expression.Name("alert").Equal(expression.Value(AlertResolved)))
		if kind != LongPendingKind {
			// A problem found after a long-PENDING warning is news: a FAILED
			// is worth its own alert.
			cond = cond.Or(expression.Name("alertKind").Equal(expression.Value(LongPendingKind)).
				And(expression.Name("alert").NotEqual(expression.Value(AlertDue))))
		}
	}
	upd := expression.Set(expression.Name("alert"), expression.Value(state)).
		Set(expression.Name("alertClaimedAt"), expression.Value(now)).
		Set(expression.Name("attn"), expression.Value(fmt.Sprintf("A#%02d", shard(k)))).
		Set(expression.Name("attnSince"), expression.IfNotExists(expression.Name("attnSince"), expression.Value(now.Format(time.RFC3339Nano))))
	if !resolve {
		upd = upd.Set(expression.Name("alertKind"), expression.Value(kind))
	}
	err := l.conditional(ctx, k, upd, cond.And(expression.AttributeExists(expression.Name("verdict"))))
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}

// MarkAlerted records that the alert, or the resolved notice, went out,
// and returns the item as it now is. A critical item leaves the attention
// index once on-call knows (re-checking it every sweep for a year would
// cost more than it tells); a long-PENDING one stays, to be re-checked and
// resolved.
func (l *Ledger) MarkAlerted(ctx context.Context, k Key, resolve, digested bool) (Item, error) {
	now := l.now().UTC()
	from, to, at := AlertDue, AlertSent, "alertedAt"
	if resolve {
		from, to, at = AlertResolveDue, AlertResolved, "resolvedAt"
	}
	if digested {
		to = AlertDigested
	}
	upd := expression.Set(expression.Name("alert"), expression.Value(to)).
		Set(expression.Name(at), expression.Value(now))
	if resolve {
		upd = upd.Remove(expression.Name("attn")).Remove(expression.Name("attnSince"))
	}
	it, err := l.update(ctx, k, upd, expression.Name("alert").Equal(expression.Value(from)))
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return l.Get(ctx, k) // someone else recorded it
	}
	if err != nil || resolve || !it.Verdict.Alerts() {
		return it, err
	}
	// Out of the index, unless the verdict moved meanwhile.
	rm := expression.Remove(expression.Name("attn")).Remove(expression.Name("attnSince"))
	if err := l.conditional(ctx, k, rm, expression.Name("verdict").Equal(expression.Value(it.Verdict))); err != nil && !errors.As(err, &ccf) {
		return it, err
	}
	return it, nil
}

// Reclaim takes over an alert still in state (DUE or RESOLVE_DUE) whose
// claim is older than grace, so that of two sweeps only one resends it.
func (l *Ledger) Reclaim(ctx context.Context, k Key, state string, grace time.Duration) (bool, error) {
	now := l.now().UTC()
	upd := expression.Set(expression.Name("alertClaimedAt"), expression.Value(now))
	cond := expression.Name("alert").Equal(expression.Value(state)).
		And(expression.AttributeNotExists(expression.Name("alertClaimedAt")).
			Or(expression.Name("alertClaimedAt").LessThan(expression.Value(now.Add(-grace)))))
	err := l.conditional(ctx, k, upd, cond)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}

// CloseUnsent settles an alert that was due but never sent, because the
// problem resolved itself before SNS took it: no page for what is over.
func (l *Ledger) CloseUnsent(ctx context.Context, k Key, grace time.Duration) error {
	now := l.now().UTC()
	upd := expression.Set(expression.Name("alert"), expression.Value(AlertResolved)).
		Set(expression.Name("resolvedAt"), expression.Value(now)).
		Remove(expression.Name("attn")).Remove(expression.Name("attnSince"))
	cond := expression.Name("alert").Equal(expression.Value(AlertDue)).
		And(expression.Name("alertClaimedAt").LessThan(expression.Value(now.Add(-grace))))
	err := l.conditional(ctx, k, upd, cond)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return err
}

func (l *Ledger) conditional(ctx context.Context, k Key, upd expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table), Key: k.av(),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	return err
}

// Attention streams the items that need attention, shard by shard from
// shard first (so that runs cut short by a deadline start in turn at every
// shard), oldest first within a shard, page by page. fn returning an error
// stops it.
func (l *Ledger) Attention(ctx context.Context, first int, fn func(Item) error) error {
	for i := range Shards {
		attn := fmt.Sprintf("A#%02d", (first+i)%Shards)
		if err := l.query(ctx, "the attention index", l.indexQuery(AttentionIndex, "attn", attn), fn); err != nil {
			return err
		}
	}
	return nil
}

// Period streams every item whose event time is in [since, until), day by
// day and shard by shard: back-to-back periods never count an item twice.
func (l *Ledger) Period(ctx context.Context, since, until time.Time, fn func(Item) error) error {
	inPeriod := func(it Item) error {
		if it.EventTime.Before(since) || !it.EventTime.Before(until) {
			return nil
		}
		return fn(it)
	}
	for day := since.UTC().Truncate(24 * time.Hour); !day.After(until.UTC()); day = day.Add(24 * time.Hour) {
		for s := range Shards {
			dayShard := fmt.Sprintf("%s#%02d", day.Format(time.DateOnly), s)
			if err := l.query(ctx, "the day index", l.indexQuery(DayIndex, "dayShard", dayShard), inPeriod); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Ledger) indexQuery(index, key, value string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName: aws.String(l.table), IndexName: aws.String(index),
		KeyConditionExpression:    aws.String(key + " = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: value}},
		Limit:                     l.limit(),
	}
}

// query streams a query's items, page by page, to fn.
func (l *Ledger) query(ctx context.Context, what string, in *dynamodb.QueryInput, fn func(Item) error) error {
	p := dynamodb.NewQueryPaginator(l.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s: %w", what, err)
		}
		for _, raw := range page.Items {
			var it Item
			if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
				return fmt.Errorf("decode item: %w", err)
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// Object streams every item of one object: each version and destination,
// or only those of versionID when it is not empty.
func (l *Ledger) Object(ctx context.Context, bucket, key, versionID string, fn func(Item) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
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
