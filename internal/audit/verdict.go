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
	// Pending: not replicated yet, or not yet known for this destination;
	// the sweeper checks again.
	Pending Verdict = "PENDING"
	// Failed: S3 reports that replication to this destination failed.
	Failed Verdict = "FAILED"
	// Missing: the source says COMPLETED but the replica is not there.
	Missing Verdict = "MISSING"
	// CannotVerify: replaudit may not read the replica or the source (403,
	// no such bucket), so it cannot tell. It is checked again, rarely, and
	// alerted once with the fix.
	CannotVerify Verdict = "CANNOT_VERIFY"
	// NotReplicated: S3 did not replicate the version and will not on its
	// own: no rule applies, it was written before the rule, or it is a
	// replica itself. Recorded, never alerted, never checked again; a
	// Batch Replication re-drive may still replicate it, and later
	// evidence replaces it.
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
var Verdicts = []Verdict{Verified, Diverged, Pending, Failed, Missing, CannotVerify, NotReplicated, Superseded, DeleteNotReplicated, NotTracked}

// Problem reports whether the verdict is a replication problem that pages
// on-call: the replica failed, is missing or differs.
func (v Verdict) Problem() bool { return v == Failed || v == Missing || v == Diverged }

// Open reports whether the item is still to be checked again: the answer
// is not known yet, or a problem or a blind spot may still end.
func (v Verdict) Open() bool { return v == Pending || v == CannotVerify || v.Problem() }

// Final reports whether no later check may replace the verdict. VERIFIED is
// final: a redelivered or reordered event must never move it back.
func (v Verdict) Final() bool {
	switch v {
	case Verified, Superseded, DeleteNotReplicated:
		return true
	}
	return false
}

// Replaces reports whether a new verdict may overwrite the current one:
// never a final one; and neither PENDING nor CANNOT_VERIFY overwrites a
// problem already found, since they say less than it does.
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
	if (v == Pending || v == CannotVerify) && current.Problem() {
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
