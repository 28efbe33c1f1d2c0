package inventory

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Parquet keeps its schema and the place of each column chunk in a footer at
// the end of the file, so a reader needs random access: an io.ReaderAt and the
// size. Two ways to get one were weighed:
//
//   - Buffering the file in memory is simple but unbounded: a data file can
//     run to gigabytes.
//   - Ranged GETs against S3 keep nothing local, but the MD5 check needs every
//     byte anyway, so the file would be downloaded twice.
//
// So NewParquetReader takes an io.ReaderAt that the caller already has, a
// file on disk, and NewReader spools a stream to a temporary file, hashing it
// as it goes. Either way the size and MD5 are checked before the footer is
// parsed: a damaged footer could name sizes that make a decoder allocate
// gigabytes, so nothing is decoded from bytes the manifest does not vouch
// for. Rows are then read a row group at a time, a page at a time per column:
// memory is bounded by the pages S3 wrote, whatever the file's size.

// NewParquetReader reads the Parquet data file f of m through ra, which must
// hold f.Size bytes: typically an *os.File the file was downloaded to. It
// reads ra once through to check the size and MD5, then reads rows a page at
// a time. ra must stay open until the reader is closed; Close does not close
// it.
func NewParquetReader(ra io.ReaderAt, m Manifest, f File) (*Reader, error) {
	fileFormat, err := checkFile(m, f)
	if err != nil {
		return nil, err
	}
	if fileFormat != FormatParquet {
		return nil, fmt.Errorf("manifest.json: fileFormat %s: NewParquetReader reads Parquet, use NewReader", m.FileFormat)
	}
	// One byte more than the manifest's size tells a longer file.
	d := newDigest(io.NewSectionReader(ra, 0, f.Size+1))
	if _, err := io.Copy(io.Discard, d); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Key, err)
	}
	if err := d.check(f); err != nil {
		return nil, err
	}
	dec, err := openParquet(ra, m, f)
	if err != nil {
		return nil, err
	}
	return &Reader{dec: dec}, nil
}

// spoolParquet copies r to a temporary file, checking its size and MD5 on the
// way, and opens it.
func spoolParquet(r io.Reader, m Manifest, f File) (_ *parquetDecoder, err error) {
	tmp, err := os.CreateTemp("", "inventory-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", f.Key, err)
	}
	// Unlinked at once where the system allows it, so that the copy goes
	// away with the process even if Close is never called.
	removed := os.Remove(tmp.Name()) == nil
	cleanup := func() error {
		err := tmp.Close()
		if !removed {
			if rmErr := os.Remove(tmp.Name()); rmErr != nil && err == nil {
				err = rmErr
			}
		}
		return err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	d := newDigest(r)
	if _, err := io.Copy(tmp, io.LimitReader(d, f.Size+1)); err != nil {
		if d.err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Key, d.err)
		}
		return nil, fmt.Errorf("spool %s: %w", f.Key, err)
	}
	if err := d.check(f); err != nil {
		return nil, err
	}
	dec, err := openParquet(tmp, m, f)
	if err != nil {
		return nil, err
	}
	dec.cleanup = cleanup
	return dec, nil
}

// batch is how many rows are decoded at a time from each column.
const batch = 512

// parquetColumns names each column in Required as S3 writes it in Parquet.
var parquetColumns = [nRequired]string{
	colBucket:            "bucket",
	colKey:               "key",
	colVersionID:         "version_id",
	colIsLatest:          "is_latest",
	colIsDeleteMarker:    "is_delete_marker",
	colSize:              "size",
	colLastModified:      "last_modified_date",
	colETag:              "e_tag",
	colReplicationStatus: "replication_status",
}

// parquetDecoder reads the required columns side by side, a batch of values
// from each, never past the end of any column's current page: a page's
// buffers may be reused once the next one is read, and the byte arrays in a
// batch point into them.
type parquetDecoder struct {
	m       Manifest
	f       File
	file    *parquet.File
	leaf    [nRequired]int // each column's leaf index in a row group
	unit    time.Duration  // of last_modified_date
	cleanup func() error

	rowGroup int   // the next row group to open
	left     int64 // rows left in the open row group
	pages    [nRequired]parquet.Pages
	page     [nRequired]parquet.Page
	values   [nRequired]parquet.ValueReader
	inPage   [nRequired]int64 // values left in each column's page
	buf      [nRequired][]parquet.Value
	n, pos   int    // values in buf, and the next one
	line     int    // rows returned, RowErrors included
	strs     []byte // a row's key, version and ETag, made one string
}

func openParquet(ra io.ReaderAt, m Manifest, f File) (dec *parquetDecoder, err error) {
	defer recoverCorrupt(f, &err)
	// The page index and bloom filters serve lookups; a reader of every row
	// needs neither. Reads of 64 KiB, not 4, take fewer system calls from a
	// file on disk.
	file, err := parquet.OpenFile(ra, f.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", f.Key, ErrCorrupt, err)
	}
	d := &parquetDecoder{m: m, f: f, file: file, unit: time.Millisecond}
	for i, name := range parquetColumns {
		col := file.Root().Column(name)
		if col == nil {
			return nil, fmt.Errorf("%s: %w: no column %s", f.Key, ErrCorrupt, name)
		}
		if !col.Leaf() || col.MaxRepetitionLevel() != 0 {
			return nil, fmt.Errorf("%s: %w: column %s is not a single value", f.Key, ErrCorrupt, name)
		}
		want := parquet.ByteArray
		switch i {
		case colIsLatest, colIsDeleteMarker:
			want = parquet.Boolean
		case colSize, colLastModified:
			want = parquet.Int64
		}
		if kind := col.Type().Kind(); kind != want {
			return nil, fmt.Errorf("%s: %w: column %s is %s, want %s", f.Key, ErrCorrupt, name, kind, want)
		}
		d.leaf[i] = col.Index()
		d.buf[i] = make([]parquet.Value, batch)
	}
	if lt := file.Root().Column(parquetColumns[colLastModified]).Type().LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
			d.unit = ts.Unit.Value.Duration()
		}
	}
	return d, nil
}

// recoverCorrupt turns a panic of the Parquet decoder into ErrCorrupt: the
// file's MD5 matched, so only a file S3 wrote can get here, but a decoder's
// bug on one file must not take down a worker that reads many.
func recoverCorrupt(f File, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: %w: decoder panic: %v", f.Key, ErrCorrupt, p)
	}
}

func (d *parquetDecoder) close() error {
	d.closePages()
	if d.cleanup != nil {
		return d.cleanup()
	}
	return nil
}

func (d *parquetDecoder) closePages() {
	for i := range d.pages {
		if d.page[i] != nil {
			parquet.Release(d.page[i])
			d.page[i] = nil
		}
		if d.pages[i] != nil {
			d.pages[i].Close()
			d.pages[i] = nil
		}
		d.values[i] = nil
		d.inPage[i] = 0
	}
}

func (d *parquetDecoder) next() (_ Row, err error) {
	defer recoverCorrupt(d.f, &err)
	for d.pos == d.n {
		if err := d.fill(); err != nil {
			return Row{}, err
		}
	}
	i := d.pos
	d.pos++
	d.line++
	row, col, reason := d.row(i)
	if reason != "" {
		return Row{}, &RowError{Line: d.line, Column: Required[col], Reason: reason}
	}
	return row, nil
}

// fill decodes the next batch of values of every column.
func (d *parquetDecoder) fill() error {
	for d.left == 0 {
		d.closePages()
		groups := d.file.RowGroups()
		if d.rowGroup == len(groups) {
			return io.EOF // the size and MD5 were checked before the first row
		}
		rg := groups[d.rowGroup]
		d.rowGroup++
		d.left = rg.NumRows()
		chunks := rg.ColumnChunks()
		for i, leaf := range d.leaf {
			d.pages[i] = chunks[leaf].Pages()
		}
	}
	n := int64(batch)
	for i := range d.pages {
		for d.inPage[i] == 0 {
			if d.page[i] != nil {
				parquet.Release(d.page[i])
				d.page[i] = nil
			}
			page, err := d.pages[i].ReadPage()
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("%s: %w: column %s: %w", d.f.Key, ErrCorrupt, parquetColumns[i], err)
			}
			d.page[i], d.values[i], d.inPage[i] = page, page.Values(), page.NumValues()
		}
		n = min(n, d.inPage[i])
	}
	n = min(n, d.left)
	for i := range d.values {
		buf := d.buf[i][:n]
		for read := 0; read < len(buf); {
			k, err := d.values[i].ReadValues(buf[read:])
			read += k
			if read < len(buf) && err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("%s: %w: column %s: %w", d.f.Key, ErrCorrupt, parquetColumns[i], err)
			}
			if k == 0 && err == nil {
				return fmt.Errorf("%s: %w: column %s: no values", d.f.Key, ErrCorrupt, parquetColumns[i])
			}
		}
		d.inPage[i] -= n
	}
	d.left -= n
	d.n, d.pos = int(n), 0
	return nil
}

// row reads the i-th values of the batch, or says which column keeps
// them from being a row, and why.
func (d *parquetDecoder) row(i int) (Row, int, string) {
	var row Row
	v := func(col int) parquet.Value { return d.buf[col][i] }

	bucket := v(colBucket)
	if bucket.IsNull() {
		return Row{}, colBucket, "no bucket"
	}
	if string(bucket.ByteArray()) != d.m.SourceBucket {
		return Row{}, colBucket, fmt.Sprintf("bucket %q is not the manifest's source bucket %q", abbreviate(string(bucket.ByteArray())), d.m.SourceBucket)
	}
	row.Bucket = d.m.SourceBucket

	key, version, etag := v(colKey), v(colVersionID), v(colETag)
	if key.IsNull() {
		return Row{}, colKey, "no key"
	}
	// One allocation for the row's three strings.
	d.strs = append(d.strs[:0], key.ByteArray()...)
	d.strs = append(d.strs, version.ByteArray()...)
	d.strs = append(d.strs, etag.ByteArray()...)
	s := string(d.strs)
	nk, nv := len(key.ByteArray()), len(version.ByteArray())
	row.Key, row.VersionID, row.ETag = s[:nk], s[nk:nk+nv], s[nk+nv:]
	if reason := checkKey(row.Key); reason != "" {
		return Row{}, colKey, reason
	}

	latest, marker := v(colIsLatest), v(colIsDeleteMarker)
	if latest.IsNull() {
		return Row{}, colIsLatest, "no is_latest"
	}
	if marker.IsNull() {
		return Row{}, colIsDeleteMarker, "no is_delete_marker"
	}
	row.IsLatest, row.IsDeleteMarker = latest.Boolean(), marker.Boolean()

	switch size := v(colSize); {
	case size.IsNull() && row.IsDeleteMarker:
	case size.IsNull():
		return Row{}, colSize, "no size for an object that is not a delete marker"
	case size.Int64() < 0:
		return Row{}, colSize, fmt.Sprintf("size %d is negative", size.Int64())
	default:
		row.Size = size.Int64()
	}

	modified := v(colLastModified)
	if modified.IsNull() {
		return Row{}, colLastModified, "no last_modified_date"
	}
	row.LastModified = unixTime(modified.Int64(), d.unit)

	status := v(colReplicationStatus)
	var ok bool
	if row.ReplicationStatus, ok = replicationStatus(string(status.ByteArray())); !ok {
		return Row{}, colReplicationStatus, fmt.Sprintf("replication_status %q is not COMPLETED, PENDING, FAILED, REPLICA or empty", abbreviate(string(status.ByteArray())))
	}
	return row, 0, ""
}

func unixTime(n int64, unit time.Duration) time.Time {
	switch unit {
	case time.Microsecond:
		return time.UnixMicro(n).UTC()
	case time.Nanosecond:
		return time.Unix(0, n).UTC()
	}
	return time.UnixMilli(n).UTC()
}
