package inventory

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Manifest is an inventory's manifest.json.
type Manifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"` // an ARN
	Version           string `json:"version"`
	CreationTimestamp string `json:"creationTimestamp"` // milliseconds, as a string
	FileFormat        string `json:"fileFormat"`        // CSV, ORC or Parquet
	FileSchema        string `json:"fileSchema"`
	Files             []File `json:"files"`
}

// File is one data file of an inventory, as its manifest lists it.
type File struct {
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	MD5checksum string `json:"MD5checksum"`
}

// The file formats S3 Inventory writes.
const (
	FormatCSV     = "CSV"
	FormatORC     = "ORC"
	FormatParquet = "Parquet"
)

// Required lists the columns a reconciler needs, by their CSV names. An
// inventory has them all when it lists every version (IncludedObjectVersions
// All) and includes the optional fields Size, LastModifiedDate, ETag and
// ReplicationStatus.
var Required = []string{
	"Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker",
	"Size", "LastModifiedDate", "ETag", "ReplicationStatus",
}

// The index of each required column in Required, and so in a reader's
// column map.
const (
	colBucket = iota
	colKey
	colVersionID
	colIsLatest
	colIsDeleteMarker
	colSize
	colLastModified
	colETag
	colReplicationStatus
	nRequired
)

// ParseManifest reads a manifest.json and checks it against checksum, the
// content of the manifest.checksum written next to it (the hex MD5 of
// manifest.json). It returns an error wrapping ErrChecksum when they differ,
// and an error saying what is wrong when the manifest is not one this package
// can read: ORC, a fileSchema without a column in Required, no files, or a
// file without a key, a size or an MD5.
func ParseManifest(manifest, checksum []byte) (Manifest, error) {
	want := string(bytes.TrimSpace(checksum))
	if !isMD5(want) {
		return Manifest{}, fmt.Errorf("manifest.checksum: %q is not a hex MD5: %w", abbreviate(want), ErrChecksum)
	}
	sum := md5.Sum(manifest)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
		return Manifest{}, fmt.Errorf("manifest.json has MD5 %s, manifest.checksum says %s: %w", got, want, ErrChecksum)
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest.json: %w", err)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// validate checks a manifest as ParseManifest returns it.
func (m Manifest) validate() error {
	if _, err := m.readable(); err != nil {
		return err
	}
	if _, err := strconv.ParseInt(m.CreationTimestamp, 10, 64); err != nil {
		return fmt.Errorf("manifest.json: creationTimestamp %q is not milliseconds since the epoch", abbreviate(m.CreationTimestamp))
	}
	if len(m.Files) == 0 {
		return errors.New("manifest.json: no files")
	}
	for i, f := range m.Files {
		if err := f.validate(); err != nil {
			return fmt.Errorf("manifest.json: files[%d]: %w", i, err)
		}
	}
	return nil
}

// readable checks what a reader of m's files needs: a source bucket, a
// format it reads, and the columns in Required. It returns the format.
func (m Manifest) readable() (string, error) {
	if m.SourceBucket == "" {
		return "", errors.New("manifest.json: no sourceBucket")
	}
	format, err := m.format()
	if err != nil {
		return "", err
	}
	if _, err := m.columnIndex(); err != nil {
		return "", err
	}
	return format, nil
}

func (f File) validate() error {
	switch {
	case f.Key == "":
		return errors.New("no key")
	case f.Size < 0:
		return fmt.Errorf("%s: size %d is negative", f.Key, f.Size)
	case !isMD5(f.MD5checksum):
		return fmt.Errorf("%s: MD5checksum %q is not 32 hex digits", f.Key, abbreviate(f.MD5checksum))
	}
	return nil
}

// format returns the canonical name of the manifest's file format, or an
// error for one this package cannot read.
func (m Manifest) format() (string, error) {
	switch {
	case strings.EqualFold(m.FileFormat, FormatCSV):
		return FormatCSV, nil
	case strings.EqualFold(m.FileFormat, FormatParquet):
		return FormatParquet, nil
	case strings.EqualFold(m.FileFormat, FormatORC):
		return "", errors.New("manifest.json: fileFormat ORC is not supported: configure the inventory to write CSV or Parquet")
	}
	return "", fmt.Errorf("manifest.json: unknown fileFormat %q: want CSV or Parquet", abbreviate(m.FileFormat))
}

// Created is when S3 began scanning the bucket for this inventory, or the
// zero time when creationTimestamp is not a number.
func (m Manifest) Created() time.Time {
	ms, err := strconv.ParseInt(m.CreationTimestamp, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Columns returns the data files' columns in order, by their CSV names: the
// fileSchema of a CSV inventory, or the fields of a Parquet one's message
// schema with their snake_case names mapped to the CSV ones (e_tag is ETag,
// version_id is VersionId). It returns nil for a schema it cannot read.
func (m Manifest) Columns() []string {
	format, _ := m.format()
	switch format {
	case FormatCSV:
		cols := strings.Split(m.FileSchema, ",")
		for i, c := range cols {
			cols[i] = strings.TrimSpace(c)
		}
		return cols
	case FormatParquet:
		fields := parquetFields(m.FileSchema)
		if fields == nil {
			return nil
		}
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = csvName(f)
		}
		return cols
	}
	return nil
}

// columnIndex returns where each column in Required is in Columns, or an
// error naming every one that is missing.
func (m Manifest) columnIndex() ([nRequired]int, error) {
	var idx [nRequired]int
	cols := m.Columns()
	if len(cols) == 0 {
		return idx, fmt.Errorf("manifest.json: fileSchema %q lists no columns", abbreviate(m.FileSchema))
	}
	pos := make(map[string]int, len(cols))
	for i, c := range cols {
		if _, dup := pos[c]; dup {
			return idx, fmt.Errorf("manifest.json: fileSchema lists %s twice", c)
		}
		pos[c] = i
	}
	var missing []string
	for i, name := range Required {
		p, ok := pos[name]
		if !ok {
			missing = append(missing, name)
		}
		idx[i] = p
	}
	if missing != nil {
		return idx, fmt.Errorf("manifest.json: fileSchema lacks %s: the inventory must list all object versions and include Size, LastModifiedDate, ETag and ReplicationStatus",
			strings.Join(missing, ", "))
	}
	return idx, nil
}

// parquetFields returns the field names of a Parquet message schema as S3
// writes it in fileSchema:
//
//	message s3.inventory { required binary bucket (UTF8); optional int64 size; ... }
//
// or nil when s is not one.
func parquetFields(s string) []string {
	open, end := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
	if open < 0 || end < open {
		return nil
	}
	var names []string
	for decl := range strings.SplitSeq(s[open+1:end], ";") {
		// repetition, type, name, then an optional annotation.
		f := strings.Fields(decl)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil
		}
		names = append(names, f[2])
	}
	return names
}

// csvName maps a Parquet column name to its CSV name: is_delete_marker is
// IsDeleteMarker, e_tag is ETag.
func csvName(snake string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(snake, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]))
		b.WriteString(part[1:])
	}
	return b.String()
}

func isMD5(s string) bool {
	if len(s) != 2*md5.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// abbreviate keeps error messages short when the input is not.
func abbreviate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
