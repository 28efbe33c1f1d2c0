package incident

import (
	"fmt"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// The states of an item's incident (ledger.Item.Alert). The table in the
// package documentation gives every transition.
const (
	None       = ""                     // no incident
	Due        = ledger.AlertDue        // a page is owed, from DueAt
	Sending    = ledger.AlertSending    // a sender holds the claim until ClaimedAt+Lease
	Sent       = ledger.AlertSent       // on-call was paged; open until the problem ends
	Held       = ledger.AlertHeld       // counted in a storm digest instead; open until the problem ends
	ResolveDue = ledger.AlertResolveDue // over; a resolved notice is owed
	Resolving  = ledger.AlertResolving  // a sender holds the claim on the resolved notice
	Resolved   = ledger.AlertResolved   // over, and on-call told (or never paged)

	// legacyDigested is the first release's state for an alert counted in
	// a digest; it is read as HELD, in a window whose items it does not
	// know (legacyWindow), whose end is never told.
	legacyDigested = "DIGESTED"
	legacyWindow   = "legacy"
)

// Policy holds the times the state machine runs on.
type Policy struct {
	// Threshold is how long an item may stay PENDING before one warning;
	// PerGiB adds to it for large objects.
	Threshold, PerGiB time.Duration
	// ReasonGrace is how long a FAILED alert waits for S3's failure
	// event, which names the reason, before going out without it.
	ReasonGrace time.Duration
	// Lease is how long a claim is left to its holder before another
	// sender may take it over. It outlasts any invocation, so a live
	// holder never loses its claim.
	Lease time.Duration
	// RetryAfter is how long a notice that could not be published waits
	// before the next try.
	RetryAfter time.Duration
	// StormWindow is the span over which pages per bucket are limited.
	StormWindow time.Duration
	// Settle is how long after its window a storm digest waits, so that
	// holds in flight land first.
	Settle time.Duration
}

func (p *Policy) defaults() {
	if p.Threshold <= 0 {
		p.Threshold = 30 * time.Minute
	}
	if p.PerGiB <= 0 {
		p.PerGiB = 4 * time.Minute
	}
	if p.ReasonGrace <= 0 {
		p.ReasonGrace = 2 * time.Minute
	}
	if p.Lease <= 0 {
		p.Lease = 10 * time.Minute
	}
	if p.RetryAfter <= 0 {
		p.RetryAfter = time.Minute
	}
	if p.Settle <= 0 {
		p.Settle = time.Minute
	}
	if p.StormWindow <= 0 {
		p.StormWindow = 5 * time.Minute
	}
}

// windowOf names the storm window a time falls in.
func (p Policy) windowOf(t time.Time) string {
	return t.UTC().Truncate(p.StormWindow).Format(time.RFC3339)
}

// Allowance is how long an object of this size may stay PENDING.
func (p Policy) Allowance(size int64) time.Duration {
	return p.Threshold + time.Duration(float64(p.PerGiB)*float64(size)/float64(1<<30))
}

// backoff is how long until an open item is checked again: soon while it
// is young, hourly for its first day, then daily.
func backoff(age time.Duration) time.Duration {
	switch {
	case age < time.Hour:
		return 5 * time.Minute
	case age < 24*time.Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// KindOf is the incident an item's verdict makes, or "" for none.
func KindOf(it ledger.Item) alert.Kind {
	switch {
	case it.Verdict == audit.Failed:
		return alert.KindFailed
	case it.Verdict == audit.Missing:
		return alert.KindMissing
	case it.Verdict == audit.Diverged:
		return alert.KindDiverged
	case it.Verdict == audit.CannotVerify:
		return alert.KindCannotVerify
	case it.Verdict == audit.Pending && it.LongPending:
		return alert.KindLongPending
	}
	return ""
}

// upgrade reports whether an incident of kind to is news on top of one of
// kind from: a critical problem after a warning.
func upgrade(from string, to alert.Kind) bool {
	return to.Severity() == "critical" && alert.Kind(from).Severity() != "critical"
}

func at(t time.Time) *time.Time { return &t }

// observe moves the incident of an item that a finding was just applied
// to. awaitingReason says that the finding saw FAILED on the source's
// status and S3's failure event, with the reason, is on its way.
func (p Policy) observe(it *ledger.Item, now time.Time, awaitingReason bool) {
	if it.Verdict == audit.Pending && !it.LongPending {
		if age, allowed := now.Sub(it.Started()), p.Allowance(it.Size); age > allowed {
			it.LongPending = true
			it.Detail = fmt.Sprintf("PENDING for %s, past the threshold of %s.", age.Round(time.Minute), allowed)
		}
	}
	kind := KindOf(*it)
	if kind == alert.KindCannotVerify && !ledger.IsBlind(*it) {
		// The destination's one CANNOT_VERIFY incident (ledger.BlindKey)
		// tells on-call; each object it hides is only checked again.
		return
	}
	due := now
	if kind == alert.KindFailed && it.FailureReason == "" && awaitingReason {
		due = it.Since(audit.Failed).Add(p.ReasonGrace)
	}
	switch it.Alert {
	case None, Resolved:
		if kind != "" {
			it.Alert, it.AlertKind, it.DueAt, it.OpenedAt = Due, string(kind), at(due), at(now)
			it.Claim, it.ClaimedAt, it.Window, it.Retaken, it.HeldIn, it.ResolvedAt = "", nil, "", false, "", nil
		}
	case Due:
		switch {
		case kind == "" && it.HeldIn != "":
			// Over before its new page, yet still counted in a digest: the
			// window is owed the news.
			it.Alert, it.DueAt = ResolveDue, at(now)
		case kind == "":
			// Over before anyone was paged: nothing to tell.
			it.Alert, it.ResolvedAt, it.DueAt = Resolved, at(now), nil
		case upgrade(it.AlertKind, kind):
			it.AlertKind, it.DueAt = string(kind), at(due)
		case it.DueAt == nil || due.Before(*it.DueAt):
			it.AlertKind, it.DueAt = string(kind), at(due)
		}
	case Sending:
		// The holder's confirm or release decides; an upgrade is noted
		// here and paged after the page in flight.
		if kind != "" && upgrade(it.AlertKind, kind) {
			it.AlertKind = string(kind)
		}
	case Sent, Held, legacyDigested:
		if it.Alert == legacyDigested {
			it.Alert, it.HeldIn = Held, legacyWindow
		}
		switch {
		case kind == "":
			it.Alert, it.DueAt = ResolveDue, at(now)
		case upgrade(it.AlertKind, kind):
			// A new page; a held item keeps HeldIn until the page leaves
			// that window's open set.
			it.Alert, it.AlertKind, it.DueAt = Due, string(kind), at(due)
		}
	case ResolveDue:
		switch {
		case kind != "" && upgrade(it.AlertKind, kind):
			it.Alert, it.AlertKind, it.DueAt = Due, string(kind), at(due)
		case kind != "":
			// Not over after all: the incident goes on, nothing to tell.
			it.Alert, it.DueAt = Sent, nil
			if it.HeldIn != "" {
				it.Alert = Held
			}
		}
	}
}

// claimable reports whether a sender may claim the item's notice now.
func (p Policy) claimable(it ledger.Item, now time.Time) bool {
	switch it.Alert {
	case Due, ResolveDue:
		return it.DueAt == nil || !now.Before(*it.DueAt)
	case Sending, Resolving:
		return it.ClaimedAt == nil || !now.Before(it.ClaimedAt.Add(p.Lease))
	}
	return false
}

// claim gives the item's owed notice to the holder of token. It returns
// false when there is nothing to claim now.
func (p Policy) claim(it *ledger.Item, token string, now time.Time) bool {
	if !p.claimable(*it, now) {
		return false
	}
	it.Retaken = it.Claim != ""
	switch it.Alert {
	case Due:
		it.Alert, it.Window = Sending, p.windowOf(now)
	case Sending:
		if it.Window == "" {
			it.Window = p.windowOf(now)
		}
	case ResolveDue:
		it.Alert = Resolving
	}
	it.Claim, it.ClaimedAt = token, at(now)
	return true
}

// confirm records that the holder of token published its notice (or, for
// a held item's resolution, took it off the storm window). sent is the
// kind it published. It returns false when the claim is no longer the
// holder's.
func (p Policy) confirm(it *ledger.Item, token string, sent alert.Kind, now time.Time) bool {
	if it.Claim != token {
		return false
	}
	it.Claim, it.ClaimedAt, it.Window, it.Retaken = "", nil, "", false
	switch it.Alert {
	case Sending:
		it.Pages++
		it.HeldIn = "" // paged itself: its old window, if any, was left before
		if it.AlertedAt == nil {
			it.AlertedAt = at(now)
		}
		switch {
		case KindOf(*it) == "":
			it.Alert, it.DueAt = ResolveDue, at(now)
		case it.AlertKind != string(sent):
			it.Alert, it.DueAt = Due, at(now) // upgraded while in flight
		default:
			it.Alert, it.DueAt = Sent, nil
		}
	case Resolving:
		it.Alert, it.DueAt, it.ResolvedAt = Resolved, nil, at(now)
	default:
		return false
	}
	return true
}

// release gives back a claim whose notice certainly did not go out, to be
// tried again at retry.
func (p Policy) release(it *ledger.Item, token string, now, retry time.Time) bool {
	if it.Claim != token {
		return false
	}
	it.Claim, it.ClaimedAt, it.Window, it.Retaken = "", nil, "", false
	switch it.Alert {
	case Sending:
		switch {
		case KindOf(*it) == "" && it.HeldIn != "":
			it.Alert, it.DueAt = ResolveDue, at(now) // still counted in a digest
		case KindOf(*it) == "":
			it.Alert, it.DueAt, it.ResolvedAt = Resolved, nil, at(now) // over, never paged
		default:
			it.Alert, it.DueAt = Due, at(retry)
		}
	case Resolving:
		it.Alert, it.DueAt = ResolveDue, at(retry)
	default:
		return false
	}
	return true
}

// hold records that the holder of token counted the item in a storm
// window's digest, as held, instead of paging.
func (p Policy) hold(it *ledger.Item, token, window string, held alert.Kind, now time.Time) bool {
	if it.Claim != token || it.Alert != Sending {
		return false
	}
	it.Claim, it.ClaimedAt, it.Window, it.Retaken, it.HeldIn = "", nil, "", false, window
	it.Alert, it.DueAt = Held, nil
	switch {
	case KindOf(*it) == "":
		it.Alert, it.DueAt = ResolveDue, at(now)
	case it.AlertKind != string(held):
		it.Alert, it.DueAt = Due, at(now) // raised while in flight: its own page
	}
	return true
}

// abandon ends a claim taken over from a holder that stopped, when the
// problem is over: that holder may have paged, so a resolved notice is
// owed rather than a page.
func (p Policy) abandon(it *ledger.Item, token string, now time.Time) bool {
	if it.Claim != token || it.Alert != Sending {
		return false
	}
	it.Claim, it.ClaimedAt, it.Window, it.Retaken = "", nil, "", false
	it.Alert, it.DueAt = ResolveDue, at(now)
	return true
}

// schedule puts the item in the attention index, due when it next needs
// attention, or takes it out when nothing about it is owed or open.
func (p Policy) schedule(it *ledger.Item, now time.Time) {
	var due time.Time
	switch it.Alert {
	case Due, ResolveDue:
		due = now
		if it.DueAt != nil {
			due = *it.DueAt
		}
	case Sending, Resolving:
		due = now
		if it.ClaimedAt != nil {
			due = it.ClaimedAt.Add(p.Lease)
		}
	default:
		if !it.Verdict.Open() {
			it.Attn, it.AttnDue = "", ""
			return
		}
		step := backoff(now.Sub(it.FirstSeen))
		if it.Verdict == audit.CannotVerify && !ledger.IsBlind(*it) {
			step = 24 * time.Hour // its destination's incident is checked sooner
		}
		due = it.LastChecked.Add(step)
		if it.Verdict == audit.Pending && !it.LongPending {
			if limit := it.Started().Add(p.Allowance(it.Size)); limit.Before(due) {
				due = limit.Add(time.Second)
			}
		}
	}
	it.Attn, it.AttnDue = ledger.AttnShard(it.Key), ledger.AttnTime(due)
}

// alertState is what observe and claim may change; a write is needed when
// it differs.
type alertState struct {
	alert, kind, claim, heldIn string
	due                        time.Time
	longPending                bool
}

func stateOf(it *ledger.Item) alertState {
	if it == nil {
		return alertState{}
	}
	s := alertState{alert: it.Alert, kind: it.AlertKind, claim: it.Claim, heldIn: it.HeldIn, longPending: it.LongPending}
	if it.DueAt != nil {
		s.due = *it.DueAt
	}
	return s
}
