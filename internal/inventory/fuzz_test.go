package inventory_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/replaudit/replaudit/internal/inventory"
)

// FuzzReader reads arbitrary CSV text, gzip-compressed as S3 would and
// listed with its true size and MD5: whatever the text, Next returns rows
// that hold together, RowErrors, then io.EOF, or ErrCorrupt for a line no
// inventory has. It never panics and never returns a row it could not read.
//
//	go test -run '^$' -fuzz FuzzReader -fuzztime 60s ./internal/inventory/
func FuzzReader(f *testing.F) {
	var golden bytes.Buffer
	for _, row := range goldenRows {
		csvText(&golden, record(row))
	}
	f.Add(golden.Bytes())
	bad := record(goldenRows[3])
	bad[1], bad[5] = "100%done", "-1"
	var b bytes.Buffer
	csvText(&b, bad, record(goldenRows[0])[:12], append(record(goldenRows[1]), "x"))
	f.Add(b.Bytes())
	f.Add([]byte(`"amzn-s3-demo-source-bucket","a""b` + "\n\n\r\n" + `"unterminated`))
	f.Add([]byte{})

	m := csvManifest(f)
	f.Fuzz(func(t *testing.T, text []byte) {
		// Stored, not compressed: what is fuzzed is the text, and deflate
		// under coverage instrumentation would take most of each run.
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression)
		zw.Write(text)
		zw.Close()
		data := buf.Bytes()
		rd, err := inventory.NewReader(bytes.NewReader(data), m, fileOf("data/fuzz.csv.gz", data))
		if err != nil {
			t.Fatal(err)
		}
		rows, rowErrs, end := readAll(t, rd)
		if end != io.EOF && !errors.Is(end, inventory.ErrCorrupt) {
			t.Fatalf("ended with %v, want EOF or ErrCorrupt", end)
		}
		for _, e := range rowErrs {
			if e.Line < 1 || e.Reason == "" {
				t.Errorf("row error %+v: want a line and a reason", e)
			}
		}
		for _, row := range rows {
			checkRow(t, row)
		}
	})
}

// checkRow fails a row that does not hold together.
func checkRow(t *testing.T, row inventory.Row) {
	t.Helper()
	switch {
	case row.Bucket != sourceBucket:
		t.Errorf("row %+v: bucket is not the manifest's", row)
	case row.Key == "" || !utf8.ValidString(row.Key):
		t.Errorf("row %+v: key %q is empty or not UTF-8", row, row.Key)
	case row.Size < 0:
		t.Errorf("row %+v: negative size", row)
	case row.LastModified.IsZero():
		t.Errorf("row %+v: no LastModified", row)
	case !strings.Contains(" COMPLETED PENDING FAILED REPLICA ", " "+row.ReplicationStatus+" ") && row.ReplicationStatus != "":
		t.Errorf("row %+v: status %q", row, row.ReplicationStatus)
	}
}
