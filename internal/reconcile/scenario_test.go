package reconcile_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// world is the stack on a sandbox: src in us-east-1 replicating to dst in
// ap-south-1, the auditor on its events, the sweeper, and the source's
// inventory reconciled as the stack does it.
type world struct {
	*plane.Plane
	b     *plane.Buckets
	clock *sandboxtest.Clock
	inv   *plane.Inventory
	logs  *sandboxtest.Buffer
	// versions of each group of objects, by key.
	groups map[string]map[string]string
}

func newWorld(t *testing.T, redrive string, rowsPerFile int) *world {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 20 * time.Millisecond, InventoryRowsPerFile: rowsPerFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	w := &world{clock: &sandboxtest.Clock{}, logs: &sandboxtest.Buffer{}, groups: map[string]map[string]string{}}
	w.Plane, err = plane.Start(ctx, sb, plane.Options{QueueDelay: 300 * time.Millisecond, VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 3, Clock: w.clock.Now,
		Log: slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", w.logs.String())
		}
	})
	w.b = w.Buckets()
	for name, region := range map[string]string{"src": "us-east-1", "dst": "ap-south-1"} {
		if err := w.b.Create(ctx, name, region); err != nil {
			t.Fatal(err)
		}
	}
	if w.inv, err = w.Reconcile(ctx, plane.InventoryOptions{Source: "src", Redrive: redrive}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) put(t *testing.T, group, key string) {
	t.Helper()
	v, err := w.b.Put(context.Background(), "src", key, "body of "+key)
	if err != nil {
		t.Fatal(err)
	}
	if w.groups[group] == nil {
		w.groups[group] = map[string]string{}
	}
	w.groups[group][key] = v
}

func (w *world) waitStatus(t *testing.T, key, version, want string) {
	t.Helper()
	sandboxtest.EventuallyNoError(t, 10*time.Second, key+" "+want, func() error {
		got, err := w.b.Status(context.Background(), "src", key, version)
		if err != nil || got != want {
			return fmt.Errorf("status %q, %v", got, err)
		}
		return nil
	})
}

func (w *world) item(t *testing.T, key, version string) (ledger.Item, error) {
	t.Helper()
	return w.Ledger.Get(context.Background(), ledger.KeyOf("src", key, version, "dst"))
}

func (w *world) waitVerdict(t *testing.T, key, version string, want audit.Verdict, sweep bool) ledger.Item {
	t.Helper()
	var it ledger.Item
	sandboxtest.EventuallyNoError(t, 20*time.Second, key+" "+string(want), func() error {
		if sweep {
			w.clock.Advance(2 * time.Minute)
			if _, err := w.Sweeper.Run(context.Background()); err != nil {
				return err
			}
		}
		var err error
		if it, err = w.item(t, key, version); err != nil {
			return err
		}
		if it.Verdict != want {
			return fmt.Errorf("got %s: %s", it.Verdict, it.Detail)
		}
		return nil
	})
	return it
}

// inventory has S3 write the source's inventory now, and waits for its run
// to close.
func (w *world) inventory(t *testing.T) reconcile.Summary {
	t.Helper()
	ctx := context.Background()
	before, err := w.inv.Reconciler.Latest(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Sandbox.WriteInventory("src"); err != nil {
		t.Fatal(err)
	}
	var s reconcile.Summary
	sandboxtest.EventuallyNoError(t, 30*time.Second, "the run closes", func() error {
		rn, err := w.inv.Reconciler.Latest(ctx, "src")
		switch {
		case err != nil:
			return err
		case rn == nil || before != nil && rn.Key == before.Key:
			return fmt.Errorf("no new run: latest %+v", rn)
		}
		var ok bool
		if s, ok = rn.Outcome(); !ok {
			return fmt.Errorf("run %s: %d of %d files", rn.State, rn.Done, rn.Files)
		}
		return nil
	})
	return s
}

func (w *world) alerts(subject string) []sandbox.SNSMessage {
	var out []sandbox.SNSMessage
	for _, m := range w.Sandbox.SNSMessages() {
		if strings.Contains(m.Subject, subject) {
			out = append(out, m)
		}
	}
	return out
}

// manifest reads a run's remediation manifest: bucket, decoded key and
// version of each line.
func (w *world) manifest(t *testing.T, uri string) [][3]string {
	t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	out, err := w.b.S3("us-east-1").GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	records, err := csv.NewReader(out.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var lines [][3]string
	for _, r := range records {
		k, err := s3events.DecodeKey(r[1])
		if err != nil || len(r) != 3 {
			t.Fatalf("manifest line %q: %v", r, err)
		}
		lines = append(lines, [3]string{r[0], k, r[2]})
	}
	slices.SortFunc(lines, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	return lines
}

// TestEveryObjectIsAccountedFor is the scenario: objects written
// before the rule, objects written while the notifications were off,
// objects whose replication failed, and normal ones. The reconciliation
// finds the first three groups, re-drives the never-replicated and the
// failed, and checks the unannounced against their replicas; the re-drive
// replicates them, the sweeper records them VERIFIED and resolves the
// failures; a second reconciliation is clean.
func TestEveryObjectIsAccountedFor(t *testing.T) {
	w := newWorld(t, reconcile.RedriveRun, 3)
	ctx := context.Background()
	for _, k := range []string{"old/2019 report.pdf", "old/a+b.txt", "old/ünïcode.txt"} {
		w.put(t, "before the rule", k)
	}
	if err := w.b.Replicate(ctx, "src", plane.Rule{Destination: "dst", Metrics: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.Listen(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(10); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"normal/1.txt", "normal/2.txt", "normal/3.txt"} {
		w.put(t, "normal", k)
	}
	for k, v := range w.groups["normal"] {
		w.waitVerdict(t, k, v, audit.Verified, false)
	}

	// Someone turns the notifications off for a while.
	if _, err := w.b.S3("us-east-1").PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String("src"),
		NotificationConfiguration: &types.NotificationConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"quiet/1.txt", "quiet/2.txt"} {
		w.put(t, "unannounced", k)
	}
	for k, v := range w.groups["unannounced"] {
		w.waitStatus(t, k, v, "COMPLETED")
	}
	if err := w.Listen(ctx, "src"); err != nil {
		t.Fatal(err)
	}

	// The destination refuses replicas for a while.
	if err := w.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"failed/1.txt", "failed/2.txt"} {
		w.put(t, "failed", k)
	}
	for k, v := range w.groups["failed"] {
		w.waitVerdict(t, k, v, audit.Failed, false)
	}
	w.Sandbox.ClearFaults("dst")
	sandboxtest.EventuallyNoError(t, 10*time.Second, "the failures paged", func() error {
		if n := len(w.alerts("FAILED")); n != 2 {
			return fmt.Errorf("%d pages", n)
		}
		return nil
	})
	pagesBefore := len(w.Sandbox.SNSMessages())

	w.Sandbox.ResetCalls()
	s := w.inventory(t)

	t.Run("the run finds exactly the three groups", func(t *testing.T) {
		if s.State != reconcile.NeedsReplication || s.Files != 4 || s.FailedFiles != 0 {
			t.Errorf("state %s, %d files, %d failed", s.State, s.Files, s.FailedFiles)
		}
		want := map[reconcile.Class]int64{reconcile.Replicated: 5, reconcile.NotReplicated: 3, reconcile.Failed: 2}
		for _, c := range reconcile.Classes {
			if s.Objects[c] != want[c] {
				t.Errorf("%s: %d versions, want %d", c, s.Objects[c], want[c])
			}
		}
		// Ten looked up; the normal and the failed were known; the
		// unannounced and the never-replicated are recorded now.
		if s.LookedUp != 10 || s.Known != 5 || s.Recorded != 5 || s.NeverAudited() != 5 || s.InScope() != 10 || s.Redrive != 5 {
			t.Errorf("looked up %d, known %d, recorded %d, never audited %d, in scope %d, re-drive %d",
				s.LookedUp, s.Known, s.Recorded, s.NeverAudited(), s.InScope(), s.Redrive)
		}
		if len(s.Skipped) != 0 {
			t.Errorf("skipped: %v", s.Skipped)
		}
	})

	t.Run("the never-replicated and the failed are in the remediation manifest", func(t *testing.T) {
		var want [][3]string
		for _, g := range []string{"before the rule", "failed"} {
			for k, v := range w.groups[g] {
				want = append(want, [3]string{"src", k, v})
			}
		}
		slices.SortFunc(want, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
		if got := w.manifest(t, s.RemediationManifest); !slices.Equal(got, want) {
			t.Errorf("manifest:\n got %v\nwant %v", got, want)
		}
	})

	t.Run("the unannounced are checked against their replicas, a HEAD each, and recorded", func(t *testing.T) {
		heads := 0
		for _, c := range w.Sandbox.Calls() {
			if c.Operation == "HeadObject" && c.Resource == "dst" {
				heads += c.Count
			}
		}
		if heads != len(w.groups["unannounced"]) {
			t.Errorf("%d HEADs of replicas, want one per unannounced version: %v", heads, w.Sandbox.Calls())
		}
		for k, v := range w.groups["unannounced"] {
			it, err := w.item(t, k, v)
			if err != nil || it.Verdict != audit.Verified || it.Replica == nil || it.Replica.VersionID != v {
				t.Errorf("%s: %+v, %v", k, it, err)
			}
		}
	})

	t.Run("one digest tells on-call, with counts and examples", func(t *testing.T) {
		digests := w.alerts("INVENTORY")
		if len(digests) != 1 {
			t.Fatalf("got %d digests: %v", len(digests), digests)
		}
		d := digests[0]
		for _, want := range []string{"5 versions of s3://src need replicating", "NOT_REPLICATED", "example      NOT_REPLICATED s3://src/old/", "Batch Replication job"} {
			if !strings.Contains(d.Subject+d.Body, want) {
				t.Errorf("the digest lacks %q:\n%s\n%s", want, d.Subject, d.Body)
			}
		}
		if got := w.Sandbox.SNSMessages()[pagesBefore:]; len(got) != 1 {
			for _, m := range got {
				t.Logf("%s", m.Subject)
			}
			t.Errorf("the run sent %d messages, want the digest alone", len(got))
		}
	})

	t.Run("the Batch Replication job replicates the manifest", func(t *testing.T) {
		if s.Job == "" || s.Command != "" {
			t.Fatalf("job %q, command %q", s.Job, s.Command)
		}
		sandboxtest.EventuallyNoError(t, 20*time.Second, "the job completes", func() error {
			j, ok := w.Sandbox.Job(s.Job)
			if !ok || j.Status != sandbox.JobComplete {
				return fmt.Errorf("job %+v", j)
			}
			return nil
		})
		for _, g := range []string{"before the rule", "failed"} {
			for k, v := range w.groups[g] {
				w.waitStatus(t, k, v, "COMPLETED")
			}
		}
	})

	t.Run("the sweeper records them VERIFIED and resolves the failures", func(t *testing.T) {
		for _, g := range []string{"before the rule", "failed"} {
			for k, v := range w.groups[g] {
				it := w.waitVerdict(t, k, v, audit.Verified, true)
				if g == "before the rule" && (it.RedriveAt == nil || it.LagSeconds == nil || *it.LagSeconds > 3600) {
					t.Errorf("%s: re-driven %v, lag %v: the lag counts from the re-drive", k, it.RedriveAt, it.LagSeconds)
				}
			}
		}
		sandboxtest.EventuallyNoError(t, 20*time.Second, "resolved notices", func() error {
			if _, err := w.Sweeper.Run(ctx); err != nil {
				return err
			}
			if n := len(w.alerts("RESOLVED")); n < 1 {
				return fmt.Errorf("%d resolved notices", n)
			}
			return nil
		})
		if n := len(w.alerts("LONG")); n != 0 {
			t.Errorf("%d long-PENDING alerts: a re-drive's clock starts at the re-drive", n)
		}
	})

	t.Run("a second reconciliation is clean, and silent", func(t *testing.T) {
		before := len(w.alerts("INVENTORY"))
		s := w.inventory(t)
		if s.State != reconcile.Clean || s.Objects[reconcile.Replicated] != 10 || s.Redrive != 0 || s.NeverAudited() != 0 || s.RemediationManifest != "" {
			t.Errorf("second run: %+v", s)
		}
		if n := len(w.alerts("INVENTORY")); n != before {
			t.Errorf("a clean run alerted")
		}
	})
}
