package reconcile

import (
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/replication"
)

// The source of these rows replicates logs/ to a bucket in another region
// under the stack's rule, tagged objects under images/ under a second rule
// of the stack's, and archive/ under a rule someone else owns.
func testScope() Scope {
	rule := func(id, prefix string, tags map[string]string, dst string) replication.Rule {
		return replication.Rule{ID: id, Enabled: true, Filter: replication.Filter{Prefix: prefix, Tags: tags},
			Destination: replication.Destination{BucketARN: replication.BucketARN(dst)}}
	}
	cfg := replication.Config{Rules: []replication.Rule{
		rule("stack-logs", "logs/", nil, "acme-dr"),
		rule("stack-images", "images/", map[string]string{"replicate": "yes"}, "acme-dr"),
		rule("theirs", "archive/", nil, "acme-vault"),
	}}
	return Scope{Config: cfg,
		Audited:   func(id string) bool { return id != "theirs" },
		Allowance: func(size int64) time.Duration { return 30*time.Minute + time.Duration(size>>30)*4*time.Minute }}
}

func TestClassifyFollowsTheSharedModel(t *testing.T) {
	at := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	row := func(key, status string, age time.Duration) inventory.Row {
		return inventory.Row{Bucket: "acme-data", Key: key, VersionID: "v1", IsLatest: true, Size: 1024, LastModified: at.Add(-age), ReplicationStatus: status}
	}
	dm := row("logs/deleted.txt", "", time.Hour)
	dm.IsDeleteMarker = true
	big := row("logs/big.bin", "PENDING", 50*time.Minute)
	big.Size = 10 << 30 // 10 GiB: 30 minutes and 40 more
	for _, tc := range []struct {
		name  string
		row   inventory.Row
		class Class
		rules int
	}{
		{"completed", row("logs/a.txt", "COMPLETED", time.Hour), Replicated, 1},
		{"completed, old spelling", row("logs/a.txt", "COMPLETE", time.Hour), Replicated, 1},
		{"a replica kept in the source", row("logs/r.txt", "REPLICA", time.Hour), Replicated, 1},
		{"failed", row("logs/f.txt", "FAILED", time.Hour), Failed, 1},
		{"pending within the allowance", row("logs/p.txt", "PENDING", 10*time.Minute), Pending, 1},
		{"pending beyond it", row("logs/p.txt", "PENDING", 31*time.Minute), LongPending, 1},
		{"a large version pending within its size's allowance", big, Pending, 1},
		{"in scope and never replicated: written before the rule", row("logs/old.txt", "", 400*24*time.Hour), NotReplicated, 1},
		{"no rule covers the key", row("tmp/x", "", time.Hour), OutOfScope, 0},
		{"someone else's rule", row("archive/x", "", time.Hour), OutOfScope, 0},
		{"replicated under someone else's rule", row("archive/x", "COMPLETED", time.Hour), OutOfScope, 0},
		{"only tags could tell", row("images/cat.png", "", time.Hour), UnknownScope, 0},
		{"failed under the tag rule", row("images/dog.png", "FAILED", time.Hour), Failed, 1},
		{"a delete marker", dm, DeleteMarker, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			class, rules := testScope().Classify(tc.row, at)
			if class != tc.class || len(rules) != tc.rules {
				t.Errorf("got %s with %d rules, want %s with %d", class, len(rules), tc.class, tc.rules)
			}
			if tc.class == NotReplicated || tc.class == Failed {
				if !class.Redrive() {
					t.Errorf("%s is not re-driven", class)
				}
			} else if class.Redrive() {
				t.Errorf("%s is re-driven", class)
			}
		})
	}
}
