package verify_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/verify"
	verifyathena "github.com/replaudit/replaudit/internal/verify/athena"
	"github.com/replaudit/replaudit/internal/verify/verifytest"
)

// TestBothEnginesFindTheDeletedTheTamperedAndTheOrphanReplica: after
// replication, one replica's version was deleted in the destination, one
// was written tampered, and one object was written to the destination
// only. DuckDB and Athena, reading the same inventories with the same SQL,
// find exactly those, in CSV and in Parquet inventories.
func TestBothEnginesFindTheDeletedTheTamperedAndTheOrphanReplica(t *testing.T) {
	for _, format := range []string{"CSV", "Parquet"} {
		t.Run(format, func(t *testing.T) {
			sc := verifytest.New(t, format, sandbox.Options{})
			want := []string{
				"DIVERGED " + verifytest.KeyTampered + " " + sc.Versions[verifytest.KeyTampered] + " (size 29 bytes, want 19; ETag ",
				"MISSING " + verifytest.KeyDeleted + " " + sc.Versions[verifytest.KeyDeleted],
				"ORPHAN " + verifytest.KeyOrphan + " " + sc.Orphan,
			}
			engines := map[string]verify.Engine{"duckdb": verifytest.DuckEngine(t), "athena": sc.AthenaEngine(t, 30*time.Second)}
			results := map[string][]string{}
			for name, e := range engines {
				s, found, err := sc.Run(t, e, verify.Options{EngineName: name})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got := verifytest.Outcomes(found)
				results[name] = got
				if len(got) != len(want) {
					t.Fatalf("%s: got %q, want %q", name, got, want)
				}
				for i := range want {
					if !strings.HasPrefix(got[i], want[i]) {
						t.Errorf("%s: got %q, want it to start %q", name, got[i], want[i])
					}
				}
				// kept q3.jpg has two versions, the others one each.
				if s.Checked != 4 || s.Missing != 1 || s.Diverged != 1 || s.Orphans != 1 || s.Unsettled != 0 || s.Clean() {
					t.Errorf("%s: got checked %d, missing %d, diverged %d, orphans %d, unsettled %d; want 4, 1, 1, 1, 0",
						name, s.Checked, s.Missing, s.Diverged, s.Orphans, s.Unsettled)
				}
				if !s.Compared.Encryption || !s.Compared.Checksum {
					t.Errorf("%s: compared %+v, want ETags and checksum algorithms compared", name, s.Compared)
				}
				if s.Date != time.Now().UTC().Format(time.DateOnly) || s.Source != "src" || s.Destination != "dst" {
					t.Errorf("%s: summary of %s, %s to %s", name, s.Date, s.Source, s.Destination)
				}
			}
			if !slices.Equal(results["duckdb"], results["athena"]) {
				t.Errorf("the engines disagree:\nduckdb %q\nathena %q", results["duckdb"], results["athena"])
			}
		})
	}
}

// TestVersionsYoungerThanTheInventoriesAreNotJudged: a version written
// shortly before the destination's inventory may have replicated after it
// was taken. With the default six hours, the scene's deleted replica is
// unsettled, not MISSING, and the scene's orphan not an orphan yet.
func TestVersionsYoungerThanTheInventoriesAreNotJudged(t *testing.T) {
	sc := verifytest.New(t, "CSV", sandbox.Options{})
	v, err := verify.New(verify.Options{Engine: verifytest.DuckEngine(t), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Verify(context.Background(), sc.SrcInv, sc.DstInv)
	if err != nil {
		t.Fatal(err)
	}
	if s.Missing != 0 || s.Unsettled != 1 || s.Orphans != 0 || s.Diverged != 1 || s.Checked != 3 {
		t.Errorf("got missing %d, unsettled %d, orphans %d, diverged %d, checked %d; want 0, 1, 0, 1, 3", s.Missing, s.Unsettled, s.Orphans, s.Diverged, s.Checked)
	}
}

// TestAnAthenaQueryThatFailsOrHangsIsAnErrorNeverACleanResult.
func TestAnAthenaQueryThatFailsOrHangsIsAnErrorNeverACleanResult(t *testing.T) {
	sc := verifytest.New(t, "CSV", sandbox.Options{})
	t.Run("a query that FAILED", func(t *testing.T) {
		sc.SB.SetAthenaFault(sandbox.AthenaFault{Fail: "HIVE_CURSOR_ERROR: the sandbox was told to fail"})
		defer sc.SB.SetAthenaFault(sandbox.AthenaFault{})
		s, _, err := sc.Run(t, sc.AthenaEngine(t, 10*time.Second), verify.Options{})
		if !errors.Is(err, verifyathena.ErrQuery) || !strings.Contains(err.Error(), "FAILED: HIVE_CURSOR_ERROR") || s.Checked != 0 {
			t.Errorf("got %+v, %v; want an error naming FAILED and Athena's reason", s, err)
		}
	})
	t.Run("a query that never ends", func(t *testing.T) {
		sc.SB.SetAthenaFault(sandbox.AthenaFault{Hang: true})
		defer sc.SB.SetAthenaFault(sandbox.AthenaFault{})
		e := sc.AthenaEngine(t, 300*time.Millisecond)
		began := time.Now()
		_, _, err := sc.Run(t, e, verify.Options{})
		if !errors.Is(err, verifyathena.ErrQuery) || !strings.Contains(err.Error(), "still RUNNING after 300ms; it was stopped") {
			t.Errorf("got %v; want a timeout error", err)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("the wait took %s, want about the timeout", d)
		}
	})
	t.Run("a query of a table that does not exist", func(t *testing.T) {
		e, err := verifyathena.New(sc.Athena, verifyathena.Options{Database: "inventories", SourceTable: "nope", DestinationTable: "dst_inventory",
			Timeout: 10 * time.Second, MinDelay: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sc.AthenaEngine(t, time.Second) // the tables
		_, _, err = sc.Run(t, e, verify.Options{})
		if !errors.Is(err, verifyathena.ErrQuery) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("got %v; want FAILED naming the table", err)
		}
	})
}
