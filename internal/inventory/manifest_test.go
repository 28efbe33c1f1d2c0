package inventory_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replaudit/replaudit/internal/inventory"
)

// TestParseManifest reads testdata's manifests as S3 writes them.
func TestParseManifest(t *testing.T) {
	tests := []struct {
		dir        string
		wantFormat string
		wantFile   string
	}{
		{csvReport, "CSV", "inventory/amzn-s3-demo-source-bucket/replaudit-all-versions/data/5f3b7a2e-4c1d-4e8f-9a6b-2d7c8e1f0a3b.csv.gz"},
		{parquetReport, "Parquet", "inventory/amzn-s3-demo-source-bucket/replaudit-all-versions-parquet/data/b2e9c4d1-7a3f-4b6e-8c5d-1f0a9e8d7c6b.parquet"},
	}
	for _, tt := range tests {
		t.Run(tt.wantFormat, func(t *testing.T) {
			m, err := inventory.ParseManifest(readReport(t, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if m.SourceBucket != sourceBucket || m.DestinationBucket != "arn:aws:s3:::amzn-s3-demo-inventory-bucket" || m.Version != "2016-11-30" {
				t.Errorf("got %s -> %s version %s", m.SourceBucket, m.DestinationBucket, m.Version)
			}
			if m.FileFormat != tt.wantFormat {
				t.Errorf("fileFormat: got %s, want %s", m.FileFormat, tt.wantFormat)
			}
			if want := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC); !m.Created().Equal(want) {
				t.Errorf("Created: got %v, want %v", m.Created(), want)
			}
			if len(m.Files) != 1 || m.Files[0].Key != tt.wantFile {
				t.Errorf("files: got %+v, want one, %s", m.Files, tt.wantFile)
			}
		})
	}
}

// TestManifestColumns: a CSV schema is the column order, and a Parquet one
// names the same columns in snake_case, in either of the notations S3 has
// used for its logical types.
func TestManifestColumns(t *testing.T) {
	all := []string{
		"Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate", "ETag",
		"StorageClass", "IsMultipartUploaded", "ReplicationStatus", "EncryptionStatus",
		"ObjectLockRetainUntilDate", "ObjectLockMode", "ObjectLockLegalHoldStatus",
		"IntelligentTieringAccessTier", "BucketKeyStatus", "ChecksumAlgorithm",
		"ObjectAccessControlList", "ObjectOwner",
	}
	tests := []struct {
		name   string
		format string
		schema string
		want   []string
	}{
		{"CSV", "CSV", csvManifest(t).FileSchema, all},
		{"Parquet with STRING and TIMESTAMP(MILLIS,true)", "Parquet", parquetManifest(t).FileSchema, all},
		{
			"Parquet with UTF8 and TIMESTAMP_MILLIS, as AWS's example",
			"Parquet",
			"message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary storage_class (UTF8); optional boolean is_multipart_uploaded; optional binary replication_status (UTF8); optional binary encryption_status (UTF8); optional int64 object_lock_retain_until_date (TIMESTAMP_MILLIS); optional binary object_lock_mode (UTF8); optional binary object_lock_legal_hold_status (UTF8); optional binary intelligent_tiering_access_tier (UTF8); optional binary bucket_key_status (UTF8); optional binary checksum_algorithm (UTF8); optional binary object_access_control_list (UTF8); optional binary object_owner (UTF8);}",
			all,
		},
		{
			"Parquet over several lines",
			"Parquet",
			"message s3.inventory {\n  required binary bucket (STRING);\n  required binary key (STRING);\n  optional int64 size;\n}",
			[]string{"Bucket", "Key", "Size"},
		},
		{"a schema that is not a message", "Parquet", "bucket, key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := inventory.Manifest{FileFormat: tt.format, FileSchema: tt.schema}
			if got := m.Columns(); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseManifestRefuses: what ParseManifest refuses, and what its error
// says. Each case edits testdata's CSV manifest and writes a matching
// manifest.checksum, unless the checksum is what it is about.
func TestParseManifestRefuses(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(m map[string]any)
		cut      bool                    // keep the first half of manifest.json
		checksum func(sum string) string // the manifest.checksum for a manifest with MD5 sum
		wantErr  error
		want     []string // what the error must say
	}{
		{
			name:     "a manifest.checksum of another manifest",
			checksum: func(string) string { return "0cc175b9c0f1b6a831c399e269772661" },
			wantErr:  inventory.ErrChecksum,
			want:     []string{"manifest.checksum says 0cc175b9c0f1b6a831c399e269772661"},
		},
		{
			name:     "a manifest.checksum that is not an MD5",
			checksum: func(string) string { return "<Error><Code>AccessDenied</Code></Error>" },
			wantErr:  inventory.ErrChecksum,
			want:     []string{"not a hex MD5"},
		},
		{
			name: "a manifest.json cut short, with a checksum of what is left",
			cut:  true,
			want: []string{"manifest.json: unexpected end of JSON input"},
		},
		{
			name: "an ORC inventory",
			edit: func(m map[string]any) { m["fileFormat"] = "ORC" },
			want: []string{"ORC is not supported", "CSV or Parquet"},
		},
		{
			name: "a fileFormat S3 does not write",
			edit: func(m map[string]any) { m["fileFormat"] = "JSON" },
			want: []string{`unknown fileFormat "JSON"`},
		},
		{
			name: "a schema of current versions only, without replication status",
			edit: func(m map[string]any) {
				m["fileSchema"] = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"
			},
			want: []string{"lacks VersionId, IsLatest, IsDeleteMarker, ReplicationStatus"},
		},
		{
			name: "a Parquet schema without e_tag",
			edit: func(m map[string]any) {
				m["fileFormat"] = "Parquet"
				m["fileSchema"] = "message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional binary version_id (STRING); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); optional binary replication_status (STRING);}"
			},
			want: []string{"lacks ETag:"},
		},
		{
			name: "a schema that names a column twice",
			edit: func(m map[string]any) { m["fileSchema"] = m["fileSchema"].(string) + ", Key" },
			want: []string{"lists Key twice"},
		},
		{
			name: "no files",
			edit: func(m map[string]any) { m["files"] = []any{} },
			want: []string{"no files"},
		},
		{
			name: "a file without a key",
			edit: func(m map[string]any) { file(m)["key"] = "" },
			want: []string{"files[0]: no key"},
		},
		{
			name: "a file with a negative size",
			edit: func(m map[string]any) { file(m)["size"] = -1 },
			want: []string{"files[0]", "size -1 is negative"},
		},
		{
			name: "a file with AWS's documentation's MD5",
			edit: func(m map[string]any) { file(m)["MD5checksum"] = "5925f4e78e1695c2d020b9f6eexample" },
			want: []string{"files[0]", `MD5checksum "5925f4e78e1695c2d020b9f6eexample" is not 32 hex digits`},
		},
		{
			name: "a creationTimestamp that is a date",
			edit: func(m map[string]any) { m["creationTimestamp"] = "2026-11-29T01:00:00Z" },
			want: []string{"creationTimestamp", "not milliseconds"},
		},
		{
			name: "no sourceBucket",
			edit: func(m map[string]any) { delete(m, "sourceBucket") },
			want: []string{"no sourceBucket"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			manifest, _ := readReport(t, csvReport)
			if tt.edit != nil {
				var m map[string]any
				if err := json.Unmarshal(manifest, &m); err != nil {
					t.Fatal(err)
				}
				tt.edit(m)
				var err error
				if manifest, err = json.MarshalIndent(m, "", "  "); err != nil {
					t.Fatal(err)
				}
			}
			if tt.cut {
				manifest = manifest[:len(manifest)/2]
			}
			sum := md5.Sum(manifest)
			checksum := hex.EncodeToString(sum[:])
			if tt.checksum != nil {
				checksum = tt.checksum(checksum)
			}
			_, err := inventory.ParseManifest(manifest, []byte(checksum))
			if err == nil {
				t.Fatal("got no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
}

// TestParseManifestChecksumText: manifest.checksum may end with a newline,
// and its hex digits may be upper case.
func TestParseManifestChecksumText(t *testing.T) {
	manifest, checksum := readReport(t, csvReport)
	for _, text := range []string{
		string(checksum),
		string(checksum) + "\n",
		"  " + strings.ToUpper(string(checksum)) + "\r\n",
	} {
		if _, err := inventory.ParseManifest(manifest, []byte(text)); err != nil {
			t.Errorf("manifest.checksum %q: %v", text, err)
		}
	}
}

// TestParseManifestORC reads testdata's ORC manifest, AWS's example.
func TestParseManifestORC(t *testing.T) {
	_, err := inventory.ParseManifest(readReport(t, orcReport))
	if err == nil || !strings.Contains(err.Error(), "ORC is not supported") {
		t.Fatalf("got %v, want ORC refused", err)
	}
}

func file(m map[string]any) map[string]any {
	return m["files"].([]any)[0].(map[string]any)
}
