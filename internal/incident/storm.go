package incident

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
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

// WindowDB holds the calls storm windows (and the adoption checkpoint)
// need, on the ledger's table.
type WindowDB interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
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

// window is the storm window a page claim counts in.
func (t *Tracker) window(it ledger.Item) window {
	if it.Window == "" {
		return t.windowAt(it.Bucket, t.now())
	}
	start, _ := time.Parse(time.RFC3339, it.Window)
	return window{bucket: it.Bucket, start: start, id: it.Window}
}

func (t *Tracker) windowAt(bucket string, now time.Time) window {
	id := t.opts.Policy.windowOf(now)
	start, _ := time.Parse(time.RFC3339, id)
	return window{bucket: bucket, start: start, id: id}
}

func windowOf(bucket, id string) window {
	start, _ := time.Parse(time.RFC3339, id)
	return window{bucket: bucket, start: start, id: id}
}

// settled is when a window's digest may go: its end, and the time holds in
// flight need to land.
func (w window) settled(p Policy) time.Time { return w.start.Add(p.StormWindow + p.Settle) }

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

// ttl is when a window's items expire: with the ledger's evidence.
func (t *Tracker) ttl(w window) int64 { return w.start.Add(t.opts.Ledger.Retention()).Unix() }

// update runs one UpdateItem on a window item. Attribute names in expr
// and cond are written plain; every one goes through a #placeholder, since
// DynamoDB reserves many words (bucket, open...).
func (t *Tracker) update(ctx context.Context, k ledger.Key, expr string, names map[string]string, values map[string]types.AttributeValue, cond string, ret types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	all := map[string]string{}
	for k, v := range names {
		all[k] = v
	}
	expr, cond = ledger.Placeholders(expr, all), ledger.Placeholders(cond, all)
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

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
func bs(b []byte) types.AttributeValue {
	return &types.AttributeValueMemberBS{Value: [][]byte{b}}
}
func ss(v string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: []string{v}} }

func conflict(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// reserve counts a page in its bucket's window, under the claim's token,
// unless the window already holds StormLimit pages: then it reports full.
// A token counts once however often its write is retried. The head enters
// the attention index, due when the window has settled, so that a sweep
// sends its digest if it needs one.
func (t *Tracker) reserve(ctx context.Context, w window, token string) (full bool, err error) {
	end := w.start.Add(t.opts.Policy.StormWindow)
	_, err = t.update(ctx, w.head(),
		"ADD reserved :tok SET bucket = :b, windowEnd = :end, ttl = :ttl, attn = if_not_exists(attn, :a), attnSince = if_not_exists(attnSince, :due)",
		nil,
		map[string]types.AttributeValue{":tok": ss(token), ":t": s(token), ":limit": n(int64(t.opts.StormLimit)), ":b": s(w.bucket),
			":end": s(end.Format(time.RFC3339)), ":ttl": n(t.ttl(w)), ":a": s(ledger.AttnShard(w.head())), ":due": s(ledger.AttnTime(w.settled(t.opts.Policy)))},
		"attribute_not_exists(reserved) OR size(reserved) < :limit OR contains(reserved, :t)", types.ReturnValueNone)
	switch {
	case conflict(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("count a page for %s: %w", w.bucket, err)
	}
	return false, nil
}

// unreserve takes back a page that certainly did not go out.
func (t *Tracker) unreserve(ctx context.Context, w window, token string, cause error) {
	if _, err := t.update(ctx, w.head(), "DELETE reserved :tok", nil, map[string]types.AttributeValue{":tok": ss(token)}, "", types.ReturnValueNone); err != nil {
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
	kind := alert.Kind(it.AlertKind)
	if t.now().After(w.settled(t.opts.Policy)) {
		// Too late for this window's digest: the page goes in a later one.
		token := it.Claim
		t.finish(ctx, out, "put the page back", func(cur *ledger.Item, now time.Time) bool {
			return t.opts.Policy.release(cur, token, now, now)
		})
		return
	}
	example := "s3://" + it.Bucket + "/" + it.ObjectKey + " -> " + it.Destination
	if _, err := t.update(ctx, w.shard(ledger.Shard(it.Key)),
		"ADD #label :h, open :h SET example = if_not_exists(example, :ex), bucket = :b, ttl = :ttl",
		map[string]string{"#label": heldPrefix + label(it)},
		map[string]types.AttributeValue{":h": bs(hashOf(it.Key)), ":ex": s(example), ":b": s(w.bucket), ":ttl": n(t.ttl(w))},
		"", types.ReturnValueNone); err != nil {
		// If the write may have landed, the item may be counted: the claim
		// is left to its lease, and whoever takes it over finds out.
		t.unsent(ctx, out, fmt.Errorf("hold back an alert for %s: %w", w.bucket, err), awscall.Rejected(err))
		return
	}
	t.finishHold(ctx, out, w, kind)
}

func (t *Tracker) finishHold(ctx context.Context, out *Outcome, w window, kind alert.Kind) {
	token := out.Item.Claim
	out.Held = true
	t.opts.Log.Info("alert held for the storm digest", "bucket", out.Item.Bucket, "key", out.Item.ObjectKey, "kind", kind, "window", w.id)
	t.finish(ctx, out, "record the hold", func(cur *ledger.Item, now time.Time) bool {
		return t.opts.Policy.hold(cur, token, w.id, kind, now)
	})
}

// release takes an item off the open set of the window it was held in:
// its incident is over, or it was raised to a page of its own. The window
// is then due, so a sweep tells on-call once every problem its digest
// counted is over.
func (t *Tracker) release(ctx context.Context, it ledger.Item) error {
	if it.HeldIn == legacyWindow {
		return nil // the first release's windows kept no open set
	}
	w := windowOf(it.Bucket, it.HeldIn)
	if _, err := t.update(ctx, w.shard(ledger.Shard(it.Key)), "DELETE open :h SET ttl = if_not_exists(ttl, :ttl)", nil,
		map[string]types.AttributeValue{":h": bs(hashOf(it.Key)), ":ttl": n(t.ttl(w))}, "", types.ReturnValueNone); err != nil {
		return fmt.Errorf("close a held alert in window %s: %w", w.id, err)
	}
	_, err := t.update(ctx, w.head(), "SET attnSince = :now", nil, map[string]types.AttributeValue{":now": s(ledger.AttnTime(t.now()))},
		"attribute_exists(attn)", types.ReturnValueNone)
	if err != nil && !conflict(err) {
		return fmt.Errorf("wake window %s: %w", w.id, err)
	}
	return nil
}

// stormHead is a window's head item.
type stormHead struct {
	Bucket    string     `dynamodbav:"bucket"`
	WindowEnd time.Time  `dynamodbav:"windowEnd"`
	Digest    string     `dynamodbav:"digest"`
	Claim     string     `dynamodbav:"claim"`
	ClaimedAt *time.Time `dynamodbav:"claimedAt"`
	// Examples and counts in c_<label> are the first release's.
	Examples []string `dynamodbav:"examples"`
}

// Tally is what a window's shards hold.
type Tally struct {
	Counts   map[string]int
	Held     int
	Open     int
	Examples []string
	// Legacy marks a window of the first release, which kept counts but no
	// open set: its end is never told.
	Legacy bool
}

// severity ranks a label's kind, to count an item raised while held
// under its latest, most severe label.
func severity(label string) int {
	kind, _, _ := strings.Cut(label, "/")
	if alert.Kind(kind).Severity() == "critical" {
		return 2
	}
	return 1
}

func (t *Tracker) tally(ctx context.Context, w window, head map[string]types.AttributeValue) (Tally, error) {
	tl := Tally{Counts: map[string]int{}}
	labels := map[string]string{} // hash -> its most severe label
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
					l := strings.TrimPrefix(name, heldPrefix)
					for _, h := range set.Value {
						if cur, seen := labels[string(h)]; !seen || severity(l) > severity(cur) {
							labels[string(h)] = l
						}
					}
				case ok && name == openAttr:
					tl.Open += len(set.Value)
				}
			}
			if ex, ok := item["example"].(*types.AttributeValueMemberS); ok && len(tl.Examples) < 5 {
				tl.Examples = append(tl.Examples, ex.Value)
			}
		}
	}
	for _, l := range labels {
		tl.Counts[l]++
		tl.Held++
	}
	// The first release counted in c_<label> numbers on the head.
	for name, v := range head {
		if l, ok := strings.CutPrefix(name, legacyCount); ok {
			var c int
			if attributevalue.Unmarshal(v, &c) == nil && c > 0 {
				tl.Counts[l] += c
				tl.Held += c
				tl.Legacy = true
			}
		}
	}
	slices.Sort(tl.Examples)
	return tl, nil
}

const legacyCount = "c_"

// Window settles a storm window the sweeper found due: it sends the
// digest of the alerts held back there, once; then, once every one of
// them is over, one resolved notice; and takes the window out of the
// attention index when nothing more is owed.
func (t *Tracker) Window(ctx context.Context, k ledger.Key) (Outcome, error) {
	var out Outcome
	raw, err := t.head(ctx, k)
	if err != nil {
		return out, err
	}
	var h stormHead
	if err := attributevalue.UnmarshalMap(raw, &h); err != nil {
		return out, err
	}
	w := windowOf(strings.TrimPrefix(k.PK, ledger.WindowPrefix), strings.TrimPrefix(k.SK, "W#"))
	now := t.now()
	if now.Before(w.settled(t.opts.Policy)) {
		return out, nil
	}
	tl, err := t.tally(ctx, w, raw)
	if err != nil {
		return out, err
	}
	tl.Examples = append(tl.Examples, h.Examples...)
	tl.Examples = tl.Examples[:min(len(tl.Examples), 5)]
	claimedOut := h.ClaimedAt == nil || !now.Before(h.ClaimedAt.Add(t.opts.Policy.Lease))
	digest := alert.Digest{Bucket: w.bucket, WindowStart: w.start, Window: t.opts.Policy.StormWindow, Counts: tl.Counts, Examples: tl.Examples}
	switch {
	case (h.Digest == "" || h.Digest == legacyDue) && tl.Held == 0:
		_, err := t.update(ctx, k, "REMOVE attn, attnSince", nil, map[string]types.AttributeValue{":legacy": s(legacyDue)},
			"attribute_not_exists(digest) OR digest = :legacy", types.ReturnValueNone)
		if err != nil && !conflict(err) {
			return out, err
		}
		return out, nil
	case h.Digest == "" || h.Digest == legacyDue || h.Digest == Sending && claimedOut:
		done := Sent
		if tl.Legacy {
			done = Resolved // no open set to watch: its end is never told
		}
		return t.windowNotice(ctx, k, w, Sending, done, tl, out, alert.FormatDigest(digest))
	case (h.Digest == Sent || h.Digest == Resolving && claimedOut) && tl.Open == 0:
		return t.windowNotice(ctx, k, w, Resolving, Resolved, tl, out, alert.FormatDigestResolved(digest))
	case h.Digest == Sent || h.Digest == Resolving:
		// Held problems are still open, or a notice is in flight: look
		// again later.
		next := now.Add(backoff(now.Sub(w.start)))
		if h.Digest == Resolving {
			next = h.ClaimedAt.Add(t.opts.Policy.Lease)
		}
		_, err := t.update(ctx, k, "SET attnSince = :t", nil, map[string]types.AttributeValue{":t": s(ledger.AttnTime(next)), ":d": s(h.Digest)}, "digest = :d",
			types.ReturnValueNone)
		if err != nil && !conflict(err) {
			return out, err
		}
		return out, nil
	case h.Digest == Sending:
		return out, nil // its holder has the lease
	}
	// Resolved, or a state this version does not know: nothing is owed.
	_, err = t.update(ctx, k, "REMOVE attn, attnSince", nil, nil, "", types.ReturnValueNone)
	return out, err
}

// legacyDue is the first release's digest owed.
const legacyDue = "DUE"

func (t *Tracker) head(ctx context.Context, k ledger.Key) (map[string]types.AttributeValue, error) {
	raw, err := t.windows().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.opts.Ledger.Table()), Key: k.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read storm window %s: %w", k.SK, err)
	}
	return raw.Item, nil
}

// windowNotice claims a window's notice, publishes it and records it: the
// same claim, publish, confirm as an item's page, on the window's head. A
// write whose answer was lost is known by reading the head again.
func (t *Tracker) windowNotice(ctx context.Context, k ledger.Key, w window, claiming, done string, tl Tally, out Outcome, msg alert.Message) (Outcome, error) {
	now, token, lease := t.now(), ledger.NewID(), t.opts.Policy.Lease
	from := map[string]string{Sending: "", Resolving: Sent}[claiming]
	cond := "(digest = :claiming AND claimedAt < :expired)"
	if from == "" {
		cond += " OR attribute_not_exists(digest) OR digest = :legacy"
	} else {
		cond += " OR digest = :from"
	}
	values := map[string]types.AttributeValue{":claiming": s(claiming), ":expired": s(ledger.AttnTime(now.Add(-lease))),
		":tok": s(token), ":now": s(ledger.AttnTime(now)), ":due": s(ledger.AttnTime(now.Add(lease)))}
	if from != "" {
		values[":from"] = s(from)
	} else {
		values[":legacy"] = s(legacyDue)
	}
	if _, err := t.update(ctx, k, "SET digest = :claiming, claim = :tok, claimedAt = :now, attnSince = :due", nil, values, cond, types.ReturnValueNone); err != nil {
		if !conflict(err) {
			return out, err
		}
		if mine, rerr := t.holds(ctx, k, token); rerr != nil || !mine {
			return out, rerr // another sender holds it
		}
	}
	kind := alert.KindDigest
	if claiming == Resolving {
		kind = alert.KindResolved
	}
	refused, err := t.opts.Publisher.Publish(ctx, msg)
	if refused != nil {
		out.Refused = true
		t.opts.Log.Error("SNS refused the storm notice; it was sent again without its subject and attributes", "bucket", w.bucket, "window", w.id, "error", refused)
	}
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
	switch {
	case conflict(err):
		// The answer of a write that landed was lost, or the claim was
		// taken over after its lease: either way, not this sender's to do.
		if raw, rerr := t.head(ctx, k); rerr == nil {
			if d, _ := raw["digest"].(*types.AttributeValueMemberS); d == nil || d.Value != done {
				t.opts.Log.Warn("the storm notice's claim was taken over before it was recorded", "bucket", w.bucket, "window", w.id)
			}
		}
	case err != nil:
		out.SendErr = fmt.Errorf("record the storm notice of window %s: %w", w.id, err)
	}
	return out, nil
}

// holds reports whether a window's head is claimed by token.
func (t *Tracker) holds(ctx context.Context, k ledger.Key, token string) (bool, error) {
	raw, err := t.head(ctx, k)
	if err != nil {
		return false, err
	}
	c, _ := raw["claim"].(*types.AttributeValueMemberS)
	return c != nil && c.Value == token, nil
}
