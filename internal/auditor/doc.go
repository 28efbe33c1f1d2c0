// Package auditor is the replication-auditor function's work: it takes a
// batch of S3 notifications from SQS, checks each record (package audit),
// and settles each finding, its evidence and its incident, in one write
// (package incident). Messages are handled concurrently, with a bound, and
// none is started near the deadline; each record is settled on its own; a
// message that failed for a reason that may pass goes back to SQS in
// batchItemFailures, and one that can never succeed is logged once.
package auditor
