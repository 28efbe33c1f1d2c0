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
//
// # A run's states
//
// A run is one item in the ledger's table (pk R#<source>, sk the
// inventory's time and a hash of its manifest's key, so a manifest is
// always the same run). Every change is one conditional write; what
// happens between two writes is repeated safely by whoever comes next.
//
//	from     write (condition)                                  to        who
//	-        start: create (the item does not exist)            RUNNING   the manifest's notification
//	RUNNING  counted: ADD the file's counts and its hash to     RUNNING   a file's task
//	         counted, done+1 (the hash is not in counted)
//	RUNNING  claimClose: closing = token, closingAt = now       RUNNING   the worker that saw done = files,
//	         (done >= files, and no closing or its lease over)            or any later one once the lease ends
//	RUNNING  closed: state, summary (closing = token)           CLEAN, NEEDS_REPLICATION or INCOMPLETE
//
// Between the writes, and repeated as they may be:
//   - before start, nothing; after it, the tasks are sent. A replayed
//     notification finds the item: it sends the tasks again while the run
//     is RUNNING (a counted file's task is then a no-op), and nothing once
//     it is closed.
//   - before counted, a worker records its findings (conditional ledger
//     writes that keep evidence already held) and writes its file's part of
//     the remediation manifest, under a key of the run and the file. A
//     worker stopped before counted leaves the task to SQS, whose next
//     delivery writes the same findings and the same part again.
//   - between claimClose and closed, the closer joins the parts into the
//     remediation manifest (the same key every time), creates the Batch
//     Replication job (its ClientRequestToken is the run's: S3 creates one
//     job whatever the retries), and publishes the digest. A closer stopped
//     there leaves the last task to SQS: its next delivery finds the file
//     counted, and claims the closing once the lease (10 minutes) ends.
//     The digest is the one call that cannot be taken back: a closer
//     stopped after publishing and before closed sends it a second time.
//
// The same functions run a reconciliation from the command line (Local),
// where goroutines take the place of SQS.
//
// In the deployed stack, the reconciler's function also verifies the
// destination from both buckets' inventories on Athena once both of a day
// have landed: package verify/daily, which wraps Handle (this package
// cannot import verify, which imports it), writes down that verification's
// states and calls.
package reconcile
