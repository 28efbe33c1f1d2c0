package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// inventoryBucket is where the plane has S3 Inventory deliver.
const inventoryBucket = "replaudit-inventory"

// TestBootstrapUnderTheEmulator builds this function as Lambda runs it, a
// bootstrap binary, and attaches it under the Lambda Runtime Interface
// Emulator to both of the stack's inventory queues, against the sandbox.
// S3 writes the source's inventory in four data files; the run the
// manifest starts fans the files out through the files queue, and the
// worker that counts the last one closes it: the summary, the remediation
// manifest of the versions written before the rule, one digest. Then SQS
// delivers a file task and the manifest's notification again, as it may:
// the run, its manifest and its digest stay as they were.
func TestBootstrapUnderTheEmulator(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.RIE)
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 20 * time.Millisecond, InventoryRowsPerFile: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	p, err := plane.Start(ctx, sb, plane.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := p.Buckets()
	for name, region := range map[string]string{"src": "us-east-1", "dst": "ap-south-1"} {
		if err := b.Create(ctx, name, region); err != nil {
			t.Fatal(err)
		}
	}
	// Three versions predate the rule, so S3 never replicates them; four
	// are written under it and replicated. Seven rows, two a file: four
	// data files, the last with one row.
	before := putAll(t, b, "old/2019 report.pdf", "old/a+b.txt", "old/ünïcode.txt")
	if err := b.Replicate(ctx, "src", plane.Rule{Destination: "dst"}); err != nil {
		t.Fatal(err)
	}
	after := putAll(t, b, "new/1.txt", "new/2.txt", "new/3.txt", "new/4.txt")
	for k, v := range after {
		sandboxtest.EventuallyNoError(t, 10*time.Second, k+" replicated", func() error {
			if st, err := b.Status(ctx, "src", k, v); err != nil || st != "COMPLETED" {
				return fmt.Errorf("status %q, %v", st, err)
			}
			return nil
		})
	}
	// The stack's inventory resources, with the queues left for the
	// emulated function.
	inv, err := p.Reconcile(ctx, plane.InventoryOptions{Source: "src", Bucket: inventoryBucket, Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	manifests, files := inv.Manifests, inv.Files

	// The function as template.yaml configures it, on the sandbox's
	// endpoints. An emulator serves one invocation at a time, and Lambda
	// runs each queue's batches concurrently with the other's: one
	// emulator per queue.
	env := []string{
		"LEDGER_TABLE=" + p.Options.Table,
		"ALERT_TOPIC_ARN=" + p.Topic,
		"RULE_IDS=" + plane.RuleID("dst"),
		"SOURCE_BUCKETS=src",
		"FILES_QUEUE_URL=" + sb.QueueURL(files),
		"AUTO_REDRIVE=false",
		"REPLICATION_ROLE_ARN=" + plane.ReplicationRole,
	}
	for _, kv := range sb.Env() {
		env = append(env, kv[0]+"="+kv[1])
	}
	bootstrap := build(t)
	logs := &sandboxtest.Buffer{}
	defer func() {
		if t.Failed() {
			t.Logf("the function's logs:\n%s", logs.String())
		}
	}()
	fromManifests := &recorder{fn: emulate(t, bootstrap, env, logs)}
	fromFiles := &recorder{fn: emulate(t, bootstrap, env, logs)}
	for q, fn := range map[string]*recorder{manifests: fromManifests, files: fromFiles} {
		if err := sb.AddEventSourceMapping(sandbox.MappingOptions{QueueARN: q, Function: fn, BatchSize: 1}); err != nil {
			t.Fatal(err)
		}
	}

	// The run is observed where it is kept, its item in the ledger's
	// table, through the in-process reconciler, which is attached to
	// nothing.
	runs := inv.Reconciler
	if _, err := sb.WriteInventory("src"); err != nil {
		t.Fatal(err)
	}
	var rn *reconcile.Run
	var s reconcile.Summary
	sandboxtest.EventuallyNoError(t, 20*time.Second, "the run closes", func() error {
		var err error
		switch rn, err = runs.Latest(ctx, "src"); {
		case err != nil:
			return err
		case rn == nil:
			return fmt.Errorf("no run yet; %d manifest and %d file deliveries", fromManifests.count(), fromFiles.count())
		}
		var ok bool
		if s, ok = rn.Outcome(); !ok {
			return fmt.Errorf("run %s: %d of %d files", rn.State, rn.Done, rn.Files)
		}
		return nil
	})

	t.Run("the summary accounts for every version", func(t *testing.T) {
		if s.State != reconcile.NeedsReplication || s.Files != 4 || s.FailedFiles != 0 || rn.Done != rn.Files || rn.Files != 4 {
			t.Errorf("state %s, %d files, %d failed; the item: %d of %d done", s.State, s.Files, s.FailedFiles, rn.Done, rn.Files)
		}
		want := map[reconcile.Class]int64{reconcile.NotReplicated: 3, reconcile.Replicated: 4}
		for _, c := range reconcile.Classes {
			if s.Objects[c] != want[c] {
				t.Errorf("%s: %d versions, want %d", c, s.Objects[c], want[c])
			}
		}
		// No auditor ran: every version in scope is new to the ledger,
		// and the run recorded each.
		if s.Redrive != 3 || s.InScope() != 7 || s.NeverAudited() != 7 || s.Recorded != 7 || len(s.Skipped) != 0 {
			t.Errorf("re-drive %d, in scope %d, never audited %d, recorded %d, skipped %v", s.Redrive, s.InScope(), s.NeverAudited(), s.Recorded, s.Skipped)
		}
		// AUTO_REDRIVE=false: the command for a person, no job.
		if s.Job != "" || !strings.HasPrefix(s.Command, "aws s3control create-job") {
			t.Errorf("job %q, command %q", s.Job, s.Command)
		}
		if n := calls(sb, "CreateJob", ""); n != 0 {
			t.Errorf("%d CreateJob calls with AUTO_REDRIVE=false", n)
		}
	})

	t.Run("the remediation manifest lists exactly the versions written before the rule", func(t *testing.T) {
		var want [][3]string
		for k, v := range before {
			want = append(want, [3]string{"src", k, v})
		}
		slices.SortFunc(want, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
		if got := remediation(t, b, s.RemediationManifest); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", s.RemediationManifest, got, want)
		}
	})

	t.Run("one digest tells on-call", func(t *testing.T) {
		msgs := sb.SNSMessages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "INVENTORY") {
			t.Fatalf("want the digest alone, got %d messages: %+v", len(msgs), msgs)
		}
		if want := "3 versions of s3://src need replicating"; !strings.Contains(msgs[0].Subject+msgs[0].Body, want) {
			t.Errorf("the digest lacks %q:\n%s\n%s", want, msgs[0].Subject, msgs[0].Body)
		}
	})
	if t.Failed() {
		return
	}

	// SQS delivers at least once: the task of the file that closed the run
	// comes again, and so does the manifest's notification, which starts
	// nothing new (it may hand the files out again). Nothing may change:
	// neither the run's counts, nor what is in the inventory bucket, nor
	// the ledger's evidence, and no second digest goes out.
	items := ledgerItems(t, p, before, after)
	writes := inventoryWrites(sb)
	first := rn
	manifestsBefore, filesBefore := fromManifests.count(), fromFiles.count()
	notification := fromManifests.last()
	if !strings.Contains(notification, "manifest.json") {
		t.Fatalf("the manifests queue's last message is not the manifest's notification: %s", notification)
	}
	q := sqs.NewFromConfig(p.Config)
	for _, m := range []struct{ queue, body string }{{files, fromFiles.last()}, {manifests, notification}} {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(sb.QueueURL(m.queue)), MessageBody: aws.String(m.body)}); err != nil {
			t.Fatal(err)
		}
	}
	sandboxtest.EventuallyNoError(t, 10*time.Second, "the redeliveries are consumed", func() error {
		if m, f := fromManifests.count(), fromFiles.count(); m < manifestsBefore+1 || f < filesBefore+1 {
			return fmt.Errorf("%d manifest and %d file deliveries, %d and %d before", m, f, manifestsBefore, filesBefore)
		}
		// The manifests queue first: an invocation that hands files out
		// queues them before it ends.
		for _, q := range []struct {
			arn string
			fn  *recorder
		}{{manifests, fromManifests}, {files, fromFiles}} {
			if done, delivered := len(sb.Batches(q.arn)), q.fn.count(); done != delivered {
				return fmt.Errorf("%s: %d of %d invocations finished", q.arn, done, delivered)
			}
			if n := len(sb.QueueMessages(q.arn)); n != 0 {
				return fmt.Errorf("%s holds %d messages", q.arn, n)
			}
		}
		return nil
	})
	t.Logf("redelivered: %d manifest and %d file invocations", fromManifests.count()-manifestsBefore, fromFiles.count()-filesBefore)

	t.Run("every delivery succeeded, the redeliveries too", func(t *testing.T) {
		for _, arn := range []string{manifests, files} {
			for i, batch := range sb.Batches(arn) {
				if batch.Err != nil || batch.Failed != 0 {
					t.Errorf("%s, invocation %d: %d failed, %v", arn, i, batch.Failed, batch.Err)
				}
			}
		}
		if dl := sb.DeadLetters(); len(dl) != 0 {
			t.Errorf("dead-lettered: %+v", dl)
		}
	})

	t.Run("the run is as it was", func(t *testing.T) {
		rn, err := runs.Latest(ctx, "src")
		if err != nil || rn == nil {
			t.Fatalf("latest run: %v, %v", rn, err)
		}
		if rn.Key != first.Key || rn.State != first.State || rn.Done != rn.Files || rn.Files != first.Files {
			t.Errorf("run %v %s, %d of %d files; was %v %s, %d of %d", rn.Key, rn.State, rn.Done, rn.Files, first.Key, first.State, first.Done, first.Files)
		}
		if !reflect.DeepEqual(rn.Counts, first.Counts) || !maps.Equal(rn.Counted, first.Counted) {
			t.Errorf("counts changed:\n got %+v\nwere %+v", rn.Counts, first.Counts)
		}
		if rn.Summary != first.Summary {
			t.Errorf("summary rewritten:\n got %s\nwas %s", rn.Summary, first.Summary)
		}
	})

	t.Run("no second digest, manifest or job", func(t *testing.T) {
		if msgs := sb.SNSMessages(); len(msgs) != 1 {
			t.Errorf("%d SNS messages, want the one digest: %+v", len(msgs), msgs)
		}
		if got := inventoryWrites(sb); got != writes {
			t.Errorf("%d writes to the inventory bucket after the redeliveries, want none", got-writes)
		}
		if n := calls(sb, "CreateJob", ""); n != 0 {
			t.Errorf("%d CreateJob calls", n)
		}
		out, err := b.S3("us-east-1").ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(inventoryBucket), Prefix: aws.String(reconcile.RunPrefix)})
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		for _, o := range out.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), "redrive-manifest.csv") {
				found = append(found, "s3://"+inventoryBucket+"/"+aws.ToString(o.Key))
			}
		}
		if len(found) != 1 || found[0] != s.RemediationManifest {
			t.Errorf("remediation manifests %v, want %s alone", found, s.RemediationManifest)
		}
	})

	t.Run("the ledger's evidence is not rewritten", func(t *testing.T) {
		if got := ledgerItems(t, p, before, after); !reflect.DeepEqual(got, items) {
			for k, it := range got {
				if !reflect.DeepEqual(it, items[k]) {
					t.Errorf("%s %s:\n got %+v\nwas %+v", k.PK, k.SK, it, items[k])
				}
			}
		}
	})
}

// putAll writes each key to src and returns its version, by key.
func putAll(t *testing.T, b *plane.Buckets, keys ...string) map[string]string {
	t.Helper()
	versions := map[string]string{}
	for _, k := range keys {
		v, err := b.Put(context.Background(), "src", k, "body of "+k)
		if err != nil {
			t.Fatal(err)
		}
		versions[k] = v
	}
	return versions
}

// build compiles this function as sam build does, for this machine.
func build(t *testing.T) string {
	t.Helper()
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bootstrap
}

// emulate runs the bootstrap under its own emulator until the test ends.
func emulate(t *testing.T, bootstrap string, env []string, logs *sandboxtest.Buffer) *sandbox.Emulated {
	t.Helper()
	fn, err := sandbox.StartEmulated(context.Background(), sandbox.EmulatorOptions{Bootstrap: bootstrap, Env: env, Output: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Close() })
	return fn
}

// recorder hands each batch to the emulated function and keeps the bodies
// it delivered, so that the test can deliver one again as SQS may.
type recorder struct {
	fn     sandbox.Function
	mu     sync.Mutex
	bodies []string
}

func (r *recorder) Invoke(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	for _, m := range ev.Records {
		r.bodies = append(r.bodies, m.Body)
	}
	r.mu.Unlock()
	return r.fn.Invoke(ctx, ev)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[len(r.bodies)-1]
}

// remediation reads a remediation manifest: bucket, decoded key and
// version of each line, by key.
func remediation(t *testing.T, b *plane.Buckets, uri string) [][3]string {
	t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	out, err := b.S3("us-east-1").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("remediation manifest %q: %v", uri, err)
	}
	defer out.Body.Close()
	records, err := csv.NewReader(out.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var lines [][3]string
	for _, r := range records {
		if len(r) != 3 {
			t.Fatalf("manifest line %q", r)
		}
		k, err := s3events.DecodeKey(r[1])
		if err != nil {
			t.Fatalf("manifest line %q: %v", r, err)
		}
		lines = append(lines, [3]string{r[0], k, r[2]})
	}
	slices.SortFunc(lines, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	return lines
}

// ledgerItems reads the ledger's item of each version for dst.
func ledgerItems(t *testing.T, p *plane.Plane, groups ...map[string]string) map[ledger.Key]ledger.Item {
	t.Helper()
	items := map[ledger.Key]ledger.Item{}
	for _, g := range groups {
		for k, v := range g {
			key := ledger.KeyOf("src", k, v, "dst")
			it, err := p.Ledger.Get(context.Background(), key)
			if err != nil {
				t.Fatalf("the ledger's item of %s %s: %v", k, v, err)
			}
			items[key] = it
		}
	}
	return items
}

// calls counts the calls made to an operation, on a resource or any.
func calls(sb *sandbox.Sandbox, operation, resource string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Operation == operation && (resource == "" || c.Resource == resource) {
			n += c.Count
		}
	}
	return n
}

// inventoryWrites counts the calls that write objects into the inventory
// bucket: parts and remediation manifests.
func inventoryWrites(sb *sandbox.Sandbox) int {
	n := 0
	for _, op := range []string{"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "CopyObject"} {
		n += calls(sb, op, inventoryBucket)
	}
	return n
}
