package inventory

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSQLNamesAreTheSnakeCaseNamesOfS3sParquetSchema(t *testing.T) {
	for csvCol, want := range map[string]string{
		"Bucket": "bucket", "Key": "key", "VersionId": "version_id", "IsLatest": "is_latest", "IsDeleteMarker": "is_delete_marker",
		"Size": "size", "LastModifiedDate": "last_modified_date", "ETag": "e_tag", "IsMultipartUploaded": "is_multipart_uploaded",
		"ReplicationStatus": "replication_status", "EncryptionStatus": "encryption_status", "ChecksumAlgorithm": "checksum_algorithm",
		"ObjectAccessControlList": "object_access_control_list", "IntelligentTieringAccessTier": "intelligent_tiering_access_tier",
	} {
		if got := SQLName(csvCol); got != want || csvName(got) != csvCol {
			t.Errorf("SQLName(%s) = %s (back: %s), want %s", csvCol, got, csvName(got), want)
		}
	}
}

func TestCopyFileChecksTheManifestsSizeAndMD5(t *testing.T) {
	body := []byte("a data file")
	sum := md5.Sum(body)
	good := File{Key: "f", Size: int64(len(body)), MD5checksum: hex.EncodeToString(sum[:])}
	var w bytes.Buffer
	if n, err := CopyFile(&w, bytes.NewReader(body), good); err != nil || n != int64(len(body)) || w.String() != string(body) {
		t.Errorf("good file: %d, %v, %q", n, err, w.String())
	}
	for name, c := range map[string]struct {
		f    File
		want error
	}{
		"longer":    {File{Key: "f", Size: 4, MD5checksum: good.MD5checksum}, ErrSize},
		"shorter":   {File{Key: "f", Size: 40, MD5checksum: good.MD5checksum}, ErrSize},
		"other MD5": {File{Key: "f", Size: good.Size, MD5checksum: strings.Repeat("0", 32)}, ErrChecksum},
	} {
		if _, err := CopyFile(&bytes.Buffer{}, bytes.NewReader(body), c.f); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}
