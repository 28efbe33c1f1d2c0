package sandbox_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/parquet-go/parquet-go"

	"github.com/replaudit/replaudit/internal/sandbox"
)

func inventoryConfig(id, dest, format, versions string, fields ...types.InventoryOptionalField) *types.InventoryConfiguration {
	return &types.InventoryConfiguration{
		Id:        aws.String(id),
		IsEnabled: aws.Bool(true),
		Destination: &types.InventoryDestination{S3BucketDestination: &types.InventoryS3BucketDestination{
			Bucket: aws.String("arn:aws:s3:::" + dest), Format: types.InventoryFormat(format), Prefix: aws.String("inventories"),
		}},
		IncludedObjectVersions: types.InventoryIncludedObjectVersions(versions),
		OptionalFields:         fields,
		Schedule:               &types.InventorySchedule{Frequency: types.InventoryFrequencyDaily},
	}
}

func putInventory(c *s3.Client, bucket string, cfg *types.InventoryConfiguration) error {
	_, err := c.PutBucketInventoryConfiguration(context.Background(), &s3.PutBucketInventoryConfigurationInput{
		Bucket: aws.String(bucket), Id: cfg.Id, InventoryConfiguration: cfg,
	})
	return err
}

func TestInventoryConfigurationsAreKeptAndValidatedAsS3Does(t *testing.T) {
	e := start(t, sandbox.Options{})
	ctx := context.Background()
	mustBucket(t, e.src, "src", srcRegion, true)
	cfg := inventoryConfig("daily", "inv", "CSV", "All", types.InventoryOptionalFieldReplicationStatus, types.InventoryOptionalFieldSize)
	cfg.Filter = &types.InventoryFilter{Prefix: aws.String("photos/")}
	if err := putInventory(e.src, "src", cfg); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := e.src.GetBucketInventoryConfiguration(ctx, &s3.GetBucketInventoryConfigurationInput{Bucket: aws.String("src"), Id: aws.String("daily")})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	g := got.InventoryConfiguration
	if aws.ToString(g.Id) != "daily" || !aws.ToBool(g.IsEnabled) || g.IncludedObjectVersions != "All" ||
		aws.ToString(g.Filter.Prefix) != "photos/" || g.Destination.S3BucketDestination.Format != "CSV" ||
		aws.ToString(g.Destination.S3BucketDestination.Bucket) != "arn:aws:s3:::inv" || !slices.Equal(g.OptionalFields, cfg.OptionalFields) ||
		g.Schedule.Frequency != "Daily" {
		t.Errorf("get: got %+v, want the configuration put", g)
	}

	t.Run("invalid configurations are refused", func(t *testing.T) {
		for _, c := range []struct {
			name, code string
			edit       func(*types.InventoryConfiguration, *s3.PutBucketInventoryConfigurationInput)
		}{
			{"an id that differs from the request's", "InvalidArgument", func(_ *types.InventoryConfiguration, in *s3.PutBucketInventoryConfigurationInput) {
				in.Id = aws.String("other")
			}},
			{"a destination that is not a bucket ARN", "InvalidArgument", func(c *types.InventoryConfiguration, _ *s3.PutBucketInventoryConfigurationInput) {
				c.Destination.S3BucketDestination.Bucket = aws.String("inv")
			}},
			{"an unknown format", "MalformedXML", func(c *types.InventoryConfiguration, _ *s3.PutBucketInventoryConfigurationInput) {
				c.Destination.S3BucketDestination.Format = "JSON"
			}},
			{"an unknown schedule", "MalformedXML", func(c *types.InventoryConfiguration, _ *s3.PutBucketInventoryConfigurationInput) {
				c.Schedule.Frequency = "Hourly"
			}},
			{"unknown object versions", "MalformedXML", func(c *types.InventoryConfiguration, _ *s3.PutBucketInventoryConfigurationInput) {
				c.IncludedObjectVersions = "Some"
			}},
			{"an unknown optional field", "MalformedXML", func(c *types.InventoryConfiguration, _ *s3.PutBucketInventoryConfigurationInput) {
				c.OptionalFields = []types.InventoryOptionalField{"Colour"}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				bad := inventoryConfig("bad", "inv", "CSV", "All")
				in := &s3.PutBucketInventoryConfigurationInput{Bucket: aws.String("src"), Id: bad.Id, InventoryConfiguration: bad}
				c.edit(bad, in)
				if _, err := e.src.PutBucketInventoryConfiguration(ctx, in); apiCode(err) != c.code {
					t.Errorf("got %v, want %s", err, c.code)
				}
			})
		}
	})

	t.Run("lists page by 100 and a bucket holds at most 1000", func(t *testing.T) {
		mustBucket(t, e.src, "many", srcRegion, false)
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 1000; i += 8 {
					errs <- putInventory(e.src, "many", inventoryConfig(fmt.Sprintf("c%04d", i), "inv", "CSV", "Current"))
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := putInventory(e.src, "many", inventoryConfig("one-too-many", "inv", "CSV", "Current")); apiCode(err) != "TooManyConfigurations" {
			t.Errorf("the 1001st configuration: got %v, want TooManyConfigurations", err)
		}
		if err := putInventory(e.src, "many", inventoryConfig("c0007", "inv", "Parquet", "Current")); err != nil {
			t.Errorf("replacing a configuration of a full bucket: %v", err)
		}
		var ids []string
		var token *string
		pages := 0
		for {
			out, err := e.src.ListBucketInventoryConfigurations(ctx, &s3.ListBucketInventoryConfigurationsInput{Bucket: aws.String("many"), ContinuationToken: token})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, c := range out.InventoryConfigurationList {
				ids = append(ids, aws.ToString(c.Id))
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			token = out.NextContinuationToken
		}
		if len(ids) != 1000 || pages != 10 || !sort.StringsAreSorted(ids) {
			t.Errorf("list: got %d ids in %d pages, sorted %v, want 1000 sorted ids in 10 pages", len(ids), pages, sort.StringsAreSorted(ids))
		}
	})

	if _, err := e.src.DeleteBucketInventoryConfiguration(ctx, &s3.DeleteBucketInventoryConfigurationInput{Bucket: aws.String("src"), Id: aws.String("daily")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = e.src.GetBucketInventoryConfiguration(ctx, &s3.GetBucketInventoryConfigurationInput{Bucket: aws.String("src"), Id: aws.String("daily")})
	if apiCode(err) != "NoSuchConfiguration" || httpStatus(err) != http.StatusNotFound {
		t.Errorf("get after delete: got %v, want 404 NoSuchConfiguration", err)
	}
	out, err := e.src.ListBucketInventoryConfigurations(ctx, &s3.ListBucketInventoryConfigurationsInput{Bucket: aws.String("src")})
	if err != nil || len(out.InventoryConfigurationList) != 0 {
		t.Errorf("list after delete: got %+v, %v, want none", out, err)
	}
}

// inventoryManifest is manifest.json as S3 writes it.
type inventoryManifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"`
	Version           string `json:"version"`
	CreationTimestamp string `json:"creationTimestamp"`
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key         string `json:"key"`
		Size        int    `json:"size"`
		MD5checksum string `json:"MD5checksum"`
	} `json:"files"`
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// readManifest reads an inventory's manifest.json, checks manifest.checksum
// and each data file's size and MD5 against it, and returns the manifest
// and the data files' bodies.
func readManifest(t *testing.T, c *s3.Client, uri string) (inventoryManifest, [][]byte) {
	t.Helper()
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	raw := getObject(t, c, bucket, key)
	var m inventoryManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest %s: %v", uri, err)
	}
	sum := md5.Sum(raw)
	if got := string(getObject(t, c, bucket, strings.TrimSuffix(key, "manifest.json")+"manifest.checksum")); got != hex.EncodeToString(sum[:]) {
		t.Errorf("manifest.checksum: got %q, want the MD5 of manifest.json %x", got, sum)
	}
	var files [][]byte
	for _, f := range m.Files {
		body := getObject(t, c, bucket, f.Key)
		sum := md5.Sum(body)
		if len(body) != f.Size || hex.EncodeToString(sum[:]) != f.MD5checksum {
			t.Errorf("data file %s: got size %d MD5 %x, want %d %s as the manifest says", f.Key, len(body), sum, f.Size, f.MD5checksum)
		}
		files = append(files, body)
	}
	return m, files
}

// csvRows gunzips CSV data files, checks that every field is quoted, and
// returns their rows.
func csvRows(t *testing.T, files [][]byte) [][]string {
	t.Helper()
	var rows [][]string
	for _, f := range files {
		zr, err := gzip.NewReader(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("gunzip: %v", err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatalf("csv: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
			if !regexp.MustCompile(`^"[^"]*"(,"[^"]*")*$`).MatchString(line) {
				t.Errorf("a CSV line has a field that is not quoted: %s", line)
			}
		}
		rows = append(rows, recs...)
	}
	return rows
}

func TestWriteInventoryWritesS3sLayoutAndFormats(t *testing.T) {
	e := start(t, sandbox.Options{InventoryRowsPerFile: 2})
	ctx := context.Background()
	twoRegions(t, e, "dst")
	mustBucket(t, e.src, "inv", srcRegion, false)
	mustBucket(t, e.dst, "inv-south", dstRegion, false)
	invQueue, _ := e.sb.CreateQueue(sandbox.QueueOptions{Name: "inventory-events"})
	if _, err := e.src.PutBucketNotificationConfiguration(ctx, notifyAll("inv", invQueue)); err != nil {
		t.Fatal(err)
	}
	e.sb.ReceiveMessages(invQueue, 10) // the test event
	if err := putReplication(t, e.src, "src", rule("r", 1, "dst", &types.ReplicationRuleFilter{Prefix: aws.String("photos/")})); err != nil {
		t.Fatal(err)
	}

	// Versions in each replication state, a delete marker, a key that needs
	// encoding, and a key outside the rule.
	done := put(t, e.src, "src", "photos/Happy Face.jpg", "smile")
	waitStatus(t, e.src, "src", "photos/Happy Face.jpg", aws.ToString(done.VersionId), "COMPLETED")
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultDeny})
	failed := put(t, e.src, "src", "photos/b.jpg", "bee")
	waitStatus(t, e.src, "src", "photos/b.jpg", aws.ToString(failed.VersionId), "FAILED")
	inject(t, e.sb, sandbox.Fault{Bucket: "dst", Kind: sandbox.FaultOutage})
	pending := put(t, e.src, "src", "photos/c.jpg", "sea")
	plain := put(t, e.src, "src", "notes/n.txt", "note", func(in *s3.PutObjectInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = types.ServerSideEncryptionAwsKms, aws.String("alias/data"), aws.Bool(true)
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	})
	old := put(t, e.src, "src", "notes/gone.txt", "old")
	marker, err := e.src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("notes/gone.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, e.src, "src", "photos/c.jpg", aws.ToString(pending.VersionId)); got != "PENDING" {
		t.Fatalf("photos/c.jpg: got %q, want PENDING", got)
	}

	all := inventoryConfig("all", "inv", "CSV", "All",
		// Out of S3's order on purpose: S3 writes its own order.
		types.InventoryOptionalFieldReplicationStatus, types.InventoryOptionalFieldStorageClass, types.InventoryOptionalFieldETag,
		types.InventoryOptionalFieldLastModifiedDate, types.InventoryOptionalFieldSize, types.InventoryOptionalFieldIsMultipartUploaded)
	current := inventoryConfig("current", "inv", "CSV", "Current", types.InventoryOptionalFieldObjectOwner, types.InventoryOptionalFieldChecksumAlgorithm,
		types.InventoryOptionalFieldBucketKeyStatus, types.InventoryOptionalFieldEncryptionStatus, types.InventoryOptionalFieldSize)
	current.Destination.S3BucketDestination.Prefix = nil
	photos := inventoryConfig("photos", "inv", "Parquet", "All", types.InventoryOptionalFieldLastModifiedDate,
		types.InventoryOptionalFieldSize, types.InventoryOptionalFieldETag, types.InventoryOptionalFieldReplicationStatus)
	photos.Filter = &types.InventoryFilter{Prefix: aws.String("photos/")}
	disabled := inventoryConfig("zz-off", "nowhere", "ORC", "All")
	disabled.IsEnabled = aws.Bool(false)
	for _, c := range []*types.InventoryConfiguration{all, current, photos, disabled} {
		if err := putInventory(e.src, "src", c); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	manifests, err := e.sb.WriteInventory("src")
	if err != nil {
		t.Fatalf("write inventory: %v", err)
	}
	if len(manifests) != 3 {
		t.Fatalf("manifests: got %v, want one per enabled configuration", manifests)
	}
	layout := regexp.MustCompile(`^s3://inv/(inventories/)?src/(all|current|photos)/\d{4}-\d\d-\d\dT\d\d-\d\dZ/manifest\.json$`)
	for _, m := range manifests {
		if !layout.MatchString(m) {
			t.Errorf("manifest %s is not where S3 puts it", m)
		}
	}

	// LastModified as listings give it, to the millisecond.
	times := map[string]string{}
	versions, err := e.src.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("src")})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range versions.Versions {
		times[aws.ToString(v.VersionId)] = v.LastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	for _, v := range versions.DeleteMarkers {
		times[aws.ToString(v.VersionId)] = v.LastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	lastModified := func(out *s3.PutObjectOutput) string { return times[aws.ToString(out.VersionId)] }
	etag := func(out *s3.PutObjectOutput) string { return strings.Trim(aws.ToString(out.ETag), `"`) }

	t.Run("all versions in CSV", func(t *testing.T) {
		m, files := readManifest(t, e.src, manifests[0])
		if m.SourceBucket != "src" || m.DestinationBucket != "arn:aws:s3:::inv" || m.Version != "2016-11-30" || m.FileFormat != "CSV" {
			t.Errorf("manifest: got %+v", m)
		}
		if want := "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, IsMultipartUploaded, ReplicationStatus"; m.FileSchema != want {
			t.Errorf("fileSchema:\ngot  %s\nwant %s", m.FileSchema, want)
		}
		ms, err := strconv.ParseInt(m.CreationTimestamp, 10, 64)
		created := time.UnixMilli(ms).UTC()
		if err != nil || created.Before(before.Add(-time.Millisecond)) || created.After(time.Now()) ||
			!strings.Contains(manifests[0], "/"+created.Format("2006-01-02T15-04Z")+"/") {
			t.Errorf("creationTimestamp: got %q, want the milliseconds when the inventory began, which name its folder %s", m.CreationTimestamp, manifests[0])
		}
		// Six rows, at most two per file.
		if len(m.Files) != 3 {
			t.Errorf("data files: got %d, want 3 of at most 2 rows", len(m.Files))
		}
		symlink := string(getObject(t, e.src, "inv", "inventories/src/all/hive/dt="+created.Format("2006-01-02-15-04")+"/symlink.txt"))
		for _, f := range m.Files {
			if !strings.Contains(symlink, "s3://inv/"+f.Key+"\n") {
				t.Errorf("symlink.txt %q does not name %s", symlink, f.Key)
			}
		}
		for _, f := range m.Files {
			if !regexp.MustCompile(`^inventories/src/all/data/[0-9a-f-]{36}\.csv\.gz$`).MatchString(f.Key) {
				t.Errorf("data file key %s is not where S3 puts it", f.Key)
			}
		}
		rows := csvRows(t, files)
		sort.Slice(rows, func(i, j int) bool { return rows[i][1]+rows[i][4] < rows[j][1]+rows[j][4] })
		want := [][]string{
			{"src", "notes/gone.txt", aws.ToString(old.VersionId), "false", "false", "3", lastModified(old), etag(old), "STANDARD", "false", ""},
			{"src", "notes/gone.txt", aws.ToString(marker.VersionId), "true", "true", "", times[aws.ToString(marker.VersionId)], "", "", "", ""},
			{"src", "notes/n.txt", aws.ToString(plain.VersionId), "true", "false", "4", lastModified(plain), etag(plain), "STANDARD", "false", ""},
			{"src", "photos/Happy+Face.jpg", aws.ToString(done.VersionId), "true", "false", "5", lastModified(done), etag(done), "STANDARD", "false", "COMPLETED"},
			{"src", "photos/b.jpg", aws.ToString(failed.VersionId), "true", "false", "3", lastModified(failed), etag(failed), "STANDARD", "false", "FAILED"},
			{"src", "photos/c.jpg", aws.ToString(pending.VersionId), "true", "false", "3", lastModified(pending), etag(pending), "STANDARD", "false", "PENDING"},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows: got %d (%q), want %d", len(rows), rows, len(want))
		}
		for i := range want {
			if !slices.Equal(rows[i], want[i]) {
				t.Errorf("row %d:\ngot  %q\nwant %q", i, rows[i], want[i])
			}
		}
	})

	t.Run("current versions only", func(t *testing.T) {
		m, files := readManifest(t, e.src, manifests[1])
		if want := "Bucket, Key, Size, EncryptionStatus, BucketKeyStatus, ChecksumAlgorithm, ObjectOwner"; m.FileSchema != want {
			t.Errorf("fileSchema: got %q, want %q: no version columns in a Current inventory", m.FileSchema, want)
		}
		if !strings.HasPrefix(m.Files[0].Key, "src/current/data/") {
			t.Errorf("data file %s: want it under src/current/data/ with no prefix configured", m.Files[0].Key)
		}
		rows := csvRows(t, files)
		sort.Slice(rows, func(i, j int) bool { return rows[i][1] < rows[j][1] })
		var keys []string
		for _, r := range rows {
			keys = append(keys, r[1])
		}
		if want := []string{"notes/n.txt", "photos/Happy+Face.jpg", "photos/b.jpg", "photos/c.jpg"}; !slices.Equal(keys, want) {
			t.Fatalf("keys: got %q, want %q: no noncurrent version, no deleted key", keys, want)
		}
		if want := []string{"src", "notes/n.txt", "4", "SSE-KMS", "ENABLED", "SHA256", ""}; !slices.Equal(rows[0], want) {
			t.Errorf("an SSE-KMS object with a bucket key and a SHA256 checksum:\ngot  %q\nwant %q", rows[0], want)
		}
		if got := rows[1][3:5]; !slices.Equal(got, []string{"SSE-S3", "DISABLED"}) {
			t.Errorf("an object with default encryption: got %q, want SSE-S3 and no bucket key", got)
		}
	})

	t.Run("Parquet with a prefix filter", func(t *testing.T) {
		m, files := readManifest(t, e.src, manifests[2])
		want := "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary version_id (UTF8);" +
			" optional boolean is_latest; optional boolean is_delete_marker; optional int64 size;" +
			" optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional binary replication_status (UTF8);}"
		if m.FileFormat != "Parquet" || m.FileSchema != want {
			t.Errorf("format %s, fileSchema:\ngot  %s\nwant %s", m.FileFormat, m.FileSchema, want)
		}
		type row struct {
			Bucket            string     `parquet:"bucket"`
			Key               string     `parquet:"key"`
			VersionID         *string    `parquet:"version_id,optional"`
			IsLatest          *bool      `parquet:"is_latest,optional"`
			IsDeleteMarker    *bool      `parquet:"is_delete_marker,optional"`
			Size              *int64     `parquet:"size,optional"`
			LastModified      *time.Time `parquet:"last_modified_date,optional,timestamp(millisecond)"`
			ETag              *string    `parquet:"e_tag,optional"`
			ReplicationStatus *string    `parquet:"replication_status,optional"`
		}
		var rows []row
		for _, f := range files {
			pf, err := parquet.OpenFile(bytes.NewReader(f), int64(len(f)))
			if err != nil {
				t.Fatalf("open parquet: %v", err)
			}
			var cols []string
			for _, c := range pf.Schema().Fields() {
				cols = append(cols, c.Name())
			}
			if want := []string{"bucket", "key", "version_id", "is_latest", "is_delete_marker", "size", "last_modified_date", "e_tag", "replication_status"}; !slices.Equal(cols, want) {
				t.Errorf("columns: got %v, want %v", cols, want)
			}
			if lm, ok := pf.Schema().Lookup("last_modified_date"); !ok || lm.Node.Type().LogicalType() == nil ||
				!strings.Contains(lm.Node.Type().LogicalType().String(), "TIMESTAMP") || !strings.Contains(lm.Node.Type().LogicalType().String(), "MILLIS") {
				t.Errorf("last_modified_date: got %v, want a timestamp in milliseconds", lm.Node.Type())
			}
			got, err := parquet.Read[row](bytes.NewReader(f), int64(len(f)))
			if err != nil {
				t.Fatalf("read parquet: %v", err)
			}
			rows = append(rows, got...)
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
		if len(rows) != 3 || rows[0].Key != "photos/Happy Face.jpg" || rows[2].Key != "photos/c.jpg" {
			t.Fatalf("rows: got %+v, want the three photos, keys not URL-encoded", rows)
		}
		r := rows[0]
		if aws.ToString(r.VersionID) != aws.ToString(done.VersionId) || !aws.ToBool(r.IsLatest) || aws.ToBool(r.IsDeleteMarker) ||
			aws.ToInt64(r.Size) != 5 || aws.ToString(r.ETag) != etag(done) || aws.ToString(r.ReplicationStatus) != "COMPLETED" ||
			r.LastModified.UTC().Format("2006-01-02T15:04:05.000Z") != lastModified(done) {
			t.Errorf("row: got %+v", r)
		}
		if rows[1].ReplicationStatus == nil || *rows[1].ReplicationStatus != "FAILED" {
			t.Errorf("photos/b.jpg: got status %v, want FAILED", rows[1].ReplicationStatus)
		}
	})

	t.Run("each file raises an ObjectCreated event, manifest.checksum last", func(t *testing.T) {
		var keys []string
		for _, m := range e.sb.QueueMessages(invQueue) {
			rec := decodeS3Event(t, m.Body)
			if rec.EventName != "ObjectCreated:Put" {
				t.Errorf("event %s, want ObjectCreated:Put", rec.EventName)
			}
			keys = append(keys, rec.S3.Object.URLDecodedKey)
		}
		var checksums, jsons int
		for _, k := range keys {
			switch {
			case strings.HasSuffix(k, "/manifest.checksum"):
				checksums++
			case strings.HasSuffix(k, "/manifest.json"):
				jsons++
			}
		}
		if checksums != 3 || jsons != 3 || !strings.HasSuffix(keys[len(keys)-1], "manifest.checksum") {
			t.Errorf("events: got %d manifest.json and %d manifest.checksum, the last for %s, want 3 each, a checksum last", jsons, checksums, keys[len(keys)-1])
		}
	})

	t.Run("replicas are REPLICA in the destination's inventory", func(t *testing.T) {
		e.sb.ClearFaults("")
		waitStatus(t, e.src, "src", "photos/c.jpg", aws.ToString(pending.VersionId), "COMPLETED")
		if err := putInventory(e.dst, "dst", inventoryConfig("south", "inv-south", "CSV", "Current", types.InventoryOptionalFieldReplicationStatus)); err != nil {
			t.Fatal(err)
		}
		status, body := control(t, e.sb, "POST", "/inventory", `{"bucket":"dst"}`)
		var out struct{ Manifests []string }
		if err := json.Unmarshal([]byte(body), &out); status != http.StatusOK || err != nil || len(out.Manifests) != 1 {
			t.Fatalf("POST /inventory: got %d %s, want the manifest", status, body)
		}
		_, files := readManifest(t, e.dst, out.Manifests[0])
		for _, r := range csvRows(t, files) {
			if r[2] != "REPLICA" {
				t.Errorf("replica %s: got status %q, want REPLICA", r[1], r[2])
			}
		}
	})
}

func TestWriteInventoryNamesWhatItCannotDo(t *testing.T) {
	e := start(t, sandbox.Options{})
	mustBucket(t, e.src, "src", srcRegion, true)
	mustBucket(t, e.src, "inv", srcRegion, false)
	mustBucket(t, e.dst, "far", dstRegion, false)
	mustBucket(t, e.src, "bare", srcRegion, false)
	cases := []struct {
		name, bucket, want string
		cfg                *types.InventoryConfiguration
	}{
		{"a bucket that does not exist", "nope", "does not exist", nil},
		{"a bucket with no inventory configuration", "bare", "no enabled inventory configuration", nil},
		{"ORC", "src", "not ORC", inventoryConfig("orc", "inv", "ORC", "All")},
		{"a missing destination", "src", "destination bucket gone does not exist", inventoryConfig("orc", "gone", "CSV", "All")},
		{"a destination in another region", "src", "only to a bucket in the source's region", inventoryConfig("orc", "far", "CSV", "All")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.cfg != nil {
				if err := putInventory(e.src, c.bucket, c.cfg); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.sb.WriteInventory(c.bucket); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	status, body := control(t, e.sb, "POST", "/inventory", `{"bucket":"bare"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "no enabled inventory configuration") {
		t.Errorf("POST /inventory: got %d %s, want 400 with the reason", status, body)
	}
	out, err := e.src.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("inv")})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("objects in the destination after refusals: got %d, %v, want none", len(out.Contents), err)
	}
}
