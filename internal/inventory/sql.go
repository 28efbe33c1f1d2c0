package inventory

import (
	"fmt"
	"io"
	"strings"
	"unicode"
)

// SQLName is a column's name in the tables SQL engines read inventories
// through: the snake_case names of S3's Parquet schema and of the Athena
// tables AWS documents for inventories (ETag is e_tag, VersionId is
// version_id, IsDeleteMarker is is_delete_marker).
func SQLName(csvName string) string {
	var b strings.Builder
	rs := []rune(csvName)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// DuckDBScan is the DuckDB table function that reads data files of m on
// local disk, with the columns named as SQLName says. A CSV file has no
// header: its columns come from the fileSchema, every one a VARCHAR, as
// Athena's OpenCSVSerde reads them, keys still URL-encoded. A Parquet file
// names and types its own columns, keys as they are.
func DuckDBScan(m Manifest, paths []string) (string, error) {
	format, err := m.format()
	if err != nil {
		return "", err
	}
	if len(paths) == 0 {
		return "", fmt.Errorf("manifest.json of s3://%s: no data files to read", m.SourceBucket)
	}
	files := make([]string, len(paths))
	for i, p := range paths {
		files[i] = sqlString(p)
	}
	list := "[" + strings.Join(files, ", ") + "]"
	if format == FormatParquet {
		return "read_parquet(" + list + ")", nil
	}
	cols := m.Columns()
	if len(cols) == 0 {
		return "", fmt.Errorf("manifest.json: fileSchema %q lists no columns", abbreviate(m.FileSchema))
	}
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = sqlString(SQLName(c)) + ": 'VARCHAR'"
	}
	return "read_csv(" + list + ", header = false, delim = ',', quote = '\"', escape = '\"', compression = 'gzip', auto_detect = false, " +
		"columns = {" + strings.Join(defs, ", ") + "})", nil
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// CopyFile copies a data file of a manifest from r to w, and checks, once
// all is copied, that its size and MD5 are the manifest's: a mismatch is
// an error wrapping ErrSize or ErrChecksum, and what w holds must not be
// used. It is how a caller that hands the file to another reader (an SQL
// engine) trusts it as much as NewReader's rows.
func CopyFile(w io.Writer, r io.Reader, f File) (int64, error) {
	if err := f.validate(); err != nil {
		return 0, fmt.Errorf("data file: %w", err)
	}
	d := newDigest(r)
	// One more byte than the manifest says is enough to tell it is longer.
	n, err := io.Copy(w, io.LimitReader(d, f.Size+1))
	if err != nil {
		return n, fmt.Errorf("copy %s: %w", f.Key, err)
	}
	return n, d.check(f)
}
