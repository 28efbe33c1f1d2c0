// Package sweep is the scheduled sweeper. It reads the ledger items due
// for attention, and only those: PENDING items and open incidents, checked
// again on a back-off (soon, then hourly, then daily); notices owed (a page
// SNS could not take, a claim whose holder stopped, a resolved notice);
// storm windows whose digest or resolution is due. It stops short of its
// deadline and after a bound on items; what it did not reach stays due for
// the next run.
//
// # One sweep at a time
//
// The schedule may deliver a run twice, and nothing in the account keeps
// two invocations apart (reserved concurrency needs a quota many accounts
// do not have). A run sweeps only while it holds the sweep lease: one
// item in the ledger's table (pk LEASE#sweeper, ledger.Lease), each change
// one conditional write. Its holder is a token new to each run; its expiry
// the invocation's deadline, which no invocation outlives (LeaseTerm, 5
// minutes, without one).
//
//	state                meaning
//	free                 no item, or one without a holder: released, or never taken
//	held(token, until)   a run holds it; until is in the future
//	expired              held, until has passed: the holder stopped without releasing
//
// The transitions, each one write, or none:
//
//	from                 on                                    to                   the write lands if
//	free, expired        a run starts (take)                   held(token, until)   no holder, or until <= now
//	held(token, until)   the same run writes again: the SDK    held(token, until)   holder = token
//	                     or the run retries a lost answer
//	held(other, until)   a run starts                          unchanged            (it fails: the run logs one
//	                                                                                INFO line, returns Skipped)
//	held(token, until)   the run ends (release)                free                 holder = token
//	held(token, until)   the holder stops (crash, timeout)     expired at until     (no write: time passes)
//	free, held(other)    a release again (its answer lost,     unchanged            (it fails: nothing to free)
//	                     or the lease expired and was taken)
//
// So a run that ends frees the lease for the next at once, and one that
// stops keeps others out until its own deadline and no longer: with the
// stack's timeout (300 s) equal to the schedule's period (5 minutes), at
// most the one scheduled run that follows it. A take whose answer is lost
// is tried again with the same token, by the SDK and once more by the run,
// and finds its own lease: the same run sweeps. Should that fail too, the
// run releases in case the write landed, and returns the error.
//
// The lease saves work; it guards no invariant. Two runs side by side
// (one outliving its lease) would still leave the ledger right, since
// every item's write is conditional on the revision it was computed from
// (package ledger). The lease's ttl is never before its expiry: DynamoDB
// removes only leases already free, and never decides who holds one.
package sweep
