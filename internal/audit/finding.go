package audit

import "time"

// Finding is one verdict on one object version for one destination, with
// its evidence. Destination is empty for verdicts that concern no
// destination (NOT_REPLICATED because no rule applies, a version delete).
type Finding struct {
	Bucket            string
	SourceRegion      string
	Key               string
	VersionID         string
	Destination       string
	DestinationRegion string
	RuleID            string

	Verdict Verdict
	// Size and ETag are the source's, as the event reported them.
	Size int64
	ETag string
	// EventTime is when the version was written: the record's eventTime, or
	// a replication event's requestTime. A time in the future is clamped to
	// the check's time, and EventTimeClamped says so.
	EventTime        time.Time
	EventTimeClamped bool
	CheckedAt        time.Time

	Replica     *Replica
	Differences []string
	// FailureReason is S3's reason for FAILED, or, for CANNOT_VERIFY, the
	// error code that kept replaudit from reading (AccessDenied,
	// NoSuchBucket).
	FailureReason string
	// Detail says why, in words, when the verdict alone does not.
	Detail string
	// LongPending marks S3's OperationMissedThreshold: alert as long-PENDING.
	LongPending bool
	// DeleteMarker marks a finding about a delete marker, not an object.
	DeleteMarker bool
	// AwaitingReason marks a FAILED seen on the source's status under a rule
	// with Metrics on: S3's failure event, with the reason, is on its way.
	AwaitingReason bool
	// RedriveAt is when a reconciliation handed a version that was never
	// replicated to S3 Batch Replication: its PENDING threshold, and its
	// lag once verified, count from then, not from its writing.
	RedriveAt time.Time
	// Resurvey marks evidence of the replica as it is now, gathered after
	// it was verified (from an S3 Inventory of the destination): a replica
	// deleted or changed since then is MISSING or DIVERGED, and that
	// replaces VERIFIED, which no event may.
	Resurvey bool
}

// Replaces reports whether the finding's verdict may replace an item's
// current one: as Verdict.Replaces says, and a resurvey's MISSING or
// DIVERGED replaces VERIFIED.
func (f Finding) Replaces(current Verdict) bool {
	if f.Resurvey && current == Verified && f.Verdict.Problem() {
		return true
	}
	return f.Verdict.Replaces(current)
}

// Replica is the evidence read from the destination.
type Replica struct {
	VersionID    string
	Size         int64
	ETag         string
	Checksum     string // "ALGORITHM:value", when the replica carries one
	Status       string
	LastModified time.Time
	VerifiedAt   time.Time
}

// Lag is an upper bound on replication lag: when the replica was seen minus
// when the source was written. A replica's LastModified is the source's, so
// it says nothing about lag.
func (f Finding) Lag() (time.Duration, bool) {
	if f.Verdict != Verified || f.Replica == nil || f.EventTime.IsZero() {
		return 0, false
	}
	return max(f.Replica.VerifiedAt.Sub(f.EventTime), 0), true
}
