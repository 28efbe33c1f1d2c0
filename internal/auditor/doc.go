// Package auditor is the replication-auditor function's work: it takes a
// batch of S3 notifications from SQS, checks each record (package audit),
// records the findings (package ledger) and raises or resolves alerts
// (package alert). Records are handled concurrently, with a bound; a record
// that cannot be handled fails alone, in batchItemFailures.
package auditor
