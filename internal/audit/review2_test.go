package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/bucketregion"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// Review 2: with RULE_IDS (as deployed), the checker drops the rules it
// does not own before deciding whether the source's aggregate status "can
// only mean this destination". The source's FAILED also aggregates the
// rules of other teams, so one owned rule is not "one destination".
func TestReview2AnotherTeamsFailureIsNeverPinnedOnOurDestination(t *testing.T) {
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
	waitFor(t, "FAILED on the source", func() bool { return sc.status(t, "k", v) == "FAILED" })

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

// Review 2: "A message's destinations are checked concurrently, within the
// concurrency limit." An object's destinations are; a delete marker's are
// HEADed one after another.
func TestReview2ADeleteMarkersDestinationsAreCheckedConcurrently(t *testing.T) {
	sc := newScene(t, "dst-a", "dst-b", "dst-c")
	sc.replicate(t, true, "dst-a", "dst-b", "dst-c")
	ctx := context.Background()
	v := sc.put(t, "k", "x")
	waitFor(t, "COMPLETED", func() bool { return sc.status(t, "k", v) == "COMPLETED" })
	if _, err := sc.s3("us-east-1").DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	rec := sc.records(t, "ObjectRemoved:DeleteMarkerCreated")[0]
	waitFor(t, "the replicated markers", func() bool {
		for _, f := range sc.check(t, rec) {
			if f.Verdict != audit.Verified {
				return false
			}
		}
		return true
	})
	const slow = 400
	for _, d := range []string{"dst-a", "dst-b", "dst-c"} {
		_ = sc.sb.InjectFault(sandbox.Fault{Bucket: d, Kind: sandbox.FaultSlowdown, Millis: slow})
	}
	defer sc.sb.ClearFaults("")

	began := time.Now()
	sc.check(t, sc.records(t, "ObjectCreated:Put")[0])
	object := time.Since(began)
	began = time.Now()
	sc.check(t, rec)
	marker := time.Since(began)
	if marker > object+slow*time.Millisecond {
		t.Errorf("three destinations of %dms each: the object's took %s, the delete marker's %s: checked one after another", slow, object.Round(time.Millisecond), marker.Round(time.Millisecond))
	}
}
