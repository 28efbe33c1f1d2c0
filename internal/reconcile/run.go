package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/ledger"
)

// RunDB holds the calls a run's item needs, on the ledger's table.
type RunDB interface {
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// The states of a run.
const (
	Running          = "RUNNING"
	Clean            = "CLEAN"             // every version in scope is replicated
	NeedsReplication = "NEEDS_REPLICATION" // some are not: see the manifest
	Incomplete       = "INCOMPLETE"        // a file could not be read: no clean bill of health
)

// runKey names a run: the source, the inventory's time, and its manifest,
// so that the same manifest is always the same run.
func runKey(source, manifest string, created time.Time) ledger.Key {
	sum := sha256.Sum256([]byte(manifest))
	return ledger.Key{PK: ledger.RunPrefix + source, SK: runTime(created) + "#" + hex.EncodeToString(sum[:6])}
}

// runTime orders a source's runs by their inventory's time, to the
// millisecond the manifest gives.
func runTime(created time.Time) string {
	return "R#" + created.UTC().Format("2006-01-02T15:04:05.000Z")
}

// fileHash is a data file's member in a run's sets.
func fileHash(key string) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	return binary.BigEndian.AppendUint64(nil, h.Sum64())
}

// runs keeps run items.
type runs struct {
	db        RunDB
	table     string
	retention time.Duration
}

func (r runs) update(ctx context.Context, k ledger.Key, expr string, names map[string]string, values map[string]types.AttributeValue, cond string, ret types.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
	all := map[string]string{}
	maps.Copy(all, names)
	expr, cond = ledger.Placeholders(expr, all), ledger.Placeholders(cond, all)
	in := &dynamodb.UpdateItemInput{TableName: aws.String(r.table), Key: k.AV(), UpdateExpression: aws.String(expr),
		ExpressionAttributeNames: all, ExpressionAttributeValues: values, ReturnValues: ret}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	return r.db.UpdateItem(ctx, in)
}

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func nv(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func bsv(b []byte) types.AttributeValue   { return &types.AttributeValueMemberBS{Value: [][]byte{b}} }
func bv(b []byte) types.AttributeValue    { return &types.AttributeValueMemberB{Value: b} }
func tv(t time.Time) types.AttributeValue { return sv(t.UTC().Format(time.RFC3339Nano)) }
func lv(s []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(s))
	for i, v := range s {
		l[i] = sv(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func conflict(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// start creates a run's item once: a replayed manifest finds it there,
// and start returns it.
func (r runs) start(ctx context.Context, k ledger.Key, rn Run) (*Run, error) {
	day := rn.Created.UTC().Format(time.DateOnly)
	_, err := r.update(ctx, k,
		"SET source = :src, manifest = :m, inventoryBucket = :ib, created = :c, eventTime = :c, files = :n, since = :since, state = :running, "+
			"day = :day, dayShard = :ds, ttl = :ttl, done = :zero",
		nil, map[string]types.AttributeValue{":src": sv(rn.Source), ":m": sv(rn.Manifest), ":ib": sv(rn.InventoryBucket), ":c": tv(rn.Created),
			":n": nv(int64(rn.Files)), ":since": tv(rn.Since), ":running": sv(Running), ":day": sv(day),
			":ds": sv(fmt.Sprintf("%s#%02d", day, ledger.Shard(k))), ":ttl": nv(rn.Created.Add(r.retention).Unix()), ":zero": nv(0)},
		"attribute_not_exists(pk)", types.ReturnValueNone)
	if conflict(err) {
		have, err := r.get(ctx, k)
		if err != nil {
			return nil, err
		}
		return &have, nil
	}
	if err != nil {
		return nil, fmt.Errorf("start the run of %s: %w", rn.Manifest, err)
	}
	return nil, nil
}

// Counts are one file's (or a run's) tallies.
type Counts struct {
	Objects map[Class]int64 `json:"objects"`
	Bytes   map[Class]int64 `json:"bytes"`
	// Skipped rows, by reason.
	Skipped map[string]int64 `json:"skipped,omitempty"`
	// Looked up: rows whose versions were looked up in the ledger; Known:
	// those the ledger held for every destination; Recorded: findings this
	// run wrote.
	LookedUp int64 `json:"lookedUp"`
	Known    int64 `json:"known"`
	Recorded int64 `json:"recorded"`
	// Redrive: versions in the remediation manifest.
	Redrive int64 `json:"redrive"`
	// Examples: a few keys of each problem class.
	Examples map[Class][]string `json:"examples,omitempty"`
	// Failure says why a file could not be read, for File's caller.
	Failure string `json:"-"`
}

// Add adds another file's counts, for a caller that counts a run itself.
func (c *Counts) Add(o Counts) {
	for k, v := range o.Objects {
		c.Objects[k] += v
	}
	for k, v := range o.Bytes {
		c.Bytes[k] += v
	}
	for k, v := range o.Skipped {
		c.Skipped[k] += v
	}
	c.LookedUp, c.Known, c.Recorded, c.Redrive = c.LookedUp+o.LookedUp, c.Known+o.Known, c.Recorded+o.Recorded, c.Redrive+o.Redrive
	for k, ex := range o.Examples {
		for _, e := range ex {
			if len(c.Examples[k]) < examplesPerClass {
				c.Examples[k] = append(c.Examples[k], e)
			}
		}
	}
}

// NewCounts returns empty counts.
func NewCounts() Counts { return newCounts() }

func newCounts() Counts {
	return Counts{Objects: map[Class]int64{}, Bytes: map[Class]int64{}, Skipped: map[string]int64{}, Examples: map[Class][]string{}}
}

const examplesPerClass = 3

func (c *Counts) add(class Class, size int64, key string) {
	c.Objects[class]++
	c.Bytes[class] += size
	if class.Problem() && len(c.Examples[class]) < examplesPerClass {
		c.Examples[class] = append(c.Examples[class], key)
	}
}

// counted adds a file's counts to its run, once: the file's hash joins the
// run's set in the same write, which a redelivered file fails. It returns
// how many files are done, and whether this call counted the file.
func (r runs) counted(ctx context.Context, k ledger.Key, file string, c Counts, failure string) (done int, first bool, err error) {
	h := fileHash(file)
	set := []string{"done = done + :one"}
	add := []string{"counted :h"}
	values := map[string]types.AttributeValue{":h": bsv(h), ":hv": bv(h), ":one": nv(1)}
	names := map[string]string{}
	i := 0
	for _, class := range slices.Sorted(maps.Keys(c.Objects)) {
		i++
		names[fmt.Sprintf("#n%d", i)], names[fmt.Sprintf("#b%d", i)] = "n_"+string(class), "b_"+string(class)
		add = append(add, fmt.Sprintf("#n%d :n%d", i, i), fmt.Sprintf("#b%d :b%d", i, i))
		values[fmt.Sprintf(":n%d", i)], values[fmt.Sprintf(":b%d", i)] = nv(c.Objects[class]), nv(c.Bytes[class])
		if ex := c.Examples[class]; len(ex) > 0 {
			names[fmt.Sprintf("#e%d", i)] = "ex_" + string(class)
			set = append(set, fmt.Sprintf("#e%d = if_not_exists(#e%d, :e%d)", i, i, i))
			values[fmt.Sprintf(":e%d", i)] = lv(ex)
		}
	}
	for j, reason := range slices.Sorted(maps.Keys(c.Skipped)) {
		names[fmt.Sprintf("#s%d", j)] = "skip_" + reason
		add = append(add, fmt.Sprintf("#s%d :s%d", j, j))
		values[fmt.Sprintf(":s%d", j)] = nv(c.Skipped[reason])
	}
	for name, v := range map[string]int64{"lookedUp": c.LookedUp, "known": c.Known, "recorded": c.Recorded, "redrive": c.Redrive} {
		if v != 0 {
			add = append(add, name+" :"+name)
			values[":"+name] = nv(v)
		}
	}
	if failure != "" {
		add = append(add, "failed :h")
		names["#why"] = "why_" + hex.EncodeToString(h)
		set = append(set, "#why = :why")
		values[":why"] = sv(failure)
	}
	expr := "SET " + strings.Join(set, ", ") + " ADD " + strings.Join(add, ", ")
	out, err := r.update(ctx, k, expr, names, values, "attribute_exists(pk) AND NOT contains(counted, :hv)", types.ReturnValueAllNew)
	if conflict(err) {
		it, gerr := r.get(ctx, k)
		if gerr != nil {
			return 0, false, gerr
		}
		return it.Done, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("count file %s: %w", file, err)
	}
	var got struct {
		Done int `dynamodbav:"done"`
	}
	_ = attributevalue.UnmarshalMap(out.Attributes, &got)
	return got.Done, true, nil
}

// Run is a run's item as stored.
type Run struct {
	Key             ledger.Key
	Source          string
	Manifest        string // s3://bucket/key of manifest.json
	InventoryBucket string
	Created         time.Time
	Since           time.Time // versions written before were looked up by an earlier run
	Files           int
	Done            int
	Counted         map[string]bool // file hashes (hex) counted, failed or not
	Failed          map[string]bool // file hashes (hex) that could not be read
	Reasons         []string
	State           string
	Counts          Counts
	Closing         string
	ClosingAt       time.Time
	Summary         string
}

// Outcome is a closed run's summary; false while it runs.
func (rn Run) Outcome() (Summary, bool) {
	var s Summary
	if rn.Summary == "" || json.Unmarshal([]byte(rn.Summary), &s) != nil {
		return Summary{}, false
	}
	return s, true
}

func (r runs) get(ctx context.Context, k ledger.Key) (Run, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: k.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Run{}, fmt.Errorf("read run %s: %w", k.SK, err)
	}
	if out.Item == nil {
		return Run{}, fmt.Errorf("run %s %s: %w", k.PK, k.SK, ledger.ErrNotFound)
	}
	return decodeRun(k, out.Item)
}

func decodeRun(k ledger.Key, raw map[string]types.AttributeValue) (Run, error) {
	var head struct {
		Source          string    `dynamodbav:"source"`
		Manifest        string    `dynamodbav:"manifest"`
		InventoryBucket string    `dynamodbav:"inventoryBucket"`
		Created         time.Time `dynamodbav:"created"`
		Since           time.Time `dynamodbav:"since"`
		Files           int       `dynamodbav:"files"`
		Done            int       `dynamodbav:"done"`
		State           string    `dynamodbav:"state"`
		Closing         string    `dynamodbav:"closing"`
		ClosingAt       time.Time `dynamodbav:"closingAt"`
		Summary         string    `dynamodbav:"summary"`
		LookedUp        int64     `dynamodbav:"lookedUp"`
		Known           int64     `dynamodbav:"known"`
		Recorded        int64     `dynamodbav:"recorded"`
		Redrive         int64     `dynamodbav:"redrive"`
	}
	if err := attributevalue.UnmarshalMap(raw, &head); err != nil {
		return Run{}, fmt.Errorf("decode run %s: %w", k.SK, err)
	}
	rn := Run{Key: k, Source: head.Source, Manifest: head.Manifest, InventoryBucket: head.InventoryBucket, Created: head.Created, Since: head.Since,
		Files: head.Files, Done: head.Done, State: head.State, Closing: head.Closing, ClosingAt: head.ClosingAt, Summary: head.Summary,
		Counted: map[string]bool{}, Failed: map[string]bool{}, Counts: newCounts()}
	rn.Counts.LookedUp, rn.Counts.Known, rn.Counts.Recorded, rn.Counts.Redrive = head.LookedUp, head.Known, head.Recorded, head.Redrive
	for name, v := range raw {
		switch {
		case name == "counted":
			if set, ok := v.(*types.AttributeValueMemberBS); ok {
				for _, h := range set.Value {
					rn.Counted[hex.EncodeToString(h)] = true
				}
			}
		case strings.HasPrefix(name, "n_"), strings.HasPrefix(name, "b_"), strings.HasPrefix(name, "skip_"):
			var n int64
			if attributevalue.Unmarshal(v, &n) != nil {
				continue
			}
			switch {
			case strings.HasPrefix(name, "n_"):
				rn.Counts.Objects[Class(name[2:])] = n
			case strings.HasPrefix(name, "b_"):
				rn.Counts.Bytes[Class(name[2:])] = n
			default:
				rn.Counts.Skipped[strings.TrimPrefix(name, "skip_")] = n
			}
		case strings.HasPrefix(name, "ex_"):
			var ex []string
			if attributevalue.Unmarshal(v, &ex) == nil {
				rn.Counts.Examples[Class(name[3:])] = ex
			}
		case strings.HasPrefix(name, "why_"):
			var why string
			if attributevalue.Unmarshal(v, &why) == nil {
				rn.Failed[strings.TrimPrefix(name, "why_")] = true
				rn.Reasons = append(rn.Reasons, why)
			}
		}
	}
	slices.Sort(rn.Reasons)
	return rn, nil
}

// claimClose gives the closing of a finished run to the caller holding
// token, unless another holds it within its lease or it is closed.
func (r runs) claimClose(ctx context.Context, k ledger.Key, token string, now time.Time, lease time.Duration) (bool, error) {
	_, err := r.update(ctx, k, "SET closing = :tok, closingAt = :now", nil,
		map[string]types.AttributeValue{":tok": sv(token), ":now": tv(now), ":expired": tv(now.Add(-lease)), ":running": sv(Running)},
		"done >= files AND state = :running AND (attribute_not_exists(closing) OR closingAt < :expired)", types.ReturnValueNone)
	switch {
	case conflict(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("claim the closing of run %s: %w", k.SK, err)
	}
	return true, nil
}

// closed records a run's end, by the holder of its closing.
func (r runs) closed(ctx context.Context, k ledger.Key, token, state, summary string, now time.Time) error {
	_, err := r.update(ctx, k, "SET state = :state, summary = :sum, closedAt = :now REMOVE closing, closingAt", nil,
		map[string]types.AttributeValue{":state": sv(state), ":sum": sv(summary), ":now": tv(now), ":tok": sv(token)},
		"closing = :tok", types.ReturnValueNone)
	if conflict(err) {
		rn, gerr := r.get(ctx, k)
		if gerr == nil && rn.State == state {
			return nil // the answer of a write that landed was lost
		}
		return fmt.Errorf("close run %s: the closing was taken over", k.SK)
	}
	if err != nil {
		return fmt.Errorf("close run %s: %w", k.SK, err)
	}
	return nil
}

// Latest returns a source's newest run, or nil when it has none.
func (r *Reconciler) Latest(ctx context.Context, source string) (*Run, error) {
	if r.opts.Runs == nil {
		return nil, errors.New("reconcile: no run items without Runs")
	}
	return r.runs.latest(ctx, source, nil)
}

// latest returns the newest run of a source that keep accepts (any, when
// nil).
func (r runs) latest(ctx context.Context, source string, keep func(Run) bool) (*Run, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(ledger.RunPrefix + source)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(10),
	}
	return r.first(ctx, in, keep)
}

// previous returns the newest run of a source whose inventory is older
// than created and that read every file: versions it looked up need no
// second look.
func (r runs) previous(ctx context.Context, source string, created time.Time) (*Run, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(r.table),
		KeyConditionExpression: aws.String("pk = :pk AND sk < :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(ledger.RunPrefix + source),
			":sk": sv(runTime(created))},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(10),
	}
	return r.first(ctx, in, func(rn Run) bool { return rn.State == Clean || rn.State == NeedsReplication })
}

// first returns the first run a query finds that keep accepts.
func (r runs) first(ctx context.Context, in *dynamodb.QueryInput, keep func(Run) bool) (*Run, error) {
	p := dynamodb.NewQueryPaginator(r.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("find runs: %w", err)
		}
		for _, raw := range page.Items {
			var k ledger.Key
			_ = attributevalue.UnmarshalMap(raw, &k)
			rn, err := decodeRun(k, raw)
			if err != nil {
				return nil, err
			}
			if keep == nil || keep(rn) {
				return &rn, nil
			}
		}
	}
	return nil, nil
}
