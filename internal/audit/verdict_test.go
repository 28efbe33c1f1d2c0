package audit_test

import (
	"testing"

	"github.com/replaudit/replaudit/internal/audit"
)

func TestWhichVerdictReplacesWhich(t *testing.T) {
	cases := []struct {
		next, current audit.Verdict
		want          bool
	}{
		{audit.Pending, "", true},
		{audit.Verified, audit.Pending, true},
		{audit.Pending, audit.Verified, false}, // a late event never moves VERIFIED back
		{audit.Failed, audit.Verified, false},
		{audit.Pending, audit.Failed, false},      // PENDING says less than a problem found
		{audit.CannotVerify, audit.Failed, false}, // and so does a blind spot
		{audit.Verified, audit.Failed, true},      // a re-drive ends it
		{audit.Pending, audit.CannotVerify, true}, // readable again
		{audit.NotTracked, audit.Pending, false},  // S3 stopped timing; it says nothing
		{audit.Verified, audit.NotReplicated, true},
		{audit.Pending, audit.NotReplicated, true}, // a Batch Replication re-drive started
		{audit.NotReplicated, audit.Superseded, false},
	}
	for _, c := range cases {
		if got := c.next.Replaces(c.current); got != c.want {
			t.Errorf("%s replaces %q: got %v, want %v", c.next, c.current, got, c.want)
		}
	}
}
