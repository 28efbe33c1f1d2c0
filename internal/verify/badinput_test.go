package verify_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/replaudit/replaudit/internal/sandbox"
	"github.com/replaudit/replaudit/internal/verify"
	"github.com/replaudit/replaudit/internal/verify/verifytest"
)

// putManifest writes a manifest.json and its manifest.checksum into the
// destination's inventory bucket, and returns its URI.
func putManifest(t *testing.T, sc *verifytest.Scene, key string, body []byte) string {
	t.Helper()
	c, bucket := sc.S3[verifytest.DstRegion], sc.InventoryBuckets[verifytest.DstRegion]
	sum := md5.Sum(body)
	for k, b := range map[string][]byte{key: body, strings.TrimSuffix(key, ".json") + ".checksum": []byte(hex.EncodeToString(sum[:]))} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
	}
	return "s3://" + bucket + "/" + key
}

// TestInventoriesThatCannotBeComparedAreAClearErrorNeverACleanResult: each
// input that cannot be verified is refused, wrapping ErrBadInput, saying
// what is wrong.
func TestInventoriesThatCannotBeComparedAreAClearErrorNeverACleanResult(t *testing.T) {
	sc := verifytest.New(t, "CSV", sandbox.Options{})
	ctx := context.Background()
	// A day earlier: the destination's manifest, as the day before wrote it.
	dstBucket, dstKey, _ := strings.Cut(strings.TrimPrefix(sc.DstURI, "s3://"), "/")
	out, err := sc.S3[verifytest.DstRegion].GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(dstKey)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(out.Body)
	out.Body.Close()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Now().UTC().Add(-24 * time.Hour)
	m["creationTimestamp"] = strconv.FormatInt(yesterday.UnixMilli(), 10)
	older, _ := json.Marshal(m)
	olderURI := putManifest(t, sc, "inventory/dst/all-versions/"+yesterday.Format("2006-01-02T15-04Z")+"/manifest.json", older)
	notInventory := putManifest(t, sc, "inventory/dst/all-versions/2026-01-01T00-00Z/manifest.json", []byte(`{"hello": "world"}`))

	// The destination's other inventories: current versions only, Parquet,
	// and one without ReplicationStatus.
	sc.ConfigureInventory(t, "dst", verifytest.DstRegion, "current", "Current", "CSV", verifytest.AllFields)
	sc.ConfigureInventory(t, "dst", verifytest.DstRegion, "parquet", "All", "Parquet", verifytest.AllFields)
	var noStatus []types.InventoryOptionalField
	for _, f := range verifytest.AllFields {
		if f != types.InventoryOptionalFieldReplicationStatus {
			noStatus = append(noStatus, f)
		}
	}
	sc.ConfigureInventory(t, "dst", verifytest.DstRegion, "no-status", "All", "CSV", noStatus)
	uris, err := sc.SB.WriteInventory("dst")
	if err != nil {
		t.Fatal(err)
	}
	of := func(id string) string {
		for _, u := range uris {
			if strings.Contains(u, "/"+id+"/") {
				return u
			}
		}
		t.Fatalf("no inventory %s in %v", id, uris)
		return ""
	}
	for _, c := range []struct {
		name, dst, says string
	}{
		{"inventories of different days", olderURI, "the source's inventory is of " + time.Now().UTC().Format(time.DateOnly) + " and the destination's of " + yesterday.Format(time.DateOnly)},
		{"a destination inventory of current versions only", of("current"), "lists current versions only (its fileSchema has no VersionId): configure the inventory with IncludedObjectVersions All"},
		{"formats that differ", of("parquet"), "the source's inventory is CSV and the destination's Parquet"},
		{"a needed column missing on one side", of("no-status"), "fileSchema lacks ReplicationStatus"},
		{"a manifest that is not an inventory's", notInventory, "is not an inventory manifest that can be read"},
		{"a manifest that is not there", "s3://" + dstBucket + "/inventory/dst/all-versions/2020-01-01T00-00Z/manifest.json", "NoSuchKey"},
		{"the source's inventory twice", sc.SrcURI, "both inventories list bucket src"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst, err := sc.LoadErr(c.dst)
			var s verify.Summary
			if err == nil {
				v, _ := verify.New(verify.Options{Engine: verifytest.DuckEngine(t)})
				s, err = v.Verify(ctx, sc.SrcInv, dst)
			}
			if !errors.Is(err, verify.ErrBadInput) || !strings.Contains(err.Error(), c.says) || s.Checked != 0 {
				t.Errorf("got %+v, %v; want an error saying %q", s, err, c.says)
			}
		})
	}
}
