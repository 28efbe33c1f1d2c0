package auditor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// BenchmarkAuditVerifiedObject measures checking and recording one already
// replicated object, and reports the API calls it costs. Run it with
// -benchtime 200x: past 200 it checks objects already verified again.
func BenchmarkAuditVerifiedObject(b *testing.B) {
	st := newStack(b, stackOptions{stormLimit: 20, rules: dests("dst")})
	ctx := context.Background()
	for i := range 200 {
		st.put(b, fmt.Sprintf("bench/%04d", i), "x")
	}
	var bodies []string
	sandboxtest.Eventually(b, 10*time.Second, "the 200 events, delivered", func() bool {
		for _, m := range st.Sandbox.ReceiveMessages(st.Queue, 1000) {
			if strings.Contains(m.Body, "ObjectCreated") {
				bodies = append(bodies, m.Body)
			}
		}
		return len(bodies) == 200
	})
	sandboxtest.Eventually(b, 10*time.Second, "the 200 objects replicated", func() bool {
		s, _ := st.b.Status(ctx, "src", "bench/0199", latest(b, st, "bench/0199"))
		return s == "COMPLETED"
	})
	st.Sandbox.ResetCalls()
	b.ResetTimer()
	// As SQS first delivers them, in the stack's batches of 50
	// (BatchSize): each b.Loop is one batch, so -benchtime 4x checks the
	// 200 objects once (more loops deliver them again: nothing new).
	const batch = 50
	n, batches := 0, 0
	for b.Loop() {
		var ev events.SQSEvent
		for range batch {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("m", n), Body: bodies[n%len(bodies)],
				Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
			n++
		}
		batches++
		if resp, err := st.Handler.Handle(ctx, ev); err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatal(resp, err)
		}
	}
	b.StopTimer()
	calls, rollups := map[string]int{}, 0
	for _, c := range st.Sandbox.Calls() {
		calls[c.Service] += c.Count
		if c.Service == "dynamodb" && c.Operation == "UpdateItem" {
			rollups += c.Count
		}
	}
	b.ReportMetric(float64(calls["s3"])/float64(n), "s3-calls/object")
	b.ReportMetric(float64(calls["dynamodb"])/float64(n), "dynamodb-calls/object")
	b.ReportMetric(float64(rollups)/float64(batches), "rollup-writes/batch")
	b.ReportMetric(float64(calls["sns"])/float64(n), "sns-calls/object")
	// What a write costs on demand: one write request unit per KB of the
	// item, rounded up (DynamoDB's own sizing rule, approximated below).
	out, err := st.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(st.Options.Table), Limit: aws.Int32(50)})
	if err != nil {
		b.Fatal(err)
	}
	largest := 0
	for _, it := range out.Items {
		if _, ok := it["verdict"]; ok {
			largest = max(largest, itemBytes(it))
		}
	}
	if largest == 0 {
		b.Fatal("no verdict item in the ledger")
	}
	units := float64((largest + 1023) / 1024)
	b.ReportMetric(float64(largest), "item-bytes")
	b.ReportMetric(units, "write-units/object")
	// The rollup items a batch adds to are small (well under 1 KB): one
	// write unit each, and no index.
	itemWrites := float64(calls["dynamodb"]-rollups) / float64(n)
	b.ReportMetric(100*float64(rollups)/(float64(n)*itemWrites*units*2), "rollup-extra-write-units-%")
	// What a million such objects cost in S3 requests and ledger writes, at
	// us-east-1's published on-demand prices: a HEAD is a GET-class request;
	// every item write also writes the byDay index (projection ALL), one
	// more write of the same size. SQS and Lambda are not counted here (see
	// the README's cost table).
	const headUSD, writeUnitUSD = 0.40, 0.625 // per million
	b.ReportMetric(float64(calls["s3"])/float64(n)*headUSD+(itemWrites*units*2+float64(rollups)/float64(n))*writeUnitUSD, "s3+ledger-usd/million")
}

// itemBytes sizes an item as DynamoDB bills it: each attribute's name and
// value, numbers at about one byte per two digits, and a few bytes of
// overhead for each map, list and their elements.
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueBytes(v)
	}
	return n
}

func valueBytes(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return (len(v.Value)+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		return 3 + itemBytes(v.Value) + len(v.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	}
	return 0
}

// BenchmarkFailedObject measures the failure path: a version whose
// replication is denied, its page, and the ledger writes they cost. With
// Metrics on, S3 sends two events for it (the write, and the failure that
// names the reason), each recorded; without, one.
func BenchmarkFailedObject(b *testing.B) {
	for _, metrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", metrics), func(b *testing.B) {
			st := newStack(b, stackOptions{stormLimit: 1 << 30, rules: []plane.Rule{{Destination: "dst", Metrics: metrics}}})
			_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
			ctx := context.Background()
			writes, objects := 0, 0
			for b.Loop() {
				b.StopTimer()
				key := fmt.Sprintf("failed/%05d", objects)
				v := st.put(b, key, "x")
				want := 1
				if metrics {
					want = 2
				}
				var bodies []string
				sandboxtest.Eventually(b, 5*time.Second, "the events of "+key, func() bool {
					for _, m := range st.Sandbox.ReceiveMessages(st.Queue, 10) {
						if !strings.Contains(m.Body, "s3:TestEvent") {
							bodies = append(bodies, m.Body)
						}
					}
					return len(bodies) >= want
				})
				st.Sandbox.ResetCalls()
				b.StartTimer()
				// As SQS delivers: a message returned (a FAILED waiting for
				// S3's reason) comes back, its receive count one higher.
				for receive := 1; len(bodies) > 0; receive++ {
					var back []string
					for _, body := range bodies {
						resp, err := st.Handler.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: body,
							Attributes: map[string]string{"ApproximateReceiveCount": fmt.Sprint(receive)}}}})
						if err != nil {
							b.Fatal(err)
						}
						if len(resp.BatchItemFailures) > 0 {
							back = append(back, body)
						}
					}
					bodies = back
				}
				b.StopTimer()
				if it := st.item(b, key, v, "dst"); it.Pages != 1 {
					b.Fatalf("%s: %d pages, want 1", key, it.Pages)
				}
				writes += countService(st.Sandbox.Calls(), "dynamodb", "PutItem") + countService(st.Sandbox.Calls(), "dynamodb", "UpdateItem")
				objects++
				b.StartTimer()
			}
			b.ReportMetric(float64(writes)/float64(objects), "writes/object")
		})
	}
}

// BenchmarkSweepPendingItems measures a sweep over PENDING items during an
// outage: the sweeper's throughput.
func BenchmarkSweepPendingItems(b *testing.B) {
	st := newStack(b, stackOptions{stormLimit: 20, rules: dests("dst")})
	ctx := context.Background()
	_ = st.Sandbox.InjectFault(sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	const items = 300
	for i := range items {
		st.put(b, fmt.Sprintf("pending/%04d", i), "x")
	}
	handled := 0
	sandboxtest.Eventually(b, 10*time.Second, "the events, handled", func() bool {
		for _, m := range st.Sandbox.ReceiveMessages(st.Queue, 1000) {
			if _, err := st.Handler.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: m.Body}}}); err != nil {
				b.Fatal(err)
			}
			handled++
		}
		return handled == items+1
	})
	b.ResetTimer()
	seen := 0
	for b.Loop() {
		// Every item is due again each run: five minutes pass.
		st.clock.Advance(5 * time.Minute)
		sum, err := st.Sweeper.Run(ctx)
		if err != nil {
			b.Fatal(err)
		}
		seen += sum.Seen
	}
	b.ReportMetric(float64(seen)/b.Elapsed().Seconds(), "items/s")
}
