package reconcile

import (
	stdbytes "bytes" // this package has a func bytes
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/inventory"
	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// These benchmarks measure a worker's per-row hot path: reading a data
// file's rows (gzip or Parquet decoding, the MD5 check included) and
// classifying each with Scope.Classify, as Reconciler.read does, without the
// ledger and the remediation manifest. internal/inventory benchmarks the
// reading alone. Measured on one core, as a Lambda worker of 1769 MB or
// less has:
//
//	go test -run '^$' -bench 'ReadAndClassify|Classify' -benchmem -cpu 1 -count 5 ./internal/reconcile/

// benchFileRows is how many rows one benchmark op reads: one data file.
const benchFileRows = 100_000

const (
	benchBucket  = "acme-data"
	benchCreated = "1795914000000" // 2026-11-29T01:00Z, the inventory's time
)

// benchScope is a source with two audited rules of the stack's: logs/ by
// prefix alone, and images/ by prefix and tag, which an inventory cannot
// tell, so rows exercise both Config.Match and the tag-candidate paths.
func benchScope() Scope {
	rule := func(id, prefix string, tags map[string]string) replication.Rule {
		return replication.Rule{ID: id, Enabled: true, Filter: replication.Filter{Prefix: prefix, Tags: tags},
			Destination: replication.Destination{BucketARN: replication.BucketARN("acme-dr")}}
	}
	cfg := replication.Config{Role: "arn:aws:iam::111122223333:role/replication", Rules: []replication.Rule{
		rule("stack-logs", "logs/", nil),
		rule("stack-images", "images/", map[string]string{"replicate": "yes"}),
	}}
	audited := map[string]bool{"stack-logs": true, "stack-images": true}
	return Scope{Config: cfg,
		Audited:   func(id string) bool { return audited[id] },
		Allowance: func(size int64) time.Duration { return 30*time.Minute + time.Duration(size>>30)*4*time.Minute }}
}

// benchRowsOf generates n rows like a versioned bucket's, deterministically:
// keys of about 60 characters, 60% under logs/ (the prefix rule), 28% under
// images/ (the tag rule: its untagged objects have no status) and 12% under
// tmp/ (no rule, some keys with spaces, which CSV URL-encodes); statuses
// mostly COMPLETED, some PENDING (recent or not), FAILED or empty, a few
// REPLICA; 2% delete markers; 15% noncurrent versions.
func benchRowsOf(n int, created time.Time) []inventory.Row {
	rng := rand.New(rand.NewPCG(2026, 1129))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	versionID := func() string {
		var b [32]byte
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b[:])
	}
	status := func(completed, pending, failed, replica int) string {
		switch p := rng.IntN(1000); {
		case p < completed:
			return replication.StatusCompleted
		case p < completed+pending:
			return replication.StatusPending
		case p < completed+pending+failed:
			return replication.StatusFailed
		case p < completed+pending+failed+replica:
			return replication.StatusReplica
		}
		return ""
	}
	rows := make([]inventory.Row, n)
	for i := range rows {
		row := inventory.Row{Bucket: benchBucket, VersionID: versionID(), IsLatest: rng.IntN(100) >= 15}
		switch p := rng.IntN(100); {
		case p < 60:
			row.Key = fmt.Sprintf("logs/service-%02d/2026/11/%02d/host-%04d/part-%010d.json.gz", rng.IntN(12), 1+rng.IntN(28), rng.IntN(2000), i)
			row.ReplicationStatus = status(900, 40, 10, 5) // and 4.5% never replicated
		case p < 88:
			row.Key = fmt.Sprintf("images/catalog/%04d/%02d/sku-%012d/%s-1200x800.jpg", 2020+rng.IntN(7), 1+rng.IntN(12), rng.Int64N(1e12), versionID()[:8])
			row.ReplicationStatus = status(800, 10, 5, 0) // 18.5% untagged
		default:
			row.Key = fmt.Sprintf("tmp/scratch space/job %06d/chunk-%08d of run %04d.bin", rng.IntN(1e6), i, rng.IntN(1e4))
		}
		// Sizes from a few bytes to a few GiB, most of them small.
		row.Size = rng.Int64N(int64(1) << (4 + rng.IntN(28)))
		age := time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))
		if row.ReplicationStatus == replication.StatusPending {
			age = time.Duration(rng.Int64N(int64(90 * time.Minute))) // a third within the allowance
		}
		row.LastModified = created.Add(-age).Truncate(time.Millisecond)
		row.ETag = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		if rng.IntN(10) == 0 {
			row.ETag += "-" + strconv.Itoa(2+rng.IntN(100)) // multipart
		}
		if rng.IntN(50) == 0 {
			row.IsDeleteMarker, row.Size, row.ETag, row.ReplicationStatus = true, 0, "", ""
		}
		rows[i] = row
	}
	return rows
}

// benchCSVSchema is every column AWS documents, in the order of its example:
// inventory.Required and the optional ones.
const benchCSVSchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus, EncryptionStatus, ObjectLockRetainUntilDate, ObjectLockMode, ObjectLockLegalHoldStatus, IntelligentTieringAccessTier, BucketKeyStatus, ChecksumAlgorithm, ObjectAccessControlList, ObjectOwner"

// benchStackCSVSchema is the columns of the inventory the stack configures
// (setup's optional fields), as S3 orders them: what replaudit reads.
const benchStackCSVSchema = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, ReplicationStatus, EncryptionStatus"

// benchStackColumns are the indexes, in benchCSVSchema, of its columns.
var benchStackColumns = []int{0, 1, 2, 3, 4, 5, 6, 7, 10, 11}

// benchParquetSchema is the same columns as S3 writes them to Parquet.
const benchParquetSchema = "message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional binary version_id (STRING); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary e_tag (STRING); optional binary storage_class (STRING); optional boolean is_multipart_uploaded; optional binary replication_status (STRING); optional binary encryption_status (STRING); optional int64 object_lock_retain_until_date (TIMESTAMP(MILLIS,true)); optional binary object_lock_mode (STRING); optional binary object_lock_legal_hold_status (STRING); optional binary intelligent_tiering_access_tier (STRING); optional binary bucket_key_status (STRING); optional binary checksum_algorithm (STRING); optional binary object_access_control_list (STRING); optional binary object_owner (STRING);}"

// An object ACL as S3 Inventory writes it (base64 of JSON), and an owner's
// canonical ID: the two widest columns of a real row.
const (
	benchOwner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
	benchACL   = "eyJ2ZXJzaW9uIjoiMjAyMi0xMS0xMCIsInN0YXR1cyI6IkFWQUlMQUJMRSIsImdyYW50cyI6W3sicGVybWlzc2lvbiI6IkZVTExfQ09OVFJPTCIsInR5cGUiOiJDYW5vbmljYWxVc2VyIiwiY2Fub25pY2FsSWQiOiI3OWE1OWRmOTAwYjk0OWU1NWQ5NmExZTY5OGZiYWNlZGZkNmUwOWQ5OGVhY2Y4ZjhkNTIxOGU3Y2Q0N2VmMmJlIn1dfQ=="
)

// appendCSV appends row as S3 writes it to a CSV inventory of
// benchCSVSchema, or of its columns at the indexes given: every field
// quoted, the key URL-encoded, an empty Size for a delete marker.
func appendCSV(b []byte, row inventory.Row, columns []int) []byte {
	size := strconv.FormatInt(row.Size, 10)
	storage, multipart, encryption := "STANDARD", strconv.FormatBool(row.ETag != "" && len(row.ETag) > 32), "SSE-S3"
	if row.IsDeleteMarker {
		size, storage, multipart, encryption = "", "", "", ""
	}
	fields := [...]string{
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
		benchACL,
		benchOwner,
	}
	for i := range columns {
		f := fields[columns[i]]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := 0; j < len(f); j++ {
			if f[j] == '"' {
				b = append(b, '"')
			}
			b = append(b, f[j])
		}
		b = append(b, '"')
	}
	return append(b, '\n')
}

// benchParquetRow is a row as S3 writes it to a Parquet inventory of
// benchParquetSchema.
type benchParquetRow struct {
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

func parquetOf(row inventory.Row) benchParquetRow {
	ptr := func(s string) *string { return &s }
	latest, marker, modified := row.IsLatest, row.IsDeleteMarker, row.LastModified.UnixMilli()
	p := benchParquetRow{
		Bucket:                    row.Bucket,
		Key:                       row.Key,
		VersionID:                 ptr(row.VersionID),
		IsLatest:                  &latest,
		IsDeleteMarker:            &marker,
		LastModifiedDate:          &modified,
		ETag:                      ptr(row.ETag),
		ObjectLockLegalHoldStatus: ptr("OFF"),
		BucketKeyStatus:           ptr("DISABLED"),
		ChecksumAlgorithm:         ptr("CRC64NVME"),
		ObjectAccessControlList:   ptr(benchACL),
		ObjectOwner:               ptr(benchOwner),
	}
	if row.ReplicationStatus != "" {
		p.ReplicationStatus = ptr(row.ReplicationStatus)
	}
	if !row.IsDeleteMarker {
		size, multipart := row.Size, len(row.ETag) > 32
		p.Size, p.IsMultipartUploaded = &size, &multipart
		p.StorageClass, p.EncryptionStatus = ptr("STANDARD"), ptr("SSE-S3")
	}
	return p
}

// benchManifest is the manifest.json of an inventory whose one data file is
// data, parsed as the reconciler parses it: checked against its MD5.
func benchManifest(format, schema, key string, data []byte) (inventory.Manifest, inventory.File) {
	sum := md5.Sum(data)
	f := inventory.File{Key: key, Size: int64(len(data)), MD5checksum: hex.EncodeToString(sum[:])}
	js, err := json.MarshalIndent(inventory.Manifest{
		SourceBucket:      benchBucket,
		DestinationBucket: "arn:aws:s3:::acme-inventory",
		Version:           "2016-11-30",
		CreationTimestamp: benchCreated,
		FileFormat:        format,
		FileSchema:        schema,
		Files:             []inventory.File{f},
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	checksum := md5.Sum(js)
	m, err := inventory.ParseManifest(js, []byte(hex.EncodeToString(checksum[:])))
	if err != nil {
		panic(err)
	}
	return m, f
}

type benchInventory struct {
	rows                      []inventory.Row
	csvM, stackM, parquetM    inventory.Manifest
	csvF, stackF, parquetF    inventory.File
	csvGz, stackGz, parquetFi []byte
	at                        time.Time

	checked sync.Once // by check
	summary string
	err     error
}

// benchData generates the rows once, and the CSV.gz and Parquet data files
// that hold them.
var benchData = sync.OnceValue(func() *benchInventory {
	ms, _ := strconv.ParseInt(benchCreated, 10, 64)
	d := &benchInventory{at: time.UnixMilli(ms).UTC()}
	d.rows = benchRowsOf(benchFileRows, d.at)

	all := make([]int, 20)
	for i := range all {
		all[i] = i
	}
	d.csvGz = csvGzip(d.rows, all)
	d.csvM, d.csvF = benchManifest(inventory.FormatCSV, benchCSVSchema, "inventory/acme-data/all-versions/data/bench.csv.gz", d.csvGz)
	d.stackGz = csvGzip(d.rows, benchStackColumns)
	d.stackM, d.stackF = benchManifest(inventory.FormatCSV, benchStackCSVSchema, "inventory/acme-data/replaudit-inventory/data/bench.csv.gz", d.stackGz)

	// Snappy, parquet-go's default pages, row groups of half a million rows.
	var pq stdbytes.Buffer
	pw := parquet.NewGenericWriter[benchParquetRow](&pq,
		parquet.Compression(&parquet.Snappy), parquet.MaxRowsPerRowGroup(500_000))
	records := make([]benchParquetRow, len(d.rows))
	for i, row := range d.rows {
		records[i] = parquetOf(row)
	}
	if _, err := pw.Write(records); err != nil {
		panic(err)
	}
	if err := pw.Close(); err != nil {
		panic(err)
	}
	d.parquetFi = pq.Bytes()
	d.parquetM, d.parquetF = benchManifest(inventory.FormatParquet, benchParquetSchema, "inventory/acme-data/all-versions-parquet/data/bench.parquet", d.parquetFi)
	return d
})

// csvGzip is a CSV.gz data file of rows, of benchCSVSchema's columns at
// the indexes given.
func csvGzip(rows []inventory.Row, columns []int) []byte {
	var gz stdbytes.Buffer
	zw := gzip.NewWriter(&gz) // S3 does not document its level: the default
	var line []byte
	for _, row := range rows {
		line = appendCSV(line[:0], row, columns)
		zw.Write(line)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return gz.Bytes()
}

// tally is what a worker adds up of its rows: objects and bytes per class,
// and the rules that applied, so that none of the work can be optimised
// away.
type tally struct {
	objects map[Class]int
	bytes   map[Class]int64
	rules   int
}

func newTally() *tally {
	t := &tally{objects: map[Class]int{}, bytes: map[Class]int64{}}
	for _, c := range Classes {
		t.objects[c], t.bytes[c] = 0, 0
	}
	return t
}

func (t *tally) add(row inventory.Row, class Class, rules []replication.Rule) {
	t.objects[class]++
	t.bytes[class] += row.Size
	t.rules += len(rules)
}

func (t *tally) rows() int {
	n := 0
	for _, c := range t.objects {
		n += c
	}
	return n
}

func (t *tally) String() string {
	s := ""
	for _, c := range Classes {
		s += fmt.Sprintf(" %s=%d", c, t.objects[c])
	}
	return s[1:]
}

// readAndClassify reads rd to io.EOF, classifying each row into t, as
// Reconciler.read does, and fails on anything but a row.
func readAndClassify(b *testing.B, rd *inventory.Reader, scope Scope, at time.Time, t *tally) {
	for {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		class, rules := scope.Classify(row, at)
		t.add(row, class, rules)
	}
	if err := rd.Close(); err != nil {
		b.Fatal(err)
	}
}

// measureRows runs op, which handles rowsPerOp rows, until b.Loop ends, and
// reports rows/s, ns/row and allocs/row (from the runtime's count of heap
// allocations, so the benchmark's own tally counts too: it allocates
// nothing per row).
func measureRows(b *testing.B, rowsPerOp int, op func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		op()
	}
	runtime.ReadMemStats(&after)
	rows := float64(rowsPerOp) * float64(b.N)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/rows, "ns/row")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/rows, "allocs/row")
}

// checkTally fails unless t counted every row of every op, and every class
// a real bucket has.
func checkTally(b *testing.B, t *tally, ops int) {
	b.Helper()
	if got, want := t.rows(), benchFileRows*ops; got != want {
		b.Fatalf("classified %d rows, want %d", got, want)
	}
	for _, c := range Classes {
		if t.objects[c] == 0 {
			b.Errorf("no %s row in %s", c, t)
		}
	}
}

// BenchmarkClassify classifies rows already read, the classification alone.
func BenchmarkClassify(b *testing.B) {
	d := benchData()
	d.check(b)
	scope := benchScope()
	t := newTally()
	measureRows(b, len(d.rows), func() {
		for _, row := range d.rows {
			class, rules := scope.Classify(row, d.at)
			t.add(row, class, rules)
		}
	})
	checkTally(b, t, b.N)
}

// BenchmarkReadAndClassifyCSVGzip reads a CSV.gz data file through
// inventory.NewReader (gunzip, CSV, the MD5 check) and classifies each
// row: of the columns the stack configures, and of every column AWS
// documents, an object ACL among them, the widest row S3 writes.
func BenchmarkReadAndClassifyCSVGzip(b *testing.B) {
	d := benchData()
	d.check(b)
	scope := benchScope()
	for _, tt := range []struct {
		name string
		data []byte
		m    inventory.Manifest
		f    inventory.File
	}{
		{"stack", d.stackGz, d.stackM, d.stackF},
		{"all", d.csvGz, d.csvM, d.csvF},
	} {
		b.Run("columns="+tt.name, func(b *testing.B) {
			t := newTally()
			b.SetBytes(int64(len(tt.data)))
			measureRows(b, benchFileRows, func() {
				rd, err := inventory.NewReader(stdbytes.NewReader(tt.data), tt.m, tt.f)
				if err != nil {
					b.Fatal(err)
				}
				readAndClassify(b, rd, scope, d.at, t)
			})
			checkTally(b, t, b.N)
		})
	}
}

// BenchmarkReadAndClassifyParquet reads a Parquet data file of the same
// rows, the MD5 pass included, and classifies each row: through
// inventory.NewParquetReader from an io.ReaderAt in memory (a file in the
// page cache reads the same), and through inventory.NewReader from a
// stream, as a worker reads GetObject's body, which it spools to a
// temporary file.
func BenchmarkReadAndClassifyParquet(b *testing.B) {
	d := benchData()
	d.check(b)
	scope := benchScope()
	for _, tt := range []struct {
		name string
		open func() (*inventory.Reader, error)
	}{
		{"ReaderAt", func() (*inventory.Reader, error) {
			return inventory.NewParquetReader(stdbytes.NewReader(d.parquetFi), d.parquetM, d.parquetF)
		}},
		{"stream", func() (*inventory.Reader, error) {
			return inventory.NewReader(stdbytes.NewReader(d.parquetFi), d.parquetM, d.parquetF)
		}},
	} {
		b.Run("from="+tt.name, func(b *testing.B) {
			t := newTally()
			b.SetBytes(int64(len(d.parquetFi)))
			measureRows(b, benchFileRows, func() {
				rd, err := tt.open()
				if err != nil {
					b.Fatal(err)
				}
				readAndClassify(b, rd, scope, d.at, t)
			})
			checkTally(b, t, b.N)
		})
	}
}

// check reads both data files back through inventory.NewReader and fails
// unless each holds the generated rows, in order, and the rows classify
// alike whatever the format; it logs the mix once.
func (d *benchInventory) check(b *testing.B) {
	b.Helper()
	d.checked.Do(func() {
		scope := benchScope()
		want := newTally()
		keys := 0
		for _, row := range d.rows {
			class, rules := scope.Classify(row, d.at)
			want.add(row, class, rules)
			keys += len(row.Key)
		}
		d.summary = fmt.Sprintf("%d rows, keys of %.1f characters on average, CSV.gz %d bytes (the stack's columns) and %d (all), Parquet %d bytes: %s",
			len(d.rows), float64(keys)/float64(len(d.rows)), len(d.stackGz), len(d.csvGz), len(d.parquetFi), want)
		for _, c := range Classes {
			if want.objects[c] == 0 {
				d.err = fmt.Errorf("no %s row", c)
				return
			}
		}
		for _, tt := range []struct {
			name string
			data []byte
			m    inventory.Manifest
			f    inventory.File
		}{
			{"csv.gz", d.csvGz, d.csvM, d.csvF},
			{"csv.gz of the stack's columns", d.stackGz, d.stackM, d.stackF},
			{"parquet", d.parquetFi, d.parquetM, d.parquetF},
		} {
			if d.err = d.readBack(tt.name, tt.data, tt.m, tt.f, scope, want); d.err != nil {
				return
			}
		}
	})
	if d.err != nil {
		b.Fatal(d.err)
	}
	b.Log(d.summary)
}

func (d *benchInventory) readBack(name string, data []byte, m inventory.Manifest, f inventory.File, scope Scope, want *tally) error {
	rd, err := inventory.NewReader(stdbytes.NewReader(data), m, f)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rd.Close()
	got := newTally()
	for i := 0; ; i++ {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if w := d.rows[i]; row.Bucket != w.Bucket || row.Key != w.Key || row.VersionID != w.VersionID || row.ETag != w.ETag ||
			row.Size != w.Size || !row.LastModified.Equal(w.LastModified) || row.ReplicationStatus != w.ReplicationStatus ||
			row.IsLatest != w.IsLatest || row.IsDeleteMarker != w.IsDeleteMarker {
			return fmt.Errorf("%s: row %d is %+v, want %+v", name, i, row, w)
		}
		class, rules := scope.Classify(row, d.at)
		got.add(row, class, rules)
	}
	if got.String() != want.String() || got.rules != want.rules {
		return fmt.Errorf("%s: %s, %d rules; want %s, %d rules", name, got, got.rules, want, want.rules)
	}
	return nil
}
