package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/ledger"
)

// The first release took an incident out of the attention index once its
// page went out, so nothing ever checked it again or told its end. Adopt
// brings such items back, a bounded number per sweep, and remembers where
// it stopped in a checkpoint item, so that an existing ledger is adopted
// whole, once, after an upgrade.

var adoptKey = ledger.Key{PK: "MIGRATION#", SK: "adopt-incidents-v2"}

type checkpoint struct {
	Done  bool   `dynamodbav:"done"`
	AtPK  string `dynamodbav:"atPk,omitempty"`
	AtSK  string `dynamodbav:"atSk,omitempty"`
	Found int    `dynamodbav:"found"`
}

// Adopt examines up to limit items of a ledger written by the first
// release, puts the open ones back in the attention index, and returns how
// many it adopted. Once the table is done it costs one read.
func (t *Tracker) Adopt(ctx context.Context, limit int32) (int, error) {
	raw, err := t.windows().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.opts.Ledger.Table()), Key: adoptKey.AV(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("read the adoption checkpoint: %w", err)
	}
	var cp checkpoint
	if err := attributevalue.UnmarshalMap(raw.Item, &cp); err != nil {
		return 0, err
	}
	if cp.Done {
		return 0, nil
	}
	var after *ledger.Key
	if cp.AtPK != "" {
		after = &ledger.Key{PK: cp.AtPK, SK: cp.AtSK}
	}
	adopted := 0
	next, err := t.opts.Ledger.Orphans(ctx, after, limit, func(it ledger.Item) error {
		_, wrote, err := t.opts.Ledger.Change(ctx, it.Key, &it, func(cur *ledger.Item) (ledger.Item, bool, error) {
			if cur == nil || cur.Attn != "" || !cur.Verdict.Open() {
				return ledger.Item{}, false, nil
			}
			next := *cur
			t.opts.Policy.adopt(&next, t.now())
			return next, true, nil
		})
		if wrote {
			adopted++
		}
		return err
	})
	if err != nil {
		return adopted, err
	}
	cp.Found += adopted
	cp.Done, cp.AtPK, cp.AtSK = next == nil, "", ""
	if next != nil {
		cp.AtPK, cp.AtSK = next.PK, next.SK
	}
	item, err := attributevalue.MarshalMap(struct {
		ledger.Key
		checkpoint
	}{adoptKey, cp})
	if err != nil {
		return adopted, err
	}
	if _, err := t.windows().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.opts.Ledger.Table()), Item: item}); err != nil {
		return adopted, fmt.Errorf("save the adoption checkpoint: %w", err)
	}
	if adopted > 0 || cp.Done {
		t.opts.Log.Info("incidents of the first release adopted", "adopted", adopted, "total", cp.Found, "done", cp.Done)
	}
	return adopted, nil
}

// adopt brings an open item of the first release back under this state
// machine: its old states read as the new ones, and it is due now.
func (p Policy) adopt(it *ledger.Item, now time.Time) {
	if it.Alert == legacyDigested {
		it.Alert, it.HeldIn = Held, legacyWindow
	}
	p.schedule(it, now)
	it.AttnDue = ledger.AttnTime(now)
}
