package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestACallItsCallerAbandonsLeavesDynamoDBUp: callers that give up on a
// DynamoDB call, during its upload or while it is served (a timeout, a
// stopped process), do not take the sandbox's DynamoDB down with them:
// dynalite exits on a request aborted while it reads it.
func TestACallItsCallerAbandonsLeavesDynamoDBUp(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	e := start(t, sandbox.Options{DynamoDB: true})
	db := dynamoClient(t, e.sb, 1)
	createTable(t, db, "abandoned", true)
	host := strings.TrimPrefix(e.sb.Endpoint(), "http://")
	body := `{"TableName":"abandoned","Item":{"pk":{"S":"a"},"sk":{"N":"1"},"body":{"S":"` + strings.Repeat("x", 100_000) + `"}}}`
	for i := range 20 {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		// Half the body, then the caller is gone.
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"Authorization: AWS4-HMAC-SHA256 Credential=%s/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: %d\r\n\r\n",
			host, sandbox.AccessKeyID, len(body))
		_, _ = conn.Write([]byte(body[:len(body)/2+i]))
		conn.Close()
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%4)*time.Millisecond)
			defer cancel()
			_, _ = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("abandoned"), Item: map[string]ddbtypes.AttributeValue{
				"pk": str(fmt.Sprint(i)), "sk": &ddbtypes.AttributeValueMemberN{Value: "1"}, "body": str(body)}})
		}()
	}
	wg.Wait()
	// dynalite exits a moment after the abort, when it does; a dead one
	// refuses every retry.
	time.Sleep(100 * time.Millisecond)
	if _, err := dynamoClient(t, e.sb, 5).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("abandoned")}); err != nil {
		t.Fatalf("after abandoned calls, DynamoDB answers: %v", err)
	}
}
