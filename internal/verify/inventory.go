package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/replaudit/replaudit/internal/inventory"
)

// S3 reads an inventory's objects, in its bucket's region.
type S3 interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ErrBadInput marks inventories that cannot be compared as they are: a
// manifest that is not an inventory's, an inventory that does not list
// versions, two inventories of different days, formats or buckets. Trying
// again will not mend it.
var ErrBadInput = errors.New("the inventories cannot be compared")

// Inventory is one S3 Inventory: where its manifest.json is, and what it
// says.
type Inventory struct {
	// Bucket and Key locate manifest.json.
	Bucket, Key string
	Manifest    inventory.Manifest
	// Partition is the inventory's dt in its hive layout
	// (2026-11-29-01-00): the partition Athena's tables over the hive
	// symlinks read.
	Partition string
	// S3 reads the inventory's bucket.
	S3 S3
}

// URI is the inventory's manifest.json as an s3:// URI.
func (i Inventory) URI() string { return "s3://" + i.Bucket + "/" + i.Key }

// Date is the day, in UTC, the inventory was taken.
func (i Inventory) Date() string { return i.Manifest.Created().Format(time.DateOnly) }

// Format is the inventory's file format, CSV or Parquet.
func (i Inventory) Format() string {
	if strings.EqualFold(i.Manifest.FileFormat, inventory.FormatParquet) {
		return inventory.FormatParquet
	}
	return inventory.FormatCSV
}

// Load reads the inventory whose manifest.json is s3://bucket/key, checked
// against its manifest.checksum. An error wrapping ErrBadInput says why it
// cannot be verified: not there, not an inventory's manifest, or an
// inventory of current versions only.
func Load(ctx context.Context, c S3, bucket, key string) (Inventory, error) {
	uri := "s3://" + bucket + "/" + key
	if !strings.HasSuffix(key, "manifest.json") {
		return Inventory{}, fmt.Errorf("%w: %s is not an inventory's manifest.json", ErrBadInput, uri)
	}
	data, err := get(ctx, c, bucket, key)
	if err != nil {
		return Inventory{}, err
	}
	sum, err := get(ctx, c, bucket, strings.TrimSuffix(key, ".json")+".checksum")
	if err != nil {
		return Inventory{}, err
	}
	// What is wrong with a manifest that lists no versions is said in
	// words a person can act on, before the general check.
	var loose inventory.Manifest
	if json.Unmarshal(data, &loose) == nil && loose.FileSchema != "" && !slices.Contains(loose.Columns(), "VersionId") {
		return Inventory{}, fmt.Errorf("%w: %s lists current versions only (its fileSchema has no VersionId): configure the inventory with IncludedObjectVersions All", ErrBadInput, uri)
	}
	m, err := inventory.ParseManifest(data, sum)
	if err != nil {
		return Inventory{}, fmt.Errorf("%w: %s is not an inventory manifest that can be read: %w", ErrBadInput, uri, err)
	}
	inv := Inventory{Bucket: bucket, Key: key, Manifest: m, S3: c}
	// S3 names the folder of manifest.json for the inventory's time, and
	// its hive partition dt the same way with dashes.
	if t, err := time.Parse("2006-01-02T15-04Z", path.Base(path.Dir(key))); err == nil {
		inv.Partition = t.Format("2006-01-02-15-04")
	} else {
		inv.Partition = m.Created().Format("2006-01-02-15-04")
	}
	return inv, nil
}

func get(ctx context.Context, c S3, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if NotFound(err) {
			return nil, fmt.Errorf("%w: read s3://%s/%s: %w", ErrBadInput, bucket, key, err)
		}
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 64<<20))
}

// Columns says which optional comparisons two inventories allow.
type Columns struct {
	// Encryption: both list EncryptionStatus, so ETags can be compared
	// where both copies are SSE-S3 or unencrypted.
	Encryption bool `json:"encryption"`
	// Checksum: both list ChecksumAlgorithm. Inventories carry the
	// algorithm of a version's additional checksum, not its value.
	Checksum bool `json:"checksum"`
}

// Compatible checks that two inventories can be joined: a source and a
// destination of the same day, in the same format, each of another
// bucket. It returns the comparisons their columns allow, or an error
// wrapping ErrBadInput.
func Compatible(src, dst Inventory) (Columns, error) {
	switch {
	case src.Manifest.SourceBucket == dst.Manifest.SourceBucket:
		return Columns{}, fmt.Errorf("%w: both inventories list bucket %s: pass the source's and the destination's", ErrBadInput, src.Manifest.SourceBucket)
	case src.Date() != dst.Date():
		return Columns{}, fmt.Errorf("%w: the source's inventory is of %s and the destination's of %s: compare inventories of the same day", ErrBadInput, src.Date(), dst.Date())
	case src.Format() != dst.Format():
		return Columns{}, fmt.Errorf("%w: the source's inventory is %s and the destination's %s: configure both with the same format", ErrBadInput, src.Format(), dst.Format())
	}
	has := func(inv Inventory, col string) bool { return slices.Contains(inv.Manifest.Columns(), col) }
	return Columns{
		Encryption: has(src, "EncryptionStatus") && has(dst, "EncryptionStatus"),
		Checksum:   has(src, "ChecksumAlgorithm") && has(dst, "ChecksumAlgorithm"),
	}, nil
}
