package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Storm windows live in the ledger table beside the items, one per bucket
// and window, so alert counting survives across invocations.
const (
	stormPrefix  = "STORM#"
	countPrefix  = "c_"
	maxExamples  = 5
	windowFormat = time.RFC3339
)

func windowKey(bucket string, start time.Time) Key {
	return Key{PK: stormPrefix + bucket, SK: "W#" + start.UTC().Format(windowFormat)}
}

// IsWindow reports whether an item from the attention index is a storm
// window rather than an object version.
func IsWindow(it Item) bool { return strings.HasPrefix(it.PK, stormPrefix) }

// CountAlert adds delta alerts to a bucket's window (-1 takes back one that
// could not be published) and returns how many the window holds.
func (l *Ledger) CountAlert(ctx context.Context, bucket string, start time.Time, delta int) (int, error) {
	res, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table), Key: windowKey(bucket, start).av(),
		UpdateExpression:          aws.String("ADD alerts :n SET #ttl = :ttl"),
		ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: fmt.Sprint(delta)}, ":ttl": &types.AttributeValueMemberN{Value: fmt.Sprint(start.Add(l.retention).Unix())}},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("count an alert for %s: %w", bucket, err)
	}
	var out struct {
		Alerts int `dynamodbav:"alerts"`
	}
	if err := attributevalue.UnmarshalMap(res.Attributes, &out); err != nil {
		return 0, err
	}
	return out.Alerts, nil
}

// Suppress counts an alert held back in a window, under a label such as
// FAILED/DstPutObjectNotPermitted, keeps a few examples, and puts the
// window in the attention index for its digest.
func (l *Ledger) Suppress(ctx context.Context, bucket string, start, end time.Time, label, example string) error {
	k := windowKey(bucket, start)
	upd := expression.Add(expression.Name(countPrefix+label), expression.Value(1)).
		Set(expression.Name("bucket"), expression.Value(bucket)).
		Set(expression.Name("windowEnd"), expression.Value(end.UTC())).
		Set(expression.Name("digest"), expression.IfNotExists(expression.Name("digest"), expression.Value(AlertDue))).
		Set(expression.Name("attn"), expression.Value(fmt.Sprintf("A#%02d", shard(k)))).
		Set(expression.Name("attnSince"), expression.IfNotExists(expression.Name("attnSince"), expression.Value(end.UTC().Format(time.RFC3339Nano))))
	expr, err := expression.NewBuilder().WithUpdate(upd).Build()
	if err != nil {
		return err
	}
	if _, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table), Key: k.av(), UpdateExpression: expr.Update(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}); err != nil {
		return fmt.Errorf("hold back an alert for %s: %w", bucket, err)
	}
	// Examples: only while there are fewer than maxExamples.
	ex := expression.Set(expression.Name("examples"), expression.ListAppend(expression.IfNotExists(expression.Name("examples"), expression.Value([]string{})), expression.Value([]string{example})))
	cond := expression.AttributeNotExists(expression.Name("examples")).Or(expression.Size(expression.Name("examples")).LessThan(expression.Value(maxExamples)))
	err = l.conditional(ctx, k, ex, cond)
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("keep an example for %s: %w", bucket, err)
	}
	return nil
}

// Window is a storm window's counts.
type Window struct {
	Key      Key
	Bucket   string
	Start    time.Time
	End      time.Time
	Counts   map[string]int
	Examples []string
	Digest   string
}

// ReadWindow reads a storm window named by an attention-index item.
func (l *Ledger) ReadWindow(ctx context.Context, k Key) (Window, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: k.av(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Window{}, fmt.Errorf("read storm window %s: %w", k.SK, err)
	}
	var raw struct {
		Bucket    string    `dynamodbav:"bucket"`
		WindowEnd time.Time `dynamodbav:"windowEnd"`
		Examples  []string  `dynamodbav:"examples"`
		Digest    string    `dynamodbav:"digest"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &raw); err != nil {
		return Window{}, err
	}
	w := Window{Key: k, Bucket: raw.Bucket, End: raw.WindowEnd, Examples: raw.Examples, Digest: raw.Digest, Counts: map[string]int{}}
	w.Start, _ = time.Parse(windowFormat, strings.TrimPrefix(k.SK, "W#"))
	for name, v := range out.Item {
		if label, ok := strings.CutPrefix(name, countPrefix); ok {
			var n int
			if err := attributevalue.Unmarshal(v, &n); err == nil {
				w.Counts[label] = n
			}
		}
	}
	return w, nil
}

// MarkDigestSent records that a window's digest went out, once.
func (l *Ledger) MarkDigestSent(ctx context.Context, k Key) (bool, error) {
	upd := expression.Set(expression.Name("digest"), expression.Value(AlertSent)).
		Remove(expression.Name("attn")).Remove(expression.Name("attnSince"))
	err := l.conditional(ctx, k, upd, expression.Name("digest").Equal(expression.Value(AlertDue)))
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}
