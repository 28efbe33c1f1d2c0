package query_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/query"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// filled starts a sandbox with a ledger of n items from day on, spread
// over days, in two buckets and every verdict, written 25 at a time. It
// returns a ledger reading pageSize items a page.
func filled(tb testing.TB, day time.Time, days, n int, pageSize int32) (*ledger.Ledger, *sandbox.Sandbox) {
	tb.Helper()
	sandboxtest.Need(tb, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sb.Close() })
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		tb.Fatal(err)
	}
	l, _ := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 400 * 24 * time.Hour, PageSize: pageSize})
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	var batch []types.WriteRequest
	for i := range n {
		f := audit.Finding{Bucket: []string{"acme-data", "acme-logs"}[i%2], Key: fmt.Sprintf("k%06d", i), VersionID: "v", Destination: "d",
			Verdict: audit.Verdicts[i%len(audit.Verdicts)], EventTime: day.Add(time.Duration(i*7919%n) * step)}
		it, _ := l.Apply(nil, f)
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		if len(batch) == 25 || i == n-1 {
			req := map[string][]types.WriteRequest{"ledger": batch}
			for len(req) > 0 {
				out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
				if err != nil {
					tb.Fatal(err)
				}
				req = out.UnprocessedItems
			}
			batch = nil
		}
	}
	return l, sb
}

func keys(tb testing.TB, l query.Ledger, f query.Filter) []string {
	tb.Helper()
	var got []string
	if err := query.Run(context.Background(), l, f, func(it ledger.Item) error { got = append(got, it.PK); return nil }); err != nil {
		tb.Fatal(err)
	}
	return got
}

// unpushed reads as a ledger that ignores the verdict and bucket, so that
// only the client filters.
type unpushed struct{ *ledger.Ledger }

func (u unpushed) QueryPeriod(ctx context.Context, q ledger.PeriodQuery, fn func(ledger.Item) error) error {
	q.Verdict, q.Bucket = "", ""
	return u.Ledger.QueryPeriod(ctx, q, fn)
}

func TestFiltersPushedIntoTheQueryChangeNothingButTheTransfer(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	l, _ := filled(t, day, 3, 600, 7)
	for _, f := range []query.Filter{
		{Verdict: audit.Failed},
		{Bucket: "acme-logs"},
		{Verdict: audit.Verified, Bucket: "acme-data"},
		{Bucket: "no-such-bucket"},
		{},
	} {
		f.Since, f.Until = day.Add(5*time.Hour), day.Add(70*time.Hour)
		pushed := keys(t, l, f)
		client := keys(t, unpushed{l}, f)
		if !slices.Equal(pushed, client) {
			t.Errorf("%s %q: got %d items pushed down, %d filtered by the client; want the same, in the same order", f.Verdict, f.Bucket, len(pushed), len(client))
		}
		if f.Verdict == "" && f.Bucket == "" && len(pushed) < 500 {
			t.Errorf("got %d items of the whole period, want most of 600", len(pushed))
		}
	}
}

func TestALimitStopsReading(t *testing.T) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	l, sb := filled(t, day, 2, 320, 2) // ten items, five pages, a shard a day
	queries := func() int {
		n := 0
		for _, c := range sb.Calls() {
			if c.Service == "dynamodb" && c.Operation == "Query" {
				n += c.Count
			}
		}
		return n
	}
	f := query.Filter{Since: day, Until: day.Add(48 * time.Hour)}
	sb.ResetCalls()
	if got := len(keys(t, l, f)); got != 320 {
		t.Fatalf("got %d items, want 320", got)
	}
	all := queries()
	f.Limit = 3
	sb.ResetCalls()
	if got := keys(t, l, f); len(got) != 3 {
		t.Errorf("--limit 3: got %d items, want 3", len(got))
	}
	// The first day's shards, each a page merged and at most one more read
	// meanwhile, and nothing of the second day.
	if got := queries(); got > 2*ledger.Shards || got >= all/2 {
		t.Errorf("--limit 3: got %d queries, want at most %d (all of it takes %d)", got, 2*ledger.Shards, all)
	}
}

// BenchmarkRun lists 20,000 items over five days through the merge, 100
// items a page (go test -run '^$' -bench Run -benchmem ./internal/query/).
func BenchmarkRun(b *testing.B) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	l, _ := filled(b, day, 5, 20_000, 100)
	f := query.Filter{Since: day, Until: day.Add(5 * 24 * time.Hour)}
	for b.Loop() {
		n := 0
		if err := query.Run(context.Background(), l, f, func(ledger.Item) error { n++; return nil }); err != nil || n != 20_000 {
			b.Fatalf("got %d items, %v", n, err)
		}
	}
	b.ReportMetric(20_000, "items/op")
}
