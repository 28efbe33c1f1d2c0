package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func TestCloseDuringTrafficStopsCleanly(t *testing.T) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{ReplicationDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sb: sb, src: s3Client(t, sb, srcRegion), dst: s3Client(t, sb, dstRegion)}
	twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				_, err := e.src.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("src"),
					Key: aws.String(strings.Repeat("k", i+1) + string(rune('a'+j%26))), Body: strings.NewReader("x")})
				if err != nil {
					return // the sandbox has closed
				}
			}
		}()
	}
	sandboxtest.Eventually(t, waitLimit, "writes and their replication under way", func() bool {
		out, _ := e.dst.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("dst"), MaxKeys: aws.Int32(1)})
		return out != nil && len(out.Versions) > 0 && callCount(sb, "s3", "PutObject", "src") >= 8
	})
	if err := sb.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	wg.Wait()
}

func TestReplicatedDeleteMarkersAreNotReplicatedAgain(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst", "third")
	markers := func(r *types.ReplicationRule) {
		r.DeleteMarkerReplication.Status = types.DeleteMarkerReplicationStatusEnabled
	}
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, markers)); err != nil {
		t.Fatal(err)
	}
	if err := putReplication(t, e.dst, "dst", rule("chain", 1, "third", nil, markers)); err != nil {
		t.Fatal(err)
	}
	v := put(t, e.src, "src", "k", "x")
	waitStatus(t, e.src, "src", "k", aws.ToString(v.VersionId), "COMPLETED")
	if _, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Eventually(t, waitLimit, "the marker in dst", func() bool {
		out, _ := e.dst.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("dst")})
		return out != nil && len(out.DeleteMarkers) == 1
	})
	// The sandbox decides whether to replicate a write as the write lands,
	// and waits the same delay before each copy. An object written to dst
	// itself after the marker landed there replicates to third by the chain
	// rule; once it has, the marker would have too.
	written := put(t, e.dst, "dst", "written-in-dst", "x")
	waitStatus(t, e.dst, "dst", "written-in-dst", aws.ToString(written.VersionId), "COMPLETED")
	out, err := e.dst.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("third")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 1 || aws.ToString(out.Versions[0].Key) != "written-in-dst" || len(out.DeleteMarkers) != 0 {
		t.Errorf("third holds %d versions and %d markers, want only the object written to dst: replicas are not replicated", len(out.Versions), len(out.DeleteMarkers))
	}
}

func TestCopyObjectHonoursVersionIdAndDirectives(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "bkt", srcRegion, true)
	v1 := put(t, e.src, "bkt", "k", "one", func(in *s3.PutObjectInput) {
		in.Metadata = map[string]string{"old": "1"}
		in.Tagging = aws.String("keep=yes")
	})
	put(t, e.src, "bkt", "k", "second")
	out, err := e.src.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copy"),
		CopySource: aws.String("bkt/k?versionId=" + aws.ToString(v1.VersionId))})
	if err != nil {
		t.Fatal(err)
	}
	h := head(t, e.src, "bkt", "copy", "")
	if aws.ToInt64(h.ContentLength) != 3 || h.Metadata["old"] != "1" {
		t.Errorf("copy of v1: got size %d metadata %v, want 3 and old=1", aws.ToInt64(h.ContentLength), h.Metadata)
	}
	if aws.ToString(out.CopySourceVersionId) != aws.ToString(v1.VersionId) || aws.ToString(out.VersionId) != aws.ToString(h.VersionId) {
		t.Errorf("version ids: source %s new %s, want %s and %s", aws.ToString(out.CopySourceVersionId), aws.ToString(out.VersionId), aws.ToString(v1.VersionId), aws.ToString(h.VersionId))
	}
	if tags, _ := e.src.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("copy")}); len(tags.TagSet) != 1 {
		t.Errorf("tags were not copied: %+v", tags.TagSet)
	}

	_, err = e.src.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("replaced"), CopySource: aws.String("bkt/k"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"new": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if h := head(t, e.src, "bkt", "replaced", ""); h.Metadata["new"] != "2" || h.Metadata["old"] != "" {
		t.Errorf("REPLACE: got metadata %v, want only new=2", h.Metadata)
	}
}

func TestDeleteMarkerVersionsAnswerMethodNotAllowed(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "bkt", srcRegion, true)
	put(t, e.src, "bkt", "k", "x")
	del, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, e.sb.Endpoint()+"/bkt/k?versionId="+aws.ToString(del.VersionId), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("X-Amz-Delete-Marker") != "true" {
			t.Errorf("%s of the marker's version: got %d with x-amz-delete-marker %q, want 405 and true", method, resp.StatusCode, resp.Header.Get("X-Amz-Delete-Marker"))
		}
	}
	_, err = e.src.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k"), VersionId: del.VersionId,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
	if got := apiCode(err); got != "MethodNotAllowed" {
		t.Errorf("tagging a marker: got %q, want MethodNotAllowed", got)
	}
}

func TestListObjectsPagesByCommonPrefix(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "bkt", srcRegion, false)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "c"} {
		put(t, e.src, "bkt", k, "x")
	}
	p := s3.NewListObjectsV2Paginator(e.src, &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	var got []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range out.CommonPrefixes {
			got = append(got, "P:"+aws.ToString(cp.Prefix))
		}
		for _, o := range out.Contents {
			got = append(got, "K:"+aws.ToString(o.Key))
		}
	}
	if strings.Join(got, " ") != "P:a/ P:b/ K:c" {
		t.Errorf("pages: got %v, want P:a/ P:b/ K:c", got)
	}
}

func TestMultipartETagIsTheSameEverywhere(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "bkt", srcRegion, true)
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q"})
	if _, err := e.src.PutBucketNotificationConfiguration(ctx, notifyAll("bkt", queue)); err != nil {
		t.Fatal(err)
	}
	e.sb.ReceiveMessages(queue, 10)
	up, _ := e.src.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big")})
	part, err := e.src.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.src.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := aws.ToString(done.ETag)
	if !strings.HasSuffix(want, `-1"`) {
		t.Fatalf("CompleteMultipartUpload ETag %s, want a multipart ETag ending in -1", want)
	}
	h := head(t, e.src, "bkt", "big", "")
	list, _ := e.src.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
	msgs := e.sb.ReceiveMessages(queue, 10)
	if len(msgs) != 1 {
		t.Fatalf("got %d events, want 1", len(msgs))
	}
	ev := decodeS3Event(t, msgs[0].Body)
	got := map[string]string{"HEAD": aws.ToString(h.ETag), "List": aws.ToString(list.Contents[0].ETag), "event": `"` + ev.S3.Object.ETag + `"`}
	for where, etag := range got {
		if etag != want {
			t.Errorf("%s ETag: got %s, want %s", where, etag, want)
		}
	}
}

func TestReplicationEventsCarryTheTimeTheyHappened(t *testing.T) {
	e := start(t, sandbox.Options{ReplicationThreshold: 300 * time.Millisecond})
	queue := twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("rtc", 1, "dst", nil, withRTC)); err != nil {
		t.Fatal(err)
	}
	_ = e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	defer e.sb.ClearFaults("")
	put(t, e.src, "src", "late", "x")
	var created, missed time.Time
	sandboxtest.Eventually(t, waitLimit, "the missed-threshold event", func() bool {
		for _, m := range e.sb.QueueMessages(queue) {
			r := decodeS3Event(t, m.Body)
			switch r.EventName {
			case "ObjectCreated:Put":
				created = r.EventTime
			case "Replication:OperationMissedThreshold":
				missed = r.EventTime
			}
		}
		return !missed.IsZero()
	})
	if d := missed.Sub(created); d < 250*time.Millisecond {
		t.Errorf("missed-threshold eventTime is %v after the upload's, want about the 300ms threshold", d)
	}
}

func TestNotificationQueuesMustBeInTheBucketsRegion(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "src", srcRegion, true)
	far, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "far", Region: "eu-west-1"})
	_, err := e.src.PutBucketNotificationConfiguration(context.Background(), notifyAll("src", far))
	if got := apiCode(err); got != "InvalidArgument" {
		t.Errorf("a queue in eu-west-1 for a us-east-1 bucket: got %q, want InvalidArgument", got)
	}
}

func TestReplicationWithASingleTagFilter(t *testing.T) {
	e := start(t, sandbox.Options{})
	twoRegions(t, e, "dst")
	f := &types.ReplicationRuleFilter{Tag: &types.Tag{Key: aws.String("dr"), Value: aws.String("on")}}
	if err := putReplication(t, e.src, "src", rule("tag", 1, "dst", f)); err != nil {
		t.Fatal(err)
	}
	yes := put(t, e.src, "src", "a", "x", func(in *s3.PutObjectInput) { in.Tagging = aws.String("dr=on") })
	no := put(t, e.src, "src", "b", "x")
	waitStatus(t, e.src, "src", "a", aws.ToString(yes.VersionId), "COMPLETED")
	if got := status(t, e.src, "src", "b", aws.ToString(no.VersionId)); got != "" {
		t.Errorf("an untagged object: got %q, want no status", got)
	}
	out, err := e.src.GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("src")})
	if err != nil || out.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("GetBucketVersioning: got %v, %v", out, err)
	}
}

func TestVisibilityTimeoutHidesAReceivedMessage(t *testing.T) {
	e := start(t, sandbox.Options{})
	const visibility = time.Second
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", VisibilityTimeout: visibility})
	sendAll(t, e, queue, 1, func(int) string { return "hidden" })
	var (
		mu           sync.Mutex
		deliveries   []time.Time
		firstReceive string // ApproximateFirstReceiveTimestamp, in Unix milliseconds
	)
	fn := sandbox.HandlerFunc(func(ctx context.Context, ev eventsSQS) (responseSQS, error) {
		mu.Lock()
		deliveries = append(deliveries, time.Now())
		firstReceive = ev.Records[0].Attributes["ApproximateFirstReceiveTimestamp"]
		mu.Unlock()
		return responseSQS{}, errors.New("not yet")
	})
	if err := e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: fn}); err != nil {
		t.Fatal(err)
	}
	sandboxtest.Eventually(t, waitLimit, "a redelivery after the timeout", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(deliveries) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	ms, err := strconv.ParseInt(firstReceive, 10, 64)
	if err != nil {
		t.Fatalf("ApproximateFirstReceiveTimestamp %q: %v", firstReceive, err)
	}
	// The first receive hid the message for the visibility timeout: the
	// second delivery may not come sooner.
	if gap := deliveries[1].Sub(time.UnixMilli(ms)); gap < visibility {
		t.Errorf("redelivered %v after the first receive, want no redelivery within the %v visibility timeout", gap, visibility)
	}
}

func TestControlAPIReportsMessagesCallsAndDeadLetters(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	cfg, _ := e.sb.AWSConfig(ctx, srcRegion)
	c := sns.NewFromConfig(cfg)
	topic, err := c.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Subject: aws.String("s"), Message: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q", VisibilityTimeout: 10 * time.Millisecond, MaxReceiveCount: 1})
	sendAll(t, e, queue, 1, func(int) string { return "doomed" })
	_ = e.sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: queue, Function: sandbox.HandlerFunc(func(context.Context, eventsSQS) (responseSQS, error) {
		return responseSQS{}, errors.New("always")
	})})
	sandboxtest.Eventually(t, waitLimit, "a dead letter", func() bool { return len(e.sb.DeadLetters()) == 1 })

	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(e.sb.ControlURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	var msgs []sandbox.SNSMessage
	get("/sns/messages", &msgs)
	if len(msgs) != 1 || msgs[0].Topic != aws.ToString(topic.TopicArn) || msgs[0].Subject != "s" || msgs[0].Body != "m" || msgs[0].Time.IsZero() {
		t.Errorf("/sns/messages: got %+v", msgs)
	}
	var calls []sandbox.Call
	get("/calls", &calls)
	found := false
	for _, c := range calls {
		if c.Service == "sns" && c.Operation == "Publish" && c.Resource == aws.ToString(topic.TopicArn) && c.Count == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("/calls has no Publish on the topic: %+v", calls)
	}
	var dl []sandbox.Message
	get("/dlq", &dl)
	if len(dl) != 1 || !strings.Contains(dl[0].Body, "doomed") || dl[0].Source != queue {
		t.Errorf("/dlq: got %+v", dl)
	}
}
