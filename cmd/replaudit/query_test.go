package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// seeded starts a sandbox with a ledger holding known findings at known
// times, and any extra ones, each checked a minute after it was written; it
// returns an env file that points the CLI at it.
func seeded(t *testing.T, extra ...audit.Finding) string {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..")
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	cfg, _ := sb.AWSConfig(ctx, "us-east-1")
	db := dynamodb.NewFromConfig(cfg)
	if err := ledger.CreateTable(ctx, db, "ledger"); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	l, _ := ledger.New(ledger.Options{DB: db, Table: "ledger", Retention: 400 * 24 * time.Hour, Clock: func() time.Time { return clock }})
	record := func(f audit.Finding, after time.Duration) {
		clock = f.EventTime.Add(after)
		if f.Verdict == audit.Verified {
			f.Replica = &audit.Replica{VersionID: f.VersionID, Size: f.Size, ETag: f.ETag, Status: "REPLICA", VerifiedAt: clock}
		}
		if _, err := l.Record(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	base := audit.Finding{Bucket: "acme-data", SourceRegion: "us-east-1", Destination: "acme-dr", DestinationRegion: "eu-west-1", Size: 42, ETag: "0123abcd"}
	for i, c := range []struct {
		key     string
		verdict audit.Verdict
		day     int
		lag     time.Duration
		reason  string
	}{
		{"reports/q3.pdf", audit.Verified, 20, 40 * time.Second, ""},
		{"reports/q4 draft.pdf", audit.Failed, 21, time.Minute, "DstPutObjectNotPermitted"},
		{"photos/été.jpg", audit.Verified, 22, 12 * time.Minute, ""},
		{"=cmd|calc.csv", audit.Pending, 23, time.Minute, ""},
		{"old/archive.tar", audit.NotReplicated, 24, time.Minute, ""},
	} {
		f := base
		f.Key, f.VersionID, f.Verdict, f.EventTime, f.FailureReason = c.key, "v"+string(rune('1'+i)), c.verdict, at(c.day, 10), c.reason
		record(f, c.lag)
	}
	for _, f := range extra {
		record(f, time.Minute)
	}
	sb.PutStack("replaudit", map[string]string{"LedgerTableName": "ledger", "AlertTopicArn": "arn:aws:sns:us-east-1:000000000000:alerts",
		"PendingThresholdMinutes": "15"})
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	var b strings.Builder
	for _, kv := range sb.Env() {
		t.Setenv(kv[0], os.Getenv(kv[0])) // restored after the test
		b.WriteString("export " + kv[0] + "=" + kv[1] + "\n")
	}
	t.Setenv("REPLAUDIT_TABLE", "")
	b.WriteString("export REPLAUDIT_TABLE=ledger\n")
	if err := os.WriteFile(envFile, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return envFile
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("cmd", "replaudit", "testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestListAndExportOutputs(t *testing.T) {
	env := seeded(t)
	period := []string{"--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}
	cases := []struct {
		name, golden string
		args         []string
		exit         int
	}{
		{"a table of everything, with a FAILED among it", "list.txt", append([]string{"list", "--format", "table"}, period...), exitFail},
		{"csv, formulas defused", "list.csv", append([]string{"list", "--format", "csv"}, period...), exitFail},
		{"json of one verdict", "list-verified.json", append([]string{"list", "--format", "json", "--verdict", "verified"}, period...), exitOK},
		{"jsonl export", "export.jsonl", append([]string{"export", "--format", "jsonl"}, period...), exitFail},
		{"the table found from the stack's outputs", "list-verified.json", append([]string{"list", "--format", "json", "--verdict", "verified", "--stack", "replaudit", "--table", "ignored"}, period...), exitOK},
		{"an empty period", "empty.json", []string{"list", "--format", "json", "--env-file", env, "--since", "2025-01-01", "--until", "2025-01-02"}, exitOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(context.Background(), c.args, &out, &errOut); got != c.exit {
				t.Errorf("exit %d, want %d; stderr %s", got, c.exit, errOut.String())
			}
			golden(t, c.golden, out.Bytes())
		})
	}
}

func TestStatusTellsTheWholeStory(t *testing.T) {
	env := seeded(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"status", "s3://acme-data/reports/q4 draft.pdf", "--env-file", env}, &out, &errOut)
	if code != exitFail {
		t.Errorf("exit %d, want 1 for a FAILED object; stderr %s", code, errOut.String())
	}
	golden(t, "status.txt", out.Bytes())
	out.Reset()
	run(context.Background(), []string{"status", "s3://acme-data/reports/q4 draft.pdf", "--env-file", env, "--format", "json"}, &out, &errOut)
	golden(t, "status.json", out.Bytes())
	out.Reset()
	if code := run(context.Background(), []string{"status", "s3://acme-data/nothing-here", "--env-file", env}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "holds nothing") {
		t.Errorf("an unknown object: exit %d, %s", code, out.String())
	}
}

func TestKeysShowEscapedToPeopleAndExactToMachines(t *testing.T) {
	// Printed raw, U+202E makes the key read "invoice-J2\u009bexe.pdf" and
	// U+009B starts a terminal control sequence.
	key := "invoice-\u202Efdp.exe\u009B2J"
	escaped := `invoice-\u202efdp.exe\u009b2J`
	env := seeded(t, audit.Finding{Bucket: "acme-data", Key: key, VersionID: "v6", Destination: "acme-dr", Verdict: audit.Pending,
		Detail: "replica not there yet \u202Edetail", EventTime: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)})
	period := []string{"--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}
	htmlFile := filepath.Join(t.TempDir(), "report.html")
	for _, c := range []struct {
		name  string
		args  []string
		shows string
	}{
		{"list, as a table", append([]string{"list", "--format", "table"}, period...), "acme-data  " + escaped + "  v6"},
		{"status", []string{"status", "s3://acme-data/" + key, "--env-file", env}, "s3://acme-data/" + escaped + "\n"},
		{"status's detail", []string{"status", "s3://acme-data/" + key, "--env-file", env}, `detail       replica not there yet \u202edetail`},
		{"the report", append([]string{"report", "--html", htmlFile}, period...), "longest pending  s3://acme-data/" + escaped + " (v6)"},
		{"list, as JSON", append([]string{"list", "--format", "json"}, period...), `"key":"` + escaped + `"`},
		{"status, as JSON", []string{"status", "s3://acme-data/" + key, "--env-file", env, "--format", "json"}, `"key": "` + escaped + `"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			run(context.Background(), c.args, &out, &errOut)
			if !strings.Contains(out.String(), c.shows) {
				t.Errorf("got\n%s\nwant it to show %q; stderr %s", out.String(), c.shows, errOut.String())
			}
			for _, r := range out.String() {
				if r != '\n' && unicode.In(r, unicode.Cc, unicode.Cf) {
					t.Errorf("got a raw %U in\n%s\nwant every control and format character escaped", r, out.String())
					break
				}
			}
		})
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "s3://acme-data/" + escaped + " (v6)"; !strings.Contains(string(page), want) || strings.ContainsRune(string(page), '\u202E') {
		t.Errorf("the HTML report: got no %q, or a raw U+202E", want)
	}
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"status", "s3://acme-data/" + key, "--env-file", env, "--format", "json"}, &out, &errOut)
	var rows []struct{ Key string }
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0].Key != key {
		t.Errorf("status --format json: got %+v, %v; want the exact key %q", rows, err, key)
	}
}

func TestQueryCommandsRefuseBadInputInOneLine(t *testing.T) {
	env := seeded(t)
	cases := []struct {
		args []string
		exit int
		says string
	}{
		{[]string{"list", "--env-file", env, "--verdict", "GREEN"}, exitUsage, `unknown verdict "GREEN"`},
		{[]string{"list", "--env-file", env, "--since", "last tuesday"}, exitUsage, `"last tuesday" is not a time`},
		{[]string{"list", "--env-file", env, "--since", "1d", "--until", "2d"}, exitUsage, "is not after --since"},
		{[]string{"list", "--env-file", env, "--table", "no-such-table"}, exitUsage, `no ledger table "no-such-table"`},
		{[]string{"list", "--env-file", env, "--no-such-flag"}, exitUsage, "flag provided but not defined: -no-such-flag"},
		{[]string{"list", "--env-file", env, "--no-\u202Eflag\n"}, exitUsage, `flag provided but not defined: -no-\u202eflag\u000a`},
		{[]string{"export", "--env-file", env}, exitUsage, "--since is required"},
		{[]string{"export", "--env-file", env, "--since", "1d", "--format", "xml"}, exitUsage, "csv or jsonl"},
		{[]string{"status", "acme-data/key", "--env-file", env}, exitUsage, "not an s3://bucket/key"},
		{[]string{"list", "--env-file", "/no/such/file"}, exitUsage, "--env-file"},
		{[]string{"list", "--env-file", env, "--stack", "not-a-stack"}, exitUsage, "Stack with id not-a-stack does not exist"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		got := run(context.Background(), c.args, &out, &errOut)
		msg := strings.TrimSpace(errOut.String())
		if got != c.exit || !strings.Contains(msg, c.says) || strings.Count(msg, "\n") > 0 {
			t.Errorf("%v: exit %d %q, want exit %d and one line saying %q", c.args, got, msg, c.exit, c.says)
		}
	}
}

func TestReportFiguresFromAKnownLedger(t *testing.T) {
	env := seeded(t)
	htmlFile := filepath.Join(t.TempDir(), "report.html")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"report", "--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z",
		"--threshold", "10m", "--html", htmlFile, "--exact"}, &out, &errOut)
	if code != exitFail {
		t.Errorf("exit %d, want 1 (a FAILED item in the period); stderr %s", code, errOut.String())
	}
	text := out.String()
	// Seeded: 5 versions; 2 VERIFIED with lags 40s and 12m; 1 FAILED; 1 PENDING;
	// 1 NOT_REPLICATED, which is not expected to replicate.
	for _, want := range []string{
		"objects audited                  5 versions, 5 checks against destinations",
		"expected to replicate            4 (and 0 still in flight at the end)",
		"verified within 10m0s            1 (25.00%)",
		"verified within 15 minutes       2 (50.00%)",
		"p50 40s, p95 12m0s, p99 12m0s, max 12m0s",
		"DstPutObjectNotPermitted  1",
		"longest pending  s3://acme-data/=cmd|calc.csv (v4) to acme-dr",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%s", want, text)
		}
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "<link", "src=", "@import"} {
		if strings.Contains(html, bad) {
			t.Errorf("the HTML is not self-contained: it has %q", bad)
		}
	}
	if strings.Count(html, "<svg") != 2 || !strings.Contains(html, "Time to verified") {
		t.Errorf("the HTML lacks its two charts")
	}
	screenshot(t, htmlFile)
}

// screenshot renders the report in headless Chromium, as a person would
// open it, and checks that a picture came out.
func screenshot(t *testing.T, htmlFile string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("REPLAUDIT_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium is missing (apt-get install chromium)")
		}
		t.Log("chromium is not installed; the screenshot is skipped (apt-get install chromium)")
		return
	}
	png := filepath.Join(t.TempDir(), "report.png")
	if dir := os.Getenv("REPLAUDIT_SCREENSHOT_DIR"); dir != "" {
		png = filepath.Join(dir, "report.png")
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--window-size=1000,1400", "--screenshot="+png, "file://"+htmlFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	st, err := os.Stat(png)
	if err != nil || st.Size() < 20_000 {
		t.Errorf("screenshot: %v, %d bytes; want a rendered page", err, st.Size())
	}
}

func TestStatusOfAnUnknownObject(t *testing.T) {
	env := seeded(t)
	for format, want := range map[string]string{
		"json": "[]\n",
		"text": "The ledger holds nothing about s3://acme-data/nothing-here: no event for it has been audited.\n",
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"status", "s3://acme-data/nothing-here", "--env-file", env, "--format", format}, &out, &errOut)
		if code != exitOK || out.String() != want {
			t.Errorf("--format %s: exit %d, stdout %q; want exit 0 and %q", format, code, out.String(), want)
		}
	}
}

func TestReportOfAnEmptyPeriodSaysNoObjects(t *testing.T) {
	env := seeded(t)
	htmlFile := filepath.Join(t.TempDir(), "report.html")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"report", "--env-file", env, "--since", "2025-01-01", "--until", "2025-01-02", "--html", htmlFile}, &out, &errOut)
	if code != exitOK {
		t.Errorf("exit %d, want 0; stderr %s", code, errOut.String())
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	percent := regexp.MustCompile(`[0-9.]+%`)
	for name, got := range map[string]string{"text": out.String(), "HTML": string(page)} {
		if !strings.Contains(got, "no objects") {
			t.Errorf("the %s report of an empty period does not say \"no objects\":\n%s", name, got)
		}
		if p := percent.FindString(strings.ReplaceAll(got, "width:100%", "")); p != "" {
			t.Errorf("the %s report of an empty period gives a share, %s, of nothing:\n%s", name, p, got)
		}
	}
}

func TestListLimitAndProgress(t *testing.T) {
	env := seeded(t)
	period := []string{"--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"list", "--format", "csv", "--limit", "1"}, period...), &out, &errOut); code != exitOK {
		t.Errorf("--limit 1: exit %d, want 0 (the FAILED item is the second); stderr %s", code, errOut.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "reports/q3.pdf") {
		t.Errorf("--limit 1: got\n%s\nwant the header and the first item in time order", out.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr into a pipe: got %q, want nothing", errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), append([]string{"list", "--limit", "-1"}, period...), &out, &errOut); code != exitUsage {
		t.Errorf("--limit -1: exit %d, want %d", code, exitUsage)
	}
	errOut.Reset()
	fakeTerminal(t, &errOut)
	run(context.Background(), append([]string{"export", "--format", "jsonl"}, period...), &out, &errOut)
	if got := errOut.String(); !strings.Contains(got, "day 7 of 7, 5 items") || !strings.Contains(got, "\r5 items, 1 FAILED") || !strings.HasSuffix(got, "\n") {
		t.Errorf("export's progress on a terminal: got %q, want days done of 7 and the count", got)
	}
}

// TestReportMeasuresAgainstTheStacksThreshold: with --stack, the report's
// threshold is the stack's PendingThresholdMinutes output, unless
// --threshold says otherwise.
func TestReportMeasuresAgainstTheStacksThreshold(t *testing.T) {
	envFile := seeded(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "verified within 15m0s "},                            // the stack's
		{[]string{"--threshold", "10m"}, "verified within 10m0s "}, // the flag wins
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"report", "--env-file", envFile, "--stack", "replaudit", "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}, c.args...)
		run(context.Background(), args, &out, &errOut)
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: the report does not say %q:\n%s%s", c.args, c.want, out.String(), errOut.String())
		}
	}
}

func TestReportFromRollupsGivesTheSameFiguresWithLagsAsBounds(t *testing.T) {
	env := seeded(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"report", "--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z",
		"--threshold", "10m"}, &out, &errOut)
	if code != exitFail {
		t.Errorf("exit %d, want 1 (a FAILED item in the period); stderr %s", code, errOut.String())
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	// The same ledger as above: the counts are the same; the lags of 40s
	// and 12m are given as their histogram buckets.
	for _, want := range []string{
		"read from                        rollups, whole UTC days",
		"objects audited                  5 versions, 5 checks against destinations",
		"expected to replicate            4 (and 0 still in flight at the end)",
		"verified within 10m0s            1 (25.00%)",
		"verified within 15 minutes       2 (50.00%)",
		"p50 30s–1m0s, p95 11m0s–12m0s, p99 11m0s–12m0s, max 11m0s–12m0s",
		"DstPutObjectNotPermitted  1",
		"longest pending  s3://acme-data/=cmd|calc.csv (v4) to acme-dr",
	} {
		if want = strings.Join(strings.Fields(want), " "); !strings.Contains(text, want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	code = run(context.Background(), []string{"rollup", "check", "--env-file", env, "--since", "2026-11-19T00:00:00Z", "--until", "2026-11-26T00:00:00Z"}, &out, &errOut)
	if code != exitOK || !strings.Contains(out.String(), "rollups agree with the 5 items of 2026-11-19 to 2026-11-25") {
		t.Errorf("rollup check: exit %d %q %q, want 0 and agreement", code, out.String(), errOut.String())
	}
}
