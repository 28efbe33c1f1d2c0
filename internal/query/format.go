package query

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/replaudit/replaudit/internal/alert"
	"github.com/replaudit/replaudit/internal/ledger"
)

// Row is one item as auditors see it, in every format.
type Row struct {
	Bucket           string   `json:"bucket"`
	Key              string   `json:"key"`
	VersionID        string   `json:"versionId"`
	Destination      string   `json:"destination"`
	Verdict          string   `json:"verdict"`
	EventTime        string   `json:"eventTime"`
	FirstSeen        string   `json:"firstSeen"`
	LastChecked      string   `json:"lastChecked"`
	Checks           int      `json:"checks"`
	LagSeconds       *float64 `json:"lagSecondsAtMost,omitempty"`
	FailureReason    string   `json:"failureReason,omitempty"`
	ReplicaVersionID string   `json:"replicaVersionId,omitempty"`
	ReplicaETag      string   `json:"replicaETag,omitempty"`
	ReplicaChecksum  string   `json:"replicaChecksum,omitempty"`
	VerifiedAt       string   `json:"verifiedAt,omitempty"`
	Alert            string   `json:"alert,omitempty"`
	Detail           string   `json:"detail,omitempty"`
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// RowOf turns an item into a row.
func RowOf(it ledger.Item) Row {
	r := Row{Bucket: it.Bucket, Key: it.ObjectKey, VersionID: it.VersionID, Destination: it.Destination,
		Verdict: string(it.Verdict), EventTime: stamp(it.EventTime), FirstSeen: stamp(it.FirstSeen),
		LastChecked: stamp(it.LastChecked), Checks: it.Checks, LagSeconds: it.LagSeconds,
		FailureReason: it.FailureReason, Alert: it.Alert, Detail: it.Detail}
	if rep := it.Replica; rep != nil {
		r.ReplicaVersionID, r.ReplicaETag, r.ReplicaChecksum, r.VerifiedAt = rep.VersionID, rep.ETag, rep.Checksum, stamp(rep.VerifiedAt)
	}
	return r
}

// Formats.
const (
	Table = "table"
	CSV   = "csv"
	JSON  = "json"
	JSONL = "jsonl"
)

// Writer writes rows in one format, as they come: a table is flushed at
// the end, the other formats stream.
type Writer interface {
	Write(Row) error
	Close() error
}

// NewWriter returns a Writer for a format.
func NewWriter(w io.Writer, format string) (Writer, error) {
	switch format {
	case Table:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BUCKET\tKEY\tVERSION\tDESTINATION\tVERDICT\tEVENT TIME\tLAG ≤\tREASON")
		return &tableWriter{tw: tw}, nil
	case CSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return nil, err
		}
		return &csvWriter{cw: cw}, nil
	case JSON:
		return &jsonWriter{w: w, first: true}, nil
	case JSONL:
		return &jsonlWriter{enc: json.NewEncoder(w)}, nil
	}
	return nil, fmt.Errorf("%w: unknown format %q: want table, csv, json or jsonl", ErrUsage, format)
}

type tableWriter struct{ tw *tabwriter.Writer }

func short(v string) string {
	if len(v) > 10 {
		return v[:10] + "…"
	}
	return v
}

func lag(s *float64) string {
	if s == nil {
		return "-"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64) + "s"
}

func (t *tableWriter) Write(r Row) error {
	_, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", alert.Sanitize(r.Bucket), alert.Sanitize(r.Key), short(r.VersionID),
		r.Destination, r.Verdict, r.EventTime, lag(r.LagSeconds), r.FailureReason)
	return err
}

func (t *tableWriter) Close() error { return t.tw.Flush() }

var csvHeader = []string{"bucket", "key", "versionId", "destination", "verdict", "eventTime", "firstSeen", "lastChecked",
	"checks", "lagSecondsAtMost", "failureReason", "replicaVersionId", "replicaETag", "replicaChecksum", "verifiedAt", "alert", "detail"}

type csvWriter struct{ cw *csv.Writer }

// cell defuses text a spreadsheet would run as a formula (a leading = + - @,
// tab or carriage return) with a leading apostrophe, as OWASP advises. A
// value that itself starts with an apostrophe gets one more, so the original
// is always the cell less its first character when that is an apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *csvWriter) Write(r Row) error {
	lagS := ""
	if r.LagSeconds != nil {
		lagS = strconv.FormatFloat(*r.LagSeconds, 'f', 3, 64)
	}
	return c.cw.Write([]string{cell(r.Bucket), cell(r.Key), cell(r.VersionID), cell(r.Destination), r.Verdict, r.EventTime, r.FirstSeen,
		r.LastChecked, strconv.Itoa(r.Checks), lagS, cell(r.FailureReason), cell(r.ReplicaVersionID), cell(r.ReplicaETag), cell(r.ReplicaChecksum),
		r.VerifiedAt, r.Alert, cell(r.Detail)})
}

func (c *csvWriter) Close() error { c.cw.Flush(); return c.cw.Error() }

type jsonWriter struct {
	w     io.Writer
	first bool
}

func (j *jsonWriter) Write(r Row) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sep := ",\n  "
	if j.first {
		sep, j.first = "[\n  ", false
	}
	_, err = fmt.Fprintf(j.w, "%s%s", sep, b)
	return err
}

func (j *jsonWriter) Close() error {
	if j.first {
		_, err := fmt.Fprintln(j.w, "[]")
		return err
	}
	_, err := fmt.Fprintln(j.w, "\n]")
	return err
}

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) Write(r Row) error { return j.enc.Encode(r) }
func (j *jsonlWriter) Close() error      { return nil }
