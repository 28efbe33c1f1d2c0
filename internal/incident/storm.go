package incident

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/ledger"
)

// WindowDB holds the calls storm windows need, on the ledger's table.
type WindowDB interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// A storm window is one head item per bucket and window, which counts the
// pages reserved in it and carries the digest's state, and up to
// ledger.Shards shard items, which hold the items counted in the digest
// as sets of key hashes: adding an item twice counts it once, whatever the
// retries.
const (
	heldPrefix = "h_" // h_<label>: the hashes held back under a label such as FAILED/DstKmsKeyNotFound
	openAttr   = "open"
)

type window struct {
	bucket string
	start  time.Time
	id     string // the start, RFC3339: an item's Window and HeldIn
}

func (t *Tracker) window(it ledger.Item) window {
	id := it.Window
	if id == "" {
		id = t.opts.Policy.windowOf(t.now())
	}
	start, _ := time.Parse(time.RFC3339, id)
	return window{bucket: it.Bucket, start: start, id: id}
}

func (w window) head() ledger.Key {
	return ledger.Key{PK: ledger.WindowPrefix + w.bucket, SK: "W#" + w.id}
}

func (w window) shard(n int) ledger.Key {
	return ledger.Key{PK: ledger.WindowPrefix + w.bucket, SK: fmt.Sprintf("W#%s#S#%02d", w.id, n)}
}

// hashOf is an item's 8-byte key hash, its member in a window's sets.
func hashOf(k ledger.Key) []byte {
	h := fnv.New64a()
	h.Write([]byte(k.PK + "\x00" + k.SK))
	return binary.BigEndian.AppendUint64(nil, h.Sum64())
}

func label(it ledger.Item) string {
	if it.FailureReason != "" {
		return it.AlertKind + "/" + it.FailureReason
	}
	return it.AlertKind
}

func (t *Tracker) windows() WindowDB { return t.opts.Windows }

// update runs one UpdateItem on a window item. Attribute names in expr
// and cond are written plain; every one goes through a #placeholder, since
// DynamoDB reserves many words (bucket, open...).
func (t *Tracker) update(ctx context.Context, k ledger.Key, expr string, names map[string]string, values map[string]types.AttributeValue, cond string, ret types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	all := map[string]string{}
	for k, v := range names {
		all[k] = v
	}
	expr, cond = placeholders(expr, all), placeholders(cond, all)
	in := &dynamodb.UpdateItemInput{TableName: aws.String(t.opts.Ledger.Table()), Key: k.AV(), UpdateExpression: aws.String(expr),
		ExpressionAttributeNames: all, ExpressionAttributeValues: values, ReturnValues: ret}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	if len(all) == 0 {
		in.ExpressionAttributeNames = nil
	}
	return t.windows().UpdateItem(ctx, in)
}

var plainName = regexp.MustCompile(`(^|[^:#\w])([a-zA-Z][a-zA-Z0-9]*)\b`)

var keywords = map[string]bool{"SET": true, "ADD": true, "REMOVE": true, "DELETE": true, "AND": true, "OR": true, "NOT": true,
	"if_not_exists": true, "attribute_exists": true, "attribute_not_exists": true}

func placeholders(expr string, names map[string]string) string {
	return plainName.ReplaceAllStringFunc(expr, func(m string) string {
		sub := plainName.FindStringSubmatch(m)
		if keywords[sub[2]] {
			return m
		}
		names["#"+sub[2]] = sub[2]
		return sub[1] + "#" + sub[2]
	})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
func bs(b []byte) types.AttributeValue {
	return &types.AttributeValueMemberBS{Value: [][]byte{b}}
}

// reserve counts a page in its bucket's window and returns how many the
// window holds. The head enters the attention index, due when the window
// has settled, so that a sweep sends its digest if it needs one.
func (t *Tracker) reserve(ctx context.Context, w window) (int, error) {
	end := w.start.Add(t.opts.Policy.StormWindow)
	out, err := t.update(ctx, w.head(),
		"ADD alerts :one SET bucket = :b, windowEnd = :end, ttl = :ttl, attn = if_not_exists(attn, :a), attnSince = if_not_exists(attnSince, :due)",
		nil,
		map[string]types.AttributeValue{":one": n(1), ":b": s(w.bucket), ":end": s(end.Format(time.RFC3339)),
			":ttl": n(end.Add(400 * 24 * time.Hour).Unix()), ":a": s(ledger.AttnShard(w.head())), ":due": s(ledger.AttnTime(end.Add(t.opts.Policy.Settle)))},
		"", types.ReturnValueUpdatedNew)
	if err != nil {
		return 0, fmt.Errorf("count a page for %s: %w", w.bucket, err)
	}
	var got struct {
		Alerts int `dynamodbav:"alerts"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &got); err != nil {
		return 0, err
	}
	return got.Alerts, nil
}

// unreserve takes back a page that certainly did not go out. The count
// only decides when a storm starts, so a lost correction errs towards a
// digest, never towards a page too many.
func (t *Tracker) unreserve(ctx context.Context, w window, cause error) {
	if _, err := t.update(ctx, w.head(), "ADD alerts :minus", nil, map[string]types.AttributeValue{":minus": n(-1)}, "attribute_exists(pk)", types.ReturnValueNone); err != nil {
		t.opts.Log.Warn("page count not corrected", "bucket", w.bucket, "window", w.id, "error", err, "cause", cause)
	}
}

// heldBefore reports, for a claim taken over from a holder that stopped,
// whether that holder already counted the item in the window's digest:
// then the hold is finished rather than the item counted again or paged.
func (t *Tracker) heldBefore(ctx context.Context, it ledger.Item, w window) (bool, error) {
	if !it.Retaken {
		return false, nil
	}
	out, err := t.windows().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.opts.Ledger.Table()), Key: w.shard(ledger.Shard(it.Key)).AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("read storm window %s: %w", w.id, err)
	}
	h := hashOf(it.Key)
	for name, v := range out.Item {
		if set, ok := v.(*types.AttributeValueMemberBS); ok && strings.HasPrefix(name, heldPrefix) {
			for _, m := range set.Value {
				if string(m) == string(h) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// holdBack counts the item in its window's digest instead of paging: the
// window's sets first (idempotent), then the item.
func (t *Tracker) holdBack(ctx context.Context, out *Outcome, w window) {
	it := out.Item
	if t.now().After(w.start.Add(t.opts.Policy.StormWindow + t.opts.Policy.Settle)) {
		// The digest may be on its way; leave the claim, and the page goes
		// in a later window.
		t.unsent(ctx, out, fmt.Errorf("storm window %s closed before the hold", w.id), true)
		return
	}
	example := "s3://" + it.Bucket + "/" + it.ObjectKey + " -> " + it.Destination
	if _, err := t.update(ctx, w.shard(ledger.Shard(it.Key)),
		"ADD #label :h, open :h SET example = if_not_exists(example, :ex), bucket = :b, ttl = :ttl",
		map[string]string{"#label": heldPrefix + label(it)},
		map[string]types.AttributeValue{":h": bs(hashOf(it.Key)), ":ex": s(example), ":b": s(w.bucket), ":ttl": n(w.start.Add(400 * 24 * time.Hour).Unix())},
		"", types.ReturnValueNone); err != nil {
		t.unsent(ctx, out, fmt.Errorf("hold back an alert for %s: %w", w.bucket, err), true)
		return
	}
	t.finishHold(ctx, out, w)
}

func (t *Tracker) finishHold(ctx context.Context, out *Outcome, w window) {
	token := out.Item.Claim
	out.Held = true
	t.opts.Log.Info("alert held for the storm digest", "bucket", out.Item.Bucket, "key", out.Item.ObjectKey, "kind", out.Item.AlertKind, "window", w.id)
	t.finish(ctx, out, "record the hold", func(cur *ledger.Item, now time.Time) bool {
		return t.opts.Policy.hold(cur, token, w.id, now)
	})
}

// release takes a held item whose incident is over off its window's open
// set, and makes the window due, so a sweep tells on-call once every
// problem the digest counted is over.
func (t *Tracker) release(ctx context.Context, it ledger.Item) error {
	w := window{bucket: it.Bucket, id: it.HeldIn}
	w.start, _ = time.Parse(time.RFC3339, w.id)
	if _, err := t.update(ctx, w.shard(ledger.Shard(it.Key)), "DELETE open :h", nil,
		map[string]types.AttributeValue{":h": bs(hashOf(it.Key))}, "", types.ReturnValueNone); err != nil {
		return fmt.Errorf("close a held alert in window %s: %w", w.id, err)
	}
	_, err := t.update(ctx, w.head(), "SET attnSince = :now", nil, map[string]types.AttributeValue{":now": s(ledger.AttnTime(t.now()))},
		"attribute_exists(attn)", types.ReturnValueNone)
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("wake window %s: %w", w.id, err)
	}
	return nil
}

// stormHead is a window's head item.
type stormHead struct {
	Bucket    string     `dynamodbav:"bucket"`
	WindowEnd time.Time  `dynamodbav:"windowEnd"`
	Alerts    int        `dynamodbav:"alerts"`
	Digest    string     `dynamodbav:"digest"`
	Claim     string     `dynamodbav:"claim"`
	ClaimedAt *time.Time `dynamodbav:"claimedAt"`
	Held      int        `dynamodbav:"held"`
}

// Tally is what a window's shards hold.
type Tally struct {
	Counts   map[string]int
	Held     int
	Open     int
	Examples []string
}

func (t *Tracker) tally(ctx context.Context, w window) (Tally, error) {
	tl := Tally{Counts: map[string]int{}}
	p := dynamodb.NewQueryPaginator(t.windows(), &dynamodb.QueryInput{
		TableName:                 aws.String(t.opts.Ledger.Table()),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(ledger.WindowPrefix + w.bucket), ":sk": s("W#" + w.id + "#S#")},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return tl, fmt.Errorf("read storm window %s of %s: %w", w.id, w.bucket, err)
		}
		for _, item := range page.Items {
			for name, v := range item {
				set, ok := v.(*types.AttributeValueMemberBS)
				switch {
				case ok && strings.HasPrefix(name, heldPrefix):
					tl.Counts[strings.TrimPrefix(name, heldPrefix)] += len(set.Value)
					tl.Held += len(set.Value)
				case ok && name == openAttr:
					tl.Open += len(set.Value)
				}
			}
			if ex, ok := item["example"].(*types.AttributeValueMemberS); ok && len(tl.Examples) < 5 {
				tl.Examples = append(tl.Examples, ex.Value)
			}
		}
	}
	slices.Sort(tl.Examples)
	return tl, nil
}

// Window settles a storm window the sweeper found due: it sends the
// digest of the alerts held back there, once; then, once every one of
// them is over, one resolved notice; and takes the window out of the
// attention index when nothing more is owed.
func (t *Tracker) Window(ctx context.Context, k ledger.Key) (Outcome, error) {
	var out Outcome
	raw, err := t.windows().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.opts.Ledger.Table()), Key: k.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return out, fmt.Errorf("read storm window %s: %w", k.SK, err)
	}
	var h stormHead
	if err := attributevalue.UnmarshalMap(raw.Item, &h); err != nil {
		return out, err
	}
	w := window{bucket: strings.TrimPrefix(k.PK, ledger.WindowPrefix), id: strings.TrimPrefix(k.SK, "W#")}
	w.start, _ = time.Parse(time.RFC3339, w.id)
	now := t.now()
	if now.Before(w.start.Add(t.opts.Policy.StormWindow + t.opts.Policy.Settle)) {
		return out, nil
	}
	tl, err := t.tally(ctx, w)
	if err != nil {
		return out, err
	}
	lease := t.opts.Policy.Lease
	claimedOut := h.ClaimedAt == nil || !now.Before(h.ClaimedAt.Add(lease))
	switch {
	case h.Digest == "" && tl.Held == 0:
		_, err := t.update(ctx, k, "REMOVE attn, attnSince", nil, nil, "attribute_not_exists(digest)", types.ReturnValueNone)
		return out, ignoreConflict(err)
	case h.Digest == "" || h.Digest == Sending && claimedOut:
		return t.windowNotice(ctx, k, w, Sending, Sent, tl, out, func() alert.Message {
			return alert.FormatDigest(alert.Digest{Bucket: w.bucket, WindowStart: w.start, Window: t.opts.Policy.StormWindow, Counts: tl.Counts, Examples: tl.Examples})
		})
	case (h.Digest == Sent || h.Digest == Resolving && claimedOut) && tl.Open == 0:
		return t.windowNotice(ctx, k, w, Resolving, Resolved, tl, out, func() alert.Message {
			return alert.FormatDigestResolved(alert.Digest{Bucket: w.bucket, WindowStart: w.start, Window: t.opts.Policy.StormWindow, Counts: tl.Counts, Examples: tl.Examples})
		})
	case h.Digest == Sent:
		// Held problems are still open: look again later.
		next := now.Add(backoff(now.Sub(w.start)))
		_, err := t.update(ctx, k, "SET attnSince = :t", nil, map[string]types.AttributeValue{":t": s(ledger.AttnTime(next)), ":sent": s(Sent)}, "digest = :sent",
			types.ReturnValueNone)
		return out, ignoreConflict(err)
	}
	return out, nil
}

// windowNotice claims a window's notice, publishes it and records it: the
// same claim, publish, confirm as an item's page, on the window's head.
func (t *Tracker) windowNotice(ctx context.Context, k ledger.Key, w window, claiming, done string, tl Tally, out Outcome, msg func() alert.Message) (Outcome, error) {
	now, token, lease := t.now(), ledger.NewID(), t.opts.Policy.Lease
	from := map[string]string{Sending: "", Resolving: Sent}[claiming]
	cond := "(digest = :claiming AND claimedAt < :expired)"
	if from == "" {
		cond += " OR attribute_not_exists(digest)"
	} else {
		cond += " OR digest = :from"
	}
	values := map[string]types.AttributeValue{":claiming": s(claiming), ":expired": s(ledger.AttnTime(now.Add(-lease))),
		":tok": s(token), ":now": s(ledger.AttnTime(now)), ":due": s(ledger.AttnTime(now.Add(lease)))}
	if from != "" {
		values[":from"] = s(from)
	}
	if _, err := t.update(ctx, k, "SET digest = :claiming, claim = :tok, claimedAt = :now, attnSince = :due", nil, values, cond, types.ReturnValueNone); err != nil {
		return out, ignoreConflict(err)
	}
	kind := alert.KindDigest
	if claiming == Resolving {
		kind = alert.KindResolved
	}
	refused, err := t.opts.Publisher.Publish(ctx, msg())
	out.Refused = refused
	if err != nil {
		out.SendErr = err
		t.opts.Log.Error("storm notice not sent; a later sweep sends it", "bucket", w.bucket, "window", w.id, "kind", kind, "error", err)
		return out, nil
	}
	out.Published = append(out.Published, kind)
	// Resolved, the window leaves the index; sent, it is looked at again
	// until every held problem is over.
	expr := "SET digest = :done, held = :held, attnSince = :next REMOVE claim, claimedAt"
	vals := map[string]types.AttributeValue{":done": s(done), ":held": n(int64(tl.Held)), ":tok": s(token),
		":next": s(ledger.AttnTime(now.Add(backoff(now.Sub(w.start)))))}
	if done == Resolved {
		expr = "SET digest = :done, held = :held REMOVE claim, claimedAt, attn, attnSince"
		delete(vals, ":next")
	}
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		_, err = t.update(ctx, k, expr, nil, vals, "claim = :tok", types.ReturnValueNone)
		if err == nil || !awscall.Transient(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
	}
	if err != nil {
		out.SendErr = fmt.Errorf("record the storm notice of window %s: %w", w.id, ignoreConflict(err))
	}
	return out, nil
}

func ignoreConflict(err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return err
}
