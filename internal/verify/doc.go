// Package verify checks a destination bucket against its source from both
// buckets' S3 Inventories of the same day, with no request per object:
// every source version S3 says it replicated (ReplicationStatus COMPLETED)
// must be listed in the destination with the same key, version id and size,
// and the same ETag where encryption lets ETags be compared. What is not
// there is MISSING; what differs is DIVERGED, naming the field; a version
// the destination holds and the source does not list is an ORPHAN (counted
// and shown, not a ledger finding: a version deleted from the source stays
// in the destination, since S3 never replicates version deletes).
//
// It exists because the auditor checks each version once, when it is
// written: a replica deleted, overwritten or lost later is only seen by
// looking at the whole destination again, which for a bucket of billions
// of objects only an inventory join can afford.
//
// The join is one SQL text (Query), run by an Engine: DuckDB embedded in
// the command line (package duck, which needs cgo and is linked by nothing
// a Lambda function imports) or Amazon Athena over the inventories' Glue
// tables (package athena). Both read the same columns, named as Athena's
// tables for S3 Inventory name them, and return the same rows.
//
// What a run finds goes to the ledger as MISSING and DIVERGED findings, to
// a remediation manifest S3 Batch Replication reads, to one digest alert,
// and to a summary item (pk VERIFY#<source>, sk the inventory's date and
// destination) that a report reads with Latest.
//
// Inventories are snapshots taken at different times of the day: a version
// written shortly before the destination's inventory began may not have
// been replicated when it was taken. Such versions are counted apart as
// unsettled, never as MISSING, and the next day's inventories judge them.
package verify
