package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
)

func TestPeriodIsInEventTimeOrderAcrossShardsAndDays(t *testing.T) {
	l, sb := newLedger(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	// Four items in each of thirty seconds over three days, written in an
	// order no shard keeps, some a millisecond apart whose RFC 3339 strings
	// do not sort as times: ".12Z" after ".123Z", ".5Z" after ".50001Z".
	sub := []time.Duration{120 * time.Millisecond, 123 * time.Millisecond, 500 * time.Millisecond, 500010 * time.Microsecond}
	for i := range 120 {
		f := finding(audit.Pending)
		f.Key = fmt.Sprintf("k%03d", i)
		f.EventTime = start.Add(time.Duration(i*37%30)*144*time.Minute + sub[i/30])
		if _, err := l.Record(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	paged, _ := ledger.New(ledger.Options{DB: dynamodb.NewFromConfig(cfg), Table: "ledger", Retention: time.Hour, PageSize: 2})
	var got []time.Time
	var days []string
	err := paged.QueryPeriod(ctx, ledger.PeriodQuery{Since: start, Until: start.Add(72 * time.Hour), DayDone: func(done, total int) {
		days = append(days, fmt.Sprintf("%d/%d", done, total))
	}}, func(it ledger.Item) error {
		got = append(got, it.EventTime)
		return nil
	})
	if err != nil || len(got) != 120 {
		t.Fatalf("got %d items, %v; want 120", len(got), err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Before(got[i-1]) {
			t.Errorf("item %d at %s comes after one at %s", i, got[i].Format(time.RFC3339Nano), got[i-1].Format(time.RFC3339Nano))
		}
	}
	if fmt.Sprint(days) != "[1/3 2/3 3/3]" {
		t.Errorf("got days done %v, want [1/3 2/3 3/3]", days)
	}
}

func TestPeriodStopsWhenToldTo(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	stop := errors.New("stop")
	for i := range 20 {
		f := finding(audit.Pending)
		f.Key, f.EventTime = fmt.Sprintf("k%02d", i), f.EventTime.Add(time.Duration(i)*time.Minute)
		if _, err := l.Record(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	day := finding(audit.Pending).EventTime.Truncate(24 * time.Hour)
	err := l.Period(ctx, day, day.Add(24*time.Hour), func(ledger.Item) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Errorf("got %v after %d items, want the error fn returned after 5", err, n)
	}
}
