package audit_test

import (
	"context"

	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// with RULE_IDS (as deployed), the checker drops the rules it
// does not own before deciding whether the source's aggregate status "can
// only mean this destination". The source's FAILED also aggregates the
// rules of other teams, so one owned rule is not "one destination".
func TestAnotherTeamsFailureIsNeverPinnedOnOurDestination(t *testing.T) {
	sc := newScene(t, "ours", "theirs")
	sc.replicateWith(t, false, false, "ours", "theirs") // no Metrics: only the aggregate status speaks
	checker, err := audit.New(audit.Options{Clients: func(region string) audit.S3 { return sc.s3(region) },
		Regions: bucketregion.New(sc.s3("us-east-1")), RuleIDs: []string{"to-ours"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "theirs", Kind: sandbox.FaultDeny})
	_ = sc.sb.InjectFault(sandbox.Fault{Bucket: "ours", Kind: sandbox.FaultOutage})
	v := sc.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "FAILED on the source", func() bool { return sc.status(t, "k", v) == "FAILED" })

	fs, err := checker.Check(context.Background(), sc.records(t, "ObjectCreated:Put")[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Destination == "ours" && f.Verdict != audit.Pending {
			t.Errorf("ours, in an outage while another team's destination is denied: got %s (%s), want PENDING: the source's FAILED is theirs", f.Verdict, f.Detail)
		}
	}
	f, err := checker.Recheck(context.Background(), audit.Finding{Bucket: "src", Key: "k", VersionID: v, Size: 1, Destination: "ours", RuleID: "to-ours", Verdict: audit.Pending})
	if err != nil || f.Verdict != audit.Pending {
		t.Errorf("sweeper's recheck of ours: got %s (%s), %v; want PENDING", f.Verdict, f.Detail, err)
	}
}

// "A message's destinations are checked concurrently, within the
// concurrency limit." A delete marker's destinations too: with S3 hung,
// all three HEADs are in flight at once.
func TestADeleteMarkersDestinationsAreCheckedConcurrently(t *testing.T) {
	sc := newScene(t, "dst-a", "dst-b", "dst-c")
	sc.replicate(t, true, "dst-a", "dst-b", "dst-c")
	ctx := context.Background()
	v := sc.put(t, "k", "x")
	sandboxtest.Eventually(t, 5*time.Second, "COMPLETED", func() bool { return sc.status(t, "k", v) == "COMPLETED" })
	if _, err := sc.s3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	var rec events.S3EventRecord
	sandboxtest.Eventually(t, 5*time.Second, "the delete marker's event", func() bool {
		recs := sc.records(t, "ObjectRemoved:DeleteMarkerCreated")
		if len(recs) > 0 {
			rec = recs[0]
		}
		return len(recs) > 0
	})
	for _, d := range []string{"dst-a", "dst-b", "dst-c"} {
		_, _ = sc.checker.Region(ctx, d) // regions known, as a running auditor has them
	}
	_, _ = sc.checker.Config(ctx, "src")
	_ = sc.sb.InjectFault(sandbox.Fault{Service: "s3", Kind: sandbox.FaultHang})
	defer sc.sb.ClearFaults("")
	done := make(chan struct{})
	hung, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	go func() {
		defer close(done)
		_, _ = sc.checker.Check(hung, rec)
	}()
	sandboxtest.Eventually(t, 4*time.Second, "three HEADs in flight at once", func() bool { return sc.sb.Held() == 3 })
	cancel()
	<-done
}
