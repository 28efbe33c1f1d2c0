package inventory

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/replaudit/replaudit/internal/s3events"
)

// maxLine bounds a CSV line, and so the memory a damaged or hostile file can
// make the reader take: S3 keys are at most 1024 bytes (3072 URL-encoded),
// and a row with every optional column, an object ACL included, is a few
// kilobytes.
const maxLine = 1 << 20

// csvDecoder streams a gzip-compressed CSV file: the digest sees every
// compressed byte on its way to gzip, and csv.Reader reuses its record.
type csvDecoder struct {
	m     Manifest
	f     File
	src   *digest
	buf   *bufio.Reader // between src and gzip: gzip reads bytes one at a time
	gz    *gzip.Reader
	lines lineLimit
	cr    *csv.Reader
	idx   [nRequired]int
	ncols int
}

func newCSVDecoder(r io.Reader, m Manifest, f File) (*csvDecoder, error) {
	idx, err := m.columnIndex()
	if err != nil {
		return nil, err
	}
	d := &csvDecoder{m: m, f: f, src: newDigest(r), idx: idx, ncols: len(m.Columns())}
	d.buf = bufio.NewReaderSize(d.src, 64<<10)
	// klauspost/compress, which parquet-go already brings in, rather than
	// compress/gzip: it inflates 1.3 to 1.6 times as fast (BenchmarkGunzip,
	// one core), and inflating is a third of reading a row with every
	// column, which reads 10-15% faster for it.
	d.gz, err = gzip.NewReader(d.buf)
	if err != nil {
		return nil, d.fatal(err)
	}
	d.lines.r = d.gz
	d.cr = csv.NewReader(&d.lines)
	d.cr.ReuseRecord = true
	d.cr.FieldsPerRecord = -1 // counted in next, to say how many
	return d, nil
}

func (d *csvDecoder) close() error { return nil }

func (d *csvDecoder) next() (Row, error) {
	rec, err := d.cr.Read()
	if err == io.EOF {
		return Row{}, d.end()
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && (pe.Err == csv.ErrQuote || pe.Err == csv.ErrBareQuote) {
			return Row{}, &RowError{Line: pe.StartLine, Reason: pe.Err.Error()}
		}
		return Row{}, d.fatal(err)
	}
	line, _ := d.cr.FieldPos(0)
	if len(rec) != d.ncols {
		return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("%d fields, the manifest's fileSchema has %d", len(rec), d.ncols)}
	}
	row, col, reason := d.row(rec)
	if reason != "" {
		return Row{}, &RowError{Line: line, Column: Required[col], Reason: reason}
	}
	return row, nil
}

// row reads one record's fields, or says which column keeps it from being
// a row, and why.
func (d *csvDecoder) row(rec []string) (Row, int, string) {
	var row Row
	var reason string
	if row.Bucket, reason = checkBucket(rec[d.idx[colBucket]], &d.m); reason != "" {
		return Row{}, colBucket, reason
	}
	key, err := s3events.DecodeKey(rec[d.idx[colKey]])
	if err != nil {
		return Row{}, colKey, fmt.Sprintf("key %q is not URL-encoded: %v", abbreviate(rec[d.idx[colKey]]), err)
	}
	if reason := checkKey(key); reason != "" {
		return Row{}, colKey, reason
	}
	row.Key = key
	row.VersionID = rec[d.idx[colVersionID]]
	var ok bool
	if row.IsLatest, ok = parseBool(rec[d.idx[colIsLatest]]); !ok {
		return Row{}, colIsLatest, fmt.Sprintf("IsLatest %q is not true or false", abbreviate(rec[d.idx[colIsLatest]]))
	}
	if row.IsDeleteMarker, ok = parseBool(rec[d.idx[colIsDeleteMarker]]); !ok {
		return Row{}, colIsDeleteMarker, fmt.Sprintf("IsDeleteMarker %q is not true or false", abbreviate(rec[d.idx[colIsDeleteMarker]]))
	}
	switch size := rec[d.idx[colSize]]; {
	case size == "" && row.IsDeleteMarker:
	case size == "":
		return Row{}, colSize, "no Size for an object that is not a delete marker"
	default:
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return Row{}, colSize, fmt.Sprintf("Size %q is not a number of bytes", abbreviate(size))
		}
		row.Size = n
	}
	modified := rec[d.idx[colLastModified]]
	if row.LastModified, err = time.Parse(time.RFC3339Nano, modified); err != nil {
		return Row{}, colLastModified, fmt.Sprintf("LastModifiedDate %q is not a time like 2026-11-29T10:00:00.000Z", abbreviate(modified))
	}
	row.ETag = rec[d.idx[colETag]]
	status := rec[d.idx[colReplicationStatus]]
	if row.ReplicationStatus, ok = replicationStatus(status); !ok {
		return Row{}, colReplicationStatus, fmt.Sprintf("ReplicationStatus %q is not COMPLETED, PENDING, FAILED, REPLICA or empty", abbreviate(status))
	}
	return row, 0, ""
}

// end reads what is left of the file after the last row, so that the
// digest has seen all of it, and checks it.
func (d *csvDecoder) end() error {
	if _, err := io.Copy(io.Discard, d.buf); err != nil {
		return d.fatal(err)
	}
	if err := d.src.check(d.f); err != nil {
		return err
	}
	return io.EOF
}

// fatal tells an error of the source, returned as it is, from one of the
// stream's, which means the file is damaged.
func (d *csvDecoder) fatal(err error) error {
	if d.src.err != nil {
		return fmt.Errorf("read %s: %w", d.f.Key, d.src.err)
	}
	if d.src.n < d.f.Size && errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: truncated after %d of %d bytes: %w: %w", d.f.Key, d.src.n, d.f.Size, ErrCorrupt, err)
	}
	return fmt.Errorf("%s: %w: %w", d.f.Key, ErrCorrupt, err)
}

func parseBool(s string) (bool, bool) {
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// lineLimit fails a stream with a line longer than maxLine, which csv.Reader
// would otherwise buffer whole.
type lineLimit struct {
	r   io.Reader
	run int // bytes since the last newline
}

var errLongLine = fmt.Errorf("a line longer than %d bytes", maxLine)

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
		l.run = n - i - 1
	} else {
		l.run += n
	}
	if l.run > maxLine {
		return n, errLongLine
	}
	return n, err
}
