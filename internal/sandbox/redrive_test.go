package sandbox_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/replaudit/replaudit/internal/sandbox"
)

func TestRedriveReplicatesAgainWhatFailed(t *testing.T) {
	e := start(t, sandbox.Options{})
	queue := twoRegions(t, e, "dst")
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil, withMetrics)); err != nil {
		t.Fatal(err)
	}
	done := aws.ToString(put(t, e.src, "src", "done", "x").VersionId)
	waitStatus(t, e.src, "src", "done", done, "COMPLETED")
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	old := aws.ToString(put(t, e.src, "src", "k", "one").VersionId)
	cur := aws.ToString(put(t, e.src, "src", "k", "two").VersionId)
	for _, id := range []string{old, cur} {
		waitStatus(t, e.src, "src", "k", id, "FAILED")
	}
	e.sb.ClearFaults("dst")

	// An outage holds the redriven versions PENDING: a redrive goes through
	// the faults in force.
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	e.sb.ReceiveMessages(queue, 100)
	n, err := e.sb.Redrive("src")
	if err != nil || n != 2 {
		t.Fatalf("redrive: got %d, %v, want 2 pairs started, the noncurrent and the current version of k", n, err)
	}
	for _, id := range []string{old, cur} {
		if got := status(t, e.src, "src", "k", id); got != "PENDING" {
			t.Errorf("version %s during the redrive: got %q, want PENDING", id, got)
		}
	}
	if n, _ := e.sb.Redrive("src"); n != 0 {
		t.Errorf("a second redrive while the first runs started %d pairs, want 0", n)
	}
	e.sb.ClearFaults("")
	for _, id := range []string{old, cur} {
		waitStatus(t, e.src, "src", "k", id, "COMPLETED")
		if rep := head(t, e.dst, "dst", "k", id); rep.ReplicationStatus != "REPLICA" || aws.ToString(rep.VersionId) != id {
			t.Errorf("replica of k@%s: got status %q version %s, want a REPLICA with the same version id", id, rep.ReplicationStatus, aws.ToString(rep.VersionId))
		}
	}
	if got := head(t, e.dst, "dst", "k", ""); aws.ToString(got.VersionId) != cur {
		t.Errorf("latest replica of k: got %s, want the current source version %s", aws.ToString(got.VersionId), cur)
	}
	for _, body := range bodies(e.sb.QueueMessages(queue)) {
		if strings.Contains(body, "ObjectCreated") {
			t.Errorf("the redrive raised a source event, as Batch Replication does not: %s", body)
		}
	}
	if n, err := e.sb.Redrive("src"); err != nil || n != 0 {
		t.Errorf("a redrive with nothing FAILED: got %d, %v, want 0", n, err)
	}
}

func TestRedriveNamesWhatItCannotDo(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "plain", srcRegion, true)
	for bucket, want := range map[string]string{"nope": "does not exist", "plain": "no replication configuration"} {
		if _, err := e.sb.Redrive(bucket); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("redrive %s: got %v, want an error saying %q", bucket, err, want)
		}
	}
}
