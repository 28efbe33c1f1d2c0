package auditor_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sweep"
)

// BenchmarkAuditVerifiedObject measures checking and recording one already
// replicated object, and reports the API calls it costs. Run it with
// -benchtime 200x: past 200 it re-checks objects already verified, which
// costs a second DynamoDB call.
func BenchmarkAuditVerifiedObject(b *testing.B) {
	st := newStack(b, 20, "dst")
	ctx := context.Background()
	var bodies []string
	for i := range 200 {
		st.put(b, fmt.Sprintf("bench/%04d", i), "x")
	}
	time.Sleep(500 * time.Millisecond) // replicated, and the events queued
	for _, m := range st.sb.ReceiveMessages(st.queue, 1000) {
		bodies = append(bodies, m.Body)
	}
	st.sb.ResetCalls()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		body := bodies[n%len(bodies)]
		n++
		if _, err := st.handler.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	calls := map[string]int{}
	for _, c := range st.sb.Calls() {
		calls[c.Service] += c.Count
	}
	b.ReportMetric(float64(calls["s3"])/float64(n), "s3-calls/object")
	b.ReportMetric(float64(calls["dynamodb"])/float64(n), "dynamodb-calls/object")
	b.ReportMetric(float64(calls["sns"])/float64(n), "sns-calls/object")
}

// BenchmarkSweepPendingItems measures a sweep over PENDING items during an
// outage: the sweeper's throughput.
func BenchmarkSweepPendingItems(b *testing.B) {
	st := newStack(b, 20, "dst")
	ctx := context.Background()
	_ = st.sb.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	const items = 300
	for i := range items {
		st.put(b, fmt.Sprintf("pending/%04d", i), "x")
	}
	time.Sleep(400 * time.Millisecond)
	for _, m := range st.sb.ReceiveMessages(st.queue, 1000) {
		if _, err := st.handler.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: m.Body}}}); err != nil {
			b.Fatal(err)
		}
	}
	sw, _ := sweep.New(st.checker, st.ledger, st.notifier, sweep.Options{Threshold: time.Hour, Concurrency: 8}, slog.New(slog.DiscardHandler))
	b.ResetTimer()
	seen := 0
	for b.Loop() {
		sum, err := sw.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seen += sum.Seen
	}
	b.ReportMetric(float64(seen)/b.Elapsed().Seconds(), "items/s")
}
