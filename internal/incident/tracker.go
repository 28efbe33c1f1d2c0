package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Publisher sends a message to on-call. refused, when not nil, is SNS's
// refusal of the message's first form: it went (or failed) without the
// parts that could offend.
type Publisher interface {
	Publish(ctx context.Context, m alert.Message) (refused, err error)
}

// Options configure a Tracker.
type Options struct {
	Ledger *ledger.Ledger
	// Windows reaches the storm windows, kept in the ledger's table.
	Windows   WindowDB
	Publisher Publisher
	Policy    Policy
	// StormLimit pages at most this many per bucket and StormWindow; the
	// rest go into one digest.
	StormLimit  int
	StormWindow time.Duration
	Log         *slog.Logger
	// Clock stands in for time.Now; it defaults to the ledger's.
	Clock func() time.Time
}

// Tracker keeps each item's incident: it records findings, pages once per
// incident, says when it is over, and folds storms into digests.
type Tracker struct {
	opts Options
}

// New returns a Tracker.
func New(o Options, optFns ...func(*Options)) (*Tracker, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Ledger == nil || o.Windows == nil || o.Publisher == nil {
		return nil, errors.New("incident: a ledger, its table's client and a publisher are required")
	}
	if o.StormLimit < 1 {
		o.StormLimit = 20
	}
	if o.StormWindow <= 0 {
		o.StormWindow = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = o.Ledger.Now
	}
	o.Policy.StormWindow = o.StormWindow
	o.Policy.defaults()
	return &Tracker{opts: o}, nil
}

func (t *Tracker) now() time.Time { return t.opts.Clock().UTC() }

// Ledger is the ledger the tracker writes.
func (t *Tracker) Ledger() *ledger.Ledger { return t.opts.Ledger }

// Policy returns the times the tracker runs on.
func (t *Tracker) Policy() Policy { return t.opts.Policy }

// Outcome says what settling a finding or sending a notice did.
type Outcome struct {
	Item ledger.Item
	// Previous is the verdict before, "" for a new item.
	Previous audit.Verdict
	// Wrote reports a write; a finding that told nothing new writes nothing.
	Wrote bool
	// Published lists the notices that went out: pages, resolved notices,
	// digests.
	Published []alert.Kind
	// Held reports an alert counted in a storm digest instead.
	Held bool
	// Refused reports a notice SNS refused for good in its first form.
	Refused bool
	// SendErr is a notice owed that could not be sent now; the ledger keeps
	// it owed and a later sweep sends it.
	SendErr error
}

// Guess is what a caller knows of an item before recording a finding.
type Guess int

const (
	// LikelyNew is for an object's first event: write as if the item were
	// new, and learn otherwise from the conflict. The happy path is one
	// write.
	LikelyNew Guess = iota
	// ReadFirst is for events about versions already seen (replication
	// events): read the item, then write once.
	ReadFirst
)

// Settle records a finding and moves its incident in one conditional
// write, then sends the notice it claimed in that write, if any: a page,
// or a resolved notice.
func (t *Tracker) Settle(ctx context.Context, f audit.Finding, guess Guess) (Outcome, error) {
	var cur *ledger.Item
	if guess == ReadFirst {
		it, err := t.opts.Ledger.Get(ctx, ledger.KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination))
		switch {
		case err == nil:
			cur = &it
		case !errors.Is(err, ledger.ErrNotFound):
			return Outcome{}, err
		}
	}
	return t.SettleKnown(ctx, f, cur)
}

// SettleKnown is Settle for a caller that has read the item already (nil:
// there is none), such as a reconciliation that reads a hundred at once.
func (t *Tracker) SettleKnown(ctx context.Context, f audit.Finding, cur *ledger.Item) (Outcome, error) {
	out, err := t.settle(ctx, ledger.KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination), f, cur, false)
	if err == nil && f.Verdict == audit.CannotVerify && out.Item.Verdict == audit.CannotVerify {
		err = t.blind(ctx, f, &out)
	}
	return out, err
}

// blind records a finding that replaudit may not read a destination in
// the destination's one CANNOT_VERIFY incident: a read, and a write only
// when the incident opens or the reason changes.
func (t *Tracker) blind(ctx context.Context, f audit.Finding, out *Outcome) error {
	k := ledger.BlindKey(f.Bucket, f.Destination)
	var cur *ledger.Item
	switch it, err := t.opts.Ledger.Get(ctx, k); {
	case err == nil:
		cur = &it
	case !errors.Is(err, ledger.ErrNotFound):
		return err
	}
	b, err := t.settle(ctx, k, f, cur, false)
	out.Published = append(out.Published, b.Published...)
	out.Held, out.Refused = out.Held || b.Held, out.Refused || b.Refused
	if out.SendErr == nil {
		out.SendErr = b.SendErr
	}
	return err
}

// Recheck records a sweeper's new check of an item it read from the
// attention index, moving the item's schedule even when nothing changed.
func (t *Tracker) Recheck(ctx context.Context, it ledger.Item, f audit.Finding) (Outcome, error) {
	if ledger.IsBlind(it) && f.Verdict != audit.CannotVerify {
		// The example object could be read: so can the destination.
		f.Verdict, f.Detail, f.FailureReason = audit.Verified, "replaudit can read "+f.Destination+" again.", ""
	}
	return t.settle(ctx, it.Key, f, &it, true)
}

func (t *Tracker) settle(ctx context.Context, k ledger.Key, f audit.Finding, guess *ledger.Item, recheck bool) (Outcome, error) {
	now := t.now()
	token := ledger.NewID()
	var claimed bool
	var before audit.Verdict
	p := t.opts.Policy
	it, wrote, err := t.opts.Ledger.Change(ctx, k, guess, func(cur *ledger.Item) (ledger.Item, bool, error) {
		before = ""
		if cur != nil {
			before = cur.Verdict
		}
		next, news := t.opts.Ledger.Apply(cur, f)
		if ledger.IsBlind(ledger.Item{Key: k}) {
			next.Key, next.Day, next.DayShard = k, "", "" // not an object version: out of the day index
		}
		p.observe(&next, now, f.AwaitingReason)
		claimed = p.claim(&next, token, now)
		// A finding that tells nothing new and moves nothing writes
		// nothing, not even a later check time: a redelivered event costs
		// a read at most.
		if !news && !recheck && !claimed && stateOf(cur) == stateOf(&next) {
			return next, false, nil
		}
		p.schedule(&next, now)
		return next, true, nil
	})
	out := Outcome{Item: it, Previous: before, Wrote: wrote}
	if err != nil {
		return out, err
	}
	if claimed && wrote {
		t.send(ctx, &out)
	}
	return out, nil
}

// Resend claims a notice an item owes, found by the sweeper (a page not
// sent yet, a claim whose holder stopped, a resolved notice), and sends it.
func (t *Tracker) Resend(ctx context.Context, it ledger.Item) (Outcome, error) {
	now := t.now()
	token := ledger.NewID()
	p := t.opts.Policy
	written, wrote, err := t.opts.Ledger.Change(ctx, it.Key, &it, func(cur *ledger.Item) (ledger.Item, bool, error) {
		if cur == nil {
			return ledger.Item{}, false, nil
		}
		next := *cur
		if !p.claim(&next, token, now) {
			return next, false, nil
		}
		p.schedule(&next, now)
		return next, true, nil
	})
	out := Outcome{Item: written, Previous: written.Verdict, Wrote: wrote}
	if err != nil || !wrote {
		return out, err
	}
	t.send(ctx, &out)
	return out, nil
}

// HasReason reports whether the ledger already holds a finding's FAILED
// with S3's reason: then there is nothing to wait for.
func (t *Tracker) HasReason(ctx context.Context, f audit.Finding) bool {
	it, err := t.opts.Ledger.Get(ctx, ledger.KeyOf(f.Bucket, f.Key, f.VersionID, f.Destination))
	return err == nil && it.Verdict == audit.Failed && it.FailureReason != ""
}

// Claimable reports whether an item owes a notice that may be claimed now.
func (t *Tracker) Claimable(it ledger.Item) bool { return t.opts.Policy.claimable(it, t.now()) }

func (t *Tracker) send(ctx context.Context, out *Outcome) {
	switch out.Item.Alert {
	case Sending:
		t.page(ctx, out)
	case Resolving:
		t.resolve(ctx, out)
	}
}

// page sends the page out.Item's claim holds, or counts it in its bucket's
// storm digest when the window is full.
func (t *Tracker) page(ctx context.Context, out *Outcome) {
	it := out.Item
	token, kind := it.Claim, alert.Kind(it.AlertKind)
	w := t.window(it)
	took, err := t.heldBefore(ctx, it, w)
	switch {
	case err != nil:
		t.unsent(ctx, out, err, false)
		return
	case took:
		t.finishHold(ctx, out, w, kind)
		return
	case it.Retaken && KindOf(it) == "":
		// Taken over from a holder that stopped, and over since: that
		// holder may have paged, so a resolved notice, not a page.
		t.finish(ctx, out, "close the page no longer needed", func(cur *ledger.Item, now time.Time) bool {
			return t.opts.Policy.abandon(cur, token, now)
		})
		return
	case t.now().After(w.settled(t.opts.Policy)):
		// The claim's window has had its digest: count the page in today's.
		w = t.windowAt(it.Bucket, t.now())
	}
	if it.HeldIn != "" {
		// A held item raised to a page leaves the window it was held in.
		if err := t.release(ctx, it); err != nil {
			t.unsent(ctx, out, err, true)
			return
		}
	}
	full, err := t.reserve(ctx, w, token)
	if err != nil {
		t.unsent(ctx, out, err, true)
		return
	}
	if full {
		t.holdBack(ctx, out, w)
		return
	}
	msg := alert.Format(alert.Notice{Finding: it.Finding(), Kind: kind, Since: openedAt(it), Now: t.now(), SourceRegion: it.SourceRegion})
	if err := t.publish(ctx, out, msg, kind); err != nil {
		t.unreserve(ctx, w, token, err)
		t.unsent(ctx, out, err, awscall.Rejected(err) || errors.Is(err, alert.ErrRefused))
		return
	}
	t.finish(ctx, out, "record the page", func(cur *ledger.Item, now time.Time) bool {
		return t.opts.Policy.confirm(cur, token, kind, now)
	})
}

// publish sends one message, and logs it. A message SNS refused in its
// first form and took without its subject and attributes is logged as an
// error, so the refusal is seen even though on-call was told.
func (t *Tracker) publish(ctx context.Context, out *Outcome, m alert.Message, kind alert.Kind) error {
	refused, err := t.opts.Publisher.Publish(ctx, m)
	it := out.Item
	if refused != nil {
		out.Refused = true
		t.opts.Log.Error("SNS refused the alert; it was sent again without its subject and attributes", "bucket", it.Bucket, "key", it.ObjectKey,
			"destination", it.Destination, "kind", kind, "subject", m.Subject, "error", refused)
	}
	if err != nil {
		return err
	}
	out.Published = append(out.Published, kind)
	t.opts.Log.Info("alert published", "bucket", it.Bucket, "key", it.ObjectKey, "versionId", it.VersionID, "destination", it.Destination, "kind", kind)
	return nil
}

// resolve sends the resolved notice out.Item's claim holds. A held item's
// incident was told in a digest; its end is told in the window's
// resolution notice, once every held item there is over.
func (t *Tracker) resolve(ctx context.Context, out *Outcome) {
	it := out.Item
	token := it.Claim
	if it.HeldIn != "" {
		if err := t.release(ctx, it); err != nil {
			t.unsent(ctx, out, err, true)
			return
		}
	} else {
		msg := alert.Format(alert.Notice{Finding: it.Finding(), Kind: alert.KindResolved, Incident: alert.Kind(it.AlertKind), Since: openedAt(it),
			Now: t.now(), SourceRegion: it.SourceRegion})
		if err := t.publish(ctx, out, msg, alert.KindResolved); err != nil {
			t.unsent(ctx, out, err, awscall.Rejected(err) || errors.Is(err, alert.ErrRefused))
			return
		}
	}
	t.finish(ctx, out, "record the resolved notice", func(cur *ledger.Item, now time.Time) bool {
		return t.opts.Policy.confirm(cur, token, alert.KindResolved, now)
	})
}

func openedAt(it ledger.Item) time.Time {
	if it.OpenedAt != nil {
		return *it.OpenedAt
	}
	return it.FirstSeen
}

// unsent handles a notice that did not go out. When it certainly did not
// (SNS answered with an error, or was never reached), the claim is given
// back to be tried again soon. When the answer was lost, the notice may
// have gone: the claim is left to expire, and a sweep sends it again after
// the lease, the one way a page can be sent twice.
func (t *Tracker) unsent(ctx context.Context, out *Outcome, err error, certain bool) {
	out.SendErr = err
	it := out.Item
	if !certain {
		t.opts.Log.Warn("notice may or may not have gone out; it is sent again when its claim expires", "bucket", it.Bucket, "key", it.ObjectKey,
			"destination", it.Destination, "kind", it.AlertKind, "state", it.Alert, "claimExpires", it.ClaimedAt.Add(t.opts.Policy.Lease), "error", err)
		return
	}
	retry := t.opts.Policy.RetryAfter
	if errors.Is(err, alert.ErrRefused) {
		retry = time.Hour // a refusal does not pass by itself: try again hourly, loudly
	}
	t.opts.Log.Error("notice not sent; it is tried again", "bucket", it.Bucket, "key", it.ObjectKey, "destination", it.Destination,
		"kind", it.AlertKind, "state", it.Alert, "retryIn", retry.String(), "error", err)
	token := it.Claim
	t.finish(ctx, out, "give the claim back", func(cur *ledger.Item, now time.Time) bool {
		return t.opts.Policy.release(cur, token, now, now.Add(retry))
	})
}

// finish records how a claimed send ended, in one conditional write on the
// item as the claim wrote it, trying again within the invocation's
// remaining time: after a publish the ledger must learn of it, or the page
// goes out again when the claim expires.
func (t *Tracker) finish(ctx context.Context, out *Outcome, what string, step func(cur *ledger.Item, now time.Time) bool) {
	p := t.opts.Policy
	delay := 50 * time.Millisecond
	for {
		now := t.now()
		guess := out.Item
		it, wrote, err := t.opts.Ledger.Change(ctx, guess.Key, &guess, func(cur *ledger.Item) (ledger.Item, bool, error) {
			if cur == nil {
				return ledger.Item{}, false, nil
			}
			next := *cur
			if !step(&next, now) {
				return next, false, nil
			}
			p.schedule(&next, now)
			return next, true, nil
		})
		if err == nil {
			if wrote {
				out.Item = it
			} else {
				t.opts.Log.Warn("the claim was taken over before this send finished", "bucket", guess.Bucket, "key", guess.ObjectKey, "destination", guess.Destination, "step", what)
			}
			return
		}
		if !awscall.Transient(err) || ctx.Err() != nil {
			t.opts.Log.Error("could not "+what+"; the claim expires and a sweep takes it over", "bucket", guess.Bucket, "key", guess.ObjectKey,
				"destination", guess.Destination, "error", err)
			if out.SendErr == nil {
				out.SendErr = fmt.Errorf("%s: %w", what, err)
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}
