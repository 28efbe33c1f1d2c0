package sandbox_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func sqsClient(t *testing.T, sb *sandbox.Sandbox, region string) *sqs.Client {
	t.Helper()
	cfg, err := sb.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg)
}

func TestSQSAPIFeedsTheSandboxQueues(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	c := sqsClient(t, e.sb, "us-east-1")
	arn, err := e.sb.CreateQueue(sandbox.QueueOptions{Name: "work", MaxReceiveCount: 3})
	if err != nil {
		t.Fatal(err)
	}

	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("work")})
	if err != nil {
		t.Fatalf("get queue url: %v", err)
	}
	url := aws.ToString(got.QueueUrl)
	if want := e.sb.Endpoint() + "/000000000000/work"; url != want || e.sb.QueueURL(arn) != want {
		t.Fatalf("queue url: got %s (QueueURL %s), want %s", url, e.sb.QueueURL(arn), want)
	}

	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil || attrs.Attributes["QueueArn"] != arn || len(attrs.Attributes) != 1 {
		t.Errorf("GetQueueAttributes QueueArn: got %v, %v, want only QueueArn %s", attrs, err, arn)
	}
	all, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{"All"}})
	if err != nil || !strings.Contains(all.Attributes["RedrivePolicy"], `"maxReceiveCount":3`) || all.Attributes["VisibilityTimeout"] != "30" {
		t.Errorf("GetQueueAttributes All: got %v, %v, want the redrive policy and the visibility timeout", all, err)
	}

	// The SDK checks MD5OfMessageBody and MD5OfMessageAttributes itself.
	one, err := c.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(`{"file":"data/1.csv.gz"}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"run":   {DataType: aws.String("String"), StringValue: aws.String("r-1")},
			"files": {DataType: aws.String("Number"), StringValue: aws.String("2")},
		},
	})
	if err != nil {
		t.Fatalf("send message: %v", err)
	}
	if aws.ToString(one.MD5OfMessageAttributes) == "" {
		t.Errorf("SendMessage with attributes answered no MD5OfMessageAttributes")
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String(`{"file":"data/2.csv.gz"}`)},
		{Id: aws.String("bad"), MessageBody: aws.String("nul \x00 inside")},
		{Id: aws.String("late"), MessageBody: aws.String(`{"file":"data/3.csv.gz"}`), DelaySeconds: 1},
	}})
	if err != nil {
		t.Fatalf("send message batch: %v", err)
	}
	if len(batch.Successful) != 2 || len(batch.Failed) != 1 {
		t.Fatalf("batch: got %d successful, %d failed, want 2 and 1", len(batch.Successful), len(batch.Failed))
	}
	if f := batch.Failed[0]; aws.ToString(f.Id) != "bad" || aws.ToString(f.Code) != "InvalidMessageContents" || !f.SenderFault {
		t.Errorf("failed entry: got %s %s sender %v, want bad InvalidMessageContents by the sender", aws.ToString(f.Id), aws.ToString(f.Code), f.SenderFault)
	}
	sum := md5.Sum([]byte(`{"file":"data/2.csv.gz"}`))
	if s := batch.Successful[0]; aws.ToString(s.Id) != "a" || aws.ToString(s.MD5OfMessageBody) != hex.EncodeToString(sum[:]) {
		t.Errorf("successful entry: got %s %s", aws.ToString(s.Id), aws.ToString(s.MD5OfMessageBody))
	}

	// An event source mapping delivers what the API sent, the delayed
	// message after its delay.
	delivered := make(chan events.SQSMessage, 10)
	if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: arn, Function: sandbox.HandlerFunc(
		func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			for _, m := range ev.Records {
				delivered <- m
			}
			return events.SQSEventResponse{}, nil
		})}); err != nil {
		t.Fatal(err)
	}
	byBody := map[string]events.SQSMessage{}
	sandboxtest.Eventually(t, waitLimit, "three messages delivered", func() bool {
		for {
			select {
			case m := <-delivered:
				byBody[m.Body] = m
			default:
				return len(byBody) == 3
			}
		}
	})
	first := byBody[`{"file":"data/1.csv.gz"}`]
	if v := first.MessageAttributes["run"]; v.DataType != "String" || aws.ToString(v.StringValue) != "r-1" || first.Md5OfMessageAttributes != aws.ToString(one.MD5OfMessageAttributes) {
		t.Errorf("delivered attributes: got %+v md5 %s, want run=r-1 and the MD5 SendMessage answered", first.MessageAttributes, first.Md5OfMessageAttributes)
	}
	late := byBody[`{"file":"data/3.csv.gz"}`]
	sentAt, _ := strconv.ParseInt(late.Attributes["SentTimestamp"], 10, 64)
	received, _ := strconv.ParseInt(late.Attributes["ApproximateFirstReceiveTimestamp"], 10, 64)
	if waited := time.Duration(received-sentAt) * time.Millisecond; waited < time.Second {
		t.Errorf("the message with DelaySeconds 1 was received %v after it was sent, want at least 1s", waited)
	}

	if n := callCount(e.sb, "sqs", "SendMessageBatch", arn); n != 1 {
		t.Errorf("Calls: got %d SendMessageBatch on %s, want 1", n, arn)
	}
}

func TestSQSErrorsAreTheOnesTheSDKModels(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	c := sqsClient(t, e.sb, "us-east-1")
	if _, err := e.sb.CreateQueue(sandbox.QueueOptions{Name: "south", Region: "ap-south-1"}); err != nil {
		t.Fatal(err)
	}

	t.Run("a queue that does not exist, or is in another region", func(t *testing.T) {
		for _, name := range []string{"nope", "south"} {
			_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
			var missing *sqstypes.QueueDoesNotExist
			if !errors.As(err, &missing) || apiCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
				t.Errorf("GetQueueUrl %s: got %v (code %q), want QueueDoesNotExist with code AWS.SimpleQueueService.NonExistentQueue", name, err, apiCode(err))
			}
		}
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.sb.Endpoint() + "/000000000000/nope"), MessageBody: aws.String("x")})
		var missing *sqstypes.QueueDoesNotExist
		if !errors.As(err, &missing) {
			t.Errorf("SendMessage to a missing queue: got %v, want QueueDoesNotExist", err)
		}
	})

	south := sqsClient(t, e.sb, "ap-south-1")
	url := e.sb.QueueURL(sandbox.QueueARN("ap-south-1", "south"))
	t.Run("a batch of more than ten", func(t *testing.T) {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := range 11 {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(string(rune('a' + i))), MessageBody: aws.String("x")})
		}
		_, err := south.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		var tooMany *sqstypes.TooManyEntriesInBatchRequest
		if !errors.As(err, &tooMany) {
			t.Errorf("got %v, want TooManyEntriesInBatchRequest", err)
		}
	})
	t.Run("ids repeated in a batch", func(t *testing.T) {
		_, err := south.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []sqstypes.SendMessageBatchRequestEntry{
			{Id: aws.String("same"), MessageBody: aws.String("x")}, {Id: aws.String("same"), MessageBody: aws.String("y")},
		}})
		var dup *sqstypes.BatchEntryIdsNotDistinct
		if !errors.As(err, &dup) {
			t.Errorf("got %v, want BatchEntryIdsNotDistinct", err)
		}
	})
	t.Run("a delay over 15 minutes", func(t *testing.T) {
		_, err := south.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), DelaySeconds: 901})
		if apiCode(err) != "InvalidParameterValue" {
			t.Errorf("got %v, want InvalidParameterValue", err)
		}
	})
	t.Run("an operation the sandbox does not answer", func(t *testing.T) {
		_, err := south.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
		var unsupported *sqstypes.UnsupportedOperation
		if !errors.As(err, &unsupported) || !strings.Contains(err.Error(), "SendMessage") {
			t.Errorf("got %v, want UnsupportedOperation naming what the sandbox answers", err)
		}
	})
	t.Run("a service fault answers in SQS's format", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Service: "sqs", Kind: sandbox.FaultUnavailable})
		defer e.sb.ClearFaultsMatching(sandbox.Fault{Service: "sqs"})
		quick := sqs.NewFromConfig(mustConfig(t, e.sb), func(o *sqs.Options) { o.Region, o.Retryer = "ap-south-1", quickRetryer(1) })
		_, err := quick.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
		if apiCode(err) != "ServiceUnavailable" || httpStatus(err) != 503 {
			t.Errorf("got %v, want a 503 ServiceUnavailable", err)
		}
		if msgs := e.sb.QueueMessages(sandbox.QueueARN("ap-south-1", "south")); len(msgs) != 0 {
			t.Errorf("a refused SendMessage queued %d messages", len(msgs))
		}
	})
}
