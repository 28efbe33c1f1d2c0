// Package daily runs the verification (package verify) in the deployed
// stack, on Amazon Athena, once both inventories of a day have landed: the
// source's, in the stack's inventory bucket, whose manifest.json
// notification reaches the inventory reconciler, and the destination's, in
// a bucket of the destination's region whose notifications never reach the
// stack. The reconciler's function hands it each source manifest it was
// notified of (Manifest), and a schedule invokes it with Event
// {"verify":"pending"} (Pending), which verifies the newest day both
// inventories have that no summary records yet. It is pure Go: Athena
// runs the SQL, and nothing here links DuckDB.
//
// S3 writes an inventory under <prefix>/<bucket>/<configuration id>/, one
// folder per inventory named for its time (YYYY-MM-DDTHH-MMZ) holding
// manifest.json, and hive/dt=YYYY-MM-DD-HH-MM/symlink.txt, which the
// stack's Glue tables read, partition projection finding each dt.
//
// # A day's states
//
// A day is one item in the ledger's table (pk VERIFYRUN#<source>, sk
// <date>#<destination>), beside verify's summary item (pk VERIFY#<source>,
// same sk). Every change is one conditional write.
//
//	from               write (condition)                           to        who
//	-                  wait (no item, or WAITING)                  WAITING   a source manifest whose day the destination has no inventory of yet
//	-, WAITING,        claim: token, claimedAt = now (no item,     RUNNING   Manifest or Pending, both inventories there
//	FAILED, RUNNING    WAITING, FAILED, or RUNNING whose
//	                   claimedAt is older than the lease or gone)
//	RUNNING            started: queryId (token)                    RUNNING   the claimer, once Athena took the query
//	RUNNING            detach: REMOVE token, claimedAt (token)     RUNNING   the claimer whose deadline came first: the query runs on
//	RUNNING            failed: reason, REMOVE queryId (token)      FAILED    the claimer, when the query FAILED or a call broke
//	RUNNING            recorded: counts (token)                    RECORDED  the claimer, after verify wrote the summary and sent the digest
//
// The calls of a claimed day, in order: S3 ListObjectsV2 of the
// destination's inventory folders of the day and GetObject of its
// manifest.json and manifest.checksum (and the source's); DynamoDB
// UpdateItem (claim); Athena StartQueryExecution, then UpdateItem
// (started); GetQueryExecution until the query ends or the invocation's
// deadline nears (Options.Reserve before it); GetQueryResults, page by
// page, each MISSING and DIVERGED row recorded in the ledger (conditional
// writes that keep the ledger's own final verdicts) and listed in the
// re-drive manifest's part in the inventory bucket; S3 PutObject of the
// re-drive manifest; DynamoDB PutItem of the summary (the same key for
// the same day and destination: a repeat replaces it); SNS Publish of the
// one digest, when anything is MISSING or DIVERGED; UpdateItem
// (recorded).
//
// Between the writes, and repeated as they may be:
//   - a RECORDED day is never verified again: a replayed notification or
//     a later schedule finds it and stops, so the digest is sent once.
//   - a query still running at the deadline is left running (detach): the
//     next invocation, the schedule's (Lambda retries a failed scheduled
//     invocation twice, minutes apart) or the next notification's, claims
//     the day at once and reads that query's results rather than paying
//     for another; one that FAILED is started again by the next one.
//   - a claimer stopped anywhere (a crash, a timeout) leaves RUNNING with
//     its claimedAt: once the lease (Options.Lease, longer than an
//     invocation) is over, the next invocation claims it, resuming the
//     query if one was started. Findings and the summary are written
//     again alike; the digest is the one call that cannot be taken back:
//     a claimer stopped after Publish and before recorded sends it a
//     second time.
//   - a query that FAILED, or any error, leaves FAILED: no summary is
//     written, so nothing says the day was clean, and the next invocation
//     verifies it again.
package daily
