package inventory

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	// ErrChecksum means bytes are not the ones their checksum names: a
	// manifest.json that does not match its manifest.checksum, or a data file
	// whose MD5 is not the manifest's MD5checksum. Download it again.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrSize means a data file is not the size its manifest says.
	ErrSize = errors.New("size mismatch")
	// ErrCorrupt means a data file cannot be decoded: a truncated or damaged
	// gzip stream, or a Parquet file that is not one S3 Inventory writes.
	ErrCorrupt = errors.New("corrupt data file")
)

// RowError is a row that cannot be read as one: the caller may skip it and
// call Next again.
type RowError struct {
	// Line is the 1-based line of a CSV file, or the 1-based row of a
	// Parquet file.
	Line int
	// Column is the CSV name of the column that is wrong (one of
	// Required), or "" when the line itself is: a bad quote, a wrong
	// number of fields.
	Column string
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Row is one object version in an inventory.
//
// Its strings may share one allocation per row: a caller that keeps only a
// Key of many rows should keep strings.Clone(row.Key).
type Row struct {
	Bucket, Key, VersionID   string
	IsLatest, IsDeleteMarker bool
	Size                     int64
	LastModified             time.Time
	ETag                     string
	ReplicationStatus        string // COMPLETED, PENDING, FAILED, REPLICA or ""
}

// decoder is one file format's way to produce rows.
type decoder interface {
	// next returns the next row, a *RowError, io.EOF once the rows are all
	// read and checked, or any other error, which is fatal.
	next() (Row, error)
	close() error
}

// Reader streams one data file's rows.
type Reader struct {
	dec decoder
	err error // fatal, or io.EOF: returned by every later Next
}

// NewReader reads the data file f of m from r.
//
// A CSV file is decompressed and parsed as it streams: memory stays bounded
// whatever its size, and the last Next checks its size and MD5.
//
// A Parquet file is read from its footer, so it needs random access: NewReader
// copies r to a temporary file (in os.TempDir, which is /tmp on Lambda),
// hashing it on the way, and checks its size and MD5 before it reads a row,
// so a mismatch is its error, not Next's. Memory stays bounded, disk holds
// the file until Close. A caller that already has the file on disk should use
// NewParquetReader.
func NewReader(r io.Reader, m Manifest, f File) (*Reader, error) {
	format, err := checkFile(m, f)
	if err != nil {
		return nil, err
	}
	var dec decoder
	switch format {
	case FormatCSV:
		dec, err = newCSVDecoder(r, m, f)
	case FormatParquet:
		dec, err = spoolParquet(r, m, f)
	}
	if err != nil {
		return nil, err
	}
	return &Reader{dec: dec}, nil
}

// checkFile checks what a reader of f needs, and returns m's format.
func checkFile(m Manifest, f File) (string, error) {
	format, err := m.readable()
	if err != nil {
		return "", err
	}
	if err := f.validate(); err != nil {
		return "", fmt.Errorf("data file: %w", err)
	}
	return format, nil
}

// Next returns the next row. At the end of the file it returns io.EOF, once
// the file's size and MD5 match the manifest. For CSV the check is made
// there, after the last row: a mismatch is an error wrapping ErrSize or
// ErrChecksum, and the rows read before it must not count. (For Parquet the
// constructor made it.)
//
// A row that cannot be read as one (a wrong field count, a key that is not
// URL-encoded, a bad number, time or status) is a *RowError: the caller may
// skip it and call Next again. Any other error is fatal, and Next returns it
// again on every later call: a damaged gzip stream or Parquet file wraps
// ErrCorrupt, and an error from r is returned wrapped as it is.
func (rd *Reader) Next() (Row, error) {
	if rd.err != nil {
		return Row{}, rd.err
	}
	row, err := rd.dec.next()
	if err != nil {
		var rowErr *RowError
		if !errors.As(err, &rowErr) {
			rd.err = err
		}
	}
	return row, err
}

// Close releases what the reader holds, such as a Parquet file's temporary
// copy; Next then returns an error. It does not close the io.Reader given to
// NewReader. Closing twice does nothing.
func (rd *Reader) Close() error {
	if rd.dec == nil {
		return nil
	}
	if rd.err == nil {
		rd.err = errors.New("inventory: reader closed")
	}
	err := rd.dec.close()
	rd.dec = nil
	return err
}

// digest counts and hashes the bytes of a data file as they are read, and
// remembers an error of its source, so that such an error is not taken for
// corruption.
type digest struct {
	r   io.Reader
	md5 hash.Hash
	n   int64
	err error
}

func newDigest(r io.Reader) *digest { return &digest{r: r, md5: md5.New()} }

func (d *digest) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.md5.Write(p[:n])
	d.n += int64(n)
	if err != nil && err != io.EOF {
		d.err = err
	}
	return n, err
}

// check compares what was read with the manifest's size and MD5.
func (d *digest) check(f File) error {
	switch {
	case d.n > f.Size:
		return fmt.Errorf("%s: more than the manifest's %d bytes: %w", f.Key, f.Size, ErrSize)
	case d.n < f.Size:
		return fmt.Errorf("%s: %d bytes, the manifest says %d: %w", f.Key, d.n, f.Size, ErrSize)
	}
	if got := hex.EncodeToString(d.md5.Sum(nil)); !strings.EqualFold(got, f.MD5checksum) {
		return fmt.Errorf("%s: MD5 %s, the manifest says %s: %w", f.Key, got, f.MD5checksum, ErrChecksum)
	}
	return nil
}

// The fields of a row, checked the same way whatever the file format.

func checkBucket(got string, m *Manifest) (string, string) {
	if got != m.SourceBucket {
		return "", fmt.Sprintf("bucket %q is not the manifest's source bucket %q", abbreviate(got), m.SourceBucket)
	}
	return m.SourceBucket, ""
}

func checkKey(key string) string {
	switch {
	case key == "":
		return "empty key"
	case !utf8.ValidString(key):
		return fmt.Sprintf("key %q is not UTF-8", abbreviate(key))
	}
	return ""
}

// replicationStatus returns the status as a constant string, so that a row
// does not keep its line alive through it.
func replicationStatus(s string) (string, bool) {
	switch s {
	case "":
		return "", true
	case "COMPLETED":
		return "COMPLETED", true
	case "PENDING":
		return "PENDING", true
	case "FAILED":
		return "FAILED", true
	case "REPLICA":
		return "REPLICA", true
	}
	return "", false
}
