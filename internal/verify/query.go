package verify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/replaudit/replaudit/internal/s3events"
)

// Engine runs the verification's SQL over two inventories.
type Engine interface {
	// Tables makes the two inventories queryable and returns how the SQL
	// names them.
	Tables(ctx context.Context, source, destination Inventory) (Tables, error)
	// Query runs one statement and streams its rows to row, each column
	// as a string ("" for NULL), in the order of the statement's columns.
	// An error from row stops the query and is returned.
	Query(ctx context.Context, sql string, row func([]string) error) error
}

// Tables names the inventories in the SQL: a table reference each, quoted
// as the engine needs, and a condition that keeps one inventory's rows
// ("" for all of them), such as Athena's partition dt = '...'.
type Tables struct {
	Source, Destination             string
	SourceFilter, DestinationFilter string
}

// Query is the verification's SQL, one text for every engine: a Go
// template over Tables and Columns. It reads the columns Athena's tables
// for S3 Inventory name (key, version_id, is_delete_marker, size, e_tag,
// last_modified_date, replication_status, encryption_status,
// checksum_algorithm), and casts each so that a CSV inventory's strings
// and a Parquet inventory's types read alike, in Trino and in DuckDB.
//
// It returns one CHECKED row with the count of source versions S3 says it
// replicated, then a row per MISSING, DIVERGED and ORPHAN version.
const Query = `{{define "columns"}}
    CAST("key" AS VARCHAR) AS k,
    coalesce(nullif(CAST("version_id" AS VARCHAR), ''), 'null') AS v,
    lower(CAST("is_delete_marker" AS VARCHAR)) = 'true' AS dm,
    TRY_CAST("size" AS BIGINT) AS sz,
    nullif(CAST("e_tag" AS VARCHAR), '') AS etag,
    CAST("last_modified_date" AS VARCHAR) AS modified,
    nullif(CAST("replication_status" AS VARCHAR), '') AS status,
    {{if .Encryption}}nullif(CAST("encryption_status" AS VARCHAR), ''){{else}}CAST(NULL AS VARCHAR){{end}} AS enc,
    {{if .Checksum}}nullif(CAST("checksum_algorithm" AS VARCHAR), ''){{else}}CAST(NULL AS VARCHAR){{end}} AS alg{{end}}-- replaudit verify: the destination's inventory against the source's
WITH src_all AS (
  SELECT{{template "columns" .}}
  FROM {{.Source}}{{with .SourceFilter}}
  WHERE {{.}}{{end}}
),
src AS (
  SELECT * FROM src_all WHERE status = 'COMPLETED'
),
dst AS (
  SELECT{{template "columns" .}}
  FROM {{.Destination}}{{with .DestinationFilter}}
  WHERE {{.}}{{end}}
),
compared AS (
  SELECT s.k, s.v, s.dm, s.sz, s.etag, s.modified,
    d.v AS dv, d.sz AS dsz, d.etag AS detag, d.modified AS dmodified, d.status AS dstatus,
    concat_ws(',',
      CASE WHEN s.dm <> d.dm THEN 'delete marker' END,
      CASE WHEN NOT s.dm AND s.sz IS DISTINCT FROM d.sz THEN 'size' END,
      -- An SSE-KMS, DSSE-KMS or SSE-C ETag is no MD5, and a multipart
      -- upload's (-N) depends on its parts: only plain MD5s compare.
      CASE WHEN NOT s.dm AND s.enc IN ('SSE-S3', 'NOT-SSE') AND d.enc IN ('SSE-S3', 'NOT-SSE')
        AND strpos(s.etag, '-') = 0 AND strpos(d.etag, '-') = 0 AND s.etag IS DISTINCT FROM d.etag THEN 'etag' END,
      CASE WHEN s.alg IS NOT NULL AND d.alg IS NOT NULL AND s.alg <> d.alg THEN 'checksum' END
    ) AS differs
  FROM src s LEFT JOIN dst d ON s.k = d.k AND s.v = d.v
)
SELECT 'CHECKED' AS outcome, CAST(NULL AS VARCHAR) AS k, CAST(NULL AS VARCHAR) AS v, CAST(NULL AS VARCHAR) AS dm,
  CAST(NULL AS VARCHAR) AS sz, CAST(NULL AS VARCHAR) AS etag, CAST(NULL AS VARCHAR) AS modified,
  CAST(NULL AS VARCHAR) AS dsz, CAST(NULL AS VARCHAR) AS detag, CAST(NULL AS VARCHAR) AS dstatus,
  CAST(NULL AS VARCHAR) AS differs, CAST(count(*) AS VARCHAR) AS n
FROM src
UNION ALL
SELECT CASE WHEN dv IS NULL THEN 'MISSING' ELSE 'DIVERGED' END, k, v, CAST(dm AS VARCHAR),
  CAST(sz AS VARCHAR), etag, modified, CAST(dsz AS VARCHAR), detag, dstatus, differs, CAST(NULL AS VARCHAR)
FROM compared
WHERE dv IS NULL OR differs <> ''
UNION ALL
SELECT 'ORPHAN', d.k, d.v, CAST(d.dm AS VARCHAR),
  CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), d.modified, CAST(d.sz AS VARCHAR), d.etag, d.status, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR)
FROM dst d LEFT JOIN src_all s ON s.k = d.k AND s.v = d.v
WHERE s.k IS NULL
`

var queryText = template.Must(template.New("verify").Option("missingkey=error").Parse(Query))

// Render is the statement Query makes for two tables and the comparisons
// their columns allow.
func Render(t Tables, c Columns) (string, error) {
	var b strings.Builder
	err := queryText.Execute(&b, struct {
		Tables
		Columns
	}{t, c})
	return b.String(), err
}

// The columns of Query's rows, in order.
const (
	colOutcome = iota
	colKey
	colVersion
	colDeleteMarker
	colSize
	colETag
	colModified
	colReplicaSize
	colReplicaETag
	colReplicaStatus
	colDiffers
	colCount
	nColumns
)

// row reads one of Query's rows. keysEncoded: the keys are URL-encoded,
// as a CSV inventory writes them.
func row(cols []string, keysEncoded bool) (Problem, int64, error) {
	if len(cols) != nColumns {
		return Problem{}, 0, fmt.Errorf("a row of %d columns, the query has %d", len(cols), nColumns)
	}
	p := Problem{Outcome: Outcome(cols[colOutcome])}
	switch p.Outcome {
	case "CHECKED":
		n, err := strconv.ParseInt(cols[colCount], 10, 64)
		if err != nil {
			return Problem{}, 0, fmt.Errorf("the count %q is not a number", cols[colCount])
		}
		return p, n, nil
	case Missing, Diverged, Orphan:
	default:
		return Problem{}, 0, fmt.Errorf("unknown outcome %q", cols[colOutcome])
	}
	p.Key, p.VersionID = cols[colKey], cols[colVersion]
	if keysEncoded {
		k, err := s3events.DecodeKey(p.Key)
		if err != nil {
			return Problem{}, 0, fmt.Errorf("key %q is not URL-encoded: %w", p.Key, err)
		}
		p.Key = k
	}
	if p.VersionID == "null" {
		p.VersionID = ""
	}
	p.DeleteMarker = cols[colDeleteMarker] == "true"
	p.LastModified = parseTime(cols[colModified])
	size := func(s string) *int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		return &n
	}
	if p.Outcome == Orphan {
		if n := size(cols[colReplicaSize]); n != nil {
			p.Size = *n
		}
		p.ETag, p.Status = cols[colReplicaETag], cols[colReplicaStatus]
		return p, 0, nil
	}
	if n := size(cols[colSize]); n != nil {
		p.Size = *n
	}
	p.ETag = cols[colETag]
	if p.Outcome == Diverged {
		p.ReplicaSize, p.ReplicaETag, p.Status = size(cols[colReplicaSize]), cols[colReplicaETag], cols[colReplicaStatus]
		for f := range strings.SplitSeq(cols[colDiffers], ",") {
			if f != "" {
				p.Differences = append(p.Differences, p.difference(f))
			}
		}
	}
	return p, 0, nil
}

// difference says how a field differs, as the auditor's checks say it.
func (p Problem) difference(field string) string {
	switch field {
	case "size":
		if p.ReplicaSize == nil {
			return fmt.Sprintf("no size, want %d", p.Size)
		}
		return fmt.Sprintf("size %d bytes, want %d", *p.ReplicaSize, p.Size)
	case "etag":
		return fmt.Sprintf("ETag %s, want %s", p.ReplicaETag, p.ETag)
	case "checksum":
		return "another checksum algorithm than the source's"
	case "delete marker":
		if p.DeleteMarker {
			return "an object, want a delete marker"
		}
		return "a delete marker, want an object"
	}
	return field
}

// parseTime reads a last_modified_date as the engines return it: the
// inventory's own text from a CSV inventory (2026-11-29T10:00:00.000Z),
// or a timestamp cast to text from a Parquet one (2026-11-29 10:00:00,
// with or without fractions). It returns the zero time for anything else.
func parseTime(s string) time.Time {
	s = strings.TrimSuffix(strings.TrimSuffix(s, " UTC"), "+00")
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// NotFound reports whether S3 said the object or its bucket is not there.
func NotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var ae smithy.APIError
	if errors.As(err, &nsk) {
		return true
	}
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NoSuchBucket" || ae.ErrorCode() == "NotFound")
}
