package sandbox_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/replaudit/replaudit/internal/sandbox"
)

var (
	fuzzOnce sync.Once
	fuzzSB   *sandbox.Sandbox
)

// FuzzS3Requests sends arbitrary requests to the S3 endpoint. Whatever
// arrives, the answer is S3's: a success, or an XML error document, and
// never an InternalError, which is what a panic or an unhandled case gives.
func FuzzS3Requests(f *testing.F) {
	seeds := []struct{ method, path, body string }{
		{"PUT", "/fuzz-bucket?replication", "<ReplicationConfiguration><Role>r</Role><Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix></Filter><Destination><Bucket>arn:aws:s3:::x</Bucket></Destination></Rule></ReplicationConfiguration>"},
		{"PUT", "/fuzz-bucket?notification", "<NotificationConfiguration><QueueConfiguration><Queue>arn</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"},
		{"PUT", "/fuzz-bucket/k?tagging", "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"},
		{"PUT", "/fuzz-bucket/k", "body"},
		{"HEAD", "/fuzz-bucket/k?versionId=zzz", ""},
		{"GET", "/fuzz-bucket?versions&key-marker=k&version-id-marker=nope", ""},
		{"PUT", "/fuzz-bucket?versioning", "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"},
		{"PUT", "/new-bucket", "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"},
		{"POST", "/fuzz-bucket?delete", "<Delete><Object><Key>k</Key></Object></Delete>"},
		{"DELETE", "/fuzz-bucket/k?versionId=null", ""},
		{"GET", "/fuzz-bucket?policy", ""},
		{"PUT", "/fuzz-bucket?publicAccessBlock", "not xml"},
		{"PUT", "/fuzz-bucket?inventory&id=i", "<InventoryConfiguration><Id>i</Id><IsEnabled>true</IsEnabled><Destination><S3BucketDestination><Bucket>arn:aws:s3:::fuzz-bucket</Bucket><Format>CSV</Format></S3BucketDestination></Destination><IncludedObjectVersions>All</IncludedObjectVersions><Schedule><Frequency>Daily</Frequency></Schedule></InventoryConfiguration>"},
		{"GET", "/fuzz-bucket?inventory&continuation-token=%%%", ""},
		{"POST", "/v20180820/jobs", "<CreateJobRequest><Operation><S3ReplicateObject/></Operation></CreateJobRequest>"},
		{"GET", "/v20180820/jobs/nope", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		fuzzOnce.Do(func() {
			sb, err := sandbox.Start(context.Background(), sandbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			fuzzSB = sb
			req, _ := http.NewRequest("PUT", sb.Endpoint()+"/fuzz-bucket", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			req, _ = http.NewRequest("PUT", sb.Endpoint()+"/fuzz-bucket?versioning", strings.NewReader("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
		if strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // net/http refuses such a request line before the sandbox sees it
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, fuzzSB.Endpoint()+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: 500 %s", method, path, body, got)
		}
		if resp.StatusCode >= 400 && method != "HEAD" && len(got) > 0 && !bytes.Contains(got, []byte("<Error>")) {
			t.Fatalf("%s %s: %d without an S3 error document: %s", method, path, resp.StatusCode, got)
		}
	})
}
