package soak_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/auditor"
	"github.com/replaudit/replaudit/internal/env"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/report"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// objects is how many versions each scenario writes: a burst well past the
// storm limit of 20 pages per window.
func objects() int {
	if os.Getenv("REPLAUDIT_SOAK") == "full" {
		return 600
	}
	return 60
}

const stormLimit = 20

// run is one scenario's world: a source replicating to destinations, the
// plane that audits it, and what was written.
type run struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	p       *plane.Plane
	b       *plane.Buckets
	clock   *sandboxtest.Clock
	dests   []string
	mu      sync.Mutex
	written map[string]string // key -> version
}

func start(t *testing.T, dests ...string) *run {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	r := &run{t: t, sb: sb, clock: &sandboxtest.Clock{}, dests: dests, written: map[string]string{}}
	r.p, err = plane.Start(ctx, sb, plane.Options{QueueDelay: 100 * time.Millisecond, VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 10,
		Config: env.Config{StormLimit: stormLimit, CallTimeout: 2 * time.Second}, Clock: r.clock.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.b = r.p.Buckets()
	if err := r.b.Create(ctx, "src", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	var rules []plane.Rule
	for _, d := range dests {
		if err := r.b.Create(ctx, d, "ap-south-1"); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, plane.Rule{Destination: d, Metrics: true})
	}
	if err := r.b.Replicate(ctx, "src", rules...); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Listen(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	return r
}

// write puts n objects, eight writers at once.
func (r *run) write(n int, key func(i int) string) {
	r.t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				k := key(i)
				v, err := r.b.Put(context.Background(), "src", k, fmt.Sprintf("body of %d", i))
				if err != nil {
					r.t.Error(err)
					continue
				}
				r.mu.Lock()
				r.written[k] = v
				r.mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func plainKey(i int) string { return fmt.Sprintf("burst/%04d.bin", i) }

// drain waits until the queue is empty: every message settled or, past
// its receives, dead-lettered.
func (r *run) drain() {
	r.t.Helper()
	sandboxtest.Eventually(r.t, time.Minute+time.Duration(objects())*100*time.Millisecond, "the events queue to drain", func() bool {
		return len(r.sb.QueueMessages(r.p.Queue)) == 0
	})
}

// rollupsAgree checks that the report from rollups is the report from
// items, once a sweep came after any invocation that could still add.
func (r *run) rollupsAgree() {
	r.t.Helper()
	r.sweep(1, 17*time.Minute)
	ctx := context.Background()
	since := r.clock.Now().Add(-72 * time.Hour).Truncate(24 * time.Hour)
	until := r.clock.Now().Add(48 * time.Hour).Truncate(24 * time.Hour)
	_, _, diffs, err := report.Check(ctx, r.p.Ledger, since, until, 30*time.Minute, r.clock.Now(), len(r.dests) == 1)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, d := range diffs {
		r.t.Errorf("rollups: %s", d)
	}
}

// sweep runs the sweeper n times, the clock moving step between runs.
func (r *run) sweep(n int, step time.Duration) {
	r.t.Helper()
	for range n {
		r.clock.Advance(step)
		if _, err := r.p.Sweeper.Run(context.Background()); err != nil {
			r.t.Logf("sweep: %v", err)
		}
	}
}

// items returns every ledger item of the source, by key and destination.
func (r *run) items() map[string]ledger.Item {
	r.t.Helper()
	out := map[string]ledger.Item{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, v := range r.written {
		err := r.p.Ledger.Object(context.Background(), "src", k, v, func(it ledger.Item) error {
			id := k + " -> " + it.Destination
			if _, dup := out[id]; dup {
				r.t.Errorf("duplicate item for %s", id)
			}
			out[id] = it
			return nil
		})
		if err != nil {
			r.t.Fatal(err)
		}
	}
	return out
}

// notice is one SNS message, read from its JSON block.
type notice struct {
	Kind, Key, Destination, Bucket string
	Counts                         map[string]int
	WindowStart                    time.Time
}

func (r *run) notices() []notice {
	var out []notice
	for _, m := range r.sb.SNSMessages() {
		_, block, ok := strings.Cut(m.Body, "--- JSON ---\n")
		var n notice
		if !ok || json.Unmarshal([]byte(block), &n) != nil {
			r.t.Errorf("a message without a JSON block: %q", m.Subject)
			continue
		}
		out = append(out, n)
	}
	return out
}

// expect is what a scenario promises while its faults last.
type expect struct {
	// incident is the incident each item of a destination must be in,
	// alerted (paged, or counted in a digest); "" for none at all.
	incident func(dest string) alert.Kind
	// neverFailed lists destinations that must never be recorded FAILED.
	neverFailed []string
}

func want(k alert.Kind) func(string) alert.Kind { return func(string) alert.Kind { return k } }

// checkAlerted asserts, while the problems last, item by item: each is in
// the incident its destination's fault makes, and alerted; no problem
// without an alert; no destination FAILED that must never be.
func (r *run) checkAlerted(e expect) {
	r.t.Helper()
	items := r.items()
	for id, it := range items {
		for _, h := range it.History {
			for _, d := range e.neverFailed {
				if h.Verdict == audit.Failed && it.Destination == d {
					r.t.Errorf("%s: recorded FAILED, which only a deny may cause", id)
				}
			}
		}
		got, wanted := incident.KindOf(it), e.incident(it.Destination)
		if got != wanted {
			r.t.Errorf("%s: %s (incident %q), want incident %q (%s)", id, it.Verdict, got, wanted, it.Detail)
			continue
		}
		if got != "" && it.Pages == 0 && it.HeldIn == "" {
			r.t.Errorf("%s: %s without an alert (alert %q)", id, it.Verdict, it.Alert)
		}
	}
}

// quiet lifts every fault, re-drives what failed, and sweeps until the
// attention index is empty.
func (r *run) quiet() {
	r.t.Helper()
	r.sb.ClearFaults("")
	if _, err := r.sb.Redrive("src"); err != nil {
		r.t.Fatal(err)
	}
	r.drain()
	for i := 0; ; i++ {
		items, err := r.p.Attention(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		if len(items) == 0 {
			return
		}
		if i == 40 {
			for _, it := range items[:min(len(items), 5)] {
				r.t.Errorf("attention index not empty after quiet: %s %s %s alert %q digest %q", it.PK, it.SK, it.Verdict, it.Alert, it.Digest)
			}
			return
		}
		r.sweep(1, 30*time.Minute)
	}
}

// checkEnd asserts the promises once all is quiet: every version verified
// in every destination, one item each; no page twice; each page followed
// by one resolved notice; digests that count each held item once, and one
// notice when each storm is over.
func (r *run) checkEnd() {
	r.t.Helper()
	items := r.items()
	if want := len(r.written) * len(r.dests); len(items) != want {
		r.t.Errorf("%d items, want %d: one per version and destination", len(items), want)
	}
	held := map[string]int{}
	for id, it := range items {
		if it.Verdict != audit.Verified {
			r.t.Errorf("%s: %s after all is quiet, want VERIFIED (%s)", id, it.Verdict, it.Detail)
		}
		if it.HeldIn != "" {
			held[it.HeldIn]++
		}
	}
	pages, resolved := map[string]int{}, map[string]int{}
	digests, stormEnds := map[string]int{}, map[string]int{}
	for _, n := range r.notices() {
		id := n.Key + " -> " + n.Destination
		switch {
		case n.Kind == "DIGEST":
			digests[n.WindowStart.UTC().Format(time.RFC3339)] += sum(n.Counts)
		case n.Kind == "RESOLVED" && n.Counts != nil:
			stormEnds[n.WindowStart.UTC().Format(time.RFC3339)]++
		case n.Kind == "RESOLVED":
			resolved[id]++
		default:
			pages[id+" "+n.Kind]++
			if it, ok := items[id]; !ok || it.Pages == 0 {
				r.t.Errorf("a page for %s that the ledger does not record", id)
			}
		}
	}
	for id, n := range pages {
		if n != 1 {
			r.t.Errorf("%s: paged %d times, want once", id, n)
		}
	}
	for id, it := range items {
		if it.Pages > 0 && resolved[id] != 1 {
			r.t.Errorf("%s: paged, then %d resolved notices, want 1", id, resolved[id])
		}
	}
	for w, n := range held {
		if digests[w] != n {
			r.t.Errorf("window %s: the digest counted %d, %d items were held there", w, digests[w], n)
		}
		if stormEnds[w] != 1 {
			r.t.Errorf("window %s: %d notices of the storm's end, want 1", w, stormEnds[w])
		}
	}
	for w, n := range digests {
		if held[w] == 0 {
			r.t.Errorf("window %s: a digest of %d, but no item held there", w, n)
		}
	}
	r.rollupsAgree()
	r.t.Logf("%d versions, %d items, %d pages, %d held in %d digests, %d resolved notices", len(r.written), len(items), len(pages), sumOf(held), len(digests), sumOf(resolved))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sumOf(m map[string]int) int { return sum(m) }

// calls counts the S3 calls of an operation on a bucket.
func calls(sb *sandbox.Sandbox, op, bucket string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Service == "s3" && c.Operation == op && c.Resource == bucket {
			n += c.Count
		}
	}
	return n
}

func TestSoak(t *testing.T) {
	n := objects()
	t.Run("a healthy burst", func(t *testing.T) {
		r := start(t, "dst")
		r.p.Run(10)
		r.write(n, plainKey)
		r.drain()
		r.sweep(2, 5*time.Minute)
		if len(r.notices()) != 0 {
			t.Errorf("alerts on a healthy burst: %d", len(r.notices()))
		}
		r.quiet()
		r.checkEnd()
	})
	t.Run("throttling at 30%", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultSlowdown, Share: 0.3})
		r.p.Run(10)
		r.write(n, plainKey)
		r.drain()
		r.sweep(3, 5*time.Minute)
		if len(r.notices()) != 0 {
			t.Errorf("alerts under throttling: %d", len(r.notices()))
		}
		if heads := calls(r.sb, "HeadObject", "dst"); heads <= n {
			t.Errorf("%d HEADs of %d replicas: the throttling did not bite", heads, n)
		}
		r.quiet()
		r.checkEnd()
	})
	t.Run("an outage longer than the threshold, then lifted", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
		r.p.Run(10)
		r.write(n, plainKey)
		r.drain()
		r.sweep(12, 5*time.Minute) // an hour
		r.checkAlerted(expect{incident: want(alert.KindLongPending), neverFailed: []string{"dst"}})
		r.quiet()
		r.checkEnd()
	})
	t.Run("deny on one of two destinations, the other in an outage", func(t *testing.T) {
		r := start(t, "dst-denied", "dst-out")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst-denied", Kind: sandbox.FaultDeny})
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst-out", Kind: sandbox.FaultOutage})
		r.p.Run(10)
		r.write(n, plainKey)
		r.drain()
		r.sweep(4, 5*time.Minute)
		r.checkAlerted(expect{incident: func(d string) alert.Kind {
			if d == "dst-denied" {
				return alert.KindFailed
			}
			return "" // twenty minutes into the outage: not past the threshold yet
		}, neverFailed: []string{"dst-out"}})
		r.quiet()
		r.checkEnd()
	})
	t.Run("DynamoDB down, then hung, during a deny", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
		r.p.Run(10)
		_ = r.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultUnavailable, Millis: 3000})
		r.write(n/2, plainKey)
		sandboxtest.Eventually(t, 10*time.Second, "DynamoDB back", func() bool { return len(r.sb.Faults()) == 1 })
		_ = r.sb.InjectFault(sandbox.Fault{Service: "dynamodb", Kind: sandbox.FaultHang, Millis: 3000})
		r.write(n/2, func(i int) string { return plainKey(n/2 + i) })
		sandboxtest.Eventually(t, 3*time.Second, "a DynamoDB call held by the hang", func() bool { return r.sb.Held() > 0 })
		r.drain()
		r.sweep(4, 5*time.Minute)
		r.checkAlerted(expect{incident: want(alert.KindFailed)})
		failed := 0
		for _, b := range r.sb.Batches(r.p.Queue) {
			failed += b.Failed
		}
		if failed == 0 {
			t.Error("no batch failed: DynamoDB's outage did not bite")
		}
		if dl := r.sb.DeadLetters(); len(dl) != 0 {
			t.Errorf("%d messages dead-lettered: their objects would go unaudited", len(dl))
		}
		r.quiet()
		r.checkEnd()
	})
	t.Run("SNS down during a deny", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
		_ = r.sb.InjectFault(sandbox.Fault{Service: "sns", Kind: sandbox.FaultUnavailable})
		r.p.Run(10)
		r.write(n, plainKey)
		r.drain()
		r.sweep(2, 5*time.Minute)
		if len(r.notices()) != 0 {
			t.Fatalf("%d notices while SNS is down", len(r.notices()))
		}
		r.sb.ClearFaultsMatching(sandbox.Fault{Service: "sns"})
		r.sweep(4, 5*time.Minute)
		r.checkAlerted(expect{incident: want(alert.KindFailed)})
		r.quiet()
		r.checkEnd()
	})
	t.Run("keys that push the subject past SNS's limits, under a deny", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
		r.p.Run(10)
		r.write(min(n, 30), func(i int) string {
			return []string{
				strings.Repeat("é", 90) + fmt.Sprint(i),
				fmt.Sprintf("invoice-%d-\u202Efdp.exe", i),
				fmt.Sprintf("zero\u200bwidth\ufeff/%d", i),
				fmt.Sprintf("c1\u0085\u009b/%d", i),
				fmt.Sprintf("line\nbreak/%d", i),
				strings.Repeat("k", 1000) + fmt.Sprint(i),
			}[i%6]
		})
		r.drain()
		r.sweep(2, 5*time.Minute)
		r.checkAlerted(expect{incident: want(alert.KindFailed)})
		for _, m := range r.sb.SNSMessages() {
			if len(m.Subject) >= 100 || strings.ContainsFunc(m.Subject, func(c rune) bool { return c < 0x20 || c > 0x7e }) {
				t.Errorf("subject %q is not printable ASCII under 100 bytes", m.Subject)
			}
		}
		r.quiet()
		r.checkEnd()
	})
	t.Run("batches delivered to three instances at once, and again late", func(t *testing.T) {
		r := start(t, "dst")
		_ = r.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
		r.write(n, plainKey)
		var msgs []events.SQSMessage
		sandboxtest.Eventually(t, 10*time.Second, "the events of every write and failure", func() bool {
			for _, m := range r.sb.ReceiveMessages(r.p.Queue, 100) {
				msgs = append(msgs, events.SQSMessage{MessageId: m.ID, Body: m.Body})
			}
			return len(msgs) >= 2*n
		})
		// Three instances of the auditor, each with its own clients and
		// caches, as Lambda runs them.
		var handlers []*auditor.Handler
		for range 3 {
			parts, err := env.Wire(r.p.Config, r.p.Options.Config, slog.New(slog.DiscardHandler), r.clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			h, err := auditor.New(auditor.Options{Checker: parts.Checker, Tracker: parts.Tracker})
			if err != nil {
				t.Fatal(err)
			}
			handlers = append(handlers, h)
		}
		deliver := func() {
			for i := 0; i < len(msgs); i += 10 {
				batch := events.SQSEvent{Records: msgs[i:min(i+10, len(msgs))]}
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					again = map[string]bool{}
				)
				for _, h := range handlers {
					wg.Go(func() {
						resp, err := h.Handle(context.Background(), batch)
						if err != nil {
							t.Errorf("batch: %v", err)
						}
						mu.Lock()
						for _, f := range resp.BatchItemFailures {
							again[f.ItemIdentifier] = true
						}
						mu.Unlock()
					})
				}
				wg.Wait()
				// Copies racing on one item fence each other's rollup
				// adds: SQS delivers those messages again, once.
				var redo events.SQSEvent
				for _, m := range batch.Records {
					if again[m.MessageId] {
						redo.Records = append(redo.Records, m)
					}
				}
				if len(redo.Records) > 0 {
					if resp, err := handlers[0].Handle(context.Background(), redo); err != nil || len(resp.BatchItemFailures) != 0 {
						t.Errorf("delivered again: %+v %v", resp, err)
					}
				}
			}
		}
		deliver()
		r.sweep(2, 5*time.Minute)
		deliver() // again, late
		r.sweep(2, 5*time.Minute)
		r.checkAlerted(expect{incident: want(alert.KindFailed)})
		r.quiet()
		r.checkEnd()
	})
}
