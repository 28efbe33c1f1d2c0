package audit

// Verdict is the outcome of checking one object version against one
// destination.
type Verdict string

// The verdicts.
const (
	// Verified: the replica exists, is a REPLICA, and matches.
	Verified Verdict = "VERIFIED"
	// Diverged: the replica exists but differs from the source.
	Diverged Verdict = "DIVERGED"
	// Pending: not replicated yet; the sweeper checks again.
	Pending Verdict = "PENDING"
	// Failed: S3 reports the replication failed.
	Failed Verdict = "FAILED"
	// Missing: the source says COMPLETED but the replica is not there.
	Missing Verdict = "MISSING"
	// NotReplicated: no rule applies (outside every filter, written before
	// the rule, or a replica itself). Recorded, never alerted.
	NotReplicated Verdict = "NOT_REPLICATED"
	// Superseded: the version was deleted before it could be checked.
	Superseded Verdict = "SUPERSEDED"
	// DeleteNotReplicated: a version was deleted; S3 never replicates that.
	DeleteNotReplicated Verdict = "DELETE_NOT_REPLICATED"
	// NotTracked: S3 sent OperationNotTracked for the version. It is kept
	// only when nothing else is known.
	NotTracked Verdict = "NOT_TRACKED"
)

// Verdicts lists every verdict, for validation and reports.
var Verdicts = []Verdict{Verified, Diverged, Pending, Failed, Missing, NotReplicated, Superseded, DeleteNotReplicated, NotTracked}

// Alerts reports whether the verdict pages on-call.
func (v Verdict) Alerts() bool { return v == Failed || v == Missing || v == Diverged }

// Final reports whether no later check may replace the verdict. VERIFIED is
// final: a redelivered or reordered event must never move it back.
func (v Verdict) Final() bool {
	switch v {
	case Verified, Superseded, DeleteNotReplicated, NotReplicated:
		return true
	}
	return false
}

// Replaces reports whether a new verdict may overwrite the current one:
// never a final one, and PENDING never overwrites a problem already found.
func (v Verdict) Replaces(current Verdict) bool {
	if current == "" {
		return true
	}
	if v == NotTracked {
		// S3 stopped timing the replication; it says nothing of whether it
		// happened, so it never overrides what a check found.
		return false
	}
	if current.Final() {
		return false
	}
	if v == Pending && current.Alerts() {
		return false
	}
	return true
}

// Valid reports whether s names a verdict.
func Valid(s string) bool {
	for _, v := range Verdicts {
		if string(v) == s {
			return true
		}
	}
	return false
}
