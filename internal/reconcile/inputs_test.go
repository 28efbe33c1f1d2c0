package reconcile_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// desk is a reconciler whose queues the test delivers by hand, to see
// each answer: src replicates to dst, two objects were written before the
// rule and four after, and S3 Inventory writes two rows a file.
type desk struct {
	*plane.Plane
	inv     *plane.Inventory
	clock   *sandboxtest.Clock
	logs    *sandboxtest.Buffer
	metrics *sandboxtest.Buffer
}

func newDesk(t *testing.T) *desk {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 10 * time.Millisecond, InventoryRowsPerFile: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	d := &desk{clock: &sandboxtest.Clock{}, logs: &sandboxtest.Buffer{}, metrics: &sandboxtest.Buffer{}}
	if d.Plane, err = plane.Start(ctx, sb, plane.Options{Clock: d.clock.Now, Metrics: d.metrics,
		Log: slog.New(slog.NewJSONHandler(d.logs, nil))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", d.logs.String())
		}
	})
	b := d.Buckets()
	for name, region := range map[string]string{"src": "us-east-1", "dst": "ap-south-1"} {
		if err := b.Create(ctx, name, region); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"old/1", "old/2"} {
		if _, err := b.Put(ctx, "src", k, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Replicate(ctx, "src", plane.Rule{Destination: "dst"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"new/1", "new/2", "new/3", "new/4"} {
		v, err := b.Put(ctx, "src", k, k)
		if err != nil {
			t.Fatal(err)
		}
		sandboxtest.EventuallyNoError(t, 5*time.Second, k+" replicated", func() error {
			if st, err := b.Status(ctx, "src", k, v); err != nil || st != "COMPLETED" {
				return fmt.Errorf("%q %v", st, err)
			}
			return nil
		})
	}
	if d.inv, err = d.Reconcile(ctx, plane.InventoryOptions{Source: "src", Detached: true}); err != nil {
		t.Fatal(err)
	}
	return d
}

// inventory has S3 write an inventory of src, whose notification waits in
// the manifests queue; it returns the manifest's key.
func (d *desk) inventory(t *testing.T) string {
	t.Helper()
	d.clock.Advance(time.Second) // a new inventory time, so a new run
	uris, err := d.Sandbox.WriteInventory("src")
	if err != nil || len(uris) != 1 {
		t.Fatalf("write inventory: %v %v", uris, err)
	}
	return strings.TrimPrefix(uris[0], "s3://replaudit-inventory/")
}

// deliver hands every message waiting in the inventory queues to the
// function, as its event source mappings would, until none is left or a
// delivery fails; it returns the messages the function gave back.
func (d *desk) deliver(t *testing.T) (failed []sandbox.Message) {
	t.Helper()
	for range 50 {
		msgs := d.Sandbox.ReceiveMessages(d.inv.Manifests, 1)
		if len(msgs) == 0 {
			msgs = d.Sandbox.ReceiveMessages(d.inv.Files, 1)
		}
		if len(msgs) == 0 {
			return failed
		}
		resp, err := d.inv.Reconciler.Handle(context.Background(), sqsEvent(msgs))
		if err != nil || len(resp.BatchItemFailures) > 0 {
			failed = append(failed, msgs...)
		}
	}
	t.Fatal("the queues never drained")
	return nil
}

func sqsEvent(msgs []sandbox.Message) events.SQSEvent {
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.ID, Body: m.Body, EventSource: "aws:sqs"})
	}
	return ev
}

// closed is the newest run's summary, which must be closed.
func (d *desk) closed(t *testing.T) reconcile.Summary {
	t.Helper()
	rn, err := d.inv.Reconciler.Latest(context.Background(), "src")
	if err != nil || rn == nil {
		t.Fatalf("latest run: %v %v", rn, err)
	}
	s, ok := rn.Outcome()
	if !ok {
		t.Fatalf("run %s is not closed: %d of %d files", rn.State, rn.Done, rn.Files)
	}
	return s
}

func (d *desk) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := d.Buckets().S3("us-east-1").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("replaudit-inventory"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return b
}

func (d *desk) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := d.Buckets().S3("us-east-1").PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("replaudit-inventory"),
		Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// rewrite edits a manifest.json as a generic document, and writes it back
// with a manifest.checksum that matches, as S3 would have.
func (d *desk) rewrite(t *testing.T, manifest string, edit func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.get(t, manifest), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	body, _ := json.Marshal(m)
	d.put(t, manifest, body)
	sum := md5.Sum(body)
	d.put(t, strings.TrimSuffix(manifest, ".json")+".checksum", []byte(hex.EncodeToString(sum[:])+"\n"))
}

// replaceFile puts body in place of the manifest's first data file, and
// the manifest names its size and MD5, so only its content is wrong.
func (d *desk) replaceFile(t *testing.T, manifest string, body []byte) {
	t.Helper()
	d.rewrite(t, manifest, func(m map[string]any) {
		f := m["files"].([]any)[0].(map[string]any)
		d.put(t, f["key"].(string), body)
		sum := md5.Sum(body)
		f["size"], f["MD5checksum"] = len(body), hex.EncodeToString(sum[:])
	})
}

func firstFile(t *testing.T, d *desk, manifest string) string {
	t.Helper()
	var m struct {
		Files []struct {
			Key string `json:"key"`
		} `json:"files"`
	}
	if err := json.Unmarshal(d.get(t, manifest), &m); err != nil || len(m.Files) == 0 {
		t.Fatalf("manifest: %v", err)
	}
	return m.Files[0].Key
}

func gzipped(t *testing.T, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(text))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestBadInventoriesGetAClearAnswer feeds the function each way an
// inventory can be wrong. A file that cannot be read leaves its run
// INCOMPLETE, saying which and why, never clean; a row that cannot be read
// is skipped and counted; a manifest that can never be reconciled is
// logged and counted as Unprocessable, not retried.
func TestBadInventoriesGetAClearAnswer(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()

	incomplete := []struct {
		name   string
		spoil  func(t *testing.T, manifest string)
		reason string
	}{
		{"a manifest that names a missing file", func(t *testing.T, manifest string) {
			if _, err := d.Buckets().S3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("replaudit-inventory"),
				Key: aws.String(firstFile(t, d, manifest))}); err != nil {
				t.Fatal(err)
			}
		}, "NoSuchKey"},
		{"a data file whose MD5 is not the manifest's", func(t *testing.T, manifest string) {
			d.rewrite(t, manifest, func(m map[string]any) {
				m["files"].([]any)[0].(map[string]any)["MD5checksum"] = strings.Repeat("0", 32)
			})
		}, "checksum mismatch"},
		{"a truncated gzip", func(t *testing.T, manifest string) {
			whole := d.get(t, firstFile(t, d, manifest))
			d.replaceFile(t, manifest, whole[:len(whole)/2])
		}, "corrupt data file"},
	}
	for _, tc := range incomplete {
		t.Run(tc.name, func(t *testing.T) {
			manifest := d.inventory(t)
			tc.spoil(t, manifest)
			digests := len(d.Sandbox.SNSMessages())
			if failed := d.deliver(t); len(failed) != 0 {
				t.Errorf("%d messages retried: a file that cannot be read is counted, not retried", len(failed))
			}
			s := d.closed(t)
			if s.State != reconcile.Incomplete || s.FailedFiles != 1 || len(s.Failures) != 1 || !strings.Contains(s.Failures[0], tc.reason) {
				t.Errorf("state %s, %d failed files: %q; want INCOMPLETE naming %q", s.State, s.FailedFiles, s.Failures, tc.reason)
			}
			msgs := d.Sandbox.SNSMessages()[digests:]
			if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "could not be read whole") || !strings.Contains(msgs[0].Body, "INCOMPLETE") {
				t.Errorf("alerts: %+v", msgs)
			}
		})
	}

	t.Run("rows that cannot be read are skipped and counted by column", func(t *testing.T) {
		manifest := d.inventory(t)
		// The data file's rows, as S3 writes them, with a key that is not
		// URL-encoded and a row of another bucket.
		text := string(mustGunzip(t, d.get(t, firstFile(t, d, manifest))))
		first, _, _ := strings.Cut(text, "\n")
		fields := strings.Split(first, `","`) // "Bucket","Key",...
		fields[1] = "bad%ZZkey"
		text += strings.Join(fields, `","`) + "\n"
		text += strings.Replace(first, `"src"`, `"elsewhere"`, 1) + "\n"
		d.replaceFile(t, manifest, gzipped(t, text))
		if failed := d.deliver(t); len(failed) != 0 {
			t.Errorf("%d messages retried", len(failed))
		}
		s := d.closed(t)
		if s.State == reconcile.Incomplete || s.Skipped["bad Key"] != 1 || s.Skipped["another bucket's row"] != 1 {
			t.Errorf("state %s, skipped %v; want each bad row counted under its reason", s.State, s.Skipped)
		}
	})

	unprocessable := []struct {
		name  string
		spoil func(t *testing.T, manifest string)
		log   string
	}{
		{"a manifest without the ReplicationStatus column", func(t *testing.T, manifest string) {
			d.rewrite(t, manifest, func(m map[string]any) {
				m["fileSchema"] = strings.Replace(m["fileSchema"].(string), ", ReplicationStatus", "", 1)
			})
		}, "fileSchema lacks ReplicationStatus"},
		{"a manifest.json that does not match its manifest.checksum", func(t *testing.T, manifest string) {
			d.put(t, manifest, append(d.get(t, manifest), ' '))
		}, "checksum mismatch"},
		{"an inventory of another bucket", func(t *testing.T, manifest string) {
			d.rewrite(t, manifest, func(m map[string]any) { m["sourceBucket"] = "someone-elses" })
		}, "an inventory of a bucket this stack does not audit"},
		{"a manifest deleted since its notification", func(t *testing.T, manifest string) {
			if _, err := d.Buckets().S3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("replaudit-inventory"), Key: aws.String(manifest)}); err != nil {
				t.Fatal(err)
			}
		}, "NoSuchKey"},
	}
	for _, tc := range unprocessable {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := d.inv.Reconciler.Latest(ctx, "src")
			manifest := d.inventory(t)
			tc.spoil(t, manifest)
			if failed := d.deliver(t); len(failed) != 0 {
				t.Errorf("%d messages retried: a manifest that can never be reconciled is not", len(failed))
			}
			if after, _ := d.inv.Reconciler.Latest(ctx, "src"); after == nil || before == nil || after.Key != before.Key {
				t.Errorf("a run started: %+v", after)
			}
			if !strings.Contains(d.logs.String(), tc.log) || !strings.Contains(d.metrics.String(), `"Unprocessable"`) {
				t.Errorf("the log does not say %q, or Unprocessable is not counted", tc.log)
			}
		})
	}
}

func mustGunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestARunCountsEachFileOnce delivers every message twice, and the
// manifest's notification a third time after the run closed: the counts,
// the digest and the manifest are those of one delivery.
func TestARunCountsEachFileOnce(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	d.inventory(t)
	var notice []sandbox.Message
	files := map[string]bool{}
	for range 20 {
		msgs := d.Sandbox.ReceiveMessages(d.inv.Manifests, 1)
		if len(msgs) == 0 {
			msgs = d.Sandbox.ReceiveMessages(d.inv.Files, 1)
		}
		if len(msgs) == 0 {
			break
		}
		switch {
		case isTask(msgs[0]):
			var task reconcile.Task
			_ = json.Unmarshal([]byte(msgs[0].Body), &task)
			files[task.File.Key] = true
		case strings.Contains(msgs[0].Body, `"Records"`):
			notice = msgs
		}
		for range 2 { // SQS delivers twice
			if resp, err := d.inv.Reconciler.Handle(ctx, sqsEvent(msgs)); err != nil || len(resp.BatchItemFailures) > 0 {
				t.Fatalf("delivery: %+v %v", resp, err)
			}
		}
	}
	if notice == nil || len(files) != 3 {
		t.Fatalf("got the manifest's notification %v and tasks for %d files, want 3 files of two rows", notice != nil, len(files))
	}
	first := d.closed(t)
	if resp, err := d.inv.Reconciler.Handle(ctx, sqsEvent(notice)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatal(err)
	}
	if n := len(d.Sandbox.QueueMessages(d.inv.Files)); n != 0 {
		t.Errorf("a manifest replayed after its run closed handed out %d tasks", n)
	}
	s := d.closed(t)
	if s.Objects[reconcile.Replicated] != 4 || s.Objects[reconcile.NotReplicated] != 2 || s.Files != 3 || s.Redrive != 2 || s.Recorded != first.Recorded {
		t.Errorf("counts after redeliveries: %+v", s.Counts)
	}
	rn, _ := d.inv.Reconciler.Latest(ctx, "src")
	if rn.Done != rn.Files {
		t.Errorf("%d files done of %d", rn.Done, rn.Files)
	}
	if n := len(d.Sandbox.SNSMessages()); n != 1 {
		t.Errorf("%d alerts, want the one digest", n)
	}
}

// lastFile delivers a new inventory's manifest and every file but the
// one holding the versions written before the rule, and returns that
// file's message, undelivered. Which file that is, of the manifest's
// randomly named files, varies; what the last worker does with it does not.
func (d *desk) lastFile(t *testing.T) []sandbox.Message {
	t.Helper()
	d.inventory(t)
	var last []sandbox.Message
	for {
		msgs := d.Sandbox.ReceiveMessages(d.inv.Manifests, 1)
		if len(msgs) == 0 {
			msgs = d.Sandbox.ReceiveMessages(d.inv.Files, 1)
		}
		if len(msgs) == 0 {
			break
		}
		var task reconcile.Task
		if isTask(msgs[0]) && json.Unmarshal([]byte(msgs[0].Body), &task) == nil &&
			bytes.Contains(mustGunzip(t, d.get(t, task.File.Key)), []byte(`"old`)) {
			last = msgs
			continue
		}
		if resp, err := d.inv.Reconciler.Handle(context.Background(), sqsEvent(msgs)); err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("delivery: %+v %v", resp, err)
		}
	}
	if last == nil {
		t.Fatal("no task for the file of the versions written before the rule")
	}
	return last
}

// stopWhenHeld delivers msgs to a worker that dies at the crash fault: its
// invocation ends as soon as the sandbox holds its next call.
func (d *desk) stopWhenHeld(ctx context.Context, msgs []sandbox.Message) events.SQSEventResponse {
	dying, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() {
		for dying.Err() == nil && d.Sandbox.Held() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	resp, _ := d.inv.Reconciler.Handle(dying, sqsEvent(msgs))
	return resp
}

// isTask tells a file task from S3's notifications.
func isTask(m sandbox.Message) bool { return strings.HasPrefix(m.Body, `{"run":`) }

func (d *desk) calls() int {
	n := 0
	for _, c := range d.Sandbox.Calls() {
		n += c.Count
	}
	return n
}

// TestAStopBetweenAnyTwoCallsOfTheLastFileLeavesOneClosedRun stops the
// worker of a run's last file after each of its AWS calls in turn,
// from counting the file to closing the run: SQS delivers the file again
// once its visibility ends, and the closing goes to another worker once
// the stopped one's lease ends. Each run closes once, with the counts of
// one delivery and one digest.
func TestAStopBetweenAnyTwoCallsOfTheLastFileLeavesOneClosedRun(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	// A first run records what the ledger lacked, so that every later run
	// makes the same calls.
	d.inventory(t)
	d.deliver(t)
	last := d.lastFile(t)
	d.Sandbox.ResetCalls()
	if resp, err := d.inv.Reconciler.Handle(ctx, sqsEvent(last)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("delivery: %+v %v", resp, err)
	}
	calls := d.calls()
	if calls < 6 {
		t.Fatalf("the last file took %d calls", calls)
	}
	stopped, tookOver, sentTwice := 0, 0, 0
	for after := 1; after < calls; after++ {
		last := d.lastFile(t)
		alerts := len(d.Sandbox.SNSMessages())
		if err := d.Sandbox.InjectFault(sandbox.Fault{Kind: sandbox.FaultCrash, After: after}); err != nil {
			t.Fatal(err)
		}
		resp := d.stopWhenHeld(ctx, last)
		d.Sandbox.ClearFaultsMatching(sandbox.Fault{Kind: sandbox.FaultCrash})
		sent := len(d.Sandbox.SNSMessages()) - alerts
		finished := len(resp.BatchItemFailures) == 0
		stoppedNow := !finished
		if stoppedNow {
			stopped++
		}
		// Redeliveries: the last past the lease.
		for try := 0; try < 3 && !finished; try++ {
			if try == 2 {
				d.clock.Advance(11 * time.Minute)
				tookOver++
			}
			resp, err := d.inv.Reconciler.Handle(ctx, sqsEvent(last))
			finished = err == nil && len(resp.BatchItemFailures) == 0
		}
		if !finished {
			t.Fatalf("stop after call %d: the file was never taken", after)
		}
		s := d.closed(t)
		if s.Objects[reconcile.Replicated] != 4 || s.Objects[reconcile.NotReplicated] != 2 || s.Files != 3 || s.State != reconcile.NeedsReplication {
			t.Errorf("stop after call %d: %s %+v", after, s.State, s.Counts)
		}
		// The digest is never lost. It goes out twice only when the closer
		// stopped after sending it and before recording the run closed.
		if n := len(d.Sandbox.SNSMessages()) - alerts; n != 1 && !(n == 2 && sent == 1 && stoppedNow) {
			t.Errorf("stop after call %d: %d digests, %d of them before the stop", after, n, sent)
		}
		if sent == 1 && stoppedNow {
			sentTwice++
		}
	}
	// The stops bit: the file was delivered again, and some closings were
	// taken over from a stopped holder.
	if stopped != calls-1 || tookOver == 0 || sentTwice != 1 {
		t.Errorf("of %d stops, %d left the file to a redelivery, %d the closing to another worker, %d between the digest and the run's close",
			calls-1, stopped, tookOver, sentTwice)
	}
	t.Logf("the last file takes %d calls; %d stops left it to a redelivery, %d the closing to another worker", calls, stopped, tookOver)
}

// TestTheManifestsNotificationAsS3SendsIt feeds the function the fixture
// of S3's notification of a manifest.json, as its queue delivers it, with
// the bucket and key of an inventory the sandbox wrote: the run starts
// from it, and S3's notifications of the inventory's other objects (data
// files, manifest.checksum) start nothing.
func TestTheManifestsNotificationAsS3SendsIt(t *testing.T) {
	d := newDesk(t)
	ctx := context.Background()
	manifest := d.inventory(t)
	d.Sandbox.ReceiveMessages(d.inv.Manifests, 100) // the sandbox's own notifications: this test sends S3's

	raw, err := os.ReadFile("../../events/sqs-inventory-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("fixture: %d records, %v", len(ev.Records), err)
	}
	notice := func(key string) events.SQSEvent {
		var n events.S3Event
		if err := json.Unmarshal([]byte(ev.Records[0].Body), &n); err != nil || len(n.Records) != 1 {
			t.Fatalf("fixture body: %v", err)
		}
		n.Records[0].S3.Bucket.Name, n.Records[0].S3.Bucket.Arn = "replaudit-inventory", "arn:aws:s3:::replaudit-inventory"
		n.Records[0].S3.Object.Key = key // no character to URL-encode
		body, _ := json.Marshal(n)
		out := ev
		out.Records = []events.SQSMessage{ev.Records[0]}
		out.Records[0].Body = string(body)
		return out
	}
	for _, other := range []string{strings.TrimSuffix(manifest, ".json") + ".checksum", firstFile(t, d, manifest)} {
		if resp, err := d.inv.Reconciler.Handle(ctx, notice(other)); err != nil || len(resp.BatchItemFailures) > 0 {
			t.Fatalf("%s: %+v %v", other, resp, err)
		}
	}
	if n := len(d.Sandbox.QueueMessages(d.inv.Files)); n != 0 {
		t.Fatalf("notifications of the inventory's other objects handed out %d tasks", n)
	}
	if resp, err := d.inv.Reconciler.Handle(ctx, notice(manifest)); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("%+v %v", resp, err)
	}
	if n := len(d.Sandbox.QueueMessages(d.inv.Files)); n != 3 {
		t.Fatalf("the manifest's notification handed out %d tasks, want one per data file, 3", n)
	}
	d.deliver(t)
	if s := d.closed(t); s.Objects[reconcile.NotReplicated] != 2 || s.Objects[reconcile.Replicated] != 4 || s.State != reconcile.NeedsReplication {
		t.Errorf("%s %+v", s.State, s.Counts)
	}
}
