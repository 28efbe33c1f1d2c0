package inventory_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/replaudit/replaudit/internal/inventory"
)

// TestCSVKeys pins how a CSV inventory's keys are read: URL-encoded as in
// event notifications, + for a space, decoded by s3events.DecodeKey.
func TestCSVKeys(t *testing.T) {
	tests := []struct {
		name, encoded, want string
	}{
		{"a plain key is itself", "data/2026/11/29/orders.csv", "data/2026/11/29/orders.csv"},
		{"a + is a space", "photos/summer+2026/beach+day.jpg", "photos/summer 2026/beach day.jpg"},
		{"%2B is a plus", "math/1%2B1%3D2.txt", "math/1+1=2.txt"},
		{"UTF-8 is percent-encoded bytes", "docs/r%C3%A9sum%C3%A9/%E6%97%A5%E6%9C%AC.pdf", "docs/résumé/日本.pdf"},
		{"%0A is a newline, which a key may hold", "logs/line%0Abreak.log", "logs/line\nbreak.log"},
		{"%25 is a percent sign", "100%25+done.txt", "100% done.txt"},
		{"a slash may be encoded or not", "a%2Fb/c", "a/b/c"},
	}
	m := csvManifest(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(goldenRows[0])
			rec[1] = tt.encoded
			data := csvGzip(t, rec)
			rd, err := inventory.NewReader(bytes.NewReader(data), m, fileOf("data/keys.csv.gz", data))
			if err != nil {
				t.Fatal(err)
			}
			rows, rowErrs, end := readAll(t, rd)
			if end != io.EOF || rowErrs != nil || len(rows) != 1 {
				t.Fatalf("got %d rows, row errors %v, end %v; want 1 row and EOF", len(rows), rowErrs, end)
			}
			if rows[0].Key != tt.want {
				t.Errorf("key %q: got %q, want %q", tt.encoded, rows[0].Key, tt.want)
			}
		})
	}
}

// TestCSVRows covers one file's records: the good ones are rows, a bad one
// is a RowError on its line and the rows after it are still read.
func TestCSVRows(t *testing.T) {
	good := func(i int) []string { return record(goldenRows[i]) }
	with := func(i, col int, value string) []string {
		rec := good(i)
		rec[col] = value
		return rec
	}
	// Columns of csvManifest's schema.
	const (
		colBucket, colKey, colIsLatest, colIsDeleteMarker, colSize, colModified, colStatus = 0, 1, 3, 4, 5, 6, 10
	)
	tests := []struct {
		name    string
		records [][]string
		want    []inventory.Row
		// The line of each RowError, and a word its reason must hold.
		wantLines   []int
		wantReasons []string
		wantColumns []string // the RowErrors' Column, when given
	}{
		{
			name:    "every golden row is read as it was written",
			records: [][]string{good(0), good(1), good(2), good(3), good(4), good(5), good(6), good(7)},
			want:    goldenRows,
		},
		{
			name:    "a delete marker has no size, and reads as 0",
			records: [][]string{good(1)},
			want:    goldenRows[1:2],
		},
		{
			name:        "a key that is not URL-encoded is a RowError, and the next row is read",
			records:     [][]string{good(0), with(3, colKey, "100%done.txt"), good(2)},
			want:        []inventory.Row{goldenRows[0], goldenRows[2]},
			wantLines:   []int{2},
			wantReasons: []string{"not URL-encoded"},
		},
		{
			name:        "a key that decodes to bytes that are not UTF-8 is a RowError",
			records:     [][]string{with(0, colKey, "bad%FF.txt"), good(2)},
			want:        []inventory.Row{goldenRows[2]},
			wantLines:   []int{1},
			wantReasons: []string{"not UTF-8"},
		},
		{
			name:        "a record with a field missing is a RowError naming both counts",
			records:     [][]string{good(0), good(2)[:19], good(3)},
			want:        []inventory.Row{goldenRows[0], goldenRows[3]},
			wantLines:   []int{2},
			wantReasons: []string{"19 fields, the manifest's fileSchema has 20"},
		},
		{
			name:        "a record with a field too many is a RowError",
			records:     [][]string{append(good(0), "extra")},
			wantLines:   []int{1},
			wantReasons: []string{"21 fields"},
		},
		{
			name: "bad numbers, times, booleans and statuses are RowErrors, each on its line",
			records: [][]string{
				with(0, colSize, "12kB"),
				with(0, colSize, "-1"),
				with(0, colModified, "2026-11-29 10:00:00"),
				with(0, colIsLatest, "yes"),
				with(0, colIsDeleteMarker, ""),
				with(0, colStatus, "COMPLETE"),
				with(0, colSize, ""),
				good(7),
			},
			want:        goldenRows[7:8],
			wantLines:   []int{1, 2, 3, 4, 5, 6, 7},
			wantReasons: []string{"Size", "Size", "LastModifiedDate", "IsLatest", "IsDeleteMarker", "ReplicationStatus", "no Size"},
			wantColumns: []string{"Size", "Size", "LastModifiedDate", "IsLatest", "IsDeleteMarker", "ReplicationStatus", "Size"},
		},
		{
			name:        "a row of another bucket is a RowError",
			records:     [][]string{with(0, colBucket, "amzn-s3-demo-other-bucket"), good(2)},
			want:        []inventory.Row{goldenRows[2]},
			wantLines:   []int{1},
			wantReasons: []string{"not the manifest's source bucket"},
			wantColumns: []string{"Bucket"},
		},
		{
			name:        "an empty key is a RowError",
			records:     [][]string{with(0, colKey, "")},
			wantLines:   []int{1},
			wantReasons: []string{"empty key"},
			wantColumns: []string{"Key"},
		},
	}
	m := csvManifest(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := csvGzip(t, tt.records...)
			rd, err := inventory.NewReader(bytes.NewReader(data), m, fileOf("data/rows.csv.gz", data))
			if err != nil {
				t.Fatal(err)
			}
			rows, rowErrs, end := readAll(t, rd)
			if end != io.EOF {
				t.Fatalf("ended with %v, want EOF", end)
			}
			checkRows(t, rows, tt.want)
			if len(rowErrs) != len(tt.wantLines) {
				t.Fatalf("got row errors %v, want %d on lines %v", rowErrs, len(tt.wantLines), tt.wantLines)
			}
			for i, e := range rowErrs {
				if e.Line != tt.wantLines[i] || !strings.Contains(e.Reason, tt.wantReasons[i]) {
					t.Errorf("row error %d: got %q, want line %d with %q", i, e, tt.wantLines[i], tt.wantReasons[i])
				}
				if tt.wantColumns != nil && e.Column != tt.wantColumns[i] {
					t.Errorf("row error %d: column %q, want %q", i, e.Column, tt.wantColumns[i])
				}
			}
		})
	}
}

// TestCSVFile covers what is wrong with a whole file: each is fatal, and
// Next keeps returning it. Rows read before a checksum or size mismatch came
// from a file that is not the manifest's, and must not count.
func TestCSVFile(t *testing.T) {
	m := csvManifest(t)
	records := [][]string{record(goldenRows[0]), record(goldenRows[1]), record(goldenRows[2])}
	data := csvGzip(t, records...)
	errNetwork := errors.New("connection reset by peer")

	tests := []struct {
		name     string
		data     []byte           // the bytes read
		listed   []byte           // the bytes the manifest lists, when not data
		src      func() io.Reader // overrides data
		wantRows int
		wantErr  error
		notErr   error // an error the end must not wrap
	}{
		{
			name: "an MD5 other than the manifest's is ErrChecksum at the end",
			data: data, listed: bytes.Replace(data, data[len(data)-8:len(data)-4], []byte{1, 2, 3, 4}, 1),
			wantRows: 3, wantErr: inventory.ErrChecksum,
		},
		{
			name: "a size other than the manifest's is ErrSize at the end",
			data: data, listed: append(bytes.Clone(data), 0),
			wantRows: 3, wantErr: inventory.ErrSize,
		},
		{
			name: "a truncated gzip stream is ErrCorrupt",
			data: data[:len(data)*2/3], listed: data,
			wantErr: inventory.ErrCorrupt,
		},
		{
			name: "a gzip stream cut before its trailer is ErrCorrupt",
			data: data[:len(data)-4], listed: data,
			wantRows: 3, wantErr: inventory.ErrCorrupt,
		},
		{
			// gzip checks its CRC at the end of the stream, so the rows
			// before the error may be garbage: only io.EOF vouches for them.
			name: "a damaged gzip stream is ErrCorrupt",
			data: flip(data, len(data)/2), listed: data,
			wantRows: 3, wantErr: inventory.ErrCorrupt,
		},
		{
			name:     "bytes after the gzip stream are ErrCorrupt",
			data:     append(bytes.Clone(data), "garbage"...),
			wantRows: 3, wantErr: inventory.ErrCorrupt,
		},
		{
			name:    "a line longer than any row is ErrCorrupt, not a buffer that grows",
			data:    csvGzip(t, []string{strings.Repeat("k", 2<<20)}),
			wantErr: inventory.ErrCorrupt,
		},
		{
			name: "an error of the source is returned as it is, not as corruption",
			src: func() io.Reader {
				return io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errNetwork))
			},
			listed:  data,
			wantErr: errNetwork, notErr: inventory.ErrCorrupt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listed := tt.listed
			if listed == nil {
				listed = tt.data
			}
			src := io.Reader(bytes.NewReader(tt.data))
			if tt.src != nil {
				src = tt.src()
			}
			rd, err := inventory.NewReader(src, m, fileOf("data/file.csv.gz", listed))
			if err != nil {
				t.Fatal(err)
			}
			rows, _, end := readAll(t, rd)
			if len(rows) > tt.wantRows {
				t.Errorf("got %d rows before the error, want at most %d", len(rows), tt.wantRows)
			}
			if !errors.Is(end, tt.wantErr) || (tt.notErr != nil && errors.Is(end, tt.notErr)) {
				t.Fatalf("ended with %v, want %v", end, tt.wantErr)
			}
			if _, again := rd.Next(); again != end {
				t.Errorf("Next after %v: got %v, want the same error", end, again)
			}
		})
	}
}

// TestCSVNotGzip: a file that is not gzip at all is refused at once.
func TestCSVNotGzip(t *testing.T) {
	var text bytes.Buffer
	csvText(&text, record(goldenRows[0]))
	_, err := inventory.NewReader(bytes.NewReader(text.Bytes()), csvManifest(t), fileOf("data/plain.csv", text.Bytes()))
	if !errors.Is(err, inventory.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

// TestNewReaderChecksItsArguments: a File or a Manifest that was never
// through ParseManifest is checked too.
func TestNewReaderChecksItsArguments(t *testing.T) {
	m := csvManifest(t)
	data := csvGzip(t, record(goldenRows[0]))
	f := fileOf("data/a.csv.gz", data)
	orc := m
	orc.FileFormat = "ORC"
	noStatus := m
	noStatus.FileSchema = strings.Replace(m.FileSchema, "ReplicationStatus, ", "", 1)
	badMD5 := f
	badMD5.MD5checksum = "not-an-md5"
	tests := []struct {
		name string
		m    inventory.Manifest
		f    inventory.File
		want string
	}{
		{"an ORC manifest", orc, f, "ORC is not supported"},
		{"a schema without ReplicationStatus", noStatus, f, "lacks ReplicationStatus"},
		{"a file without an MD5", m, badMD5, "not 32 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inventory.NewReader(bytes.NewReader(data), tt.m, tt.f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func flip(data []byte, i int) []byte {
	data = bytes.Clone(data)
	data[i] ^= 0xff
	return data
}
