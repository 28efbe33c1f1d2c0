package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// recorder is an in-process function that fails the messages whose body
// names a failure, and remembers every batch it saw.
type recorder struct {
	mu      sync.Mutex
	batches [][]events.SQSMessage
	reply   func(ev events.SQSEvent) (events.SQSEventResponse, error)
}

func (r *recorder) Invoke(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	r.batches = append(r.batches, ev.Records)
	r.mu.Unlock()
	return r.reply(ev)
}

func (r *recorder) seen() [][]events.SQSMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]events.SQSMessage{}, r.batches...)
}

func failBodies(bad string) func(ev events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ev events.SQSEvent) (events.SQSEventResponse, error) {
		var out events.SQSEventResponse
		for _, m := range ev.Records {
			if strings.Contains(m.Body, bad) {
				out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return out, nil
	}
}

func sendAll(t *testing.T, e *env, queue string, n int, body func(i int) string) {
	t.Helper()
	mustBucket(t, e.src, "src", srcRegion, true)
	if _, err := e.src.PutBucketNotificationConfiguration(context.Background(), notifyAll("src", queue)); err != nil {
		t.Fatal(err)
	}
	e.sb.ReceiveMessages(queue, 10) // drop the test event
	for i := range n {
		put(t, e.src, "src", body(i), "x")
	}
}

func TestEventSourceMappingHonoursPartialBatchFailures(t *testing.T) {
	e := start(t, sandbox.Options{})
	queue, err := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", VisibilityTimeout: 50 * time.Millisecond, MaxReceiveCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	sendAll(t, e, queue, 3, func(i int) string { return []string{"ok-1", "poison", "ok-2"}[i] })
	fn := &recorder{reply: failBodies("poison")}
	if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: fn, BatchSize: 10}); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Eventually(t, waitLimit, "the poison message in the DLQ", func() bool { return len(e.sb.DeadLetters()) == 1 })

	batches := fn.seen()
	if len(batches) != 2 || len(batches[0]) != 3 || len(batches[1]) != 1 {
		t.Fatalf("batches: got %d (%v), want a batch of 3 and a retry of 1", len(batches), batches)
	}
	retry := batches[1][0]
	if !strings.Contains(retry.Body, "poison") || retry.Attributes["ApproximateReceiveCount"] != "2" {
		t.Errorf("retry: got body %s receive count %s, want the poison message received twice", retry.Body, retry.Attributes["ApproximateReceiveCount"])
	}
	if retry.EventSourceARN != queue || retry.EventSource != "aws:sqs" || retry.AWSRegion != "us-east-1" {
		t.Errorf("record source: got %s %s %s", retry.EventSourceARN, retry.EventSource, retry.AWSRegion)
	}
	dl := e.sb.DeadLetters()[0]
	if dl.Source != queue || dl.ReceiveCount != 2 {
		t.Errorf("dead letter: got source %s receive count %d", dl.Source, dl.ReceiveCount)
	}
	if left := e.sb.QueueMessages(queue); len(left) != 0 {
		t.Errorf("the source queue still holds %d messages", len(left))
	}
}

func TestEventSourceMappingRetriesAWholeBatch(t *testing.T) {
	cases := []struct {
		name  string
		reply func(ev events.SQSEvent) (events.SQSEventResponse, error)
	}{
		{"when the function returns an error", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{}, errors.New("boom")
		}},
		{"when the function panics", func(events.SQSEvent) (events.SQSEventResponse, error) { panic("boom") }},
		{"when a failure names no message of the batch", func(events.SQSEvent) (events.SQSEventResponse, error) {
			return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "not-a-message"}}}, nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := start(t, sandbox.Options{})
			queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", VisibilityTimeout: 30 * time.Millisecond, MaxReceiveCount: 3})
			sendAll(t, e, queue, 2, func(i int) string { return []string{"a", "b"}[i] })
			fn := &recorder{reply: c.reply}
			if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: fn}); err != nil {
				t.Fatal(err)
			}
			sandboxtest.Eventually(t, waitLimit, "both messages dead-lettered", func() bool { return len(e.sb.DeadLetters()) == 2 })
			for i, b := range fn.seen() {
				if len(b) != 2 {
					t.Errorf("batch %d: got %d messages, want the whole batch of 2", i, len(b))
				}
			}
			if got := len(fn.seen()); got != 3 {
				t.Errorf("got %d deliveries, want 3 (maxReceiveCount)", got)
			}
			if bs := e.sb.Batches(queue); len(bs) == 0 || bs[0].Err == nil {
				t.Errorf("batches: got %+v, want a recorded error", bs)
			}
		})
	}
}

func TestQueueDeliveryDelay(t *testing.T) {
	e := start(t, sandbox.Options{})
	const delay = time.Second
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", Delay: delay})
	sendAll(t, e, queue, 1, func(int) string { return "later" })
	if got := e.sb.ReceiveMessages(queue, 10); len(got) != 0 {
		t.Fatalf("got %d messages before the delivery delay, want 0", len(got))
	}
	// The test event sent when the configuration was saved is delayed too.
	var got []sandbox.Message
	sandboxtest.Eventually(t, waitLimit, "the test event and the object after the delay", func() bool {
		msgs := e.sb.ReceiveMessages(queue, 10)
		received := time.Now()
		for i, m := range msgs {
			if waited := received.Sub(m.SentAt); waited < delay {
				t.Errorf("message %d received %v after it was sent, want at least the %v delay", len(got)+i+1, waited, delay)
			}
		}
		got = append(got, msgs...)
		return len(got) >= 2
	})
	if len(got) != 2 || !strings.Contains(got[1].Body, "later") {
		t.Errorf("got %d messages after the delay (%v), want the test event and the object", len(got), bodies(got))
	}
}

// buildFunction compiles a function in testdata into a bootstrap binary.
func buildFunction(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, msg)
	}
	return out
}

func TestMappingDrivesABootstrapUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.RIE)
	e := start(t, sandbox.Options{})
	fn, err := sandbox.StartEmulated(context.Background(), sandbox.EmulatorOptions{Bootstrap: buildFunction(t, "sqsfunction")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Close() })

	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", VisibilityTimeout: time.Second, MaxReceiveCount: 2})
	sendAll(t, e, queue, 3, func(i int) string { return []string{"fine-1", "poison", "fine-2"}[i] })
	if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: fn}); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Eventually(t, waitLimit, "the poison message in the DLQ", func() bool { return len(e.sb.DeadLetters()) == 1 })
	if dl := e.sb.DeadLetters()[0]; !strings.Contains(dl.Body, "poison") {
		t.Errorf("dead-lettered: got %s, want the poison message", dl.Body)
	}
	if left := e.sb.QueueMessages(queue); len(left) != 0 {
		t.Errorf("the queue still holds %d messages", len(left))
	}
	bs := e.sb.Batches(queue)
	if len(bs) < 2 || bs[0].Size != 3 || bs[0].Failed != 1 || bs[0].Err != nil {
		t.Errorf("batches: got %+v, want a batch of 3 with one item failure first", bs)
	}

	t.Run("a function error fails the whole batch", func(t *testing.T) {
		crashQueue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "crashing", VisibilityTimeout: time.Second, MaxReceiveCount: 1})
		fn2, err := sandbox.StartEmulated(context.Background(), sandbox.EmulatorOptions{Bootstrap: buildFunction(t, "sqsfunction")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fn2.Close() })
		mustBucket(t, e.src, "crash-src", srcRegion, true)
		if _, err := e.src.PutBucketNotificationConfiguration(context.Background(), notifyAll("crash-src", crashQueue)); err != nil {
			t.Fatal(err)
		}
		put(t, e.src, "crash-src", "crash", "x")
		if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: crashQueue, Function: fn2}); err != nil {
			t.Fatal(err)
		}
		sandboxtest.Eventually(t, waitLimit, "a failed batch", func() bool {
			for _, b := range e.sb.Batches(crashQueue) {
				if b.Err != nil && strings.Contains(b.Err.Error(), "crash requested") {
					return true
				}
			}
			return false
		})
	})
}

func TestSNSPublishIsRecorded(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	cfg, _ := e.sb.AWSConfig(ctx, "eu-west-1")
	c := sns.NewFromConfig(cfg)
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if got := aws.ToString(topic.TopicArn); got != "arn:aws:sns:eu-west-1:000000000000:alerts" {
		t.Errorf("topic ARN: got %s", got)
	}
	_, err = c.Publish(ctx, &sns.PublishInput{
		TopicArn: topic.TopicArn, Subject: aws.String("Replication FAILED: src"), Message: aws.String("body <&>"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"severity": {DataType: aws.String("String"), StringValue: aws.String("high")}},
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	msgs := e.sb.SNSMessages()
	if len(msgs) != 1 || msgs[0].Subject != "Replication FAILED: src" || msgs[0].Body != "body <&>" || msgs[0].Attributes["severity"] != "high" {
		t.Errorf("recorded: got %+v", msgs)
	}
	_, err = c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:000000000000:nope"), Message: aws.String("x")})
	var nf *snstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("publish to a missing topic: got %v, want NotFoundException", err)
	}
}

func TestControlAPI(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctl := e.sb.ControlURL()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ctl+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	mustBucket(t, e.src, "src", srcRegion, true)
	_, _ = e.src.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("missing")})

	if code, body := do("POST", "/faults", `{"bucket":"dst","kind":"deny","reason":"DstKmsKeyNotFound"}`); code != 201 {
		t.Errorf("POST /faults: got %d %s", code, body)
	}
	if f := e.sb.Faults(); len(f) != 1 || f[0].Reason != "DstKmsKeyNotFound" {
		t.Errorf("faults after POST: %+v", f)
	}
	for _, bad := range []string{`{"bucket":"dst","kind":"meteor"}`, `{"kind":"deny"}`, `{"bucket":"b","kind":"slowdown","share":2}`, `not json`, `{"bucket":"b","kind":"deny","colour":"red"}`} {
		if code, body := do("POST", "/faults", bad); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("POST /faults %s: got %d %s, want 400 with an error", bad, code, body)
		}
	}
	if code, _ := do("DELETE", "/faults", ""); code != 204 || len(e.sb.Faults()) != 0 {
		t.Errorf("DELETE /faults: got %d, faults left %v", code, e.sb.Faults())
	}
	code, body := do("GET", "/calls", "")
	var calls []sandbox.Call
	if err := json.Unmarshal([]byte(body), &calls); code != 200 || err != nil {
		t.Fatalf("GET /calls: %d %s", code, body)
	}
	found := false
	for _, c := range calls {
		if c.Service == "s3" && c.Operation == "HeadObject" && c.Resource == "src" && c.Count == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("GET /calls: no HeadObject on src in %s", body)
	}
	if code, body := do("GET", "/sns/messages", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /sns/messages: got %d %s, want an empty list", code, body)
	}
	if code, body := do("GET", "/dlq", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /dlq: got %d %s, want an empty list", code, body)
	}
	if code, body := do("POST", "/queues", `{"name":"from-script","maxReceiveCount":3}`); code != 201 || !strings.Contains(body, "arn:aws:sqs:us-east-1:000000000000:from-script") {
		t.Errorf("POST /queues: got %d %s", code, body)
	}
}

func TestDynamoDBThroughDynalite(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	e := start(t, sandbox.Options{DynamoDB: true})
	ctx := context.Background()
	cfg, _ := e.sb.AWSConfig(ctx, "us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("ledger"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("ledger")}, 10*time.Second,
		func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 20 * time.Millisecond }); err != nil {
		t.Fatalf("wait for table: %v", err)
	}
	put := func() error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("ledger"), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("put item: %v", err)
	}
	var cond *ddbtypes.ConditionalCheckFailedException
	if err := put(); !errors.As(err, &cond) {
		t.Errorf("second conditional put: got %v, want ConditionalCheckFailedException", err)
	}
	n := 0
	for _, c := range e.sb.Calls() {
		if c.Service == "dynamodb" && c.Operation == "PutItem" && c.Resource == "ledger" {
			n = c.Count
		}
	}
	if n != 2 {
		t.Errorf("counted %d PutItem calls on ledger, want 2", n)
	}
}
