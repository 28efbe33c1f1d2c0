package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

const configPrefix = "CONFIG#"

// ConfigChange is configuration evidence: what the setup custom resource
// did to a bucket's replication, and whether it worked.
type ConfigChange struct {
	Bucket      string    `dynamodbav:"bucket"`
	RequestType string    `dynamodbav:"requestType"`
	Status      string    `dynamodbav:"status"` // SUCCESS or FAILED
	Reason      string    `dynamodbav:"reason,omitempty"`
	RuleIDs     []string  `dynamodbav:"ruleIds,omitempty"`
	Rules       string    `dynamodbav:"rules,omitempty"` // the rules written, as JSON
	StackID     string    `dynamodbav:"stackId"`
	PhysicalID  string    `dynamodbav:"physicalId,omitempty"`
	At          time.Time `dynamodbav:"eventTime"`
}

// IsConfig reports whether an item from a period query is configuration
// evidence rather than an object version.
func IsConfig(it Item) bool { return strings.HasPrefix(it.PK, configPrefix) }

// PutItem is the call RecordConfig makes.
type PutItem interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// ConfigRecorder writes configuration evidence into the ledger table.
type ConfigRecorder struct {
	db        PutItem
	table     string
	retention time.Duration
}

// NewConfigRecorder returns a recorder on the ledger table.
func NewConfigRecorder(db PutItem, table string, retention time.Duration) *ConfigRecorder {
	return &ConfigRecorder{db: db, table: table, retention: retention}
}

// RecordConfig keeps one change, findable by day like every ledger item.
func (r *ConfigRecorder) RecordConfig(ctx context.Context, c ConfigChange) error {
	k := Key{PK: configPrefix + c.Bucket, SK: c.At.UTC().Format(time.RFC3339Nano) + "#" + c.RequestType}
	item, err := attributevalue.MarshalMap(struct {
		Key
		ConfigChange
		Kind     string `dynamodbav:"kind"`
		Day      string `dynamodbav:"day"`
		DayShard string `dynamodbav:"dayShard"`
		TTL      int64  `dynamodbav:"ttl"`
	}{k, c, "config", c.At.UTC().Format(time.DateOnly), fmt.Sprintf("%s#%02d", c.At.UTC().Format(time.DateOnly), Shard(k)), c.At.Add(r.retention).Unix()})
	if err != nil {
		return err
	}
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: item}); err != nil {
		return fmt.Errorf("record configuration evidence for %s: %w", c.Bucket, err)
	}
	return nil
}
