package query_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/query"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T08:30:00Z": time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC),
	} {
		if got, err := query.ParseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q): got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-3d", "2026-13-01"} {
		if _, err := query.ParseTime(bad, now); !errors.Is(err, query.ErrUsage) {
			t.Errorf("ParseTime(%q): got %v, want a usage error", bad, err)
		}
	}
}

func TestRunReadsEveryPage(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		t.Fatal(err)
	}
	l, _ := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 24 * time.Hour})
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	for i := range 40 {
		v := audit.Verified
		if i%4 == 0 {
			v = audit.Failed
		}
		f := audit.Finding{Bucket: "b", Key: fmt.Sprintf("k%02d", i), VersionID: "v", Destination: "d", Verdict: v, EventTime: day.Add(time.Duration(i) * time.Minute)}
		if _, err := l.Record(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// One item a page: every shard takes several pages.
	l, _ = ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 24 * time.Hour, PageSize: 1})
	n := 0
	err = query.Run(ctx, l, query.Filter{Verdict: audit.Failed, Since: day, Until: day.Add(24 * time.Hour)}, func(ledger.Item) error { n++; return nil })
	if err != nil || n != 10 {
		t.Errorf("got %d FAILED items, %v; want 10 over many pages", n, err)
	}
}
