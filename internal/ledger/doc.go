// Package ledger is replaudit's durable evidence: one DynamoDB item per
// object version and destination, with its verdict and history, the
// replica's evidence, an upper bound on replication lag, and the state of
// its incident (which package incident keeps).
//
// Every write puts the whole item, conditional on the revision it was
// computed from (Change): two writers never both move an item, a
// redelivered or reordered event never moves a VERIFIED item back, and a
// writer whose answer was lost knows its write landed by its write id.
// Two indexes serve reads without hot partitions: a sparse, sharded index
// of the items that need attention, sorted by when they next do (for the
// sweeper), and a day-and-shard index of every item (for auditors'
// queries over a period).
package ledger
