package sandbox_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
)

func TestNotificationsAreDeliveredInTheDocumentedJSON(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "src", srcRegion, true)
	queue, err := e.sb.CreateQueue(sandbox.QueueOptions{Name: "events"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("audit"), QueueArn: aws.String(queue),
			Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"},
		}}},
	})
	if err != nil {
		t.Fatalf("put notification: %v", err)
	}

	t.Run("saving the configuration sends s3:TestEvent", func(t *testing.T) {
		msgs := e.sb.ReceiveMessages(queue, 10)
		if len(msgs) != 1 {
			t.Fatalf("got %d messages, want 1 test event", len(msgs))
		}
		var te events.S3TestEvent
		if err := json.Unmarshal([]byte(msgs[0].Body), &te); err != nil || te.Event != "s3:TestEvent" || te.Bucket != "src" {
			t.Errorf("test event: got %s (%v)", msgs[0].Body, err)
		}
	})

	key := "reports/Q3 résumé+final.pdf"
	v := put(t, e.src, "src", key, "hello")
	_, err = e.src.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("copy"), CopySource: aws.String("src/reports/Q3%20r%C3%A9sum%C3%A9%2Bfinal.pdf")})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	multipart(t, e.src, "src", "big")
	if _, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("big"), VersionId: aws.String(latestVersion(t, e.src, "src", "big"))}); err != nil {
		t.Fatal(err)
	}

	msgs := e.sb.ReceiveMessages(queue, 10)
	var names []string
	var put events.S3EventRecord
	for _, m := range msgs {
		r := decodeS3Event(t, m.Body)
		names = append(names, r.EventName+" "+r.S3.Object.URLDecodedKey)
		if r.EventName == "ObjectCreated:Put" {
			put = r
			if !strings.Contains(m.Body, `"key":"reports/Q3+r%C3%A9sum%C3%A9%2Bfinal.pdf"`) {
				t.Errorf("the key is not URL-encoded with + for a space: %s", m.Body)
			}
		}
	}
	sort.Strings(names)
	want := []string{
		"ObjectCreated:CompleteMultipartUpload big",
		"ObjectCreated:Copy copy",
		"ObjectCreated:Put " + key,
		"ObjectRemoved:Delete big",
		"ObjectRemoved:DeleteMarkerCreated copy",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\ngot  %q\nwant %q", names, want)
	}
	if put.S3.Object.VersionID != aws.ToString(v.VersionId) || put.S3.Object.Size != 5 ||
		`"`+put.S3.Object.ETag+`"` != aws.ToString(v.ETag) || put.S3.Object.Sequencer == "" {
		t.Errorf("object fields: got %+v, want version %s size 5 eTag %s and a sequencer", put.S3.Object, aws.ToString(v.VersionId), aws.ToString(v.ETag))
	}
	if put.EventSource != "aws:s3" || put.AWSRegion != srcRegion || put.S3.ConfigurationID != "audit" || put.S3.Bucket.Arn != "arn:aws:s3:::src" {
		t.Errorf("record fields: got %+v", put)
	}
}

func multipart(t *testing.T, c *s3.Client, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("create multipart upload: %v", err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
	if err != nil {
		t.Fatalf("upload part: %v", err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatalf("complete multipart upload: %v", err)
	}
}

func latestVersion(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	return aws.ToString(head(t, c, bucket, key, "").VersionId)
}

func TestNotificationConfigurationIsValidatedAndKeepsForeignEntries(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "src", srcRegion, true)
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q"})
	qc := func(id, prefix, suffix string, evs ...types.Event) types.QueueConfiguration {
		var rules []types.FilterRule
		if prefix != "" {
			rules = append(rules, types.FilterRule{Name: types.FilterRuleNamePrefix, Value: aws.String(prefix)})
		}
		if suffix != "" {
			rules = append(rules, types.FilterRule{Name: types.FilterRuleNameSuffix, Value: aws.String(suffix)})
		}
		return types.QueueConfiguration{Id: aws.String(id), QueueArn: aws.String(queue), Events: evs,
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: rules}}}
	}
	putCfg := func(cfg types.NotificationConfiguration) error {
		_, err := e.src.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"), NotificationConfiguration: &cfg})
		return err
	}
	rejected := []struct {
		name string
		cfg  types.NotificationConfiguration
	}{
		{"the same event type with overlapping prefixes", types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
			qc("a", "logs/", "", "s3:ObjectCreated:*"), qc("b", "logs/2026/", "", "s3:ObjectCreated:Put")}}},
		{"a wildcard and a specific type with no filters", types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
			qc("a", "", "", "s3:ObjectCreated:*"), qc("b", "", "", "s3:ObjectCreated:Copy")}}},
		{"a queue that does not exist", types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:missing"), Events: []types.Event{"s3:ObjectCreated:*"}}}}},
		{"an unknown event type", types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{qc("a", "", "", "s3:ObjectCreated:Teleport")}}},
	}
	for _, c := range rejected {
		t.Run("rejects "+c.name, func(t *testing.T) {
			if got := apiCode(putCfg(c.cfg)); got != "InvalidArgument" {
				t.Errorf("got %q, want InvalidArgument", got)
			}
		})
	}
	t.Run("accepts disjoint filters and keeps topic and EventBridge entries", func(t *testing.T) {
		cfg := types.NotificationConfiguration{
			QueueConfigurations: []types.QueueConfiguration{
				qc("logs", "logs/", "", "s3:ObjectCreated:*"), qc("images", "img/", ".png", "s3:ObjectCreated:*"),
				qc("removed", "logs/", "", "s3:ObjectRemoved:*"),
			},
			TopicConfigurations: []types.TopicConfiguration{{Id: aws.String("someone-else"),
				TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:theirs"), Events: []types.Event{"s3:ObjectRestore:*"}}},
			EventBridgeConfiguration: &types.EventBridgeConfiguration{},
		}
		if err := putCfg(cfg); err != nil {
			t.Fatalf("put: %v", err)
		}
		got, err := e.src.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("src")})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.QueueConfigurations) != 3 || len(got.TopicConfigurations) != 1 || got.EventBridgeConfiguration == nil {
			t.Errorf("read back: got %d queues, %d topics, EventBridge %v", len(got.QueueConfigurations), len(got.TopicConfigurations), got.EventBridgeConfiguration != nil)
		}
		e.sb.ReceiveMessages(queue, 10)
		put(t, e.src, "src", "img/a.png", "x")
		put(t, e.src, "src", "img/a.jpg", "x")
		msgs := e.sb.ReceiveMessages(queue, 10)
		if len(msgs) != 1 || decodeS3Event(t, msgs[0].Body).S3.Object.Key != "img/a.png" {
			t.Errorf("suffix filter: got %d messages %v, want only img/a.png", len(msgs), bodies(msgs))
		}
	})
}
