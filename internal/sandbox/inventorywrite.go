package sandbox

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/replication"
	"github.com/replaudit/replaudit/internal/s3events"
)

// inventoryRow is one object version as an inventory lists it.
type inventoryRow struct {
	bucket, key, versionID string
	latest, deleteMarker   bool
	size                   int64
	lastModified           time.Time
	etag                   string // unquoted
	storageClass           string
	multipart              bool
	replicationStatus      string
	encryptionStatus       string
	bucketKeyStatus        string
	checksumAlgorithm      string
}

// inventoryField is one column of an inventory: its name in the CSV
// fileSchema and the configuration, its ORC and Parquet column name and
// type, and its value for a row (nil when S3 leaves it empty).
type inventoryField struct {
	name, column string
	kind         columnKind
	value        func(r inventoryRow) any
}

type columnKind int

const (
	stringColumn columnKind = iota
	boolColumn
	int64Column
	timestampColumn
)

// objectField is a field that a delete marker leaves empty.
func objectField(v func(r inventoryRow) any) func(r inventoryRow) any {
	return func(r inventoryRow) any {
		if r.deleteMarker {
			return nil
		}
		return v(r)
	}
}

func blank(inventoryRow) any { return nil }

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// The fields every inventory starts with: bucket and key, then, for an
// inventory of all versions, the version id and its two flags.
var (
	bucketField   = inventoryField{"Bucket", "bucket", stringColumn, func(r inventoryRow) any { return r.bucket }}
	keyField      = inventoryField{"Key", "key", stringColumn, func(r inventoryRow) any { return r.key }}
	versionFields = []inventoryField{
		{"VersionId", "version_id", stringColumn, func(r inventoryRow) any { return nonEmpty(r.versionID) }},
		{"IsLatest", "is_latest", boolColumn, func(r inventoryRow) any { return r.latest }},
		{"IsDeleteMarker", "is_delete_marker", boolColumn, func(r inventoryRow) any { return r.deleteMarker }},
	}
)

// optionalFields are the OptionalFields S3 accepts, in the order S3 writes
// them in an inventory, whatever the order of the configuration: the order
// of its documented manifests (ETag before StorageClass), then the fields
// added since, in the order of the API's enum. The sandbox has no Object
// Lock, ACLs, owners, lifecycle or Intelligent-Tiering: those stay empty.
var optionalFields = []inventoryField{
	{"Size", "size", int64Column, objectField(func(r inventoryRow) any { return r.size })},
	{"LastModifiedDate", "last_modified_date", timestampColumn, func(r inventoryRow) any { return r.lastModified }},
	{"ETag", "e_tag", stringColumn, objectField(func(r inventoryRow) any { return r.etag })},
	{"StorageClass", "storage_class", stringColumn, objectField(func(r inventoryRow) any { return r.storageClass })},
	{"IsMultipartUploaded", "is_multipart_uploaded", boolColumn, objectField(func(r inventoryRow) any { return r.multipart })},
	{"ReplicationStatus", "replication_status", stringColumn, func(r inventoryRow) any { return nonEmpty(r.replicationStatus) }},
	{"EncryptionStatus", "encryption_status", stringColumn, objectField(func(r inventoryRow) any { return r.encryptionStatus })},
	{"ObjectLockRetainUntilDate", "object_lock_retain_until_date", timestampColumn, blank},
	{"ObjectLockMode", "object_lock_mode", stringColumn, blank},
	{"ObjectLockLegalHoldStatus", "object_lock_legal_hold_status", stringColumn, blank},
	{"IntelligentTieringAccessTier", "intelligent_tiering_access_tier", stringColumn, blank},
	{"BucketKeyStatus", "bucket_key_status", stringColumn, objectField(func(r inventoryRow) any { return r.bucketKeyStatus })},
	{"ChecksumAlgorithm", "checksum_algorithm", stringColumn, objectField(func(r inventoryRow) any { return nonEmpty(r.checksumAlgorithm) })},
	{"ObjectAccessControlList", "object_access_control_list", stringColumn, blank},
	{"ObjectOwner", "object_owner", stringColumn, blank},
	{"LifecycleExpirationDate", "lifecycle_expiration_date", timestampColumn, blank},
	{"ObjectLockEventHoldStatus", "object_lock_event_hold_status", stringColumn, blank},
	{"ObjectLockEventHoldDuration", "object_lock_event_hold_duration", stringColumn, blank},
	{"IntelligentTieringReferenceDate", "intelligent_tiering_reference_date", timestampColumn, blank},
}

var inventoryFields = func() map[string]*inventoryField {
	m := map[string]*inventoryField{}
	for i := range optionalFields {
		m[optionalFields[i].name] = &optionalFields[i]
	}
	return m
}()

// columns lists an inventory's fields in the order S3 writes them.
func (c *inventoryConfig) columns() []inventoryField {
	cols := []inventoryField{bucketField, keyField}
	if c.IncludedObjectVersions == "All" {
		cols = append(cols, versionFields...)
	}
	chosen := set(c.fields()...)
	for _, f := range optionalFields {
		if chosen[f.name] {
			cols = append(cols, f)
		}
	}
	return cols
}

// WriteInventory writes, now, the inventory of each enabled inventory
// configuration of bucket, into its destination bucket and in S3's layout:
// data files under <prefix>/<bucket>/<id>/data/, and under
// <prefix>/<bucket>/<id>/<YYYY-MM-DDTHH-MMZ>/ a manifest.json, its
// manifest.checksum (the hex MD5 of manifest.json) written last, and
// hive/dt=.../symlink.txt. Each file is written as any object is, so the
// destination's event notifications and replication apply.
//
// CSV inventories are gzip-compressed, every field quoted, keys URL-encoded;
// Parquet inventories use S3's column names and types. A data file holds at
// most Options.InventoryRowsPerFile rows. ORC is not supported.
//
// It returns the s3:// URI of each manifest.json written, and an error,
// before writing anything, when the bucket does not exist, has no enabled
// configuration, or a configuration cannot be delivered (its destination is
// missing or in another region, or its format is ORC).
func (sb *Sandbox) WriteInventory(bucket string) ([]string, error) {
	region, ok := sb.store.bucketRegion(bucket)
	if !ok {
		return nil, fmt.Errorf("write inventory of %s: the bucket does not exist", bucket)
	}
	var configs []*inventoryConfig
	for _, c := range sb.store.inventories(bucket) {
		if c.IsEnabled {
			configs = append(configs, c)
		}
	}
	if len(configs) == 0 {
		return nil, fmt.Errorf("write inventory of %s: the bucket has no enabled inventory configuration", bucket)
	}
	for _, c := range configs {
		d := c.Destination.S3BucketDestination
		dst, _ := replication.BucketFromARN(d.Bucket)
		dstRegion, ok := sb.store.bucketRegion(dst)
		switch {
		case d.Format == "ORC":
			return nil, fmt.Errorf("write inventory %s of %s: the sandbox writes CSV and Parquet inventories, not ORC", c.ID, bucket)
		case !ok:
			return nil, fmt.Errorf("write inventory %s of %s: the destination bucket %s does not exist", c.ID, bucket, dst)
		case dstRegion != region:
			return nil, fmt.Errorf("write inventory %s of %s: the destination bucket %s is in %s, and S3 delivers inventories only to a bucket in the source's region, %s", c.ID, bucket, dst, dstRegion, region)
		}
	}
	var manifests []string
	for _, c := range configs {
		m, err := sb.writeInventory(bucket, c)
		if err != nil {
			return manifests, fmt.Errorf("write inventory %s of %s: %w", c.ID, bucket, err)
		}
		manifests = append(manifests, m)
	}
	return manifests, nil
}

// inventoryFile is one data file as manifest.json lists it.
type inventoryFile struct {
	Key         string `json:"key"`
	Size        int    `json:"size"`
	MD5checksum string `json:"MD5checksum"`
}

func (sb *Sandbox) writeInventory(bucket string, c *inventoryConfig) (string, error) {
	d := c.Destination.S3BucketDestination
	dst, _ := replication.BucketFromARN(d.Bucket)
	began := sb.now().UTC()
	rows := sb.store.inventoryRows(bucket, c.IncludedObjectVersions == "All", c.prefix())
	cols := c.columns()
	base := bucket + "/" + c.ID
	if d.Prefix != "" {
		base = strings.TrimSuffix(d.Prefix, "/") + "/" + base
	}
	ext := ".csv.gz"
	encode := encodeCSV
	schema := csvSchema(cols)
	if d.Format == "Parquet" {
		ext, encode, schema = ".parquet", encodeParquet, parquetSchema(cols)
	}
	files := []inventoryFile{}
	per := sb.opts.InventoryRowsPerFile
	for start := 0; start < len(rows); start += per {
		body, err := encode(cols, rows[start:min(start+per, len(rows))])
		if err != nil {
			return "", err
		}
		key := base + "/data/" + newUUID() + ext
		if err := sb.putObject(dst, key, "application/octet-stream", body); err != nil {
			return "", err
		}
		sum := md5.Sum(body)
		files = append(files, inventoryFile{Key: key, Size: len(body), MD5checksum: hex.EncodeToString(sum[:])})
	}
	// The manifest lists the files by name, which says nothing of the keys
	// inside: S3 does not sort across files either.
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	manifest, err := json.MarshalIndent(struct {
		SourceBucket      string          `json:"sourceBucket"`
		DestinationBucket string          `json:"destinationBucket"`
		Version           string          `json:"version"`
		CreationTimestamp string          `json:"creationTimestamp"`
		FileFormat        string          `json:"fileFormat"`
		FileSchema        string          `json:"fileSchema"`
		Files             []inventoryFile `json:"files"`
	}{bucket, d.Bucket, "2016-11-30", strconv.FormatInt(began.UnixMilli(), 10), d.Format, schema, files}, "", "  ")
	if err != nil {
		return "", err
	}
	var symlink strings.Builder
	for _, f := range files {
		symlink.WriteString("s3://" + dst + "/" + f.Key + "\n")
	}
	if err := sb.putObject(dst, base+"/hive/dt="+began.Format("2006-01-02-15-04")+"/symlink.txt", "text/plain", []byte(symlink.String())); err != nil {
		return "", err
	}
	dir := base + "/" + began.Format("2006-01-02T15-04Z")
	sum := md5.Sum(manifest)
	if err := sb.putObject(dst, dir+"/manifest.json", "application/json", manifest); err != nil {
		return "", err
	}
	if err := sb.putObject(dst, dir+"/manifest.checksum", "text/plain", []byte(hex.EncodeToString(sum[:]))); err != nil {
		return "", err
	}
	return "s3://" + dst + "/" + dir + "/manifest.json", nil
}

// putObject writes an object as S3 itself does: through the store, so the
// bucket's notifications and replication see it.
func (sb *Sandbox) putObject(bucket, key, contentType string, body []byte) error {
	_, err := sb.store.PutObject(bucket, key, map[string]string{"Content-Type": contentType}, bytes.NewReader(body), int64(len(body)), nil)
	return err
}

// inventoryRows lists a bucket's versions for an inventory: every version
// and delete marker, or only current versions that are not delete markers,
// of the keys under prefix, in key order and each key's versions newest
// first.
func (s *store) inventoryRows(bucketName string, allVersions bool, prefix string) []inventoryRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucketName]
	if b == nil {
		return nil
	}
	var rows []inventoryRow
	for _, key := range b.sortedKeys() {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		vs := b.keys[key]
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			latest := i == len(vs)-1
			if !allVersions && (!latest || v.deleteMarker) {
				continue
			}
			etag := strings.Trim(v.eTag(), `"`)
			r := inventoryRow{
				bucket: bucketName, key: key, versionID: v.id, latest: latest, deleteMarker: v.deleteMarker,
				size: int64(len(v.body)), lastModified: v.lastModified, etag: etag,
				storageClass: v.meta["X-Amz-Storage-Class"], multipart: strings.Contains(etag, "-"),
				replicationStatus: v.status, encryptionStatus: encryptionStatus(v.meta),
				bucketKeyStatus: "DISABLED", checksumAlgorithm: checksumAlgorithm(v.meta),
			}
			if r.storageClass == "" {
				r.storageClass = "STANDARD"
			}
			if strings.EqualFold(v.meta["X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"], "true") {
				r.bucketKeyStatus = "ENABLED"
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// encryptionStatus names a version's encryption as inventories do. S3
// encrypts every new object with SSE-S3 when nothing else is asked for.
func encryptionStatus(meta map[string]string) string {
	if meta["X-Amz-Server-Side-Encryption-Customer-Algorithm"] != "" {
		return "SSE-C"
	}
	switch meta["X-Amz-Server-Side-Encryption"] {
	case "aws:kms":
		return "SSE-KMS"
	case "aws:kms:dsse":
		return "DSSE-KMS"
	}
	return "SSE-S3"
}

// checksumAlgorithm names the additional checksum a version was uploaded
// with, from its x-amz-checksum-* metadata, or "".
func checksumAlgorithm(meta map[string]string) string {
	for _, alg := range []string{"Crc64nvme", "Crc32c", "Crc32", "Sha256", "Sha1"} {
		if meta["X-Amz-Checksum-"+alg] != "" {
			return strings.ToUpper(alg)
		}
	}
	return ""
}

// csvSchema is a CSV inventory's fileSchema: its column names joined by
// ", ".
func csvSchema(cols []inventoryField) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// encodeCSV writes rows as a gzip-compressed CSV inventory file: no header,
// every field quoted, keys URL-encoded as S3 event records encode them (with
// + for a space; s3events.EncodeKey), booleans true or false, times in
// milliseconds UTC.
func encodeCSV(cols []inventoryField, rows []inventoryRow) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	var line strings.Builder
	for _, r := range rows {
		line.Reset()
		for i, c := range cols {
			if i > 0 {
				line.WriteByte(',')
			}
			var s string
			switch v := c.value(r).(type) {
			case nil:
			case string:
				s = v
				if c.name == "Key" {
					s = s3events.EncodeKey(v)
				}
			case bool:
				s = strconv.FormatBool(v)
			case int64:
				s = strconv.FormatInt(v, 10)
			case time.Time:
				s = v.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			line.WriteString(`"` + strings.ReplaceAll(s, `"`, `""`) + `"`)
		}
		line.WriteByte('\n')
		if _, err := zw.Write([]byte(line.String())); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parquetSchema is a Parquet inventory's fileSchema as S3 writes it in
// manifest.json.
func parquetSchema(cols []inventoryField) string {
	var b strings.Builder
	b.WriteString("message s3.inventory {")
	for _, c := range cols {
		rep := "optional"
		if c.name == "Bucket" || c.name == "Key" {
			rep = "required"
		}
		typ := map[columnKind]string{
			stringColumn:    "binary " + c.column + " (UTF8)",
			boolColumn:      "boolean " + c.column,
			int64Column:     "int64 " + c.column,
			timestampColumn: "int64 " + c.column + " (TIMESTAMP_MILLIS)",
		}[c.kind]
		b.WriteString(" " + rep + " " + typ + ";")
	}
	b.WriteString("}")
	return b.String()
}

// parquetRow builds, per inventory, a Go struct type whose fields are its
// columns in order, for parquet-go to derive the file's schema from: bucket
// and key required, every other column optional (a nil pointer is a null).
func parquetRow(cols []inventoryField) reflect.Type {
	fields := make([]reflect.StructField, len(cols))
	for i, c := range cols {
		var t reflect.Type
		tag := c.column
		switch c.kind {
		case stringColumn:
			t = reflect.TypeFor[string]()
		case boolColumn:
			t = reflect.TypeFor[bool]()
		case int64Column:
			t = reflect.TypeFor[int64]()
		case timestampColumn:
			t, tag = reflect.TypeFor[time.Time](), tag+",timestamp(millisecond)"
		}
		if c.name != "Bucket" && c.name != "Key" {
			t, tag = reflect.PointerTo(t), tag+",optional"
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: t, Tag: reflect.StructTag(`parquet:"` + tag + `"`)}
	}
	return reflect.StructOf(fields)
}

// encodeParquet writes rows as a Parquet inventory file. Keys are not
// URL-encoded in Parquet.
func encodeParquet(cols []inventoryField, rows []inventoryRow) ([]byte, error) {
	typ := parquetRow(cols)
	schema := parquet.NewSchema("s3.inventory", parquet.SchemaOf(reflect.New(typ).Interface()))
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, schema)
	for _, r := range rows {
		row := reflect.New(typ).Elem()
		for i, c := range cols {
			v := c.value(r)
			if v == nil {
				continue
			}
			f := row.Field(i)
			if f.Kind() == reflect.Pointer {
				p := reflect.New(f.Type().Elem())
				p.Elem().Set(reflect.ValueOf(v))
				f.Set(p)
			} else {
				f.Set(reflect.ValueOf(v))
			}
		}
		if err := w.Write(row.Addr().Interface()); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
