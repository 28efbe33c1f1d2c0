// Package incident keeps the one state machine behind on-call's signal:
// each ledger item's incident, from the check that finds a problem to the
// notice that says it is over, with one page per incident, storms folded
// into digests, and nothing lost or sent twice when a process stops
// between two calls.
//
// # One write per transition
//
// Every transition is one conditional write of the whole item (ledger
// Change), computed in Go from the state it replaces and applied only if
// the item is still in that state. The transition that opens an incident
// rides on the write that records the check's evidence, and so does the
// claim of its page when the page may go now. A page and its incident
// then cost three writes: evidence with the claim, the storm window's
// count, and the confirmation after the publish. Each event S3 sends about
// the version (its write, its failure) costs one more write for its
// evidence.
//
// # States and transitions
//
// An item's incident is in one of these states (ledger.Item.Alert):
//
//	state        meaning                                      in the attention index, due
//	(none)       no incident                                  while the verdict is open: on the back-off
//	DUE          a page is owed                               at DueAt (now, or when S3's reason is due)
//	SENDING      a sender holds the claim on the page         when the claim's lease ends
//	SENT         on-call was paged; the problem goes on       on the back-off, to see it end
//	HELD         counted in a storm digest instead            on the back-off, to see it end
//	RESOLVE_DUE  over; a resolved notice is owed              at once
//	RESOLVING    a sender holds the claim on the notice       when the claim's lease ends
//	RESOLVED     over and told, or over before any page       while the verdict is open, else out
//
// The transitions, each one write:
//
//	from          on                                       to
//	(none)        a check finds a problem                  DUE            with the evidence; claimed at once when due
//	RESOLVED      a check finds a problem again            DUE            a new incident
//	DUE           a sender claims it, when due             SENDING        with the evidence when the observer claims
//	DUE           the problem ends first                   RESOLVED       nothing was paged: nothing to tell
//	DUE           a critical problem after a warning       DUE            kind raised
//	SENDING       the publish succeeded (confirm)          SENT           or DUE when raised meanwhile, RESOLVE_DUE when over meanwhile
//	SENDING       SNS refused it or was never reached      DUE            retried after RetryAfter (an hour when SNS refuses it
//	              (release)                                               for good); RESOLVED when over
//	SENDING       the window is full (hold)                HELD           after the window's sets count it; DUE when raised
//	                                                                      meanwhile; RESOLVE_DUE when over
//	SENDING       the lease ended (a sweep claims it)      SENDING        the holder stopped; see below
//	SENDING       taken over, and the problem is over      RESOLVE_DUE    the stopped holder may have paged (abandon)
//	SENT, HELD    the problem ends                         RESOLVE_DUE    with the evidence
//	SENT, HELD    a critical problem after a warning       DUE            a new page; a held item leaves its window first
//	RESOLVE_DUE   a sender claims it                       RESOLVING      with the evidence when the observer claims
//	RESOLVE_DUE   the problem is back                      SENT, HELD     the incident goes on (DUE when raised)
//	RESOLVING     the notice went out (confirm)            RESOLVED       a held item's notice is its removal from the window
//	RESOLVING     SNS answered an error (release)          RESOLVE_DUE    retried after RetryAfter
//	RESOLVING     the lease ended (a sweep claims it)      RESOLVING
//
// # When a process stops between two calls
//
//   - After the evidence write and its claim, before the publish: the
//     claim's lease ends and a sweep sends the page. Late, not lost.
//   - After the publish, before the confirmation: the sender retries the
//     write within its remaining time; if it never lands, the lease ends
//     and a sweep sends the page again. This, and a publish whose answer
//     is lost (SNS took it, the connection dropped), are the only ways a
//     page goes out twice, and only after the lease (10 minutes).
//   - After a storm window counted an item, before the item was marked
//     HELD: the sweep that takes the claim over finds the item in the
//     window's set and finishes the hold; the digest counts it once.
//   - A write whose answer was lost and that the SDK retried: the item
//     carries the id of its last write, so the writer knows it landed.
//
// # Storms
//
// Past StormLimit pages per bucket and window, items are counted in the
// window's digest instead. A window is a head item, which holds the claim
// tokens of the pages reserved in it (at most StormLimit, checked in the
// write itself, so a retried reservation counts once) and carries the
// digest's own claim (SENDING, SENT, RESOLVING, RESOLVED), and shard items
// holding the held items' key hashes as sets, by label: adding an item
// twice counts it once, and an item raised while held counts once, under
// its most severe label, so the digest's counts are exact whatever the
// retries. A held item whose problem ends, or that is raised to a page of
// its own, leaves the window's open set; when the set is empty, one
// resolved notice tells on-call the whole storm is over.
//
// # A destination replaudit may not read
//
// One destination that answers 403 would otherwise page once per object.
// Its objects are recorded CANNOT_VERIFY and checked again daily, without
// an incident of their own; the destination's one incident lives on its
// own item (ledger.BlindKey), which names an example object, pages once,
// and is checked again on the usual back-off until the destination can be
// read, when its resolved notice goes out.
//
// # The first release's ledger
//
// The first release took an incident out of the attention index once its
// page went out. After an upgrade the sweeper adopts such items back, a
// page of the table per run (Tracker.Adopt, with a checkpoint), and reads
// its states (a digested alert as HELD in a window of unknown items) and
// its storm windows (digest DUE, counts in c_<label>) as this version's.
package incident
