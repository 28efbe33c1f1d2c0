package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/plane"
	"github.com/replaudit/replaudit/internal/s3events"
	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// deployed is the stack on a sandbox where src (us-east-1) already held
// two versions when its replication to dst (ap-south-1) was set up, so S3
// never replicated them; four versions written since were replicated, and
// audited. S3 Inventory of src goes to replaudit-inventory.
type deployed struct {
	*plane.Plane
	inv *plane.Inventory
	// env points the CLI at the sandbox.
	env string
	// before are the versions written before the rule, by key.
	before map[string]string
}

// deploy builds the scene, src's inventory reconciled as o says: with
// Detached, the stack's reconciler is attached to nothing, and only the
// command line reconciles.
func deploy(t *testing.T, o plane.InventoryOptions) *deployed {
	t.Helper()
	sandboxtest.Need(t, sandboxtest.Dynalite)
	t.Chdir("../..") // where make tools put dynalite
	ctx := context.Background()
	sb, err := sandbox.Start(ctx, sandbox.Options{DynamoDB: true, ReplicationDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	d := &deployed{before: map[string]string{}}
	if d.Plane, err = plane.Start(ctx, sb, plane.Options{}); err != nil {
		t.Fatal(err)
	}
	b := d.Buckets()
	for name, region := range map[string]string{"src": "us-east-1", "dst": "ap-south-1"} {
		if err := b.Create(ctx, name, region); err != nil {
			t.Fatal(err)
		}
	}
	put := func(into map[string]string, key string) {
		v, err := b.Put(ctx, "src", key, "body of "+key)
		if err != nil {
			t.Fatal(err)
		}
		into[key] = v
	}
	// Keys a Batch Operations manifest must URL-encode.
	put(d.before, "before/q3 report.pdf")
	put(d.before, "before/été.jpg")
	if err := b.Replicate(ctx, "src", plane.Rule{Destination: "dst"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(10); err != nil {
		t.Fatal(err)
	}
	after := map[string]string{}
	for _, k := range []string{"after/1", "after/2", "after/3", "after/4"} {
		put(after, k)
	}
	for k, v := range after {
		d.waitReplicated(t, k, v)
		sandboxtest.EventuallyNoError(t, 10*time.Second, k+" audited", func() error {
			_, err := d.Ledger.Get(ctx, ledger.KeyOf("src", k, v, "dst"))
			return err
		})
	}
	o.Source = "src"
	if d.inv, err = d.Reconcile(ctx, o); err != nil {
		t.Fatal(err)
	}
	d.env = sandboxEnvFile(t, sb, [2]string{"REPLAUDIT_TABLE", d.Options.Table})
	return d
}

func (d *deployed) waitReplicated(t *testing.T, key, version string) {
	t.Helper()
	sandboxtest.EventuallyNoError(t, 10*time.Second, key+" replicated", func() error {
		if st, err := d.Buckets().Status(context.Background(), "src", key, version); err != nil || st != "COMPLETED" {
			return fmt.Errorf("replication status %q, %v", st, err)
		}
		return nil
	})
}

// inventory has S3 write src's inventory now, and returns its manifest.
func (d *deployed) inventory(t *testing.T) string {
	t.Helper()
	uris, err := d.Sandbox.WriteInventory("src")
	if err != nil || len(uris) != 1 {
		t.Fatalf("write inventory: %v %v", uris, err)
	}
	return uris[0]
}

// sandboxEnvFile writes the export lines that point the CLI at sb, and any
// extra ones, as `replaudit sandbox` writes its env file. The CLI sets the
// variables when it reads the file: they are restored after the test.
func sandboxEnvFile(t *testing.T, sb *sandbox.Sandbox, extra ...[2]string) string {
	t.Helper()
	var b strings.Builder
	for _, kv := range append(sb.Env(), extra...) {
		t.Setenv(kv[0], "") // until the CLI reads the file; restored after the test
		b.WriteString("export " + kv[0] + "=" + kv[1] + "\n")
	}
	path := filepath.Join(t.TempDir(), "sandbox.env")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildCLI builds replaudit, for a test that runs it as its own process.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "replaudit")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// readRemediationManifest reads a remediation manifest as S3 Batch
// Operations does: bucket, URL-encoded key and version id a line. It
// returns the lines with their keys decoded, sorted.
func readRemediationManifest(t *testing.T, path string) [][3]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var lines [][3]string
	for _, r := range records {
		if len(r) != 3 {
			t.Fatalf("%s: line %q, want bucket,key,versionId", path, r)
		}
		if strings.ContainsFunc(r[1], func(c rune) bool { return c == ' ' || c > unicode.MaxASCII }) {
			t.Errorf("%s: key %q is not URL-encoded", path, r[1])
		}
		k, err := s3events.DecodeKey(r[1])
		if err != nil {
			t.Fatalf("%s: key %q: %v", path, r[1], err)
		}
		lines = append(lines, [3]string{r[0], k, r[2]})
	}
	slices.SortFunc(lines, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })
	return lines
}

// TestReconcileRefusesBadUsageInOneLine: flags that cannot work are
// refused before any call to AWS, in one line, with exit code 2.
func TestReconcileRefusesBadUsageInOneLine(t *testing.T) {
	// Credentials and a region, for the cases checked once they are loaded.
	t.Setenv("AWS_ACCESS_KEY_ID", sandbox.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sandbox.SecretAccessKey)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	manifest := "s3://acme-inventory/inventory/acme-data/replaudit-1a2b3c/2026-11-29T01-00Z/manifest.json"
	cases := []struct {
		args []string
		says string
	}{
		{nil, "--manifest is required: the s3:// URI of an inventory's manifest.json"},
		{[]string{"--manifest", "acme-inventory/inventory/manifest.json"}, `--manifest "acme-inventory/inventory/manifest.json" is not s3://bucket/.../manifest.json`},
		{[]string{"--manifest", "https://acme-inventory.s3.amazonaws.com/inventory/manifest.json"}, `is not s3://bucket/.../manifest.json`},
		{[]string{"--manifest", "s3:///inventory/manifest.json"}, `--manifest "s3:///inventory/manifest.json" is not s3://bucket/.../manifest.json`},
		{[]string{"--manifest", strings.TrimSuffix(manifest, ".json") + ".checksum"}, `manifest.checksum" is not s3://bucket/.../manifest.json`},
		{[]string{"--manifest", manifest, "--workers", "0"}, "--workers and --threshold must be positive"},
		{[]string{"--manifest", manifest, "--threshold", "-5m"}, "--workers and --threshold must be positive"},
		{[]string{"--manifest", manifest, "--start"}, "--start goes with --redrive"},
		{[]string{"--manifest", manifest, "--redrive"}, "--redrive needs the replication role: pass --stack, or --role-arn"},
		{[]string{"--manifest", manifest, "--record"}, "--record needs the ledger and the alert topic: pass --stack, or --table and --topic"},
	}
	for _, c := range cases {
		args := append([]string{"reconcile"}, c.args...)
		var out, errOut bytes.Buffer
		got := run(context.Background(), args, &out, &errOut)
		msg := strings.TrimSpace(errOut.String())
		if got != exitUsage || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "replaudit reconcile: ") {
			t.Errorf("%q: exit %d %q, want exit 2 and one line saying %q", args, got, msg, c.says)
		}
	}
}

// TestReconcileRefusesAManifestThatCannotBeUsed: an inventory whose
// manifest.json is not the one its manifest.checksum vouches for, a
// manifest that is not there, or a bucket that is not, is bad input, said
// in one line, and nothing is reconciled from it.
func TestReconcileRefusesAManifestThatCannotBeUsed(t *testing.T) {
	d := deploy(t, plane.InventoryOptions{Detached: true})
	ctx := context.Background()
	manifest := d.inventory(t)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(manifest, "s3://"), "/")
	if _, err := d.Buckets().S3("us-east-1").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket),
		Key: aws.String(strings.TrimSuffix(key, ".json") + ".checksum"), Body: strings.NewReader(strings.Repeat("0", 32))}); err != nil {
		t.Fatal(err)
	}
	gone := "s3://" + bucket + "/inventory/src/replaudit-inventory/2019-01-01T01-00Z/manifest.json"
	for _, c := range []struct {
		manifest, starts, says string
	}{
		{manifest, "the inventory's manifest cannot be used: " + manifest + ": ", "checksum"},
		{gone, "the inventory's manifest cannot be used: ", "NoSuchKey"},
		{"s3://no-such-inventory/inventory/manifest.json", "--manifest s3://no-such-inventory/inventory/manifest.json: ", "the bucket no-such-inventory does not exist"},
	} {
		csvFile := filepath.Join(t.TempDir(), "redrive.csv")
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"reconcile", "--env-file", d.env, "--manifest", c.manifest, "--out", csvFile}, &out, &errOut)
		msg := strings.TrimSpace(errOut.String())
		if code != exitUsage || !strings.HasPrefix(msg, "replaudit reconcile: "+c.starts) || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") {
			t.Errorf("%s: exit %d %q, want exit 2 and one line starting %q and saying %q", c.manifest, code, msg, c.starts, c.says)
		}
		if out.Len() != 0 {
			t.Errorf("%s: a summary of an inventory that cannot be used:\n%s", c.manifest, out.String())
		}
		if _, err := os.Stat(csvFile); !os.IsNotExist(err) {
			t.Errorf("%s: --out was written from an inventory that cannot be used: %v", c.manifest, err)
		}
	}
}

// TestReconcileFindsWhatNeverReplicatedAndRedrivesIt is the command
// line's whole job: S3 Inventory lists two versions that predate the rule;
// reconcile names them and writes them down as Batch Operations reads
// them; --redrive starts the S3 Batch Replication job that replicates
// them, confirmed as a person would in the console; and the next inventory
// is clean.
func TestReconcileFindsWhatNeverReplicatedAndRedrivesIt(t *testing.T) {
	bin := buildCLI(t) // before deploy leaves this directory
	d := deploy(t, plane.InventoryOptions{Detached: true})
	ctx := context.Background()
	manifest := d.inventory(t)
	var preRule [][3]string // the remediation manifest's lines, keys decoded
	for k, v := range d.before {
		preRule = append(preRule, [3]string{"src", k, v})
	}
	slices.SortFunc(preRule, func(a, b [3]string) int { return strings.Compare(a[1], b[1]) })

	// A dry run, listing the versions to re-drive in a local file.
	csvFile := filepath.Join(t.TempDir(), "redrive.csv")
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"reconcile", "--env-file", d.env, "--manifest", manifest, "--out", csvFile}, &out, &errOut); code != exitFail {
		t.Errorf("exit %d, want 1: two versions need replicating; stderr %s", code, errOut.String())
	}
	summary := out.String()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Inventory of s3://src taken .*: NEEDS_REPLICATION$`),
		regexp.MustCompile(`(?m)^  manifest     ` + regexp.QuoteMeta(manifest) + ` \(1 files\)$`),
		regexp.MustCompile(`(?m)^  REPLICATED +4 versions `),
		regexp.MustCompile(`(?m)^  NOT_REPLICATED +2 versions `),
		regexp.MustCompile(`(?m)^  example      NOT_REPLICATED s3://src/before/q3 report.pdf$`),
		regexp.MustCompile(`(?m)^  example      NOT_REPLICATED s3://src/before/été.jpg$`),
		regexp.MustCompile(`(?m)^  re-drive     2 versions listed in ` + regexp.QuoteMeta(csvFile) + `$`),
	} {
		if !re.MatchString(summary) {
			t.Errorf("the summary does not match %s:\n%s", re, summary)
		}
	}
	if got := readRemediationManifest(t, csvFile); !slices.Equal(got, preRule) {
		t.Errorf("%s holds %q, want the versions written before the rule %q", filepath.Base(csvFile), got, preRule)
	}
	if n := len(d.Sandbox.Jobs()); n != 0 {
		t.Errorf("a dry run created %d Batch Operations jobs", n)
	}

	// --redrive runs as a process of its own: S3 Control's endpoint is
	// ACCOUNT.127.0.0.1, reached through the sandbox's HTTP_PROXY, and
	// net/http reads HTTP_PROXY once a process, in this one long before
	// the env file set it.
	copyFile := filepath.Join(t.TempDir(), "copy.csv")
	cmd := exec.Command(bin, "reconcile", "--env-file", d.env, "--manifest", manifest, "--redrive", "--role-arn", plane.ReplicationRole, "--out", copyFile)
	out.Reset()
	errOut.Reset()
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != exitFail {
		t.Fatalf("--redrive: %v, want exit 1; stderr %s\n%s", err, errOut.String(), out.String())
	}
	jobs := d.Sandbox.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("--redrive created %d jobs, want 1", len(jobs))
	}
	job := jobs[0]
	inS3 := "s3://" + strings.TrimPrefix(job.Manifest.ObjectARN, "arn:aws:s3:::")
	if line := fmt.Sprintf("  re-drive     Batch Replication job %s replicates the 2 versions in %s\n", job.ID, inS3); !strings.Contains(out.String(), line) {
		t.Errorf("the summary does not say %q:\n%s", line, out.String())
	}
	if job.Operation != "S3ReplicateObject" || !job.ConfirmationRequired || job.RoleARN != plane.ReplicationRole ||
		!strings.HasPrefix(inS3, "s3://replaudit-inventory/replaudit/") {
		t.Errorf("job %+v, want S3ReplicateObject as the replication role, awaiting confirmation, of a manifest beside the inventory", job)
	}
	if got := readRemediationManifest(t, copyFile); !slices.Equal(got, preRule) {
		t.Errorf("--out with --redrive: %s holds %q, want the versions written before the rule %q", filepath.Base(copyFile), got, preRule)
	}

	// A person confirms the job, and it replicates both versions.
	sandboxtest.EventuallyNoError(t, 10*time.Second, "the job awaits confirmation", func() error {
		if j, _ := d.Sandbox.Job(job.ID); j.Status != sandbox.JobSuspended {
			return fmt.Errorf("job %s: %s %v", j.ID, j.Status, j.FailureReasons)
		}
		return nil
	})
	if _, err := s3control.NewFromConfig(d.Config).UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{AccountId: aws.String(job.Account),
		JobId: aws.String(job.ID), RequestedJobStatus: s3ctypes.RequestedJobStatusReady}); err != nil {
		t.Fatal(err)
	}
	sandboxtest.EventuallyNoError(t, 10*time.Second, "the job completes", func() error {
		if j, _ := d.Sandbox.Job(job.ID); j.Status != sandbox.JobComplete || j.Succeeded != 2 || j.Failed != 0 {
			return fmt.Errorf("job %s: %s, %d succeeded, %d failed %v", j.ID, j.Status, j.Succeeded, j.Failed, j.FailureReasons)
		}
		return nil
	})
	for k, v := range d.before {
		d.waitReplicated(t, k, v)
	}

	// The next inventory lists every version replicated.
	manifest = d.inventory(t)
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"reconcile", "--env-file", d.env, "--manifest", manifest, "--out", csvFile}, &out, &errOut); code != exitOK {
		t.Errorf("exit %d, want 0: every version is replicated; stderr %s", code, errOut.String())
	}
	summary = out.String()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Inventory of s3://src taken .*: CLEAN$`),
		regexp.MustCompile(`(?m)^  REPLICATED +6 versions `),
	} {
		if !re.MatchString(summary) {
			t.Errorf("the summary does not match %s:\n%s", re, summary)
		}
	}
	if strings.Contains(summary, "NOT_REPLICATED") || strings.Contains(summary, "re-drive") {
		t.Errorf("a clean inventory's summary names something to re-drive:\n%s", summary)
	}
	if got := readRemediationManifest(t, csvFile); len(got) != 0 {
		t.Errorf("after a clean run, %s still lists %q: an older run's versions, taken for this one's", filepath.Base(csvFile), got)
	}
}

// TestReportSaysWhatTheLatestInventoryCovers: before any inventory is
// reconciled the report says to enable inventory; once the stack's
// reconciler has closed a run, it says how many versions the inventory
// lists in scope, how many the ledger already held a verdict for, and
// how many it never heard of, in text and in HTML.
func TestReportSaysWhatTheLatestInventoryCovers(t *testing.T) {
	d := deploy(t, plane.InventoryOptions{})
	ctx := context.Background()
	readReport := func(t *testing.T) (text, page string) {
		t.Helper()
		htmlFile := filepath.Join(t.TempDir(), "report.html")
		var out, errOut bytes.Buffer
		if code := run(ctx, []string{"report", "--env-file", d.env, "--since", "1d", "--html", htmlFile}, &out, &errOut); code != exitOK {
			t.Errorf("report: exit %d, want 0 (nothing FAILED); stderr %s", code, errOut.String())
		}
		b, err := os.ReadFile(htmlFile)
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), string(b)
	}

	none := "none in the period: enable inventory (EnableInventory) to account for objects never announced"
	text, page := readReport(t)
	if !regexp.MustCompile(`(?m)^coverage \(latest inventory reconciliation\)\n  ` + regexp.QuoteMeta(none) + `$`).MatchString(text) {
		t.Errorf("before any reconciliation, the report does not say %q under its coverage heading:\n%s", none, text)
	}
	if !strings.Contains(page, none) {
		t.Errorf("before any reconciliation, the HTML report does not say %q", none)
	}

	d.inventory(t)
	var taken time.Time
	sandboxtest.EventuallyNoError(t, 30*time.Second, "the stack's reconciler closes the run", func() error {
		rn, err := d.inv.Reconciler.Latest(ctx, "src")
		if err != nil || rn == nil {
			return fmt.Errorf("latest run %v, %v", rn, err)
		}
		s, ok := rn.Outcome()
		if !ok {
			return fmt.Errorf("run %s: %d of %d files", rn.State, rn.Done, rn.Files)
		}
		taken = s.Inventory
		return nil
	})
	// Six versions in scope: the four written under the rule were audited
	// as they were written; the two before it never were.
	line := "inventory of " + taken.UTC().Format("2006-01-02 15:04 UTC") + ", NEEDS_REPLICATION: 6 versions in scope, " +
		"4 with a verdict (66.67%), 2 never audited (33.33%), recorded by the reconciliation; 2 to re-drive"
	text, page = readReport(t)
	if !regexp.MustCompile(`(?m)^  s3://src +` + regexp.QuoteMeta(line) + `$`).MatchString(text) {
		t.Errorf("the report does not say %q of s3://src:\n%s", line, text)
	}
	if strings.Contains(text, none) || strings.Contains(page, none) {
		t.Errorf("after a reconciliation, the report still says %q", none)
	}
	if !strings.Contains(page, "<th>s3://src</th><td>"+line+"</td>") {
		t.Errorf("the HTML report's coverage table lacks s3://src: %q", line)
	}
}
