package query

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/replaudit/replaudit/internal/ledger"
	"github.com/replaudit/replaudit/internal/safetext"
)

// Row is one item as auditors see it, in every format.
type Row struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	VersionID   string `json:"versionId"`
	Destination string `json:"destination"`
	Verdict     string `json:"verdict"`
	EventTime   string `json:"eventTime"`
	// EventTimeClamped: the event said the version was written in the
	// future; EventTime is when it was first checked instead.
	EventTimeClamped bool     `json:"eventTimeClamped,omitempty"`
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
		Verdict: string(it.Verdict), EventTime: stamp(it.EventTime), EventTimeClamped: it.EventTimeClamped, FirstSeen: stamp(it.FirstSeen),
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

// NewWriter returns a Writer for a format. The table shows text as
// safetext.Line does, for people, wherever it goes; CSV, JSON and JSON lines
// keep it exact, the JSON with control and format characters written as
// escapes. Output bound for a terminal is escaped whole, whatever its format,
// by whoever knows it is one (the command line, through safetext.Writer).
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
		return &jsonlWriter{w: w}, nil
	}
	return nil, fmt.Errorf("%w: unknown format %q: want table, csv, json or jsonl", ErrUsage, format)
}

type tableWriter struct{ tw *tabwriter.Writer }

// short cuts a version id for the table, on a rune boundary.
func short(v string) string {
	if utf8.RuneCountInString(v) > 10 {
		return string([]rune(v)[:10]) + "…"
	}
	return v
}

func lag(s *float64) string {
	if s == nil {
		return "-"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64) + "s"
}

// Write escapes every cell as safetext.Line does: a tab or newline in a key
// would otherwise break the columns, and a bidi override reorder the row.
func (t *tableWriter) Write(r Row) error {
	cells := []string{r.Bucket, r.Key, short(safetext.Line(r.VersionID)), r.Destination, r.Verdict, r.EventTime, lag(r.LagSeconds), r.FailureReason}
	for i, c := range cells {
		cells[i] = safetext.Line(c)
	}
	_, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	return err
}

func (t *tableWriter) Close() error { return t.tw.Flush() }

var csvHeader = []string{"bucket", "key", "versionId", "destination", "verdict", "eventTime", "eventTimeClamped", "firstSeen", "lastChecked",
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
	return c.cw.Write([]string{cell(r.Bucket), cell(r.Key), cell(r.VersionID), cell(r.Destination), r.Verdict, r.EventTime, strconv.FormatBool(r.EventTimeClamped), r.FirstSeen,
		r.LastChecked, strconv.Itoa(r.Checks), lagS, cell(r.FailureReason), cell(r.ReplicaVersionID), cell(r.ReplicaETag), cell(r.ReplicaChecksum),
		r.VerifiedAt, r.Alert, cell(r.Detail)})
}

func (c *csvWriter) Close() error { c.cw.Flush(); return c.cw.Error() }

type jsonWriter struct {
	w     io.Writer
	first bool
}

func (j *jsonWriter) Write(r Row) error {
	b, err := safetext.MarshalJSON(r)
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

type jsonlWriter struct{ w io.Writer }

func (j *jsonlWriter) Write(r Row) error {
	b, err := safetext.MarshalJSON(r)
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(b, '\n'))
	return err
}

func (j *jsonlWriter) Close() error { return nil }
