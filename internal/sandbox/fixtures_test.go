package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fields lists the JSON paths of a document, so two payloads can be compared
// by shape.
func fields(t *testing.T, raw []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(prefix+"[]", x)
			}
		default:
			out = append(out, prefix)
		}
	}
	walk("", doc)
	sort.Strings(out)
	return out
}

func TestFixturesRoundTripThroughAwsLambdaGo(t *testing.T) {
	for _, name := range []string{"s3-object-created-put.json", "s3-replication-failed.json"} {
		t.Run(name, func(t *testing.T) {
			raw := fixture(t, name)
			var ev events.S3Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			back, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			// aws-lambda-go adds urlDecodedKey, which S3 does not send.
			want := fields(t, raw)
			var got []string
			for _, f := range fields(t, back) {
				if f != ".Records[].s3.object.urlDecodedKey" {
					got = append(got, f)
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("round trip changed the fields:\ngot  %v\nwant %v", got, want)
			}
		})
	}
}

func TestSandboxNotificationsHaveTheShapeOfRealOnes(t *testing.T) {
	e := start(t, sandbox.Options{})
	queue := twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, withMetrics)); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny}); err != nil {
		t.Fatal(err)
	}
	v := put(t, e.src, "src", "photos/Happy Face.jpg", "x")
	waitStatus(t, e.src, "src", "photos/Happy Face.jpg", aws.ToString(v.VersionId), "FAILED")
	sandboxtest.Eventually(t, waitLimit, "two notifications", func() bool { return len(e.sb.QueueMessages(queue)) == 2 })
	got := map[string][]byte{}
	for _, m := range e.sb.QueueMessages(queue) {
		got[decodeS3Event(t, m.Body).EventName] = []byte(m.Body)
	}
	for event, name := range map[string]string{
		"ObjectCreated:Put":                      "s3-object-created-put.json",
		"Replication:OperationFailedReplication": "s3-replication-failed.json",
	} {
		t.Run(event, func(t *testing.T) {
			want, have := fields(t, fixture(t, name)), fields(t, got[event])
			if strings.Join(have, " ") != strings.Join(want, " ") {
				t.Errorf("fields:\ngot  %v\nwant %v", have, want)
			}
		})
	}
	if !bytes.Contains(got["ObjectCreated:Put"], []byte(`"key":"photos/Happy+Face.jpg"`)) {
		t.Errorf("key encoding differs from the fixture's: %s", got["ObjectCreated:Put"])
	}
}

func TestSandboxTestEventHasTheShapeOfTheRealOne(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "src", srcRegion, true)
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "q"})
	if _, err := e.src.PutBucketNotificationConfiguration(context.Background(), notifyAll("src", queue)); err != nil {
		t.Fatal(err)
	}
	msgs := e.sb.ReceiveMessages(queue, 10)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want the test event", len(msgs))
	}
	want, have := fields(t, fixture(t, "s3-test-event.json")), fields(t, []byte(msgs[0].Body))
	if strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("fields:\ngot  %v\nwant %v", have, want)
	}
}
