package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/reconcile"
	"github.com/replaudit/replaudit/internal/safetext"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// auditParts are the auditor's and sweeper's parts, as the stack deploys
// them, on the sandbox.
type auditParts struct {
	plane  *plane.Plane
	failed uploaded // the version whose replication was denied
	began  time.Time
	alerts int // SNS messages already shown
}

const demoFirstCheckDelay = time.Second

// demoSpeed is how much faster than real time replaudit's clock runs in
// the demo: its 30-minute PENDING threshold passes in three seconds, and
// the sweeper's five-minute back-off in half a second. The checks' own
// times, and so the lags shown, stay real.
const demoSpeed = 600

func fastClock(start time.Time) func() time.Time {
	return func() time.Time { return start.Add(time.Since(start) * demoSpeed) }
}

func (d *demo) auditorUp(ctx context.Context) error {
	d.title("The audit side of the stack: queue, ledger table, alert topic, auditor, sweeper")
	// As deployed: the first check waits, so most objects are replicated by then.
	p, err := plane.Start(ctx, d.sb, plane.Options{Region: demoSrcRegion, QueueDelay: demoFirstCheckDelay, Clock: fastClock(time.Now())})
	if err != nil {
		return err
	}
	if err := p.Run(10); err != nil {
		return err
	}
	d.queue = p.Queue
	d.audit = &auditParts{plane: p, began: time.Now()}
	// As the setup function records evidence: in the plane's table, kept as long.
	d.cr.setup.WithEvidence(ledger.NewConfigRecorder(p.DB, p.Options.Table, p.Options.Config.Retention))
	d.say("Queue %s, first check after %s, dead-letter queue after %d tries.", p.Queue, demoFirstCheckDelay, p.Options.MaxReceiveCount)
	d.say("Ledger table %s; alerts to %s.", p.Options.Table, p.Topic)
	d.say("replaudit's clock runs %dx faster here: 30 minutes pass in %s.", demoSpeed, 30*time.Minute/demoSpeed)
	return nil
}

var demoKeys = []string{
	"reports/2026/Q3 summary.pdf",
	"photos/été/plage à midi.jpg",
	"data/売上_2026.csv",
}

type uploaded struct {
	key, version string
	at           time.Time
}

func (d *demo) put(ctx context.Context, key string) (uploaded, error) {
	out, err := d.src.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(demoSource), Key: aws.String(key),
		Body: strings.NewReader("contents of " + key),
	})
	if err != nil {
		return uploaded{}, fmt.Errorf("put %s: %w", key, err)
	}
	return uploaded{key: key, version: aws.ToString(out.VersionId), at: time.Now()}, nil
}

// verdict waits until the ledger holds one of the wanted verdicts for the
// version, running the sweeper meanwhile if asked.
func (d *demo) verdict(ctx context.Context, u uploaded, sweep bool, want ...audit.Verdict) (ledger.Item, error) {
	k := ledger.KeyOf(demoSource, u.key, u.version, demoDestination)
	deadline := time.Now().Add(30 * time.Second)
	for {
		it, err := d.audit.plane.Ledger.Get(ctx, k)
		if err == nil && slices.Contains(want, it.Verdict) {
			return it, nil
		}
		if err != nil && err != ledger.ErrNotFound {
			return it, err
		}
		if time.Now().After(deadline) {
			return it, fmt.Errorf("%s: no %v in the ledger after 30s (have %q)", u.key, want, it.Verdict)
		}
		if sweep {
			if _, err := d.audit.plane.Sweeper.Run(ctx); err != nil {
				return it, err
			}
		}
		select {
		case <-ctx.Done():
			return it, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *demo) uploads(ctx context.Context) error {
	d.title("Upload objects, keys with spaces and unicode among them; the auditor checks each")
	var ups []uploaded
	for _, k := range demoKeys {
		u, err := d.put(ctx, k)
		if err != nil {
			return err
		}
		ups = append(ups, u)
	}
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   key\tversion\tverdict\treplica in "+demoDstRegion+"\tlag at most")
	for _, u := range ups {
		it, err := d.verdict(ctx, u, false, audit.Verified)
		if err != nil {
			return err
		}
		lag := "-"
		if it.LagSeconds != nil {
			lag = fmt.Sprintf("%.1fs", *it.LagSeconds)
		}
		same := "same version id"
		if it.Replica == nil || it.Replica.VersionID != u.version {
			same = "OTHER version id"
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s, %s\t%s\n", safetext.Line(u.key), short(u.version), it.Verdict, it.Replica.Status, same, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	d.say("One HEAD per object on the replica, none on the source: the happy path's whole cost.")
	return nil
}

// newAlerts prints the SNS messages published since the last call.
func (d *demo) newAlerts(lines int) {
	msgs := d.sb.SNSMessages()
	for _, m := range msgs[d.audit.alerts:] {
		d.say("ALERT  %s", m.Subject)
		for i, line := range strings.Split(m.Body, "\n") {
			if i >= lines || strings.HasPrefix(line, "--- JSON") {
				break
			}
			if line != "" {
				d.say("       %s", line)
			}
		}
	}
	d.audit.alerts = len(msgs)
}

func (d *demo) failure(ctx context.Context) error {
	d.title("Break replication: deny writes to %s", demoDestination)
	if err := d.sb.InjectFault(sandbox.Fault{Bucket: demoDestination, Kind: sandbox.FaultDeny}); err != nil {
		return err
	}
	defer d.sb.ClearFaults(demoDestination)
	u, err := d.put(ctx, "reports/2026/Q4 draft.pdf")
	if err != nil {
		return err
	}
	it, err := d.verdict(ctx, u, false, audit.Failed)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); it.Alert != incident.Sent && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if it, err = d.audit.plane.Ledger.Get(ctx, it.Key); err != nil {
			return err
		}
	}
	d.audit.failed = u
	d.say("%s is FAILED in the ledger, reason %s. On-call gets one alert, with the cause and the fix:", u.key, it.FailureReason)
	d.newAlerts(9)
	return nil
}

func (d *demo) outage(ctx context.Context) error {
	d.title("An outage in %s: objects stay PENDING, never FAILED", demoDstRegion)
	if err := d.sb.InjectFault(sandbox.Fault{Bucket: demoDestination, Kind: sandbox.FaultOutage}); err != nil {
		return err
	}
	u, err := d.put(ctx, "data/big-export.parquet")
	if err != nil {
		return err
	}
	if _, err := d.verdict(ctx, u, false, audit.Pending); err != nil {
		return err
	}
	d.say("The first check finds it PENDING; the sweeper re-checks it, soon at first, then less often.")
	for deadline := time.Now().Add(20 * time.Second); len(d.sb.SNSMessages()) == d.audit.alerts; {
		if time.Now().After(deadline) {
			return fmt.Errorf("no long-PENDING alert after 20s")
		}
		if _, err := d.audit.plane.Sweeper.Run(ctx); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.say("Past the threshold (the demo's stand-in for 30 minutes), one warning:")
	d.newAlerts(2)
	d.sb.ClearFaults(demoDestination)
	d.say("The outage ends; S3 catches up.")
	return d.resolved(ctx, u)
}

// resolved waits until the version is VERIFIED and its incident's resolved
// notice sent, running the sweeper, and shows the notice.
func (d *demo) resolved(ctx context.Context, u uploaded) error {
	it, err := d.verdict(ctx, u, true, audit.Verified)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); it.Alert != incident.Resolved && time.Now().Before(deadline); {
		if _, err := d.audit.plane.Sweeper.Run(ctx); err != nil {
			return err
		}
		if it, err = d.audit.plane.Ledger.Get(ctx, it.Key); err != nil {
			return err
		}
	}
	d.newAlerts(1)
	return nil
}

// inventory reconciles the source from S3 Inventory, which re-drives the
// version that FAILED with Batch Replication; the sweeper sees the replica
// land and resolves the incident.
func (d *demo) inventory(ctx context.Context) error {
	d.title("S3 Inventory: every version accounted for, what failed re-driven by Batch Replication")
	inv, err := d.audit.plane.Reconcile(ctx, plane.InventoryOptions{Source: demoSource, Redrive: reconcile.RedriveRun})
	if err != nil {
		return err
	}
	uris, err := d.sb.WriteInventory(demoSource)
	if err != nil {
		return err
	}
	d.say("S3 Inventory listed every version of %s; the reconciler reads its files in parallel.", demoSource)
	var s reconcile.Summary
	for deadline := time.Now().Add(30 * time.Second); ; {
		rn, err := inv.Reconciler.Latest(ctx, demoSource)
		if err != nil {
			return err
		}
		var closed bool
		if rn != nil && rn.Manifest == uris[0] {
			s, closed = rn.Outcome()
		}
		if closed {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the reconciliation of %s did not close in 30s", uris[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b strings.Builder
	s.Write(&b)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		d.say("%s", line)
	}
	d.newAlerts(1)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if j, ok := d.sb.Job(s.Job); ok && j.Status == sandbox.JobComplete {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Batch Replication job %s did not complete in 20s", s.Job)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.say("The job completed. The sweeper finds the replica and closes the incident:")
	return d.resolved(ctx, d.audit.failed)
}

func (d *demo) summary(ctx context.Context) error {
	d.title("The ledger: what auditors query and export")
	counts := map[audit.Verdict]int{}
	var lags []float64
	configs := 0
	err := d.audit.plane.Ledger.Period(ctx, d.audit.began.Add(-time.Minute), time.Now().Add(time.Minute), func(it ledger.Item) error {
		if ledger.IsConfig(it) {
			configs++
			return nil
		}
		counts[it.Verdict]++
		if it.LagSeconds != nil {
			lags = append(lags, *it.LagSeconds)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, v := range audit.Verdicts {
		if counts[v] > 0 {
			d.say("%-16s %d", v, counts[v])
		}
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		d.say("Replication lag, upper bound: median %.1fs, worst %.1fs.", lags[len(lags)/2], lags[len(lags)-1])
	}
	d.say("Configuration changes recorded by the setup function: %d.", configs)
	d.say("Every item keeps its history, the replica's evidence and the alert state, for %d days.", int(d.audit.plane.Options.Config.Retention/(24*time.Hour)))
	if d.opts.Status == nil {
		return nil
	}
	d.say("")
	d.say("$ replaudit status 's3://%s/reports/2026/Q4 draft.pdf'", demoSource)
	var items []ledger.Item
	if err := d.audit.plane.Ledger.Object(ctx, demoSource, "reports/2026/Q4 draft.pdf", "", func(it ledger.Item) error { items = append(items, it); return nil }); err != nil {
		return err
	}
	var b strings.Builder
	d.opts.Status(&b, demoSource, "reports/2026/Q4 draft.pdf", items)
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		d.say("%s", line)
	}
	return nil
}
