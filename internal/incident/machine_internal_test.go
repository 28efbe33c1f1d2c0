package incident

import (
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

// The package documentation's table of transitions, row by row, on the
// pure functions that compute them. faults_test.go drives the same
// transitions through DynamoDB and SNS with a process stopped between
// every two calls.

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func policy() Policy {
	p := Policy{}
	p.defaults()
	return p
}

func item(v audit.Verdict, state string, kind alert.Kind) ledger.Item {
	it := ledger.Item{Key: ledger.KeyOf("b", "k", "v", "d"), Verdict: v, Alert: state, AlertKind: string(kind),
		FirstSeen: t0, LastChecked: t0, History: []ledger.Change{{Verdict: v, At: t0}}}
	if v == audit.Failed {
		it.FailureReason = "DstPutObjectNotPermitted"
	}
	return it
}

func claimed(it ledger.Item, token string) ledger.Item {
	it.Claim, it.ClaimedAt = token, at(t0)
	return it
}

func TestObserve(t *testing.T) {
	p := policy()
	cases := []struct {
		name           string
		it             ledger.Item
		awaitingReason bool
		wantState      string
		wantKind       alert.Kind
		wantDue        time.Time
	}{
		{"a problem opens an incident, due now", item(audit.Failed, None, ""), false, Due, alert.KindFailed, t0},
		{"FAILED without S3's reason waits for it", func() ledger.Item { it := item(audit.Failed, None, ""); it.FailureReason = ""; return it }(), true, Due, alert.KindFailed, t0.Add(p.ReasonGrace)},
		{"a problem after the last incident ended opens a new one", item(audit.Missing, Resolved, alert.KindFailed), false, Due, alert.KindMissing, t0},
		{"PENDING within the threshold is no incident", item(audit.Pending, None, ""), false, None, "", time.Time{}},
		{"over before anyone was paged: nothing to tell", item(audit.Verified, Due, alert.KindFailed), false, Resolved, alert.KindFailed, time.Time{}},
		{"a critical problem after a warning raises a page owed", item(audit.Failed, Due, alert.KindLongPending), false, Due, alert.KindFailed, t0},
		{"a page in flight is left to its holder", item(audit.Verified, Sending, alert.KindFailed), false, Sending, alert.KindFailed, time.Time{}},
		{"a page in flight is raised for after it", item(audit.Failed, Sending, alert.KindLongPending), false, Sending, alert.KindFailed, time.Time{}},
		{"paged and over: a resolved notice is owed", item(audit.Verified, Sent, alert.KindFailed), false, ResolveDue, alert.KindFailed, t0},
		{"held and over: its window is owed the news", item(audit.Superseded, Held, alert.KindFailed), false, ResolveDue, alert.KindFailed, t0},
		{"paged a warning, then a critical problem: a new page", item(audit.Failed, Sent, alert.KindLongPending), false, Due, alert.KindFailed, t0},
		{"paged, and the same problem again: nothing new", item(audit.Failed, Sent, alert.KindFailed), false, Sent, alert.KindFailed, time.Time{}},
		{"over, then back before the notice went: it goes on", item(audit.Failed, ResolveDue, alert.KindFailed), false, Sent, alert.KindFailed, time.Time{}},
		{"over, then back raised: a new page", item(audit.Failed, ResolveDue, alert.KindLongPending), false, Due, alert.KindFailed, t0},
		{"held, then raised: a page, still in its window", func() ledger.Item { it := item(audit.Failed, Held, alert.KindLongPending); it.HeldIn = "w"; return it }(), false, Due, alert.KindFailed, t0},
		{"held by the first release, and over", item(audit.Verified, legacyDigested, alert.KindFailed), false, ResolveDue, alert.KindFailed, t0},
		{"a destination's blind spot does not page each object", item(audit.CannotVerify, None, ""), false, None, "", time.Time{}},
		{"a destination's blind spot pages once, on its own item", func() ledger.Item {
			it := item(audit.CannotVerify, None, "")
			it.Key = ledger.BlindKey("b", "d")
			return it
		}(), false, Due, alert.KindCannotVerify, t0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := c.it
			p.observe(&it, t0, c.awaitingReason)
			if it.Alert != c.wantState || alert.Kind(it.AlertKind) != c.wantKind {
				t.Errorf("got %q %q, want %q %q", it.Alert, it.AlertKind, c.wantState, c.wantKind)
			}
			if !c.wantDue.IsZero() && (it.DueAt == nil || !it.DueAt.Equal(c.wantDue)) {
				t.Errorf("due %v, want %v", it.DueAt, c.wantDue)
			}
		})
	}
}

func TestALongPendingItemBecomesAWarningPastItsAllowance(t *testing.T) {
	p := policy()
	it := item(audit.Pending, None, "")
	it.Size = 10 << 30 // 10 GiB: 30 minutes plus 40
	p.observe(&it, t0.Add(69*time.Minute), false)
	if it.LongPending || it.Alert != None {
		t.Errorf("within its allowance: long %v alert %q", it.LongPending, it.Alert)
	}
	p.observe(&it, t0.Add(71*time.Minute), false)
	if !it.LongPending || it.Alert != Due || it.AlertKind != string(alert.KindLongPending) {
		t.Errorf("past its allowance: long %v alert %q %q, want a LONG_PENDING page owed", it.LongPending, it.Alert, it.AlertKind)
	}
}

func TestClaims(t *testing.T) {
	p := policy()
	cases := []struct {
		name      string
		it        ledger.Item
		now       time.Time
		want      bool
		wantState string
	}{
		{"a page due now", item(audit.Failed, Due, alert.KindFailed), t0, true, Sending},
		{"a page not due yet", func() ledger.Item {
			it := item(audit.Failed, Due, alert.KindFailed)
			it.DueAt = at(t0.Add(time.Minute))
			return it
		}(), t0, false, Due},
		{"a page whose holder still has its lease", claimed(item(audit.Failed, Sending, alert.KindFailed), "a"), t0.Add(p.Lease - time.Second), false, Sending},
		{"a page whose holder's lease ended", claimed(item(audit.Failed, Sending, alert.KindFailed), "a"), t0.Add(p.Lease), true, Sending},
		{"a resolved notice owed", item(audit.Verified, ResolveDue, alert.KindFailed), t0, true, Resolving},
		{"a resolved notice whose holder's lease ended", claimed(item(audit.Verified, Resolving, alert.KindFailed), "a"), t0.Add(p.Lease), true, Resolving},
		{"nothing owed", item(audit.Failed, Sent, alert.KindFailed), t0, false, Sent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := c.it
			if got := p.claim(&it, "b", c.now); got != c.want || it.Alert != c.wantState {
				t.Errorf("got %v %q, want %v %q", got, it.Alert, c.want, c.wantState)
			}
			if c.want && it.Claim != "b" {
				t.Errorf("claim %q, want b", it.Claim)
			}
			if c.want && it.Alert == Sending && (it.Window == "" || it.Retaken != (c.it.Claim != "")) {
				t.Errorf("a page's claim: window %q retaken %v; want its storm window, retaken only from another holder", it.Window, it.Retaken)
			}
		})
	}
}

func TestEndsOfASend(t *testing.T) {
	p := policy()
	sending := func(v audit.Verdict, kind alert.Kind) ledger.Item { return claimed(item(v, Sending, kind), "tok") }
	cases := []struct {
		name      string
		it        ledger.Item
		end       func(*ledger.Item) bool
		want      bool
		wantState string
	}{
		{"confirm: paged", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.confirm(it, "tok", alert.KindFailed, t0) }, true, Sent},
		{"confirm: over meanwhile, a resolved notice is owed", sending(audit.Verified, alert.KindFailed), func(it *ledger.Item) bool { return p.confirm(it, "tok", alert.KindFailed, t0) }, true, ResolveDue},
		{"confirm: raised meanwhile, the new page is owed", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.confirm(it, "tok", alert.KindLongPending, t0) }, true, Due},
		{"confirm by a holder whose claim was taken over", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.confirm(it, "other", alert.KindFailed, t0) }, false, Sending},
		{"release: tried again later", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.release(it, "tok", t0, t0.Add(time.Minute)) }, true, Due},
		{"release: over meanwhile, never paged", sending(audit.Verified, alert.KindFailed), func(it *ledger.Item) bool { return p.release(it, "tok", t0, t0.Add(time.Minute)) }, true, Resolved},
		{"hold: counted in a digest", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.hold(it, "tok", "w", alert.KindFailed, t0) }, true, Held},
		{"hold: over meanwhile, the window is owed the news", sending(audit.Verified, alert.KindFailed), func(it *ledger.Item) bool { return p.hold(it, "tok", "w", alert.KindFailed, t0) }, true, ResolveDue},
		{"hold: raised meanwhile, the new page is owed", sending(audit.Failed, alert.KindFailed), func(it *ledger.Item) bool { return p.hold(it, "tok", "w", alert.KindLongPending, t0) }, true, Due},
		{"abandon a page taken over, its problem over", claimed(item(audit.Verified, Sending, alert.KindFailed), "tok"), func(it *ledger.Item) bool { return p.abandon(it, "tok", t0) }, true, ResolveDue},
		{"release: over meanwhile, still counted in a digest", func() ledger.Item { it := sending(audit.Verified, alert.KindFailed); it.HeldIn = "w"; return it }(), func(it *ledger.Item) bool { return p.release(it, "tok", t0, t0) }, true, ResolveDue},
		{"confirm a resolved notice", claimed(item(audit.Verified, Resolving, alert.KindFailed), "tok"), func(it *ledger.Item) bool { return p.confirm(it, "tok", alert.KindResolved, t0) }, true, Resolved},
		{"release a resolved notice", claimed(item(audit.Verified, Resolving, alert.KindFailed), "tok"), func(it *ledger.Item) bool { return p.release(it, "tok", t0, t0.Add(time.Minute)) }, true, ResolveDue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			it := c.it
			if got := c.end(&it); got != c.want || it.Alert != c.wantState {
				t.Errorf("got %v %q, want %v %q", got, it.Alert, c.want, c.wantState)
			}
			if c.want && it.Claim != "" {
				t.Errorf("the claim %q was not given back", it.Claim)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	p := policy()
	due := func(it ledger.Item, now time.Time) string {
		p.schedule(&it, now)
		return it.AttnDue
	}
	young := item(audit.Failed, Sent, alert.KindFailed)
	if got, want := due(young, t0), ledger.AttnTime(t0.Add(5*time.Minute)); got != want {
		t.Errorf("a young open incident: due %s, want %s (soon)", got, want)
	}
	old := item(audit.Failed, Sent, alert.KindFailed)
	old.FirstSeen = t0.Add(-48 * time.Hour)
	if got, want := due(old, t0), ledger.AttnTime(t0.Add(24*time.Hour)); got != want {
		t.Errorf("a two-day-old open incident: due %s, want %s (daily)", got, want)
	}
	pending := item(audit.Pending, None, "")
	pending.FirstSeen = t0.Add(-28 * time.Minute)
	if got, want := due(pending, t0), ledger.AttnTime(t0.Add(2*time.Minute+time.Second)); got != want {
		t.Errorf("PENDING near its threshold: due %s, want %s (just past it)", got, want)
	}
	done := item(audit.Verified, Resolved, alert.KindFailed)
	done.Attn = "A#01"
	p.schedule(&done, t0)
	if done.Attn != "" {
		t.Error("a resolved, verified item stayed in the attention index")
	}
	if got, want := due(claimed(item(audit.Failed, Sending, alert.KindFailed), "a"), t0), ledger.AttnTime(t0.Add(p.Lease)); got != want {
		t.Errorf("a claimed page: due %s, want the end of its lease %s", got, want)
	}
}

func TestKindOf(t *testing.T) {
	for v, want := range map[audit.Verdict]alert.Kind{audit.Failed: alert.KindFailed, audit.Missing: alert.KindMissing, audit.Diverged: alert.KindDiverged,
		audit.CannotVerify: alert.KindCannotVerify, audit.Pending: "", audit.Verified: "", audit.NotReplicated: "", audit.Superseded: "",
		audit.DeleteNotReplicated: "", audit.NotTracked: ""} {
		if got := KindOf(ledger.Item{Verdict: v}); got != want {
			t.Errorf("%s: got %q, want %q", v, got, want)
		}
	}
	if got := KindOf(ledger.Item{Verdict: audit.Pending, LongPending: true}); got != alert.KindLongPending {
		t.Errorf("a long PENDING: got %q", got)
	}
}
