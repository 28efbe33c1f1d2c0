package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/awscall"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// S3 holds the calls a reconciler makes in the inventory bucket: it reads
// the inventory, and uploads the remediation manifest beside it in parts
// as long as it needs.
type S3 interface {
	transfermanager.S3APIClient
}

// QuietChecksums keeps an S3 client from logging, in plain text, each
// object it reads without a checksum to validate, as inventory files are.
func QuietChecksums(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true }

// Jobs holds the S3 Batch Operations call a re-drive makes.
type Jobs interface {
	CreateJob(context.Context, *s3control.CreateJobInput, ...func(*s3control.Options)) (*s3control.CreateJobOutput, error)
}

// Dispatcher hands file tasks to workers: an SQS queue in the function, a
// pool of goroutines on the command line.
type Dispatcher interface {
	Dispatch(ctx context.Context, tasks []Task) error
}

// Redrive says what a run does with its remediation manifest.
type Redrive struct {
	// Mode is Off (print the command), Confirm (create the job, waiting
	// for a person to confirm it) or Run (create it ready to run).
	Mode string
	// RoleArn is the role S3 Batch Operations assumes: the stack's
	// replication role.
	RoleArn string
	// Account is the account the job runs in; the role's by default.
	Account string
}

// Re-drive modes.
const (
	RedriveOff     = "false"
	RedriveConfirm = "confirm"
	RedriveRun     = "true"
)

// Options configure a Reconciler.
type Options struct {
	// S3 reads the inventory bucket, in its region.
	S3 S3
	// Checker decides scope (the source's rules) and checks replicas.
	Checker *audit.Checker
	// Tracker and Ledger record findings; nil leaves the ledger alone
	// (a dry run from the command line).
	Tracker *incident.Tracker
	Ledger  *ledger.Ledger
	// Runs keeps run items on the ledger's table, which count each file
	// once and close the run; nil: the caller counts and closes (the
	// command line).
	Runs RunDB
	// Dispatch hands file tasks to workers; Local needs none.
	Dispatch Dispatcher
	// Progress, if set, is told of each inventory byte read.
	Progress func(bytes int64)
	// Manifests is where remediation manifests go; beside the inventory
	// in S3 by default.
	Manifests Manifests
	// Jobs creates S3 Batch Replication jobs; nil: the command is printed.
	Jobs    Jobs
	Redrive Redrive
	// Publisher sends a run's digest alert; nil: none.
	Publisher incident.Publisher
	// Sources reports whether the stack audits a source bucket; nil: any.
	Sources func(bucket string) bool
	// Allowance is how long a version of a size may stay PENDING.
	Allowance func(size int64) time.Duration
	// Concurrency bounds the ledger work of one file.
	Concurrency int
	// Lease is how long a closing is left to its holder.
	Lease time.Duration
	// Retention is how long run items are kept.
	Retention time.Duration
	Log       *slog.Logger
	// Metrics receives CloudWatch embedded-metric lines.
	Metrics io.Writer
	Clock   func() time.Time
}

// Reconciler reconciles inventories.
type Reconciler struct {
	opts Options
	runs runs
}

// New returns a Reconciler.
func New(o Options, optFns ...func(*Options)) (*Reconciler, error) {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.S3 == nil || o.Checker == nil {
		return nil, errors.New("reconcile: an S3 client and a checker are required")
	}
	if (o.Ledger == nil) != (o.Tracker == nil) || o.Runs != nil && o.Ledger == nil {
		return nil, errors.New("reconcile: a ledger goes with its tracker, and runs with a ledger")
	}
	if o.Manifests == nil {
		o.Manifests = S3Manifests{S3: o.S3}
	}
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 400 * 24 * time.Hour
	}
	if o.Redrive.Mode == "" {
		o.Redrive.Mode = RedriveOff
	}
	if parts := strings.Split(o.Redrive.RoleArn, ":"); o.Redrive.Account == "" && len(parts) > 4 {
		o.Redrive.Account = parts[4] // arn:aws:iam::ACCOUNT:role/...
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = io.Discard
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	r := &Reconciler{opts: o}
	if o.Runs != nil {
		r.runs = runs{db: o.Runs, table: o.Ledger.Table(), retention: o.Retention}
	}
	return r, nil
}

// Errors a run may meet that retrying will not mend.
var (
	// ErrForeign marks an inventory of a bucket this stack does not audit.
	ErrForeign = errors.New("an inventory of a bucket this stack does not audit")
	// ErrBadManifest marks a manifest that cannot be reconciled as it is.
	ErrBadManifest = errors.New("the inventory's manifest cannot be used")
)

// Task is one data file of a run, for a worker.
type Task struct {
	Run      ledger.Key     `json:"run"`
	Bucket   string         `json:"bucket"`   // the inventory bucket
	Manifest string         `json:"manifest"` // the key of manifest.json
	Source   string         `json:"source"`
	Format   string         `json:"format"`
	Schema   string         `json:"schema"`
	Created  time.Time      `json:"created"`
	Since    time.Time      `json:"since"`
	File     inventory.File `json:"file"`
}

func (t Task) manifest() inventory.Manifest {
	return inventory.Manifest{SourceBucket: t.Source, FileFormat: t.Format, FileSchema: t.Schema,
		CreationTimestamp: fmt.Sprint(t.Created.UnixMilli()), Files: []inventory.File{t.File}}
}

func (r *Reconciler) get(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := r.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 64<<20))
}

// Start begins the run of an inventory whose manifest.json landed: it
// validates the manifest and hands one task per data file to the workers.
// A manifest delivered again starts nothing new: its run exists, and its
// files are counted once.
func (r *Reconciler) Start(ctx context.Context, bucket, key string) (Run, error) {
	if r.opts.Dispatch == nil {
		return Run{}, errors.New("reconcile: a run needs a dispatcher for its files")
	}
	data, err := r.get(ctx, bucket, key)
	var gone *s3types.NoSuchKey
	switch {
	case errors.As(err, &gone):
		return Run{}, fmt.Errorf("%w: %w", ErrBadManifest, err) // deleted since its notification: it will not come back
	case err != nil:
		return Run{}, err
	}
	sum, err := r.get(ctx, bucket, strings.TrimSuffix(key, ".json")+".checksum")
	if err != nil {
		return Run{}, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	m, err := inventory.ParseManifest(data, sum)
	if err != nil {
		return Run{}, fmt.Errorf("%w: s3://%s/%s: %w", ErrBadManifest, bucket, key, err)
	}
	if r.opts.Sources != nil && !r.opts.Sources(m.SourceBucket) {
		return Run{}, fmt.Errorf("%w: s3://%s/%s lists %s", ErrForeign, bucket, key, m.SourceBucket)
	}
	manifest := "s3://" + bucket + "/" + key
	rn := Run{Source: m.SourceBucket, Manifest: manifest, InventoryBucket: bucket, Created: m.Created(), Files: len(m.Files)}
	rn.Key = runKey(m.SourceBucket, manifest, rn.Created)
	if r.opts.Runs != nil {
		prev, err := r.runs.previous(ctx, m.SourceBucket, rn.Created)
		if err != nil {
			return Run{}, err
		}
		if prev != nil {
			// Versions written well before the previous complete run were
			// looked up then; only problems are looked up again.
			rn.Since = prev.Created.Add(-48 * time.Hour)
		}
		have, err := r.runs.start(ctx, rn.Key, rn)
		if err != nil {
			return Run{}, err
		}
		if have != nil && have.State != Running {
			r.opts.Log.Info("inventory run already closed; the manifest was delivered again", "manifest", manifest, "state", have.State)
			return *have, nil
		}
	}
	tasks := make([]Task, len(m.Files))
	for i, f := range m.Files {
		tasks[i] = Task{Run: rn.Key, Bucket: bucket, Manifest: key, Source: m.SourceBucket, Format: m.FileFormat, Schema: m.FileSchema,
			Created: rn.Created, Since: rn.Since, File: f}
	}
	r.opts.Log.Info("inventory run started", "manifest", manifest, "source", m.SourceBucket, "files", len(m.Files))
	if err := r.opts.Dispatch.Dispatch(ctx, tasks); err != nil {
		return rn, fmt.Errorf("hand out the files of %s: %w", manifest, err)
	}
	return rn, nil
}

// RunPrefix is where in the inventory bucket runs write their own objects
// (parts, remediation manifests, Batch Replication reports): outside the
// inventory's prefix, so that nothing a run writes is taken for an
// inventory, such as a job report's manifest.json.
const RunPrefix = "replaudit/"

// dir is where a run's own objects go: under RunPrefix, at the path of the
// inventory's manifest and its time, so no two runs share one.
func (t Task) dir() string {
	return RunPrefix + strings.TrimSuffix(t.Manifest, "manifest.json") + strconv.FormatInt(t.Created.UnixMilli(), 10) + "/"
}

// File reads one data file of a run and counts it once; whichever worker
// counts the last file closes the run. It returns an error when the file
// should be tried again; a file that cannot be read as it is (missing, a
// checksum that does not match, a truncated gzip, a corrupt Parquet file)
// is counted as failed, and the run will say INCOMPLETE.
func (r *Reconciler) File(ctx context.Context, t Task) (Counts, error) {
	if r.opts.Runs != nil {
		rn, err := r.runs.get(ctx, t.Run)
		if err != nil {
			return Counts{}, err
		}
		if rn.counted(t.File.Key) {
			return rn.Counts, r.maybeClose(ctx, t, rn.Done)
		}
	}
	c, failure, err := r.readInBatch(ctx, t)
	if err != nil {
		return c, err
	}
	if failure != "" {
		r.opts.Log.Error("inventory file could not be read; the run is INCOMPLETE", "file", t.File.Key, "reason", failure)
		c.Failure = failure
	}
	if r.opts.Runs == nil {
		return c, nil
	}
	done, _, err := r.runs.counted(ctx, t.Run, t.File.Key, c, failure)
	if err != nil {
		return c, err
	}
	return c, r.maybeClose(ctx, t, done)
}

// readInBatch reads a file with the verdicts it records added to the
// rollups in one add per day, source and destination, before the file is
// counted. A counted file is not read again when its task comes back, so
// until the add applies its items wait in the attention index, not for
// the task (see package ledger).
func (r *Reconciler) readInBatch(ctx context.Context, t Task) (Counts, string, error) {
	if r.opts.Ledger == nil {
		return r.read(ctx, t)
	}
	b := r.opts.Ledger.NewBatch(ctx, false)
	c, failure, err := r.read(ledger.WithBatch(ctx, b, t.File.Key), t)
	if _, ferr := b.Flush(ctx); ferr != nil {
		r.opts.Log.Warn("rollup adds did not apply; their items stay due and a sweep adds them", "file", t.File.Key, "error", ferr)
	}
	return c, failure, err
}

func (rn Run) counted(file string) bool { return rn.Counted[hex.EncodeToString(fileHash(file))] }

// read streams one data file: it classifies every row, counts it, writes
// the versions to re-drive into the run's part for the file, and records
// the ledger's findings. failure says why the file could not be read, if
// it could not; err, that the work should be tried again.
func (r *Reconciler) read(ctx context.Context, t Task) (c Counts, failure string, err error) {
	c = newCounts()
	cfg, err := r.opts.Checker.Config(ctx, t.Source)
	if err != nil {
		return c, "", err
	}
	scope := Scope{Config: cfg, Audited: r.opts.Checker.Audited, Allowance: r.opts.Allowance}
	rows, closeRows, err := r.open(ctx, t)
	switch {
	case err == nil:
	case damaged(err), !awscall.Transient(err) && ctx.Err() == nil:
		// Damaged, missing or forbidden: the run is INCOMPLETE, and says why.
		return newCounts(), err.Error(), nil
	default:
		return c, "", err
	}
	defer closeRows()
	part := r.opts.Manifests.Part(t)
	rec := r.recorder(t, &c)
	for {
		row, err := rows.Next()
		var rowErr *inventory.RowError
		switch {
		case errors.Is(err, io.EOF):
			if err := rec.flush(ctx); err != nil {
				part.Abort()
				return c, "", err
			}
			if err := part.Close(ctx); err != nil {
				return c, "", err
			}
			return c, "", nil
		case errors.As(err, &rowErr):
			c.Skipped[skipReason(rowErr)]++
			r.opts.Log.Warn("inventory row skipped", "file", t.File.Key, "line", rowErr.Line, "column", rowErr.Column, "reason", rowErr.Reason)
			continue
		case err != nil:
			part.Abort()
			if damaged(err) {
				return newCounts(), err.Error(), nil
			}
			return c, "", err // the download broke: read the file again
		}
		class, rules := scope.Classify(row, t.Created)
		c.add(class, row.Size, row.Key)
		if class.Redrive() {
			if err := part.Write(row); err != nil {
				return c, "", err
			}
			c.Redrive++
		}
		if err := rec.add(ctx, row, class, rules); err != nil {
			part.Abort()
			return c, "", err
		}
	}
}

// open starts reading a data file as it streams from S3. A Parquet file
// needs random access: the reader spools it to a temporary file first.
// close ends the reading and the download.
func (r *Reconciler) open(ctx context.Context, t Task) (rd *inventory.Reader, close func(), err error) {
	out, err := r.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.Bucket), Key: aws.String(t.File.Key)})
	if err != nil {
		return nil, nil, fmt.Errorf("read s3://%s/%s: %w", t.Bucket, t.File.Key, err)
	}
	var body io.Reader = out.Body
	if r.opts.Progress != nil {
		body = progressReader{r: out.Body, report: r.opts.Progress}
	}
	rd, err = inventory.NewReader(body, t.manifest(), t.File)
	if err != nil {
		out.Body.Close()
		return nil, nil, fmt.Errorf("s3://%s/%s: %w", t.Bucket, t.File.Key, err)
	}
	return rd, func() { rd.Close(); out.Body.Close() }, nil
}

// damaged reports whether an error is the data file's own: its bytes are
// not the manifest's, or cannot be decoded. Reading it again will not
// mend it.
func damaged(err error) bool {
	return errors.Is(err, inventory.ErrChecksum) || errors.Is(err, inventory.ErrSize) || errors.Is(err, inventory.ErrCorrupt)
}

// skipReason is how a summary counts a skipped row: by the column that was
// wrong.
func skipReason(e *inventory.RowError) string {
	switch e.Column {
	case "":
		return "malformed line"
	case "Bucket":
		return "another bucket's row"
	case "Key":
		return "bad Key"
	}
	return "bad " + e.Column
}

// progressReader tells Progress of each byte read.
type progressReader struct {
	r      io.Reader
	report func(int64)
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.report(int64(n))
	}
	return n, err
}

// recorder batches rows for the ledger: a hundred versions looked up in
// one read, their findings written as few as the ledger needs.
type recorder struct {
	r     *Reconciler
	t     Task
	c     *Counts
	batch []entry
}

type entry struct {
	row   inventory.Row
	class Class
	rules []replication.Rule
}

func (r *Reconciler) recorder(t Task, c *Counts) *recorder { return &recorder{r: r, t: t, c: c} }

// add queues a row for the ledger, if it needs a look: every problem, and
// the other versions in scope written since the previous complete run.
func (rec *recorder) add(ctx context.Context, row inventory.Row, class Class, rules []replication.Rule) error {
	if rec.r.opts.Ledger == nil || len(rules) == 0 {
		return nil
	}
	switch class {
	case Failed, NotReplicated, LongPending:
	case Replicated, Pending:
		if row.LastModified.Before(rec.t.Since) {
			return nil
		}
	default:
		return nil
	}
	rec.batch = append(rec.batch, entry{row: row, class: class, rules: rules})
	if len(rec.batch) < 100 {
		return nil
	}
	return rec.flush(ctx)
}

func (rec *recorder) flush(ctx context.Context) error {
	batch := rec.batch
	rec.batch = nil
	if len(batch) == 0 {
		return nil
	}
	var keys []ledger.Key
	for _, e := range batch {
		for _, rule := range e.rules {
			keys = append(keys, ledger.KeyOf(e.row.Bucket, e.row.Key, e.row.VersionID, rule.Destination.Bucket()))
		}
	}
	items, err := rec.r.opts.Ledger.GetMany(ctx, keys)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, rec.r.opts.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, e := range batch {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			n, known, err := rec.settle(ctx, e, items)
			mu.Lock()
			defer mu.Unlock()
			rec.c.LookedUp++
			if known {
				rec.c.Known++
			}
			rec.c.Recorded += int64(n)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// settle records what a row tells the ledger, for the destinations whose
// items do not hold it yet, and never rewrites evidence already there.
func (rec *recorder) settle(ctx context.Context, e entry, items map[ledger.Key]ledger.Item) (recorded int, known bool, err error) {
	r := rec.r
	missing := map[string]*ledger.Item{}
	known = true
	for _, rule := range e.rules {
		dest := rule.Destination.Bucket()
		it, ok := items[ledger.KeyOf(e.row.Bucket, e.row.Key, e.row.VersionID, dest)]
		switch {
		case !ok:
			known = false
			missing[dest] = nil
		case it.Verdict != audit.NotReplicated:
			// The ledger's evidence stands; VERIFIED stays VERIFIED.
		case e.class == NotReplicated && r.opts.Redrive.Mode == RedriveRun, e.class == Replicated, e.class == Failed:
			// Never replicated when last seen: re-driven now, or
			// replicated (or failed) since.
			missing[dest] = &it
		}
	}
	if len(missing) == 0 {
		return 0, known, nil
	}
	var findings []audit.Finding
	switch e.class {
	case Replicated, Failed:
		// Checked against the replicas, as the auditor would: coverage is
		// evidence, not S3's word alone.
		fs, err := r.opts.Checker.Check(ctx, e.record())
		if err != nil {
			return 0, known, fmt.Errorf("check %s: %w", e.row.Key, err)
		}
		findings = fs
	default:
		for _, rule := range e.rules {
			findings = append(findings, rec.finding(e, rule))
		}
	}
	for _, f := range findings {
		cur, want := missing[f.Destination]
		if !want {
			continue
		}
		if _, err := r.opts.Tracker.SettleKnown(ctx, f, cur); err != nil {
			return recorded, known, err
		}
		recorded++
	}
	return recorded, known, nil
}

// record is the event S3 would have sent for the version.
func (e entry) record() events.S3EventRecord {
	return events.S3EventRecord{EventSource: "aws:s3", EventName: "ObjectCreated:Put", EventTime: e.row.LastModified,
		S3: events.S3Entity{Bucket: events.S3Bucket{Name: e.row.Bucket},
			Object: events.S3Object{Key: s3events.EncodeKey(e.row.Key), Size: e.row.Size, ETag: e.row.ETag, VersionID: e.row.VersionID}}}
}

func (rec *recorder) finding(e entry, rule replication.Rule) audit.Finding {
	f := audit.Finding{Bucket: e.row.Bucket, Key: e.row.Key, VersionID: e.row.VersionID, Destination: rule.Destination.Bucket(), RuleID: rule.ID,
		Size: e.row.Size, ETag: e.row.ETag, EventTime: e.row.LastModified, CheckedAt: rec.r.opts.Clock()}
	when := rec.t.Created.UTC().Format(time.DateOnly)
	switch {
	case e.class == NotReplicated && rec.r.opts.Redrive.Mode == RedriveRun:
		f.Verdict, f.RedriveAt = audit.Pending, rec.r.opts.Clock()
		f.Detail = "S3 Inventory of " + when + " lists no replication status: never replicated, typically written before the rule. The reconciliation re-drives it with S3 Batch Replication."
	case e.class == NotReplicated:
		f.Verdict = audit.NotReplicated
		f.Detail = "S3 Inventory of " + when + " lists no replication status: never replicated, typically written before the rule. It is in the run's remediation manifest."
	default:
		f.Verdict, f.Detail = audit.Pending, "S3 Inventory of "+when+" lists it PENDING."
	}
	return f
}

// token is a run's idempotency token for its re-drive job.
func token(k ledger.Key) string {
	sum := sha256.Sum256([]byte(k.PK + "\x00" + k.SK))
	return hex.EncodeToString(sum[:16])
}
