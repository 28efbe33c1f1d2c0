package sandbox

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replaudit/replaudit/internal/replication"
)

// Job statuses, as S3 Batch Operations names them.
const (
	JobNew        = "New"
	JobPreparing  = "Preparing"
	JobSuspended  = "Suspended"
	JobReady      = "Ready"
	JobActive     = "Active"
	JobCompleting = "Completing"
	JobComplete   = "Complete"
	JobCancelling = "Cancelling"
	JobCancelled  = "Cancelled"
	JobFailed     = "Failed"
)

// Task statuses, as completion reports write them.
const (
	TaskPending   = "pending"
	TaskSucceeded = "succeeded"
	TaskFailed    = "failed"
)

// Job is an S3 Batch Operations job as the sandbox runs it: an
// S3ReplicateObject job (S3 Batch Replication), created through S3
// Control's CreateJob.
type Job struct {
	ID                   string `json:"jobId"`
	ARN                  string `json:"jobArn"`
	Account              string `json:"account"`
	Status               string `json:"status"`
	StatusUpdateReason   string `json:"statusUpdateReason,omitempty"`
	Description          string `json:"description,omitempty"`
	Priority             int32  `json:"priority"`
	RoleARN              string `json:"roleArn"`
	ConfirmationRequired bool   `json:"confirmationRequired"`
	ClientRequestToken   string `json:"clientRequestToken"`
	Operation            string `json:"operation"`
	// Manifest is where the job read its list of versions.
	Manifest JobManifest `json:"manifest"`
	// Report is where the job writes its completion report.
	Report JobReport `json:"report"`
	// Total, Succeeded and Failed count tasks, as ProgressSummary does.
	Total     int `json:"totalNumberOfTasks"`
	Succeeded int `json:"numberOfTasksSucceeded"`
	Failed    int `json:"numberOfTasksFailed"`
	// FailureReasons say why the job itself failed; failed tasks are in
	// Tasks and in the completion report.
	FailureReasons []JobFailure `json:"failureReasons,omitempty"`
	Tasks          []JobTask    `json:"tasks"`
	// ReportKeys are the keys of the completion report's objects, results
	// first, manifest.json last, once written.
	ReportKeys      []string  `json:"reportKeys,omitempty"`
	CreationTime    time.Time `json:"creationTime"`
	SuspendedDate   time.Time `json:"suspendedDate,omitzero"`
	SuspendedCause  string    `json:"suspendedCause,omitempty"`
	TerminationDate time.Time `json:"terminationDate,omitzero"`
}

// JobManifest is a job's CSV manifest in S3.
type JobManifest struct {
	Format          string   `json:"format"`
	Fields          []string `json:"fields"`
	ObjectARN       string   `json:"objectArn"`
	ObjectVersionID string   `json:"objectVersionId,omitempty"`
	ETag            string   `json:"etag"`
}

// JobReport is a job's completion report configuration.
type JobReport struct {
	Enabled   bool   `json:"enabled"`
	BucketARN string `json:"bucket,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	Format    string `json:"format,omitempty"`
	Scope     string `json:"reportScope,omitempty"`
}

// JobFailure is one reason a job failed.
type JobFailure struct {
	Code   string `json:"failureCode"`
	Reason string `json:"failureReason"`
}

// JobTask is one line of a job's manifest and its outcome. Key is as the
// manifest wrote it, URL-encoded.
type JobTask struct {
	Bucket     string `json:"bucket"`
	Key        string `json:"key"`
	VersionID  string `json:"versionId,omitempty"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"httpStatusCode,omitempty"`
	ErrorCode  string `json:"errorCode,omitempty"`
	Message    string `json:"resultMessage,omitempty"`
}

// batchOps serves S3 Control's job API (REST-XML under /v20180820/jobs) for
// S3ReplicateObject jobs, and runs them. A job reads its CSV manifest,
// waits for confirmation when asked to, then replicates each listed
// version to each destination of the source's rules that match it,
// through the path Redrive takes, so faults apply; it ends with a
// completion report in S3's layout. Jobs run as soon as they are Ready,
// whatever their priority.
type batchOps struct {
	sb     *Sandbox
	nextID atomic.Uint64

	mu     sync.Mutex
	jobs   map[string]*job
	order  []string
	tokens map[string]tokenUse // by ClientRequestToken
}

type tokenUse struct {
	job         string
	fingerprint [32]byte
}

// job is a Job and what runs it. Its fields are guarded by batchOps.mu.
type job struct {
	Job
	// changed is closed and replaced when the job is confirmed or cancelled.
	changed   chan struct{}
	cancelled bool
	// activeFor is the time spent Active before activeSince, the start of
	// the current Active spell.
	activeSince time.Time
	activeFor   time.Duration
}

// s3ControlXmlns is S3 Control's XML namespace.
const s3ControlXmlns = "http://awss3control.amazonaws.com/doc/2018-08-20/"

const (
	manifestFormat = "S3BatchOperations_CSV_20180820"
	reportFormat   = "Report_CSV_20180820"
	reportSchema   = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
	// batchWorkers bounds the tasks a job runs at once.
	batchWorkers = 16
)

func newBatchOps(sb *Sandbox) *batchOps {
	return &batchOps{sb: sb, jobs: map[string]*job{}, tokens: map[string]tokenUse{}}
}

// isS3Control reports whether a request calls S3 Control's job API, which
// signs as s3 and shares S3's endpoint in the sandbox.
func isS3Control(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v20180820/") }

// s3ControlOperation names the S3 Control operation a request calls, and
// the job it acts on.
func s3ControlOperation(r *http.Request) (op, job string) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v20180820/"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "jobs" && r.Method == http.MethodPost:
		return "CreateJob", ""
	case len(parts) == 1 && parts[0] == "jobs" && r.Method == http.MethodGet:
		return "ListJobs", ""
	case len(parts) == 2 && parts[0] == "jobs" && r.Method == http.MethodGet:
		return "DescribeJob", parts[1]
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "status" && r.Method == http.MethodPost:
		return "UpdateJobStatus", parts[1]
	case len(parts) == 3 && parts[0] == "jobs" && parts[2] == "priority" && r.Method == http.MethodPost:
		return "UpdateJobPriority", parts[1]
	}
	return r.Method + " " + r.URL.Path, ""
}

// s3ControlError is an S3 Control error: the code the SDK matches to a
// modeled type (BadRequestException, NotFoundException...).
type s3ControlError struct {
	status        int
	code, message string
}

func (e *s3ControlError) Error() string { return e.code + ": " + e.message }

func badJob(format string, a ...any) *s3ControlError {
	return &s3ControlError{http.StatusBadRequest, "BadRequestException", fmt.Sprintf(format, a...)}
}

var errNoJob = &s3ControlError{http.StatusNotFound, "NotFoundException", "The specified job does not exist."}

// writeS3ControlError answers with S3 Control's error document, whose
// code and message sit in an Error element inside ErrorResponse.
func writeS3ControlError(w http.ResponseWriter, requestID string, e *s3ControlError) {
	body := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Error   struct {
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
		HostID    string `xml:"HostId"`
	}{RequestID: requestID, HostID: "sandbox"}
	body.Error.Code, body.Error.Message = e.code, e.message
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(body)
}

func (b *batchOps) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := fmt.Sprintf("%016X", b.nextID.Add(1))
	w.Header().Set("x-amz-request-id", requestID)
	if err := b.serve(w, r); err != nil {
		var e *s3ControlError
		if !errors.As(err, &e) {
			e = &s3ControlError{http.StatusInternalServerError, "InternalServiceException", err.Error()}
		}
		writeS3ControlError(w, requestID, e)
	}
}

func (b *batchOps) serve(w http.ResponseWriter, r *http.Request) error {
	account := r.Header.Get("X-Amz-Account-Id")
	if account == "" {
		return badJob("The x-amz-account-id header is missing.")
	}
	region := signingRegion(r)
	if region == "" {
		region = defaultRegion
	}
	op, id := s3ControlOperation(r)
	q := r.URL.Query()
	switch op {
	case "CreateJob":
		return b.createJob(w, r, account, region)
	case "ListJobs":
		return b.listJobs(w, account, q)
	case "DescribeJob":
		return b.describeJob(w, account, id)
	case "UpdateJobStatus":
		return b.updateStatus(w, account, id, q.Get("requestedJobStatus"), q.Get("statusUpdateReason"))
	case "UpdateJobPriority":
		return b.updatePriority(w, account, id, q.Get("priority"))
	}
	return &s3ControlError{http.StatusNotImplemented, "NotImplemented",
		fmt.Sprintf("The sandbox's S3 Control answers CreateJob, DescribeJob, ListJobs, UpdateJobStatus and UpdateJobPriority, not %s.", op)}
}

// createJobRequest is CreateJob's XML body.
type createJobRequest struct {
	XMLName              xml.Name `xml:"CreateJobRequest"`
	ClientRequestToken   string
	ConfirmationRequired bool
	Description          string
	Priority             *int32
	RoleArn              string
	Operation            struct {
		Any []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	Manifest *struct {
		Spec struct {
			Format string
			Fields []string `xml:"Fields>member"`
		}
		Location struct {
			ObjectArn       string
			ObjectVersionId string
			ETag            string
		}
	}
	ManifestGenerator *struct {
		Any []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	Report struct {
		Bucket      string
		Format      string
		Enabled     bool
		Prefix      string
		ReportScope string
	}
}

var (
	roleARN      = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
	requestToken = regexp.MustCompile(`^.{1,64}$`)
)

// validate checks a CreateJob request as S3 does, short of reading the
// manifest, which the job does once created.
func (in *createJobRequest) validate() error {
	if !requestToken.MatchString(in.ClientRequestToken) {
		return badJob("ClientRequestToken must be 1 to 64 characters long.")
	}
	if len(in.Operation.Any) != 1 {
		return badJob("A job names exactly one operation.")
	}
	if op := in.Operation.Any[0].XMLName.Local; op != "S3ReplicateObject" {
		return badJob("The sandbox runs S3ReplicateObject (Batch Replication) jobs only, not %s.", op)
	}
	if in.ManifestGenerator != nil {
		return badJob("The sandbox reads a CSV manifest (Manifest); it does not generate manifests (ManifestGenerator).")
	}
	if in.Manifest == nil {
		return badJob("A job needs a Manifest.")
	}
	m := in.Manifest
	if m.Spec.Format != manifestFormat {
		return badJob("The sandbox reads manifests in the %s format, not %q.", manifestFormat, m.Spec.Format)
	}
	if !slices.Equal(m.Spec.Fields, []string{"Bucket", "Key"}) && !slices.Equal(m.Spec.Fields, []string{"Bucket", "Key", "VersionId"}) {
		return badJob("Manifest fields must be Bucket, Key and optionally VersionId, in that order, not %v.", m.Spec.Fields)
	}
	if _, _, err := objectFromARN(m.Location.ObjectArn); err != nil {
		return badJob("Invalid manifest ObjectArn: %v", err)
	}
	if m.Location.ETag == "" {
		return badJob("The manifest location needs the manifest object's ETag.")
	}
	if in.Priority == nil || *in.Priority < 0 {
		return badJob("Priority must be an integer of 0 or more.")
	}
	if !roleARN.MatchString(in.RoleArn) {
		return badJob("RoleArn must be an IAM role ARN, not %q.", in.RoleArn)
	}
	if len(in.Description) > 256 {
		return badJob("Description must be at most 256 characters long.")
	}
	if rep := in.Report; rep.Enabled {
		if _, err := replication.BucketFromARN(rep.Bucket); err != nil {
			return badJob("Invalid report bucket: %v", err)
		}
		if rep.Format != reportFormat {
			return badJob("Report format must be %s, not %q.", reportFormat, rep.Format)
		}
		if rep.ReportScope != "" && rep.ReportScope != "AllTasks" && rep.ReportScope != "FailedTasksOnly" {
			return badJob("ReportScope must be AllTasks or FailedTasksOnly, not %q.", rep.ReportScope)
		}
	}
	return nil
}

// objectFromARN splits arn:aws:s3:::bucket/key.
func objectFromARN(arn string) (bucket, key string, err error) {
	i := strings.Index(arn, ":::")
	if !strings.HasPrefix(arn, "arn:aws") || i < 0 || !strings.HasSuffix(arn[:i], ":s3") {
		return "", "", fmt.Errorf("%q is not an S3 object ARN", arn)
	}
	bucket, key, ok := strings.Cut(arn[i+3:], "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%q is not an S3 object ARN", arn)
	}
	return bucket, key, nil
}

func (b *batchOps) createJob(w http.ResponseWriter, r *http.Request, account, region string) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var in createJobRequest
	if err := xml.Unmarshal(body, &in); err != nil {
		return badJob("The XML you provided was not well-formed or did not validate against our published schema: %v", err)
	}
	if err := in.validate(); err != nil {
		return err
	}
	fingerprint := sha256.Sum256(append([]byte(account+"\n"), body...))
	b.mu.Lock()
	if use, ok := b.tokens[in.ClientRequestToken]; ok {
		b.mu.Unlock()
		if use.fingerprint != fingerprint {
			return &s3ControlError{http.StatusConflict, "IdempotencyException", "A job was already created with this ClientRequestToken and different parameters."}
		}
		return writeXML(w, struct {
			XMLName xml.Name `xml:"CreateJobResult"`
			Xmlns   string   `xml:"xmlns,attr"`
			JobID   string   `xml:"JobId"`
		}{Xmlns: s3ControlXmlns, JobID: use.job})
	}
	id := newUUID()
	scope := in.Report.ReportScope
	if in.Report.Enabled && scope == "" {
		scope = "AllTasks"
	}
	j := &job{changed: make(chan struct{}), Job: Job{
		ID: id, ARN: fmt.Sprintf("arn:aws:s3:%s:%s:job/%s", region, account, id), Account: account, Status: JobNew,
		Description: in.Description, Priority: *in.Priority, RoleARN: in.RoleArn, ConfirmationRequired: in.ConfirmationRequired,
		ClientRequestToken: in.ClientRequestToken, Operation: "S3ReplicateObject",
		Manifest: JobManifest{Format: in.Manifest.Spec.Format, Fields: in.Manifest.Spec.Fields, ObjectARN: in.Manifest.Location.ObjectArn,
			ObjectVersionID: in.Manifest.Location.ObjectVersionId, ETag: in.Manifest.Location.ETag},
		Report:       JobReport{Enabled: in.Report.Enabled, BucketARN: in.Report.Bucket, Prefix: in.Report.Prefix, Format: in.Report.Format, Scope: scope},
		Tasks:        []JobTask{},
		CreationTime: b.sb.now().UTC(),
	}}
	b.jobs[id] = j
	b.order = append(b.order, id)
	b.tokens[in.ClientRequestToken] = tokenUse{job: id, fingerprint: fingerprint}
	b.mu.Unlock()
	if !b.sb.spawn(func() { b.run(j) }) {
		b.finish(j, JobFailed, JobFailure{"InternalError", "The sandbox is closing."})
	}
	return writeXML(w, struct {
		XMLName xml.Name `xml:"CreateJobResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		JobID   string   `xml:"JobId"`
	}{Xmlns: s3ControlXmlns, JobID: id})
}

// lookup returns a job of an account.
func (b *batchOps) lookup(account, id string) (*job, error) {
	j := b.jobs[id]
	if j == nil || j.Account != account {
		return nil, errNoJob
	}
	return j, nil
}

// setStatusLocked moves a job on and wakes whoever waits on it. The caller
// holds the lock.
func (b *batchOps) setStatusLocked(j *job, status string) {
	now := b.sb.now().UTC()
	if j.Status == JobActive && status != JobActive {
		j.activeFor += now.Sub(j.activeSince)
	}
	if status == JobActive {
		j.activeSince = now
	}
	j.Status = status
	switch status {
	case JobSuspended:
		j.SuspendedDate, j.SuspendedCause = now, "AWAITING_CONFIRMATION"
	case JobComplete, JobCancelled, JobFailed:
		j.TerminationDate = now
	}
	close(j.changed)
	j.changed = make(chan struct{})
}

func (b *batchOps) setStatus(j *job, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setStatusLocked(j, status)
}

// finish ends a job in a terminal status, unless it already is in one.
func (b *batchOps) finish(j *job, status string, reasons ...JobFailure) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if terminal(j.Status) {
		return
	}
	j.FailureReasons = append(j.FailureReasons, reasons...)
	b.setStatusLocked(j, status)
}

func terminal(status string) bool {
	return status == JobComplete || status == JobCancelled || status == JobFailed
}

// run takes a job from New to its end: it reads the manifest, waits for
// confirmation when the job asks for it, runs the tasks and writes the
// completion report.
func (b *batchOps) run(j *job) {
	b.setStatus(j, JobPreparing)
	tasks, failure := b.prepare(j)
	if failure != nil {
		b.finish(j, JobFailed, *failure)
		return
	}
	b.mu.Lock()
	if j.cancelled {
		b.mu.Unlock()
		b.finish(j, JobCancelled)
		return
	}
	j.Tasks, j.Total = tasks, len(tasks)
	if j.ConfirmationRequired {
		b.setStatusLocked(j, JobSuspended)
	} else {
		b.setStatusLocked(j, JobReady)
	}
	for j.Status == JobSuspended {
		changed := j.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-b.sb.ctx.Done():
			return
		}
		b.mu.Lock()
	}
	if j.Status != JobReady {
		b.mu.Unlock()
		return // cancelled while suspended
	}
	b.setStatusLocked(j, JobActive)
	b.mu.Unlock()

	if !b.runTasks(j) {
		return // the sandbox closed
	}
	b.mu.Lock()
	cancelled := j.cancelled
	b.mu.Unlock()
	end := JobComplete
	if cancelled {
		end = JobCancelled
	} else {
		b.setStatus(j, JobCompleting)
	}
	if j.Report.Enabled {
		if err := b.writeReport(j); err != nil {
			b.finish(j, JobFailed, JobFailure{"ReportWriteFailed", "Writing the completion report failed: " + err.Error()})
			return
		}
	}
	b.finish(j, end)
}

// prepare reads a job's manifest as S3 does while Preparing: the object
// (and version) named, its ETag the one given, every line well formed.
func (b *batchOps) prepare(j *job) ([]JobTask, *JobFailure) {
	m := j.Manifest
	bucket, key, _ := objectFromARN(m.ObjectARN)
	b.sb.store.mu.Lock()
	v, err := b.sb.store.lookup(bucket, key, m.ObjectVersionID)
	var body []byte
	var etag string
	if err == nil {
		body, etag = v.body, v.eTag()
	}
	b.sb.store.mu.Unlock()
	if err != nil {
		return nil, &JobFailure{"ManifestNotFound", fmt.Sprintf("Reading the manifest failed: %s does not exist (%v).", m.ObjectARN, err)}
	}
	if strings.Trim(etag, `"`) != strings.Trim(m.ETag, `"`) {
		return nil, &JobFailure{"ManifestETagMismatch", fmt.Sprintf("The ETag of the manifest %s is %s, not %s as the job says.", m.ObjectARN, etag, m.ETag)}
	}
	if j.Report.Enabled {
		rb, _ := replication.BucketFromARN(j.Report.BucketARN)
		if _, ok := b.sb.store.bucketRegion(rb); !ok {
			return nil, &JobFailure{"ReportBucketNotFound", fmt.Sprintf("The report bucket %s does not exist.", rb)}
		}
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	tasks := []JobTask{}
	for line := 1; ; line++ {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &JobFailure{"ManifestMalformed", fmt.Sprintf("Manifest line %d is not valid CSV: %v", line, err)}
		}
		if len(rec) != len(m.Fields) {
			return nil, &JobFailure{"ManifestMalformed", fmt.Sprintf("Manifest line %d has %d fields, not %d (%s).", line, len(rec), len(m.Fields), strings.Join(m.Fields, ", "))}
		}
		t := JobTask{Bucket: rec[0], Key: rec[1], Status: TaskPending}
		if len(rec) == 3 {
			t.VersionID = rec[2]
		}
		if t.Bucket == "" || t.Key == "" {
			return nil, &JobFailure{"ManifestMalformed", fmt.Sprintf("Manifest line %d names no bucket or no key.", line)}
		}
		if _, err := url.QueryUnescape(t.Key); err != nil {
			return nil, &JobFailure{"ManifestMalformed", fmt.Sprintf("Manifest line %d: the key is not URL-encoded: %v", line, err)}
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// runTasks runs a job's tasks, a few at a time, and records each outcome.
// A cancelled job starts no new task. It returns false when the sandbox
// closed before every started task had its outcome.
func (b *batchOps) runTasks(j *job) bool {
	b.mu.Lock()
	n := len(j.Tasks)
	b.mu.Unlock()
	next := make(chan int)
	var wg sync.WaitGroup
	var closed atomic.Bool
	for range min(batchWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b.mu.Lock()
				t := j.Tasks[i]
				b.mu.Unlock()
				out, finished := b.replicateTask(t)
				if !finished {
					closed.Store(true)
					continue
				}
				b.mu.Lock()
				j.Tasks[i] = out
				if out.Status == TaskSucceeded {
					j.Succeeded++
				} else {
					j.Failed++
				}
				b.mu.Unlock()
			}
		}()
	}
	for i := range n {
		b.mu.Lock()
		stop := j.cancelled
		b.mu.Unlock()
		if stop || closed.Load() || b.sb.ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return !closed.Load() && b.sb.ctx.Err() == nil
}

// replicateTask replicates one manifest line's version to each destination
// of the rules that match it and waits for every outcome. The task fails
// with the first failure reason, by destination name.
func (b *batchOps) replicateTask(t JobTask) (JobTask, bool) {
	key, _ := url.QueryUnescape(t.Key)
	jobs, terr := b.sb.store.takeVersion(t.Bucket, key, t.VersionID)
	if terr != nil {
		t.Status, t.HTTPStatus, t.ErrorCode, t.Message = TaskFailed, terr.status, terr.code, terr.message
		return t, true
	}
	type outcome struct {
		dst, reason string
		finished    bool
	}
	results := make(chan outcome, len(jobs))
	started := b.sb.replicateAgain(jobs, func(j redriveJob, reason string, finished bool) {
		results <- outcome{j.rule.Destination.Bucket(), reason, finished}
	})
	if started < len(jobs) {
		return t, false
	}
	var failures []outcome
	for range started {
		o := <-results
		if !o.finished {
			return t, false
		}
		if o.reason != "" {
			failures = append(failures, o)
		}
	}
	if len(failures) == 0 {
		t.Status, t.HTTPStatus, t.Message = TaskSucceeded, http.StatusOK, "Successful"
		return t, true
	}
	sort.Slice(failures, func(i, j int) bool { return failures[i].dst < failures[j].dst })
	f := failures[0]
	meaning, _ := replication.Explain(f.reason)
	t.Status, t.HTTPStatus, t.ErrorCode = TaskFailed, reasonStatus(f.reason), f.reason
	t.Message = fmt.Sprintf("Replication to %s failed: %s", f.dst, meaning)
	return t, true
}

// reasonStatus is the HTTP status a completion report gives a replication
// failure reason.
func reasonStatus(reason string) int {
	switch {
	case strings.HasSuffix(reason, "NotPermitted"):
		return http.StatusForbidden
	case strings.HasSuffix(reason, "NotFound"):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// taskError is why a task could not start.
type taskError struct {
	status        int
	code, message string
}

// takeVersion finds a version (the latest when id is "") and marks it
// PENDING towards each destination of the bucket's rules that match it, as
// Redrive does for a failed one, and returns the pairs to replicate. A
// delete marker goes to the rules that replicate delete markers. Replicas
// are not replicated again.
func (s *store) takeVersion(bucketName, key, id string) ([]redriveJob, *taskError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil, &taskError{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist"}
	}
	if b.replication == nil {
		return nil, &taskError{http.StatusNotFound, "ReplicationConfigurationNotFoundError", "The source bucket has no replication configuration"}
	}
	var v *version
	if id == "" {
		v = b.latest(key)
	} else {
		v = b.find(key, id)
	}
	if v == nil {
		if id == "" {
			return nil, &taskError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."}
		}
		return nil, &taskError{http.StatusNotFound, "NoSuchVersion", "The specified version does not exist."}
	}
	if v.isReplica {
		return nil, &taskError{http.StatusBadRequest, "SrcObjectNotEligible", "The object is a replica; the sandbox does not replicate replicas again."}
	}
	var rules []replication.Rule
	if v.deleteMarker {
		for _, r := range b.replication.cfg.Match(key, nil) {
			if r.DeleteMarkerReplication {
				rules = append(rules, r)
			}
		}
	} else {
		rules = b.replication.cfg.Match(key, v.tags)
	}
	if len(rules) == 0 {
		return nil, &taskError{http.StatusBadRequest, "SrcObjectNotEligible", "The object matches no enabled rule of the bucket's replication configuration."}
	}
	jobs := make([]redriveJob, len(rules))
	for i, r := range rules {
		jobs[i] = s.redriveLocked(b, v, r)
	}
	return jobs, nil
}

// reportFile is one results file as the report's manifest.json lists it.
type reportFile struct {
	TaskExecutionStatus string
	Bucket              string
	MD5Checksum         string
	Key                 string
}

// writeReport writes a job's completion report as S3 does: a results CSV
// per task status under <prefix>/job-<id>/results/, then
// <prefix>/job-<id>/manifest.json naming them. Each line is bucket, key
// (as the manifest wrote it), version id, task status, then, as S3's
// reports actually hold them whatever ReportSchema says, the HTTP status,
// the error code and the result message.
func (b *batchOps) writeReport(j *job) error {
	b.mu.Lock()
	tasks := append([]JobTask{}, j.Tasks...)
	rep := j.Report
	b.mu.Unlock()
	bucket, _ := replication.BucketFromARN(rep.BucketARN)
	base := "job-" + j.ID
	if p := strings.TrimSuffix(rep.Prefix, "/"); p != "" {
		base = p + "/" + base
	}
	var results []reportFile
	var keys []string
	for _, status := range []string{TaskSucceeded, TaskFailed} {
		if status == TaskSucceeded && rep.Scope == "FailedTasksOnly" {
			continue
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		n := 0
		for _, t := range tasks {
			if t.Status != status {
				continue
			}
			n++
			_ = cw.Write([]string{t.Bucket, t.Key, t.VersionID, t.Status, strconv.Itoa(t.HTTPStatus), t.ErrorCode, t.Message})
		}
		cw.Flush()
		if n == 0 {
			continue
		}
		key := base + "/results/" + newUUID() + ".csv"
		if err := b.sb.putObject(bucket, key, "text/csv", buf.Bytes()); err != nil {
			return err
		}
		sum := md5.Sum(buf.Bytes())
		results = append(results, reportFile{status, bucket, hex.EncodeToString(sum[:]), key})
		keys = append(keys, key)
	}
	manifest, err := json.Marshal(struct {
		Format             string
		ReportCreationDate string
		Results            []reportFile
		ReportSchema       string
	}{reportFormat, b.sb.now().UTC().Format("2006-01-02T15:04:05.000Z"), nonNil(results), reportSchema})
	if err != nil {
		return err
	}
	if err := b.sb.putObject(bucket, base+"/manifest.json", "application/json", manifest); err != nil {
		return err
	}
	b.mu.Lock()
	j.ReportKeys = append(keys, base+"/manifest.json")
	b.mu.Unlock()
	return nil
}

func (b *batchOps) updateStatus(w http.ResponseWriter, account, id, requested, reason string) error {
	b.mu.Lock()
	j, err := b.lookup(account, id)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	switch requested {
	case "Ready":
		if j.Status != JobSuspended {
			b.mu.Unlock()
			return &s3ControlError{http.StatusConflict, "JobStatusException", fmt.Sprintf("Job %s is %s: only a Suspended job can be confirmed.", id, j.Status)}
		}
		b.setStatusLocked(j, JobReady)
	case "Cancelled":
		if terminal(j.Status) || j.Status == JobCancelling || j.Status == JobCompleting {
			b.mu.Unlock()
			return &s3ControlError{http.StatusConflict, "JobStatusException", fmt.Sprintf("Job %s is %s and can no longer be cancelled.", id, j.Status)}
		}
		j.cancelled = true
		switch j.Status {
		case JobActive:
			b.setStatusLocked(j, JobCancelling)
		case JobSuspended, JobReady:
			b.setStatusLocked(j, JobCancelled)
		default: // New or Preparing: run notices once the manifest is read
			b.setStatusLocked(j, JobCancelling)
		}
	default:
		b.mu.Unlock()
		return badJob("requestedJobStatus must be Ready or Cancelled, not %q.", requested)
	}
	if reason != "" {
		j.StatusUpdateReason = reason
	}
	out := struct {
		XMLName            xml.Name `xml:"UpdateJobStatusResult"`
		Xmlns              string   `xml:"xmlns,attr"`
		JobID              string   `xml:"JobId"`
		Status             string   `xml:"Status"`
		StatusUpdateReason string   `xml:"StatusUpdateReason,omitempty"`
	}{Xmlns: s3ControlXmlns, JobID: j.ID, Status: j.Status, StatusUpdateReason: j.StatusUpdateReason}
	b.mu.Unlock()
	return writeXML(w, out)
}

func (b *batchOps) updatePriority(w http.ResponseWriter, account, id, priority string) error {
	p, perr := strconv.ParseInt(priority, 10, 32)
	if perr != nil || p < 0 {
		return badJob("priority must be an integer of 0 or more, not %q.", priority)
	}
	b.mu.Lock()
	j, err := b.lookup(account, id)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	j.Priority = int32(p)
	b.mu.Unlock()
	return writeXML(w, struct {
		XMLName  xml.Name `xml:"UpdateJobPriorityResult"`
		Xmlns    string   `xml:"xmlns,attr"`
		JobID    string   `xml:"JobId"`
		Priority int32    `xml:"Priority"`
	}{Xmlns: s3ControlXmlns, JobID: id, Priority: int32(p)})
}

// progressXML is a job's ProgressSummary.
type progressXML struct {
	TotalNumberOfTasks     int
	NumberOfTasksSucceeded int
	NumberOfTasksFailed    int
	Timers                 struct {
		ElapsedTimeInActiveSeconds int64
	}
}

func (b *batchOps) progressLocked(j *job) progressXML {
	p := progressXML{TotalNumberOfTasks: j.Total, NumberOfTasksSucceeded: j.Succeeded, NumberOfTasksFailed: j.Failed}
	active := j.activeFor
	if j.Status == JobActive {
		active += b.sb.now().Sub(j.activeSince)
	}
	p.Timers.ElapsedTimeInActiveSeconds = int64(active / time.Second)
	return p
}

func xmlTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (b *batchOps) describeJob(w http.ResponseWriter, account, id string) error {
	b.mu.Lock()
	j, err := b.lookup(account, id)
	if err != nil {
		b.mu.Unlock()
		return err
	}
	type failureXML struct {
		FailureCode   string
		FailureReason string
	}
	type descriptor struct {
		JobID                string `xml:"JobId"`
		ConfirmationRequired bool
		Description          string `xml:",omitempty"`
		JobArn               string
		Status               string
		Manifest             struct {
			Spec struct {
				Format string
				Fields []string `xml:"Fields>member"`
			}
			Location struct {
				ObjectArn       string
				ObjectVersionId string `xml:",omitempty"`
				ETag            string
			}
		}
		Operation struct {
			S3ReplicateObject struct{}
		}
		Priority           int32
		ProgressSummary    progressXML
		StatusUpdateReason string       `xml:",omitempty"`
		FailureReasons     []failureXML `xml:"FailureReasons>member,omitempty"`
		Report             struct {
			Bucket      string `xml:",omitempty"`
			Format      string `xml:",omitempty"`
			Enabled     bool
			Prefix      string `xml:",omitempty"`
			ReportScope string `xml:",omitempty"`
		}
		CreationTime    string
		TerminationDate string `xml:",omitempty"`
		RoleArn         string
		SuspendedDate   string `xml:",omitempty"`
		SuspendedCause  string `xml:",omitempty"`
	}
	d := descriptor{
		JobID: j.ID, ConfirmationRequired: j.ConfirmationRequired, Description: j.Description, JobArn: j.ARN, Status: j.Status,
		Priority: j.Priority, ProgressSummary: b.progressLocked(j), StatusUpdateReason: j.StatusUpdateReason,
		CreationTime: xmlTime(j.CreationTime), TerminationDate: xmlTime(j.TerminationDate), RoleArn: j.RoleARN,
		SuspendedDate: xmlTime(j.SuspendedDate), SuspendedCause: j.SuspendedCause,
	}
	d.Manifest.Spec.Format, d.Manifest.Spec.Fields = j.Manifest.Format, j.Manifest.Fields
	d.Manifest.Location.ObjectArn, d.Manifest.Location.ObjectVersionId, d.Manifest.Location.ETag = j.Manifest.ObjectARN, j.Manifest.ObjectVersionID, j.Manifest.ETag
	for _, f := range j.FailureReasons {
		d.FailureReasons = append(d.FailureReasons, failureXML{f.Code, f.Reason})
	}
	d.Report.Bucket, d.Report.Format, d.Report.Enabled, d.Report.Prefix, d.Report.ReportScope = j.Report.BucketARN, j.Report.Format, j.Report.Enabled, j.Report.Prefix, j.Report.Scope
	b.mu.Unlock()
	return writeXML(w, struct {
		XMLName xml.Name   `xml:"DescribeJobResult"`
		Xmlns   string     `xml:"xmlns,attr"`
		Job     descriptor `xml:"Job"`
	}{Xmlns: s3ControlXmlns, Job: d})
}

func (b *batchOps) listJobs(w http.ResponseWriter, account string, q url.Values) error {
	max := 1000
	if s := q.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return &s3ControlError{http.StatusBadRequest, "InvalidRequestException", "maxResults must be between 0 and 1000."}
		}
		if n > 0 {
			max = n
		}
	}
	start := 0
	if tok := q.Get("nextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, aerr := strconv.Atoi(string(raw))
		if err != nil || aerr != nil || n < 0 {
			return &s3ControlError{http.StatusBadRequest, "InvalidNextTokenException", "The next token is not valid."}
		}
		start = n
	}
	statuses := set(q["jobStatuses"]...)
	type entry struct {
		JobID           string `xml:"JobId"`
		Description     string `xml:",omitempty"`
		Operation       string
		Priority        int32
		Status          string
		CreationTime    string
		TerminationDate string `xml:",omitempty"`
		ProgressSummary progressXML
	}
	out := struct {
		XMLName   xml.Name `xml:"ListJobsResult"`
		Xmlns     string   `xml:"xmlns,attr"`
		NextToken string   `xml:",omitempty"`
		Jobs      []entry  `xml:"Jobs>member"`
	}{Xmlns: s3ControlXmlns}
	b.mu.Lock()
	var matching []*job
	for _, id := range b.order {
		j := b.jobs[id]
		if j.Account == account && (len(statuses) == 0 || statuses[j.Status]) {
			matching = append(matching, j)
		}
	}
	for i := start; i < len(matching); i++ {
		if len(out.Jobs) == max {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(i)))
			break
		}
		j := matching[i]
		out.Jobs = append(out.Jobs, entry{j.ID, j.Description, j.Operation, j.Priority, j.Status,
			xmlTime(j.CreationTime), xmlTime(j.TerminationDate), b.progressLocked(j)})
	}
	b.mu.Unlock()
	return writeXML(w, out)
}

// list returns copies of every job, oldest first.
func (b *batchOps) list() []Job {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Job, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, b.snapshotLocked(b.jobs[id]))
	}
	return out
}

func (b *batchOps) snapshotLocked(j *job) Job {
	c := j.Job
	c.Tasks = append([]JobTask{}, j.Tasks...)
	c.FailureReasons = append([]JobFailure(nil), j.FailureReasons...)
	c.ReportKeys = append([]string(nil), j.ReportKeys...)
	c.Manifest.Fields = append([]string(nil), j.Manifest.Fields...)
	return c
}

// Jobs returns every S3 Batch Operations job created so far, oldest first.
func (sb *Sandbox) Jobs() []Job { return sb.batch.list() }

// Job returns a job by id.
func (sb *Sandbox) Job(id string) (Job, bool) {
	sb.batch.mu.Lock()
	defer sb.batch.mu.Unlock()
	j := sb.batch.jobs[id]
	if j == nil {
		return Job{}, false
	}
	return sb.batch.snapshotLocked(j), true
}
