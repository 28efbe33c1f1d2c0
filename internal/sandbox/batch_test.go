package sandbox_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/sandbox/sandboxtest"
)

// hostRecorder remembers the host of every request an SDK client sends.
type hostRecorder struct {
	next  aws.HTTPClient
	mu    sync.Mutex
	hosts []string
}

func (h *hostRecorder) Do(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.URL.Host)
	h.mu.Unlock()
	return h.next.Do(r)
}

// controlClient is an S3 Control client on the sandbox, through the HTTP
// client AWSConfig gives, which dials the sandbox for the account-id host
// S3 Control's SDK calls.
func controlClient(t *testing.T, sb *sandbox.Sandbox) (*s3control.Client, *hostRecorder) {
	t.Helper()
	cfg := mustConfig(t, sb)
	rec := &hostRecorder{next: cfg.HTTPClient}
	cfg.HTTPClient = rec
	return s3control.NewFromConfig(cfg), rec
}

// writeManifest puts a Batch Operations CSV manifest and returns its
// location.
func writeManifest(t *testing.T, c *s3.Client, bucket, key string, lines ...string) *s3ctypes.JobManifest {
	t.Helper()
	out := put(t, c, bucket, key, strings.Join(lines, "\n")+"\n")
	return &s3ctypes.JobManifest{
		Spec: &s3ctypes.JobManifestSpec{
			Format: s3ctypes.JobManifestFormatS3BatchOperationsCsv20180820,
			Fields: []s3ctypes.JobManifestFieldName{"Bucket", "Key", "VersionId"},
		},
		Location: &s3ctypes.JobManifestLocation{ObjectArn: aws.String("arn:aws:s3:::" + bucket + "/" + key), ETag: out.ETag},
	}
}

func replicateJob(token string, manifest *s3ctypes.JobManifest, confirm bool, scope s3ctypes.JobReportScope) *s3control.CreateJobInput {
	return &s3control.CreateJobInput{
		AccountId:            aws.String(sandbox.Account),
		ClientRequestToken:   aws.String(token),
		ConfirmationRequired: aws.Bool(confirm),
		Description:          aws.String("re-drive " + token),
		Manifest:             manifest,
		Operation:            &s3ctypes.JobOperation{S3ReplicateObject: &s3ctypes.S3ReplicateObjectOperation{}},
		Priority:             aws.Int32(10),
		RoleArn:              aws.String("arn:aws:iam::000000000000:role/batch-replication"),
		Report: &s3ctypes.JobReport{
			Enabled: true, Bucket: aws.String("arn:aws:s3:::reports"), Prefix: aws.String("batch"),
			Format: s3ctypes.JobReportFormatReportCsv20180820, ReportScope: scope,
		},
	}
}

func describe(t *testing.T, c *s3control.Client, id string) *s3ctypes.JobDescriptor {
	t.Helper()
	out, err := c.DescribeJob(context.Background(), &s3control.DescribeJobInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id)})
	if err != nil {
		t.Fatalf("describe job %s: %v", id, err)
	}
	return out.Job
}

func waitJob(t *testing.T, c *s3control.Client, id string, want s3ctypes.JobStatus) *s3ctypes.JobDescriptor {
	t.Helper()
	var job *s3ctypes.JobDescriptor
	sandboxtest.EventuallyNoError(t, waitLimit, "job "+string(want), func() error {
		job = describe(t, c, id)
		if job.Status != want {
			return fmt.Errorf("status %s", job.Status)
		}
		return nil
	})
	return job
}

// completionReport reads a job's report: its manifest.json, and the lines
// of each results file by task status.
func completionReport(t *testing.T, c *s3.Client, prefix, id string) (manifest map[string]any, lines map[string][][]string) {
	t.Helper()
	raw := getObject(t, c, "reports", prefix+"/job-"+id+"/manifest.json")
	var m struct {
		Format, ReportCreationDate, ReportSchema string
		Results                                  []struct{ TaskExecutionStatus, Bucket, MD5Checksum, Key string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("report manifest: %v", err)
	}
	_ = json.Unmarshal(raw, &manifest)
	if m.Format != "Report_CSV_20180820" || m.ReportSchema != "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage" {
		t.Errorf("report manifest: got %s", raw)
	}
	lines = map[string][][]string{}
	for _, r := range m.Results {
		if r.Bucket != "reports" || !strings.HasPrefix(r.Key, prefix+"/job-"+id+"/results/") || !strings.HasSuffix(r.Key, ".csv") {
			t.Errorf("results file %s/%s is not where S3 puts it", r.Bucket, r.Key)
		}
		recs, err := csv.NewReader(bytes.NewReader(getObject(t, c, "reports", r.Key))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		lines[r.TaskExecutionStatus] = recs
	}
	return manifest, lines
}

func TestBatchReplicationJobReplicatesTheVersionsItsManifestLists(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "reports", srcRegion, false)
	// Written before the rule: never replicated, as S3 leaves them.
	v1 := aws.ToString(put(t, e.src, "src", "old/a.txt", "one").VersionId)
	v2 := aws.ToString(put(t, e.src, "src", "old/a.txt", "two").VersionId)
	v3 := aws.ToString(put(t, e.src, "src", "old/b c.txt", "three").VersionId)
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	if got := head(t, e.src, "src", "old/a.txt", v1).ReplicationStatus; got != "" {
		t.Fatalf("old/a.txt before the job: got status %q, want none", got)
	}
	manifest := writeManifest(t, e.src, "reports", "manifests/redrive.csv",
		"src,old/a.txt,"+v1, "src,old/a.txt,"+v2, "src,old/b+c.txt,"+v3)
	c, hosts := controlClient(t, e.sb)
	created, err := c.CreateJob(ctx, replicateJob("run-1", manifest, true, s3ctypes.JobReportScopeAllTasks))
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	id := aws.ToString(created.JobId)
	wantHost := "000000000000." + strings.TrimPrefix(e.sb.Endpoint(), "http://")
	if hosts.hosts[0] != wantHost {
		t.Errorf("the SDK called %s, want %s: the account-id host the dialer sends to the sandbox", hosts.hosts[0], wantHost)
	}

	job := waitJob(t, c, id, s3ctypes.JobStatusSuspended)
	if job.ProgressSummary.TotalNumberOfTasks == nil || *job.ProgressSummary.TotalNumberOfTasks != 3 ||
		aws.ToString(job.SuspendedCause) != "AWAITING_CONFIRMATION" || !aws.ToBool(job.ConfirmationRequired) ||
		aws.ToString(job.JobArn) != "arn:aws:s3:us-east-1:000000000000:job/"+id || job.Priority != 10 {
		t.Errorf("suspended job: got %+v, want 3 tasks awaiting confirmation", job)
	}
	if _, err := e.dst.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("old/a.txt"), VersionId: aws.String(v1)}); httpStatus(err) != http.StatusNotFound {
		t.Errorf("a replica before confirmation: got %v, want 404", err)
	}
	if _, err := c.UpdateJobPriority(ctx, &s3control.UpdateJobPriorityInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id), Priority: 42}); err != nil {
		t.Fatalf("update priority: %v", err)
	}
	if job := describe(t, c, id); job.Priority != 42 {
		t.Errorf("priority after UpdateJobPriority: got %d, want 42", job.Priority)
	}

	t.Run("the same ClientRequestToken gives the same job", func(t *testing.T) {
		again, err := c.CreateJob(ctx, replicateJob("run-1", manifest, true, s3ctypes.JobReportScopeAllTasks))
		if err != nil || aws.ToString(again.JobId) != id {
			t.Errorf("got %v, %v, want job %s", again, err, id)
		}
		other := replicateJob("run-1", manifest, true, s3ctypes.JobReportScopeAllTasks)
		other.Description = aws.String("something else")
		_, err = c.CreateJob(ctx, other)
		var idem *s3ctypes.IdempotencyException
		if !errors.As(err, &idem) {
			t.Errorf("the same token with other parameters: got %v, want IdempotencyException", err)
		}
		if n := len(e.sb.Jobs()); n != 1 {
			t.Errorf("jobs: got %d, want 1", n)
		}
	})

	if _, err := c.UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{
		AccountId: aws.String(sandbox.Account), JobId: aws.String(id), RequestedJobStatus: s3ctypes.RequestedJobStatusReady,
	}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	job = waitJob(t, c, id, s3ctypes.JobStatusComplete)
	p := job.ProgressSummary
	if aws.ToInt64(p.NumberOfTasksSucceeded) != 3 || aws.ToInt64(p.NumberOfTasksFailed) != 0 || job.TerminationDate == nil {
		t.Errorf("complete job: got %d succeeded, %d failed, terminated %v, want 3, 0 and a date", aws.ToInt64(p.NumberOfTasksSucceeded), aws.ToInt64(p.NumberOfTasksFailed), job.TerminationDate)
	}
	for _, v := range []struct{ key, id string }{{"old/a.txt", v1}, {"old/a.txt", v2}, {"old/b c.txt", v3}} {
		if got := status(t, e.src, "src", v.key, v.id); got != "COMPLETED" {
			t.Errorf("source %s@%s: got %q, want COMPLETED", v.key, v.id, got)
		}
		if rep := head(t, e.dst, "dst", v.key, v.id); rep.ReplicationStatus != "REPLICA" || aws.ToString(rep.VersionId) != v.id {
			t.Errorf("replica of %s@%s: got status %q version %s, want a REPLICA with the same version id", v.key, v.id, rep.ReplicationStatus, aws.ToString(rep.VersionId))
		}
	}
	if got := head(t, e.dst, "dst", "old/a.txt", ""); aws.ToString(got.VersionId) != v2 {
		t.Errorf("latest replica of old/a.txt: got %s, want %s", aws.ToString(got.VersionId), v2)
	}

	_, lines := completionReport(t, e.src, "batch", id)
	succeeded := lines["succeeded"]
	sort.Slice(succeeded, func(i, j int) bool { return strings.Join(succeeded[i], ",") < strings.Join(succeeded[j], ",") })
	want := [][]string{
		{"src", "old/a.txt", v1, "succeeded", "200", "", "Successful"},
		{"src", "old/a.txt", v2, "succeeded", "200", "", "Successful"},
		{"src", "old/b+c.txt", v3, "succeeded", "200", "", "Successful"},
	}
	sort.Slice(want, func(i, j int) bool { return strings.Join(want[i], ",") < strings.Join(want[j], ",") })
	if len(lines) != 1 || !slices.EqualFunc(succeeded, want, slices.Equal) {
		t.Errorf("report lines: got %q, want %q", lines, want)
	}

	t.Run("ListJobs, the control API and Calls show it", func(t *testing.T) {
		list, err := c.ListJobs(ctx, &s3control.ListJobsInput{AccountId: aws.String(sandbox.Account), JobStatuses: []s3ctypes.JobStatus{s3ctypes.JobStatusComplete}})
		if err != nil || len(list.Jobs) != 1 || aws.ToString(list.Jobs[0].JobId) != id || list.Jobs[0].Operation != s3ctypes.OperationNameS3ReplicateObject {
			t.Errorf("ListJobs Complete: got %+v, %v", list, err)
		}
		if list, err := c.ListJobs(ctx, &s3control.ListJobsInput{AccountId: aws.String(sandbox.Account), JobStatuses: []s3ctypes.JobStatus{s3ctypes.JobStatusActive}}); err != nil || len(list.Jobs) != 0 {
			t.Errorf("ListJobs Active: got %+v, %v, want none", list, err)
		}
		status, body := control(t, e.sb, "GET", "/jobs", "")
		var jobs []sandbox.Job
		if err := json.Unmarshal([]byte(body), &jobs); status != http.StatusOK || err != nil || len(jobs) != 1 || jobs[0].ID != id ||
			jobs[0].Status != sandbox.JobComplete || len(jobs[0].Tasks) != 3 || len(jobs[0].ReportKeys) != 2 {
			t.Errorf("GET /jobs: got %d %s", status, body)
		}
		if n := callCount(e.sb, "s3control", "CreateJob", ""); n != 3 {
			t.Errorf("Calls: got %d CreateJob, want 3", n)
		}
		if n := callCount(e.sb, "s3control", "UpdateJobStatus", id); n != 1 {
			t.Errorf("Calls: got %d UpdateJobStatus on the job, want 1", n)
		}
	})
}

func TestBatchReplicationTasksFailWithTheReplicationFailureReason(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "reports", srcRegion, false)
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", &types.ReplicationRuleFilter{Prefix: aws.String("data/")})); err != nil {
		t.Fatal(err)
	}
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny, Reason: "DstPutObjectNotPermitted"})
	denied := aws.ToString(put(t, e.src, "src", "data/x.csv", "x").VersionId)
	waitStatus(t, e.src, "src", "data/x.csv", denied, "FAILED")
	outside := aws.ToString(put(t, e.src, "src", "other/y.csv", "y").VersionId)
	manifest := writeManifest(t, e.src, "reports", "m.csv",
		"src,data/x.csv,"+denied, "src,data/x.csv,no-such-version", "src,other/y.csv,"+outside)
	c, _ := controlClient(t, e.sb)
	created, err := c.CreateJob(ctx, replicateJob("denied", manifest, false, s3ctypes.JobReportScopeFailedTasksOnly))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.JobId)
	job := waitJob(t, c, id, s3ctypes.JobStatusComplete)
	if aws.ToInt64(job.ProgressSummary.NumberOfTasksFailed) != 3 || aws.ToInt64(job.ProgressSummary.NumberOfTasksSucceeded) != 0 || len(job.FailureReasons) != 0 {
		t.Errorf("job: got %+v, want 3 failed tasks and no job failure", job.ProgressSummary)
	}
	if got := status(t, e.src, "src", "data/x.csv", denied); got != "FAILED" {
		t.Errorf("source after the job: got %q, want FAILED", got)
	}
	_, lines := completionReport(t, e.src, "batch", id)
	if _, ok := lines["succeeded"]; ok || len(lines["failed"]) != 3 {
		t.Fatalf("report of failed tasks only: got %q", lines)
	}
	byVersion := map[string][]string{}
	for _, l := range lines["failed"] {
		byVersion[l[2]] = l
	}
	for version, want := range map[string][]string{
		denied:            {"src", "data/x.csv", denied, "failed", "403", "DstPutObjectNotPermitted"},
		"no-such-version": {"src", "data/x.csv", "no-such-version", "failed", "404", "NoSuchVersion"},
		outside:           {"src", "other/y.csv", outside, "failed", "400", "SrcObjectNotEligible"},
	} {
		if got := byVersion[version]; len(got) != 7 || !slices.Equal(got[:6], want) || got[6] == "" {
			t.Errorf("report line: got %q, want %q and a message", got, want)
		}
	}
	j, _ := e.sb.Job(id)
	for _, task := range j.Tasks {
		if task.VersionID == denied && !strings.Contains(task.Message, "may not write objects") {
			t.Errorf("task message: got %q, want the reason explained", task.Message)
		}
	}

	t.Run("an outage holds the tasks until it lifts", func(t *testing.T) {
		e.sb.ClearFaults("dst")
		inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
		m := writeManifest(t, e.src, "reports", "m2.csv", "src,data/x.csv,"+denied)
		created, err := c.CreateJob(ctx, replicateJob("outage", m, false, s3ctypes.JobReportScopeAllTasks))
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, c, aws.ToString(created.JobId), s3ctypes.JobStatusActive)
		waitStatus(t, e.src, "src", "data/x.csv", denied, "PENDING")
		e.sb.ClearFaults("")
		job := waitJob(t, c, aws.ToString(created.JobId), s3ctypes.JobStatusComplete)
		if aws.ToInt64(job.ProgressSummary.NumberOfTasksSucceeded) != 1 {
			t.Errorf("after the outage: got %+v, want the task succeeded", job.ProgressSummary)
		}
		if got := status(t, e.src, "src", "data/x.csv", denied); got != "COMPLETED" {
			t.Errorf("source: got %q, want COMPLETED", got)
		}
	})
}

func TestBatchReplicationJobsFailOnABadManifest(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "reports", srcRegion, false)
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	v := aws.ToString(put(t, e.src, "src", "k", "x").VersionId)
	waitStatus(t, e.src, "src", "k", v, "COMPLETED")
	c, _ := controlClient(t, e.sb)
	stale := writeManifest(t, e.src, "reports", "stale.csv", "src,k,"+v)
	put(t, e.src, "reports", "stale.csv", "src,k,"+v+"\nsrc,k,"+v+"\n") // overwritten since
	missing := writeManifest(t, e.src, "reports", "missing.csv", "src,k,"+v)
	missing.Location.ObjectArn = aws.String("arn:aws:s3:::reports/not-there.csv")
	for _, c2 := range []struct {
		name, code string
		manifest   *s3ctypes.JobManifest
	}{
		{"a line with too few fields", "ManifestMalformed", writeManifest(t, e.src, "reports", "bad.csv", "src,k,"+v, "src,k")},
		{"a line that is not CSV", "ManifestMalformed", writeManifest(t, e.src, "reports", "quote.csv", `src,"k,`+v)},
		{"an ETag that is not the manifest's", "ManifestETagMismatch", stale},
		{"a manifest that does not exist", "ManifestNotFound", missing},
	} {
		t.Run(c2.name, func(t *testing.T) {
			created, err := c.CreateJob(ctx, replicateJob(c2.name[:8]+c2.code, c2.manifest, false, s3ctypes.JobReportScopeAllTasks))
			if err != nil {
				t.Fatal(err)
			}
			job := waitJob(t, c, aws.ToString(created.JobId), s3ctypes.JobStatusFailed)
			if len(job.FailureReasons) != 1 || aws.ToString(job.FailureReasons[0].FailureCode) != c2.code || aws.ToString(job.FailureReasons[0].FailureReason) == "" {
				t.Errorf("failure reasons: got %+v, want %s", job.FailureReasons, c2.code)
			}
		})
	}
	for _, j := range e.sb.Jobs() {
		if j.Succeeded+j.Failed != 0 {
			t.Errorf("job %s ran %d tasks, want none: a job that fails Preparing runs nothing", j.ID, j.Succeeded+j.Failed)
		}
	}

	t.Run("requests S3 refuses", func(t *testing.T) {
		good := writeManifest(t, e.src, "reports", "good.csv", "src,k,"+v)
		copyOp := replicateJob("copy", good, false, s3ctypes.JobReportScopeAllTasks)
		copyOp.Operation = &s3ctypes.JobOperation{S3PutObjectTagging: &s3ctypes.S3SetObjectTaggingOperation{}}
		noReport := replicateJob("bad-report", good, false, s3ctypes.JobReportScopeAllTasks)
		noReport.Report.Format = "JSON"
		var bad *s3ctypes.BadRequestException
		for _, in := range []*s3control.CreateJobInput{copyOp, noReport} {
			if _, err := c.CreateJob(ctx, in); !errors.As(err, &bad) {
				t.Errorf("%s: got %v, want BadRequestException", aws.ToString(in.ClientRequestToken), err)
			}
		}
		_, err := c.DescribeJob(ctx, &s3control.DescribeJobInput{AccountId: aws.String(sandbox.Account), JobId: aws.String("no-such-job")})
		var notFound *s3ctypes.NotFoundException
		if !errors.As(err, &notFound) {
			t.Errorf("describe a job that does not exist: got %v, want NotFoundException", err)
		}
	})

	t.Run("a cancelled job runs nothing and cannot be confirmed", func(t *testing.T) {
		created, err := c.CreateJob(ctx, replicateJob("cancel", writeManifest(t, e.src, "reports", "c.csv", "src,k,"+v), true, s3ctypes.JobReportScopeAllTasks))
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(created.JobId)
		waitJob(t, c, id, s3ctypes.JobStatusSuspended)
		out, err := c.UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id),
			RequestedJobStatus: s3ctypes.RequestedJobStatusCancelled, StatusUpdateReason: aws.String("not needed")})
		if err != nil || out.Status != s3ctypes.JobStatusCancelled {
			t.Fatalf("cancel: got %+v, %v, want Cancelled", out, err)
		}
		_, err = c.UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id), RequestedJobStatus: s3ctypes.RequestedJobStatusReady})
		var conflict *s3ctypes.JobStatusException
		if !errors.As(err, &conflict) {
			t.Errorf("confirm a cancelled job: got %v, want JobStatusException", err)
		}
		if job := describe(t, c, id); aws.ToString(job.StatusUpdateReason) != "not needed" || aws.ToInt64(job.ProgressSummary.NumberOfTasksSucceeded) != 0 {
			t.Errorf("cancelled job: got %+v", job)
		}
	})
}

func port(sb *sandbox.Sandbox) string {
	return sb.Endpoint()[strings.LastIndex(sb.Endpoint(), ":")+1:]
}

func TestCancellingAnActiveBatchJobStopsItStartingTasks(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "reports", srcRegion, false)
	var lines []string
	for i := range 40 {
		lines = append(lines, "src,k,"+aws.ToString(put(t, e.src, "src", "k", fmt.Sprint(i)).VersionId))
	}
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", nil)); err != nil {
		t.Fatal(err)
	}
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	c, _ := controlClient(t, e.sb)
	created, err := c.CreateJob(ctx, replicateJob("active", writeManifest(t, e.src, "reports", "m.csv", lines...), false, s3ctypes.JobReportScopeAllTasks))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.JobId)
	// The outage holds the first tasks PENDING, and the job Active.
	sandboxtest.Eventually(t, waitLimit, "tasks held by the outage", func() bool {
		j, _ := e.sb.Job(id)
		return j.Status == sandbox.JobActive && status(t, e.src, "src", "k", strings.TrimPrefix(lines[0], "src,k,")) == "PENDING"
	})
	out, err := c.UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id), RequestedJobStatus: s3ctypes.RequestedJobStatusCancelled})
	if err != nil || out.Status != s3ctypes.JobStatusCancelling {
		t.Fatalf("cancel an active job: got %+v, %v, want Cancelling", out, err)
	}
	e.sb.ClearFaults("")
	job := waitJob(t, c, id, s3ctypes.JobStatusCancelled)
	done := aws.ToInt64(job.ProgressSummary.NumberOfTasksSucceeded)
	if done == 0 || done >= 40 || aws.ToInt64(job.ProgressSummary.TotalNumberOfTasks) != 40 {
		t.Errorf("cancelled job: got %+v, want the tasks started before the cancel finished, and no others", job.ProgressSummary)
	}
	if _, lines := completionReport(t, e.src, "batch", id); int64(len(lines["succeeded"])) != done {
		t.Errorf("report of a cancelled job: got %d succeeded lines, want %d", len(lines["succeeded"]), done)
	}
}

// TestS3ControlChildProcess is the child process of
// TestS3ControlThroughHTTPProxyInAChildProcess: with only the sandbox's
// environment, as product code, it describes a job through S3 Control and
// sends a message through SQS. It does nothing in a normal test run.
func TestS3ControlChildProcess(t *testing.T) {
	id := os.Getenv("SANDBOX_CHILD_DESCRIBE_JOB")
	if id == "" {
		return
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := s3control.NewFromConfig(cfg).DescribeJob(context.Background(), &s3control.DescribeJobInput{AccountId: aws.String(sandbox.Account), JobId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("STATUS=%s\n", out.Job.Status)
	q := sqs.NewFromConfig(cfg)
	url, err := q.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("child")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: url.QueueUrl, MessageBody: aws.String("from the child")}); err != nil {
		t.Fatal(err)
	}
}

func TestS3ControlThroughHTTPProxyInAChildProcess(t *testing.T) {
	e := start(t, sandbox.Options{})
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "reports", srcRegion, false)
	c, _ := controlClient(t, e.sb)
	created, err := c.CreateJob(context.Background(), replicateJob("child", writeManifest(t, e.src, "reports", "m.csv"), true, s3ctypes.JobReportScopeAllTasks))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.JobId)
	waitJob(t, c, id, s3ctypes.JobStatusSuspended)
	queue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "child"})

	cmd := exec.Command(os.Args[0], "-test.run=^TestS3ControlChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SANDBOX_CHILD_DESCRIBE_JOB="+id)
	for _, kv := range e.sb.Env() {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "STATUS=Suspended") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if n := callCount(e.sb, "s3control", "DescribeJob", id); n < 2 {
		t.Errorf("Calls: got %d DescribeJob, want the child's among them", n)
	}
	if msgs := e.sb.QueueMessages(queue); len(msgs) != 1 || msgs[0].Body != "from the child" {
		t.Errorf("the child's SQS message: got %+v", msgs)
	}

	t.Run("the proxy serves the sandbox's own addresses only", func(t *testing.T) {
		proxy, _ := url.Parse(e.sb.Endpoint())
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		for target, want := range map[string]int{
			"http://example.com/":                      http.StatusBadGateway,
			"http://127.0.0.1:1/":                      http.StatusBadGateway,
			e.sb.ControlURL() + "/held":                http.StatusOK,
			e.sb.Endpoint() + "/reports/m.csv":         http.StatusOK,
			"http://123.127.0.0.1:" + port(e.sb) + "/": http.StatusOK, // ListBuckets
		} {
			resp, err := client.Get(target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s through the sandbox: got %d, want %d", target, resp.StatusCode, want)
			}
		}
	})
}
