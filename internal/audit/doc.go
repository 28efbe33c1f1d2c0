// Package audit decides, for each new object version and each destination
// its replication rules name, whether the replica is really there: one
// Verdict per version and destination, with the evidence behind it.
//
// The happy path costs one HeadObject per destination and none on the
// source: the replica is checked first, and the source only when the replica
// is missing, to learn why. A region that cannot be reached, or throttling
// that outlasts the SDK's retries, never yields FAILED: the verdict stays
// PENDING and is checked again.
package audit
