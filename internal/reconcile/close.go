package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/replication"
)

// errClosing returns a finished run's last message to the queue while
// another worker holds its closing: if that worker stopped, this one takes
// the closing over once its lease ends.
var errClosing = errors.New("another worker is closing the run")

// maybeClose closes the run when every file is counted.
func (r *Reconciler) maybeClose(ctx context.Context, t Task, done int) error {
	rn, err := r.runs.get(ctx, t.Run)
	if err != nil {
		return err
	}
	if rn.State != Running || done < rn.Files {
		return nil
	}
	tok := ledger.NewID()
	ok, err := r.runs.claimClose(ctx, t.Run, tok, r.opts.Clock(), r.opts.Lease)
	if err != nil {
		return err
	}
	if !ok {
		if rn, err = r.runs.get(ctx, t.Run); err == nil && rn.State == Running {
			return errClosing
		}
		return err
	}
	s, err := r.finish(ctx, t, rn.Files, rn.Counts, rn.Reasons)
	if err != nil {
		return err
	}
	js, _ := json.Marshal(s)
	return r.runs.closed(ctx, t.Run, tok, s.State, string(js), r.opts.Clock())
}

// Summary is what a run found.
type Summary struct {
	Source      string    `json:"source"`
	Manifest    string    `json:"manifest"`
	Inventory   time.Time `json:"inventoryTime"`
	State       string    `json:"state"`
	Files       int       `json:"files"`
	FailedFiles int       `json:"failedFiles"`
	Failures    []string  `json:"failures,omitempty"`
	Counts
	// RemediationManifest is the s3:// URI of the CSV of versions to
	// re-drive; Job, the Batch Replication job started for it; Command,
	// the command that starts one.
	RemediationManifest string `json:"remediationManifest,omitempty"`
	Job                 string `json:"job,omitempty"`
	Command             string `json:"command,omitempty"`
}

// InScope is how many versions the audited rules cover: every class but
// out of scope, scope unknown and delete markers.
func (s Summary) InScope() int64 {
	var n int64
	for _, c := range []Class{Replicated, Failed, LongPending, Pending, NotReplicated} {
		n += s.Objects[c]
	}
	return n
}

// NeverAudited is how many versions in scope the ledger held no verdict
// for when the run looked them up: their events never reached the
// auditor, or they predate the rule. The run recorded them. Versions
// older than the previous complete run were looked up by it.
func (s Summary) NeverAudited() int64 { return s.LookedUp - s.Known }

// NeedsReplication reports whether anything in scope is not replicated.
func (s Summary) NeedsReplication() bool { return s.Redrive > 0 || s.Objects[LongPending] > 0 }

// finish ends a run whose files are all read: the state, the remediation
// manifest, the re-drive, the digest alert. It is the closer's work, in
// the function and on the command line alike. failures says why each file
// that could not be read could not.
func (r *Reconciler) finish(ctx context.Context, t Task, files int, c Counts, failures []string) (Summary, error) {
	s := Summary{Source: t.Source, Manifest: "s3://" + t.Bucket + "/" + t.Manifest, Inventory: t.Created, Counts: c,
		Files: files, FailedFiles: len(failures), Failures: failures}
	switch {
	case s.FailedFiles > 0:
		s.State = Incomplete
	case s.NeedsReplication():
		s.State = NeedsReplication
	default:
		s.State = Clean
	}
	var etag string
	if c.Redrive > 0 {
		location, tag, err := r.opts.Manifests.Join(ctx, t)
		if err != nil {
			return s, err
		}
		s.RemediationManifest, etag = location, tag
	}
	if strings.HasPrefix(s.RemediationManifest, "s3://") {
		// Only a manifest in S3 can be re-driven.
		in := r.job(t, s.RemediationManifest, etag)
		if r.opts.Jobs != nil && r.opts.Redrive.Mode != RedriveOff {
			out, err := r.opts.Jobs.CreateJob(ctx, in)
			if err != nil {
				return s, fmt.Errorf("start the Batch Replication job for %s: %w", s.RemediationManifest, err)
			}
			s.Job = aws.ToString(out.JobId)
		} else {
			s.Command = command(in, t)
		}
	}
	if s.State != Clean && r.opts.Publisher != nil {
		refused, err := r.opts.Publisher.Publish(ctx, FormatSummary(s))
		if refused != nil {
			r.opts.Log.Error("SNS refused the reconciliation's digest; it was sent without its subject and attributes", "manifest", s.Manifest, "error", refused)
		}
		if err != nil {
			return s, fmt.Errorf("send the reconciliation's digest: %w", err)
		}
	}
	r.opts.Log.Info("inventory run closed", "manifest", s.Manifest, "state", s.State, "redrive", s.Redrive, "job", s.Job)
	return s, nil
}

// job is the S3 Batch Replication job for a run's manifest: each listed
// version replicated by the replication role, with a completion report.
func (r *Reconciler) job(t Task, location, etag string) *s3control.CreateJobInput {
	bucketARN := replication.BucketARN(t.Bucket)
	object := "arn:aws:s3:::" + strings.TrimPrefix(location, "s3://")
	return &s3control.CreateJobInput{
		AccountId:            aws.String(r.opts.Redrive.Account),
		ClientRequestToken:   aws.String(token(t.Run)),
		ConfirmationRequired: aws.Bool(r.opts.Redrive.Mode != RedriveRun),
		Description:          aws.String(truncate("replaudit re-drive of s3://"+t.Source+", inventory "+t.Created.UTC().Format(time.RFC3339), 256)),
		Operation:            &types.JobOperation{S3ReplicateObject: &types.S3ReplicateObjectOperation{}},
		Manifest: &types.JobManifest{
			Spec:     &types.JobManifestSpec{Format: types.JobManifestFormatS3BatchOperationsCsv20180820, Fields: []types.JobManifestFieldName{types.JobManifestFieldNameBucket, types.JobManifestFieldNameKey, types.JobManifestFieldNameVersionId}},
			Location: &types.JobManifestLocation{ObjectArn: aws.String(object), ETag: aws.String(etag)},
		},
		Report: &types.JobReport{Enabled: true, Bucket: aws.String(bucketARN), Prefix: aws.String(strings.TrimSuffix(t.dir(), "/") + "/report"),
			Format: types.JobReportFormatReportCsv20180820, ReportScope: types.JobReportScopeAllTasks},
		Priority: aws.Int32(10),
		RoleArn:  aws.String(r.opts.Redrive.RoleArn),
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// command is the AWS CLI call that starts a job, for a person to run.
func command(in *s3control.CreateJobInput, t Task) string {
	js := func(v any) string {
		b, _ := json.Marshal(v)
		return "'" + strings.ReplaceAll(string(b), "'", `'\''`) + "'"
	}
	account := aws.ToString(in.AccountId)
	if account == "" {
		account = "ACCOUNT_ID"
	}
	role := aws.ToString(in.RoleArn)
	if role == "" {
		role = "REPLICATION_ROLE_ARN"
	}
	return "aws s3control create-job --account-id " + account +
		" --operation " + js(map[string]any{"S3ReplicateObject": map[string]any{}}) +
		" --manifest " + js(map[string]any{"Spec": map[string]any{"Format": "S3BatchOperations_CSV_20180820", "Fields": []string{"Bucket", "Key", "VersionId"}},
		"Location": map[string]any{"ObjectArn": aws.ToString(in.Manifest.Location.ObjectArn), "ETag": aws.ToString(in.Manifest.Location.ETag)}}) +
		" --report " + js(map[string]any{"Bucket": aws.ToString(in.Report.Bucket), "Prefix": aws.ToString(in.Report.Prefix), "Format": "Report_CSV_20180820",
		"Enabled": true, "ReportScope": "AllTasks"}) +
		" --priority 10 --role-arn " + role + " --client-request-token " + aws.ToString(in.ClientRequestToken) + " --confirmation-required"
}
