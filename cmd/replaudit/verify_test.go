package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
	"github.com/replaudit/replaudit/internal/verify"
	"github.com/replaudit/replaudit/internal/verify/verifytest"
)

// TestVerifyFindsTheDeletedAndTheTamperedReplicaAndRecordsThem is the
// command line's whole job, with each engine: the deleted replica is
// MISSING and the tampered one DIVERGED, both recorded in the ledger with
// --record and listed for Batch Replication with --out; the orphan is
// shown; the exit code is 1; the summary item is what verify.Latest reads.
func TestVerifyFindsTheDeletedAndTheTamperedReplicaAndRecordsThem(t *testing.T) {
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..") // where make tools put dynalite
	sc := verifytest.New(t, "CSV", sandbox.Options{DynamoDB: true})
	ctx := context.Background()
	cfg, err := sc.SB.AWSConfig(ctx, verifytest.SrcRegion)
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		t.Fatal(err)
	}
	for name, uri := range map[string]string{"src_inventory": sc.SrcURI, "dst_inventory": sc.DstURI} {
		if err := sc.SB.CreateAthenaTable("inventories", name, uri); err != nil {
			t.Fatal(err)
		}
	}
	// The auditor verified the deleted replica before it went: the
	// inventory's MISSING replaces that VERIFIED.
	l, err := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	deleted := sc.Versions[verifytest.KeyDeleted]
	if _, err := l.Record(ctx, audit.Finding{Bucket: "src", Key: verifytest.KeyDeleted, VersionID: deleted, Destination: "dst", Verdict: audit.Verified,
		EventTime: time.Now().Add(-time.Hour), Replica: &audit.Replica{VersionID: deleted, VerifiedAt: time.Now().Add(-59 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	env := sandboxEnvFile(t, sc.SB, [2]string{"REPLAUDIT_TABLE", "ledger"})
	for _, engine := range [][]string{{"--engine", "duckdb"}, {"--engine", "athena", "--athena-database", "inventories",
		"--source-table", "src_inventory", "--destination-table", "dst_inventory", "--athena-output", "s3://athena-results/cli/"}} {
		t.Run(engine[1], func(t *testing.T) {
			redrive := filepath.Join(t.TempDir(), "redrive.csv")
			var out, errOut bytes.Buffer
			args := append([]string{"verify", "--env-file", env, "--source-manifest", sc.SrcURI, "--destination-manifest", sc.DstURI,
				"--settle", "0s", "--record", "--out", redrive}, engine...)
			code := run(ctx, args, &out, &errOut)
			if code != exitFail {
				t.Fatalf("exit %d, want 1; stderr %s\n%s", code, errOut.String(), out.String())
			}
			for _, says := range []string{
				"s3://dst verified against s3://src from the inventories of",
				"missing                 1", "diverged                1", "orphans                 1",
				"example      MISSING  s3://src/" + verifytest.KeyDeleted,
				"example      DIVERGED s3://src/" + verifytest.KeyTampered + " version " + sc.Versions[verifytest.KeyTampered] + " (size 29 bytes, want 19",
				"example      ORPHAN   s3://dst/" + verifytest.KeyOrphan + " version " + sc.Orphan + " (not a replica: written to the destination directly)",
			} {
				if !strings.Contains(out.String(), says) {
					t.Errorf("the summary does not say %q:\n%s", says, out.String())
				}
			}
			lines := readRemediationManifest(t, redrive)
			if len(lines) != 2 || lines[0] != [3]string{"src", verifytest.KeyTampered, sc.Versions[verifytest.KeyTampered]} ||
				lines[1] != [3]string{"src", verifytest.KeyDeleted, sc.Versions[verifytest.KeyDeleted]} {
				t.Errorf("--out lists %q, want the tampered and the deleted versions", lines)
			}
			l, err := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 24 * 3600e9})
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]audit.Verdict{verifytest.KeyDeleted: audit.Missing, verifytest.KeyTampered: audit.Diverged} {
				it, err := l.Get(ctx, ledger.KeyOf("src", key, sc.Versions[key], "dst"))
				if err != nil || it.Verdict != want || !strings.Contains(it.Detail, "S3 Inventory of") {
					t.Errorf("%s: got %+v, %v; want %s from the inventory", key, it.Verdict, err, want)
				}
			}
			s, found, err := verify.Latest(ctx, db, "ledger", "src")
			if err != nil || !found || s.Missing != 1 || s.Diverged != 1 || s.Orphans != 1 || s.Checked != 4 || s.Engine != engine[1] ||
				len(s.Examples[verify.Missing]) != 1 {
				t.Errorf("Latest: got %+v, %v, %v; want the run's counts and examples", s, found, err)
			}
		})
	}

	t.Run("the report shows the latest verification", func(t *testing.T) {
		var out, errOut bytes.Buffer
		run(ctx, []string{"report", "--env-file", env, "--since", "1d"}, &out, &errOut)
		text := out.String()
		for _, says := range []string{"destination verified from inventory", "s3://dst verified against s3://src from the inventories of",
			"4 versions checked, 1 MISSING, 1 DIVERGED, 1 orphans", "MISSING s3://src/" + verifytest.KeyDeleted} {
			if !strings.Contains(text, says) {
				t.Errorf("the report does not say %q:\n%s%s", says, text, errOut.String())
			}
		}
	})

	t.Run("json and jsonl", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"verify", "--env-file", env, "--source-manifest", sc.SrcURI, "--destination-manifest", sc.DstURI, "--settle", "0s", "--format", "jsonl"}, &out, &errOut)
		if code != exitFail || strings.Count(out.String(), "\n") != 3 {
			t.Errorf("jsonl: exit %d, %q, want 1 and three lines", code, out.String())
		}
		out.Reset()
		code = run(ctx, []string{"verify", "--env-file", env, "--source-manifest", sc.SrcURI, "--destination-manifest", sc.DstURI, "--settle", "0s", "--format", "json"}, &out, &errOut)
		var s verify.Summary
		if err := json.Unmarshal(out.Bytes(), &s); code != exitFail || err != nil || s.Missing != 1 {
			t.Errorf("json: exit %d, %v, %+v", code, err, s)
		}
	})

	t.Run("bad input exits 2 in one line", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			says string
		}{
			{[]string{"--destination-manifest", sc.DstURI}, "--source-manifest is required"},
			{[]string{"--source-manifest", sc.SrcURI, "--destination-manifest", sc.SrcURI}, "both inventories list bucket src"},
			{[]string{"--source-manifest", sc.SrcURI, "--destination-manifest", sc.DstURI, "--engine", "spark"}, `--engine "spark": want duckdb or athena`},
			{[]string{"--source-manifest", sc.SrcURI, "--destination-manifest", sc.DstURI, "--engine", "athena"}, "--engine athena needs --athena-database"},
			{[]string{"--source-manifest", sc.SrcURI, "--destination-manifest", strings.Replace(sc.DstURI, "all-versions", "nope", 1)}, "NoSuchKey"},
		} {
			var out, errOut bytes.Buffer
			code := run(ctx, append([]string{"verify", "--env-file", env}, c.args...), &out, &errOut)
			msg := strings.TrimSpace(errOut.String())
			if code != exitUsage || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") || out.Len() != 0 {
				t.Errorf("%q: exit %d %q, want 2 and one line saying %q", c.args, code, msg, c.says)
			}
		}
	})
}
