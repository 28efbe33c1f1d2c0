// Package sandboxtest helps tests that run on the sandbox: a test that
// needs an outside tool is skipped where it is missing, and fails under
// make test, which installs it (REPLAUDIT_REQUIRE_TOOLS); tests wait on
// conditions with Eventually, and move time by hand with a Clock.
package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
)

// A Tool is an outside program the sandbox runs.
type Tool func() (string, error)

// The tools.
var (
	Dynalite Tool = sandbox.FindDynalite
	RIE      Tool = sandbox.FindRIE
)

// Need skips tb when a tool is missing, or fails it when make test, which
// installs the tools, runs it.
func Need(tb testing.TB, tools ...Tool) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := tool(); err != nil {
			if os.Getenv("REPLAUDIT_REQUIRE_TOOLS") != "" {
				tb.Fatalf("%v", err)
			}
			tb.Skipf("%v; `make test` installs it and requires this test", err)
		}
	}
}

// Eventually waits until cond holds, checking it every 10ms, and fails tb
// naming what it waited for if timeout passes first. Tests wait on
// conditions this way, never on fixed sleeps.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	EventuallyNoError(tb, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("not yet")

// EventuallyNoError is Eventually for a check that says what it saw: it
// waits until check returns nil, and on timeout reports the last error
// check returned, so that the failure shows how far things got.
func EventuallyNoError(tb testing.TB, timeout time.Duration, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errNotYet) {
				tb.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			tb.Fatalf("timed out after %s waiting for %s; last: %v", timeout, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Clock runs with real time, and a test moves it forward by hand: the
// sandbox's S3 stamps events with real time, so replaudit's clock must
// never fall behind it. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Buffer collects what a test's loggers, metrics and emulated functions
// write from many goroutines at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Ledger starts a sandbox with DynamoDB, creates the ledger table in it,
// and returns a ledger on it whose clock is clock (nil: time.Now), with
// the table's client. The sandbox closes with the test.
func Ledger(tb testing.TB, clock func() time.Time) (*ledger.Ledger, *dynamodb.Client, *sandbox.Sandbox) {
	tb.Helper()
	Need(tb, Dynalite)
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sb.Close() })
	cfg, err := sb.AWSConfig(ctx, "us-east-1")
	if err != nil {
		tb.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		tb.Fatal(err)
	}
	l, err := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 400 * 24 * time.Hour, Clock: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return l, db, sb
}
