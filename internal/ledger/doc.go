// Package ledger is replaudit's durable evidence: one DynamoDB item per
// object version and destination, with its verdict and history, the
// replica's evidence, an upper bound on replication lag, and the state of
// its alert.
//
// Writes are conditional, so redelivered or reordered events never move a
// VERIFIED item back and never send a second alert. Two indexes serve
// reads without hot partitions: a sparse, sharded index of the items that
// need attention (for the sweeper), and a day-and-shard index of every item
// (for auditors' queries over a period).
package ledger
