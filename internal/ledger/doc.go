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
//
// # Rollups
//
// Reports read rollups, not items: for each day, source and destination,
// the counters every item counts in (Contribution: checks, verdicts,
// reasons, a lag histogram, incidents). Each writer (a batch in flight:
// an SQS batch, a sweep, one CLI write) adds to its own rollup item, in
// its own sequence: one UpdateItem per batch and key, conditional on the
// sequence, so a retry after a lost answer never adds twice.
//
// An item's write says what the rollups owe for it, in the same
// conditional write: its counters now (rc), those counted before (rp),
// and the batch that owes the difference (rb, "writer:seq:deadline"). So
// a change is owed by exactly the write that made it, and a batch's add
// may stop anywhere without losing or doubling a count:
//
//	state of the owing batch        what the rollups count   what the item's next writer does
//	-----------------------------   ----------------------   ------------------------------------------------
//	running (before its deadline    rp (rc once it adds)     waits: ErrOwedElsewhere (the SQS message comes
//	  and a minute more)                                     again, a sweep tries next time)
//	added (seq >= its seq)          rc                       goes on from rc
//	fenced (in its fenced set)      rp, for good             goes on from rp, and owes rc-rp itself
//	stopped, past its deadline      rp                       fences it, then as fenced
//
// Transitions, each one call:
//
//	write item (Change)      the item owes rc-rp to this batch; the batch adds it in memory
//	Flush: add               seq := batch seq; the counters move by the batch's sum; if the
//	                         answer is lost, the retry fails its condition and the token says
//	                         it applied; if the batch was fenced, nothing moves and Flush
//	                         returns the tags of its writes (ErrFenced)
//	settle (another writer)  reads the rollup item: added, fenced, or neither; neither past
//	                         the deadline is fenced (ADD fenced, only while seq < the
//	                         batch's), then rp counts and this writer owes rc-rp itself,
//	                         writing the item again if it had nothing else to write
//
// A batch is never fenced while it may still flush, so concurrent writers
// of one item never undo each other's batches: the later one waits. (A
// batch whose add failed in this same process cannot flush again: its
// items are fenced at once.) What
// stops is always found by the item's next writer: an SQS batch's messages
// come again when it stops or its add fails (the auditor returns them as
// failures, and SQS's visibility timeout outlasts the batch's deadline),
// and an item written by a batch nothing delivers again (a sweep, a
// reconciliation file, the CLI) stays in the attention index until the
// batch added (then Unpark takes it out) or until a sweep, 16 minutes on,
// settles it. A writer whose batch failed to add is not used again, so
// "seq >= its seq" always means added. Items written before rollups
// existed count in base rollups that `replaudit rollup rebuild` writes
// (BaseOf, Rebuild), and keep what they counted there (rb0) when they
// next change.
package ledger
