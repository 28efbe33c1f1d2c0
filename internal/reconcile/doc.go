// Package reconcile accounts for every object version an S3 Inventory
// lists, not only those S3 announced: it classifies each row with the
// shared replication model, records the problems (and the replicated
// versions the ledger never saw, checked against their replicas) in the
// ledger without rewriting evidence it already holds, and writes a
// remediation manifest of what S3 Batch Replication should replicate,
// which it may re-drive itself.
//
// A run is one inventory. Its coordinator validates the manifest and fans
// out one task per data file (through SQS, or goroutines from the command
// line); each worker streams its file in bounded memory and adds its
// counts to the run item once, whatever the redeliveries; the worker that
// finishes the last file closes the run: the summary, one digest alert
// when anything needs attention, the manifest, the re-drive. A run with a
// file that could not be read says INCOMPLETE, never clean.
package reconcile
