package inventory_test

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/s3events"
)

// The reports in testdata, laid out as S3 delivers them:
// <prefix>/<source-bucket>/<config-id>/<YYYY-MM-DDTHH-MMZ>/manifest.json.
const (
	csvReport     = "testdata/inventory/amzn-s3-demo-source-bucket/replaudit-all-versions/2026-11-29T01-00Z"
	parquetReport = "testdata/inventory/amzn-s3-demo-source-bucket/replaudit-all-versions-parquet/2026-11-29T01-00Z"
	orcReport     = "testdata/inventory/amzn-s3-demo-source-bucket/replaudit-all-versions-orc/2026-11-29T01-00Z"
	sourceBucket  = "amzn-s3-demo-source-bucket"
)

// readReport reads a report's manifest.json and manifest.checksum.
func readReport(tb testing.TB, dir string) (manifest, checksum []byte) {
	tb.Helper()
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		tb.Fatal(err)
	}
	checksum, err = os.ReadFile(filepath.Join(dir, "manifest.checksum"))
	if err != nil {
		tb.Fatal(err)
	}
	return manifest, checksum
}

// csvManifest is testdata's CSV manifest: every column AWS documents, in
// the order of its example.
func csvManifest(tb testing.TB) inventory.Manifest {
	tb.Helper()
	m, err := inventory.ParseManifest(readReport(tb, csvReport))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func parquetManifest(tb testing.TB) inventory.Manifest {
	tb.Helper()
	m, err := inventory.ParseManifest(readReport(tb, parquetReport))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// record writes row as S3 writes it to a CSV inventory with csvManifest's
// schema: the key URL-encoded, an empty Size for a delete marker, and the
// columns the reader does not need filled in as S3 would.
func record(row inventory.Row) []string {
	size := strconv.FormatInt(row.Size, 10)
	storage, multipart, encryption := "STANDARD", "false", "SSE-S3"
	if row.IsDeleteMarker {
		size, storage, multipart, encryption = "", "", "", ""
	}
	return []string{
		row.Bucket,
		s3events.EncodeKey(row.Key),
		row.VersionID,
		strconv.FormatBool(row.IsLatest),
		strconv.FormatBool(row.IsDeleteMarker),
		size,
		row.LastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
		row.ETag,
		storage,
		multipart,
		row.ReplicationStatus,
		encryption,
		"",    // ObjectLockRetainUntilDate
		"",    // ObjectLockMode
		"OFF", // ObjectLockLegalHoldStatus
		"",    // IntelligentTieringAccessTier
		"DISABLED",
		"CRC64NVME",
		testACL,
		testOwner,
	}
}

// An object ACL as S3 Inventory writes it (base64 of JSON), and an owner's
// canonical ID: the two widest columns of a real row.
const (
	testOwner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
	testACL   = "eyJ2ZXJzaW9uIjoiMjAyMi0xMS0xMCIsInN0YXR1cyI6IkFWQUlMQUJMRSIsImdyYW50cyI6W3sicGVybWlzc2lvbiI6IkZVTExfQ09OVFJPTCIsInR5cGUiOiJDYW5vbmljYWxVc2VyIiwiY2Fub25pY2FsSWQiOiI3OWE1OWRmOTAwYjk0OWU1NWQ5NmExZTY5OGZiYWNlZGZkNmUwOWQ5OGVhY2Y4ZjhkNTIxOGU3Y2Q0N2VmMmJlIn1dfQ=="
)

// csvText writes records as S3 does: every field quoted, no header.
func csvText(w io.Writer, records ...[]string) {
	var b []byte
	for _, rec := range records {
		b = b[:0]
		for i, f := range rec {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
			b = append(b, '"')
		}
		b = append(b, '\n')
		w.Write(b)
	}
}

// csvGzip is a CSV data file of records.
func csvGzip(tb testing.TB, records ...[]string) []byte {
	tb.Helper()
	var text bytes.Buffer
	csvText(&text, records...)
	var buf bytes.Buffer
	csvGzipTo(&buf, text.Bytes())
	return buf.Bytes()
}

// csvGzipTo writes text gzip-compressed to w, which must not fail.
func csvGzipTo(w io.Writer, text []byte) {
	zw := gzip.NewWriter(w)
	zw.Write(text)
	if err := zw.Close(); err != nil {
		panic(err)
	}
}

// fileOf is how a manifest lists data.
func fileOf(key string, data []byte) inventory.File {
	sum := md5.Sum(data)
	return inventory.File{Key: key, Size: int64(len(data)), MD5checksum: hex.EncodeToString(sum[:])}
}

// readAll reads rd to its end, collecting rows and row errors, and returns
// the error that ended it (io.EOF when all went well).
func readAll(tb testing.TB, rd *inventory.Reader) (rows []inventory.Row, rowErrs []*inventory.RowError, end error) {
	tb.Helper()
	for i := 0; ; i++ {
		if i > 1_000_000 {
			tb.Fatal("Next never ended")
		}
		row, err := rd.Next()
		var rowErr *inventory.RowError
		switch {
		case err == nil:
			rows = append(rows, row)
		case errors.As(err, &rowErr):
			rowErrs = append(rowErrs, rowErr)
		default:
			return rows, rowErrs, err
		}
	}
}

// at parses a time in the inventory's format.
func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// s3Parquet is a row as S3 writes it to a Parquet inventory: every column
// AWS documents, optional where its schema says so.
type s3Parquet struct {
	Bucket                       string  `parquet:"bucket"`
	Key                          string  `parquet:"key"`
	VersionID                    *string `parquet:"version_id"`
	IsLatest                     *bool   `parquet:"is_latest"`
	IsDeleteMarker               *bool   `parquet:"is_delete_marker"`
	Size                         *int64  `parquet:"size"`
	LastModifiedDate             *int64  `parquet:"last_modified_date,timestamp(millisecond)"`
	ETag                         *string `parquet:"e_tag"`
	StorageClass                 *string `parquet:"storage_class"`
	IsMultipartUploaded          *bool   `parquet:"is_multipart_uploaded"`
	ReplicationStatus            *string `parquet:"replication_status"`
	EncryptionStatus             *string `parquet:"encryption_status"`
	ObjectLockRetainUntilDate    *int64  `parquet:"object_lock_retain_until_date,timestamp(millisecond)"`
	ObjectLockMode               *string `parquet:"object_lock_mode"`
	ObjectLockLegalHoldStatus    *string `parquet:"object_lock_legal_hold_status"`
	IntelligentTieringAccessTier *string `parquet:"intelligent_tiering_access_tier"`
	BucketKeyStatus              *string `parquet:"bucket_key_status"`
	ChecksumAlgorithm            *string `parquet:"checksum_algorithm"`
	ObjectAccessControlList      *string `parquet:"object_access_control_list"`
	ObjectOwner                  *string `parquet:"object_owner"`
}

func ptr[T any](v T) *T { return &v }

// parquetRecord writes row as S3 writes it to a Parquet inventory: the key
// as it is, no size for a delete marker, no status for an object no rule
// covers.
func parquetRecord(row inventory.Row) s3Parquet {
	p := s3Parquet{
		Bucket:                    row.Bucket,
		Key:                       row.Key,
		VersionID:                 ptr(row.VersionID),
		IsLatest:                  ptr(row.IsLatest),
		IsDeleteMarker:            ptr(row.IsDeleteMarker),
		LastModifiedDate:          ptr(row.LastModified.UnixMilli()),
		ETag:                      ptr(row.ETag),
		ObjectLockLegalHoldStatus: ptr("OFF"),
		BucketKeyStatus:           ptr("DISABLED"),
		ChecksumAlgorithm:         ptr("CRC64NVME"),
		ObjectAccessControlList:   ptr(testACL),
		ObjectOwner:               ptr(testOwner),
	}
	if row.ReplicationStatus != "" {
		p.ReplicationStatus = ptr(row.ReplicationStatus)
	}
	if !row.IsDeleteMarker {
		p.Size = ptr(row.Size)
		p.StorageClass, p.IsMultipartUploaded, p.EncryptionStatus = ptr("STANDARD"), ptr(false), ptr("SSE-S3")
	}
	return p
}

// parquetFile is a Parquet data file of records, with small row groups and
// pages so that a few rows cross their boundaries, and each column's at
// different rows.
func parquetFile(tb testing.TB, rowsPerGroup int64, records ...s3Parquet) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[s3Parquet](&buf,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(rowsPerGroup),
		parquet.PageBufferSize(1024))
	if _, err := w.Write(records); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// generated is n rows like a real bucket's: 60-character keys under a few
// prefixes, one in ten with a space, versions, delete markers and each
// replication status.
func generated(n int) func(i int) inventory.Row {
	statuses := []string{"COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "PENDING", "FAILED", "REPLICA", ""}
	base := at("2026-11-29T10:00:00Z")
	return func(i int) inventory.Row {
		key := fmt.Sprintf("logs/app-%02d/2026/11/29/host-%04d/part-%010d.json.gz", i%7, i%1000, i)
		if i%10 == 3 {
			key = fmt.Sprintf("reports/q4 2026/team %02d/summary-%024d.csv", i%13, i)
		}
		row := inventory.Row{
			Bucket:            sourceBucket,
			Key:               key,
			VersionID:         fmt.Sprintf("3HL4kqtJlcpXroDTDmJ%013d.Jp", i),
			IsLatest:          i%5 != 0,
			Size:              int64(i%100_000) * 37,
			LastModified:      base.Add(time.Duration(i) * time.Second),
			ETag:              fmt.Sprintf("%032x", uint64(i)*0x9E3779B97F4A7C15),
			ReplicationStatus: statuses[i%len(statuses)],
		}
		if i%50 == 0 {
			row.IsDeleteMarker, row.Size, row.ETag, row.ReplicationStatus = true, 0, "", ""
		}
		return row
	}
}
