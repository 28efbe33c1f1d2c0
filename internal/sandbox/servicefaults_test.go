package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// dynamoClient is a DynamoDB client on the sandbox that makes up to
// attempts attempts per call, with backoffs of a few milliseconds, so a
// test sees the SDK's retries without waiting for them.
func dynamoClient(t *testing.T, sb *sandbox.Sandbox, attempts int) *dynamodb.Client {
	t.Helper()
	return dynamodb.NewFromConfig(mustConfig(t, sb), func(o *dynamodb.Options) { o.Retryer = quickRetryer(attempts) })
}

func quickRetryer(attempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.MaxBackoff = 5 * time.Millisecond
		o.RateLimiter = ratelimit.None
	})
}

// createTable creates a table keyed by the string pk, and sk (a number)
// when composite, and waits until it is ACTIVE.
func createTable(t *testing.T, db *dynamodb.Client, name string, composite bool) {
	t.Helper()
	ctx := context.Background()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	}
	if composite {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeN})
		in.KeySchema = append(in.KeySchema, ddbtypes.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange})
	}
	if _, err := db.CreateTable(ctx, in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 10*time.Second,
		func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 20 * time.Millisecond }); err != nil {
		t.Fatalf("wait for table %s: %v", name, err)
	}
}

func str(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func putPK(ctx context.Context, db *dynamodb.Client, table, pk string) error {
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"pk": str(pk)}})
	return err
}

// stored reports whether an item is in the table, with a consistent read.
func stored(t *testing.T, db *dynamodb.Client, table, pk string) bool {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get %s: %v", pk, err)
	}
	return out.Item != nil
}

func callCount(sb *sandbox.Sandbox, service, op, resource string) int {
	for _, c := range sb.Calls() {
		if c.Service == service && c.Operation == op && c.Resource == resource {
			return c.Count
		}
	}
	return 0
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func inject(t *testing.T, sb *sandbox.Sandbox, f sandbox.Fault) {
	t.Helper()
	if err := sb.InjectFault(f); err != nil {
		t.Fatalf("inject %+v: %v", f, err)
	}
	t.Cleanup(func() { sb.ClearFaults("") })
}

// result is what a call made in the background returned.
func inBackground(fn func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return done
}

func TestDynamoDBFaults(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	e := start(t, sandbox.Options{DynamoDB: true})
	ctx := context.Background()
	once, thrice := dynamoClient(t, e.sb, 1), dynamoClient(t, e.sb, 3)
	createTable(t, once, "ledger", false)

	t.Run("unavailable refuses every attempt with a 503 and writes nothing", func(t *testing.T) {
		e.sb.ResetCalls()
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultUnavailable})
		err := putPK(ctx, thrice, "ledger", "refused")
		if apiCode(err) != "ServiceUnavailable" || httpStatus(err) != http.StatusServiceUnavailable {
			t.Fatalf("got %v, want ServiceUnavailable with HTTP 503", err)
		}
		if n := callCount(e.sb, "dynamodb", "PutItem", "ledger"); n != 3 {
			t.Errorf("counted %d PutItem attempts, want the SDK's 3", n)
		}
		if _, err := e.src.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
			t.Errorf("S3 during a DynamoDB outage: %v", err)
		}
		e.sb.ClearFaultsMatching(sandbox.Fault{Service: "dynamodb"})
		if stored(t, once, "ledger", "refused") {
			t.Error("a refused PutItem reached dynalite")
		}
	})

	t.Run("unavailable with millis lifts itself", func(t *testing.T) {
		began := time.Now()
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultUnavailable, Millis: 300})
		if err := putPK(ctx, once, "ledger", "early"); apiCode(err) != "ServiceUnavailable" {
			t.Fatalf("during the outage: got %v, want ServiceUnavailable", err)
		}
		sandboxtest.Eventually(t, waitLimit, "the outage to lift itself", func() bool { return len(e.sb.Faults()) == 0 })
		if err := putPK(ctx, once, "ledger", "after"); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
		if d := time.Since(began); d < 300*time.Millisecond {
			t.Errorf("the outage lifted after %v, want 300ms", d)
		}
	})

	t.Run("hang holds a call until its client gives up, and it never lands", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultHang})
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if err := putPK(short, thrice, "ledger", "abandoned"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the client's deadline", err)
		}
		sandboxtest.Eventually(t, waitLimit, "the sandbox to see the client go", func() bool { return e.sb.Held() == 0 })
		e.sb.ClearFaults("")
		if err := putPK(ctx, once, "ledger", "next"); err != nil {
			t.Fatalf("after the hang: %v", err)
		}
		if stored(t, once, "ledger", "abandoned") {
			t.Error("a call whose client gave up landed when the hang lifted")
		}
	})

	t.Run("a held call is served late when the hang is lifted", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultHang})
		done := inBackground(func() error { return putPK(ctx, once, "ledger", "late") })
		sandboxtest.Eventually(t, waitLimit, "the call to be held", func() bool { return e.sb.Held() == 1 })
		select {
		case err := <-done:
			t.Fatalf("a call returned during the hang: %v", err)
		default:
		}
		e.sb.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultHang})
		if err := <-done; err != nil {
			t.Fatalf("the held call: %v", err)
		}
		if !stored(t, once, "ledger", "late") {
			t.Error("the held call did not land once served")
		}
	})

	t.Run("hang with millis releases held calls when it lifts itself", func(t *testing.T) {
		began := time.Now()
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultHang, Millis: 300})
		bounded, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := putPK(bounded, once, "ledger", "released"); err != nil {
			t.Fatalf("got %v, want the call served when the hang lifts", err)
		}
		if d := time.Since(began); d < 300*time.Millisecond {
			t.Errorf("served after %v, want at least the 300ms hang", d)
		}
	})

	t.Run("lose lands the write and answers 500", func(t *testing.T) {
		e.sb.ResetCalls()
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose})
		err := putPK(ctx, once, "ledger", "lost")
		if apiCode(err) != "InternalServerError" || httpStatus(err) != http.StatusInternalServerError {
			t.Fatalf("got %v, want InternalServerError with HTTP 500", err)
		}
		if !stored(t, once, "ledger", "lost") {
			t.Error("the write whose answer was lost did not land")
		}
		if f := e.sb.Faults(); len(f) != 0 {
			t.Errorf("faults after the lose fired: %+v, want none", f)
		}
	})

	t.Run("after a lost answer the SDK's retry is what answers", func(t *testing.T) {
		e.sb.ResetCalls()
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose})
		if err := putPK(ctx, thrice, "ledger", "retried"); err != nil {
			t.Fatalf("an unconditional put retried through a lost answer: %v", err)
		}
		if n := callCount(e.sb, "dynamodb", "PutItem", "ledger"); n != 2 {
			t.Errorf("counted %d PutItem attempts, want 2: the lost one and the retry", n)
		}

		// A conditional create retried meets its own first write.
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose})
		_, err := thrice.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("ledger"), Item: map[string]ddbtypes.AttributeValue{"pk": str("once"), "by": str("first-attempt")},
			ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var cond *ddbtypes.ConditionalCheckFailedException
		if !errors.As(err, &cond) {
			t.Fatalf("got %v, want ConditionalCheckFailedException from the retry", err)
		}
		// The old item tells the caller the write that blocked it was its own.
		if by, _ := cond.Item["by"].(*ddbtypes.AttributeValueMemberS); by == nil || by.Value != "first-attempt" {
			t.Errorf("the old item: got %+v, want the first attempt's write", cond.Item)
		}
	})

	t.Run("lose after n lets n calls through first", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultLose, After: 1})
		if err := putPK(ctx, once, "ledger", "first"); err != nil {
			t.Fatalf("the first call: %v", err)
		}
		if err := putPK(ctx, once, "ledger", "second"); apiCode(err) != "InternalServerError" {
			t.Fatalf("the second call: got %v, want InternalServerError", err)
		}
		if !stored(t, once, "ledger", "second") {
			t.Error("the second write did not land")
		}
	})

	t.Run("crash lets After calls land, across services, and no later one", func(t *testing.T) {
		mustBucket(t, e.src, "crash-bkt", srcRegion, true)
		e.sb.ResetCalls()
		inject(t, e.sb, sandbox.Fault{Kind: sandbox.FaultCrash, After: 2})
		if err := putPK(ctx, thrice, "ledger", "c1"); err != nil {
			t.Fatalf("call 1: %v", err)
		}
		if _, err := e.src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash-bkt"), Key: aws.String("c2"), Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("call 2: %v", err)
		}
		held := inBackground(func() error { return putPK(ctx, thrice, "ledger", "c3") })
		sandboxtest.Eventually(t, waitLimit, "call 3 to be held", func() bool { return e.sb.Held() == 1 })
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := e.src.PutObject(short, &s3.PutObjectInput{Bucket: aws.String("crash-bkt"), Key: aws.String("c4"), Body: strings.NewReader("x")})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call 4: got %v, want the client's deadline", err)
		}
		sandboxtest.Eventually(t, waitLimit, "call 4 to be let go", func() bool { return e.sb.Held() == 1 })

		e.sb.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultCrash})
		if err := <-held; err == nil {
			t.Fatal("call 3 got an answer after the crash")
		}
		if !stored(t, once, "ledger", "c1") {
			t.Error("call 1, before the crash, did not land")
		}
		if stored(t, once, "ledger", "c3") {
			t.Error("call 3, after the crash, landed: neither it nor its SDK retries may")
		}
		head(t, e.src, "crash-bkt", "c2", "")
		if _, err := e.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("crash-bkt"), Key: aws.String("c4")}); apiCode(err) != "NotFound" {
			t.Errorf("call 4, after the crash: HEAD got %v, want NotFound", err)
		}
		// Call 3 was attempted three times: held, then two SDK retries that
		// the sandbox dropped as retries of a call the crash swallowed.
		if n := callCount(e.sb, "dynamodb", "PutItem", "ledger"); n != 4 {
			t.Errorf("counted %d PutItem attempts, want 4: call 1, and call 3 with its two retries", n)
		}
	})

	t.Run("crash with After 0 stops the very next call", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Kind: sandbox.FaultCrash})
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if err := putPK(short, once, "ledger", "never"); err == nil {
			t.Fatal("the call after the crash got an answer")
		}
		sandboxtest.Eventually(t, waitLimit, "the call to be let go", func() bool { return e.sb.Held() == 0 })
		e.sb.ClearFaults("")
		if stored(t, once, "ledger", "never") {
			t.Error("the call after the crash landed")
		}
	})
}

func TestServiceFaultsOnSNSAndS3AnswerInTheirOwnFormat(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	c := sns.NewFromConfig(mustConfig(t, e.sb), func(o *sns.Options) { o.Retryer = quickRetryer(1) })
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Subject: aws.String("s"), Message: aws.String("m")})
		return err
	}

	t.Run("SNS unavailable refuses Publish and records nothing", func(t *testing.T) {
		inject(t, e.sb, sandbox.Fault{Service: "sns", Kind: sandbox.FaultUnavailable})
		if err := publish(); apiCode(err) != "ServiceUnavailable" || httpStatus(err) != http.StatusServiceUnavailable {
			t.Fatalf("got %v, want ServiceUnavailable with HTTP 503", err)
		}
		if n := callCount(e.sb, "sns", "Publish", aws.ToString(topic.TopicArn)); n != 1 {
			t.Errorf("counted %d Publish calls, want the refused one", n)
		}
		e.sb.ClearFaults("")
		if msgs := e.sb.SNSMessages(); len(msgs) != 0 {
			t.Errorf("recorded %d messages during the outage, want none", len(msgs))
		}
		if err := publish(); err != nil {
			t.Errorf("after the outage: %v", err)
		}
	})

	t.Run("SNS lose records the message and answers 500", func(t *testing.T) {
		before := len(e.sb.SNSMessages())
		inject(t, e.sb, sandbox.Fault{Service: "sns", Kind: sandbox.FaultLose})
		if err := publish(); apiCode(err) != "InternalError" || httpStatus(err) != http.StatusInternalServerError {
			t.Fatalf("got %v, want InternalError with HTTP 500", err)
		}
		if got := len(e.sb.SNSMessages()); got != before+1 {
			t.Errorf("recorded %d new messages, want the one whose answer was lost", got-before)
		}
	})

	t.Run("S3 unavailable answers an S3 XML error", func(t *testing.T) {
		mustBucket(t, e.src, "bkt", srcRegion, false)
		inject(t, e.sb, sandbox.Fault{Service: "s3", Kind: sandbox.FaultUnavailable})
		noRetry := s3.NewFromConfig(mustConfig(t, e.sb), func(o *s3.Options) { o.Retryer = quickRetryer(1) })
		_, err := noRetry.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("x")})
		if apiCode(err) != "ServiceUnavailable" || httpStatus(err) != http.StatusServiceUnavailable {
			t.Fatalf("got %v, want ServiceUnavailable with HTTP 503", err)
		}
		e.sb.ClearFaults("")
		if _, err := e.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}); apiCode(err) != "NotFound" {
			t.Errorf("the refused PutObject: HEAD got %v, want NotFound", err)
		}
	})
}

func TestFaultValidationNamesTheProblem(t *testing.T) {
	e := start(t, sandbox.Options{})
	cases := []struct {
		name  string
		fault sandbox.Fault
		want  string
	}{
		{"a service fault without a service", sandbox.Fault{Kind: sandbox.FaultUnavailable}, "needs a service"},
		{"a service fault on an unknown service", sandbox.Fault{Service: "ec2", Kind: sandbox.FaultHang}, `not "ec2"`},
		{"a service fault on a bucket", sandbox.Fault{Service: "s3", Bucket: "b", Kind: sandbox.FaultHang}, "not on a bucket"},
		{"a bucket fault without a bucket", sandbox.Fault{Kind: sandbox.FaultDeny}, "a deny fault needs a bucket"},
		{"a bucket fault on a service", sandbox.Fault{Bucket: "b", Service: "dynamodb", Kind: sandbox.FaultOutage}, "not on a service"},
		{"a negative after", sandbox.Fault{Kind: sandbox.FaultCrash, After: -1}, "after must be 0 or more"},
		{"negative millis", sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultHang, Millis: -5}, "millis must be 0 or more"},
		{"after on a kind without it", sandbox.Fault{Service: "sns", Kind: sandbox.FaultHang, After: 2}, "crash and lose faults only"},
		{"a crash naming a service", sandbox.Fault{Service: "sns", Kind: sandbox.FaultCrash}, "names no bucket or service"},
		{"an unknown kind", sandbox.Fault{Bucket: "b", Kind: "meteor"}, "unavailable, hang, lose or crash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := e.sb.InjectFault(c.fault)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
			if err != nil && strings.Count(strings.TrimSuffix(err.Error(), "."), ". ") > 0 {
				t.Errorf("%q is more than one sentence", err)
			}
		})
	}
	if f := e.sb.Faults(); len(f) != 0 {
		t.Errorf("rejected faults are in force: %+v", f)
	}
}

// control calls the sandbox's control API and returns the status and body.
func control(t *testing.T, sb *sandbox.Sandbox, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, sb.ControlURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestServiceFaultsThroughTheControlAPI(t *testing.T) {
	e := start(t, sandbox.Options{})
	for _, body := range []string{
		`{"service":"dynamodb","kind":"unavailable","millis":8000}`,
		`{"service":"dynamodb","kind":"hang"}`,
		`{"kind":"crash","after":3}`,
		`{"service":"dynamodb","kind":"lose","after":0}`,
		`{"service":"sns","kind":"unavailable"}`,
	} {
		if code, got := control(t, e.sb, "POST", "/faults", body); code != http.StatusCreated {
			t.Errorf("POST /faults %s: got %d %s, want 201", body, code, got)
		}
	}
	var listed []sandbox.Fault
	_, body := control(t, e.sb, "GET", "/faults", "")
	if err := json.Unmarshal([]byte(body), &listed); err != nil {
		t.Fatalf("GET /faults: %v: %s", err, body)
	}
	want := []sandbox.Fault{
		{Service: "dynamodb", Kind: "hang"},
		{Service: "dynamodb", Kind: "lose"},
		{Service: "dynamodb", Kind: "unavailable", Millis: 8000},
		{Service: "sns", Kind: "unavailable"},
		{Kind: "crash", After: 3},
	}
	if !slices.Equal(listed, want) {
		t.Errorf("GET /faults: got %+v, want %+v", listed, want)
	}
	if strings.Contains(body, `"bucket"`) {
		t.Errorf("GET /faults names a bucket on service faults: %s", body)
	}
	if code, got := control(t, e.sb, "GET", "/held", ""); code != http.StatusOK || !strings.Contains(got, `"held": 0`) {
		t.Errorf("GET /held: got %d %s, want 0 held", code, got)
	}

	if code, _ := control(t, e.sb, "DELETE", "/faults?service=dynamodb", ""); code != http.StatusNoContent {
		t.Errorf("DELETE /faults?service=dynamodb: got %d", code)
	}
	if got := e.sb.Faults(); len(got) != 2 || got[0].Service != "sns" || got[1].Kind != "crash" {
		t.Errorf("after lifting DynamoDB's faults: got %+v, want SNS's and the crash", got)
	}
	control(t, e.sb, "DELETE", "/faults?kind=crash", "")
	if got := e.sb.Faults(); len(got) != 1 || got[0].Service != "sns" {
		t.Errorf("after lifting the crash: got %+v, want SNS's fault", got)
	}

	for _, bad := range []struct{ method, path, body, want string }{
		{"POST", "/faults", `{"kind":"unavailable"}`, "needs a service"},
		{"POST", "/faults", `{"service":"ec2","kind":"hang"}`, `not \"ec2\"`},
		{"POST", "/faults", `{"kind":"crash","after":-1}`, "after must be 0 or more"},
		{"POST", "/faults", `{"kind":"outage"}`, "needs a bucket"},
		{"DELETE", "/faults?service=ec2", "", "unknown service"},
		{"DELETE", "/faults?kind=meteor", "", "unknown fault kind"},
		{"POST", "/redrive", `{"bucket":"nope"}`, "does not exist"},
	} {
		if code, got := control(t, e.sb, bad.method, bad.path, bad.body); code != http.StatusBadRequest || !strings.Contains(got, bad.want) {
			t.Errorf("%s %s %s: got %d %s, want 400 saying %q", bad.method, bad.path, bad.body, code, got, bad.want)
		}
	}
	if got := e.sb.Faults(); len(got) != 1 {
		t.Errorf("bad requests changed the faults: %+v", got)
	}

	twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	v := put(t, e.src, "src", "k", "x")
	waitStatus(t, e.src, "src", "k", aws.ToString(v.VersionId), "FAILED")
	e.sb.ClearFaults("")
	if code, got := control(t, e.sb, "POST", "/redrive", `{"bucket":"src"}`); code != http.StatusOK || !strings.Contains(got, `"started": 1`) {
		t.Errorf("POST /redrive: got %d %s, want 1 started", code, got)
	}
	waitStatus(t, e.src, "src", "k", aws.ToString(v.VersionId), "COMPLETED")
}

func TestAForbiddenBucketAnswers403AndKeepsReplicating(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("all", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultForbid}); err != nil {
		t.Fatal(err)
	}
	v := aws.ToString(put(t, e.src, "src", "k", "x").VersionId)
	waitStatus(t, e.src, "src", "k", v, "COMPLETED")
	_, err := e.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"), VersionId: aws.String(v)})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden || re.Response.Header.Get("X-Amz-Bucket-Region") != dstRegion {
		t.Fatalf("HEAD in a forbidden bucket: got %v, want 403 naming the region", err)
	}
	e.sb.ClearFaults("dst")
	if _, err := e.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"), VersionId: aws.String(v)}); err != nil {
		t.Errorf("after the fault: %v, want the replica", err)
	}
}
