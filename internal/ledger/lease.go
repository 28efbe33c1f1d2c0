package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A lease is one item in the ledger's table that one holder at a time
// has, until an expiry: the sweeper's "one sweep at a time", whose states
// package sweep writes down. It is no evidence and sits in no index.
//
// Its ttl is never before its expiry, so DynamoDB's deletion, however
// late, only ever removes a lease already free: correctness never waits
// on it.

const leasePrefix = "LEASE#"

// leaseLinger is how long a lease item stays after its expiry or release,
// for whoever looks at who held it last, before its ttl removes it.
const leaseLinger = 24 * time.Hour

// LeaseKey is the item of the lease name.
func LeaseKey(name string) Key { return Key{PK: leasePrefix + name, SK: "LEASE"} }

// LeaseState is a lease as stored. Holder is empty when the lease is
// free: never taken, released, or removed by its ttl.
type LeaseState struct {
	Holder string
	// Since is when Holder took the lease; Until, when it expires.
	Since, Until time.Time
}

// HeldAt reports whether someone holds the lease at t.
func (s LeaseState) HeldAt(t time.Time) bool { return s.Holder != "" && t.Before(s.Until) }

// leaseItem is the stored lease. The expiry is a number, in
// milliseconds, so that a condition compares it.
type leaseItem struct {
	Key
	Holder     string `dynamodbav:"holder,omitempty"`
	UntilMilli int64  `dynamodbav:"leaseUntil,omitempty"`
	Since      string `dynamodbav:"takenAt,omitempty"`
	LastHolder string `dynamodbav:"lastHolder,omitempty"`
	ReleasedAt string `dynamodbav:"releasedAt,omitempty"`
	TTL        int64  `dynamodbav:"ttl"`
}

func (it leaseItem) state() LeaseState {
	s := LeaseState{Holder: it.Holder}
	if it.Holder != "" {
		s.Until = time.UnixMilli(it.UntilMilli).UTC()
		s.Since, _ = time.Parse(time.RFC3339Nano, it.Since)
	}
	return s
}

// Lease is a named lease in the ledger's table.
type Lease struct {
	l   *Ledger
	key Key
}

// Lease returns the lease name, in the ledger's table.
func (l *Ledger) Lease(name string) *Lease { return &Lease{l: l, key: LeaseKey(name)} }

// ErrLeaseHeld is returned by Take when another holder's lease has not
// expired.
var ErrLeaseHeld = errors.New("ledger: the lease is held")

// Take takes the lease for token until until, in one conditional write
// that lands only if, at now, the lease is free (no item, or released),
// expired, or token's own already. The last is how a write whose answer
// was lost is known to have landed: tried again with the same token, by
// the SDK or the caller, it finds its own lease and succeeds.
//
// It returns the lease as it is now: token's; or, with ErrLeaseHeld, the
// other holder's. Any other error is the call's, and the write may then
// have landed.
func (le *Lease) Take(ctx context.Context, token string, now, until time.Time) (LeaseState, error) {
	if token == "" {
		return LeaseState{}, errors.New("ledger: a lease needs a holder token")
	}
	it := leaseItem{Key: le.key, Holder: token, UntilMilli: until.UnixMilli(), Since: now.UTC().Format(time.RFC3339Nano), TTL: ttlAfter(until)}
	err := le.put(ctx, it, "attribute_not_exists(pk) OR attribute_not_exists(holder) OR leaseUntil <= :now OR holder = :tok", map[string]types.AttributeValue{
		":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.UnixMilli())},
		":tok": &types.AttributeValueMemberS{Value: token},
	})
	var held *heldError
	if errors.As(err, &held) {
		return held.state, ErrLeaseHeld
	}
	if err != nil {
		return LeaseState{}, fmt.Errorf("take lease %s: %w", le.key.PK, err)
	}
	return it.state(), nil
}

// Release frees the lease if token holds it, in one conditional write, so
// that the next taker need not wait for its expiry. A lease token no
// longer holds (released already, a release whose answer was lost and
// that was tried again, or expired and taken by another) is left as it
// is. It returns the lease as it is now: free, or another's.
func (le *Lease) Release(ctx context.Context, token string, now time.Time) (LeaseState, error) {
	it := leaseItem{Key: le.key, LastHolder: token, ReleasedAt: now.UTC().Format(time.RFC3339Nano), TTL: ttlAfter(now)}
	err := le.put(ctx, it, "holder = :tok", map[string]types.AttributeValue{":tok": &types.AttributeValueMemberS{Value: token}})
	var held *heldError
	switch {
	case errors.As(err, &held):
		return held.state, nil
	case err != nil:
		return LeaseState{}, fmt.Errorf("release lease %s: %w", le.key.PK, err)
	}
	return LeaseState{}, nil
}

// State reads the lease, consistently.
func (le *Lease) State(ctx context.Context) (LeaseState, error) {
	out, err := le.l.opts.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(le.l.opts.Table), Key: le.key.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return LeaseState{}, fmt.Errorf("read lease %s: %w", le.key.PK, err)
	}
	return decodeLease(out.Item)
}

// heldError is a lease write's failed condition, with the lease as it is.
type heldError struct{ state LeaseState }

func (*heldError) Error() string { return "the lease is not as the write expected" }

// put writes the whole lease item if cond holds. On a failed condition it
// returns a heldError with the lease as DynamoDB found it.
func (le *Lease) put(ctx context.Context, it leaseItem, cond string, values map[string]types.AttributeValue) error {
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("encode lease: %w", err)
	}
	names := map[string]string{}
	cond = Placeholders(cond, names)
	_, err = le.l.opts.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(le.l.opts.Table), Item: av,
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return err
	}
	if ccf.Item == nil {
		// A DynamoDB that does not return the old item: read it.
		s, err := le.State(ctx)
		if err != nil {
			return err
		}
		return &heldError{state: s}
	}
	s, err := decodeLease(ccf.Item)
	if err != nil {
		return err
	}
	return &heldError{state: s}
}

func decodeLease(raw map[string]types.AttributeValue) (LeaseState, error) {
	if raw == nil {
		return LeaseState{}, nil
	}
	var it leaseItem
	if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
		return LeaseState{}, fmt.Errorf("decode lease: %w", err)
	}
	return it.state(), nil
}

// ttlAfter is a lease item's ttl: never before t, rounded up to the second.
func ttlAfter(t time.Time) int64 {
	return t.Add(leaseLinger).Unix() + 1
}
