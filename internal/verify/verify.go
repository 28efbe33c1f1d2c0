package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/replaudit/replaudit/internal/audit"
	"github.com/replaudit/replaudit/internal/incident"
	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/reconcile"
)

// Outcome is what the destination's inventory says of one version.
type Outcome string

// The outcomes. MISSING and DIVERGED are the ledger's verdicts.
const (
	// Missing: the source's inventory says the version replicated, and the
	// destination's lists no version of the key with its version id.
	Missing = Outcome(audit.Missing)
	// Diverged: the destination lists it, with another size, ETag,
	// checksum algorithm, or kind (object or delete marker).
	Diverged = Outcome(audit.Diverged)
	// Orphan: the destination lists a version the source's inventory does
	// not: deleted from the source since (S3 never replicates version
	// deletes), or written to the destination directly.
	Orphan Outcome = "ORPHAN"
)

// Outcomes lists the outcomes in a summary's order.
var Outcomes = []Outcome{Missing, Diverged, Orphan}

// Problem is one version the verification found wrong.
type Problem struct {
	Outcome Outcome `json:"outcome"`
	// Bucket holds the version: the source's, or for an ORPHAN the
	// destination's.
	Bucket       string `json:"bucket"`
	Key          string `json:"key"`
	VersionID    string `json:"versionId"`
	DeleteMarker bool   `json:"deleteMarker,omitempty"`
	// Size, ETag and LastModified are the source's; for an ORPHAN, the
	// destination's.
	Size         int64     `json:"size"`
	ETag         string    `json:"etag,omitempty"`
	LastModified time.Time `json:"lastModified"`
	// The replica's, for DIVERGED; Status is the destination's
	// replication status (REPLICA, or empty for a version written there
	// directly).
	ReplicaSize *int64 `json:"replicaSize,omitempty"`
	ReplicaETag string `json:"replicaEtag,omitempty"`
	Status      string `json:"status,omitempty"`
	// Differences says what differs, for DIVERGED.
	Differences []string `json:"differences,omitempty"`
}

// Options configure a Verifier.
type Options struct {
	// Engine runs the SQL.
	Engine Engine
	// EngineName names it in summaries (duckdb, athena).
	EngineName string
	// Ledger records a finding per MISSING and DIVERGED version; nil
	// records none (a dry run).
	Ledger *ledger.Ledger
	// Summaries keeps the run's summary item in Table; nil keeps none.
	Summaries SummaryDB
	Table     string
	// Publisher sends one digest alert when anything is MISSING or
	// DIVERGED; nil sends none.
	Publisher incident.Publisher
	// Redrive receives every MISSING and DIVERGED version, for S3 Batch
	// Replication; nil lists none.
	Redrive reconcile.Manifests
	// Found, if set, is told of every problem as it is found.
	Found func(Problem) error
	// Settle is how long before an inventory began a version must have
	// been written to be judged: a younger one may have replicated after
	// the destination's inventory was taken. Default 6 hours.
	Settle time.Duration
	// Retention is how long summary items are kept; default 400 days.
	Retention time.Duration
	Log       *slog.Logger
	Clock     func() time.Time
}

// Verifier compares destinations with their sources from inventories.
type Verifier struct{ opts Options }

// New returns a Verifier.
func New(o Options) (*Verifier, error) {
	if o.Engine == nil {
		return nil, errors.New("verify: an engine is required")
	}
	if o.Summaries != nil && o.Table == "" {
		return nil, errors.New("verify: summaries need the ledger's table name")
	}
	if o.Settle <= 0 {
		o.Settle = 6 * time.Hour
	}
	if o.Retention <= 0 {
		o.Retention = 400 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Verifier{opts: o}, nil
}

// examples is how many problems of each outcome a summary keeps.
const examples = 10

// Summary is what a verification found.
type Summary struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Date is the inventories' day; the times, when each began.
	Date                string    `json:"date"`
	SourceManifest      string    `json:"sourceManifest"`
	DestinationManifest string    `json:"destinationManifest"`
	SourceTime          time.Time `json:"sourceInventoryTime"`
	DestinationTime     time.Time `json:"destinationInventoryTime"`
	Engine              string    `json:"engine"`
	VerifiedAt          time.Time `json:"verifiedAt"`
	// Compared says which optional comparisons the columns allowed.
	Compared Columns `json:"compared"`
	// Checked: source versions S3 says replicated and old enough to
	// judge; Unsettled: those too young, left to the next inventories.
	Checked   int64 `json:"checked"`
	Missing   int64 `json:"missing"`
	Diverged  int64 `json:"diverged"`
	Orphans   int64 `json:"orphans"`
	Unsettled int64 `json:"unsettled"`
	// Examples keeps the first problems of each outcome, by key.
	Examples map[Outcome][]Problem `json:"examples,omitempty"`
	// Recorded: findings written to the ledger (a resurvey's MISSING or
	// DIVERGED replaces VERIFIED); Kept: those the ledger kept another
	// verdict for (one no finding replaces, such as NOT_REPLICATED).
	Recorded int64 `json:"recorded"`
	Kept     int64 `json:"kept"`
	// RedriveManifest is where the versions to re-drive were listed.
	RedriveManifest string `json:"redriveManifest,omitempty"`
}

// Clean reports whether nothing is MISSING or DIVERGED.
func (s Summary) Clean() bool { return s.Missing == 0 && s.Diverged == 0 }

func (s *Summary) example(p Problem) {
	ex := append(s.Examples[p.Outcome], p)
	slices.SortFunc(ex, func(a, b Problem) int {
		return cmpStrings(a.Key+"\x00"+a.VersionID, b.Key+"\x00"+b.VersionID)
	})
	if len(ex) > examples {
		ex = ex[:examples]
	}
	s.Examples[p.Outcome] = ex
}

func cmpStrings(a, b string) int { return strings.Compare(a, b) }

// Verify compares the destination's inventory with the source's. It
// returns an error wrapping ErrBadInput for inventories that cannot be
// compared, and any error of the engine (a query that failed or timed
// out) as it is: never a clean summary it did not earn.
func (v *Verifier) Verify(ctx context.Context, src, dst Inventory) (Summary, error) {
	cols, err := Compatible(src, dst)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{
		Source: src.Manifest.SourceBucket, Destination: dst.Manifest.SourceBucket, Date: src.Date(),
		SourceManifest: src.URI(), DestinationManifest: dst.URI(),
		SourceTime: src.Manifest.Created(), DestinationTime: dst.Manifest.Created(),
		Engine: v.opts.EngineName, Compared: cols, Examples: map[Outcome][]Problem{},
	}
	tables, err := v.opts.Engine.Tables(ctx, src, dst)
	if err != nil {
		return Summary{}, err
	}
	sql, err := Render(tables, cols)
	if err != nil {
		return Summary{}, fmt.Errorf("render the query: %w", err)
	}
	// A version written after this was not necessarily replicated when
	// the other inventory was taken.
	missingAfter := s.DestinationTime.Add(-v.opts.Settle)
	orphanAfter := s.SourceTime.Add(-v.opts.Settle)
	task := reconcile.Task{Bucket: src.Bucket, Manifest: src.Key, Source: s.Source, Format: src.Manifest.FileFormat,
		Schema: src.Manifest.FileSchema, Created: s.SourceTime, File: inventory.File{Key: "verify-" + s.Destination}}
	var part reconcile.Part
	redrive := 0
	if v.opts.Redrive != nil {
		part = v.opts.Redrive.Part(task)
	}
	encoded := src.Format() == inventory.FormatCSV
	var checked int64
	qctx := ctx
	if v.opts.Ledger != nil {
		// The findings' verdicts go into the rollups in one add per day,
		// source and destination; until it applies, their items wait in
		// the attention index (see package ledger).
		batch := v.opts.Ledger.NewBatch(ctx, false)
		qctx = ledger.WithBatch(ctx, batch, "verify")
		defer func() {
			if _, err := batch.Flush(ctx); err != nil {
				v.opts.Log.Warn("rollup adds did not apply; their items stay due and a sweep adds them", "error", err)
			}
		}()
	}
	err = v.opts.Engine.Query(qctx, sql, func(cols []string) error {
		p, n, err := row(cols, encoded)
		if err != nil {
			return fmt.Errorf("read the query's result: %w", err)
		}
		switch p.Outcome {
		case "CHECKED":
			checked += n
			return nil
		case Orphan:
			p.Bucket = s.Destination
			if p.LastModified.After(orphanAfter) {
				return nil // younger than the source's inventory
			}
			s.Orphans++
		case Missing:
			p.Bucket = s.Source
			if p.LastModified.After(missingAfter) {
				s.Unsettled++
				return nil
			}
			s.Missing++
		case Diverged:
			p.Bucket = s.Source
			s.Diverged++
		}
		s.example(p)
		if p.Outcome != Orphan {
			if part != nil {
				if err := part.Write(inventory.Row{Bucket: p.Bucket, Key: p.Key, VersionID: p.VersionID}); err != nil {
					return fmt.Errorf("write the re-drive manifest: %w", err)
				}
				redrive++
			}
			if err := v.record(qctx, &s, p, dst); err != nil {
				return err
			}
		}
		if v.opts.Found != nil {
			return v.opts.Found(p)
		}
		return nil
	})
	if err != nil {
		if part != nil {
			part.Abort()
		}
		return Summary{}, err
	}
	s.Checked = checked - s.Unsettled
	if part != nil {
		if err := part.Close(ctx); err != nil {
			return Summary{}, fmt.Errorf("write the re-drive manifest: %w", err)
		}
		if redrive > 0 {
			if s.RedriveManifest, _, err = v.opts.Redrive.Join(ctx, task); err != nil {
				return Summary{}, fmt.Errorf("write the re-drive manifest: %w", err)
			}
		}
	}
	s.VerifiedAt = v.opts.Clock().UTC()
	if v.opts.Summaries != nil {
		if err := putSummary(ctx, v.opts.Summaries, v.opts.Table, s, v.opts.Retention); err != nil {
			return s, err
		}
	}
	if !s.Clean() && v.opts.Publisher != nil {
		refused, err := v.opts.Publisher.Publish(ctx, Digest(s))
		if refused != nil {
			v.opts.Log.Error("SNS refused the verification's digest; it was sent without its subject and attributes", "source", s.Source, "error", refused)
		}
		if err != nil {
			return s, fmt.Errorf("send the verification's digest: %w", err)
		}
	}
	v.opts.Log.Info("destination verified from inventories", "source", s.Source, "destination", s.Destination, "date", s.Date,
		"checked", s.Checked, "missing", s.Missing, "diverged", s.Diverged, "orphans", s.Orphans, "unsettled", s.Unsettled)
	return s, nil
}

// record writes a MISSING or DIVERGED finding to the ledger.
func (v *Verifier) record(ctx context.Context, s *Summary, p Problem, dst Inventory) error {
	if v.opts.Ledger == nil {
		return nil
	}
	f := audit.Finding{Bucket: p.Bucket, Key: p.Key, VersionID: p.VersionID, Destination: s.Destination, Verdict: audit.Verdict(p.Outcome),
		Size: p.Size, ETag: p.ETag, EventTime: p.LastModified, CheckedAt: v.opts.Clock(), DeleteMarker: p.DeleteMarker, Resurvey: true}
	switch p.Outcome {
	case Missing:
		f.Detail = fmt.Sprintf("S3 Inventory of %s of %s lists no version %s of the key, which the source's inventory says replicated (COMPLETED).",
			s.Date, s.Destination, p.VersionID)
	case Diverged:
		rep := &audit.Replica{VersionID: p.VersionID, ETag: p.ReplicaETag, Status: p.Status, VerifiedAt: s.DestinationTime}
		if p.ReplicaSize != nil {
			rep.Size = *p.ReplicaSize
		}
		f.Replica, f.Differences = rep, p.Differences
		f.Detail = fmt.Sprintf("S3 Inventory of %s of %s lists the replica differing from the source: %s.", s.Date, s.Destination, strings.Join(p.Differences, "; "))
	}
	it, err := v.opts.Ledger.Record(ctx, f)
	if err != nil {
		return fmt.Errorf("record %s of s3://%s/%s: %w", p.Outcome, p.Bucket, p.Key, err)
	}
	if it.Verdict != f.Verdict {
		s.Kept++
	} else {
		s.Recorded++
	}
	return nil
}
