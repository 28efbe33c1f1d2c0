package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func newLedger(t *testing.T) (*ledger.Ledger, *sandbox.Sandbox) {
	t.Helper()
	l, _, sb := sandboxtest.Ledger(t, nil)
	return l, sb
}

func finding(v audit.Verdict) audit.Finding {
	return audit.Finding{Bucket: "src", Key: "reports/q3 summary.pdf", VersionID: "v1", Destination: "dst", DestinationRegion: "ap-south-1",
		Verdict: v, Size: 10, ETag: "abc", EventTime: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), CheckedAt: time.Now()}
}

func TestVerifiedIsNeverMovedBack(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if it, err := l.Record(ctx, finding(audit.Pending)); err != nil || it.Verdict != audit.Pending {
		t.Fatalf("first PENDING: %+v %v", it, err)
	}
	v := finding(audit.Verified)
	v.Replica = &audit.Replica{VersionID: "v1", Size: 10, ETag: "abc", Status: "REPLICA", VerifiedAt: v.EventTime.Add(90 * time.Second)}
	if it, err := l.Record(ctx, v); err != nil || it.Verdict != audit.Verified {
		t.Fatalf("VERIFIED: %+v %v", it, err)
	}
	late, err := l.Record(ctx, finding(audit.Pending)) // a redelivered, older event
	if err != nil || late.Verdict != audit.Verified {
		t.Fatalf("a late PENDING: %+v %v, want the VERIFIED item kept", late, err)
	}
	it, err := l.Get(ctx, ledger.KeyOf("src", "reports/q3 summary.pdf", "v1", "dst"))
	if err != nil {
		t.Fatal(err)
	}
	// The late PENDING told nothing new: it wrote nothing, so two checks.
	if it.Checks != 2 || len(it.History) != 2 || it.LagSeconds == nil || *it.LagSeconds != 90 || it.Attn != "" {
		t.Errorf("item: checks %d history %d lag %v attn %q, want 2, 2, 90s and out of the attention index", it.Checks, len(it.History), it.LagSeconds, it.Attn)
	}
	if it.TTL < time.Now().Add(399*24*time.Hour).Unix() {
		t.Errorf("ttl %d is not about 400 days away", it.TTL)
	}
}

func TestPendingNeverHidesAProblem(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	f := finding(audit.Failed)
	f.FailureReason = "DstPutObjectNotPermitted"
	if _, err := l.Record(ctx, f); err != nil {
		t.Fatal(err)
	}
	it, err := l.Record(ctx, finding(audit.Pending))
	if err != nil || it.Verdict != audit.Failed || it.FailureReason != "DstPutObjectNotPermitted" {
		t.Errorf("PENDING after FAILED: %+v %v, want FAILED kept with its reason", it, err)
	}
}

func TestAttentionAndPeriodQueries(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for i, v := range []audit.Verdict{audit.Pending, audit.Verified, audit.Failed, audit.NotReplicated} {
		f := finding(v)
		f.VersionID = string(rune('a' + i))
		if _, err := l.Record(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var attention []audit.Verdict
	if err := l.Due(ctx, 5, time.Now(), func(it ledger.Item) error { attention = append(attention, it.Verdict); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(attention) != 2 {
		t.Errorf("attention: got %v, want the PENDING and the FAILED item", attention)
	}
	attention = nil
	if err := l.Due(ctx, 0, time.Now().Add(-time.Minute), func(it ledger.Item) error { attention = append(attention, it.Verdict); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(attention) != 0 {
		t.Errorf("due a minute ago: got %v, want nothing: both were due when recorded", attention)
	}
	n := 0
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if err := l.Period(ctx, day, day.Add(24*time.Hour-time.Nanosecond), func(ledger.Item) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("period: got %d items, want 4", n)
	}
}

func TestConfigurationEvidenceIsFoundByPeriod(t *testing.T) {
	l, sb := newLedger(t)
	ctx := context.Background()
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	r := ledger.NewConfigRecorder(dynamodb.NewFromConfig(cfg), "ledger", 400*24*time.Hour)
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if err := r.RecordConfig(ctx, ledger.ConfigChange{Bucket: "src", RequestType: "Create", Status: "SUCCESS", RuleIDs: []string{"r1"}, StackID: "s", At: at}); err != nil {
		t.Fatal(err)
	}
	var found int
	err := l.Period(ctx, at.Add(-time.Hour), at.Add(time.Hour), func(it ledger.Item) error {
		if ledger.IsConfig(it) && it.Bucket == "src" {
			found++
		}
		return nil
	})
	if err != nil || found != 1 {
		t.Errorf("found %d configuration records, %v", found, err)
	}
}

func TestEverythingAboutOneObjectIsOneQuery(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for _, v := range []string{"v1", "v2"} {
		for _, d := range []string{"dst-a", "dst-b"} {
			f := finding(audit.Verified)
			f.VersionID, f.Destination = v, d
			if _, err := l.Record(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := finding(audit.Pending)
	other.Key = "reports/q3 summary.pdf.bak"
	if _, err := l.Record(ctx, other); err != nil {
		t.Fatal(err)
	}
	count := func(version string) int {
		n := 0
		if err := l.Object(ctx, "src", "reports/q3 summary.pdf", version, func(ledger.Item) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if all, one := count(""), count("v2"); all != 4 || one != 2 {
		t.Errorf("got %d items for the key and %d for v2, want 4 and 2", all, one)
	}
}

func TestNotTrackedNeverHidesWhatAChecksFound(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if _, err := l.Record(ctx, finding(audit.Pending)); err != nil {
		t.Fatal(err)
	}
	it, err := l.Record(ctx, finding(audit.NotTracked))
	if err != nil || it.Verdict != audit.Pending || it.Attn == "" {
		t.Errorf("NOT_TRACKED over PENDING: verdict %s attention %q, %v", it.Verdict, it.Attn, err)
	}
}

func TestALateFailureReasonDoesNotTouchAVerifiedItem(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	if _, err := l.Record(ctx, finding(audit.Verified)); err != nil {
		t.Fatal(err)
	}
	f := finding(audit.Failed)
	f.FailureReason, f.Detail = "DstKmsKeyNotFound", "late"
	it, err := l.Record(ctx, f)
	if err != nil || it.Verdict != audit.Verified || it.FailureReason != "" {
		t.Errorf("got %s reason %q, %v", it.Verdict, it.FailureReason, err)
	}
}

func TestConcurrentWritersEachSeeTheOthersWork(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	k := ledger.KeyOf("src", "contended", "v1", "dst")
	const writers = 8
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			// Each writer adds one check, starting from what it believes.
			_, _, err := l.Change(ctx, k, nil, func(cur *ledger.Item) (ledger.Item, bool, error) {
				f := finding(audit.Pending)
				f.Key = "contended"
				next, _ := l.Apply(cur, f)
				return next, true, nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	it, err := l.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if it.Checks != writers || it.Rev != writers {
		t.Errorf("checks %d rev %d, want %d each: no write may be lost to another", it.Checks, it.Rev, writers)
	}
}
