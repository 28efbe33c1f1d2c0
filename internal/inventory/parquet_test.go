package inventory_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/inventory"
)

// TestParquetRoundTrip writes rows as S3 does with parquet-go and reads them
// back, through both constructors: many small row groups and pages, so that
// each column's pages end at different rows.
func TestParquetRoundTrip(t *testing.T) {
	m := parquetManifest(t)
	row := generated(5000)
	want := append([]inventory.Row(nil), goldenRows...)
	for i := range 5000 {
		want = append(want, row(i))
	}
	records := make([]s3Parquet, len(want))
	for i, r := range want {
		records[i] = parquetRecord(r)
	}
	data := parquetFile(t, 1000, records...)
	f := fileOf("data/round-trip.parquet", data)

	open := map[string]func() (*inventory.Reader, error){
		"NewParquetReader": func() (*inventory.Reader, error) {
			return inventory.NewParquetReader(bytes.NewReader(data), m, f)
		},
		"NewReader": func() (*inventory.Reader, error) {
			return inventory.NewReader(bytes.NewReader(data), m, f)
		},
	}
	for name, open := range open {
		t.Run(name, func(t *testing.T) {
			rd, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			rows, rowErrs, end := readAll(t, rd)
			if end != io.EOF || rowErrs != nil {
				t.Fatalf("ended with %v after row errors %v, want EOF and none", end, rowErrs)
			}
			checkRows(t, rows, want)
		})
	}
}

// TestParquetRows: a Parquet row can be wrong in the ways a CSV one can,
// save the encoding of its key; it is a RowError numbered by its row, and
// the rows after it are read.
func TestParquetRows(t *testing.T) {
	good := func(i int) s3Parquet { return parquetRecord(goldenRows[i]) }
	with := func(i int, edit func(*s3Parquet)) s3Parquet {
		p := good(i)
		edit(&p)
		return p
	}
	tests := []struct {
		name        string
		records     []s3Parquet
		want        []inventory.Row
		wantLines   []int
		wantReasons []string
	}{
		{
			name:    "keys are not URL-encoded in Parquet: a + is a plus, %41 is itself",
			records: []s3Parquet{with(3, func(p *s3Parquet) { p.Key = "math/1+1%41.txt" })},
			want: func() []inventory.Row {
				r := goldenRows[3]
				r.Key = "math/1+1%41.txt"
				return []inventory.Row{r}
			}(),
		},
		{
			name: "nulls where a row needs a value are RowErrors, each on its row",
			records: []s3Parquet{
				with(0, func(p *s3Parquet) { p.Size = nil }),
				with(0, func(p *s3Parquet) { p.IsLatest = nil }),
				with(0, func(p *s3Parquet) { p.LastModifiedDate = nil }),
				good(1),
			},
			want:        goldenRows[1:2],
			wantLines:   []int{1, 2, 3},
			wantReasons: []string{"no size", "no is_latest", "no last_modified_date"},
		},
		{
			name: "a bucket, size or status that cannot be is a RowError",
			records: []s3Parquet{
				good(0),
				with(0, func(p *s3Parquet) { p.Bucket = "amzn-s3-demo-other-bucket" }),
				with(0, func(p *s3Parquet) { p.Size = ptr(int64(-1)) }),
				with(0, func(p *s3Parquet) { p.ReplicationStatus = ptr("COMPLETE") }),
				with(0, func(p *s3Parquet) { p.Key = "bad\xff" }),
				good(2),
			},
			want:        []inventory.Row{goldenRows[0], goldenRows[2]},
			wantLines:   []int{2, 3, 4, 5},
			wantReasons: []string{"source bucket", "negative", "replication_status", "not UTF-8"},
		},
	}
	m := parquetManifest(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := parquetFile(t, 2, tt.records...)
			rd, err := inventory.NewParquetReader(bytes.NewReader(data), m, fileOf("data/rows.parquet", data))
			if err != nil {
				t.Fatal(err)
			}
			rows, rowErrs, end := readAll(t, rd)
			if end != io.EOF {
				t.Fatalf("ended with %v, want EOF", end)
			}
			checkRows(t, rows, tt.want)
			if len(rowErrs) != len(tt.wantLines) {
				t.Fatalf("got row errors %v, want %d on rows %v", rowErrs, len(tt.wantLines), tt.wantLines)
			}
			for i, e := range rowErrs {
				if e.Line != tt.wantLines[i] || !strings.Contains(e.Reason, tt.wantReasons[i]) {
					t.Errorf("row error %d: got %q, want row %d with %q", i, e, tt.wantLines[i], tt.wantReasons[i])
				}
			}
		})
	}
}

// TestParquetFile: a Parquet file's size and MD5 are checked before a row is
// read, so a mismatch is the constructor's error; a file the manifest
// vouches for that is not Parquet, or not S3's schema, is ErrCorrupt.
func TestParquetFile(t *testing.T) {
	m := parquetManifest(t)
	data := parquetFile(t, 3, parquetRecord(goldenRows[0]), parquetRecord(goldenRows[1]))

	// A Parquet file without replication_status, for an inventory whose
	// manifest says it has one.
	type partial struct {
		Bucket string `parquet:"bucket"`
		Key    string `parquet:"key"`
	}
	var noStatus bytes.Buffer
	if err := parquet.Write(&noStatus, []partial{{sourceBucket, "a"}}); err != nil {
		t.Fatal(err)
	}
	// A file whose size column is text.
	type textSize struct {
		Bucket            string `parquet:"bucket"`
		Key               string `parquet:"key"`
		VersionID         string `parquet:"version_id"`
		IsLatest          bool   `parquet:"is_latest"`
		IsDeleteMarker    bool   `parquet:"is_delete_marker"`
		Size              string `parquet:"size"`
		LastModifiedDate  int64  `parquet:"last_modified_date,timestamp(millisecond)"`
		ETag              string `parquet:"e_tag"`
		ReplicationStatus string `parquet:"replication_status"`
	}
	var wrongType bytes.Buffer
	if err := parquet.Write(&wrongType, []textSize{{Bucket: sourceBucket, Key: "a", Size: "1 MiB"}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		data    []byte // read
		listed  []byte // listed in the manifest, when not data
		wantErr error
		want    string
	}{
		{"an MD5 other than the manifest's", data, flip(data, 100), inventory.ErrChecksum, "MD5"},
		{"a file shorter than the manifest says", data[:len(data)-1], data, inventory.ErrSize, "bytes, the manifest says"},
		{"a file longer than the manifest says", append(bytes.Clone(data), 0), data, inventory.ErrSize, "more than"},
		{"a file cut short, as the manifest lists it", data[:len(data)/2], nil, inventory.ErrCorrupt, "magic footer"},
		{"gzip, not Parquet", csvGzip(t, record(goldenRows[0])), nil, inventory.ErrCorrupt, "magic"},
		{"a file without a column the reader needs", noStatus.Bytes(), nil, inventory.ErrCorrupt, "no column version_id"},
		{"a file whose size column is text", wrongType.Bytes(), nil, inventory.ErrCorrupt, "column size is BYTE_ARRAY, want INT64"},
	}
	for _, tt := range tests {
		listed := tt.listed
		if listed == nil {
			listed = tt.data
		}
		f := fileOf("data/file.parquet", listed)
		for name, open := range map[string]func() (*inventory.Reader, error){
			"NewParquetReader": func() (*inventory.Reader, error) {
				return inventory.NewParquetReader(bytes.NewReader(tt.data), m, f)
			},
			"NewReader": func() (*inventory.Reader, error) { return inventory.NewReader(bytes.NewReader(tt.data), m, f) },
		} {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				rd, err := open()
				if err == nil {
					rd.Close()
				}
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want %v saying %q", err, tt.wantErr, tt.want)
				}
			})
		}
	}
}

// TestParquetSpoolLeavesNothing: NewReader's temporary copy of a Parquet file
// is gone once the reader is closed, and where the system allows it (Linux,
// Lambda) as soon as it is open.
func TestParquetSpoolLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	m := parquetManifest(t)
	data := parquetFile(t, 3, parquetRecord(goldenRows[0]))
	listed := fileOf("data/file.parquet", data)
	mismatched := listed
	mismatched.Size++
	for _, f := range []inventory.File{listed, mismatched} {
		rd, err := inventory.NewReader(bytes.NewReader(data), m, f)
		if err == nil {
			if _, err := rd.Next(); err != nil {
				t.Fatal(err)
			}
			if err := rd.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%s is left in TMPDIR", left[0].Name())
		}
	}
}

// TestParquetNextAfterClose: a closed reader reads no more, and closing it
// again does nothing.
func TestParquetNextAfterClose(t *testing.T) {
	data := parquetFile(t, 3, parquetRecord(goldenRows[0]), parquetRecord(goldenRows[1]))
	rd, err := inventory.NewReader(bytes.NewReader(data), parquetManifest(t), fileOf("data/file.parquet", data))
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Next(); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: got %v, want an error", err)
	}
	if err := rd.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
