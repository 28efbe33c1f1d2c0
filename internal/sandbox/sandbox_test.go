package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/sandbox"
)

const (
	srcRegion = "us-east-1"
	dstRegion = "ap-south-1"

	// waitLimit bounds every sandboxtest.Eventually here: the sandbox does
	// each thing a test waits for in milliseconds.
	waitLimit = 5 * time.Second
)

// env is a running sandbox with S3 clients for the two regions.
type env struct {
	sb  *sandbox.Sandbox
	src *s3.Client // us-east-1
	dst *s3.Client // ap-south-1
}

func start(t *testing.T, opts sandbox.Options) *env {
	t.Helper()
	if opts.ReplicationDelay == 0 {
		opts.ReplicationDelay = 20 * time.Millisecond
	}
	sb, err := sandbox.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return &env{sb: sb, src: s3Client(t, sb, srcRegion), dst: s3Client(t, sb, dstRegion)}
}

func s3Client(t *testing.T, sb *sandbox.Sandbox, region string) *s3.Client {
	t.Helper()
	cfg, err := sb.AWSConfig(context.Background(), region)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return s3.NewFromConfig(cfg)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func mustBucket(t *testing.T, c *s3.Client, name, region string, versioned bool) {
	t.Helper()
	ctx := context.Background()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	if versioned {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		}); err != nil {
			t.Fatalf("enable versioning on %s: %v", name, err)
		}
	}
}

func put(t *testing.T, c *s3.Client, bucket, key, body string, opt ...func(*s3.PutObjectInput)) *s3.PutObjectOutput {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
	for _, o := range opt {
		o(in)
	}
	out, err := c.PutObject(context.Background(), in)
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

func head(t *testing.T, c *s3.Client, bucket, key, version string) *s3.HeadObjectOutput {
	t.Helper()
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := c.HeadObject(context.Background(), in)
	if err != nil {
		t.Fatalf("head %s/%s@%s: %v", bucket, key, version, err)
	}
	return out
}

func TestBucketsLiveInTheRegionTheirLocationConstraintNames(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "east", srcRegion, false)
	mustBucket(t, e.dst, "south", dstRegion, false)

	for bucket, want := range map[string]types.BucketLocationConstraint{"east": "", "south": "ap-south-1"} {
		out, err := e.src.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("get location of %s: %v", bucket, err)
		}
		if out.LocationConstraint != want {
			t.Errorf("location of %s: got %q, want %q", bucket, out.LocationConstraint, want)
		}
	}

	t.Run("a request signed for another region is redirected", func(t *testing.T) {
		_, err := e.src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("south"), Key: aws.String("k"), Body: strings.NewReader("x")})
		if err == nil {
			t.Fatal("got no error, want a redirect")
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusMovedPermanently {
			t.Errorf("got %v, want HTTP 301", err)
		}
	})
	t.Run("a regional endpoint refuses a bucket without a location constraint", func(t *testing.T) {
		_, err := e.dst.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("nowhere")})
		if got := apiCode(err); got != "IllegalLocationConstraintException" {
			t.Errorf("got %q (%v), want IllegalLocationConstraintException", got, err)
		}
	})
	t.Run("creating a bucket twice says it is already owned", func(t *testing.T) {
		_, err := e.src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("east")})
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			t.Errorf("got %v, want BucketAlreadyOwnedByYou", err)
		}
	})
}

func TestVersionedObjectsKeepEachVersionApart(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "data", srcRegion, true)

	v1 := put(t, e.src, "data", "report.csv", "one", func(in *s3.PutObjectInput) {
		in.Metadata = map[string]string{"owner": "alice"}
		in.ContentType = aws.String("text/csv")
	})
	v2 := put(t, e.src, "data", "report.csv", "second", func(in *s3.PutObjectInput) {
		in.Metadata = map[string]string{"reviewer": "bob"}
	})
	if aws.ToString(v1.VersionId) == "" || aws.ToString(v1.VersionId) == aws.ToString(v2.VersionId) {
		t.Fatalf("version ids: got %q and %q, want two distinct ids", aws.ToString(v1.VersionId), aws.ToString(v2.VersionId))
	}

	t.Run("HEAD honours versionId", func(t *testing.T) {
		h1 := head(t, e.src, "data", "report.csv", aws.ToString(v1.VersionId))
		if aws.ToInt64(h1.ContentLength) != 3 || aws.ToString(h1.VersionId) != aws.ToString(v1.VersionId) {
			t.Errorf("HEAD v1: got size %d version %s, want 3 %s", aws.ToInt64(h1.ContentLength), aws.ToString(h1.VersionId), aws.ToString(v1.VersionId))
		}
		if aws.ToString(h1.ETag) != aws.ToString(v1.ETag) {
			t.Errorf("HEAD v1 ETag: got %s, want %s", aws.ToString(h1.ETag), aws.ToString(v1.ETag))
		}
	})
	t.Run("metadata belongs to its version and request headers are not echoed", func(t *testing.T) {
		h1 := head(t, e.src, "data", "report.csv", aws.ToString(v1.VersionId))
		h2 := head(t, e.src, "data", "report.csv", "")
		if h1.Metadata["owner"] != "alice" || h1.Metadata["reviewer"] != "" {
			t.Errorf("v1 metadata: got %v, want only owner=alice", h1.Metadata)
		}
		if h2.Metadata["reviewer"] != "bob" || h2.Metadata["owner"] != "" {
			t.Errorf("v2 metadata: got %v, want only reviewer=bob", h2.Metadata)
		}
		if aws.ToString(h1.ContentType) != "text/csv" {
			t.Errorf("v1 content type: got %q, want text/csv", aws.ToString(h1.ContentType))
		}
		raw := rawHead(t, e.sb, "/data/report.csv")
		for _, h := range []string{"X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-User-Agent", "Amz-Sdk-Invocation-Id"} {
			if raw.Get(h) != "" {
				t.Errorf("HEAD echoes the request header %s", h)
			}
		}
	})
	t.Run("checksums are kept per version and returned only with ChecksumMode", func(t *testing.T) {
		v := put(t, e.src, "data", "summed", "hello", func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
		asked, err := e.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("summed"),
			VersionId: v.VersionId, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		const want = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=" // SHA-256 of "hello"
		if got := aws.ToString(asked.ChecksumSHA256); got != want {
			t.Errorf("with ChecksumMode: got %q, want %q", got, want)
		}
		// The SDK asks for checksums by default; a bare request does not.
		if got := rawHead(t, e.sb, "/data/summed?versionId="+aws.ToString(v.VersionId)).Get("X-Amz-Checksum-Sha256"); got != "" {
			t.Errorf("without ChecksumMode: got %q, want no checksum", got)
		}
	})
	t.Run("GET of an old version returns its body", func(t *testing.T) {
		out, err := e.src.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("report.csv"), VersionId: v1.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(out.Body)
		if string(body) != "one" {
			t.Errorf("got %q, want %q", body, "one")
		}
	})
	t.Run("tags are stored apart from the body", func(t *testing.T) {
		_, err := e.src.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
			Bucket: aws.String("data"), Key: aws.String("report.csv"), VersionId: v1.VersionId,
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("class"), Value: aws.String("audit")}}},
		})
		if err != nil {
			t.Fatalf("put tagging: %v", err)
		}
		got, err := e.src.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("data"), Key: aws.String("report.csv"), VersionId: v1.VersionId})
		if err != nil {
			t.Fatalf("get tagging: %v", err)
		}
		if len(got.TagSet) != 1 || aws.ToString(got.TagSet[0].Value) != "audit" {
			t.Errorf("tags: got %+v, want class=audit", got.TagSet)
		}
		h1 := head(t, e.src, "data", "report.csv", aws.ToString(v1.VersionId))
		if aws.ToInt64(h1.ContentLength) != 3 {
			t.Errorf("tagging changed the body: size %d, want 3", aws.ToInt64(h1.ContentLength))
		}
		latest, _ := e.src.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("data"), Key: aws.String("report.csv")})
		if len(latest.TagSet) != 0 {
			t.Errorf("latest version tags: got %+v, want none", latest.TagSet)
		}
	})
	t.Run("delete makes a marker and ListObjectVersions shows everything", func(t *testing.T) {
		del, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String("report.csv")})
		if err != nil {
			t.Fatal(err)
		}
		if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
			t.Errorf("delete: got marker=%v version=%q, want a delete marker with a version id", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId))
		}
		_, err = e.src.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("report.csv")})
		var nf *types.NotFound
		if !errors.As(err, &nf) {
			t.Errorf("HEAD after delete: got %v, want NotFound", err)
		}
		lv, err := e.src.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("data"), Prefix: aws.String("report.csv")})
		if err != nil {
			t.Fatal(err)
		}
		if len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
			t.Errorf("versions: got %d versions and %d markers, want 2 and 1 latest marker", len(lv.Versions), len(lv.DeleteMarkers))
		}
		head(t, e.src, "data", "report.csv", aws.ToString(v2.VersionId))
	})
	t.Run("ListObjectVersions pages", func(t *testing.T) {
		for i := range 5 {
			put(t, e.src, "data", "paged/"+string(rune('a'+i)), "x")
		}
		p := s3.NewListObjectVersionsPaginator(e.src, &s3.ListObjectVersionsInput{Bucket: aws.String("data"), Prefix: aws.String("paged/"), MaxKeys: aws.Int32(2)})
		pages, n := 0, 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			n += len(out.Versions)
		}
		if pages != 3 || n != 5 {
			t.Errorf("got %d versions over %d pages, want 5 over 3", n, pages)
		}
	})
}

func rawHead(t *testing.T, sb *sandbox.Sandbox, path string) http.Header {
	t.Helper()
	resp, err := http.Head(sb.Endpoint() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header
}

func TestMalformedRequestsGetS3Errors(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "src", srcRegion, true)
	cases := []struct {
		name, method, path, body, wantCode string
		wantStatus                         int
	}{
		{"replication that is not XML", "PUT", "/src?replication", "{not xml", "MalformedXML", 400},
		{"notification that is not XML", "PUT", "/src?notification", "<Notification", "MalformedXML", 400},
		{"tagging that is not XML", "PUT", "/src/k?tagging", "][", "MalformedXML", 400},
		{"an unknown bucket sub-resource", "GET", "/src?website", "", "NotImplemented", 501},
		{"a bucket that does not exist", "GET", "/nope?replication", "", "NoSuchBucket", 404},
		{"versioning that is not XML", "PUT", "/src?versioning", "<<", "MalformedXML", 400},
		{"a bucket configuration that does not exist", "GET", "/src?replication", "", "ReplicationConfigurationNotFoundError", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.sb.Endpoint()+c.path, strings.NewReader(c.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.wantStatus || !strings.Contains(string(body), "<Code>"+c.wantCode+"</Code>") {
				t.Errorf("got %d %s, want %d with code %s", resp.StatusCode, body, c.wantStatus, c.wantCode)
			}
		})
	}
}

// decodeS3Event reads a queued notification with aws-lambda-go's types, as
// the auditor will.
func decodeS3Event(t *testing.T, body string) events.S3EventRecord {
	t.Helper()
	var ev events.S3Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("got %d records in %s, want 1", len(ev.Records), body)
	}
	return ev.Records[0]
}

// notifyAll sends every object and replication event of a bucket to a queue.
func notifyAll(bucket, queue string) *s3.PutBucketNotificationConfigurationInput {
	return &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("all"), QueueArn: aws.String(queue),
			Events: []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:Replication:*"},
		}}},
	}
}

type (
	eventsSQS   = events.SQSEvent
	responseSQS = events.SQSEventResponse
)
