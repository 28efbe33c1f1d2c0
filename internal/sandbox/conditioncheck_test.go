package sandbox_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func TestConditionCheckFailureReturnsTheOldItem(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	e := start(t, sandbox.Options{DynamoDB: true})
	ctx := context.Background()
	db := dynamoClient(t, e.sb, 1)
	// A composite key, so that the PutItem case must cut the key (pk and
	// sk) out of the item by the table's key schema.
	createTable(t, db, "incidents", true)
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": str(pk), "sk": &ddbtypes.AttributeValueMemberN{Value: "1"}}
	}
	item := func(pk, state string) map[string]ddbtypes.AttributeValue {
		it := key(pk)
		it["state"] = str(state)
		return it
	}
	allOld := ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	// dynalite accepts the parameter: a write carrying it whose condition
	// holds goes through.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("incidents"), Item: item("open", "OPEN"),
		ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: allOld}); err != nil {
		t.Fatalf("a conditional put that holds: %v", err)
	}

	cases := []struct {
		name     string
		call     func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error
		wantItem bool
	}{
		{"PutItem on an existing item", func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("incidents"), Item: item("open", "NEW"),
				ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: rv})
			return err
		}, true},
		{"PutItem on a missing item", func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("incidents"), Item: item("missing", "NEW"),
				ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValuesOnConditionCheckFailure: rv})
			return err
		}, false},
		{"UpdateItem on an existing item", func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("incidents"), Key: key("open"),
				UpdateExpression:                    aws.String("SET #s = :resolved"),
				ConditionExpression:                 aws.String("#s = :paged"),
				ExpressionAttributeNames:            map[string]string{"#s": "state"},
				ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":resolved": str("RESOLVED"), ":paged": str("PAGED")},
				ReturnValuesOnConditionCheckFailure: rv})
			return err
		}, true},
		{"UpdateItem on a missing item", func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("incidents"), Key: key("missing"),
				UpdateExpression:                    aws.String("SET #s = :resolved"),
				ConditionExpression:                 aws.String("attribute_exists(pk)"),
				ExpressionAttributeNames:            map[string]string{"#s": "state"},
				ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":resolved": str("RESOLVED")},
				ReturnValuesOnConditionCheckFailure: rv})
			return err
		}, false},
		{"DeleteItem on an existing item", func(rv ddbtypes.ReturnValuesOnConditionCheckFailure) error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("incidents"), Key: key("open"),
				ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: rv})
			return err
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cond *ddbtypes.ConditionalCheckFailedException
			if err := c.call(allOld); !errors.As(err, &cond) {
				t.Fatalf("got %v, want ConditionalCheckFailedException", err)
			}
			state, _ := cond.Item["state"].(*ddbtypes.AttributeValueMemberS)
			switch {
			case c.wantItem && (state == nil || state.Value != "OPEN" || len(cond.Item) != 3):
				t.Errorf("with ALL_OLD: got item %+v, want the stored one (pk, sk, state OPEN)", cond.Item)
			case !c.wantItem && cond.Item != nil:
				t.Errorf("with ALL_OLD on a missing item: got item %+v, want none", cond.Item)
			}
			if err := c.call(""); !errors.As(err, &cond) || cond.Item != nil {
				t.Errorf("without the parameter: got %v with item %+v, want the exception without an item", err, cond.Item)
			}
		})
	}
}
